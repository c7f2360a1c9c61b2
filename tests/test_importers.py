"""The corpus importers (asr/corpus/importers.py and its formats: kaldi.py, librispeech.py; Lhotse:
tests/test_lhotse.py): rows, one error naming file:line, the FORMATS table, the recipe. The Kaldi
table reader's collecting mode (validate): tests/reliability/test_bad_input.py."""
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from hydra import compose, initialize_config_dir

import asr.corpus.importers as importers
from asr.audio import load_audio
from asr.corpus.importers import import_data
from asr.corpus.kaldi import import_kaldi_dir, read_table
from asr.corpus.librispeech import import_librispeech
from asr.manifest import ManifestError, read_manifest, write_manifest

REPO = Path(__file__).resolve().parents[1]


def write_wav(path: Path, seconds: float, sr: int = 16000, fmt: str | None = None) -> np.ndarray:
    path.parent.mkdir(parents=True, exist_ok=True)
    x = np.linspace(-0.5, 0.5, int(sr * seconds), dtype=np.float32)
    sf.write(path, x, sr, format=fmt, subtype="FLOAT" if fmt is None else None)
    return x


# --- Kaldi data dir ---------------------------------------------------------------------------
def make_kaldi_dir(root: Path, segments: bool = False, utt2spk: bool = True) -> Path:
    d = root / "data" / "train"
    d.mkdir(parents=True)
    if segments:
        write_wav(root / "audio" / "rec1.wav", 3.0)
        (d / "wav.scp").write_text(f"rec1 {root / 'audio' / 'rec1.wav'}\n")
        (d / "segments").write_text("spk1-u1 rec1 0.50 1.25\nspk1-u2 rec1 2.0 -1\n")
        utts = {"spk1-u1": "spk1", "spk1-u2": "spk1"}
    else:
        write_wav(root / "audio" / "a.wav", 1.0)
        write_wav(d / "local" / "b.flac", 0.5, fmt="FLAC")
        # one absolute path, one relative to the data dir
        (d / "wav.scp").write_text(f"spk1-a {root / 'audio' / 'a.wav'}\nspk2-b local/b.flac\n")
        utts = {"spk1-a": "spk1", "spk2-b": "spk2"}
    (d / "text").write_text("".join(f"{u} HELLO THERE IT'S {u.upper()}\n" for u in utts))
    if utt2spk:
        (d / "utt2spk").write_text("".join(f"{u} {s}\n" for u, s in utts.items()))
    return d


def test_kaldi_dir(tmp_path):
    rows = import_kaldi_dir(make_kaldi_dir(tmp_path))
    assert [r["id"] for r in rows] == ["spk1-a", "spk2-b"]
    assert [r["speaker"] for r in rows] == ["spk1", "spk2"]
    assert [r["duration"] for r in rows] == [1.0, 0.5]
    assert rows[0]["text"] == "hello there it's spk1-a"
    assert rows[1]["audio"] == str(tmp_path / "data" / "train" / "local" / "b.flac")
    assert "offset" not in rows[0]


def test_kaldi_dir_keeps_case_and_defaults_speaker(tmp_path):
    rows = import_kaldi_dir(make_kaldi_dir(tmp_path, utt2spk=False), lowercase=False)
    assert rows[0]["text"] == "HELLO THERE IT'S SPK1-A"
    assert [r["speaker"] for r in rows] == ["spk1-a", "spk2-b"]  # Kaldi: no utt2spk, speaker = utterance


def test_kaldi_segments(tmp_path):
    rows = import_kaldi_dir(make_kaldi_dir(tmp_path, segments=True))
    assert [(r["offset"], r["duration"]) for r in rows] == [(0.5, 0.75), (2.0, 1.0)]  # end -1: end of recording
    full = load_audio(rows[0]["audio"])
    seg = load_audio(rows[0]["audio"], offset=rows[0]["offset"], duration=rows[0]["duration"])
    assert torch.equal(seg, full[8000:20000])
    # the rows are a valid manifest
    write_manifest(tmp_path / "m.jsonl", rows)
    assert read_manifest(tmp_path / "m.jsonl") == rows


def _pipe(d):
    (d / "wav.scp").write_text("spk1-a sox a.wav -t wav - |\nspk2-b b.wav\n")


def _ark(d):
    (d / "wav.scp").write_text("spk1-a /data/wav.ark:1234\n")


def _missing_wav(d):
    (d / "wav.scp").write_text(f"spk1-a {d / 'nope.wav'}\nspk2-b local/b.flac\n")


def _missing_recording(d):
    (d / "wav.scp").write_text("spk2-b local/b.flac\n")


def _missing_speaker(d):
    (d / "utt2spk").write_text("spk1-a spk1\n")


def _no_text(d):
    (d / "text").unlink()


def _duplicate_key(d):
    (d / "text").write_text("spk1-a hi\nspk2-b yo\nspk1-a again\n")


@pytest.mark.parametrize("breakit,match", [
    (_pipe, r"wav.scp:1: piped command 'sox a.wav -t wav - \|' is not supported"),
    (_ark, r"wav.scp:1: archive entry"),
    (_missing_wav, r"wav.scp:1: .*nope.wav: no such audio file"),
    (_missing_recording, r"text:1: utterance 'spk1-a' is not in .*wav.scp"),
    (_missing_speaker, r"text:2: utterance 'spk2-b' is not in .*utt2spk"),
    (_no_text, r"text: missing"),
    (_duplicate_key, r"text:3: duplicate key 'spk1-a' \(first on line 1\)"),
], ids=["pipe", "ark", "missing-audio", "missing-recording", "missing-speaker", "no-text", "duplicate"])
def test_kaldi_dir_errors(tmp_path, breakit, match):
    d = make_kaldi_dir(tmp_path)
    breakit(d)
    with pytest.raises(ManifestError, match=match):
        import_kaldi_dir(d)


def test_kaldi_bad_segment(tmp_path):
    d = make_kaldi_dir(tmp_path, segments=True)
    (d / "segments").write_text("spk1-u1 rec1 0.5\nspk1-u2 rec1 2.0 -1\n")
    with pytest.raises(ManifestError, match=r"segments:1: expected 'utt rec start end'"):
        import_kaldi_dir(d)
    (d / "segments").write_text("spk1-u1 rec1 1.5 1.0\nspk1-u2 rec1 2.0 -1\n")
    with pytest.raises(ManifestError, match=r"segments:1: segment end 1.0 is not after its start 1.5"):
        import_kaldi_dir(d)


# --- LibriSpeech ------------------------------------------------------------------------------
def make_librispeech(root: Path) -> Path:
    split = root / "LibriSpeech" / "dev-clean"
    for spk, chapter, n in (("84", "121123", 2), ("174", "50561", 1)):
        folder = split / spk / chapter
        lines = []
        for i in range(n):
            utt = f"{spk}-{chapter}-{i:04d}"
            write_wav(folder / f"{utt}.flac", 0.25 * (i + 1), fmt="FLAC")
            lines.append(f"{utt} GO DO YOU HEAR {i}")
        (folder / f"{spk}-{chapter}.trans.txt").write_text("\n".join(lines) + "\n")
    return split


def test_librispeech(tmp_path):
    rows = import_librispeech(make_librispeech(tmp_path))
    assert [r["id"] for r in rows] == ["174-50561-0000", "84-121123-0000", "84-121123-0001"]
    assert [r["speaker"] for r in rows] == ["174", "84", "84"]
    assert [r["duration"] for r in rows] == [0.25, 0.25, 0.5]
    assert rows[2]["text"] == "go do you hear 1"
    assert rows[2]["audio"].endswith("dev-clean/84/121123/84-121123-0001.flac")


def test_librispeech_errors(tmp_path):
    with pytest.raises(ManifestError, match="no \\*/\\*/\\*.trans.txt files"):
        import_librispeech(tmp_path)
    split = make_librispeech(tmp_path)
    (split / "84" / "121123" / "84-121123-0001.flac").unlink()
    with pytest.raises(ManifestError, match=r"84-121123.trans.txt:2: audio file .*84-121123-0001.flac not found"):
        import_librispeech(split)


# --- the recipe -------------------------------------------------------------------------------
def compose_import(overrides: list[str]):
    with initialize_config_dir(config_dir=str(REPO / "conf"), version_base="1.3"):
        return compose(config_name="import_data", overrides=overrides)


def test_import_data_config(tmp_path, capsys):
    split = make_librispeech(tmp_path)
    out = tmp_path / "manifests" / "dev-clean.jsonl"
    cfg = compose_import(["format=librispeech", f"src={split}", f"out={out}"])
    rows = import_data(cfg)
    assert read_manifest(out) == rows
    assert "3 utterances" in capsys.readouterr().out

    d = make_kaldi_dir(tmp_path / "kaldi")
    cfg = compose_import(["format=kaldi", f"src={d}", f"out={out}", "lowercase=false"])
    assert import_data(cfg)[0]["text"] == "HELLO THERE IT'S SPK1-A"

    with pytest.raises(ManifestError, match="format='espnet' is not one of: kaldi, librispeech"):
        import_data(compose_import(["format=espnet", f"src={d}", f"out={out}"]))
    with pytest.raises(ManifestError, match=r"set out=\.\.\. \(see conf/import_data.yaml\)"):
        import_data(compose_import(["format=kaldi", f"src={d}"]))


def test_import_recipe_cli(tmp_path):
    run = [sys.executable, str(REPO / "recipes" / "import_data.py")]
    job = subprocess.run(run + ["--cfg", "job", "format=kaldi", "src=/x", "out=y.jsonl"],
                         capture_output=True, text=True, cwd=tmp_path)
    assert job.returncode == 0 and "format: kaldi" in job.stdout
    bad = subprocess.run(run + ["format=kaldi", f"src={tmp_path / 'nope'}", f"out={tmp_path / 'y.jsonl'}"],
                         capture_output=True, text=True, cwd=tmp_path)
    assert bad.returncode == 1
    assert bad.stderr.strip() == f"error: {tmp_path / 'nope'}: no such Kaldi data dir"  # one line, no traceback


def test_a_new_format_is_one_function_and_one_table_entry(tmp_path, monkeypatch, capsys):
    def import_lines(src, lowercase=True, speaker="spk"):  # one utterance per line of a text file
        return [{"id": f"u{i}", "audio": str(tmp_path / f"u{i}.wav"), "duration": 1.0,
                 "text": line.lower() if lowercase else line, "speaker": speaker}
                for i, line in enumerate(Path(src).read_text().splitlines())]

    monkeypatch.setitem(importers.FORMATS, "lines", (import_lines, ("speaker",)))
    (tmp_path / "list.txt").write_text("Hello there\nGood Night\n")
    out = tmp_path / "m" / "lines.jsonl"
    cfg = compose_import(["format=lines", f"src={tmp_path / 'list.txt'}", f"out={out}", "+speaker=ann"])
    rows = import_data(cfg)
    assert [(r["text"], r["speaker"]) for r in rows] == [("hello there", "ann"), ("good night", "ann")]
    assert read_manifest(out) == rows and "2 utterances" in capsys.readouterr().out
    with pytest.raises(ManifestError, match="format='espnet' is not one of: kaldi, librispeech, lhotse, lines"):
        import_data(compose_import(["format=espnet", f"src={tmp_path}", f"out={out}"]))


def test_kaldi_table_raises_the_first_problem_or_collects_all(tmp_path):
    table = tmp_path / "utt2spk"
    table.write_text("b s\n\na s x\nb t\n")  # an empty line, out of order, 3 fields, a duplicate key
    with pytest.raises(ManifestError, match=r"utt2spk:4: duplicate key 'b' \(first on line 1\)"):
        read_table(table)  # the importer reads through what it can use
    problems = []
    assert read_table(table, problems, fields=1) == {"b": (f"{table}:1", "s")}
    assert problems == [f"{table}:2: empty line", f"{table}:3: expected 2 fields, got 'a s x'",
                        f"{table}:4: duplicate key 'b' (first at {table}:1)"]
    problems = []
    read_table(table, problems)  # no field count: 'a' is read, and is out of order
    assert f"{table}:3: not sorted: 'a' comes after 'b' (Kaldi needs `LC_ALL=C sort utt2spk`)" in problems
