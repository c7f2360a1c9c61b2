import math

import pytest

from asr.lm import (BOS, EOS, UNK, LMError, NGramLM, arpa_vocab, build_lm, read_arpa, read_wordlist, train_kneser_ney,
                    write_arpa, write_lexicon)

TEXTS = [
    "the cat sat on the mat",
    "the dog sat on the log",
    "a cat sat on a dog",
    "the cat ate the rat",
    "a dog ate a cat",
    "the rat sat on the cat",
]


@pytest.fixture(scope="module")
def trigram(tmp_path_factory):
    return NGramLM.from_arpa(build_lm(TEXTS, tmp_path_factory.mktemp("lm"), order=3))


@pytest.mark.parametrize("order", [1, 2, 3, 4], ids=lambda n: f"{n}gram")
def test_distributions_sum_to_one(tmp_path, order):
    lm = NGramLM.from_arpa(build_lm(TEXTS, tmp_path, order=order))
    vocab = sorted(lm.vocab - {BOS})  # every word that can follow, </s> and <unk> included
    for ctx in [(BOS,), (BOS, "the"), ("the", "cat"), ("sat", "on", "a"), ("mat", "rat"), ("zebra",), ()]:
        total = sum(math.exp(lm.score(ctx, w)[1]) for w in vocab)
        assert total == pytest.approx(1.0, abs=1e-4), ctx


def test_arpa_file_layout_and_roundtrip(tmp_path):
    path = build_lm(TEXTS, tmp_path, order=3)
    assert path == tmp_path / "3gram.arpa"
    text = path.read_text()
    assert text.startswith("\\data\\\nngram 1=") and text.rstrip().endswith("\\end\\")
    model = read_arpa(path)
    assert [len(m) for m in model] == [int(line.split("=")[1]) for line in text.splitlines() if line.startswith("ngram ")]
    assert model[0][(BOS,)][0] == -99.0
    assert (UNK,) in model[0] and (EOS,) in model[0]
    assert ("the", "cat", "sat") in model[2]
    # each n-gram's prefix and suffix is listed one order down, as ARPA readers expect
    for n in (1, 2):
        for ng in model[n]:
            assert ng[:-1] in model[n - 1] and ng[1:] in model[n - 1]
    again = write_arpa(model, tmp_path / "copy.arpa")
    assert read_arpa(again) == model


def test_backoff_and_states(trigram):
    # seen trigram scores better than the same word in an unseen context
    assert trigram.score(("the", "cat"), "sat")[1] > trigram.score(("on", "a"), "sat")[1]
    # the state after "sat on" continues as a trigram context
    state, _ = trigram.score((BOS, "sat"), "on")
    assert state == ("sat", "on")
    # unknown words score as <unk> and reset the state
    assert trigram.score(("the",), "zebra") == trigram.score(("the",), UNK)
    assert trigram.score(("the",), "zebra")[0] == ()


def test_training_sentences_beat_shuffled_ones(trigram):
    for s in TEXTS:
        shuffled = " ".join(reversed(s.split()))
        assert trigram.sentence_logprob(s) > trigram.sentence_logprob(shuffled)


def test_lexicon_spells_words(tmp_path):
    path = write_lexicon(["cat", "the", "cat", "x1"], lambda w: [c for c in w if c.isalpha()], tmp_path / "lex.txt")
    assert path.read_text().splitlines() == ["cat c a t", "the t h e", "x1 x"]


def test_bad_inputs(tmp_path):
    with pytest.raises(LMError, match="no text"):
        train_kneser_ney([], 3)
    with pytest.raises(LMError, match="order=0"):
        train_kneser_ney(TEXTS, 0)
    with pytest.raises(LMError, match="does not exist"):
        read_arpa(tmp_path / "missing.arpa")
    bad = tmp_path / "bad.arpa"
    bad.write_text("\\data\\\nngram 1=2\n\n\\1-grams:\n-1.0\ta\n\\end\\\n")
    with pytest.raises(LMError, match="bad.arpa"):
        read_arpa(bad)


def test_open_vocabulary_words_get_the_uniform_share(tmp_path):
    lm = NGramLM.from_arpa(build_lm(TEXTS, tmp_path, order=3, vocab=["zebra", "quokka", "cat"]))
    assert {"zebra", "quokka"} <= lm.vocab
    vocab = sorted(lm.vocab - {BOS})
    for ctx in [(BOS,), ("the", "cat"), ("zebra",)]:
        assert sum(math.exp(lm.score(ctx, w)[1]) for w in vocab) == pytest.approx(1.0, abs=1e-4), ctx
    # an unseen word scores like <unk> (not -inf), and far below a seen one
    assert lm.score(("the",), "zebra")[1] == pytest.approx(lm.score(("the",), UNK)[1])
    assert lm.score(("the",), "zebra")[1] < lm.score(("the",), "rat")[1] - 1
    assert sorted(arpa_vocab(tmp_path / "3gram.arpa")) == sorted(lm.vocab - {BOS, EOS, UNK})


def test_flashlight_kenlm_reads_our_arpa_and_agrees(tmp_path):
    """The decoders hand the ARPA file to KenLM (log10); it must score as NGramLM does (ln)."""
    kenlm_module = pytest.importorskip("flashlight.lib.text.decoder.kenlm")
    from flashlight.lib.text.dictionary import Dictionary

    path = build_lm(TEXTS, tmp_path, order=3, vocab=["zebra"])
    words = sorted(NGramLM.from_arpa(path).vocab - {BOS})
    (tmp_path / "words.txt").write_text("\n".join(words) + "\n")
    d = Dictionary(str(tmp_path / "words.txt"))
    kenlm, ours = kenlm_module.KenLM(str(path), d), NGramLM.from_arpa(path)
    state, ctx = kenlm.start(False), (BOS,)
    for w in "the cat sat on a zebra mat".split():
        state, lp = kenlm.score(state, d.get_index(w))
        ctx, expected = ours.score(ctx, w)
        assert lp * math.log(10) == pytest.approx(expected, abs=1e-4), w
    assert kenlm.finish(state)[1] * math.log(10) == pytest.approx(ours.score(ctx, EOS)[1], abs=1e-4)


def test_wordlist_is_lower_cased_filtered_and_deduplicated(tmp_path):
    path = tmp_path / "words"
    path.write_text("Zebra\nzebra\ncat's\nAAA\ncafé\n\nx-ray\nNew York\n")
    assert read_wordlist(path, lambda w: set(w) <= set("abcdefghijklmnopqrstuvwxyz'")) == ["aaa", "cat's", "zebra"]
    with pytest.raises(LMError, match=r"decode.lm.wordlist=.*missing.*wamerican"):
        read_wordlist(tmp_path / "missing", lambda w: True)
    with pytest.raises(LMError, match="no word"):
        read_wordlist(path, lambda w: False)
