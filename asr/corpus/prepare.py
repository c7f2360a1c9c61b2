"""Build the built-in corpus: sentences -> voices -> wavs, manifests and corpus.json.

    data/<corpus>/wav/<split>/<id>.wav      16 kHz mono PCM16
    data/<corpus>/<split>.jsonl             {"id", "audio", "duration", "text", "speaker"}
    data/<corpus>/corpus.json               seed, config, counts, hours and voices per split

Each split mixes the grammar's sentences with natural English (asr/corpus/text.py): a share
`data.natural.fraction[split]` of its utterances, and all of `test-natural`'s. The evaluation
splits take the first grammar sentences of the pool, train the rest; natural sentences belong to
one split by a hash of their text. So a bigger train set with the same seed keeps the same
dev/test sentences, and no sentence is in two splits. `test-natural` is spoken by the training
voices, `test-other` by the held-out ones.
"""
from __future__ import annotations

import fnmatch
import hashlib
import json
import multiprocessing
import os
import random
import shutil
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

import soundfile as sf
from omegaconf import DictConfig, OmegaConf

from asr.corpus import CorpusError
from asr.corpus.grammar import sentence_pool
from asr.corpus.synth import Job, synthesize, train_only_voices, voice_catalog, working_voices
from asr.corpus.text import SOURCES, NaturalSpec, natural_pool
from asr.progress import progress

SPLITS = ("train", "dev", "test", "test-other", "test-natural")
EVAL_SPLITS = ("dev", "test", "test-other", "test-natural")  # take grammar sentences before train
MARKER = "corpus.partial.json"  # present while a build is in progress


def _data_cfg(cfg: DictConfig) -> DictConfig:
    return cfg.data if "data" in cfg else cfg


def _check_config(d: DictConfig) -> None:
    def need(ok: bool, key: str, what: str) -> None:
        if not ok:
            raise CorpusError(f"bad config value data.{key}={OmegaConf.select(d, key)!r}: {what}")

    for split in d.sizes:
        need(split in SPLITS, f"sizes.{split}", f"unknown split; the splits are {', '.join(SPLITS)}")
    for split in SPLITS:
        need(split in d.sizes, f"sizes.{split}", "missing")
        need(isinstance(d.sizes[split], int) and d.sizes[split] >= 0, f"sizes.{split}",
             "expected an integer >= 0")
    need(d.sizes.train > 0, "sizes.train", "expected > 0")
    need(isinstance(d.seed, int), "seed", "expected an integer")
    need(isinstance(d.num_workers, int) and d.num_workers >= 0, "num_workers", "expected an integer >= 0")
    need(isinstance(d.chunk_size, int) and d.chunk_size > 0, "chunk_size", "expected an integer > 0")
    need(1 <= d.min_words <= d.max_words, "min_words", f"expected 1 <= min_words <= max_words={d.max_words}")
    need(d.sample_rate in (8000, 16000, 22050, 24000, 44100, 48000), "sample_rate", "expected a common rate")
    for key in ("speed", "pitch", "formant", "word_gap", "intonation"):
        r = d[key]
        need(len(r) == 2 and r[0] <= r[1], key, "expected [low, high]")
    need(0.5 <= d.speed[0] and d.speed[1] <= 2.0, "speed", "expected tempo factors within [0.5, 2]")
    need(-6 <= d.pitch[0] and d.pitch[1] <= 6, "pitch", "expected semitones within [-6, 6]")
    need(-4 <= d.formant[0] and d.formant[1] <= 4, "formant", "expected semitones within [-4, 4]")
    need(all(isinstance(g, int) for g in d.word_gap) and 0 <= d.word_gap[0] and d.word_gap[1] <= 20, "word_gap",
         "expected integer 10 ms units within [0, 20]")
    need(0.25 <= d.intonation[0] and d.intonation[1] <= 3, "intonation", "expected factors within [0.25, 3]")
    _check_natural(d, need)
    share = d.voices.get("train_only_share")
    need(share is None or (isinstance(share, (int, float)) and 0 <= share <= 1), "voices.train_only_share",
         "expected null or a share within [0, 1]")
    both = set(d.voices.espeak_variants) & set(d.voices.get("espeak_train_variants", []))
    need(not both, "voices.espeak_train_variants", f"{sorted(both)} are in voices.espeak_variants too")
    for engine, w in d.engine_weights.items():
        need(engine in ("espeak", "flite", "festival") and w >= 0, f"engine_weights.{engine}",
             "expected espeak/flite/festival with a weight >= 0")


def _check_natural(d: DictConfig, need) -> None:
    n = d.natural
    for split in n.fraction:
        need(split in SPLITS and split != "test-natural", f"natural.fraction.{split}",
             "unknown split; test-natural is all natural, the others take a share")
    for split in SPLITS[:-1]:
        f = n.fraction.get(split)
        need(isinstance(f, (int, float)) and 0 <= f <= 1, f"natural.fraction.{split}", "expected 0 <= share <= 1")
    need(1 <= n.min_words <= n.max_words, "natural.min_words", f"expected 1 <= min_words <= max_words={n.max_words}")
    need(isinstance(n.max_chars, int) and n.max_chars > 0, "natural.max_chars", "expected an integer > 0")
    wants = d.sizes["test-natural"] > 0 or any(n.fraction[s] > 0 for s in SPLITS[:-1])
    need(not wants or len(n.sources) > 0, "natural.sources", "empty, but natural sentences are asked for")
    need(all(src in SOURCES for src in n.sources), "natural.sources", f"the sources are {', '.join(SOURCES)}")


def split_texts(d: DictConfig) -> dict[str, list[str]]:
    """The sentence of every utterance of every split (a pure function of the config).

    Each utterance of a split draws "natural" with probability natural.fraction[split] (1 for
    test-natural), else takes the next grammar sentence. A sentence in two splits is skipped:
    evaluation natural sentences that the evaluation grammar sentences have, train sentences
    that an evaluation split has.
    """
    sizes = {s: d.sizes[s] for s in SPLITS}
    kinds = {}
    for k, split in enumerate(SPLITS):
        share = 1.0 if split == "test-natural" else d.natural.fraction[split]
        rng = random.Random(d.seed * 7727 + k)
        kinds[split] = [rng.random() < share for _ in range(sizes[split])]
    wants = any(any(v) for v in kinds.values())
    natural = natural_pool(NaturalSpec.from_cfg(d.natural), d.seed) if wants else {}
    for split in SPLITS:
        _enough(split, sum(kinds[split]), len(natural.get(split, [])))
    n_eval = sum(not x for s in EVAL_SPLITS for x in kinds[s])
    n_natural_eval = sum(x for s in EVAL_SPLITS for x in kinds[s])
    n_train = sizes["train"] - sum(kinds["train"])
    grammar = sentence_pool(n_eval + n_train + n_natural_eval, d.seed, d.min_words, d.max_words)
    eval_grammar, start, out = set(grammar[:n_eval]), 0, {}
    for split in EVAL_SPLITS:
        count = sizes[split] - sum(kinds[split])
        out[split] = _mix(split, kinds[split], grammar[start:start + count],
                          [t for t in natural.get(split, []) if t not in eval_grammar])
        start += count
    eval_texts = {t for s in EVAL_SPLITS for t in out[s]}
    out["train"] = _mix("train", kinds["train"], [t for t in grammar[n_eval:] if t not in eval_texts],
                        [t for t in natural.get("train", []) if t not in eval_texts])
    return {split: out[split] for split in SPLITS}


def _enough(split: str, wanted: int, have: int) -> None:
    if wanted > have:
        raise CorpusError(f"data.sizes.{split}: asks for {wanted} natural sentences, the {split} share of "
                          f"data.natural.sources has {have}; lower data.natural.fraction.{split} or the size")


def _mix(split: str, kinds: list[bool], grammar: list[str], natural: list[str]) -> list[str]:
    _enough(split, sum(kinds), len(natural))  # after removing sentences of other splits
    g, n = iter(grammar), iter(natural)
    return [next(n) if is_natural else next(g) for is_natural in kinds]


def _fingerprint(d: DictConfig) -> dict:
    """The config values that decide the corpus content (not where it goes or how fast), and
    a digest of the sentences, so a changed grammar rebuilds the corpus too."""
    out = OmegaConf.to_container(d, resolve=True)
    for key in ("name", "root", "num_workers", "chunk_size"):
        out.pop(key, None)
    texts = split_texts(d)
    out["sentences_sha1"] = hashlib.sha1("\n".join(t for s in SPLITS for t in texts[s]).encode()).hexdigest()
    return out


def split_voices(voices: list[str], heldout: list[str], train_only: set[str] = frozenset()
                 ) -> tuple[list[str], list[str]]:
    """(train voices, held-out voices): held out are those matching a `heldout` pattern. A
    `train_only` voice is never held out: one that matches a pattern (a held-out accent) is not used."""
    matches = [v for v in voices if any(fnmatch.fnmatchcase(v, p) for p in heldout)]
    held = [v for v in matches if v not in train_only]
    seen = [v for v in voices if v not in matches]
    if not seen or not held:
        raise CorpusError(f"data.heldout={list(heldout)} leaves {len(seen)} training and {len(held)} "
                          f"held-out voices out of {len(voices)} working ones; both must be > 0")
    return seen, held


def _voice_pools(voices: list[str], weights: dict, train_only: set[str], share: float | None):
    """What `_pick_voice` draws from, made once per split: (engines, their weights, engine -> pools).
    A pool list has one pool, or two (the others, the train-only ones) where `share` splits espeak-ng."""
    engines = sorted({v.split("-")[0] for v in voices})
    w = [weights.get(e, 0.0) for e in engines]
    if sum(w) <= 0:
        w = [1.0] * len(engines)
    pools = {}
    for engine in engines:
        mine = [v for v in voices if v.startswith(engine + "-")]
        extra = [v for v in mine if v in train_only]
        split = share is not None and engine == "espeak" and extra
        pools[engine] = ([v for v in mine if v not in train_only] or mine, extra) if split else (mine,)
    return engines, w, pools


def _pick_voice(rng: random.Random, engines: list[str], weights: list[float], pools: dict,
                share: float | None) -> str:
    """An engine by `weights`, then one of its voices; where its pools are split, `share` of the
    draws go to the train-only voices and the rest to the others."""
    pool = pools[rng.choices(engines, weights=weights)[0]]
    return rng.choice(pool[rng.random() < share] if len(pool) == 2 else pool[0])


def plan_corpus(cfg: DictConfig, voices: list[str]) -> dict[str, list[Job]]:
    """Which sentence, voice, speed and pitch every utterance of every split gets.

    A pure function of the config and the working voices, so it is the same on every run.
    """
    d = _data_cfg(cfg)
    _check_config(d)
    root = Path(d.root)
    train_only = train_only_voices(d.voices)
    seen, held = split_voices(sorted(voices), list(d.heldout), train_only)
    evaluated = [v for v in seen if v not in train_only]  # dev, test, test-natural
    speed, pitch, formant, gap, intonation = (tuple(d[key]) for key in ("speed", "pitch", "formant", "word_gap",
                                                                         "intonation"))
    plan = {}
    for k, (split, texts) in enumerate(split_texts(d).items()):
        rng = random.Random(d.seed * 1009 + k)
        share = d.voices.get("train_only_share") if split == "train" else None
        draw = _voice_pools({"train": seen, "test-other": held}.get(split, evaluated), d.engine_weights,
                            train_only, share)
        plan[split] = [Job(path=str(root / "wav" / split / f"{split}-{i:06d}.wav"), text=text,
                           voice=_pick_voice(rng, *draw, share),
                           speed=round(rng.uniform(*speed), 3), pitch=round(rng.uniform(*pitch), 2),
                           formant=round(rng.uniform(*formant), 2), gap=rng.randint(*gap),
                           intonation=round(rng.uniform(*intonation), 2))
                       for i, text in enumerate(texts)]
    return plan


def _complete(root: Path, fingerprint: dict) -> dict | None:
    """corpus.json when the corpus at `root` was built from this config and is all there."""
    try:
        info = json.loads((root / "corpus.json").read_text())
    except (OSError, ValueError):
        return None
    if info.get("config") != fingerprint or (root / MARKER).exists():
        return None
    for split, n in info["counts"].items():
        try:
            rows = (root / f"{split}.jsonl").read_text().splitlines()
        except OSError:
            return None
        if len(rows) != n or not all((root / "wav" / split / f"{split}-{i:06d}.wav").exists() for i in range(n)):
            return None
    return info


def _reset(root: Path) -> None:
    """Remove a previous corpus (built from another config, or a partial one) from `root`."""
    ours = (root / "corpus.json").exists() or (root / MARKER).exists()
    if (root / "wav").exists() and not ours:
        raise CorpusError(f"{root} has a wav/ folder but no corpus.json: not a corpus this recipe made; "
                          f"choose another data.root or remove it")
    shutil.rmtree(root / "wav", ignore_errors=True)
    for split in SPLITS:
        (root / f"{split}.jsonl").unlink(missing_ok=True)
    (root / "corpus.json").unlink(missing_ok=True)


def _chunks(jobs: list[Job], size: int) -> list[list[Job]]:
    """Chunks of one engine each (festival speaks a chunk in one process), slowest first so
    the workers finish together."""
    out = []
    for engine in ("festival", "flite", "espeak"):
        mine = sorted((j for j in jobs if j.voice.startswith(engine + "-")), key=lambda j: j.voice)
        out += [mine[i:i + size] for i in range(0, len(mine), size)]
    return out


def _synthesize_all(jobs: list[Job], d: DictConfig) -> dict[str, float]:
    durations: dict[str, float] = {}
    chunks = _chunks(jobs, d.chunk_size)
    bar = progress(total=len(jobs), desc="synthesize", unit="utt", smoothing=0.05)
    if d.num_workers == 0:
        for chunk in chunks:
            durations.update(zip((j.path for j in chunk), synthesize(chunk, d.sample_rate)))
            bar.update(len(chunk))
    else:
        # spawn, not fork: the parent may hold torch threads
        with ProcessPoolExecutor(d.num_workers, mp_context=multiprocessing.get_context("spawn")) as ex:
            futures = {ex.submit(synthesize, chunk, d.sample_rate): chunk for chunk in chunks}
            try:
                for fut in as_completed(futures):
                    chunk = futures[fut]
                    durations.update(zip((j.path for j in chunk), fut.result()))
                    bar.update(len(chunk))
            except BaseException:  # a failed chunk or Ctrl-C: do not wait for the rest
                ex.shutdown(wait=False, cancel_futures=True)
                raise
    bar.close()
    return durations


def prepare_corpus(cfg: DictConfig) -> dict:
    """Build (or find complete) the corpus described by `cfg.data`; returns corpus.json's dict."""
    d = _data_cfg(cfg)
    _check_config(d)
    root = Path(d.root)
    fingerprint = _fingerprint(d)
    info = _complete(root, fingerprint)
    if info is not None:
        return {**info, "skipped": True}

    t0 = time.time()
    voices = [v.id for v in working_voices(voice_catalog(d.voices))]
    if not voices:
        raise CorpusError("no TTS voice works on this machine (apt-get install espeak-ng flite festival)")
    marker = {"config": fingerprint, "voices": voices}
    try:
        resumable = json.loads((root / MARKER).read_text()) == marker
    except (OSError, ValueError):
        resumable = False
    if not resumable:  # start afresh: never mix wavs made from another config or voice set
        _reset(root)
    root.mkdir(parents=True, exist_ok=True)
    (root / MARKER).write_text(json.dumps(marker))
    for leftover in (root / "wav").glob("*/*.*.wav"):  # .tmp.wav / .raw.wav of a killed run
        leftover.unlink()

    plan = plan_corpus(cfg, voices)
    jobs = [j for split in SPLITS for j in plan[split]]
    durations = {}
    for j in jobs:
        if os.path.exists(j.path):
            durations[j.path] = sf.info(j.path).frames / d.sample_rate
    todo = [j for j in jobs if j.path not in durations]
    durations.update(_synthesize_all(todo, d))

    for split in SPLITS:
        rows = [{"id": Path(j.path).stem, "audio": os.path.relpath(j.path, root),
                 "duration": round(durations[j.path], 4), "text": j.text, "speaker": j.voice} for j in plan[split]]
        tmp = root / f"{split}.jsonl.tmp"
        tmp.write_text("".join(json.dumps(r) + "\n" for r in rows))
        os.replace(tmp, root / f"{split}.jsonl")
    info = {
        "name": d.name,
        "seed": d.seed,
        "config": fingerprint,
        "counts": {s: len(plan[s]) for s in SPLITS},
        "hours": {s: round(sum(durations[j.path] for j in plan[s]) / 3600, 4) for s in SPLITS},
        "voices": {s: sorted({j.voice for j in plan[s]}) for s in SPLITS},
        "voices_used": voices,
        "voices_skipped": [v.id for v in voice_catalog(d.voices) if v.id not in voices],
        "words": len({w for s in SPLITS for j in plan[s] for w in j.text.split()}),
        "synthesized": len(todo),
        "seconds": round(time.time() - t0, 1),
    }
    tmp = root / "corpus.json.tmp"
    tmp.write_text(json.dumps(info, indent=1) + "\n")
    os.replace(tmp, root / "corpus.json")
    (root / MARKER).unlink()
    return {**info, "skipped": False}
