"""The built-in corpus: grammar, plan (splits, voices), synthesis, layout on disk, the recipe."""
import collections
import fnmatch
import json
import os
import subprocess
import sys
import warnings
from pathlib import Path

import pytest
import soundfile as sf

from asr.corpus import CorpusError, plan_corpus, prepare_corpus, sentence_pool, vocabulary
from asr.corpus.grammar import ALPHABET, lexicon, number_words, plural, verb_forms, year_words
from asr.corpus.prepare import SPLITS
from asr.corpus.text import NaturalSpec, natural_pool
from asr.corpus.synth import Voice, train_only_voices, voice_catalog
from conftest import compose

REPO = Path(__file__).resolve().parents[1]


# --- grammar -----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def pool():
    return sentence_pool(20000, seed=0)


def test_pool_is_deterministic_from_the_seed():
    assert sentence_pool(300, seed=5) == sentence_pool(300, seed=5)
    assert sentence_pool(300, seed=5) != sentence_pool(300, seed=6)
    # a bigger pool starts with the smaller one: evaluation splits stay put when train grows
    assert sentence_pool(500, seed=5)[:300] == sentence_pool(300, seed=5)


def test_pool_size_vocabulary_and_alphabet(pool):
    assert len(pool) == len(set(pool)) == 20000
    used = collections.Counter(w for s in pool for w in s.split())
    assert len(used) >= 3000
    assert len(vocabulary()) >= 3000
    assert set(used) <= vocabulary(), sorted(set(used) - vocabulary())[:20]
    bad = [s for s in pool if not ALPHABET.match(s)]
    assert not bad, bad[:5]
    assert all(4 <= len(s.split()) <= 14 for s in pool)


def test_pool_has_the_promised_constructions(pool):
    text = "\n".join(pool)
    for word in ("don't", "it's", "didn't", "won't", "o'clock", "hundred", "twenty"):
        assert f" {word} " in f" {text} ".replace("\n", " "), word
    assert any(w.endswith("'s") and w[:-2] in lexicon().names for s in pool for w in s.split())  # "maria's"
    assert sum(s.split()[0] in ("did", "does", "do", "is", "are", "can", "will", "have", "has")
               for s in pool) > 500  # questions
    assert sum(s.split()[0] in ("what", "where", "when", "why", "how", "who", "which") for s in pool) > 500
    # not template copies: no opening of three words starts more than 2 % of the sentences
    openings = collections.Counter(" ".join(s.split()[:3]) for s in pool)
    assert openings.most_common(1)[0][1] < 0.02 * len(pool)


def test_pool_bad_sizes():
    with pytest.raises(CorpusError, match="min_words"):
        sentence_pool(10, seed=0, min_words=8, max_words=4)


@pytest.mark.parametrize("n, words", [(0, "zero"), (13, "thirteen"), (40, "forty"), (42, "forty two"),
                                      (100, "one hundred"), (342, "three hundred and forty two"),
                                      (2001, "two thousand and one"), (12500, "twelve thousand five hundred")],
                         ids=lambda x: str(x))
def test_number_words(n, words):
    assert number_words(n) == words


@pytest.mark.parametrize("year, words", [(1984, "nineteen eighty four"), (1905, "nineteen oh five"),
                                         (1900, "nineteen hundred"), (2007, "two thousand and seven"),
                                         (2024, "twenty twenty four")], ids=str)
def test_year_words(year, words):
    assert year_words(year) == words


@pytest.mark.parametrize("spec, forms", [
    ("stop", ("stops", "stopped", "stopping")),
    ("carry", ("carries", "carried", "carrying")),
    ("fix", ("fixes", "fixed", "fixing")),
    ("visit", ("visits", "visited", "visiting")),
    ("bake", ("bakes", "baked", "baking")),
    ("write:wrote:written", ("writes", "wrote", "writing")),
    ("wake_up:woke_up:woken_up", ("wakes up", "woke up", "waking up")),
], ids=lambda x: x if isinstance(x, str) else "")
def test_verb_forms(spec, forms):
    f = verb_forms(spec)
    assert (f["s"], f["past"], f["ing"]) == forms


@pytest.mark.parametrize("noun, pl", [("bus", "buses"), ("city", "cities"), ("boy", "boys"), ("dish", "dishes"),
                                      ("cat", "cats")], ids=lambda x: x)
def test_plural(noun, pl):
    assert plural(noun) == pl


def test_irregular_plurals_come_from_the_lists():
    people = dict(lexicon().nouns["person"])
    assert people["child"] == "children" and people["woman"] == "women"


# --- plan: splits and voices (no synthesis) ----------------------------------------------------
def _voices(d) -> list[str]:
    return [v.id for v in voice_catalog(d.voices)]


def _plan(overrides=()):
    cfg = compose("prepare", ["data=tiny", "data.root=/nonexistent", *overrides])
    return cfg, plan_corpus(cfg, _voices(cfg.data))


def test_plan_is_deterministic_from_the_seed():
    _, a = _plan()
    _, b = _plan()
    _, c = _plan(["data.seed=1"])
    assert a == b
    assert [j.text for j in a["train"]] != [j.text for j in c["train"]]
    assert [j.voice for j in a["train"]] != [j.voice for j in c["train"]]


def test_plan_splits_are_disjoint_and_sized():
    cfg, plan = _plan()
    for split in SPLITS:
        assert len(plan[split]) == cfg.data.sizes[split]
    texts = {split: {j.text for j in plan[split]} for split in SPLITS}
    for a in SPLITS:
        for b in SPLITS:
            if a < b:
                assert not texts[a] & texts[b], (a, b)


def test_plan_keeps_evaluation_splits_when_train_grows():
    _, small = _plan()
    _, big = _plan(["data.sizes.train=500"])
    for split in ("dev", "test", "test-other", "test-natural"):
        assert small[split] == big[split]
    assert big["train"][:len(small["train"])] == small["train"]


def test_plan_test_other_voices_are_held_out():
    cfg, plan = _plan(["data.sizes.train=400", "data.sizes.test-other=200"])
    heldout = list(cfg.data.heldout)
    seen = {j.voice for s in ("train", "dev", "test", "test-natural") for j in plan[s]}
    other = {j.voice for j in plan["test-other"]}
    assert not seen & other
    assert all(any(fnmatch.fnmatchcase(v, p) for p in heldout) for v in other)
    assert {v.split("-")[0] for v in seen} == {"espeak", "flite", "festival"}  # every engine speaks
    assert len({(j.speed, j.pitch) for j in plan["train"]}) > 300  # rate and pitch vary per utterance
    for key in ("formant", "gap", "intonation"):  # and so do formants, word gaps and pitch range
        values = [getattr(j, key) for j in plan["train"]]
        low, high = cfg.data[{"gap": "word_gap"}.get(key, key)]
        assert low <= min(values) < max(values) <= high, key
        assert len(set(values)) >= min(4, high - low + 1), key


def test_plan_mixes_natural_sentences_as_configured():
    cfg, plan = _plan(["data.sizes.train=400", "data.sizes.dev=100"])
    pool = natural_pool(NaturalSpec.from_cfg(cfg.data.natural), cfg.data.seed)
    share = {split: sum(j.text in pool[split] for j in plan[split]) / len(plan[split]) for split in SPLITS}
    assert share["test-natural"] == 1.0  # all natural, the held-out share of the natural text
    assert share["test"] == share["test-other"] == 0.0  # grammar only (fraction 0)
    assert 0.2 < share["train"] < 0.4 and 0.15 < share["dev"] < 0.45  # fraction 0.3
    # the training voices speak it: none of test-other's
    assert not {j.voice for j in plan["test-natural"]} & {j.voice for j in plan["test-other"]}
    assert not [j for j in plan["test-natural"] if any(fnmatch.fnmatchcase(j.voice, p) for p in cfg.data.heldout)]


def test_plan_without_natural_text_is_grammar_only():
    _, plan = _plan(["data.natural.sources=[]", "data.sizes.test-natural=0",
                     "data.natural.fraction={train: 0, dev: 0, test: 0, test-other: 0}"])
    assert plan["test-natural"] == []
    assert {j.text for s in SPLITS for j in plan[s]} <= set(sentence_pool(200, seed=0))


def test_plan_asking_for_more_natural_sentences_than_held_out():
    with pytest.raises(CorpusError, match=r"data\.sizes\.test-natural: asks for 100000 natural sentences"):
        _plan(["data.sizes.test-natural=100000"])


def test_plan_train_only_variants_leave_the_evaluation_splits_as_they_were():
    sizes = ["data.sizes.train=400", "data.sizes.test-other=100"]
    cfg, plan = _plan(sizes)
    base_cfg, base = _plan([*sizes, "data.voices.espeak_train_variants=[]"])
    for split in ("dev", "test", "test-other", "test-natural"):  # same voices, sentences and prosody
        assert plan[split] == base[split], split
    extra = train_only_voices(cfg.data.voices)
    train = {j.voice for j in plan["train"]}
    assert len(train & extra) > 100 and "espeak-en-us+whisperf" in _voices(cfg.data)
    assert [j.text for j in plan["train"]] == [j.text for j in base["train"]]
    # a train-only variant of a held-out accent is not used: that accent stays unseen in training
    assert not [v for v in train & extra if v.startswith("espeak-en-029+")]
    assert train - extra <= set(_voices(base_cfg.data))


@pytest.mark.parametrize("share, low, high", [(0.5, 0.4, 0.6), (0.0, 0.0, 0.0), (None, 0.7, 0.95)],
                         ids=["share0.5", "share0", "share-null"])
def test_plan_train_only_share(share, low, high):
    cfg, plan = _plan(["data.sizes.train=600", f"data.voices.train_only_share={'null' if share is None else share}"])
    extra = train_only_voices(cfg.data.voices)
    espeak = [j.voice for j in plan["train"] if j.voice.startswith("espeak-")]
    assert low <= sum(v in extra for v in espeak) / len(espeak) <= high
    _, base = _plan(["data.sizes.train=600", "data.voices.espeak_train_variants=[]"])
    assert plan["test"] == base["test"] and plan["dev"] == base["dev"]  # only train draws the share


def test_plan_rejects_a_heldout_set_that_leaves_no_training_voice():
    cfg = compose("prepare", ["data=tiny", "data.heldout=[*]"])
    with pytest.raises(CorpusError, match="data.heldout"):
        plan_corpus(cfg, _voices(cfg.data))


@pytest.mark.parametrize("override, key", [("data.sizes.train=-1", "data.sizes.train"),
                                           ("data.speed=[1.5,1.0]", "data.speed"),
                                           ("data.num_workers=-2", "data.num_workers"),
                                           ("data.max_words=2", "data.min_words"),
                                           ("+data.engine_weights.mbrola=1.0", "data.engine_weights.mbrola"),
                                           ("+data.sizes.validation=10", "data.sizes.validation"),
                                           ("data.formant=[2,1]", "data.formant"),
                                           ("data.word_gap=[0,1.5]", "data.word_gap"),
                                           ("data.natural.fraction.train=1.5", "data.natural.fraction.train"),
                                           ("+data.natural.fraction.test-natural=0.5",
                                            "data.natural.fraction.test-natural"),
                                           ("data.natural.sources=[]", "data.natural.sources"),
                                           ("data.natural.sources=[bible]", "data.natural.sources"),
                                           ("data.natural.max_words=2", "data.natural.min_words"),
                                           ("data.voices.espeak_train_variants=[f4]",
                                            "data.voices.espeak_train_variants"),
                                           ("data.voices.train_only_share=1.5", "data.voices.train_only_share")],
                         ids=lambda x: x.split("=")[0].lstrip("+"))
def test_bad_config_value_names_the_key(override, key, tmp_path):
    cfg = compose("prepare", ["data=tiny", f"data.root={tmp_path}", override])
    with pytest.raises(CorpusError, match=key.replace(".", r"\.")):
        prepare_corpus(cfg)


def test_voice_ids_round_trip():
    v = Voice.from_id("espeak-en-us+f3")
    assert (v.engine, v.name, v.id) == ("espeak", "en-us+f3", "espeak-en-us+f3")
    with pytest.raises(CorpusError, match="mbrola-us1"):
        Voice.from_id("mbrola-us1")


# --- the tiny corpus on disk -----------------------------------------------------------------
def _manifest(root: Path, split: str) -> list[dict]:
    return [json.loads(line) for line in (root / f"{split}.jsonl").read_text().splitlines()]


def test_tiny_corpus_layout_and_audio(tiny_corpus):
    info = json.loads((tiny_corpus / "corpus.json").read_text())
    for split in SPLITS:
        rows = _manifest(tiny_corpus, split)
        assert len(rows) == info["counts"][split] > 0
        for row in rows:
            assert set(row) == {"id", "audio", "duration", "text", "speaker"}
            assert not os.path.isabs(row["audio"]) and row["audio"] == f"wav/{split}/{row['id']}.wav"
            wav = sf.info(str(tiny_corpus / row["audio"]))
            assert (wav.samplerate, wav.channels, wav.subtype) == (16000, 1, "PCM_16")
            assert abs(wav.frames / wav.samplerate - row["duration"]) < 1e-3
            assert 0.5 < row["duration"] < 10
            assert ALPHABET.match(row["text"])
            assert row["speaker"] in info["voices"][split]
        assert abs(sum(r["duration"] for r in rows) / 3600 - info["hours"][split]) < 1e-3


def test_tiny_corpus_splits_and_voices(tiny_corpus):
    rows = {split: _manifest(tiny_corpus, split) for split in SPLITS}
    texts = {split: {r["text"] for r in rows[split]} for split in SPLITS}
    assert all(not texts[a] & texts[b] for a in SPLITS for b in SPLITS if a < b)
    train_voices = {r["speaker"] for r in rows["train"]}
    assert not train_voices & {r["speaker"] for r in rows["test-other"]}
    info = json.loads((tiny_corpus / "corpus.json").read_text())
    assert info["seed"] == 0 and info["voices_used"]
    assert set(info["voices"]["train"]) == train_voices


def test_tiny_corpus_has_test_natural(tiny_corpus):
    info = json.loads((tiny_corpus / "corpus.json").read_text())
    rows = _manifest(tiny_corpus, "test-natural")
    assert len(rows) == info["counts"]["test-natural"] == 16
    data = compose("prepare", ["data=tiny"]).data
    assert not [v for v in info["voices"]["test-natural"] if any(fnmatch.fnmatchcase(v, p) for p in data.heldout)]
    pool = natural_pool(NaturalSpec.from_cfg(data.natural), 0)
    assert {r["text"] for r in rows} <= set(pool["test-natural"])


def test_tiny_corpus_audio_is_speech_not_silence(tiny_corpus):
    row = _manifest(tiny_corpus, "train")[0]
    audio, _ = sf.read(str(tiny_corpus / row["audio"]))
    assert 0.5 < abs(audio).max() <= 1.0
    assert (abs(audio) > 0.05).mean() > 0.05


def test_rerun_with_the_same_config_skips_work(tiny_corpus):
    cfg = compose("prepare", ["data=tiny", f"data.root={tiny_corpus}", "data.num_workers=3"])  # speed only
    info = prepare_corpus(cfg)
    assert info["skipped"] is True


# --- rebuild, resume -------------------------------------------------------------------------
MICRO = ["data=tiny", "data.sizes={train: 4, dev: 1, test: 1, test-other: 2, test-natural: 1}", "data.voices.flite=[]",
         "data.voices.festival=[]", "data.voices.espeak_accents=[en-us,en-029]",
         "data.voices.espeak_variants=['',f4]", "data.engine_weights={espeak: 1.0}"]


def _build(root: Path, extra=()) -> dict:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return prepare_corpus(compose("prepare", [*MICRO, f"data.root={root}", *extra]))


def test_a_killed_run_is_completed_not_used(tmp_path):
    first = _build(tmp_path)
    assert first["synthesized"] == 9 and not first["skipped"]
    # what a run killed mid-way leaves: the in-progress marker, some wavs missing, a half-written temp file
    (tmp_path / "corpus.partial.json").write_text(json.dumps(
        {"config": first["config"], "voices": first["voices_used"]}))
    (tmp_path / "corpus.json").unlink()
    (tmp_path / "wav/train/train-000002.wav").unlink()
    (tmp_path / "wav/train/train-000003.wav").rename(tmp_path / "wav/train/train-000003.wav.tmp.wav")
    second = _build(tmp_path)
    assert second["synthesized"] == 2 and not second["skipped"]
    assert not (tmp_path / "corpus.partial.json").exists()
    assert not list((tmp_path / "wav").glob("*/*.tmp.wav"))
    assert _build(tmp_path)["skipped"]


def test_an_incomplete_corpus_without_marker_is_rebuilt(tmp_path):
    _build(tmp_path)
    (tmp_path / "wav/dev/dev-000000.wav").unlink()
    again = _build(tmp_path)
    assert again["synthesized"] == 9
    assert (tmp_path / "wav/dev/dev-000000.wav").exists()


def test_a_new_config_rebuilds(tmp_path):
    a = _build(tmp_path)
    b = _build(tmp_path, ["data.seed=7"])
    assert b["synthesized"] == 9 and b["seed"] == 7
    texts = {r["text"] for r in _manifest(tmp_path, "train")}
    assert texts == {j.text for j in plan_corpus(compose("prepare", [*MICRO, f"data.root={tmp_path}", "data.seed=7"]),
                                                b["voices_used"])["train"]}
    assert a["config"] != b["config"]


def test_a_voice_that_does_not_work_is_skipped_with_a_warning(tmp_path):
    cfg = compose("prepare", [*MICRO, "data.voices.flite=[slt,bogus]", f"data.root={tmp_path}"])
    with pytest.warns(UserWarning, match="flite-bogus"):
        info = prepare_corpus(cfg)
    assert "flite-bogus" in info["voices_skipped"] and "flite-slt" in info["voices_used"]
    assert all(r["speaker"] != "flite-bogus" for s in SPLITS for r in _manifest(tmp_path, s))


def test_a_foreign_folder_is_not_overwritten(tmp_path):
    (tmp_path / "wav").mkdir()
    (tmp_path / "wav" / "mine.wav").write_bytes(b"")
    with pytest.raises(CorpusError, match="not a corpus"):
        _build(tmp_path)
    assert (tmp_path / "wav" / "mine.wav").exists()


# --- the recipe ------------------------------------------------------------------------------
def _recipe(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(REPO / "recipes" / "prepare_data.py"), *args],
                          capture_output=True, text=True, cwd=REPO, timeout=300)


def test_recipe_prints_its_config():
    res = _recipe("data=tiny", "data.root=/tmp/never-built", "--cfg", "job")
    assert res.returncode == 0, res.stderr
    assert "name: synth-tiny" in res.stdout and "root: /tmp/never-built" in res.stdout


def test_recipe_bad_value_is_one_line(tmp_path):
    res = _recipe("data=tiny", f"data.root={tmp_path}", "data.sizes.test-other=-3")
    assert res.returncode != 0
    assert res.stderr.strip().splitlines()[-1].startswith("error: bad config value data.sizes.test-other=-3")
    assert "Traceback" not in res.stderr


def test_recipe_builds_and_prints_a_summary(tmp_path):
    res = _recipe(*MICRO, f"data.root={tmp_path}")
    assert res.returncode == 0, res.stderr
    assert "test-other" in res.stdout and "utterances" in res.stdout and " h " in res.stdout
    assert (tmp_path / "corpus.json").exists()
