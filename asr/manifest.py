"""JSONL manifests: the one format every corpus is read from (importers of other formats:
asr/corpus/importers.py).

A manifest has one JSON object per line, as NeMo and Lhotse users expect:
    {"id": "...", "audio": "wav/train/x.wav", "duration": 2.31, "text": "...", "speaker": "..."}
plus an optional "offset" (seconds) when the utterance is a segment of a longer recording.
`audio` is absolute or relative to the manifest's folder.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

from asr.audio import AudioError, audio_info
from asr.errors import ASRError

REQUIRED_KEYS = ("id", "audio", "duration", "text", "speaker")


class ManifestError(ASRError, ValueError):
    """A malformed manifest or data dir; the message names the file and line."""


def read_manifest(path: str | Path) -> list[dict]:
    """Read and check a JSONL manifest; `audio` comes back as an absolute path string."""
    path = Path(path)
    if not path.is_file():
        raise ManifestError(f"{path}: no such manifest")
    rows, seen = [], {}
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as e:
                raise ManifestError(f"{path}:{lineno}: not valid JSON ({e.msg})") from None
            if not isinstance(row, dict):
                raise ManifestError(f"{path}:{lineno}: expected a JSON object, got {type(row).__name__}")
            missing = [k for k in REQUIRED_KEYS if k not in row]
            if missing:
                raise ManifestError(f"{path}:{lineno}: missing key(s) {', '.join(missing)}")
            for key in ("id", "audio", "text", "speaker"):
                if not isinstance(row[key], str):
                    raise ManifestError(f"{path}:{lineno}: {key} must be a string, got {row[key]!r}")
            if not isinstance(row["duration"], (int, float)) or row["duration"] < 0:
                raise ManifestError(f"{path}:{lineno}: duration must be a number >= 0, got {row['duration']!r}")
            if row["id"] in seen:
                raise ManifestError(f"{path}:{lineno}: duplicate id {row['id']!r} (first on line {seen[row['id']]})")
            seen[row["id"]] = lineno
            row["audio"] = str(path.parent.absolute() / row["audio"])  # no-op for absolute paths
            rows.append(row)
    return rows


def write_manifest(path: str | Path, rows: list[dict]) -> None:
    """Write rows as JSONL (atomically). Audio paths inside the manifest's folder are stored
    relative to it, so the corpus folder can be moved as a whole."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    root = path.parent.absolute()
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        for row in rows:
            audio = Path(row["audio"]).absolute()
            row = {**row, "audio": str(audio.relative_to(root)) if audio.is_relative_to(root) else str(audio)}
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
    os.replace(tmp, path)


def audio_duration(audio: Path, where: str) -> float:
    """Seconds of audio in a file; an unreadable file is a ManifestError naming `where` (an importer's file:line)."""
    try:
        return audio_info(audio).duration
    except AudioError as e:
        raise ManifestError(f"{where}: {e}") from None
