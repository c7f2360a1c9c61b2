"""Audio I/O: read wav/flac/ogg/mp3 with soundfile, mix down to mono, resample.

soundfile (libsndfile >= 1.1) reads all four formats with no system FFmpeg, which
`torchaudio.load` needs since torchaudio 2.9. Every failure is an `AudioError` naming the file.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Iterator, NamedTuple

import numpy as np
import soundfile as sf
import torch
import torchaudio

from asr.errors import ASRError


class AudioError(ASRError, ValueError):
    """An audio file that cannot be used: missing, unreadable, empty or with NaN/inf samples."""


class AudioInfo(NamedTuple):
    sample_rate: int
    frames: int
    channels: int
    duration: float  # seconds


def _open(path: str | Path) -> sf.SoundFile:
    path = Path(path)
    if not path.is_file():
        raise AudioError(f"{path}: no such audio file")
    try:
        return sf.SoundFile(path)
    except (sf.LibsndfileError, RuntimeError, TypeError) as e:
        # e.g. "Format not recognised", "File contains data in an unknown format"
        reason = getattr(e, "error_string", None) or str(e)
        raise AudioError(f"{path}: not a readable audio file ({reason})") from None


def audio_info(path: str | Path) -> AudioInfo:
    """(sample_rate, frames, channels, duration) from the header only."""
    with _open(path) as f:
        return AudioInfo(f.samplerate, f.frames, f.channels, f.frames / f.samplerate)


def _to_mono_tensor(data: np.ndarray, path: str | Path, orig_sr: int, sample_rate: int) -> torch.Tensor:
    """[frames, channels] float32 -> mono [samples] at `sample_rate`; rejects NaN/inf."""
    if not np.isfinite(data).all():
        raise AudioError(f"{path}: audio contains NaN or inf samples")
    wave = torch.from_numpy(data.mean(axis=1, dtype=np.float32))  # [frames, C] -> [frames]
    if orig_sr != sample_rate:
        wave = torchaudio.functional.resample(wave, orig_sr, sample_rate)
    return wave.contiguous()


def load_audio(path: str | Path, sample_rate: int = 16000, offset: float = 0.0,
               duration: float | None = None) -> torch.Tensor:
    """Read an audio file as mono float32 [samples] at `sample_rate`.

    `offset`/`duration` (seconds) read one segment (Kaldi `segments`, manifest `offset`).
    """
    with _open(path) as f:
        orig_sr = f.samplerate
        start = int(round(offset * orig_sr))
        frames = -1 if duration is None else int(round(duration * orig_sr))
        if start >= f.frames > 0:
            raise AudioError(f"{path}: offset {offset:g}s is past the end ({f.frames / orig_sr:g}s)")
        try:
            if start:
                f.seek(start)
            data = f.read(frames, dtype="float32", always_2d=True)  # [frames, channels]
        except (sf.LibsndfileError, RuntimeError) as e:
            raise AudioError(f"{path}: cannot decode audio ({e})") from None
    if data.shape[0] == 0:
        where = f" at offset {offset:g}s" if offset else ""
        raise AudioError(f"{path}: no audio samples{where}")
    return _to_mono_tensor(data, path, orig_sr, sample_rate)


def iter_audio_chunks(path: str | Path, chunk_seconds: float, overlap_seconds: float = 0.0,
                      sample_rate: int = 16000) -> Iterator[tuple[float, torch.Tensor]]:
    """Stream a long file as (start_seconds, mono chunk [samples] at `sample_rate`).

    Chunks are `chunk_seconds` long (the last one may be shorter) and consecutive chunks share
    `overlap_seconds`; only one block of the source is in memory at a time. Each block is
    resampled on its own, so the first and last few samples of a block carry resampling edge
    effects: use some overlap when the seams matter.
    """
    if not 0 <= overlap_seconds < chunk_seconds:
        raise ValueError(f"need 0 <= overlap_seconds < chunk_seconds, got {overlap_seconds} and {chunk_seconds}")
    with _open(path) as f:
        orig_sr = f.samplerate
        block = max(1, int(round(chunk_seconds * orig_sr)))
        overlap = int(round(overlap_seconds * orig_sr))
        if f.frames == 0:
            raise AudioError(f"{path}: no audio samples")
        start = 0
        try:
            for data in f.blocks(blocksize=block, overlap=overlap, dtype="float32", always_2d=True):
                yield start / orig_sr, _to_mono_tensor(data, path, orig_sr, sample_rate)
                start += block - overlap
        except (sf.LibsndfileError, RuntimeError) as e:
            raise AudioError(f"{path}: cannot decode audio ({e})") from None


def num_chunks(frames: int, sample_rate: int, chunk_seconds: float, overlap_seconds: float = 0.0) -> int:
    """How many chunks `iter_audio_chunks` yields for a file of `frames` samples at `sample_rate`."""
    block = max(1, int(round(chunk_seconds * sample_rate)))
    step = block - int(round(overlap_seconds * sample_rate))
    return 0 if frames == 0 else 1 + max(0, math.ceil((frames - block) / step))
