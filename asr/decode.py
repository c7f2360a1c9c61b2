"""CTC decoding: greedy, prefix beam search, lexicon + n-gram LM; the decoding recipe `decode(cfg)`.

Every decoder maps log_probs [B, T, V] (blank = 0) and lengths [B] to an n-best list per
utterance of `Hyp(text, score, ids)`, best first.
"""
from __future__ import annotations

import hashlib
import itertools
import json
import math
import os
import sys
import tempfile
import time
from collections import defaultdict
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch

from asr.lm import LN10, UNK, arpa_vocab, build_lm, read_wordlist, write_lexicon
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
    """flashlight-text's decoder and dictionary modules and its KenLM class (the `lm` extra)."""
    try:
        import flashlight.lib.text.decoder as decoder
        import flashlight.lib.text.dictionary as dictionary
        from flashlight.lib.text.decoder.kenlm import KenLM
    except Exception as e:  # ImportError, or a broken native module
        raise DecodeError("decode.decoder=lm needs flashlight-text: pip install 'triton-blstm-asr[lm]' "
                          f"(or pip install flashlight-text) [{type(e).__name__}: {e}]") from None
    return decoder, dictionary, KenLM


@contextmanager
def _quiet_stderr():
    """KenLM writes a loading banner and a progress bar to the process's stderr: hide them."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def _stamp(path: str | Path | None) -> tuple | None:
    """What identifies a file's version for the caches below."""
    if path is None:
        return None
    st = Path(path).stat()
    return (str(Path(path).resolve()), st.st_mtime_ns, st.st_size)


_SEARCH_CACHE: dict[tuple, tuple] = {}


def _lexicon_search(tokenizer, arpa: str | Path | None, lexicon_words: list[str] | None):
    """(tokens dict, word dict, number of words, KenLM or ZeroLM, lexicon trie) for a lexicon decoder.
    Every setting of the weights shares them (cached), so a tuning grid loads the LM and builds the trie once."""
    key = (_stamp(arpa), _sha1(json.dumps(tokenizer.to_dict(), default=str).encode()),
           None if lexicon_words is None else tuple(sorted(set(lexicon_words))))
    if key not in _SEARCH_CACHE:
        if len(_SEARCH_CACHE) >= 2:
            _SEARCH_CACHE.clear()
        _SEARCH_CACHE[key] = _build_lexicon_search(tokenizer, arpa, lexicon_words)
    return _SEARCH_CACHE[key]


def _build_lexicon_search(tokenizer, arpa: str | Path | None, lexicon_words: list[str] | None):
    fl, fld, KenLM = _flashlight()
    names, sil = token_names(tokenizer)
    if lexicon_words is None:
        if arpa is None:
            raise DecodeError("LexiconLMDecoder needs an ARPA LM or a word list for its lexicon")
        lexicon_words = arpa_vocab(arpa)
    spelled = [(w, spell(tokenizer, w)) for w in sorted(set(lexicon_words))]
    spelled = [(w, sp) for w, sp in spelled if sp]
    if not spelled:
        raise DecodeError(f"no word of the LM {arpa} can be spelled with the model's tokenizer")
    tokens = fld.Dictionary(names)
    with tempfile.TemporaryDirectory() as tmp:
        word_file = Path(tmp) / "words.txt"
        word_file.write_text("\n".join([w for w, _ in spelled] + [UNK]) + "\n")
        word_dict = fld.Dictionary(str(word_file))  # index = position in `spelled`, <unk> last
    with _quiet_stderr():
        lm = KenLM(str(arpa), word_dict) if arpa is not None else fl.ZeroLM()
    trie = fl.Trie(len(names), tokens.get_index(sil))
    start = lm.start(False)
    for i, (_, spelling) in enumerate(spelled):  # each word's unigram score, smeared over its prefixes
        trie.insert([tokens.get_index(t) for t in spelling], i, lm.score(start, i)[1])
    trie.smear(fl.SmearingMode.MAX)
    return tokens, word_dict, len(spelled), lm, trie


@lru_cache(maxsize=2)
def _token_lm(arpa: tuple, names: tuple[str, ...]):
    """KenLM over the model's tokens, its dictionary in token order (index = model output)."""
    _, fld, KenLM = _flashlight()
    with tempfile.TemporaryDirectory() as tmp:
        lm_dict = Path(tmp) / "tokens.txt"
        lm_dict.write_text("\n".join(names + (UNK,) * (UNK not in names)) + "\n")
        with _quiet_stderr():
            return KenLM(arpa[0], fld.Dictionary(str(lm_dict)))


def _run(decoder, log_probs: torch.Tensor, lengths: torch.Tensor, nbest: int) -> list:
    """flashlight results (best first, at most `nbest`) per utterance of log_probs [B, T, V]."""
    emissions = log_probs.detach().float().cpu().contiguous()
    B, _, V = emissions.shape
    step = emissions.element_size() * emissions.stride(0)
    return [decoder.decode(emissions.data_ptr() + b * step, int(lengths[b]), V)[:nbest] for b in range(B)]


class LexiconLMDecoder:
    """Lexicon-constrained beam search with a word n-gram LM (flashlight-text, KenLM reading the ARPA).

    The lexicon is every word of the LM vocabulary (training text + the open word list, see
    `prepare_lm`) spelled with the model's tokenizer, or `lexicon_words`. Scores: acoustic ln p +
    lm_weight * ln p_LM + word_score per word (KenLM's log10 is converted, so weights are in nats).
    """

    def __init__(self, tokenizer, arpa: str | Path | None, lexicon_words: list[str] | None = None,
                 nbest: int = 1, beam_size: int = 200, beam_size_token: int | None = None,
                 beam_threshold: float = 100.0, lm_weight: float = 0.5, word_score: float = 0.0,
                 sil_score: float = 0.0):
        fl, _, _ = _flashlight()
        self.tokenizer, self.nbest = tokenizer, nbest
        names, sil = token_names(tokenizer)
        tokens, self.word_dict, n_words, self.lm, self.trie = _lexicon_search(tokenizer, arpa, lexicon_words)
        opts = fl.LexiconDecoderOptions(beam_size, beam_size_token or len(names), beam_threshold,
                                        lm_weight * LN10 if arpa is not None else 0.0, word_score, -math.inf,
                                        sil_score, False, fl.CriterionType.CTC)
        # blank = 0, <unk> = the last word (never emitted: unk_score = -inf)
        self.decoder = fl.LexiconDecoder(opts, self.trie, self.lm, tokens.get_index(sil), 0, n_words, [], False)

    def __call__(self, log_probs: torch.Tensor, lengths: torch.Tensor) -> list[list[Hyp]]:
        out = []
        for results in _run(self.decoder, log_probs, lengths, self.nbest):
            texts = [" ".join(self.word_dict.get_entry(i) for i in r.words if i >= 0) for r in results]
            out.append([Hyp(t, float(r.score), self.tokenizer.encode(t)) for t, r in zip(texts, results)])
        return out


class TokenLMDecoder:
    """Lexicon-free beam search with an n-gram LM over the model's own tokens (characters or BPE pieces).

    Any spelling can come out, words that no text ever had included. Scores: acoustic ln p +
    lm_weight * ln p_LM(token | previous tokens) + sil_score per word boundary.
    """

    def __init__(self, tokenizer, arpa: str | Path, nbest: int = 1, beam_size: int = 100,
                 beam_size_token: int | None = None, beam_threshold: float = 100.0, lm_weight: float = 0.5,
                 sil_score: float = 0.0):
        fl, _, _ = _flashlight()
        self.tokenizer, self.nbest = tokenizer, nbest
        names, sil = token_names(tokenizer)
        # flashlight puts the silence token at both ends: a space for characters, the unused <unk>
        # piece for SentencePiece, which is no text and is dropped
        self.drop = {0} if tokenizer.kind == "char" else {0, names.index(sil)}
        if not Path(arpa).is_file():
            raise DecodeError(f"token LM {arpa} does not exist")
        # the LM's dictionary in token order: a dictionary flashlight builds itself is sorted, and the
        # LM would score each token as another one ("|" as "<blank>")
        self.lm = _token_lm(_stamp(arpa), tuple(names))
        opts = fl.LexiconFreeDecoderOptions(beam_size, beam_size_token or len(names), beam_threshold,
                                            lm_weight * LN10, sil_score, False, fl.CriterionType.CTC)
        self.decoder = fl.LexiconFreeDecoder(opts, self.lm, names.index(sil), 0, [])

    def __call__(self, log_probs: torch.Tensor, lengths: torch.Tensor) -> list[list[Hyp]]:
        out = []
        for results in _run(self.decoder, log_probs, lengths, self.nbest):
            hyps = []
            for r in results:
                path = [int(i) for i in r.tokens]  # per frame, blanks included
                ids = [i for k, i in enumerate(path) if (k == 0 or i != path[k - 1])
                       and 0 <= i < self.tokenizer.vocab_size and i not in self.drop]
                text = _text(self.tokenizer, ids)
                hyps.append(Hyp(text, float(r.score), self.tokenizer.encode(text)))
            out.append(hyps)
        return out


LM_UNITS = ("word", "token")
TUNABLE = ("lm_weight", "word_score", "sil_score", "beam_threshold")


def build_decoder(dc, tokenizer, arpa: str | Path | None = None):
    """The decoder named by `dc.decoder` (greedy | beam | lm) with its settings from the config.

    decoder=lm: `dc.lm.unit` word (lexicon + word n-gram) or token (lexicon-free, token n-gram).
    """
    kind = dc.decoder
    if kind == "greedy":
        return GreedyDecoder(tokenizer)
    if kind == "beam":
        return BeamDecoder(tokenizer, beam_size=dc.beam_size, nbest=dc.nbest, token_threshold=dc.token_threshold,
                           beam_size_token=dc.get("beam_size_token"))
    if kind == "lm":
        lm = dc.lm
        unit = lm.get("unit", "word")
        common = dict(nbest=dc.nbest, beam_size=dc.beam_size, beam_size_token=dc.get("beam_size_token"),
                      beam_threshold=lm.beam_threshold, lm_weight=lm.lm_weight, sil_score=lm.sil_score)
        if unit == "word":
            return LexiconLMDecoder(tokenizer, arpa, word_score=lm.word_score, **common)
        if unit == "token":
            return TokenLMDecoder(tokenizer, arpa, **common)
        raise DecodeError(f"decode.lm.unit={unit!r} is not one of: {', '.join(LM_UNITS)}")
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


def lm_training_text(cfg) -> list[str]:
    """The LM's sentences: `decode.lm.text` (one path or a list; null: the features' train manifest),
    plus the built-in corpus's wider text (`decode.lm.corpus_text`), minus every sentence of the
    `decode.lm.exclude` splits of `features.manifests` (dev and test sentences never reach the LM)."""
    lm = cfg.decode.lm
    paths = lm.text if lm.text is not None else cfg.features.manifests[cfg.features.train_split]
    paths = [paths] if isinstance(paths, (str, Path)) else list(paths)
    texts = [t for path in paths for t in lm_texts(path)]
    if lm.get("corpus_text"):
        texts += corpus_lm_text(cfg)
    manifests = dict(cfg.get("features", {}).get("manifests", {}))
    root = cfg.get("data", {}).get("root")
    for split in lm.get("exclude") or []:  # a split the features config lacks: the corpus's own manifest
        if split not in manifests and root:
            manifests[split] = str(Path(root) / f"{split}.jsonl")
    held_out = {t for split in lm.get("exclude") or [] if split in manifests and Path(manifests[split]).is_file()
                for t in lm_texts(manifests[split])}
    texts = [" ".join(t.split()) for t in texts]
    return [t for t in texts if t and t not in held_out]


def corpus_lm_text(cfg) -> list[str]:
    """The built-in corpus's text beyond its recorded utterances: every natural sentence on the train
    side of its split (asr.corpus.text) and `decode.lm.grammar_sentences` more sentences of the grammar
    (those that dev/test also drew are removed by `decode.lm.exclude`)."""
    from asr.corpus import sentence_pool
    from asr.corpus.text import lm_sentences

    d, n = cfg.data, cfg.decode.lm.get("grammar_sentences", 0)
    grammar = sentence_pool(n, seed=d.seed + 1_000_003, min_words=d.min_words, max_words=d.max_words) if n else []
    return lm_sentences(d) + grammar


def _sha1(data: bytes) -> str:
    return hashlib.sha1(data).hexdigest()


def prepare_lm(cfg, tokenizer=None) -> Path:
    """Build the n-gram LM of `decode.lm` (unit word or token) unless it was built from this same text.

    word: `<decode.lm.dir>/<order>gram.arpa`, vocabulary = the text's words + `decode.lm.wordlist`.
    token: `<decode.lm.dir>/token-<order>gram.arpa` over the model's token names ("|" = space).
    """
    lm = cfg.decode.lm
    unit = lm.get("unit", "word")
    if unit not in LM_UNITS:
        raise DecodeError(f"decode.lm.unit={unit!r} is not one of: {', '.join(LM_UNITS)}")
    texts = lm_training_text(cfg)
    if not texts:
        raise DecodeError("decode.lm.text: no sentence left to train the LM on")
    made_from = {"unit": unit, "order": lm.order, "sentences": len(texts),
                 "sha1": _sha1("\n".join(texts).encode())}
    vocab: list[str] = []
    if unit == "word" and lm.get("wordlist"):
        spellable = (lambda w: not tokenizer.unknown_chars(w)) if tokenizer is not None else (lambda w: True)
        vocab = read_wordlist(lm.wordlist, spellable)
        made_from["wordlist"] = {"path": str(lm.wordlist), "words": len(vocab), "sha1": _sha1("\n".join(vocab).encode())}
    if unit == "token":
        if tokenizer is None:
            raise DecodeError("decode.lm.unit=token needs the model's tokenizer")
        names, _ = token_names(tokenizer)
        texts = [" ".join(names[i] for i in tokenizer.encode(t)) for t in texts]
        vocab = names[1:]
        made_from["tokenizer"] = _sha1(json.dumps(tokenizer.to_dict(), default=str).encode())
    arpa = Path(lm.dir) / (f"{lm.order}gram.arpa" if unit == "word" else f"token-{lm.order}gram.arpa")
    source = Path(str(arpa) + ".source.json")  # what the ARPA file was built from
    if arpa.is_file() and source.is_file() and json.loads(source.read_text()) == made_from and not lm.rebuild:
        return arpa
    t0 = time.time()
    build_lm(texts, arpa.parent, order=lm.order, vocab=vocab, name=arpa.name[: -len("gram.arpa")])
    source.write_text(json.dumps(made_from))
    print(f"LM: {unit} {lm.order}-gram on {len(texts)} sentences"
          + (f" + {len(vocab)} word-list words" if unit == "word" and vocab else "") + f" -> {arpa} "
          f"in {time.time() - t0:.1f} s")
    return arpa


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


def tune_lm(cfg, tokenizer, arpa: Path, log_probs: list[torch.Tensor], refs: list[str]) -> dict:
    """Decode `log_probs` (the tuning split) at every grid point; {"grid": rows, "best": row, "greedy": row}."""
    from omegaconf import OmegaConf

    from asr.scoring import wer_cer

    dc = cfg.decode
    rows = []
    greedy = search(GreedyDecoder(tokenizer), log_probs)
    g_wer, g_cer = wer_cer(refs, [n[0].text for n in greedy])
    for point in grid_points(dc.lm.tune.grid):
        t0 = time.perf_counter()
        decoder = build_decoder(OmegaConf.merge(dc, {"lm": point}), tokenizer, arpa)
        hyps = [n[0].text if n else "" for n in search(decoder, log_probs)]
        wer, cer = wer_cer(refs, hyps)
        rows.append({**point, "wer": wer, "cer": cer, "seconds": round(time.perf_counter() - t0, 2)})
        print("tune " + " ".join(f"{k}={v}" for k, v in point.items()) + f": WER {100 * wer:.2f} %  CER {100 * cer:.2f} %",
              flush=True)
    best = best_point(rows)
    if best["wer"] > g_wer:
        print(f"warning: on {dc.lm.tune.split} the best LM setting (WER {100 * best['wer']:.2f} %) is worse than "
              f"greedy ({100 * g_wer:.2f} %)")
    return {"grid": rows, "best": best, "greedy": {"wer": g_wer, "cer": g_cer}}


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


def forward_split(model, feats: list[torch.Tensor], cmvn: dict, max_frames: int,
                  device: torch.device) -> tuple[list[torch.Tensor], float]:
    """Log-probabilities [T'_i, V] per utterance (input order) on the CPU, and seconds in the model."""
    mean, std = cmvn["mean"].float().to(device), cmvn["std"].float().to(device)
    out: list[torch.Tensor | None] = [None] * len(feats)
    am_time = 0.0
    with torch.inference_mode():
        for idx in _batches([f.shape[0] for f in feats], max_frames):
            t0 = time.perf_counter()
            x = torch.nn.utils.rnn.pad_sequence([feats[i].float() for i in idx], batch_first=True).to(device)
            x = (x - mean) / std  # [B, T, F]
            lengths = torch.tensor([feats[i].shape[0] for i in idx], device=device)
            log_probs, out_lengths = model(x, lengths)  # [B, T', V]
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


def decode_split(model, decoder, feats: list[torch.Tensor], cmvn: dict, max_frames: int,
                 device: torch.device) -> tuple[list[list[Hyp]], float, float]:
    """n-best per utterance (input order), seconds in the model, seconds in the search."""
    log_probs, am_time = forward_split(model, feats, cmvn, max_frames, device)
    t0 = time.perf_counter()
    results = search(decoder, log_probs)
    return results, am_time, time.perf_counter() - t0


def _print_table(rows: dict[str, dict]) -> None:
    print(f"{'split':<12} {'utts':>6} {'WER %':>7} {'CER %':>7} {'words':>7} {'sub':>5} {'del':>5} {'ins':>5} "
          f"{'hours':>6} {'RTF':>7}")
    for split, s in rows.items():
        print(f"{split:<12} {s['utterances']:>6} {100 * s['wer']:>7.2f} {100 * s['cer']:>7.2f} {s['words']:>7} "
              f"{s['sub']:>5} {s['del']:>5} {s['ins']:>5} {s['hours']:>6.3f} {s['rtf']:>7.4f}")


def tuned_weights(cfg, model, tokenizer, arpa: Path, cmvn: dict, device: torch.device) -> dict:
    """Tune `decode.lm` weights on `decode.lm.tune.split` (cached in `<decode.dir>/tune.json`), set the
    best ones in `cfg.decode.lm` and return {"best", "grid", "greedy", ...}."""
    from omegaconf import OmegaConf

    from asr.features import load_split

    dc, tune = cfg.decode, cfg.decode.lm.tune
    key = {"checkpoint": _sha1(Path(cfg.checkpoint).read_bytes()),
           "lm": json.loads(Path(str(arpa) + ".source.json").read_text()),
           "split": tune.split, "max_utts": tune.max_utts, "grid": OmegaConf.to_container(tune.grid),
           "search": {k: dc.get(k) for k in ("beam_size", "beam_size_token")} | {
               k: dc.lm.get(k) for k in TUNABLE if k not in tune.grid}}
    cache = Path(dc.dir) / "tune.json"
    result = json.loads(cache.read_text()) if cache.is_file() else None
    if result is None or result.get("key") != key:
        data = load_split(cfg.features.dir, tune.split)
        n = tune.max_utts or len(data["ids"])
        log_probs, _ = forward_split(model, data["feats"][:n], cmvn, dc.max_frames, device)
        t0 = time.perf_counter()
        result = {"key": key, **tune_lm(cfg, tokenizer, arpa, log_probs, data["texts"][:n]),
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
    arpa, tuned = None, None
    if dc.decoder == "lm":
        _flashlight()  # fail before building the LM when the extra is missing
        arpa = prepare_lm(cfg, tokenizer)
        if dc.lm.get("unit", "word") == "word":
            write_lexicon(arpa_vocab(arpa), lambda w: spell(tokenizer, w), arpa.parent / "lexicon.txt")
        if dc.lm.get("tune") and dc.lm.tune.split:
            tuned = tuned_weights(cfg, model, tokenizer, arpa, ckpt["cmvn"], device)
    decoder = build_decoder(dc, tokenizer, arpa)
    frame_shift = ckpt["features"].get("frame_shift_ms", 10.0) / 1000

    out_dir = Path(dc.dir)
    splits = [dc.splits] if isinstance(dc.splits, str) else list(dc.splits)
    summary = {"checkpoint": str(cfg.checkpoint), "decoder": dc.decoder, "device": str(device), "splits": {}}
    if tuned is not None:
        summary["tuned"] = tuned
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
