import math

import pytest

from asr.lm import (BOS, EOS, UNK, LMError, NGramLM, arpa_vocab, best_mix, build_lm, logprob10, mix_models, read_arpa,
                    read_wordlist, train_kneser_ney, write_arpa, write_lexicon)

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


# --- mixtures -------------------------------------------------------------------------------------------------
OTHER = ["dogs run fast", "the dog runs fast", "cats run slowly", "a rat runs home", "dogs and cats run"]
CONTEXTS = [(BOS,), (BOS, "the"), ("the", "cat"), ("dog", "runs"), ("zebra",), (), ("sat", "on", "the"), ("cats", "run")]


@pytest.mark.parametrize("weights", [(0.5, 0.5), (0.2, 0.8), (0.9, 0.1)], ids=lambda w: f"w{w[0]}")
@pytest.mark.parametrize("order", [1, 2, 3, 4], ids=lambda n: f"{n}gram")
def test_mixture_is_a_distribution_and_exact_on_listed_ngrams(order, weights):
    a, b = train_kneser_ney(TEXTS, order, vocab=["zebra"]), train_kneser_ney(OTHER, order)
    mixed = mix_models([a, b], list(weights))
    lm = NGramLM(mixed)
    vocab = sorted(lm.vocab - {BOS})
    assert set(vocab) == ({w for (w,) in a[0]} | {w for (w,) in b[0]}) - {BOS}  # the union of the vocabularies
    for ctx in CONTEXTS:
        total = sum(math.exp(lm.score(ctx, w)[1]) for w in vocab)
        assert total == pytest.approx(1.0, abs=1e-6), ctx
    for n, grams in enumerate(mixed):  # every listed n-gram holds the true mixture of the two models' p(w | h)
        for ng, (lp, _) in grams.items():
            if ng != (BOS,):
                true = sum(w * 10.0 ** logprob10(m, ng, unk=False) for w, m in zip(weights, (a, b)))
                assert 10.0 ** lp == pytest.approx(true, rel=1e-9), ng
    assert set(mixed[-1]) == set(a[-1]) | set(b[-1])


def test_mixture_of_one_model_is_that_model(tmp_path):
    a, b = train_kneser_ney(TEXTS, 3), train_kneser_ney(OTHER, 3)
    alone = mix_models([a, b], [1.0, 0.0])
    assert [set(m) for m in alone] == [set(m) for m in a]
    for n in range(3):
        for ng, (lp, bow) in a[n].items():
            assert alone[n][ng][0] == pytest.approx(lp, abs=1e-9) and alone[n][ng][1] == pytest.approx(bow, abs=1e-9)
    # and it writes and reads back as ARPA
    assert read_arpa(write_arpa(alone, tmp_path / "mix.arpa"))[2].keys() == a[2].keys()


def test_best_mix_weights_follow_the_held_out_text():
    a, b = train_kneser_ney(TEXTS, 3), train_kneser_ney(OTHER, 3)
    like_b = ["the dogs run fast", "cats run home", "a dog runs slowly"]
    weights, fit = best_mix([a, b], like_b)
    assert sum(weights) == pytest.approx(1.0) and weights[1] > 0.8
    assert best_mix([a, b], ["the cat sat on the log", "a rat sat on the mat"])[0][0] > 0.8
    # the fitted mixture beats other weights on its held-out text
    lm = NGramLM(mix_models([a, b], weights))
    tokens = sum(len(s.split()) + 1 for s in like_b)
    assert fit["tokens"] == tokens
    for other in (0.5, 0.7, 0.95):
        worse = NGramLM(mix_models([a, b], [1 - other, other]))
        assert sum(map(lm.sentence_logprob, like_b)) >= sum(map(worse.sentence_logprob, like_b)) - 1e-6


def test_bad_mixtures_raise():
    a, b = train_kneser_ney(TEXTS, 3), train_kneser_ney(OTHER, 2)
    with pytest.raises(LMError, match="different orders"):
        mix_models([a, b], [0.5, 0.5])
    with pytest.raises(LMError, match="sum to 1"):
        mix_models([a, a], [0.5, 0.6])
    with pytest.raises(LMError, match="2 LMs and 1 mixture weights"):
        mix_models([a, a], [1.0])
    with pytest.raises(LMError, match="no held-out sentences"):
        best_mix([a], [])
