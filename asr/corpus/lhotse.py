"""Lhotse manifests in and out: a CutSet (or RecordingSet + SupervisionSet) <-> JSONL manifest rows.

Lhotse (icefall, NeMo; `lhotse.recipes` prepares 50+ corpora) keeps audio in Recordings and
transcripts in SupervisionSegments placed in them; a Cut is a span of a recording with the
supervisions that fall in it, their times relative to the cut. Each supervision becomes one row:
    {"id": supervision id, "audio": the recording's file, "offset": cut.start + sup.start,
     "duration": sup.duration, "text": sup.text, "speaker": sup.speaker or the supervision id}
the `offset` convention of Kaldi `segments` (asr.corpus.kaldi); a supervision that
spans its whole file has no offset. Relative source paths are taken from the current folder, as
Lhotse does, else from the manifest's folder. The other way, each row becomes a MonoCut with one
supervision, over one Recording per audio file (rows with offsets into one file share it).

What this toolkit cannot read is refused with one line naming the cut: unknown fields, mixed or
multi-channel cuts, one channel of a multi-channel recording, non-file audio sources, audio
transforms other than resampling, missing audio files. Lhotse is an optional extra:
`pip install -e '.[lhotse]'`.
"""
from __future__ import annotations

import re
from pathlib import Path

from omegaconf import OmegaConf

from asr.audio import AudioError, audio_info
from asr.manifest import ManifestError, read_manifest

_UNKNOWN = re.compile(r"(\w+)\.__init__\(\) got an unexpected keyword argument '(\w+)'")
_MISSING = re.compile(r"(\w+)\.__init__\(\) missing \d+ required positional arguments?: (.+)")


def _lhotse():
    try:
        import lhotse
        import lhotse.serialization
    except ImportError:
        raise ManifestError("format=lhotse needs the lhotse package: pip install -e '.[lhotse]'") from None
    return lhotse


def _items(path: Path):
    """(where, item id, Lhotse object) per line of a jsonl / jsonl.gz manifest."""
    lhotse = _lhotse()
    if not path.is_file():
        raise ManifestError(f"{path}: no such Lhotse manifest")
    lineno = 0
    try:
        for lineno, data in enumerate(lhotse.serialization.load_jsonl(path), 1):
            item_id = data.get("id") if isinstance(data, dict) else None
            where = f"{path}:{lineno}: {item_id!r}" if item_id is not None else f"{path}:{lineno}"
            if not isinstance(data, dict):
                raise ManifestError(f"{where}: expected a JSON object")
            try:
                item = lhotse.serialization.deserialize_item(data)
            except Exception as e:  # any constructor error of Lhotse's on this entry: one line naming it
                raise ManifestError(f"{where}: {_reason(e)}") from None
            yield where, item_id, item
    except ManifestError:
        raise
    except (OSError, EOFError, UnicodeDecodeError, ValueError) as e:  # gzip / JSON damage
        raise ManifestError(f"{path}:{lineno + 1}: not a readable Lhotse jsonl line ({e})") from None


def _reason(e: Exception) -> str:
    """Lhotse's constructor errors in the manifest's terms."""
    if m := _UNKNOWN.search(str(e)):
        return f"unknown field {m[2]!r} in a {m[1]} (not a Lhotse {_lhotse().__version__} manifest field)"
    if m := _MISSING.search(str(e)):
        return f"missing field(s) {m[2]} in a {m[1]}"
    return f"not a valid Lhotse manifest entry ({type(e).__name__}: {e})"


def _audio_file(rec, where: str, base: Path) -> Path:
    """The one mono-readable file behind a Recording (checked), as an absolute path."""
    if len(rec.sources) != 1:
        raise ManifestError(f"{where}: recording {rec.id!r} has {len(rec.sources)} audio sources "
                            "(one per channel?): only single-file recordings are supported")
    source = rec.sources[0]
    if source.type != "file":
        raise ManifestError(f"{where}: recording {rec.id!r} has a {source.type!r} audio source: "
                            "only type 'file' is supported (save the audio to files first)")
    transforms = [t.to_dict()["name"] for t in rec.transforms or []]
    if any(name != "Resample" for name in transforms):
        raise ManifestError(f"{where}: recording {rec.id!r} has audio transforms {transforms}: "
                            "only Resample is supported (save the transformed audio to files first)")
    audio = Path(source.source)
    if not audio.is_absolute() and not audio.exists():
        audio = base / audio
    if not audio.is_file():
        raise ManifestError(f"{where}: audio file {source.source} of recording {rec.id!r} not found")
    return audio.absolute()


def _row(sup, rec, start: float, where: str, base: Path, lowercase: bool) -> dict:
    """One manifest row for a supervision starting `start` s into its recording."""
    if rec.num_channels != 1:
        raise ManifestError(f"{where}: recording {rec.id!r} has {rec.num_channels} channels: "
                            "the toolkit reads files as mono mixes (split the channels into files first)")
    if isinstance(sup.channel, list) and len(sup.channel) > 1:
        raise ManifestError(f"{where}: supervision {sup.id!r} spans channels {sup.channel}: only mono is supported")
    if not sup.text:
        raise ManifestError(f"{where}: supervision {sup.id!r} has no text")
    end = start + sup.duration
    if start < -1e-3 or end > rec.duration + 1e-3 or sup.duration <= 0:
        raise ManifestError(f"{where}: supervision {sup.id!r} spans {start:g}-{end:g}s, outside recording "
                            f"{rec.id!r} (0-{rec.duration:g}s)")
    row = {"id": sup.id, "audio": str(_audio_file(rec, where, base))}
    if start > 1e-3 or end < rec.duration - 1e-3:
        row["offset"] = round(max(start, 0.0), 4)
    row.update(duration=round(min(end, rec.duration) - max(start, 0.0), 4),
               text=sup.text.lower() if lowercase else sup.text, speaker=sup.speaker or sup.id)
    return row


def _add(rows: dict, row: dict, where: str, seen: dict) -> None:
    """Keep one row per supervision id; a supervision repeated identically (overlapping cuts) is kept once."""
    if row["id"] in rows:
        if rows[row["id"]] != row:
            raise ManifestError(f"{where}: supervision {row['id']!r} differs from the one in {seen[row['id']]}")
        return
    rows[row["id"]], seen[row["id"]] = row, where


def import_lhotse(src: str | Path, supervisions: str | Path | None = None, lowercase: bool = True) -> list[dict]:
    """A CutSet manifest, or a RecordingSet `src` + SupervisionSet `supervisions` -> manifest rows."""
    lhotse, src = _lhotse(), Path(src)
    rows, seen = {}, {}
    if supervisions is None:
        for where, cut_id, cut in _items(src):
            if isinstance(cut, lhotse.Recording):
                raise ManifestError(f"{where}: {src} is a RecordingSet: also set supervisions=<SupervisionSet manifest>")
            if isinstance(cut, lhotse.SupervisionSegment):
                raise ManifestError(f"{where}: {src} is a SupervisionSet: set src=<RecordingSet> supervisions={src}")
            if not isinstance(cut, lhotse.MonoCut):
                raise ManifestError(f"{where}: a {type(cut).__name__} is not supported: only MonoCuts "
                                    "(mix or pad cuts into audio files with lhotse first)")
            if not cut.has_recording:
                raise ManifestError(f"{where}: cut has no recording (features-only cuts are not supported)")
            for sup in cut.supervisions:
                _add(rows, _row(sup, cut.recording, cut.start + sup.start, where, src.parent, lowercase), where, seen)
        return list(rows.values())
    recordings = {}
    for where, rec_id, rec in _items(src):
        if not isinstance(rec, lhotse.Recording):
            raise ManifestError(f"{where}: expected a Recording in {src} (a RecordingSet), got a {type(rec).__name__}")
        recordings[rec_id] = rec
    supervisions = Path(supervisions)
    for where, sup_id, sup in _items(supervisions):
        if not isinstance(sup, lhotse.SupervisionSegment):
            raise ManifestError(f"{where}: expected a SupervisionSegment, got a {type(sup).__name__}")
        if sup.recording_id not in recordings:
            raise ManifestError(f"{where}: recording {sup.recording_id!r} is not in {src}")
        _add(rows, _row(sup, recordings[sup.recording_id], sup.start, where, src.parent, lowercase), where, seen)
    return list(rows.values())


def export_lhotse(rows: list[dict], out: str | Path) -> int:
    """Manifest rows (absolute audio paths, as `read_manifest` gives) -> a CutSet at `out`
    (.jsonl or .jsonl.gz): one MonoCut and one supervision per row. Returns the number of cuts."""
    lhotse = _lhotse()
    recordings, cuts = {}, []
    for row in rows:
        audio = row["audio"]
        if audio not in recordings:
            try:
                info = audio_info(audio)
            except AudioError as e:
                raise ManifestError(f"utterance {row['id']!r}: {e}") from None
            if info.channels != 1:
                raise ManifestError(f"utterance {row['id']!r}: {audio} has {info.channels} channels; "
                                    "a Lhotse cut of the toolkit's mono mix needs a mono file")
            rec_id = Path(audio).stem
            taken = {r.id for r in recordings.values()}
            rec_id = next(f"{rec_id}-{n}" for n in range(1, len(taken) + 2) if f"{rec_id}-{n}" not in taken) \
                if rec_id in taken else rec_id
            recordings[audio] = lhotse.Recording(
                id=rec_id, sources=[lhotse.AudioSource(type="file", channels=[0], source=audio)],
                sampling_rate=info.sample_rate, num_samples=info.frames, duration=info.duration)
        rec = recordings[audio]
        sup = lhotse.SupervisionSegment(id=row["id"], recording_id=rec.id, start=0.0, duration=row["duration"],
                                        channel=0, text=row["text"], speaker=row["speaker"])
        cuts.append(lhotse.MonoCut(id=row["id"], start=float(row.get("offset") or 0.0), duration=row["duration"],
                                   channel=0, supervisions=[sup], recording=rec))
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    lhotse.CutSet.from_cuts(cuts).to_file(out)
    return len(cuts)


def export_data(cfg) -> int:
    """Hydra entry (conf/export_data.yaml): manifest `src` -> `format` (lhotse) manifest `out`."""
    missing = [k for k in ("format", "src", "out") if OmegaConf.is_missing(cfg, k)]
    if missing:
        raise ManifestError(f"set {' '.join(k + '=...' for k in missing)} (see conf/export_data.yaml)")
    if cfg.format != "lhotse":
        raise ManifestError(f"format={cfg.format!r} is not one of: lhotse")
    out = str(cfg.out)
    if not out.endswith((".jsonl", ".jsonl.gz")):
        raise ManifestError(f"out={out!r}: a Lhotse CutSet is written as .jsonl or .jsonl.gz")
    n = export_lhotse(read_manifest(cfg.src), out)
    print(f"wrote {out}: {n} cuts (lhotse.load_manifest reads it)")
    return n
