"""Check a JSONL manifest or a Kaldi data dir up front, as Kaldi's `validate_data_dir.sh` does.

    python recipes/validate.py source=data/synth-small/train.jsonl
    asr-validate data/kaldi/train --checkpoint exp/synth-small/blstm_small/best.pt

Every problem is reported, not just the first, each as one line naming the file and line:
not JSON, missing keys, duplicate ids, missing / unreadable / empty / non-audio / NaN audio,
zero-length utterances, durations that disagree with the audio file, transcript characters the
tokenizer cannot encode. Sample rates and channel counts are counted (they are not problems:
`asr.audio` mixes down and resamples) and printed with the summary.
"""
from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import soundfile as sf

from asr.audio import AudioError, audio_info
from asr.corpus.kaldi import kaldi_rows
from asr.manifest import REQUIRED_KEYS
from asr.tokenizer import CharTokenizer, Tokenizer
from asr.errors import ASRError

NAN_SCAN_FRAMES = 1 << 20  # float files are scanned for NaN/inf in blocks of this many frames


class ValidateError(ASRError, ValueError):
    """The thing to validate does not exist or is neither a manifest nor a Kaldi data dir."""


def _scan_finite(path: Path) -> bool:
    """True when every sample is finite. Integer PCM cannot hold NaN/inf, so only float files are read,
    block by block (a 2-hour file never sits in memory)."""
    with sf.SoundFile(path) as f:
        if f.subtype not in ("FLOAT", "DOUBLE"):
            return True
        for block in f.blocks(blocksize=NAN_SCAN_FRAMES, dtype="float32", always_2d=True):
            if not np.isfinite(block).all():
                return False
    return True


def _check_utterance(row: dict, where: str, tokenizer: Tokenizer, tolerance: float, stats: dict,
                     audio_cache: dict) -> list[str]:
    """Problems of one utterance: audio file, duration (with optional offset), transcript."""
    problems = []
    audio = Path(row["audio"])
    if audio not in audio_cache:  # Kaldi segments share one recording: read each file once
        try:
            info = audio_info(audio)
            audio_cache[audio] = (info, "" if info.frames == 0 or _scan_finite(audio) else "contains NaN or inf samples")
        except (AudioError, sf.LibsndfileError, RuntimeError) as e:
            audio_cache[audio] = (None, str(e).removeprefix(f"{audio}: "))
    info, error = audio_cache[audio]
    if info is None:
        problems.append(f"{where}: audio {audio}: {error}")
    else:
        stats["sample_rates"][info.sample_rate] += 1
        stats["channels"][info.channels] += 1
        if info.frames == 0:
            problems.append(f"{where}: audio {audio}: no audio samples (zero-length file)")
        elif error:
            problems.append(f"{where}: audio {audio}: {error}")
    segment = "offset" in row  # a segment of a longer recording (Kaldi segments, manifest offset)
    offset, duration = float(row.get("offset") or 0.0), row.get("duration")
    if duration is not None:
        if duration == 0:
            problems.append(f"{where}: zero-length utterance (duration 0)")
        elif info is not None and info.frames > 0:
            available = info.duration - offset
            if segment and available <= 0:
                problems.append(f"{where}: offset {offset:g}s is past the end of {audio} ({info.duration:.3f}s)")
            elif not segment and abs(duration - info.duration) > tolerance:
                problems.append(f"{where}: duration {duration:g}s disagrees with the audio file ({info.duration:.3f}s)")
            elif segment and duration > available + tolerance:
                problems.append(f"{where}: segment {offset:g}s + {duration:g}s runs past the end of {audio} "
                                f"({info.duration:.3f}s)")
        stats["seconds"] += duration
    text = row["text"]
    if not text.strip():
        problems.append(f"{where}: empty transcript")
    unknown = tokenizer.unknown_chars(text)
    if unknown:
        shown = ", ".join(repr(c) for c in sorted(unknown))
        problems.append(f"{where}: transcript has characters outside the tokenizer: {shown}")
    stats["utterances"] += 1
    return problems


def _manifest_rows(path: Path, problems: list[str]) -> list[tuple[str, dict]]:
    """(where, row) per usable line of a JSONL manifest; problems of the lines themselves go to `problems`."""
    rows, seen = [], {}
    with open(path, encoding="utf-8", errors="replace") as f:
        for lineno, line in enumerate(f, 1):
            where = f"{path}:{lineno}"
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as e:
                problems.append(f"{where}: not valid JSON ({e.msg})")
                continue
            if not isinstance(row, dict):
                problems.append(f"{where}: expected a JSON object, got {type(row).__name__}")
                continue
            missing = [k for k in REQUIRED_KEYS if k not in row]
            if missing:
                problems.append(f"{where}: missing key(s) {', '.join(missing)}")
            bad = [k for k in ("id", "audio", "text", "speaker") if k in row and not isinstance(row[k], str)]
            for k in bad:
                problems.append(f"{where}: {k} must be a string, got {row[k]!r}")
            duration = row.get("duration")
            if "duration" in row and (not isinstance(duration, (int, float)) or isinstance(duration, bool)
                                      or not np.isfinite(duration) or duration < 0):
                problems.append(f"{where}: duration must be a number >= 0, got {duration!r}")
                duration = None
            if isinstance(row.get("id"), str):
                if row["id"] in seen:
                    problems.append(f"{where}: duplicate id {row['id']!r} (first on line {seen[row['id']]})")
                else:
                    seen[row["id"]] = lineno
            if missing or bad:
                continue
            rows.append((where, {**row, "duration": duration, "audio": str(path.parent.absolute() / row["audio"])}))
    if not seen and not problems:
        problems.append(f"{path}: no utterances")
    return rows


def check(source: str | Path, tokenizer: Tokenizer | None = None, tolerance: float = 0.1) -> tuple[list[str], dict]:
    """(problems, stats) for a JSONL manifest or a Kaldi data dir; see `validate`."""
    source = Path(source)
    tokenizer = tokenizer or CharTokenizer()
    problems: list[str] = []
    if source.is_dir():
        rows = kaldi_rows(source, problems)
    elif source.is_file():
        rows = _manifest_rows(source, problems)
    else:
        raise ValidateError(f"{source}: no such manifest or Kaldi data dir")
    stats = {"utterances": 0, "seconds": 0.0, "sample_rates": Counter(), "channels": Counter()}
    audio_cache: dict = {}
    for where, row in rows:
        problems += _check_utterance(row, where, tokenizer, tolerance, stats, audio_cache)
    return sorted(problems, key=_file_and_line), stats


def _file_and_line(problem: str) -> tuple[str, int]:
    """Sort key: problems in file order, line by line ("path:12: ..." -> (path, 12))."""
    where = problem.split(": ", 1)[0]
    path, _, line = where.rpartition(":")
    return (path, int(line)) if line.isdigit() else (where, 0)


def validate(source: str | Path, tokenizer: Tokenizer | None = None, tolerance: float = 0.1) -> list[str]:
    """Every problem of a JSONL manifest or a Kaldi data dir, one line each naming file and line.

    `tokenizer`: whose alphabet the transcripts must fit (default: the character tokenizer).
    `tolerance`: seconds a manifest duration may differ from the audio file's.
    """
    return check(source, tokenizer, tolerance)[0]


def _tokenizer_from_checkpoint(path: str | Path | None) -> Tokenizer | None:
    if path is None:
        return None
    from asr.checkpoint import load_checkpoint
    from asr.tokenizer import tokenizer_from_dict

    return tokenizer_from_dict(load_checkpoint(path)["tokenizer"])


def report(source: str | Path, tokenizer: Tokenizer | None = None, tolerance: float = 0.1,
           max_problems: int = 0) -> int:
    """Print every problem (or the first `max_problems`) and a summary; returns the number of problems."""
    problems, stats = check(source, tokenizer, tolerance)
    for line in problems[: max_problems or None]:
        print(line)
    if max_problems and len(problems) > max_problems:
        print(f"... and {len(problems) - max_problems} more")
    rates = ", ".join(f"{sr} Hz x {n}" for sr, n in sorted(stats["sample_rates"].items())) or "-"
    channels = ", ".join(f"{c} ch x {n}" for c, n in sorted(stats["channels"].items())) or "-"
    verdict = f"{len(problems)} problem(s)" if problems else "OK"
    print(f"{source}: {stats['utterances']} utterances, {stats['seconds'] / 3600:.2f} h; "
          f"sample rates: {rates}; channels: {channels}: {verdict}", file=sys.stderr if problems else sys.stdout)
    return len(problems)


def validate_data(cfg) -> int:
    """Hydra entry (conf/validate.yaml): check `cfg.source`; returns the number of problems."""
    from omegaconf import OmegaConf

    if OmegaConf.is_missing(cfg, "source"):
        raise ValidateError("set source=... (a JSONL manifest or a Kaldi data dir; see conf/validate.yaml)")
    if not isinstance(cfg.tolerance, (int, float)) or cfg.tolerance < 0:
        raise ValidateError(f"tolerance={cfg.tolerance!r} must be a number of seconds >= 0")
    return report(cfg.source, _tokenizer_from_checkpoint(cfg.checkpoint), cfg.tolerance, cfg.max_problems)


def main(argv: list[str] | None = None) -> int:
    """`asr-validate SOURCE [--checkpoint CKPT] [--tolerance S]`: exit status 1 when any problem is found."""
    p = argparse.ArgumentParser(prog="asr-validate", description="Check a JSONL manifest or a Kaldi data dir.")
    p.add_argument("source", help="JSONL manifest or Kaldi data dir (wav.scp, text, utt2spk, segments)")
    p.add_argument("--checkpoint", help="check transcripts against this model's tokenizer (default: characters)")
    p.add_argument("--tolerance", type=float, default=0.1, help="seconds a duration may be off (default: 0.1)")
    p.add_argument("--max-problems", type=int, default=0, help="print at most this many (default: all)")
    args = p.parse_args(argv)
    from asr.checkpoint import CheckpointError

    try:
        n = report(args.source, _tokenizer_from_checkpoint(args.checkpoint), args.tolerance, args.max_problems)
    except (ValidateError, CheckpointError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 1 if n else 0


if __name__ == "__main__":
    sys.exit(main())
