"""JSONL manifests (asr/manifest.py): round trip with relative paths, one error naming file:line.
The importers of other formats: tests/test_importers.py, tests/test_lhotse.py."""
import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from asr.audio import load_audio
from asr.manifest import ManifestError, read_manifest, write_manifest


def write_wav(path: Path, seconds: float, sr: int = 16000, fmt: str | None = None) -> np.ndarray:
    path.parent.mkdir(parents=True, exist_ok=True)
    x = np.linspace(-0.5, 0.5, int(sr * seconds), dtype=np.float32)
    sf.write(path, x, sr, format=fmt, subtype="FLOAT" if fmt is None else None)
    return x


def test_manifest_round_trip_with_relative_paths(tmp_path):
    corpus = tmp_path / "corpus"
    write_wav(corpus / "wav" / "train" / "u1.wav", 0.5)
    outside = tmp_path / "elsewhere" / "u2.wav"
    write_wav(outside, 0.25)
    rows = [
        {"id": "u1", "audio": str(corpus / "wav" / "train" / "u1.wav"), "duration": 0.5, "text": "hi there", "speaker": "s1"},
        {"id": "u2", "audio": str(outside), "duration": 0.25, "text": "ça va", "speaker": "s2", "offset": 0.0},
    ]
    write_manifest(corpus / "train.jsonl", rows)
    lines = [json.loads(line) for line in (corpus / "train.jsonl").read_text(encoding="utf-8").splitlines()]
    assert lines[0]["audio"] == "wav/train/u1.wav"  # inside the corpus folder: relative
    assert lines[1]["audio"] == str(outside)  # outside: stays absolute
    assert not (corpus / "train.jsonl.tmp").exists()

    moved = tmp_path / "moved"
    (corpus).rename(moved)  # a relative manifest survives moving the corpus folder
    back = read_manifest(moved / "train.jsonl")
    assert [r["id"] for r in back] == ["u1", "u2"]
    assert back[0]["audio"] == str(moved / "wav" / "train" / "u1.wav")
    assert back[1]["text"] == "ça va" and back[1]["offset"] == 0.0
    assert load_audio(back[0]["audio"]).numel() == 8000


GOOD = '{"id": "a", "audio": "a.wav", "duration": 1.0, "text": "x", "speaker": "s"}'


@pytest.mark.parametrize("second_line,match", [
    ("{not json", r"train.jsonl:2: not valid JSON"),
    ('["a", "list"]', r"train.jsonl:2: expected a JSON object"),
    ('{"id": "b", "audio": "b.wav", "duration": 1.0}', r"train.jsonl:2: missing key\(s\) text, speaker"),
    (GOOD, r"train.jsonl:2: duplicate id 'a' \(first on line 1\)"),
    ('{"id": "b", "audio": "b.wav", "duration": -1, "text": "x", "speaker": "s"}', r"train.jsonl:2: duration must be"),
    ('{"id": "b", "audio": "b.wav", "duration": "long", "text": "x", "speaker": "s"}', r"train.jsonl:2: duration must be"),
    ('{"id": 7, "audio": "b.wav", "duration": 1, "text": "x", "speaker": "s"}', r"train.jsonl:2: id must be a string"),
], ids=["not-json", "not-object", "missing-keys", "duplicate-id", "negative-duration", "string-duration", "int-id"])
def test_manifest_errors_name_file_and_line(tmp_path, second_line, match):
    path = tmp_path / "train.jsonl"
    path.write_text(GOOD + "\n" + second_line + "\n")
    with pytest.raises(ManifestError, match=match):
        read_manifest(path)


def test_manifest_skips_blank_lines_and_reports_missing_file(tmp_path):
    path = tmp_path / "m.jsonl"
    path.write_text("\n" + GOOD + "\n\n")
    assert len(read_manifest(path)) == 1
    with pytest.raises(ManifestError, match="nope.jsonl: no such manifest"):
        read_manifest(tmp_path / "nope.jsonl")
