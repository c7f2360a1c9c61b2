"""The decoding recipe `decode(cfg)` over the decoder library `asr.decoders`: the LM's text and
n-gram (`prepare_lm`), tuning its weights on dev (`tuned_weights`), batching the model's forward
pass, scoring and writing the results; `decode_conf(name)` composes a `conf/decode/<name>.yaml`
for callers outside Hydra (`asr.transcription`).
"""
from __future__ import annotations

import itertools
import json
import time
from pathlib import Path

import torch

from asr.bundle import load_bundle, resolve_device  # noqa: F401  (resolve_device: re-exported)
from asr.decoders import (LM_UNITS, TUNABLE, DecodeError, GreedyDecoder, Hyp, LexiconLMDecoder,  # noqa: F401
                          TokenLMDecoder, _flashlight, _sha1, build_decoder, greedy_decode, prefix_beam_search,
                          spell, token_names)  # the library's names, re-exported for callers of asr.decode
from asr.lm import (arpa_vocab, best_mix, build_lm, mix_models, read_wordlist, train_kneser_ney, write_arpa,
                    write_lexicon)

CONF_DIR = Path(__file__).resolve().parents[1] / "conf"


def decode_conf(name: str, exp_dir: str | Path):
    """`conf/decode/<name>.yaml` merged over its `defaults` as Hydra composes the decode group (each
    default lives once, in the YAML), with `${exp_dir}` = `exp_dir`: the `decode` config for callers
    outside Hydra (asr.transcription; Hydra's compose API cannot run inside a Hydra app)."""
    from omegaconf import OmegaConf

    def load(n: str):
        path = CONF_DIR / "decode" / f"{n}.yaml"
        if not path.is_file():
            raise DecodeError(f"decode config {path} does not exist (the repository's conf/ is needed: "
                              "pip install -e .)")
        conf = OmegaConf.load(path)
        parents = [load(d) for d in conf.pop("defaults", []) if d != "_self_"]
        return OmegaConf.merge(*parents, conf)

    return OmegaConf.create({"exp_dir": str(exp_dir), "decode": load(name)}).decode


def lm_texts(path: str | Path) -> list[str]:
    """Sentences from a JSONL manifest ("text" fields) or a plain text file (one per line)."""
    path = Path(path)
    if not path.is_file():
        raise DecodeError(f"decode.lm.text={str(path)!r}: no such file")
    if path.suffix == ".jsonl":
        from asr.manifest import read_manifest

        return [row["text"] for row in read_manifest(path)]
    return [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def lm_training_text(cfg) -> list[str]:
    """The LM's sentences: every source of `lm_sources` in order (one pooled text)."""
    return [t for texts in lm_sources(cfg).values() for t in texts]


def lm_sources(cfg) -> dict[str, list[str]]:
    """The LM's sentences by source: "text" = `decode.lm.text` (one path or a list; null: the features' train
    manifest); with `decode.lm.corpus_text`, the built-in corpus's wider text: "natural" (its natural sentences
    on the train side; not with `decode.lm.natural_text=false`) and "grammar" (`decode.lm.grammar_sentences`
    grammar sentences). Sentences of the `decode.lm.exclude` splits of `features.manifests` (and of the
    `decode.lm.mix` split) are left out everywhere: dev and test sentences never reach the LM. Sources left
    empty are dropped."""
    lm = cfg.decode.lm
    paths = lm.text if lm.text is not None else cfg.features.manifests[cfg.features.train_split]
    paths = [paths] if isinstance(paths, (str, Path)) else list(paths)
    sources = {"text": [t for path in paths for t in lm_texts(path)]}
    if lm.get("corpus_text"):
        natural, grammar = corpus_lm_text(cfg, natural=lm.get("natural_text", True))
        if natural:
            sources["natural"] = natural
        sources["grammar"] = grammar
    held_out = {t for split in list(lm.get("exclude") or []) + [lm.get("mix")] if split
                for t in split_texts(cfg, split)}
    sources = {name: [t for t in (" ".join(t.split()) for t in texts) if t and t not in held_out]
               for name, texts in sources.items()}
    return {name: texts for name, texts in sources.items() if texts}


def split_texts(cfg, split: str) -> list[str]:
    """The sentences of a split's manifest: `features.manifests.<split>`, else `<data.root>/<split>.jsonl`
    (a split the features config lacks); [] when neither exists."""
    path = dict(cfg.get("features", {}).get("manifests", {})).get(split)
    root = cfg.get("data", {}).get("root")
    if path is None and root:
        path = str(Path(root) / f"{split}.jsonl")
    return lm_texts(path) if path is not None and Path(path).is_file() else []


def corpus_lm_text(cfg, natural: bool = True) -> tuple[list[str], list[str]]:
    """The built-in corpus's text beyond its recorded utterances: every natural sentence on the train
    side of its split (asr.corpus.text; none read with natural=False; `decode.lm.natural_sources` and
    `natural_max_words` widen it beyond what the corpus records) and `decode.lm.grammar_sentences`
    more sentences of the grammar (those that dev/test also drew are removed by `decode.lm.exclude`).
    -> (natural, grammar)."""
    from asr.corpus import sentence_pool
    from asr.corpus.text import lm_sentences

    lm = cfg.decode.lm
    d, n = cfg.data, lm.get("grammar_sentences", 0)
    grammar = sentence_pool(n, seed=d.seed + 1_000_003, min_words=d.min_words, max_words=d.max_words) if n else []
    if not natural:
        return [], grammar
    return lm_sentences(d, lm.get("natural_sources"), lm.get("natural_max_words")), grammar


def lm_arpa_path(lm) -> Path:
    """Where the `decode.lm` group's ARPA file is: <dir>/<order>gram.arpa (word), <dir>/token-<order>gram.arpa."""
    unit = lm.get("unit", "word")
    return Path(lm.dir) / (f"{lm.order}gram.arpa" if unit == "word" else f"token-{lm.order}gram.arpa")


def prepare_lm(cfg, tokenizer=None) -> Path:
    """Build the n-gram LM of `decode.lm` (unit word or token) unless it was built from this same text.

    word: `<decode.lm.dir>/<order>gram.arpa`, vocabulary = the text's words + `decode.lm.wordlist`.
    token: `<decode.lm.dir>/token-<order>gram.arpa` over the model's token names ("|" = space).
    `decode.lm.mix` = a split: one LM per source of `lm_sources`, interpolated with the weights that minimize
    that split's perplexity (`asr.lm.best_mix`; weights and perplexities in `<arpa>.mix.json`); null: one LM
    on the pooled text.
    """
    lm = cfg.decode.lm
    unit = lm.get("unit", "word")
    if unit not in LM_UNITS:
        raise DecodeError(f"decode.lm.unit={unit!r} is not one of: {', '.join(LM_UNITS)}")
    sources = lm_sources(cfg)
    texts = [t for source in sources.values() for t in source]
    if not texts:
        raise DecodeError("decode.lm.text: no sentence left to train the LM on")
    made_from = {"unit": unit, "order": lm.order, "sentences": len(texts),
                 "sha1": _sha1("\n".join(texts).encode())}
    vocab: list[str] = []
    if unit == "word" and lm.get("wordlist"):
        spellable = (lambda w: not tokenizer.unknown_chars(w)) if tokenizer is not None else (lambda w: True)
        vocab = read_wordlist(lm.wordlist, spellable)
        made_from["wordlist"] = {"path": str(lm.wordlist), "words": len(vocab), "sha1": _sha1("\n".join(vocab).encode())}
    units = lambda t: t  # noqa: E731  (a sentence in the LM's units)
    if unit == "token":
        if tokenizer is None:
            raise DecodeError("decode.lm.unit=token needs the model's tokenizer")
        names, _ = token_names(tokenizer)
        units = lambda t: " ".join(names[i] for i in tokenizer.encode(t))  # noqa: E731
        vocab = names[1:]
        made_from["tokenizer"] = _sha1(json.dumps(tokenizer.to_dict(), default=str).encode())
    held: list[str] = []
    if lm.get("mix"):
        held = split_texts(cfg, lm.mix)
        if not held:
            raise DecodeError(f"decode.lm.mix={lm.mix!r}: no sentences to fit the mixture on (neither "
                              f"features.manifests.{lm.mix} nor <data.root>/{lm.mix}.jsonl exists)")
        made_from["mix"] = {"split": lm.mix, "sentences": len(held), "sha1": _sha1("\n".join(held).encode()),
                            "sources": {name: len(source) for name, source in sources.items()}}
    arpa = lm_arpa_path(lm)
    source = Path(str(arpa) + ".source.json")  # what the ARPA file was built from
    if arpa.is_file() and source.is_file() and json.loads(source.read_text()) == made_from and not lm.rebuild:
        return arpa
    t0 = time.time()
    if held and len(sources) > 1:
        mix_lm([[units(t) for t in source] for source in sources.values()], list(sources), [units(t) for t in held],
               arpa, lm.order, vocab)
    else:
        Path(str(arpa) + ".mix.json").unlink(missing_ok=True)  # from an earlier mixture
        build_lm([units(t) for t in texts], arpa.parent, order=lm.order, vocab=vocab,
                 name=arpa.name[: -len("gram.arpa")])
    source.write_text(json.dumps(made_from))
    print(f"LM: {unit} {lm.order}-gram on {len(texts)} sentences"
          + (f" + {len(vocab)} word-list words" if unit == "word" and vocab else "") + f" -> {arpa} "
          f"in {time.time() - t0:.1f} s")
    return arpa


def mix_lm(sources: list[list[str]], names: list[str], held: list[str], arpa: Path, order: int,
           vocab: list[str]) -> dict:
    """One LM per source, mixed with the weights that fit `held` best; writes `arpa` and `<arpa>.mix.json`."""
    models = [train_kneser_ney(source, order, vocab) for source in sources]
    weights, fit = best_mix(models, held)
    write_arpa(mix_models(models, weights), arpa)
    report = {"weights": dict(zip(names, weights)), "perplexity": fit["perplexity"], "tokens": fit["tokens"],
              "sentences": dict(zip(names, map(len, sources)))}
    Path(str(arpa) + ".mix.json").write_text(json.dumps(report, indent=1) + "\n")
    print("LM mixture weights: " + ", ".join(f"{n} {w:.3f}" for n, w in zip(names, weights))
          + f" (held-out perplexity {fit['perplexity']:.1f} on {fit['tokens']} tokens)")
    return report


def best_point(rows: list[dict]) -> dict:
    """The grid point with the lowest WER, then CER; the first such point in grid order on a tie."""
    if not rows:
        raise DecodeError("decode.lm.tune.grid is empty")
    return min(rows, key=lambda r: (round(r["wer"], 9), round(r["cer"], 9)))


def grid_points(grid) -> list[dict]:
    """Every combination of `decode.lm.tune.grid` ({key: [values]}), in order."""
    for key in grid:
        if key not in TUNABLE:
            raise DecodeError(f"decode.lm.tune.grid.{key}: not tunable (one of: {', '.join(TUNABLE)})")
    keys = list(grid)
    return [dict(zip(keys, values)) for values in itertools.product(*(list(grid[k]) for k in keys))]


def grid_edges(grid, best: dict) -> list[str]:
    """The grid keys (with 2 or more values) whose best value is the grid's lowest or highest."""
    return [k for k in grid if len(grid[k]) > 1 and best[k] in (min(grid[k]), max(grid[k]))]


def extend_grid(grid: dict, best: dict) -> dict | None:
    """`grid` with one more value beyond each edge the best point sits on (the spacing of that end's last
    two values; lm_weight and beam_threshold stay >= 0); None when no edge can move."""
    out, moved = {k: sorted(v) for k, v in grid.items()}, False
    for key in grid_edges(grid, best):
        values = out[key]
        low = best[key] == values[0]
        new = round(values[0] - (values[1] - values[0]) if low else values[-1] + (values[-1] - values[-2]), 6)
        if key in ("lm_weight", "beam_threshold") and new < 0:
            continue
        out[key] = [new, *values] if low else [*values, new]
        moved = True
    return out if moved else None


def search_grid(grid: dict, evaluate, extend: int = 0, map_fn=map) -> tuple[list[dict], dict]:
    """Every point of `grid` ({key: [values]}) through evaluate(point) -> row with "wer", "cer"; then up to
    `extend` times, while the best point is on an edge of the grid, the grid grows one value beyond that
    edge (`extend_grid`) and its new points are evaluated. -> (rows in evaluation order, the final grid).
    `map_fn(evaluate, points)`: how a round's new points are evaluated (a process pool's `map`: at once)."""
    grid, rows, seen = {k: list(v) for k, v in grid.items()}, [], set()
    for round_ in range(extend + 1):
        new = [p for p in grid_points(grid) if tuple(p.items()) not in seen]
        seen.update(tuple(p.items()) for p in new)
        rows += list(map_fn(evaluate, new))
        wider = extend_grid(grid, best_point(rows)) if round_ < extend else None
        if wider is None:
            break
        grid = wider
    return rows, grid


class GridPoint:
    """evaluate(point) of `tune_lm`: decode the tuning split's log-probabilities with the LM weights of
    `point`, score them; picklable (the config as a plain dict), so a process pool can run it."""

    def __init__(self, dc: dict, tokenizer, arpa: Path, log_probs: list[torch.Tensor], refs: list[str]):
        self.dc, self.tokenizer, self.arpa, self.log_probs, self.refs = dc, tokenizer.to_dict(), arpa, log_probs, refs

    def __call__(self, point: dict) -> dict:
        from omegaconf import OmegaConf

        from asr.scoring import wer_cer
        from asr.tokenizer import tokenizer_from_dict

        t0 = time.perf_counter()
        decoder = build_decoder(OmegaConf.merge(self.dc, {"lm": point}), tokenizer_from_dict(self.tokenizer), self.arpa)
        hyps = [n[0].text if n else "" for n in search(decoder, self.log_probs)]
        wer, cer = wer_cer(self.refs, hyps)
        return {**point, "wer": wer, "cer": cer, "seconds": round(time.perf_counter() - t0, 2)}


def _printed(rows):
    for row in rows:  # as each point's row arrives, in grid order
        point = " ".join(f"{k}={v}" for k, v in row.items() if k not in ("wer", "cer", "seconds"))
        print(f"tune {point}: WER {100 * row['wer']:.2f} %  CER {100 * row['cer']:.2f} %", flush=True)
        yield row


def tune_lm(cfg, tokenizer, arpa: Path, log_probs: list[torch.Tensor], refs: list[str]) -> dict:
    """Decode `log_probs` (the tuning split) at every grid point, widening the grid past an edge the best
    point sits on up to `decode.lm.tune.extend` times; {"grid": rows, "best": row, "greedy": row}.
    `decode.lm.tune.processes` > 1: that many spawned processes decode the points of a round at once
    (the same rows as one process: each point is decoded alone, single-threaded)."""
    from concurrent.futures import ProcessPoolExecutor
    from contextlib import nullcontext
    from multiprocessing import get_context

    from omegaconf import OmegaConf

    from asr.scoring import wer_cer

    dc = cfg.decode
    greedy = search(GreedyDecoder(tokenizer), log_probs)
    g_wer, g_cer = wer_cer(refs, [n[0].text for n in greedy])
    evaluate = GridPoint(OmegaConf.to_container(dc, resolve=True), tokenizer, arpa, log_probs, refs)
    procs = dc.lm.tune.get("processes", 1)
    if isinstance(procs, bool) or not isinstance(procs, int) or procs < 1:
        raise DecodeError(f"decode.lm.tune.processes={procs!r} must be an integer >= 1")
    with ProcessPoolExecutor(procs, mp_context=get_context("spawn"), initializer=torch.set_num_threads,
                             initargs=(1,)) if procs > 1 else nullcontext() as pool:
        run = pool.map if pool else map
        rows, grid = search_grid(OmegaConf.to_container(dc.lm.tune.grid), evaluate, int(dc.lm.tune.get("extend", 0)),
                                 lambda fn, points: _printed(run(fn, points)))
    best = best_point(rows)
    for key in grid_edges(grid, best):
        values = sorted(grid[key])
        print(f"warning: the best {key}={best[key]} is at the edge of decode.lm.tune.grid.{key} "
              f"({values[0]} .. {values[-1]}): the best setting may lie beyond it; widen the grid")
    if best["wer"] > g_wer:
        print(f"warning: on {dc.lm.tune.split} the best LM setting (WER {100 * best['wer']:.2f} %) is worse than "
              f"greedy ({100 * g_wer:.2f} %)")
    return {"grid": rows, "best": best, "greedy": {"wer": g_wer, "cer": g_cer}}


def _batches(lengths: list[int], max_frames: int) -> list[list[int]]:
    """Indices sorted by length, cut so that (longest x count) stays under max_frames."""
    order = sorted(range(len(lengths)), key=lambda i: lengths[i])
    out, cur = [], []
    for i in order:
        if cur and lengths[i] * (len(cur) + 1) > max_frames:
            out.append(cur)
            cur = []
        cur.append(i)
    return out + ([cur] if cur else [])


def forward_split(bundle, feats: list[torch.Tensor], max_frames: int) -> tuple[list[torch.Tensor], float]:
    """Log-probabilities [T'_i, V] per utterance (input order) on the CPU, and seconds in the model."""
    device = bundle.device
    out: list[torch.Tensor | None] = [None] * len(feats)
    am_time = 0.0
    with torch.inference_mode():
        for idx in _batches([f.shape[0] for f in feats], max_frames):
            t0 = time.perf_counter()
            x = torch.nn.utils.rnn.pad_sequence([feats[i].float() for i in idx], batch_first=True).to(device)
            lengths = torch.tensor([feats[i].shape[0] for i in idx], device=device)
            log_probs, out_lengths = bundle.log_probs(x, lengths)  # [B, T', V]
            log_probs, out_lengths = log_probs.float().cpu(), out_lengths.cpu()
            for b, i in enumerate(idx):
                out[i] = log_probs[b, : int(out_lengths[b])]
            am_time += time.perf_counter() - t0
    return out, am_time


def search(decoder, log_probs: list[torch.Tensor], batch: int = 64) -> list[list[Hyp]]:
    """n-best per utterance from per-utterance log-probabilities [T'_i, V], `batch` utterances at a time."""
    results: list[list[Hyp]] = []
    for start in range(0, len(log_probs), batch):
        chunk = log_probs[start:start + batch]
        lengths = torch.tensor([lp.shape[0] for lp in chunk])
        results += decoder(torch.nn.utils.rnn.pad_sequence(chunk, batch_first=True), lengths)
    return results


def decode_split(bundle, decoder, feats: list[torch.Tensor], max_frames: int) -> tuple[list[list[Hyp]], float, float]:
    """n-best per utterance (input order), seconds in the model, seconds in the search."""
    log_probs, am_time = forward_split(bundle, feats, max_frames)
    t0 = time.perf_counter()
    results = search(decoder, log_probs)
    return results, am_time, time.perf_counter() - t0


def _print_table(rows: dict[str, dict]) -> None:
    print(f"{'split':<12} {'utts':>6} {'WER %':>7} {'CER %':>7} {'words':>7} {'sub':>5} {'del':>5} {'ins':>5} "
          f"{'hours':>6} {'RTF':>7}")
    for split, s in rows.items():
        print(f"{split:<12} {s['utterances']:>6} {100 * s['wer']:>7.2f} {100 * s['cer']:>7.2f} {s['words']:>7} "
              f"{s['sub']:>5} {s['del']:>5} {s['ins']:>5} {s['hours']:>6.3f} {s['rtf']:>7.4f}")


def tuned_weights(cfg, bundle, arpa: Path) -> dict:
    """Tune `decode.lm` weights on `decode.lm.tune.split` (cached in `<decode.dir>/tune.json`), set the
    best ones in `cfg.decode.lm` and return {"best", "grid", "greedy", ...}."""
    from omegaconf import OmegaConf

    from asr.features import load_split

    dc, tune = cfg.decode, cfg.decode.lm.tune
    key = {"checkpoint": _sha1(Path(cfg.checkpoint).read_bytes()),
           "lm": json.loads(Path(str(arpa) + ".source.json").read_text()),
           "split": tune.split, "max_utts": tune.max_utts, "grid": OmegaConf.to_container(tune.grid),
           "extend": int(tune.get("extend", 0)),
           "search": {k: dc.get(k) for k in ("beam_size", "beam_size_token")} | {
               k: dc.lm.get(k) for k in TUNABLE if k not in tune.grid}}
    cache = Path(dc.dir) / "tune.json"
    result = json.loads(cache.read_text()) if cache.is_file() else None
    if result is None or result.get("key") != key:
        data = load_split(cfg.features.dir, tune.split)
        n = tune.max_utts or len(data["ids"])
        log_probs, _ = forward_split(bundle, data["feats"][:n], dc.max_frames)
        t0 = time.perf_counter()
        result = {"key": key, **tune_lm(cfg, bundle.tokenizer, arpa, log_probs, data["texts"][:n]),
                  "utterances": min(n, len(data["ids"])), "seconds": round(time.perf_counter() - t0, 1)}
        cache.parent.mkdir(parents=True, exist_ok=True)
        cache.write_text(json.dumps(result, indent=1))
    best = {k: v for k, v in result["best"].items() if k in TUNABLE}
    for k, v in best.items():
        OmegaConf.update(cfg, f"decode.lm.{k}", v)
    print(f"LM weights tuned on {tune.split} ({result['utterances']} utterances, {len(result['grid'])} points): "
          + " ".join(f"{k}={v}" for k, v in best.items())
          + f" -> WER {100 * result['best']['wer']:.2f} % (greedy {100 * result['greedy']['wer']:.2f} %)")
    return {k: v for k, v in result.items() if k != "key"}


def read_tuned(cache: str | Path, checkpoint: str | Path, arpa: str | Path) -> dict | None:
    """The weights `tuned_weights` cached in `cache` (a tune.json) when they were tuned for this very
    checkpoint and LM (`<arpa>.source.json`): {"weights": {key: value}, "split", "wer"}; else None."""
    cache, source = Path(cache), Path(str(arpa) + ".source.json")
    if not cache.is_file() or not source.is_file():
        return None
    try:
        result = json.loads(cache.read_text())
        key = result["key"]
        if key["lm"] != json.loads(source.read_text()) or key["checkpoint"] != _sha1(Path(checkpoint).read_bytes()):
            return None
        return {"weights": {k: v for k, v in result["best"].items() if k in TUNABLE}, "split": key["split"],
                "wer": result["best"]["wer"]}
    except (json.JSONDecodeError, KeyError, TypeError):  # a torn or older cache: as if there were none
        return None


def decode(cfg) -> dict:
    """Decode `cfg.decode.splits` of the feature store with `cfg.checkpoint`; write and print the results.

    Per split, in `<decode.dir>/<split>/`: hyp.txt and ref.txt (`id text`), nbest.jsonl,
    errs.txt (sclite-style alignment and error summary), speakers.txt (WER / CER per speaker, when the
    manifest names speakers); summary.json for all splits.
    """
    from asr.features import load_split

    dc = cfg.decode
    if dc.num_threads:
        torch.set_num_threads(dc.num_threads)
    if dc.max_frames <= 0:
        raise DecodeError(f"decode.max_frames={dc.max_frames} must be > 0")
    bundle = load_bundle(cfg.checkpoint, dc.device)
    tokenizer = bundle.tokenizer
    arpa, tuned = None, None
    if dc.decoder == "lm":
        _flashlight()  # fail before building the LM when the extra is missing
        arpa = prepare_lm(cfg, tokenizer)
        if dc.lm.get("unit", "word") == "word":
            write_lexicon(arpa_vocab(arpa), lambda w: spell(tokenizer, w), arpa.parent / "lexicon.txt")
        if dc.lm.get("tune") and dc.lm.tune.split:
            tuned = tuned_weights(cfg, bundle, arpa)
    decoder = build_decoder(dc, tokenizer, arpa)
    frame_shift = bundle.features.frame_shift_ms / 1000  # seconds per input frame

    out_dir = Path(dc.dir)
    splits = [dc.splits] if isinstance(dc.splits, str) else list(dc.splits)
    summary = {"checkpoint": str(cfg.checkpoint), "decoder": dc.decoder, "device": str(bundle.device), "splits": {}}
    if tuned is not None:
        summary["tuned"] = tuned
    for split in splits:
        data = load_split(cfg.features.dir, split)
        if not data["ids"]:
            raise DecodeError(f"split {split!r} in {cfg.features.dir} has no utterances")
        results, am_time, search_time = decode_split(bundle, decoder, data["feats"], dc.max_frames)
        stats = write_split(out_dir / split, data, results, f"{split}: {cfg.checkpoint}, decoder={dc.decoder}")
        seconds = sum(f.shape[0] for f in data["feats"]) * frame_shift
        stats.update(hours=seconds / 3600, am_seconds=round(am_time, 3), search_seconds=round(search_time, 3),
                     rtf=(am_time + search_time) / max(seconds, 1e-9), dir=str(out_dir / split))
        summary["splits"][split] = stats
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "summary.json").write_text(json.dumps(summary, indent=1))
    print(f"decoded with {cfg.checkpoint} ({dc.decoder}, {bundle.device}) -> {out_dir}")
    _print_table(summary["splits"])
    return summary


def write_split(split_dir: Path, data: dict, results: list[list[Hyp]], title: str) -> dict:
    """hyp.txt, ref.txt, nbest.jsonl, errs.txt and speakers.txt of one split in `split_dir`; the error statistics."""
    from asr.scoring import error_report, speaker_report

    hyps = [nbest[0].text if nbest else "" for nbest in results]
    split_dir.mkdir(parents=True, exist_ok=True)
    (split_dir / "hyp.txt").write_text("".join(f"{u} {h}\n" for u, h in zip(data["ids"], hyps)))
    (split_dir / "ref.txt").write_text("".join(f"{u} {r}\n" for u, r in zip(data["ids"], data["texts"])))
    with open(split_dir / "nbest.jsonl", "w") as f:
        for uid, nbest in zip(data["ids"], results):
            f.write(json.dumps({"id": uid, "nbest": [{"text": h.text, "score": round(h.score, 4)}
                                                     for h in nbest]}) + "\n")
    report, stats = error_report(data["ids"], data["texts"], hyps, title=title)
    (split_dir / "errs.txt").write_text(report)
    if any(data.get("speakers") or []):
        table, stats["speakers"] = speaker_report(data["speakers"], data["texts"], hyps)
        (split_dir / "speakers.txt").write_text(table)
    return stats
