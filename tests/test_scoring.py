import random

import editdistance
import jiwer
import pytest

from asr.scoring import ErrorCounts, align, error_report, speaker_report, wer_cer

WORDS = ["the", "cat", "sat", "on", "a", "mat", "dog", "ran", "it's", "blue"]


def random_sentence(rng: random.Random, max_words: int = 8) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(rng.randint(1, max_words)))


def random_pairs(seed: int, n: int = 40) -> tuple[list[str], list[str]]:
    rng = random.Random(seed)
    refs = [random_sentence(rng) for _ in range(n)]
    hyps = []
    for ref in refs:
        words = ref.split()
        for _ in range(rng.randint(0, 3)):  # random substitutions, deletions, insertions
            op = rng.choice("SDI")
            i = rng.randrange(len(words) + (op == "I")) if words or op == "I" else None
            if i is None:
                continue
            if op == "S":
                words[i] = rng.choice(WORDS)
            elif op == "D":
                del words[i]
            else:
                words.insert(i, rng.choice(WORDS))
        hyps.append(" ".join(words) if words else rng.choice(WORDS))  # jiwer rejects empty hypotheses
    return refs, hyps


@pytest.mark.parametrize("seed", [0, 1, 2, 3], ids=lambda s: f"seed{s}")
def test_jiwer_and_editdistance_agree(seed):
    refs, hyps = random_pairs(seed)
    wer, cer = wer_cer(refs, hyps)
    assert wer == pytest.approx(jiwer.wer(refs, hyps), abs=1e-12)
    assert cer == pytest.approx(jiwer.cer(refs, hyps), abs=1e-12)
    assert wer > 0  # the random edits did change something


@pytest.mark.parametrize("seed", [0, 1, 2], ids=lambda s: f"seed{s}")
def test_alignment_counts_match_edit_distance(seed):
    refs, hyps = random_pairs(seed)
    out = jiwer.process_words(refs, hyps)
    total = ErrorCounts()
    for ref, hyp in zip(refs, hyps):
        ali = align(ref.split(), hyp.split())
        counts = ErrorCounts().add(ali)
        assert counts.errors == editdistance.eval(ref.split(), hyp.split())
        assert [r for _, r, _ in ali if r is not None] == ref.split()
        assert [h for _, _, h in ali if h is not None] == hyp.split()
        total.add(ali)
    assert total.errors == out.substitutions + out.deletions + out.insertions
    assert total.ref_len == out.hits + out.substitutions + out.deletions


def test_align_marks_each_kind():
    ali = align("a b c d".split(), "a x c d e".split())
    assert [op for op, _, _ in ali] == ["C", "S", "C", "C", "I"]
    ali = align("a b c".split(), "a c".split())
    assert ali == [("C", "a", "a"), ("D", "b", None), ("C", "c", "c")]
    assert align([], []) == []


def test_error_report_sections_and_summary():
    ids = ["u1", "u2", "u3"]
    refs = ["the cat sat on the mat", "hello world", "a b c"]
    hyps = ["the hat sat on the mat", "hello world", "a c d"]
    text, s = error_report(ids, refs, hyps, title="test")
    wer, cer = wer_cer(refs, hyps)
    assert s["wer"] == pytest.approx(wer) and s["cer"] == pytest.approx(cer)
    assert (s["words"], s["sub"], s["del"], s["ins"], s["word_errors"]) == (11, 1, 1, 1, 3)
    assert s["ser"] == pytest.approx(2 / 3)
    assert f"%WER {100 * wer:.2f} [ 3 / 11, 1 ins, 1 del, 1 sub ]" in text
    for section in ("PER-UTT DETAILS:", "SUBSTITUTIONS:", "DELETIONS:", "INSERTIONS:"):
        assert section in text
    assert "REF:  the CAT sat on the mat" in text and "HYP:  the HAT sat on the mat" in text
    assert "1  cat -> hat" in text
    block = text.split("id: u3\n")[1].split("\n\n")[0].splitlines()
    assert block[0].split() == ["REF:", "a", "B", "c", "*"]
    assert block[1].split() == ["HYP:", "a", "*", "c", "D"]
    assert block[2].split() == ["EVAL:", "D", "I"]


def test_mismatched_lengths_are_an_error():
    with pytest.raises(ValueError, match="2 references but 1 hypotheses"):
        wer_cer(["a", "b"], ["a"])
    with pytest.raises(ValueError, match="2 ids"):
        error_report(["u1", "u2"], ["a"], ["a"])


def test_speaker_report_rates_per_speaker_sorted_by_errors():
    spk = ["a", "b", "a", "b", ""]
    refs = ["the cat", "a dog ran", "sat down", "a dog", "hi"]
    hyps = ["the cat", "a fog", "sad down", "a dog", "hi"]
    text, table = speaker_report(spk, refs, hyps)
    assert list(table) == ["b", "a", "(none)"]            # b: 2 word errors, a: 1, (none): 0
    assert table["b"] == {"utterances": 2, "words": 5, "word_errors": 2, "wer": 0.4, "cer": 5 / 14}
    assert table["a"]["wer"] == 0.25 and table["a"]["cer"] == 1 / 15
    assert sum(t["word_errors"] for t in table.values()) == round(wer_cer(refs, hyps)[0] * 10)
    lines = text.splitlines()
    assert lines[0].split()[:5] == ["speaker", "utts", "words", "WER", "%"] and lines[1].startswith("b ")
    assert "66.7%" in lines[1]                               # b's share of the 3 word errors
    with pytest.raises(ValueError, match="2 speakers, 1 references"):
        speaker_report(["a", "b"], ["x"], ["x"])
