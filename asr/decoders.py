"""CTC decoders as a library: greedy, prefix beam search, lexicon + word n-gram LM, token n-gram LM.

Every decoder maps log_probs [B, T, V] (blank = 0) and lengths [B] to an n-best list per
utterance of `Hyp(text, score, ids)`, best first. `build_decoder(dc, tokenizer, arpa)` makes the
one named by `dc.decoder` from a `conf/decode` config through `DECODERS`; a new decoder is its
class plus one entry there. The decoding recipe (LM text, tuning, scoring) is `asr.decode`.
"""
from __future__ import annotations

import hashlib
import json
import math
import os
import sys
import tempfile
from collections import defaultdict
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Callable, NamedTuple

import numpy as np
import torch

from asr.errors import ASRError
from asr.lm import LN10, UNK, arpa_vocab

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


def _sha1(data: bytes) -> str:
    return hashlib.sha1(data).hexdigest()


def _greedy(dc, tokenizer, arpa):
    return GreedyDecoder(tokenizer)


def _beam(dc, tokenizer, arpa):
    return BeamDecoder(tokenizer, beam_size=dc.beam_size, nbest=dc.nbest, token_threshold=dc.token_threshold,
                       beam_size_token=dc.get("beam_size_token"))


def _lm(dc, tokenizer, arpa):
    """`dc.lm.unit` word (lexicon + word n-gram) or token (lexicon-free, token n-gram)."""
    lm = dc.lm
    unit = lm.get("unit", "word")
    common = dict(nbest=dc.nbest, beam_size=dc.beam_size, beam_size_token=dc.get("beam_size_token"),
                  beam_threshold=lm.beam_threshold, lm_weight=lm.lm_weight, sil_score=lm.sil_score)
    if unit == "word":
        return LexiconLMDecoder(tokenizer, arpa, word_score=lm.word_score, **common)
    if unit == "token":
        return TokenLMDecoder(tokenizer, arpa, **common)
    raise DecodeError(f"decode.lm.unit={unit!r} is not one of: {', '.join(LM_UNITS)}")


# decode.decoder -> builder(dc, tokenizer, arpa) -> decoder
DECODERS: dict[str, Callable] = {"greedy": _greedy, "beam": _beam, "lm": _lm}


def build_decoder(dc, tokenizer, arpa: str | Path | None = None):
    """The decoder named by `dc.decoder` (a key of `DECODERS`) with its settings from the config `dc`
    (`conf/decode/<name>.yaml`); `arpa`: the LM file of decoder=lm."""
    kind = dc.decoder
    if kind not in DECODERS:
        raise DecodeError(f"decode.decoder={kind!r} is not one of: {', '.join(DECODERS)}")
    return DECODERS[kind](dc, tokenizer, arpa)
