"""The LibriSpeech folder layout: `<split>/<speaker>/<chapter>/<speaker>-<chapter>.trans.txt` + `.flac`."""
from __future__ import annotations

from pathlib import Path

from asr.manifest import ManifestError, audio_duration


def import_librispeech(split_dir: str | Path, lowercase: bool = True) -> list[dict]:
    """A LibriSpeech split folder (`<speaker>/<chapter>/<speaker>-<chapter>.trans.txt` + `.flac`)
    -> manifest rows. LibriSpeech text is upper case; `lowercase` matches the default tokenizer."""
    split_dir = Path(split_dir)
    trans_files = sorted(split_dir.glob("*/*/*.trans.txt"))
    if not trans_files:
        raise ManifestError(f"{split_dir}: no */*/*.trans.txt files (expected a LibriSpeech split folder "
                            "such as LibriSpeech/dev-clean)")
    rows = []
    for trans in trans_files:
        speaker = trans.parent.parent.name
        with open(trans, encoding="utf-8") as f:
            for lineno, line in enumerate(f, 1):
                if not line.strip():
                    continue
                utt, _, text = line.strip().partition(" ")
                audio = (trans.parent / f"{utt}.flac").absolute()
                if not audio.is_file():
                    raise ManifestError(f"{trans}:{lineno}: audio file {audio} not found")
                duration = round(audio_duration(audio, f"{trans}:{lineno}"), 4)
                rows.append({"id": utt, "audio": str(audio), "duration": duration,
                             "text": text.lower() if lowercase else text, "speaker": speaker})
    return rows
