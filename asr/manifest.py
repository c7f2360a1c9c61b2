"""JSONL manifests, and importers for Kaldi data dirs and the LibriSpeech folder layout.

A manifest has one JSON object per line, as NeMo and Lhotse users expect:
    {"id": "...", "audio": "wav/train/x.wav", "duration": 2.31, "text": "...", "speaker": "..."}
plus an optional "offset" (seconds) when the utterance is a segment of a longer recording.
`audio` is absolute or relative to the manifest's folder.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

from omegaconf import OmegaConf

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


def _read_table(path: Path, required: bool = True) -> dict[str, tuple[int, str]]:
    """Kaldi `key rest-of-line` table -> {key: (line number, rest)}."""
    if not path.is_file():
        if required:
            raise ManifestError(f"{path}: missing (a Kaldi data dir needs wav.scp and text)")
        return {}
    table = {}
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            key, _, rest = line.strip().partition(" ")
            if key in table:
                raise ManifestError(f"{path}:{lineno}: duplicate key {key!r} (first on line {table[key][0]})")
            table[key] = (lineno, rest.strip())
    return table


def _duration(audio: Path, where: str) -> float:
    try:
        return audio_info(audio).duration
    except AudioError as e:
        raise ManifestError(f"{where}: {e}") from None


def import_kaldi_dir(data_dir: str | Path, lowercase: bool = True) -> list[dict]:
    """Kaldi data dir (`wav.scp`, `text`, optional `utt2spk`, `segments`) -> manifest rows.

    wav.scp entries must be plain file paths (relative ones are taken from the current folder,
    as Kaldi does, else from the data dir); piped commands (`sox ... |`) and ark offsets are
    rejected. Without utt2spk every utterance is its own speaker (Kaldi's convention).
    `lowercase` matches the text to the default (lower-case) tokenizer.
    """
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        raise ManifestError(f"{data_dir}: no such Kaldi data dir")
    wav_scp = _read_table(data_dir / "wav.scp")
    texts = _read_table(data_dir / "text")
    utt2spk = _read_table(data_dir / "utt2spk", required=False)
    segments = _read_table(data_dir / "segments", required=False)

    recordings = {}
    for rec, (lineno, where) in wav_scp.items():
        where_line = f"{data_dir / 'wav.scp'}:{lineno}"
        if where.endswith("|"):
            raise ManifestError(f"{where_line}: piped command {where!r} is not supported: "
                                "convert the audio to files (e.g. with sox) and list their paths")
        if ".ark:" in where:
            raise ManifestError(f"{where_line}: archive entry {where!r} is not supported: list audio file paths")
        audio = Path(where)
        if not audio.is_absolute() and not audio.exists():
            audio = data_dir / audio
        recordings[rec] = (audio.absolute(), where_line)

    rows = []
    for utt, (lineno, text) in texts.items():
        where_line = f"{data_dir / 'text'}:{lineno}"
        row = {"id": utt}
        if segments:
            if utt not in segments:
                raise ManifestError(f"{where_line}: utterance {utt!r} is not in {data_dir / 'segments'}")
            seg_line, seg = segments[utt]
            seg_where = f"{data_dir / 'segments'}:{seg_line}"
            try:
                rec, start, end = seg.split()
                start, end = float(start), float(end)
            except ValueError:
                raise ManifestError(f"{seg_where}: expected 'utt rec start end', got {utt} {seg}") from None
            if rec not in recordings:
                raise ManifestError(f"{seg_where}: recording {rec!r} is not in {data_dir / 'wav.scp'}")
            audio, rec_where = recordings[rec]
            if end <= 0:  # Kaldi: end -1 means the end of the recording
                end = _duration(audio, rec_where)
            if end <= start:
                raise ManifestError(f"{seg_where}: segment end {end} is not after its start {start}")
            row.update(audio=str(audio), offset=start, duration=round(end - start, 4))
        else:
            if utt not in recordings:
                raise ManifestError(f"{where_line}: utterance {utt!r} is not in {data_dir / 'wav.scp'} "
                                    "(and there is no segments file)")
            audio, rec_where = recordings[utt]
            row.update(audio=str(audio), duration=round(_duration(audio, rec_where), 4))
        if utt2spk and utt not in utt2spk:
            raise ManifestError(f"{where_line}: utterance {utt!r} is not in {data_dir / 'utt2spk'}")
        row["text"] = text.lower() if lowercase else text
        row["speaker"] = utt2spk[utt][1] if utt2spk else utt
        rows.append(row)
    return rows


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
                duration = round(_duration(audio, f"{trans}:{lineno}"), 4)
                rows.append({"id": utt, "audio": str(audio), "duration": duration,
                             "text": text.lower() if lowercase else text, "speaker": speaker})
    return rows


def import_data(cfg) -> list[dict]:
    """Hydra entry (conf/import_data.yaml): `format` kaldi|librispeech|lhotse, `src` -> manifest `out`."""
    missing = [k for k in ("format", "src", "out") if OmegaConf.is_missing(cfg, k)]
    if missing:
        raise ManifestError(f"set {' '.join(k + '=...' for k in missing)} (see conf/import_data.yaml)")
    if cfg.format == "kaldi":
        rows = import_kaldi_dir(cfg.src, lowercase=cfg.lowercase)
    elif cfg.format == "librispeech":
        rows = import_librispeech(cfg.src, lowercase=cfg.lowercase)
    elif cfg.format == "lhotse":
        from asr.lhotse_io import import_lhotse  # lhotse is an optional extra

        rows = import_lhotse(cfg.src, supervisions=cfg.get("supervisions"), lowercase=cfg.lowercase)
    else:
        raise ManifestError(f"format={cfg.format!r} is not one of: kaldi, librispeech, lhotse")
    write_manifest(cfg.out, rows)
    hours = sum(r["duration"] for r in rows) / 3600
    speakers = len({r["speaker"] for r in rows})
    print(f"wrote {cfg.out}: {len(rows)} utterances, {hours:.2f} h, {speakers} speakers")
    return rows
