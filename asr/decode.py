"""CTC decoding: greedy, prefix beam search, lexicon + n-gram LM; the decoding recipe `decode(cfg)`.

Every decoder maps log_probs [B, T, V] (blank = 0) and lengths [B] to an n-best list per
utterance of `Hyp(text, score, ids)`, best first.
"""
from __future__ import annotations

import hashlib
import json
import math
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch

from asr.lm import BOS, EOS, UNK, NGramLM, build_lm, write_lexicon
from asr.errors import ASRError

BLANK = 0


class DecodeError(ASRError, ValueError):
    """Bad decoding config, missing LM support or files; the message names the key or file."""


class Hyp(NamedTuple):
    text: str  # words separated by single spaces
    score: float
    ids: list[int]  # the token ids the text came from (greedy/beam: as emitted, spaces and all)


def greedy_decode(log_probs: torch.Tensor, lengths: torch.Tensor | list[int] | None = None) -> list[list[int]]:
    """Best path: argmax per frame, merge repeats, drop blanks.

    log_probs [T, V] or [B, T, V]; lengths [B] (None: all frames). Returns one id list per
    utterance (a list of one list for [T, V] input).
    """
    if log_probs.dim() == 2:
        log_probs = log_probs.unsqueeze(0)  # [1, T, V]
    B, T, _ = log_probs.shape
    if lengths is None:
        lengths = [T] * B
    best = log_probs.argmax(dim=-1).cpu()  # [B, T]
    out = []
    for b in range(B):
        path = best[b, : int(lengths[b])]
        if path.numel() == 0:
            out.append([])
            continue
        keep = torch.ones_like(path, dtype=torch.bool)
        keep[1:] = path[1:] != path[:-1]
        out.append([int(i) for i in path[keep & (path != BLANK)]])
    return out


def prefix_beam_search(log_probs: torch.Tensor, beam_size: int = 10, nbest: int = 1,
                       token_threshold: float = 10.0, beam_size_token: int | None = None
                       ) -> list[tuple[list[int], float]]:
    """CTC prefix beam search over one utterance, log_probs [T, V] (blank = 0).

    Each prefix keeps two log probabilities: of all paths that end in blank (p_b) and of those
    that end in its last token (p_nb); a repeated token extends the prefix only after a blank.
    Per frame only tokens within `token_threshold` (nats) of the frame's best, and at most
    `beam_size_token` of them, are tried. Returns up to `nbest` (ids, log prob), best first.
    """
    if beam_size < 1 or nbest < 1:
        raise DecodeError(f"beam_size={beam_size} and nbest={nbest} must be >= 1")
    lp = log_probs.detach().float().cpu().numpy()  # [T, V]
    T, V = lp.shape
    k = min(beam_size_token or V, V)
    NEG = -math.inf
    beams: dict[tuple, tuple[float, float]] = {(): (0.0, NEG)}  # prefix -> (p_b, p_nb)
    for t in range(T):
        frame = lp[t]
        cands = np.argsort(-frame)[:k]
        cands = [int(c) for c in cands if c != BLANK and frame[c] >= frame.max() - token_threshold]
        nxt: dict[tuple, list[float]] = defaultdict(lambda: [NEG, NEG])
        for prefix, (pb, pnb) in beams.items():
            total = np.logaddexp(pb, pnb)
            e = nxt[prefix]
            e[0] = np.logaddexp(e[0], total + frame[BLANK])  # stay, ending in blank
            last = prefix[-1] if prefix else None
            for c in cands:
                p = frame[c]
                ext = nxt[prefix + (c,)]
                if c == last:
                    e[1] = np.logaddexp(e[1], pnb + p)  # repeat collapses into the same prefix
                    ext[1] = np.logaddexp(ext[1], pb + p)  # a new token only after a blank
                else:
                    ext[1] = np.logaddexp(ext[1], total + p)
        best = sorted(nxt.items(), key=lambda kv: np.logaddexp(*kv[1]), reverse=True)[:beam_size]
        beams = {prefix: (pb, pnb) for prefix, (pb, pnb) in best}
    ranked = sorted(((list(p), float(np.logaddexp(pb, pnb))) for p, (pb, pnb) in beams.items()),
                    key=lambda x: x[1], reverse=True)
    return ranked[:nbest]


def _text(tokenizer, ids: list[int]) -> str:
    """Token ids as text with single spaces between words and none at the ends, like the references."""
    return " ".join(tokenizer.decode(ids).split())


class GreedyDecoder:
    def __init__(self, tokenizer):
        self.tokenizer = tokenizer

    def __call__(self, log_probs: torch.Tensor, lengths: torch.Tensor) -> list[list[Hyp]]:
        best = log_probs.max(dim=-1).values  # [B, T]
        out = []
        for b, ids in enumerate(greedy_decode(log_probs, lengths)):
            out.append([Hyp(_text(self.tokenizer, ids), float(best[b, : int(lengths[b])].sum()), ids)])
        return out


class BeamDecoder:
    def __init__(self, tokenizer, beam_size: int = 10, nbest: int = 1, token_threshold: float = 10.0,
                 beam_size_token: int | None = None):
        self.tokenizer = tokenizer
        self.kw = dict(beam_size=beam_size, nbest=nbest, token_threshold=token_threshold,
                       beam_size_token=beam_size_token)

    def __call__(self, log_probs: torch.Tensor, lengths: torch.Tensor) -> list[list[Hyp]]:
        return [[Hyp(_text(self.tokenizer, ids), score, ids)
                 for ids, score in prefix_beam_search(log_probs[b, : int(lengths[b])], **self.kw)]
                for b in range(log_probs.shape[0])]


def token_names(tokenizer) -> tuple[list[str], str]:
    """Token names for flashlight (index = model output) and the word-boundary ("silence") token.

    Characters: the space becomes "|". SentencePiece: words start with "▁" inside the pieces,
    so the never-emitted <unk> piece (id 1) serves as the silence token.
    """
    names = ["<blank>"] + [tokenizer.token(i) for i in range(1, tokenizer.vocab_size)]
    if tokenizer.kind == "char":
        if " " not in tokenizer.chars or "|" in tokenizer.chars:
            raise DecodeError("lexicon decoding with characters needs a space and no '|' in the alphabet")
        names = ["|" if n == " " else n for n in names]
        sil = "|"
    else:
        sil = names[1]
    if len(set(names)) != len(names):
        raise DecodeError("tokenizer has repeated token names; flashlight needs unique tokens")
    return names, sil


def spell(tokenizer, word: str) -> list[str]:
    """A word as token names, as the model would emit it inside a sentence (no boundary token)."""
    return [tokenizer.token(i) for i in tokenizer.encode(word)]


def _flashlight():
    try:
        from torchaudio.models.decoder import CTCDecoderLM, CTCDecoderLMState, ctc_decoder
    except Exception as e:  # ImportError, or RuntimeError from torchaudio's lazy loader
        raise DecodeError("decode.decoder=lm needs flashlight-text: pip install 'triton-blstm-asr[lm]' "
                          f"(or pip install flashlight-text) [{type(e).__name__}: {e}]") from None
    return CTCDecoderLM, CTCDecoderLMState, ctc_decoder


def _arpa_lm(ngram: NGramLM, words: list[str]):
    """Wrap `ngram` as a flashlight word LM over `words` (flashlight word index -> word).

    One state object per n-gram context, so hypotheses with the same context merge.
    """
    CTCDecoderLM, CTCDecoderLMState, _ = _flashlight()

    class ArpaLM(CTCDecoderLM):
        def __init__(self):
            CTCDecoderLM.__init__(self)
            self.states: dict[tuple, object] = {}
            self.context: dict[object, tuple] = {}
            self.cache: dict[tuple, tuple[object, float]] = {}

        def _state(self, ctx: tuple):
            s = self.states.get(ctx)
            if s is None:
                s = self.states[ctx] = CTCDecoderLMState()
                self.context[s] = ctx
            return s

        def start(self, start_with_nothing: bool):
            return self._state(() if start_with_nothing else (BOS,))

        def score(self, state, usr_index: int):
            key = (self.context[state], usr_index)
            hit = self.cache.get(key)
            if hit is None:
                ctx, lp = ngram.score(key[0], words[usr_index])
                hit = self.cache[key] = (self._state(ctx), lp)
            return hit

        def finish(self, state):
            ctx, lp = ngram.score(self.context[state], EOS)
            return self._state(ctx), lp

    return ArpaLM()


class LexiconLMDecoder:
    """Lexicon-constrained beam search with a word n-gram LM (flashlight via torchaudio).

    The lexicon is every word of the LM vocabulary spelled with the model's tokenizer.
    Scores: acoustic ln p + lm_weight * ln p_LM + word_score per word.
    """

    def __init__(self, tokenizer, arpa: str | Path | None, lexicon_words: list[str] | None = None,
                 nbest: int = 1, beam_size: int = 200, beam_size_token: int | None = None,
                 beam_threshold: float = 100.0, lm_weight: float = 0.5, word_score: float = 0.0,
                 sil_score: float = 0.0):
        _, _, ctc_decoder = _flashlight()
        self.tokenizer = tokenizer
        names, sil = token_names(tokenizer)
        ngram = NGramLM.from_arpa(arpa) if arpa is not None else None
        if lexicon_words is None:
            if ngram is None:
                raise DecodeError("LexiconLMDecoder needs an ARPA LM or a word list for its lexicon")
            lexicon_words = sorted(ngram.vocab - {BOS, EOS, UNK})
        with tempfile.TemporaryDirectory() as tmp:
            lexicon = write_lexicon(lexicon_words, lambda w: spell(tokenizer, w), Path(tmp) / "lexicon.txt")
            words = [line.split()[0] for line in lexicon.read_text().splitlines()] + [UNK]
            if len(words) == 1:
                raise DecodeError(f"no word of the LM {arpa} can be spelled with the model's tokenizer")
            word_file = Path(tmp) / "words.txt"
            word_file.write_text("\n".join(words) + "\n")
            lm = _arpa_lm(ngram, words) if ngram is not None else None
            self.decoder = ctc_decoder(
                lexicon=str(lexicon), tokens=names, lm=lm, lm_dict=str(word_file), nbest=nbest,
                beam_size=beam_size, beam_size_token=beam_size_token, beam_threshold=beam_threshold,
                lm_weight=lm_weight if ngram is not None else 0.0, word_score=word_score, sil_score=sil_score,
                blank_token="<blank>", sil_token=sil, unk_word=UNK)

    def __call__(self, log_probs: torch.Tensor, lengths: torch.Tensor) -> list[list[Hyp]]:
        emissions = log_probs.detach().float().cpu().contiguous()
        results = self.decoder(emissions, lengths.cpu().to(torch.int32))
        return [[Hyp(" ".join(h.words), float(h.score), self.tokenizer.encode(" ".join(h.words))) for h in nbest]
                for nbest in results]


def build_decoder(dc, tokenizer, arpa: str | Path | None = None):
    """The decoder named by `dc.decoder` (greedy | beam | lm) with its settings from the config."""
    kind = dc.decoder
    if kind == "greedy":
        return GreedyDecoder(tokenizer)
    if kind == "beam":
        return BeamDecoder(tokenizer, beam_size=dc.beam_size, nbest=dc.nbest, token_threshold=dc.token_threshold,
                           beam_size_token=dc.get("beam_size_token"))
    if kind == "lm":
        lm = dc.lm
        return LexiconLMDecoder(tokenizer, arpa, nbest=dc.nbest, beam_size=dc.beam_size,
                                beam_size_token=dc.get("beam_size_token"), beam_threshold=lm.beam_threshold,
                                lm_weight=lm.lm_weight, word_score=lm.word_score, sil_score=lm.sil_score)
    raise DecodeError(f"decode.decoder={kind!r} is not one of: greedy, beam, lm")


def lm_texts(path: str | Path) -> list[str]:
    """Sentences from a JSONL manifest ("text" fields) or a plain text file (one per line)."""
    path = Path(path)
    if not path.is_file():
        raise DecodeError(f"decode.lm.text={str(path)!r}: no such file")
    if path.suffix == ".jsonl":
        from asr.manifest import read_manifest

        return [row["text"] for row in read_manifest(path)]
    return [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def prepare_lm(cfg) -> Path:
    """Build `<decode.lm.dir>/<order>gram.arpa` from the training text, unless it was built from this same text."""
    lm = cfg.decode.lm
    text = Path(lm.text or cfg.features.manifests[cfg.features.train_split])
    if not text.is_file():
        raise DecodeError(f"decode.lm.text={str(text)!r}: no such file (the LM's training text)")
    arpa = Path(lm.dir) / f"{lm.order}gram.arpa"
    source = Path(str(arpa) + ".source.json")  # what the ARPA file was built from
    made_from = {"text": str(text.resolve()), "sha1": hashlib.sha1(text.read_bytes()).hexdigest(), "order": lm.order}
    if arpa.is_file() and source.is_file() and json.loads(source.read_text()) == made_from and not lm.rebuild:
        return arpa
    t0 = time.time()
    build_lm(lm_texts(text), arpa.parent, order=lm.order)
    source.write_text(json.dumps(made_from))
    print(f"LM: {lm.order}-gram from {text} -> {arpa} in {time.time() - t0:.1f} s")
    return arpa


def resolve_device(name: str) -> torch.device:
    """cpu | cuda[:i] | auto (cuda when available) -> a device; a clear error when CUDA is missing."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise DecodeError(f"device={name!r} is not one of: cpu, cuda, cuda:N, auto") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise DecodeError(f"device={name!r} but CUDA is not available on this machine")
    return device


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


def decode_split(model, decoder, feats: list[torch.Tensor], cmvn: dict, max_frames: int,
                 device: torch.device) -> tuple[list[list[Hyp]], float, float]:
    """n-best per utterance (input order), seconds in the model, seconds in the search."""
    mean, std = cmvn["mean"].float().to(device), cmvn["std"].float().to(device)
    results: list[list[Hyp] | None] = [None] * len(feats)
    am_time = search_time = 0.0
    with torch.inference_mode():
        for idx in _batches([f.shape[0] for f in feats], max_frames):
            t0 = time.perf_counter()
            x = torch.nn.utils.rnn.pad_sequence([feats[i].float() for i in idx], batch_first=True).to(device)
            x = (x - mean) / std  # [B, T, F]
            lengths = torch.tensor([feats[i].shape[0] for i in idx], device=device)
            log_probs, out_lengths = model(x, lengths)  # [B, T', V]
            log_probs, out_lengths = log_probs.float().cpu(), out_lengths.cpu()
            t1 = time.perf_counter()
            for i, nbest in zip(idx, decoder(log_probs, out_lengths)):
                results[i] = nbest
            am_time += t1 - t0
            search_time += time.perf_counter() - t1
    return results, am_time, search_time


def _print_table(rows: dict[str, dict]) -> None:
    print(f"{'split':<12} {'utts':>6} {'WER %':>7} {'CER %':>7} {'words':>7} {'sub':>5} {'del':>5} {'ins':>5} "
          f"{'hours':>6} {'RTF':>7}")
    for split, s in rows.items():
        print(f"{split:<12} {s['utterances']:>6} {100 * s['wer']:>7.2f} {100 * s['cer']:>7.2f} {s['words']:>7} "
              f"{s['sub']:>5} {s['del']:>5} {s['ins']:>5} {s['hours']:>6.3f} {s['rtf']:>7.4f}")


def decode(cfg) -> dict:
    """Decode `cfg.decode.splits` of the feature store with `cfg.checkpoint`; write and print the results.

    Per split, in `<decode.dir>/<split>/`: hyp.txt and ref.txt (`id text`), nbest.jsonl,
    errs.txt (sclite-style alignment and error summary); summary.json for all splits.
    """
    from asr.checkpoint import load_checkpoint
    from asr.features import load_split
    from asr.model import CTCModel
    from asr.scoring import error_report
    from asr.tokenizer import tokenizer_from_dict

    dc = cfg.decode
    if dc.num_threads:
        torch.set_num_threads(dc.num_threads)
    if dc.max_frames <= 0:
        raise DecodeError(f"decode.max_frames={dc.max_frames} must be > 0")
    device = resolve_device(dc.device)
    ckpt = load_checkpoint(cfg.checkpoint, "cpu")
    model = CTCModel.from_checkpoint(ckpt, device)
    tokenizer = tokenizer_from_dict(ckpt["tokenizer"])
    arpa = None
    if dc.decoder == "lm":
        _flashlight()  # fail before building the LM when the extra is missing
        arpa = prepare_lm(cfg)
        write_lexicon(sorted(NGramLM.from_arpa(arpa).vocab - {BOS, EOS, UNK}), lambda w: spell(tokenizer, w),
                      arpa.parent / "lexicon.txt")
    decoder = build_decoder(dc, tokenizer, arpa)
    frame_shift = ckpt["features"].get("frame_shift_ms", 10.0) / 1000

    out_dir = Path(dc.dir)
    splits = [dc.splits] if isinstance(dc.splits, str) else list(dc.splits)
    summary = {"checkpoint": str(cfg.checkpoint), "decoder": dc.decoder, "device": str(device), "splits": {}}
    for split in splits:
        data = load_split(cfg.features.dir, split)
        if not data["ids"]:
            raise DecodeError(f"split {split!r} in {cfg.features.dir} has no utterances")
        results, am_time, search_time = decode_split(model, decoder, data["feats"], ckpt["cmvn"], dc.max_frames,
                                                     device)
        hyps = [nbest[0].text if nbest else "" for nbest in results]
        seconds = sum(f.shape[0] for f in data["feats"]) * frame_shift
        split_dir = out_dir / split
        split_dir.mkdir(parents=True, exist_ok=True)
        (split_dir / "hyp.txt").write_text("".join(f"{u} {h}\n" for u, h in zip(data["ids"], hyps)))
        (split_dir / "ref.txt").write_text("".join(f"{u} {r}\n" for u, r in zip(data["ids"], data["texts"])))
        with open(split_dir / "nbest.jsonl", "w") as f:
            for uid, nbest in zip(data["ids"], results):
                f.write(json.dumps({"id": uid, "nbest": [{"text": h.text, "score": round(h.score, 4)}
                                                         for h in nbest]}) + "\n")
        report, stats = error_report(data["ids"], data["texts"], hyps,
                                     title=f"{split}: {cfg.checkpoint}, decoder={dc.decoder}")
        (split_dir / "errs.txt").write_text(report)
        stats.update(hours=seconds / 3600, am_seconds=round(am_time, 3), search_seconds=round(search_time, 3),
                     rtf=(am_time + search_time) / max(seconds, 1e-9), dir=str(split_dir))
        summary["splits"][split] = stats
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "summary.json").write_text(json.dumps(summary, indent=1))
    print(f"decoded with {cfg.checkpoint} ({dc.decoder}, {device}) -> {out_dir}")
    _print_table(summary["splits"])
    return summary
