import io
import random

import pytest
import torch

from asr.tokenizer import BLANK, CharTokenizer, SentencePieceTokenizer, build_tokenizer, tokenizer_from_dict

WORDS = ("the a small dog cat ran over under quick brown lazy fox jumps it's hello world speech "
         "recognition model trains on every sentence we write here today tomorrow").split()


def sentences(n: int, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    return [" ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 9))) for _ in range(n)]


@pytest.fixture(scope="module", params=["bpe", "unigram"])
def sp_tokenizer(request) -> SentencePieceTokenizer:
    return build_tokenizer(request.param, sentences(300), vocab_size=45)


def test_blank_is_zero():
    assert BLANK == 0
    assert CharTokenizer().token(0) == "<blank>"


@pytest.mark.parametrize("text", ["hello world", "it's a dog", "", "  spaced  out "], ids=["plain", "apostrophe", "empty", "spaces"])
def test_char_round_trip(text):
    tok = CharTokenizer()
    ids = tok.encode(text)
    assert tok.decode(ids) == text
    assert all(1 <= i < tok.vocab_size for i in ids)  # 0 is the blank, never a token


def test_char_vocab_and_unknowns():
    tok = CharTokenizer()
    assert tok.vocab_size == 1 + 28  # blank + space, apostrophe, a-z
    assert tok.unknown_chars("Hello, World 2") == {"H", ",", "W", "2"}
    assert tok.decode(tok.encode("Hello, World")) == "ello orld"  # unknown characters are dropped
    assert tok.decode([0, 8, 0, 999, -3, 5]) == "fc"  # blank and out-of-range ids are skipped
    assert tok.decode(torch.tensor(tok.encode("abc"))) == "abc"
    assert [tok.token(i) for i in tok.encode("a b")] == ["a", " ", "b"]


def test_char_custom_alphabet_and_repeats():
    tok = CharTokenizer("abc")
    assert tok.encode("cab") == [3, 1, 2]
    with pytest.raises(ValueError, match="repeated"):
        CharTokenizer("abca")


@pytest.mark.parametrize("tok", [CharTokenizer(), CharTokenizer("xyz '")], ids=["default", "custom"])
def test_char_dict_round_trip(tok):
    again = tokenizer_from_dict(tok.to_dict())
    assert isinstance(again, CharTokenizer) and again.chars == tok.chars
    assert again.encode("xyz 'a") == tok.encode("xyz 'a")


def test_sentencepiece_round_trip(sp_tokenizer):
    for text in sentences(50, seed=1):
        ids = sp_tokenizer.encode(text)
        assert ids and all(1 <= i < sp_tokenizer.vocab_size for i in ids)
        assert sp_tokenizer.decode(ids) == text
        assert sp_tokenizer.decode(torch.tensor(ids)) == text
    assert sp_tokenizer.vocab_size == 46  # 45 pieces + blank
    assert sp_tokenizer.token(0) == "<blank>"
    assert sp_tokenizer.decode([0] + sp_tokenizer.encode("the dog") + [0]) == "the dog"


def test_sentencepiece_unknown_chars_are_dropped(sp_tokenizer):
    assert sp_tokenizer.unknown_chars("the dog 7é") == {"7", "é"}
    assert sp_tokenizer.decode(sp_tokenizer.encode("the 7 dog")).split() == ["the", "dog"]


def test_sentencepiece_dict_round_trip_through_torch_save(sp_tokenizer):
    buf = io.BytesIO()
    torch.save({"tokenizer": sp_tokenizer.to_dict()}, buf)
    buf.seek(0)
    again = tokenizer_from_dict(torch.load(buf, weights_only=True)["tokenizer"])
    assert isinstance(again, SentencePieceTokenizer)
    text = "the quick brown fox trains today"
    assert again.encode(text) == sp_tokenizer.encode(text)
    assert again.vocab_size == sp_tokenizer.vocab_size


def test_sentencepiece_is_deterministic():
    a = build_tokenizer("bpe", sentences(200), vocab_size=50)
    b = build_tokenizer("bpe", sentences(200), vocab_size=50)
    assert a.model_proto == b.model_proto


@pytest.mark.parametrize("kind,texts,vocab_size,match", [
    ("wordpiece", ["a b"], 50, "tokenizer.kind='wordpiece'"),
    ("bpe", [], 50, "no training text"),
    ("bpe", ["the cat sat"] * 20, 5000, "tokenizer.vocab_size=5000"),
], ids=["unknown-kind", "no-text", "vocab-too-large"])
def test_build_tokenizer_errors(kind, texts, vocab_size, match):
    with pytest.raises(ValueError, match=match):
        build_tokenizer(kind, texts, vocab_size=vocab_size)


def test_from_dict_unknown_kind():
    with pytest.raises(ValueError, match="unknown tokenizer kind 'wordpiece'"):
        tokenizer_from_dict({"kind": "wordpiece"})
