"""The bad-input corpus, built by the tests themselves in a temporary folder.

`bad_corpus` (session): good 1-second utterances plus one file per way audio goes wrong,
and manifests that reference them (see `BadCorpus`). `two_hour_wav` (session, slow tests only):
a 2-hour 16 kHz file written block by block, never held in memory.

This folder is a package (`__init__.py`), so this conftest does not shadow `tests/conftest.py`
for the `from conftest import ...` lines of the other test modules.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

ROOT = Path(__file__).resolve().parents[2]
SR = 16000
GOOD_TEXT = "the cat sat on the mat"
BAD_TEXT = "Hello, World! 42 caf\u00e9"  # upper case, punctuation, digits, a non-ASCII letter

# audio case -> what the pipeline must do with it: "skip" (feature step, transcribe: warn/report
# and go on) or "ok" (read as usual: resampled, mixed down, or an odd path that must just work)
AUDIO_CASES = {
    "empty-file": "skip",
    "zero-length": "skip",
    "truncated-header": "skip",
    "text-named-wav": "skip",
    "nan-samples": "skip",
    "inf-samples": "skip",
    "missing-path": "skip",
    "rate-8k": "ok",
    "rate-48k": "ok",
    "six-channels": "ok",
    "spaces-unicode-path": "ok",
}
SKIPPED = sorted(k for k, v in AUDIO_CASES.items() if v == "skip")


def compose(config_name: str, overrides: list[str] | None = None):
    """A recipe's config as `python recipes/<config_name>.py <overrides>` composes it."""
    from hydra import compose as hydra_compose, initialize_config_dir

    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        return hydra_compose(config_name=config_name, overrides=overrides or [])


def run_python(*args: str, timeout: float = 300, **kw) -> subprocess.CompletedProcess:
    """`python <args>` from the repo root, as a user would run a recipe or a console script."""
    return subprocess.run([sys.executable, *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout, **kw)


def one_clear_line(stderr: str) -> str:
    """The last stderr line, after checking that no traceback was printed."""
    assert "Traceback" not in stderr, stderr
    lines = [line for line in stderr.strip().splitlines() if line.strip()]
    assert lines, "nothing on stderr"
    return lines[-1]


def tone(seconds: float, sr: int = SR, seed: int = 0, channels: int = 1) -> np.ndarray:
    """A gliding tone with a little noise: [frames] or [frames, channels] float32."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sr)) / sr
    freq = 300 + 200 * np.sin(2 * np.pi * (0.5 + 0.1 * seed) * t)
    x = 0.3 * np.sin(2 * np.pi * np.cumsum(freq) / sr) + 0.02 * rng.standard_normal(t.size)
    x = x.astype(np.float32)
    return x if channels == 1 else np.stack([x * (1 - 0.1 * c) for c in range(channels)], axis=1)


def write_wav_streaming(path: Path, seconds: float, sr: int = SR, block_seconds: float = 60.0) -> Path:
    """A long PCM16 file written one block at a time with soundfile: memory stays at one block."""
    block = tone(block_seconds, sr)
    with sf.SoundFile(path, "w", samplerate=sr, channels=1, subtype="PCM_16") as f:
        left = int(seconds * sr)
        while left > 0:
            f.write(block[: min(left, block.size)])
            left -= block.size
    return path


def row(uid: str, audio: str, duration: float, text: str = GOOD_TEXT) -> dict:
    return {"id": uid, "audio": audio, "duration": duration, "text": text, "speaker": "spk"}


def write_jsonl(path: Path, lines: list) -> Path:
    """Rows (dicts) as JSON lines; a str is written as is (a line that is not JSON)."""
    path.write_text("".join((x if isinstance(x, str) else json.dumps(x, ensure_ascii=False)) + "\n" for x in lines),
                    encoding="utf-8")
    return path


@dataclass
class BadCorpus:
    root: Path
    audio: dict[str, Path]                     # case -> audio path (AUDIO_CASES; missing-path does not exist)
    good: list[Path]                           # good 1-second utterances
    good_manifest: Path                        # good utterances only
    audio_manifest: Path                       # good + every AUDIO_CASES file + one bad transcript; valid JSON
    not_json_manifest: Path                    # good rows and, on line 3, a line that is not JSON
    duplicate_manifest: Path                   # good rows and, on line 4, a repeated id
    everything_manifest: Path                  # every problem at once, for validate
    expected: dict[str, str] = field(default_factory=dict)  # everything_manifest: "line N" -> problem substring
    kaldi_dir: Path | None = None              # a Kaldi data dir with a problem per file


@pytest.fixture(scope="session")
def bad_corpus(tmp_path_factory) -> BadCorpus:
    root = tmp_path_factory.mktemp("bad corpus")  # a space in every path of the corpus
    wav = root / "wav"
    wav.mkdir()
    good = []
    for i in range(6):
        good.append(wav / f"good-{i}.wav")
        sf.write(good[-1], tone(1.0 + 0.1 * i, seed=i), SR, subtype="PCM_16")

    audio = {}
    audio["empty-file"] = wav / "empty.wav"
    audio["empty-file"].write_bytes(b"")
    audio["zero-length"] = wav / "zero-length.wav"
    sf.write(audio["zero-length"], np.zeros(0, np.float32), SR, subtype="PCM_16")
    audio["truncated-header"] = wav / "truncated-header.wav"
    audio["truncated-header"].write_bytes(good[0].read_bytes()[:30])  # RIFF/fmt cut off before the data chunk
    audio["text-named-wav"] = wav / "readme.wav"
    audio["text-named-wav"].write_text("this is a text file, not audio\n" * 20)
    for case, value in (("nan-samples", np.nan), ("inf-samples", np.inf)):
        x = tone(1.0)
        x[4000:4010] = value
        audio[case] = wav / f"{case}.wav"
        sf.write(audio[case], x, SR, subtype="FLOAT")
    audio["missing-path"] = wav / "no-such-file.wav"
    audio["rate-8k"] = wav / "rate-8k.wav"
    sf.write(audio["rate-8k"], tone(1.0, sr=8000), 8000, subtype="PCM_16")
    audio["rate-48k"] = wav / "rate-48k.wav"
    sf.write(audio["rate-48k"], tone(1.0, sr=48000), 48000, subtype="PCM_16")
    audio["six-channels"] = wav / "six-channels.wav"
    sf.write(audio["six-channels"], tone(1.0, channels=6), SR, subtype="PCM_16")
    odd = wav / "dir with spaces" / "\u00fcn\u00efc\u00f6d\u00e9 f\u00efl\u00e9 \u540d\u524d.wav"
    odd.parent.mkdir()
    sf.write(odd, tone(1.0, seed=7), SR, subtype="PCM_16")
    audio["spaces-unicode-path"] = odd

    good_rows = [row(f"good-{i}", str(p.relative_to(root)), round(1.0 + 0.1 * i, 4)) for i, p in enumerate(good)]
    good_manifest = write_jsonl(root / "good.jsonl", good_rows)
    case_rows = [row(case, str(path.relative_to(root)), 0.0 if case == "zero-length" else 1.0)
                 for case, path in audio.items()]
    bad_text = row("bad-transcript", str(good[1].relative_to(root)), 1.1, BAD_TEXT)
    audio_manifest = write_jsonl(root / "audio.jsonl", good_rows + case_rows + [bad_text])
    not_json = write_jsonl(root / "not-json.jsonl", good_rows[:2] + ['{"id": "broken", "audio": '] + good_rows[2:])
    duplicate = write_jsonl(root / "duplicate.jsonl", good_rows[:3] + [good_rows[0]] + good_rows[3:])

    # every problem in one manifest: line -> a substring its problem line must contain
    lines, expected = list(good_rows[:2]), {}

    def add(line, problem: str | None) -> None:
        lines.append(line)
        if problem:
            expected[f"{len(lines)}"] = problem

    add("not json at all", "not valid JSON")
    add({"id": "no-audio-key", "duration": 1.0, "text": GOOD_TEXT, "speaker": "s"}, "missing key(s) audio")
    add(good_rows[0], "duplicate id 'good-0' (first on line 1)")
    add(row("empty-file", "wav/empty.wav", 1.0), "not a readable audio file")
    add(row("zero-length", "wav/zero-length.wav", 0.0), "zero-length")
    add(row("truncated-header", "wav/truncated-header.wav", 1.0), "not a readable audio file")
    add(row("text-named-wav", "wav/readme.wav", 1.0), "not a readable audio file")
    add(row("nan-samples", "wav/nan-samples.wav", 1.0), "NaN or inf")
    add(row("inf-samples", "wav/inf-samples.wav", 1.0), "NaN or inf")
    add(row("missing-path", "wav/no-such-file.wav", 1.0), "no such audio file")
    add(row("bad-transcript", "wav/good-1.wav", 1.1, BAD_TEXT), "characters outside the tokenizer")
    add(row("wrong-duration", "wav/good-2.wav", 7.5), "duration 7.5s disagrees with the audio file (1.200s)")
    add(row("negative-duration", "wav/good-3.wav", -1), "duration must be a number >= 0")
    add(row("rate-8k", "wav/rate-8k.wav", 1.0), None)  # fine: resampled when read
    add(row("rate-48k", "wav/rate-48k.wav", 1.0), None)
    add(row("six-channels", "wav/six-channels.wav", 1.0), None)  # fine: mixed down
    add(row("spaces-unicode-path", str(odd.relative_to(root)), 1.0), None)
    everything = write_jsonl(root / "everything.jsonl", lines)

    kaldi = root / "kaldi"
    kaldi.mkdir()
    (kaldi / "wav.scp").write_text(f"rec1 {good[0]}\nrec2 {audio['missing-path']}\nrec3 {audio['text-named-wav']}\n"
                                   f"rec4 sox x.wav -t wav - |\n")
    (kaldi / "segments").write_text("u1 rec1 0.0 0.5\nu2 rec2 0.0 1.0\nu3 rec3 0.0 1.0\nu4 rec1 0.9 0.2\n"
                                    "u5 rec9 0.0 1.0\nu6 rec1 0.5 9.0\n")
    (kaldi / "text").write_text(f"u1 {GOOD_TEXT}\nu2 {GOOD_TEXT}\nu3 {GOOD_TEXT}\nu4 {GOOD_TEXT}\nu5 {GOOD_TEXT}\n"
                                f"u6 {BAD_TEXT}\nu1 {GOOD_TEXT}\nu7 {GOOD_TEXT}\n")
    (kaldi / "utt2spk").write_text("u1 s\nu3 s\nu2 s\nu4 s\nu5 s\nu6 s\nu9 s\n")  # u2: unsorted
    return BadCorpus(root, audio, good, good_manifest, audio_manifest, not_json, duplicate, everything, expected, kaldi)


@pytest.fixture(scope="session")
def two_hour_wav(tmp_path_factory) -> Path:
    """A 2-hour 16 kHz mono PCM16 file (230 MB), written by streaming 60-second blocks."""
    return write_wav_streaming(tmp_path_factory.mktemp("long audio") / "two hours.wav", 2 * 3600)


@pytest.fixture(scope="session")
def random_checkpoint(tmp_path_factory) -> Path:
    """A tiny randomly initialised model in the ARCHITECTURE.md checkpoint format (fbank 80, char tokenizer)."""
    from asr.checkpoint import save_checkpoint
    from asr.features import FeatureExtractor
    from asr.model import CTCModel
    from asr.tokenizer import CharTokenizer

    torch.manual_seed(0)
    tok, feats = CharTokenizer(), FeatureExtractor()
    model = CTCModel(feats.dim, tok.vocab_size, hidden_size=16, num_layers=1, subsampling=3, dropout=0.0,
                     backend="torch")
    cmvn = {"mean": torch.full((feats.dim,), -8.0), "std": torch.full((feats.dim,), 3.0)}
    return save_checkpoint({"model_cfg": model.config, "model": model.state_dict(), "tokenizer": tok.to_dict(),
                            "features": feats.to_config(), "cmvn": cmvn},
                           tmp_path_factory.mktemp("random model") / "model.pt")


def subprocess_env(**extra: str) -> dict:
    """The environment for child processes: few threads (the machine is shared), repo on the path."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT), **extra}
    return env
