"""Kaldi data dirs (`wav.scp`, `text`, optional `utt2spk`, `segments`): one table reader for the
importer (`import_kaldi_dir`: stops at the first problem) and for `asr.validate` (`kaldi_rows`:
collects every problem).

Both modes go through `read_table(path, problems)`: `problems=None` raises the first problem as
a `ManifestError`, a list collects them. What Kaldi's `validate_data_dir.sh` refuses but the
importer can read (an empty line, keys out of C-locale order, a line with the wrong number of
fields) is only reported when collecting.
"""
from __future__ import annotations

from pathlib import Path

from asr.manifest import ManifestError, audio_duration

REQUIRED = ("wav.scp", "text")


def _problem(problems: list[str] | None, message: str) -> None:
    """Raise `message` (problems None: stop at the first) or collect it."""
    if problems is None:
        raise ManifestError(message)
    problems.append(message)


def read_table(path: Path, problems: list[str] | None = None, fields: int | None = None) -> dict[str, tuple[str, str]]:
    """Kaldi `key rest-of-line` table -> {key: (where "path:line", rest)}; {} when an optional table
    is missing (wav.scp and text are required). `fields`: how many fields must follow the key."""
    if not path.is_file():
        if path.name in REQUIRED:
            _problem(problems, f"{path}: missing (a Kaldi data dir needs wav.scp and text)")
        return {}
    table, first, prev, unsorted = {}, {}, None, False
    with open(path, encoding="utf-8", errors="replace" if problems is not None else "strict") as f:
        for lineno, line in enumerate(f, 1):
            where = f"{path}:{lineno}"
            if not line.strip():
                if problems is not None:
                    problems.append(f"{where}: empty line")
                continue
            key, _, rest = line.strip().partition(" ")
            rest = rest.strip()
            if problems is not None and fields is not None and len(rest.split()) != fields:
                problems.append(f"{where}: expected {fields + 1} fields, got {line.strip()!r}")
                continue
            if key in table:  # the importer's message names the first line, validate's its file:line
                earlier = f"on line {first[key]}" if problems is None else f"at {table[key][0]}"
                _problem(problems, f"{where}: duplicate key {key!r} (first {earlier})")
                continue
            # Kaldi's tools merge tables line by line and need them in C-locale (byte) order
            if problems is not None and prev is not None and key.encode() < prev.encode() and not unsorted:
                problems.append(f"{where}: not sorted: {key!r} comes after {prev!r} "
                                f"(Kaldi needs `LC_ALL=C sort {path.name}`)")
                unsorted = True  # once per file
            prev = key
            table[key], first[key] = (where, rest), lineno
    return table


def audio_path(spec: str, data_dir: Path) -> Path:
    """A wav.scp path, absolute: relative ones are taken from the current folder, as Kaldi does,
    else from the data dir."""
    audio = Path(spec)
    if not audio.is_absolute() and not audio.exists():
        audio = data_dir / audio
    return audio.absolute()


# --- import: the first problem stops it --------------------------------------------------------
def _recordings(data_dir: Path, wav_scp: dict) -> dict[str, tuple[Path, str]]:
    """{recording: (audio path, where)}; piped commands and ark entries are refused."""
    recordings = {}
    for rec, (where_line, where) in wav_scp.items():
        if where.endswith("|"):
            raise ManifestError(f"{where_line}: piped command {where!r} is not supported: "
                                "convert the audio to files (e.g. with sox) and list their paths")
        if ".ark:" in where:
            raise ManifestError(f"{where_line}: archive entry {where!r} is not supported: list audio file paths")
        recordings[rec] = (audio_path(where, data_dir), where_line)
    return recordings


def _segment(data_dir: Path, utt: str, where_line: str, segments: dict, recordings: dict) -> dict:
    """audio, offset and duration of a `segments` utterance."""
    if utt not in segments:
        raise ManifestError(f"{where_line}: utterance {utt!r} is not in {data_dir / 'segments'}")
    seg_where, seg = segments[utt]
    try:
        rec, start, end = seg.split()
        start, end = float(start), float(end)
    except ValueError:
        raise ManifestError(f"{seg_where}: expected 'utt rec start end', got {utt} {seg}") from None
    if rec not in recordings:
        raise ManifestError(f"{seg_where}: recording {rec!r} is not in {data_dir / 'wav.scp'}")
    audio, rec_where = recordings[rec]
    if end <= 0:  # Kaldi: end -1 means the end of the recording
        end = audio_duration(audio, rec_where)
    if end <= start:
        raise ManifestError(f"{seg_where}: segment end {end} is not after its start {start}")
    return dict(audio=str(audio), offset=start, duration=round(end - start, 4))


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
    wav_scp = read_table(data_dir / "wav.scp")
    texts = read_table(data_dir / "text")
    utt2spk = read_table(data_dir / "utt2spk")
    segments = read_table(data_dir / "segments")
    recordings = _recordings(data_dir, wav_scp)
    rows = []
    for utt, (where_line, text) in texts.items():
        row = {"id": utt}
        if segments:
            row.update(_segment(data_dir, utt, where_line, segments, recordings))
        else:
            if utt not in recordings:
                raise ManifestError(f"{where_line}: utterance {utt!r} is not in {data_dir / 'wav.scp'} "
                                    "(and there is no segments file)")
            audio, rec_where = recordings[utt]
            row.update(audio=str(audio), duration=round(audio_duration(audio, rec_where), 4))
        if utt2spk and utt not in utt2spk:
            raise ManifestError(f"{where_line}: utterance {utt!r} is not in {data_dir / 'utt2spk'}")
        row["text"] = text.lower() if lowercase else text
        row["speaker"] = utt2spk[utt][1] if utt2spk else utt
        rows.append(row)
    return rows


# --- validate: every problem is collected ------------------------------------------------------
def kaldi_rows(data_dir: Path, problems: list[str]) -> list[tuple[str, dict]]:
    """(where, row) per utterance of a Kaldi data dir, for `asr.validate` to check the audio and
    text of; every problem of the tables and between them goes to `problems`."""
    wav_scp = read_table(data_dir / "wav.scp", problems)
    texts = read_table(data_dir / "text", problems)
    utt2spk = read_table(data_dir / "utt2spk", problems, fields=1)
    segments = read_table(data_dir / "segments", problems, fields=3)
    has_segments = (data_dir / "segments").is_file()

    recordings = {}
    for rec, (where, spec) in wav_scp.items():
        if spec.endswith("|") or ".ark:" in spec:
            problems.append(f"{where}: {spec!r}: piped commands and archive entries are not supported")
            continue
        recordings[rec] = audio_path(spec, data_dir)
    rows = []
    for utt, (where, text) in texts.items():
        row = {"id": utt, "text": text, "duration": None}
        if has_segments:
            if utt not in segments:
                problems.append(f"{where}: utterance {utt!r} is not in {data_dir / 'segments'}")
                continue
            seg_where, seg = segments[utt]
            rec, start, end = seg.split()
            try:
                start, end = float(start), float(end)
            except ValueError:
                problems.append(f"{seg_where}: start and end must be numbers, got {start!r} {end!r}")
                continue
            if rec not in recordings:
                if rec not in wav_scp:
                    problems.append(f"{seg_where}: recording {rec!r} is not in {data_dir / 'wav.scp'}")
                continue
            if 0 < end <= start:
                problems.append(f"{seg_where}: segment end {end:g} is not after its start {start:g}")
                continue
            row.update(audio=str(recordings[rec]), offset=start, duration=round(end - start, 4) if end > 0 else None)
        elif utt not in recordings:
            if utt not in wav_scp:
                problems.append(f"{where}: utterance {utt!r} is not in {data_dir / 'wav.scp'} (and there is no segments file)")
            continue
        else:
            row["audio"] = str(recordings[utt])
        if utt2spk and utt not in utt2spk:
            problems.append(f"{where}: utterance {utt!r} is not in {data_dir / 'utt2spk'}")
        rows.append((where, row))
    for utt, (where, _) in utt2spk.items():
        if utt not in texts:
            problems.append(f"{where}: utterance {utt!r} has no transcript in {data_dir / 'text'}")
    if not texts and (data_dir / "text").is_file():
        problems.append(f"{data_dir / 'text'}: no utterances")
    return rows
