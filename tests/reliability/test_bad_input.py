"""Bad input through validate, the feature step, the training data loader and transcribe.

The decision per case: audio that cannot be read (empty, zero-length, truncated header, text
named .wav, NaN/inf samples, missing path) is skipped with one warning line naming the file and
counted (feature step), or reported with one `error:` line while the other files go on
(transcribe, exit status 1). Odd but valid audio (8/48 kHz, 6 channels, spaces and unicode in
the path) is read as usual. A manifest that is not JSON or repeats an id stops everything with
one error naming file:line. A transcript with characters outside the tokenizer is skipped by the
training loader with a warning (never trained on as a different text) and reported by validate.
"""
import json
import logging

import numpy as np
import pytest
import soundfile as sf
import torch

from asr.audio import AudioError, load_audio
from asr.data import FeatureDataset
from asr.features import FeatureExtractor, extract_features, load_split
from asr.manifest import ManifestError, write_manifest
from asr.tokenizer import CharTokenizer
from asr.transcription import main as transcribe_main, transcribe
from asr.validate import ValidateError, main as validate_main, validate
from reliability.conftest import AUDIO_CASES, SKIPPED, compose, one_clear_line, run_python


# --- validate ---------------------------------------------------------------------------------
def test_validate_reports_every_problem_with_file_and_line(bad_corpus):
    manifest = bad_corpus.everything_manifest
    problems = validate(manifest)
    for line, expected in bad_corpus.expected.items():
        mine = [p for p in problems if p.startswith(f"{manifest}:{line}: ")]
        assert any(expected in p for p in mine), (line, expected, mine)
    flagged = {p.removeprefix(f"{manifest}:").split(":")[0] for p in problems}
    assert flagged == set(bad_corpus.expected)  # nothing else: 8/48 kHz, 6 channels, the unicode path are fine


def test_validate_kaldi_dir(bad_corpus):
    d = bad_corpus.kaldi_dir
    problems = validate(d)
    expected = [
        ("segments:4", "segment end 0.2 is not after its start 0.9"),
        ("segments:5", "recording 'rec9' is not in"),
        ("text:2", "no such audio file"),
        ("text:3", "not a readable audio file"),
        ("text:6", "runs past the end"),
        ("text:6", "characters outside the tokenizer"),
        ("text:7", "duplicate key 'u1'"),
        ("text:8", "utterance 'u7' is not in"),
        ("utt2spk:7", "utterance 'u9' has no transcript"),
        ("utt2spk:3", "not sorted: 'u2' comes after 'u3'"),
        ("wav.scp:4", "piped commands"),
    ]
    for where, text in expected:
        assert any(p.startswith(f"{d / where}: ") and text in p for p in problems), (where, text, problems)
    assert len(problems) == len(expected), problems


def test_validate_clean_manifest_and_missing_source(bad_corpus, tmp_path):
    assert validate(bad_corpus.good_manifest) == []
    with pytest.raises(ValidateError, match="nowhere.jsonl"):
        validate(tmp_path / "nowhere.jsonl")
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    assert validate(empty) == [f"{empty}: no utterances"]


def test_validate_recipe_and_console_script(bad_corpus, capsys):
    out = run_python("recipes/validate.py", f"source={bad_corpus.good_manifest}")
    assert out.returncode == 0, out.stderr
    assert "6 utterances" in out.stdout and "16000 Hz x 6" in out.stdout and "OK" in out.stdout
    out = run_python("recipes/validate.py", f"source={bad_corpus.everything_manifest}")
    assert out.returncode == 1 and "Traceback" not in out.stderr
    printed = [line for line in out.stdout.splitlines() if line.startswith(str(bad_corpus.everything_manifest) + ":")]
    assert printed == validate(bad_corpus.everything_manifest)
    assert "8000 Hz x 1" in out.stderr and "48000 Hz x 1" in out.stderr and "6 ch x 1" in out.stderr
    assert validate_main([str(bad_corpus.everything_manifest), "--max-problems", "2"]) == 1
    assert "... and" in capsys.readouterr().out
    assert validate_main([str(bad_corpus.root / "nowhere")]) == 2
    assert capsys.readouterr().err.startswith("error: ")


# --- the feature step -------------------------------------------------------------------------
def features_cfg(store, train_manifest, dev_manifest, *overrides):
    """The feature recipe's config with exactly two splits: train and dev."""
    from omegaconf import OmegaConf

    cfg = compose("extract_features", ["data=tiny", f"features.dir={store}", "features.num_workers=0", *overrides])
    OmegaConf.update(cfg, "features.manifests", {"train": str(train_manifest), "dev": str(dev_manifest)}, merge=False)
    return cfg


@pytest.fixture(scope="module")
def bad_store(bad_corpus, tmp_path_factory):
    """Features of the audio manifest (train) and the good one (dev), and what the step printed."""
    import contextlib
    import io

    store = tmp_path_factory.mktemp("bad store")
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        summary = extract_features(features_cfg(store, bad_corpus.audio_manifest, bad_corpus.good_manifest))
    return store, summary, err.getvalue()


def test_feature_step_skips_unreadable_audio_and_counts_it(bad_corpus, bad_store):
    store, summary, stderr = bad_store
    assert summary["splits"]["train"]["skipped"] == len(SKIPPED) == summary["skipped"]
    warnings = [line for line in stderr.splitlines() if line.startswith("warning: skipped")]
    assert len(warnings) == len(SKIPPED)  # one line per bad file
    for case in SKIPPED:
        assert sum(f"skipped {case}: {bad_corpus.audio[case]}" in w for w in warnings) == 1, case
    kept = load_split(store, "train")["ids"]
    assert sorted(kept) == sorted([f"good-{i}" for i in range(6)] + ["bad-transcript"] +
                                  [c for c, v in AUDIO_CASES.items() if v == "ok"])


@pytest.mark.parametrize("case", ["rate-8k", "rate-48k", "six-channels", "spaces-unicode-path"])
def test_feature_step_reads_odd_but_valid_audio_correctly(bad_corpus, bad_store, case):
    store, _, _ = bad_store
    d = load_split(store, "train")
    feats = d["feats"][d["ids"].index(case)]
    wave = load_audio(bad_corpus.audio[case])
    assert wave.numel() == 16000  # 1 s at 16 kHz whatever the file's rate
    assert torch.equal(feats, FeatureExtractor()(wave).half())
    if case == "six-channels":  # mixed down: the mean of the channels
        raw, _ = sf.read(bad_corpus.audio[case], dtype="float32")
        assert torch.allclose(wave, torch.from_numpy(raw.mean(axis=1)), atol=1e-6)


@pytest.mark.parametrize("which,line,message", [("not_json_manifest", 3, "not valid JSON"),
                                                ("duplicate_manifest", 4, "duplicate id 'good-0' (first on line 1)")],
                         ids=["not-json", "duplicate-id"])
def test_feature_step_stops_on_a_bad_manifest_line(bad_corpus, tmp_path, which, line, message):
    manifest = getattr(bad_corpus, which)
    with pytest.raises(ManifestError, match=rf"{manifest}:{line}: .*{message[:20]}"):
        extract_features(features_cfg(tmp_path, manifest, bad_corpus.good_manifest))
    out = run_python("recipes/extract_features.py", "data=tiny", f"features.dir={tmp_path}/recipe",
                     f"features.manifests.train={manifest}", f"features.manifests.dev={bad_corpus.good_manifest}",
                     f"features.manifests.test={bad_corpus.good_manifest}",
                     f"features.manifests.test-other={bad_corpus.good_manifest}", "features.num_workers=0")
    assert out.returncode == 1
    assert one_clear_line(out.stderr).startswith(f"error: {manifest}:{line}: {message}")


# --- the training data loader -------------------------------------------------------------------
def test_loader_skips_a_transcript_outside_the_tokenizer(bad_store, caplog):
    store, _, _ = bad_store
    with caplog.at_level(logging.WARNING, logger="asr.data"):
        ds = FeatureDataset.from_store(store, "train", CharTokenizer())
    assert "bad-transcript" not in ds.ids and ds.skipped == 1 and len(ds) == 10
    skipped = [r.getMessage() for r in caplog.records if r.getMessage().startswith("skipped")]
    assert len(skipped) == 1 and "bad-transcript" in skipped[0] and "'!'" in skipped[0]
    assert any("skipped 1 of 11" in r.getMessage() for r in caplog.records)  # the count


def test_loader_skips_utterances_longer_than_max_frames(bad_store, caplog):
    store, _, _ = bad_store
    with caplog.at_level(logging.WARNING, logger="asr.data"):
        ds = FeatureDataset.from_store(store, "train", CharTokenizer(), max_frames=110)
    assert all(n <= 110 for n in ds.lengths) and ds.skipped == 5  # good-2..5 (1.2-1.5 s) and bad-transcript


def test_training_runs_on_the_features_of_the_bad_corpus(bad_store, tmp_path, caplog):
    from asr.train import train

    store, _, _ = bad_store
    cfg = compose("train", [f"features.dir={store}", f"exp_dir={tmp_path}", "model=blstm_tiny", "train=fast",
                            "train.max_steps=2", "train.valid_split=dev", "train.max_frames=400"])
    with caplog.at_level(logging.WARNING, logger="asr.data"):
        metrics = train(cfg)
    assert metrics["step"] == 2 and np.isfinite(metrics["train_loss"])
    assert any("bad-transcript" in r.getMessage() for r in caplog.records)


# --- transcribe ---------------------------------------------------------------------------------
def test_transcribe_reports_each_bad_file_and_goes_on(bad_corpus, random_checkpoint, capsys):
    paths = [str(p) for p in bad_corpus.audio.values()] + [str(bad_corpus.good[0])]
    assert transcribe_main([str(random_checkpoint), *paths]) == 1
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    errors = [line for line in err.splitlines() if line.startswith("error: ")]
    assert len(errors) == len(SKIPPED)
    for case in SKIPPED:
        assert sum(line.startswith(f"error: {bad_corpus.audio[case]}: ") for line in errors) == 1, case
    done = [line.split("\t")[0] for line in out.splitlines() if "\t" in line]
    assert sorted(done) == sorted([str(bad_corpus.audio[c]) for c in AUDIO_CASES if AUDIO_CASES[c] == "ok"] +
                                  [str(bad_corpus.good[0])])
    assert f"{len(SKIPPED)} of {len(paths)} files failed" in err


@pytest.mark.parametrize("case", SKIPPED)
def test_transcribe_api_raises_one_error_naming_the_file(bad_corpus, random_checkpoint, case):
    with pytest.raises(AudioError, match=str(bad_corpus.audio[case]).replace("(", r"\(")):
        transcribe([bad_corpus.audio[case]], random_checkpoint, progress=False)


@pytest.mark.parametrize("case", ["rate-8k", "rate-48k", "six-channels", "spaces-unicode-path"])
def test_transcribe_reads_odd_but_valid_audio(bad_corpus, random_checkpoint, case):
    r = transcribe([bad_corpus.audio[case]], random_checkpoint, progress=False)[0]
    assert r["duration"] == pytest.approx(1.0, abs=0.01) and isinstance(r["text"], str)


# --- the 2-hour file (slow) ---------------------------------------------------------------------
@pytest.mark.slow
def test_two_hour_file_validate_features_and_loader(two_hour_wav, bad_corpus, tmp_path, caplog):
    """Validate reads the header only; the feature step keeps it; the loader skips it as too long."""
    manifest = tmp_path / "long.jsonl"
    rows = [{"id": "two-hours", "audio": str(two_hour_wav), "duration": 7200.0, "text": "long", "speaker": "s"},
            *[json.loads(line) for line in bad_corpus.good_manifest.read_text().splitlines()]]
    for r in rows[1:]:
        r["audio"] = str(bad_corpus.root / r["audio"])
    write_manifest(manifest, rows)
    assert validate(manifest) == []
    summary = extract_features(features_cfg(tmp_path / "store", manifest, bad_corpus.good_manifest))
    assert summary["splits"]["train"]["utterances"] == 7 and summary["skipped"] == 0
    assert summary["splits"]["train"]["hours"] == pytest.approx(2.0 + 6.3 / 3600, abs=1e-3)
    with caplog.at_level(logging.WARNING, logger="asr.data"):
        ds = FeatureDataset.from_store(tmp_path / "store", "train", CharTokenizer(), max_frames=20000)
    assert "two-hours" not in ds.ids and ds.skipped == 1
    assert any("two-hours" in r.getMessage() and "max_frames" in r.getMessage() for r in caplog.records)


def test_validate_recipe_prints_its_config():
    out = run_python("recipes/validate.py", "--cfg", "job", "source=data/x/train.jsonl", "tolerance=0.5")
    assert out.returncode == 0 and "source: data/x/train.jsonl" in out.stdout and "tolerance: 0.5" in out.stdout
