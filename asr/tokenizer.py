"""Tokenizers: characters by default, SentencePiece BPE as an option.

Id 0 is the CTC blank in every tokenizer; real tokens start at 1. A tokenizer serialises
to a plain dict (`to_dict`) so it travels inside a model checkpoint.
"""
from __future__ import annotations

import io
import string
from typing import Iterable

BLANK = 0
# The built-in corpus uses lower-case letters, apostrophe and space.
DEFAULT_CHARS = " '" + string.ascii_lowercase


class CharTokenizer:
    """Character tokenizer; characters outside the alphabet are dropped by `encode`."""

    kind = "char"

    def __init__(self, chars: str = DEFAULT_CHARS):
        if len(set(chars)) != len(chars):
            raise ValueError(f"tokenizer alphabet has repeated characters: {chars!r}")
        self.chars = chars
        self._index = {ch: i + 1 for i, ch in enumerate(chars)}

    @property
    def vocab_size(self) -> int:
        return len(self.chars) + 1  # + blank

    def unknown_chars(self, text: str) -> set[str]:
        return {ch for ch in text if ch not in self._index}

    def encode(self, text: str) -> list[int]:
        return [self._index[ch] for ch in text if ch in self._index]

    def decode(self, ids: Iterable[int]) -> str:
        return "".join(self.chars[i - 1] for i in ids if 0 < i <= len(self.chars))

    def token(self, i: int) -> str:
        return "<blank>" if i == BLANK else self.chars[i - 1]

    def to_dict(self) -> dict:
        return {"kind": self.kind, "chars": self.chars}


class SentencePieceTokenizer:
    """SentencePiece (BPE or unigram) tokenizer; the model proto is kept in memory."""

    kind = "sentencepiece"

    def __init__(self, model_proto: bytes):
        import sentencepiece as spm

        self.model_proto = model_proto
        self.sp = spm.SentencePieceProcessor(model_proto=model_proto)

    @classmethod
    def train(cls, texts: Iterable[str], vocab_size: int = 256, model_type: str = "bpe") -> "SentencePieceTokenizer":
        import sentencepiece as spm

        texts = [t for t in texts if t.strip()]
        if not texts:
            raise ValueError("cannot train a SentencePiece tokenizer: no training text")
        buf = io.BytesIO()
        try:
            spm.SentencePieceTrainer.train(
                sentence_iterator=iter(texts), model_writer=buf, vocab_size=vocab_size,
                model_type=model_type, character_coverage=1.0, bos_id=-1, eos_id=-1,
                unk_id=0, pad_id=-1, minloglevel=2,
            )
        except RuntimeError as e:  # e.g. "Vocabulary size too high (5000). Please set it to a value <= 146."
            reason = str(e).split("] ", 1)[-1]
            raise ValueError(f"tokenizer.vocab_size={vocab_size}: SentencePiece training failed: {reason}") from None
        return cls(buf.getvalue())

    @property
    def vocab_size(self) -> int:
        # SentencePiece id 0 is <unk>; we shift every piece by one so 0 is the blank,
        # and <unk> itself (shifted to 1) is never emitted by encode.
        return self.sp.get_piece_size() + 1

    def unknown_chars(self, text: str) -> set[str]:
        return {ch for ch in set(text) if ch != " " and self.sp.piece_to_id(ch) == self.sp.unk_id()
                and not any(ch in self.sp.id_to_piece(i) for i in range(self.sp.get_piece_size()))}

    def encode(self, text: str) -> list[int]:
        return [i + 1 for i in self.sp.encode(text) if i != self.sp.unk_id()]

    def decode(self, ids: Iterable[int]) -> str:
        return self.sp.decode([int(i) - 1 for i in ids if i > 0])  # int(): ids may be a tensor

    def token(self, i: int) -> str:
        return "<blank>" if i == BLANK else self.sp.id_to_piece(i - 1)

    def to_dict(self) -> dict:
        return {"kind": self.kind, "model_proto": self.model_proto}


Tokenizer = CharTokenizer | SentencePieceTokenizer


def tokenizer_from_dict(d: dict) -> Tokenizer:
    if d["kind"] == "char":
        return CharTokenizer(d["chars"])
    if d["kind"] == "sentencepiece":
        return SentencePieceTokenizer(d["model_proto"])
    raise ValueError(f"unknown tokenizer kind {d['kind']!r} (allowed: char, sentencepiece)")


def build_tokenizer(kind: str, texts: Iterable[str] = (), vocab_size: int = 256) -> Tokenizer:
    """`kind`: char | bpe | unigram. BPE/unigram train SentencePiece on `texts`."""
    if kind == "char":
        return CharTokenizer()
    if kind in ("bpe", "unigram"):
        return SentencePieceTokenizer.train(texts, vocab_size=vocab_size, model_type=kind)
    raise ValueError(f"tokenizer.kind={kind!r} is not one of: char, bpe, unigram")
