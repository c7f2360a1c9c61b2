import json
import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from asr.decode import (DecodeError, LexiconLMDecoder, TokenLMDecoder, best_point, greedy_decode, grid_points,
                        prefix_beam_search, spell, token_names)
from asr.lm import build_lm, read_arpa
from asr.tokenizer import CharTokenizer

TOK = CharTokenizer()


def peaky(ids: list[int], vocab: int, frames_per_token: int = 2, floor: float = -8.0) -> torch.Tensor:
    """Easy posteriors [T, V]: each token for a few frames, a blank between tokens."""
    seq = []
    for i in ids:
        seq += [i] * frames_per_token + [0]
    lp = torch.full((len(seq) + 1, vocab), floor)
    lp[torch.arange(len(seq)), torch.tensor(seq)] = 0.0
    lp[-1, 0] = 0.0
    return lp.log_softmax(-1)


def test_greedy_merges_repeats_and_drops_blanks():
    path = torch.tensor([0, 3, 3, 0, 3, 2, 2, 0, 0, 1])
    lp = F.one_hot(path, 5).float().log_softmax(-1)  # [T, V]
    assert greedy_decode(lp) == [[3, 3, 2, 1]]
    batch = torch.stack([lp, lp.flip(0)])  # [2, T, V]
    assert greedy_decode(batch, torch.tensor([10, 4])) == [[3, 3, 2, 1], [1, 2]]
    assert greedy_decode(batch, [0, 10]) == [[], [1, 2, 3, 3]]


@pytest.mark.parametrize("seed", range(5), ids=lambda s: f"seed{s}")
def test_greedy_and_beam_agree_on_easy_posteriors(seed):
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(1, 6, (12,), generator=g).tolist()
    ids[3] = ids[4]  # a repeated token must survive (blank between)
    lp = peaky(ids, 6) + 0.5 * torch.randn(3 * len(ids) + 1, 6, generator=g)
    lp = lp.log_softmax(-1)
    best_ids, score = prefix_beam_search(lp, beam_size=8)[0]
    assert greedy_decode(lp)[0] == ids
    assert best_ids == ids
    assert score <= 0


def test_beam_scores_are_ctc_probabilities():
    """With a beam that keeps every prefix, each score is the total CTC probability of its labels."""
    torch.manual_seed(0)
    lp = torch.randn(6, 3).log_softmax(-1)  # [T, V]
    nbest = prefix_beam_search(lp, beam_size=1000, nbest=20, token_threshold=float("inf"))
    assert len(nbest) == 20 and nbest == sorted(nbest, key=lambda h: -h[1])
    for ids, score in nbest:
        if not ids:
            expected = lp[:, 0].sum()
        else:
            expected = -F.ctc_loss(lp.unsqueeze(1), torch.tensor([ids]), torch.tensor([6]), torch.tensor([len(ids)]),
                                   reduction="sum")
        assert score == pytest.approx(float(expected), abs=1e-5), ids


def test_beam_beats_greedy_where_best_path_is_not_best_labelling():
    # two frames, blank 0.6 / "a" 0.4 each: best path is blank-blank (p 0.36) but "a" has p 0.64
    lp = torch.tensor([[0.6, 0.4], [0.6, 0.4]]).log()
    assert greedy_decode(lp) == [[]]
    (ids, score), (ids2, score2) = prefix_beam_search(lp, beam_size=4, nbest=2)
    assert ids == [1] and score == pytest.approx(torch.tensor(0.64).log().item())
    assert ids2 == [] and score2 == pytest.approx(torch.tensor(0.36).log().item())


def test_beam_rejects_bad_settings():
    with pytest.raises(DecodeError, match="beam_size=0"):
        prefix_beam_search(torch.zeros(3, 4), beam_size=0)


LM_TEXTS = ["the cat sat on the mat", "the dog sat on the log", "a cat ate the rat", "the cat sat on a dog"] * 3


def noisy(text: str, noise: float, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    lp = peaky(TOK.encode(text), TOK.vocab_size)
    return (lp + noise * torch.randn(lp.shape, generator=g)).log_softmax(-1)


@pytest.fixture(scope="module")
def arpa(tmp_path_factory):
    return build_lm(LM_TEXTS, tmp_path_factory.mktemp("lm"), order=3)


def test_token_names_map_space_to_word_boundary():
    names, sil = token_names(TOK)
    assert names[0] == "<blank>" and names[TOK.encode(" ")[0]] == "|" and sil == "|"
    assert spell(TOK, "don't") == ["d", "o", "n", "'", "t"]


@pytest.mark.parametrize("kind", ["char", "bpe"])
def test_lexicon_lm_decoder_recovers_noisy_sentence(arpa, kind):
    from asr.tokenizer import build_tokenizer

    tok = build_tokenizer(kind, LM_TEXTS * 5, vocab_size=30)
    g = torch.Generator().manual_seed(0)
    lp = peaky(tok.encode("the cat sat on the mat"), tok.vocab_size)
    lp = (lp + 2.5 * torch.randn(lp.shape, generator=g)).log_softmax(-1)
    assert " ".join(tok.decode(greedy_decode(lp)[0]).split()) != "the cat sat on the mat"  # noise hurts greedy
    dec = LexiconLMDecoder(tok, arpa, nbest=3, beam_size=50, lm_weight=1.0)
    nbest = dec(lp.unsqueeze(0), torch.tensor([lp.shape[0]]))[0]
    assert nbest[0].text == "the cat sat on the mat"
    assert nbest[0].ids == tok.encode("the cat sat on the mat")
    assert all(w in {"the", "cat", "sat", "on", "mat", "dog", "log", "a", "ate", "rat"}
               for h in nbest for w in h.text.split())


def test_lm_weight_decides_between_acoustically_equal_words(arpa):
    # "c" and "r" equally likely at the start of the second word: "the cat sat" is in the LM text,
    # "the rat sat" is not; without the LM, the lexicon alone leaves a tie
    lp = peaky(TOK.encode("the cat sat"), TOK.vocab_size)
    c, r = TOK.encode("c")[0], TOK.encode("r")[0]
    frames = (lp[:, c] > -1).nonzero().flatten()
    lp[frames, r] = lp[frames, c]
    lp = lp.log_softmax(-1)
    with_lm = LexiconLMDecoder(TOK, arpa, lm_weight=2.0)(lp.unsqueeze(0), torch.tensor([lp.shape[0]]))
    assert with_lm[0][0].text == "the cat sat"
    # the same frames with "r" slightly ahead: a strong LM still says "cat", a weak one follows the sound
    lp[frames, r] += 0.5
    lp = lp.log_softmax(-1)
    strong = LexiconLMDecoder(TOK, arpa, lm_weight=3.0)(lp.unsqueeze(0), torch.tensor([lp.shape[0]]))
    weak = LexiconLMDecoder(TOK, arpa, lm_weight=0.01)(lp.unsqueeze(0), torch.tensor([lp.shape[0]]))
    assert strong[0][0].text == "the cat sat"
    assert weak[0][0].text == "the rat sat"


def test_lexicon_decoder_without_lm(arpa):
    lp = noisy("a cat ate the rat", noise=1.0, seed=3)
    dec = LexiconLMDecoder(TOK, None, lexicon_words=["a", "cat", "ate", "the", "rat", "mat"])
    assert dec(lp.unsqueeze(0), torch.tensor([lp.shape[0]]))[0][0].text == "a cat ate the rat"


def _decode1(decoder, lp):
    return decoder(lp.unsqueeze(0), torch.tensor([lp.shape[0]]))[0][0].text


def test_open_vocabulary_outputs_a_word_only_the_word_list_has(tmp_path):
    """'zebra' is in no LM sentence: with the word list in the LM vocabulary it can be decoded."""
    lp = noisy("the zebra sat on the mat", noise=1.0, seed=1)
    closed = build_lm(LM_TEXTS, tmp_path / "closed")
    opened = build_lm(LM_TEXTS, tmp_path / "open", vocab=["zebra", "quokka", "cat"])
    assert "zebra" not in _decode1(LexiconLMDecoder(TOK, closed, lm_weight=0.5), lp).split()
    assert _decode1(LexiconLMDecoder(TOK, opened, lm_weight=0.5, word_score=1.0), lp) == "the zebra sat on the mat"


def token_lm(tmp_path, texts=LM_TEXTS, order=4):
    names, _ = token_names(TOK)
    sentences = [" ".join(names[i] for i in TOK.encode(t)) for t in texts]
    return build_lm(sentences, tmp_path, order=order, vocab=names[1:], name=f"token-{order}")


def test_lexicon_free_decoder_spells_words_no_text_has(tmp_path):
    arpa = token_lm(tmp_path)
    assert ("h", "e", "|", "c") in read_arpa(arpa)[3]  # n-grams over characters, "|" = space
    lp = noisy("the quokka sat", noise=0.5, seed=2)
    assert _decode1(TokenLMDecoder(TOK, arpa, beam_size=50, lm_weight=0.3), lp) == "the quokka sat"


@pytest.mark.parametrize("text", ["a", "the cat sat", "a zebra ate"])
def test_lexicon_free_scores_are_the_token_lms_sentence_log_probs(tmp_path, text):
    """On unambiguous emissions the score is lm_weight x ln p_LM(the spelled sentence): every token,
    "|" included, is scored as itself (flashlight sorts a word dictionary it builds itself)."""
    from asr.lm import NGramLM

    arpa = token_lm(tmp_path, order=3)
    lp = peaky(TOK.encode(text), TOK.vocab_size, floor=-30.0)  # acoustic log prob of the path ~ 0
    [h] = TokenLMDecoder(TOK, arpa, lm_weight=0.7)(lp.unsqueeze(0), torch.tensor([lp.shape[0]]))[0]
    spelled = " ".join(token_names(TOK)[0][i] for i in TOK.encode(text))
    assert h.text == text
    assert h.score == pytest.approx(0.7 * NGramLM.from_arpa(arpa).sentence_logprob(spelled), abs=1e-3)


def test_lexicon_free_lm_decides_between_acoustically_equal_letters(tmp_path):
    arpa = token_lm(tmp_path, order=6)  # "c a t | s" is in the text, "r a t | s" is not
    lp = peaky(TOK.encode("the cat sat"), TOK.vocab_size)
    c, r = TOK.encode("c")[0], TOK.encode("r")[0]
    frames = (lp[:, c] > -1).nonzero().flatten()
    lp[frames, r] = lp[frames, c] + 0.3  # "r" sounds a little more likely
    lp = lp.log_softmax(-1)
    assert _decode1(TokenLMDecoder(TOK, arpa, lm_weight=0.01), lp) == "the rat sat"
    assert _decode1(TokenLMDecoder(TOK, arpa, lm_weight=1.0), lp) == "the cat sat"
    nbest = TokenLMDecoder(TOK, arpa, nbest=3, lm_weight=1.0)(lp.unsqueeze(0), torch.tensor([lp.shape[0]]))[0]
    assert nbest[0].ids == TOK.encode("the cat sat") and nbest[0].score >= nbest[-1].score


@pytest.mark.parametrize("kind", ["char", "bpe"])
def test_token_lm_recipe_path_for_both_tokenizers(tmp_path, kind):
    from omegaconf import OmegaConf

    from asr.decode import build_decoder, prepare_lm
    from asr.tokenizer import build_tokenizer

    tok = build_tokenizer(kind, LM_TEXTS * 5, vocab_size=30)
    text = tmp_path / "text.txt"
    text.write_text("\n".join(LM_TEXTS) + "\n")
    dc = OmegaConf.create({"decoder": "lm", "nbest": 1, "beam_size": 50, "beam_size_token": None, "lm": {
        "unit": "token", "text": str(text), "dir": str(tmp_path / "lm"), "order": 5, "rebuild": False,
        "lm_weight": 0.5, "sil_score": 0.0, "word_score": 0.0, "beam_threshold": 100.0}})
    arpa = prepare_lm(OmegaConf.create({"decode": dc}), tok)
    assert arpa.name == "token-5gram.arpa"
    lp = peaky(tok.encode("the dog sat on the mat"), tok.vocab_size)
    assert _decode1(build_decoder(dc, tok, arpa), lp.log_softmax(-1)) == "the dog sat on the mat"


def test_tuning_grid_points_and_best():
    assert grid_points({"lm_weight": [0.1, 0.5], "word_score": [-1, 0]}) == [
        {"lm_weight": 0.1, "word_score": -1}, {"lm_weight": 0.1, "word_score": 0},
        {"lm_weight": 0.5, "word_score": -1}, {"lm_weight": 0.5, "word_score": 0}]
    rows = [{"lm_weight": 0.1, "wer": 0.3, "cer": 0.1}, {"lm_weight": 0.5, "wer": 0.2, "cer": 0.2},
            {"lm_weight": 0.9, "wer": 0.2, "cer": 0.1}, {"lm_weight": 1.2, "wer": 0.2, "cer": 0.1}]
    assert best_point(rows)["lm_weight"] == 0.9  # lowest WER, then CER, then the first
    with pytest.raises(DecodeError, match="decode.lm.tune.grid.beam_size"):
        grid_points({"beam_size": [10]})
    with pytest.raises(DecodeError, match="grid is empty"):
        best_point([])


def test_tuning_picks_the_weight_that_decodes_dev_best(arpa):
    from omegaconf import OmegaConf

    from asr.decode import tune_lm

    lp = peaky(TOK.encode("the cat sat"), TOK.vocab_size)
    c, r = TOK.encode("c")[0], TOK.encode("r")[0]
    frames = (lp[:, c] > -1).nonzero().flatten()
    lp[frames, r] = lp[frames, c] + 0.5
    lp = lp.log_softmax(-1)
    cfg = OmegaConf.create({"decode": {"decoder": "lm", "nbest": 1, "beam_size": 50, "beam_size_token": None, "lm": {
        "unit": "word", "lm_weight": 0.5, "word_score": 0.0, "sil_score": 0.0, "beam_threshold": 100.0,
        "tune": {"split": "dev", "grid": {"lm_weight": [0.01, 3.0], "word_score": [0.0]}}}}})
    result = tune_lm(cfg, TOK, arpa, [lp, lp], ["the cat sat", "the cat sat"])
    assert [row["wer"] for row in result["grid"]] == [pytest.approx(1 / 3), 0.0]
    assert result["best"]["lm_weight"] == 3.0 and result["greedy"]["wer"] == pytest.approx(1 / 3)


def test_grid_edges():
    from asr.decode import grid_edges

    grid = {"lm_weight": [0.5, 1.0, 2.0], "word_score": [1.0, -1.0, 0.0], "sil_score": [0.0]}
    assert grid_edges(grid, {"lm_weight": 1.0, "word_score": 0.0, "sil_score": 0.0}) == []  # one value: no edge
    assert grid_edges(grid, {"lm_weight": 2.0, "word_score": 1.0, "sil_score": 0.0}) == ["lm_weight", "word_score"]
    assert grid_edges(grid, {"lm_weight": 0.5, "word_score": -1.0, "sil_score": 0.0}) == ["lm_weight", "word_score"]


@pytest.mark.parametrize("weights,edge", [([0.01, 3.0], True), ([0.01, 3.0, 6.0], False)], ids=["edge", "inside"])
def test_tuning_warns_when_the_best_point_is_on_the_grid_edge(arpa, capsys, weights, edge):
    from omegaconf import OmegaConf

    from asr.decode import tune_lm

    lp = peaky(TOK.encode("the cat sat"), TOK.vocab_size)
    c, r = TOK.encode("c")[0], TOK.encode("r")[0]
    frames = (lp[:, c] > -1).nonzero().flatten()
    lp[frames, r] = lp[frames, c] + 0.5
    lp = lp.log_softmax(-1)
    cfg = OmegaConf.create({"decode": {"decoder": "lm", "nbest": 1, "beam_size": 50, "beam_size_token": None, "lm": {
        "unit": "word", "lm_weight": 0.5, "word_score": 0.0, "sil_score": 0.0, "beam_threshold": 100.0,
        "tune": {"split": "dev", "grid": {"lm_weight": weights, "word_score": [0.0]}}}}})
    result = tune_lm(cfg, TOK, arpa, [lp], ["the cat sat"])
    assert result["best"]["lm_weight"] == 3.0  # 3.0 and 6.0 tie: the first
    warned = "warning: the best lm_weight=3.0 is at the edge of decode.lm.tune.grid.lm_weight (0.01 .. 3.0)"
    assert (warned in capsys.readouterr().out) == edge


def test_read_tuned_only_for_the_same_checkpoint_and_lm(tmp_path):
    import hashlib

    from asr.decode import read_tuned

    ckpt, arpa = tmp_path / "best.pt", tmp_path / "3gram.arpa"
    ckpt.write_bytes(b"weights")
    arpa.write_text("lm")
    source = {"unit": "word", "order": 3, "sentences": 2, "sha1": "x"}
    (tmp_path / "3gram.arpa.source.json").write_text(json.dumps(source))
    cache = tmp_path / "tune.json"
    cache.write_text(json.dumps({"key": {"checkpoint": hashlib.sha1(b"weights").hexdigest(), "lm": source,
                                         "split": "dev"},
                                 "best": {"lm_weight": 1.5, "word_score": 1.0, "wer": 0.1, "cer": 0.05, "seconds": 2}}))
    assert read_tuned(cache, ckpt, arpa) == {"weights": {"lm_weight": 1.5, "word_score": 1.0}, "split": "dev",
                                             "wer": 0.1}
    assert read_tuned(tmp_path / "absent.json", ckpt, arpa) is None
    (tmp_path / "3gram.arpa.source.json").write_text(json.dumps({**source, "sentences": 3}))  # another LM
    assert read_tuned(cache, ckpt, arpa) is None
    (tmp_path / "3gram.arpa.source.json").write_text(json.dumps(source))
    ckpt.write_bytes(b"other weights")
    assert read_tuned(cache, ckpt, arpa) is None
    cache.write_text("{torn")
    assert read_tuned(cache, ckpt, arpa) is None


@pytest.mark.parametrize("module", ["flashlight.lib.text.decoder", "flashlight.lib.text.decoder.kenlm"])
def test_missing_flashlight_is_a_clear_error(monkeypatch, arpa, module):
    monkeypatch.setitem(sys.modules, module, None)  # as if flashlight-text (or its KenLM) were not installed
    with pytest.raises(DecodeError, match=r"flashlight-text.*\[lm\]"):
        LexiconLMDecoder(TOK, arpa)
    with pytest.raises(DecodeError, match=r"flashlight-text.*\[lm\]"):
        TokenLMDecoder(TOK, arpa)


# --- the decoding recipe ---------------------------------------------------------------------
ROOT = Path(__file__).resolve().parents[1]


def tiny_checkpoint(path: Path, input_dim: int = 20, seed: int = 0) -> Path:
    """A random tiny CTCModel saved in the checkpoint format (ARCHITECTURE.md)."""
    from asr.checkpoint import save_checkpoint
    from asr.model import CTCModel

    torch.manual_seed(seed)
    model = CTCModel(input_dim, TOK.vocab_size, hidden_size=16, num_layers=1, subsampling=2, dropout=0.0,
                     backend="torch")
    features = {"kind": "fbank", "num_mel_bins": input_dim, "frame_length_ms": 25.0, "frame_shift_ms": 10.0,
                "dither": 0.0, "sample_rate": 16000}
    return save_checkpoint({"model_cfg": model.config, "model": model.state_dict(), "tokenizer": TOK.to_dict(),
                            "features": features, "cmvn": {"mean": torch.full((input_dim,), 5.0),
                                                           "std": torch.ones(input_dim)}}, path)


def decode_cfg(store, ckpt, exp_dir, *overrides):
    from hydra import compose, initialize_config_dir

    with initialize_config_dir(str(ROOT / "conf"), version_base="1.3"):
        return compose("decode", [f"features.dir={store}", f"checkpoint={ckpt}", f"exp_dir={exp_dir}",
                                  "decode.splits=[dev]", *overrides])


def read_table(path: Path) -> dict[str, str]:
    return dict((line.split(" ", 1) + [""])[:2] for line in path.read_text().splitlines())


@pytest.mark.parametrize("decoder", ["default", "beam", "lm", "lm_token"])
def test_decode_recipe_writes_hyps_refs_nbest_errs(synthetic_store, tmp_path, decoder, capsys):
    from asr.decode import decode
    from asr.features import load_split
    from asr.scoring import wer_cer

    ckpt = tiny_checkpoint(tmp_path / "model.pt")
    texts = tmp_path / "lm-text.txt"
    texts.write_text("\n".join(load_split(synthetic_store, "train")["texts"]) + "\n")
    wordlist = tmp_path / "words"
    wordlist.write_text("Zebra\nquokka\n")
    cfg = decode_cfg(synthetic_store, ckpt, tmp_path, f"decode={decoder}", f"decode.lm.text={texts}",
                     f"decode.lm.wordlist={wordlist}" if decoder == "lm" else "decode.lm.wordlist=null",
                     "++decode.lm.tune.grid.lm_weight=[0.2,0.6]", "decode.lm.corpus_text=false")
    summary = decode(cfg)

    out = tmp_path / "decode" / cfg.decode.name / "dev"
    dev = load_split(synthetic_store, "dev")
    hyps, refs = read_table(out / "hyp.txt"), read_table(out / "ref.txt")
    assert list(hyps) == list(refs) == dev["ids"]
    assert list(refs.values()) == dev["texts"]
    s = summary["splits"]["dev"]
    wer, cer = wer_cer(list(refs.values()), list(hyps.values()))
    assert (s["wer"], s["cer"]) == (pytest.approx(wer), pytest.approx(cer))
    assert s["utterances"] == 8 and s["rtf"] > 0 and s["words"] == sum(len(t.split()) for t in dev["texts"])
    errs = (out / "errs.txt").read_text()
    assert f"%WER {100 * wer:.2f}" in errs and errs.count("id: ") == 8
    assert list(s["speakers"]) == ["spk"] and s["speakers"]["spk"]["wer"] == pytest.approx(wer)  # one speaker
    assert (out / "speakers.txt").read_text().splitlines()[1].split()[:3] == ["spk", "8", str(s["words"])]
    nbest = [json.loads(line) for line in (out / "nbest.jsonl").read_text().splitlines()]
    assert [n["id"] for n in nbest] == dev["ids"]
    assert all(n["nbest"][0]["text"] == hyps[n["id"]] for n in nbest)
    assert all(len(n["nbest"]) <= cfg.decode.nbest for n in nbest)
    assert json.loads((tmp_path / "decode" / cfg.decode.name / "summary.json").read_text())["splits"]["dev"]["wer"] == s["wer"]
    printed = capsys.readouterr().out
    assert "WER %" in printed
    if decoder == "lm":
        lexicon = (tmp_path / "lm" / "lexicon.txt").read_text().split("\n")
        words = {line.split()[0] for line in lexicon if line}
        assert (tmp_path / "lm" / f"{cfg.decode.lm.order}gram.arpa").is_file() and {"zebra", "quokka"} <= words  # open vocabulary
        assert all(w in words for h in hyps.values() for w in h.split())
    if decoder.startswith("lm"):  # tuned on dev: 2 lm_weight x the word/sil scores, the best one used and cached
        tuned = json.loads((out.parent / "tune.json").read_text())
        assert len(tuned["grid"]) == len(grid_points(cfg.decode.lm.tune.grid)) >= 4
        assert tuned["best"] == summary["tuned"]["best"]
        assert cfg.decode.lm.lm_weight == tuned["best"]["lm_weight"]
        assert "LM weights tuned on dev" in printed
        mtime = (out.parent / "tune.json").stat().st_mtime_ns
        decode(decode_cfg(synthetic_store, ckpt, tmp_path, f"decode={decoder}", f"decode.lm.text={texts}",
                          f"decode.lm.wordlist={wordlist}" if decoder == "lm" else "decode.lm.wordlist=null",
                          "++decode.lm.tune.grid.lm_weight=[0.2,0.6]", "decode.lm.corpus_text=false"))
        assert (out.parent / "tune.json").stat().st_mtime_ns == mtime  # not tuned again


def test_lm_text_never_holds_dev_or_test_sentences(tmp_path):
    from omegaconf import OmegaConf

    from asr.decode import lm_training_text

    (tmp_path / "train.txt").write_text("the cat sat\nthe  dog sat\na test sentence\n")
    (tmp_path / "extra.txt").write_text("a dev sentence\nthe rat ran\n")
    (tmp_path / "dev.jsonl").write_text(json.dumps({"id": "d1", "audio": "x.wav", "duration": 1.0,
                                                    "text": "a dev sentence", "speaker": "s"}) + "\n")
    (tmp_path / "test.jsonl").write_text(json.dumps({"id": "t1", "audio": "x.wav", "duration": 1.0,
                                                     "text": "a test sentence", "speaker": "s"}) + "\n")
    cfg = OmegaConf.create({
        "features": {"manifests": {"dev": str(tmp_path / "dev.jsonl"), "test": str(tmp_path / "test.jsonl"),
                                   "test-natural": str(tmp_path / "absent.jsonl")}},
        "decode": {"lm": {"text": [str(tmp_path / "train.txt"), str(tmp_path / "extra.txt")],
                          "exclude": ["dev", "test", "test-natural"]}}})
    assert lm_training_text(cfg) == ["the cat sat", "the dog sat", "the rat ran"]
    # a split the features config lacks is found in the corpus folder
    cfg.features.manifests.pop("test")
    cfg.data = {"root": str(tmp_path)}
    assert lm_training_text(cfg) == ["the cat sat", "the dog sat", "the rat ran"]
    cfg.data = {"root": str(tmp_path / "elsewhere")}
    assert "a test sentence" in lm_training_text(cfg)


def test_lm_text_adds_the_corpus_text_minus_held_out_sentences(tmp_path):
    from omegaconf import OmegaConf

    from asr.corpus import sentence_pool
    from asr.decode import lm_training_text

    (tmp_path / "train.txt").write_text("the cat sat\n")
    cfg = OmegaConf.create({
        "data": {"seed": 0, "min_words": 4, "max_words": 14, "natural": {"sources": []}},
        "features": {"manifests": {"dev": str(tmp_path / "dev.jsonl")}},
        "decode": {"lm": {"text": str(tmp_path / "train.txt"), "exclude": ["dev"], "corpus_text": True,
                          "grammar_sentences": 30}}})
    grammar = sentence_pool(30, seed=1_000_003)
    (tmp_path / "dev.jsonl").write_text(json.dumps({"id": "d1", "audio": "x.wav", "duration": 1.0,
                                                    "text": grammar[7], "speaker": "s"}) + "\n")
    assert lm_training_text(cfg) == ["the cat sat"] + grammar[:7] + grammar[8:]


def test_lm_natural_text_false_keeps_the_grammar_and_drops_the_natural_sentences(tmp_path, monkeypatch):
    from omegaconf import OmegaConf

    import asr.decode
    from asr.decode import lm_sources

    (tmp_path / "train.txt").write_text("the cat sat\n")
    monkeypatch.setattr(asr.decode, "corpus_lm_text",
                        lambda cfg, natural=True: (["a natural sentence", "another one"] if natural else [],
                                                   ["the dog ran home"]))
    cfg = OmegaConf.create({"decode": {"lm": {"text": str(tmp_path / "train.txt"), "exclude": [],
                                              "corpus_text": True, "grammar_sentences": 1}}})
    assert lm_sources(cfg) == {"text": ["the cat sat"], "natural": ["a natural sentence", "another one"],
                               "grammar": ["the dog ran home"]}  # the default: natural_text true
    cfg.decode.lm.natural_text = False
    assert lm_sources(cfg) == {"text": ["the cat sat"], "grammar": ["the dog ran home"]}


def test_corpus_lm_text_passes_the_natural_sources_and_length(monkeypatch):
    from omegaconf import OmegaConf

    import asr.corpus.text
    from asr.decode import corpus_lm_text

    calls = []
    monkeypatch.setattr(asr.corpus.text, "lm_sentences",
                        lambda d, sources=None, max_words=None: calls.append((sources, max_words)) or ["a b"])
    cfg = OmegaConf.create({"data": {"seed": 0, "min_words": 4, "max_words": 14},
                            "decode": {"lm": {"grammar_sentences": 0}}})
    assert corpus_lm_text(cfg) == (["a b"], []) and calls == [(None, None)]  # keys absent: as recorded
    cfg.decode.lm.natural_sources, cfg.decode.lm.natural_max_words = ["wordnet", "glosses"], 40
    corpus_lm_text(cfg)
    assert calls[-1] == (["wordnet", "glosses"], 40)
    assert corpus_lm_text(cfg, natural=False) == ([], []) and len(calls) == 2


def test_lm_mixture_is_fitted_on_the_mix_split(tmp_path):
    from omegaconf import OmegaConf

    from asr.corpus import sentence_pool
    from asr.decode import lm_sources, prepare_lm
    from asr.lm import NGramLM

    grammar = sentence_pool(3000, seed=1_000_003)
    (tmp_path / "train.txt").write_text("the cat sat on the mat\nthe dog sat on the log\na rat ran home\n")
    dev = grammar[:5]  # grammar sentences: the grammar LM should take most of the weight
    (tmp_path / "dev.jsonl").write_text("".join(json.dumps({"id": f"d{i}", "audio": "x.wav", "duration": 1.0,
                                                            "text": t, "speaker": "s"}) + "\n" for i, t in enumerate(dev)))
    cfg = OmegaConf.create({
        "data": {"seed": 0, "min_words": 4, "max_words": 14, "natural": {"sources": []}},
        "features": {"manifests": {"dev": str(tmp_path / "dev.jsonl")}},
        "decode": {"lm": {"text": str(tmp_path / "train.txt"), "exclude": [], "corpus_text": True,
                          "grammar_sentences": 3000, "dir": str(tmp_path / "lm"), "order": 3, "rebuild": False,
                          "mix": "dev"}}})
    sources = lm_sources(cfg)
    assert list(sources) == ["text", "grammar"]  # no natural text configured: that source is dropped
    assert not set(dev) & set(sources["grammar"])  # the mix split's sentences are held out even if not excluded
    arpa = prepare_lm(cfg)
    report = json.loads((tmp_path / "lm" / "3gram.arpa.mix.json").read_text())
    assert list(report["weights"]) == ["text", "grammar"] and sum(report["weights"].values()) == pytest.approx(1.0)
    assert report["weights"]["grammar"] > 0.8 and report["sentences"] == {"text": 3, "grammar": 2995}
    lm = NGramLM.from_arpa(arpa)
    assert {"cat", "mat", "log"} <= lm.vocab and set(grammar[10].split()) <= lm.vocab  # words of both sources
    mtime = arpa.stat().st_mtime_ns
    assert prepare_lm(cfg) == arpa and arpa.stat().st_mtime_ns == mtime  # same text, same split: not rebuilt
    cfg.decode.lm.mix = None  # pooled counts: rebuilt, and the stale report goes
    prepare_lm(cfg)
    assert arpa.stat().st_mtime_ns != mtime and not (tmp_path / "lm" / "3gram.arpa.mix.json").exists()
    cfg.decode.lm.mix = "test"
    with pytest.raises(DecodeError, match="decode.lm.mix='test': no sentences"):
        prepare_lm(cfg)


def test_decode_recipe_errors_name_the_key(synthetic_store, tmp_path):
    from asr.checkpoint import CheckpointError
    from asr.decode import decode

    ckpt = tiny_checkpoint(tmp_path / "model.pt")
    with pytest.raises(DecodeError, match="decode.decoder='viterbi'"):
        decode(decode_cfg(synthetic_store, ckpt, tmp_path, "decode.decoder=viterbi"))
    with pytest.raises(CheckpointError, match="missing.pt"):
        decode(decode_cfg(synthetic_store, tmp_path / "missing.pt", tmp_path))
    with pytest.raises(DecodeError, match="device='tpu'"):
        decode(decode_cfg(synthetic_store, ckpt, tmp_path, "decode.device=tpu"))
    with pytest.raises(DecodeError, match="decode.max_frames=0"):
        decode(decode_cfg(synthetic_store, ckpt, tmp_path, "decode.max_frames=0"))
    with pytest.raises(DecodeError, match="decode.lm.text='/nonexistent.txt'"):
        decode(decode_cfg(synthetic_store, ckpt, tmp_path, "decode=lm", "decode.lm.text=/nonexistent.txt"))


def test_lm_is_rebuilt_only_when_its_text_changes(tmp_path):
    from omegaconf import OmegaConf

    from asr.decode import prepare_lm

    text = tmp_path / "text.txt"
    text.write_text("the cat sat\nthe dog sat\n")
    cfg = OmegaConf.create({"decode": {"lm": {"text": str(text), "dir": str(tmp_path / "lm"), "order": 2,
                                              "rebuild": False}}})
    arpa = prepare_lm(cfg)
    assert arpa == tmp_path / "lm" / "2gram.arpa"
    arpa.write_text(arpa.read_text() + "\n")  # a marker: a rebuild would drop it
    assert prepare_lm(cfg).read_text().endswith("\n\n")
    text.write_text("the cat sat\nthe cat ran\n")
    assert "ran" in prepare_lm(cfg).read_text()


def test_decode_recipe_prints_config():
    import subprocess

    out = subprocess.run([sys.executable, "recipes/decode.py", "--cfg", "job", "decode=lm", "decode.lm.order=4"],
                         cwd=ROOT, capture_output=True, text=True, check=True).stdout
    assert "decoder: lm" in out and "order: 4" in out and "checkpoint: ${exp_dir}/best.pt" in out


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_decode_recipe_on_cuda_matches_cpu(synthetic_store, tmp_path):
    from asr.decode import decode

    ckpt = tiny_checkpoint(tmp_path / "model.pt")
    cpu = decode(decode_cfg(synthetic_store, ckpt, tmp_path / "cpu"))["splits"]["dev"]
    gpu = decode(decode_cfg(synthetic_store, ckpt, tmp_path / "gpu", "decode.device=cuda"))["splits"]["dev"]
    assert gpu["cer"] == pytest.approx(cpu["cer"], abs=0.02)


def test_search_grid_widens_past_the_edge_until_the_best_is_inside():
    """A bowl with its minimum at lm_weight 1.6, word_score -2: outside the first grid on both keys."""
    from asr.decode import search_grid

    calls = []

    def bowl(p):
        calls.append(p)
        return {**p, "wer": (p["lm_weight"] - 1.6) ** 2 + 0.1 * (p["word_score"] + 2) ** 2, "cer": 0.0}

    rows, grid = search_grid({"lm_weight": [0.6, 0.8, 1.0], "word_score": [0.0, -1.0]}, bowl, extend=5)
    assert grid == {"lm_weight": [0.6, 0.8, 1.0, 1.2, 1.4, 1.6, 1.8], "word_score": [-3.0, -2.0, -1.0, 0.0]}
    best = min(rows, key=lambda r: r["wer"])
    assert (best["lm_weight"], best["word_score"]) == (1.6, -2.0)
    assert len(calls) == len({tuple(p.items()) for p in calls}) == len(rows)  # no point decoded twice
    rows0, grid0 = search_grid({"lm_weight": [0.6, 0.8, 1.0], "word_score": [0.0, -1.0]}, bowl, extend=0)
    assert grid0 == {"lm_weight": [0.6, 0.8, 1.0], "word_score": [0.0, -1.0]} and len(rows0) == 6
    capped, grid2 = search_grid({"lm_weight": [0.6, 0.8], "word_score": [0.0]}, bowl, extend=2)
    assert grid2["lm_weight"] == [0.6, 0.8, 1.0, 1.2] and len(capped) == 4  # at most `extend` widenings


def test_search_grid_keeps_lm_weight_non_negative():
    from asr.decode import search_grid

    rows, grid = search_grid({"lm_weight": [0.2, 0.7]}, lambda p: {**p, "wer": p["lm_weight"], "cer": 0.0}, extend=4)
    assert grid == {"lm_weight": [0.2, 0.7]} and [r["lm_weight"] for r in rows] == [0.2, 0.7]  # -0.3 is not tried


def test_tuning_in_two_processes_gives_the_rows_of_one(arpa, capsys):
    """decode.lm.tune.processes=2 decodes the grid points in a spawned pool: same rows, same order, same prints."""
    from omegaconf import OmegaConf

    from asr.decode import DecodeError, tune_lm

    lp = peaky(TOK.encode("the cat sat"), TOK.vocab_size)
    c, r = TOK.encode("c")[0], TOK.encode("r")[0]
    frames = (lp[:, c] > -1).nonzero().flatten()
    lp[frames, r] = lp[frames, c] + 0.5
    lp = lp.log_softmax(-1)
    out = {}
    for procs in (1, 2, 0):
        cfg = OmegaConf.create({"decode": {"decoder": "lm", "nbest": 1, "beam_size": 50, "beam_size_token": None, "lm": {
            "unit": "word", "lm_weight": 0.5, "word_score": 0.0, "sil_score": 0.0, "beam_threshold": 100.0,
            "tune": {"split": "dev", "processes": procs, "extend": 1,
                     "grid": {"lm_weight": [0.01, 1.0, 3.0], "word_score": [0.0, 1.0]}}}}})
        if procs == 0:
            with pytest.raises(DecodeError, match="decode.lm.tune.processes=0 must be an integer >= 1"):
                tune_lm(cfg, TOK, arpa, [lp, lp], ["the cat sat", "the cat sat"])
            continue
        result = tune_lm(cfg, TOK, arpa, [lp, lp], ["the cat sat", "the cat sat"])
        out[procs] = ([{k: v for k, v in row.items() if k != "seconds"} for row in result["grid"]],
                      capsys.readouterr().out)
    assert out[1] == out[2] and len(out[1][0]) > 6  # the grid was widened once, in the pool too
    assert out[1][0][0]["wer"] == pytest.approx(1 / 3) and min(row["wer"] for row in out[1][0]) == 0.0
