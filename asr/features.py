"""Log-mel features, global CMVN and the sharded feature store.

Store layout (ARCHITECTURE.md), under `cfg.features.dir`:
    <split>/shard-00000.pt   torch.save dict: ids, feats [T, F] float16 (raw log-mel), texts,
                             speakers, durations, augment (per utterance: the record of the
                             augmentations that made the copy, {} for an original; asr/augment.py);
                             `shard_size` utterances per shard
    cmvn.pt                  {"mean": [F], "std": [F], "frames": int} over the train split
    features.json            the FeatureExtractor config (+ how the store was made); written last,
                             so a store without it is incomplete
"""
from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import sys
import time
from pathlib import Path
from typing import Mapping

import torch
import torchaudio
from omegaconf import OmegaConf
from tqdm import tqdm

from asr.audio import AudioError, load_audio
from asr.augment import AugmentError, Augmenter, check_config, speed_perturb
from asr.manifest import read_manifest
from asr.progress import progress
from asr.errors import ASRError

KINDS = ("fbank", "mel")
CONFIG_KEYS = ("kind", "num_mel_bins", "frame_length_ms", "frame_shift_ms", "dither", "sample_rate")
SHARD_KEYS = ("ids", "feats", "texts", "speakers", "durations", "augment")


class FeatureError(ASRError, ValueError):
    """Bad feature config, missing store or manifest, or audio too short for one frame."""


class FeatureExtractor:
    """wave [samples] float32 at `sample_rate` -> log-mel features [T, num_mel_bins].

    kind=fbank: `torchaudio.compliance.kaldi.fbank` (Kaldi's povey window, snip_edges).
    kind=mel: `torchaudio.transforms.MelSpectrogram` + log, with the same window and hop
    (n_fft = window rounded up to a power of two, as Kaldi does; no centre padding).
    The waveform is used as read, in [-1, 1]; `dither` is in those units.
    `warp` (VTLP, asr/augment.py) warps the mel filterbank's frequencies piecewise-linearly as Kaldi's
    VTLN does (`torchaudio.compliance.kaldi.vtln_warp_freq`, between 100 Hz and Nyquist - 500 Hz).
    """

    def __init__(self, kind: str = "fbank", num_mel_bins: int = 80, frame_length_ms: float = 25.0,
                 frame_shift_ms: float = 10.0, dither: float = 0.0, sample_rate: int = 16000):
        if kind not in KINDS:
            raise FeatureError(f"features.kind={kind!r} is not one of: {', '.join(KINDS)}")
        for key, value in (("num_mel_bins", num_mel_bins), ("sample_rate", sample_rate)):
            if not isinstance(value, int) or value <= 0:
                raise FeatureError(f"features.{key}={value!r} must be a positive integer")
        for key, value in (("frame_length_ms", frame_length_ms), ("frame_shift_ms", frame_shift_ms)):
            if not isinstance(value, (int, float)) or value <= 0:
                raise FeatureError(f"features.{key}={value!r} must be a positive number")
        if not isinstance(dither, (int, float)) or dither < 0:
            raise FeatureError(f"features.dither={dither!r} must be a number >= 0")
        self.kind, self.num_mel_bins, self.dither, self.sample_rate = kind, num_mel_bins, float(dither), sample_rate
        self.frame_length_ms, self.frame_shift_ms = float(frame_length_ms), float(frame_shift_ms)
        self.win_length = int(sample_rate * self.frame_length_ms / 1000)  # samples
        self.hop_length = int(sample_rate * self.frame_shift_ms / 1000)
        self.n_fft = 1 << (self.win_length - 1).bit_length()
        if kind == "mel":
            self.mel = torchaudio.transforms.MelSpectrogram(
                sample_rate, n_fft=self.n_fft, win_length=self.win_length, hop_length=self.hop_length,
                n_mels=num_mel_bins, center=False, power=2.0)

    @classmethod
    def from_config(cls, config: Mapping) -> "FeatureExtractor":
        """Build from a config mapping (cfg.features or features.json); other keys are ignored."""
        return cls(**{k: config[k] for k in CONFIG_KEYS if k in config})

    def to_config(self) -> dict:
        return {k: getattr(self, k) for k in CONFIG_KEYS}

    @property
    def dim(self) -> int:
        return self.num_mel_bins

    block_frames = 6000  # long audio is computed a minute (at a 10 ms hop) at a time

    def __call__(self, wave: torch.Tensor, warp: float = 1.0) -> torch.Tensor:
        min_samples = self.win_length if self.kind == "fbank" else self.n_fft  # the samples of one frame
        if wave.dim() != 1 or wave.numel() < min_samples:
            raise FeatureError(f"need a 1-d waveform of at least {min_samples} samples (one frame), "
                               f"got shape {tuple(wave.shape)}")
        frames, hop = 1 + (wave.numel() - min_samples) // self.hop_length, self.hop_length
        if frames > self.block_frames:
            # every frame depends on its own samples only, so block by block gives the same features (up
            # to float rounding), and memory holds one block's windows (all at once: ~3 GB per hour)
            return torch.cat([self._frames(wave[f0 * hop:(min(f0 + self.block_frames, frames) - 1) * hop + min_samples],
                                           warp) for f0 in range(0, frames, self.block_frames)])
        return self._frames(wave, warp)

    def _frames(self, wave: torch.Tensor, warp: float = 1.0) -> torch.Tensor:
        if self.kind == "fbank":
            return torchaudio.compliance.kaldi.fbank(
                wave.unsqueeze(0), num_mel_bins=self.num_mel_bins, frame_length=self.frame_length_ms,
                frame_shift=self.frame_shift_ms, dither=self.dither, sample_frequency=self.sample_rate,
                vtln_warp=warp)
        if self.dither:
            wave = wave + self.dither * torch.randn_like(wave)
        if warp == 1.0:
            return self.mel(wave).clamp_min(1e-10).log().T  # [F, T] -> [T, F]
        power = self.mel.spectrogram(wave)  # [n_fft/2+1, T]
        return (power.T @ self._warped_filterbank(warp)).clamp_min(1e-10).log()  # [T, F]

    def _warped_filterbank(self, warp: float) -> torch.Tensor:
        """The mel filterbank [n_fft/2+1, F] with its filters moved from f to ~f / warp, as kaldi.fbank's
        vtln_warp does: each FFT bin f reads the unwarped filters at ~f * warp (linear interpolation)."""
        fb, nyquist = self.mel.mel_scale.fb, self.sample_rate / 2
        freqs = torch.linspace(0, nyquist, fb.shape[0])
        warped = torchaudio.compliance.kaldi.vtln_warp_freq(100.0, nyquist - 500.0, 0.0, nyquist, 1 / warp, freqs)
        pos = (warped / nyquist * (fb.shape[0] - 1)).clamp(0, fb.shape[0] - 1)
        lo = pos.floor().long()
        hi, frac = (lo + 1).clamp_max(fb.shape[0] - 1), (pos - lo)[:, None]
        return fb[lo] * (1 - frac) + fb[hi] * frac


class GlobalCMVN:
    """Per-bin mean and standard deviation over every frame of a split (float64 sums)."""

    def __init__(self, dim: int, std_floor: float = 1e-2):
        self.sum = torch.zeros(dim, dtype=torch.float64)
        self.sum_sq = torch.zeros(dim, dtype=torch.float64)
        self.frames = 0
        self.std_floor = std_floor

    def accumulate(self, feats: torch.Tensor) -> None:
        feats = feats.double()  # [T, F]
        self.sum += feats.sum(0)
        self.sum_sq += feats.square().sum(0)
        self.frames += feats.shape[0]

    @property
    def mean(self) -> torch.Tensor:
        return (self.sum / max(self.frames, 1)).float()

    @property
    def std(self) -> torch.Tensor:
        mean = self.sum / max(self.frames, 1)
        var = self.sum_sq / max(self.frames, 1) - mean.square()
        return var.clamp_min(0).sqrt().clamp_min(self.std_floor).float()

    def normalize(self, feats: torch.Tensor) -> torch.Tensor:
        return CMVN(self.mean, self.std)(feats)

    def state_dict(self) -> dict:
        return {"mean": self.mean, "std": self.std, "frames": self.frames}

    @classmethod
    def from_state_dict(cls, state: Mapping) -> "GlobalCMVN":
        mean, std = state["mean"].double(), state["std"].double()
        cmvn = cls(mean.numel())
        cmvn.frames = int(state.get("frames", 1)) or 1
        cmvn.sum = mean * cmvn.frames
        cmvn.sum_sq = (std.square() + mean.square()) * cmvn.frames
        return cmvn


CMVN_MODES = ("global", "utterance_mean", "utterance")


class CMVN:
    """Feature normalization as training, decoding and transcription apply it: `cmvn(feats, lengths)`
    is the one place features are normalized.

    mode "global": (feats - mean) / std with one mean and std [F] for every frame (the train split's,
    `GlobalCMVN`, kept in the checkpoint as {"mean", "std"}).
    mode "utterance_mean" (`train.cmvn`): the global normalization, then each utterance's own mean
    over its valid frames (the first `lengths[b]`; all of a [T, F] input) subtracted, as Kaldi's
    per-utterance `apply-cmvn --norm-vars=false`: a fixed spectral tilt of a voice or channel is
    removed. mode "utterance": the same, then each utterance's own standard deviation per bin divided out
    (`--norm-vars=true`; floored at 1e-2 of the global scale). The checkpoint's entry names the mode
    ({"mean", "std", "mode"}; no "mode": global).
    A new mode is one more name in `CMVN_MODES` and one more branch of `__call__`.
    """

    def __init__(self, mean: torch.Tensor, std: torch.Tensor, mode: str = "global"):
        if mode not in CMVN_MODES:
            raise FeatureError(f"cmvn mode={mode!r} is not one of: {', '.join(CMVN_MODES)}")
        self.mean, self.std, self.mode = mean.float(), std.float(), mode  # [F]

    @classmethod
    def from_dict(cls, stats: Mapping) -> "CMVN":
        """From a checkpoint's "cmvn" entry or cmvn.pt: {"mean", "std"[, "mode"]} (no mode: global)."""
        return cls(torch.as_tensor(stats["mean"]), torch.as_tensor(stats["std"]), stats.get("mode", "global"))

    def to(self, device: torch.device | str) -> "CMVN":
        return CMVN(self.mean.to(device), self.std.to(device), self.mode)

    def __call__(self, feats: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """feats [T, F] or [B, T, F] (padded; lengths [B], None: all T) -> float32, same shape."""
        x = (feats.float() - self.mean) / self.std
        if self.mode in ("utterance_mean", "utterance"):
            x = x - utterance_mean(x, lengths)
        if self.mode == "utterance":  # x has zero mean per utterance now: its RMS is the std
            x = x / utterance_mean(x * x, lengths).sqrt().clamp(min=1e-2)
        return x


def utterance_mean(x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
    """Each utterance's mean over its valid frames: x [T, F] -> [1, F]; x [B, T, F], lengths [B] -> [B, 1, F]."""
    if x.dim() == 2:
        return x.mean(0, keepdim=True)
    if lengths is None:
        return x.mean(1, keepdim=True)
    valid = (torch.arange(x.shape[1], device=x.device)[None, :] < lengths.to(x.device)[:, None])[..., None]  # [B, T, 1]
    return (x * valid).sum(1, keepdim=True) / lengths.to(x.device).clamp(min=1)[:, None, None]


def shard_path(store: str | Path, split: str, index: int) -> Path:
    return Path(store) / split / f"shard-{index:05d}.pt"


def write_shard(path: Path, shard: dict) -> str:
    """torch.save to a temporary name, then rename: a shard on disk is always complete."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    torch.save(shard, tmp)
    os.replace(tmp, path)
    return path.name


def load_split(store: str | Path, split: str) -> dict[str, list]:
    """Every shard of one split, concatenated: {"ids", "feats", "texts", "speakers", "durations",
    "augment"} (a store written before augmentation records gets {} for every utterance)."""
    shards = sorted((Path(store) / split).glob("shard-*.pt"))
    if not shards:
        raise FeatureError(f"{Path(store) / split}: no feature shards (run recipes/extract_features.py)")
    out = {k: [] for k in SHARD_KEYS}
    for path in shards:
        try:
            shard = torch.load(path, weights_only=True)
            for k in SHARD_KEYS:
                out[k].extend(shard[k] if k in shard or k != "augment" else [{}] * len(shard["ids"]))
        except Exception as e:  # torch raises many kinds (pickle, zip, EOF, KeyError) for a bad file
            raise FeatureError(f"{path}: unreadable feature shard ({type(e).__name__}: {e}); "
                               "delete it and rerun recipes/extract_features.py") from None
    return out


def load_cmvn(store: str | Path) -> GlobalCMVN:
    path = Path(store) / "cmvn.pt"
    if not path.is_file():
        raise FeatureError(f"{path}: no CMVN statistics (run recipes/extract_features.py)")
    return GlobalCMVN.from_state_dict(torch.load(path, weights_only=True))


# --- extraction ------------------------------------------------------------------------------
# set by _init_worker in each process that extracts
_extractor: FeatureExtractor | None = None
_augmenter: Augmenter | None = None
_babble_rows: list[dict] = []  # the train rows babble noise is mixed from


def _init_worker(config: dict, augment: dict | None = None, rirs: tuple | None = None,
                 babble_rows: list[dict] | None = None) -> None:
    global _extractor, _augmenter, _babble_rows
    # One utterance is too small a job to split between threads: 1 thread is several times faster.
    torch.set_num_threads(1)
    _extractor = FeatureExtractor.from_config(config)
    _augmenter = Augmenter(augment, _extractor.sample_rate, rirs) if augment is not None else None
    _babble_rows = babble_rows or []


def _load(row: dict, sr: int) -> torch.Tensor:
    if "offset" in row:
        return load_audio(row["audio"], sr, offset=row["offset"], duration=row["duration"])
    return load_audio(row["audio"], sr)


def _others(own_id: str):
    """others(rng, k) for babble: k other train utterances, (id, wave)."""
    def pick(rng, k: int) -> list[tuple[str, torch.Tensor]]:
        candidates = [i for i in rng.choice(len(_babble_rows), min(k + 1, len(_babble_rows)), replace=False)
                      if _babble_rows[i]["id"] != own_id][:k]
        return [(_babble_rows[i]["id"], _load(_babble_rows[i], _extractor.sample_rate)) for i in candidates]
    return pick


def _extract_one(job: tuple[dict, float, int]) -> tuple[torch.Tensor | None, float, str, dict]:
    """(manifest row, speed factor, augmented copy or 0) -> (feats [T, F] float16 or None, seconds,
    error message, augmentation record)."""
    row, factor, copy = job
    sr = _extractor.sample_rate
    try:
        wave = _load(row, sr)
        record = {"speed": factor} if factor != 1.0 else {}
        wave = speed_perturb(wave, sr, factor)
        if copy:
            wave, record = _augmenter(wave, row["id"], copy, _others(row["id"]))
        return _extractor(wave, warp=record.get("vtlp", 1.0)).half(), wave.numel() / sr, "", record
    except AudioError as e:  # names the file already
        return None, 0.0, str(e), {}
    except FeatureError as e:
        return None, 0.0, f"{row['audio']}: {e}", {}


def _utt_id(row: dict, factor: float, copy: int) -> str:
    if copy:
        return f"{row['id']}-aug{copy}"
    return row["id"] if factor == 1.0 else f"{row['id']}-sp{factor:g}"


def _sha1(path: Path) -> str:
    return hashlib.sha1(path.read_bytes()).hexdigest()


def _store_augment(augment: dict) -> dict:
    """The part of an augment config that makes the store's copies (augment.online acts in the training loader)."""
    return {k: v for k, v in augment.items() if k != "online"}


def _is_complete(store: Path, plan: dict) -> dict | None:
    """The saved features.json when the store was made by `plan` and every file is there."""
    try:
        meta = json.loads((store / "features.json").read_text())
    except (OSError, ValueError):
        return None
    made = dict(meta.get("extraction") or {})
    if isinstance(made.get("augment"), dict):  # stores written before augment.online left the plan
        made["augment"] = _store_augment(made["augment"])
    if made != plan or not (store / "cmvn.pt").is_file():
        return None
    for split, info in meta["summary"]["splits"].items():
        if not all((store / split / name).is_file() for name in info["shards"]):
            return None
    return meta


def _print_summary(summary: dict) -> None:
    print(f"features -> {summary['dir']}")
    for split, s in summary["splits"].items():
        print(f"  {split:<12} {s['utterances']:>8,} utts {s['hours']:>8.2f} h {s['frames']:>12,} frames "
              f"{len(s['shards']):>4} shards {s['skipped']:>5} skipped")
        if s.get("augmented"):
            print(f"  {'':<12} {s['augmented']:>8,} augmented copies: "
                  + ", ".join(f"{e} {n}" for e, n in s["effects"].items()))
    print(f"  {'total':<12} {summary['utterances']:>8,} utts {summary['hours']:>8.2f} h {summary['frames']:>12,} "
          f"frames in {summary['seconds']:.1f} s: {summary['frames_per_second']:,.0f} frames/s, "
          f"{summary['skipped']} skipped")


def _check_config(fcfg) -> list[float]:
    """Validate the extraction keys of cfg.features; returns the speed factors."""
    factors = [float(f) for f in fcfg.speed_perturb] or [1.0]
    if any(f <= 0 or round(f, 2) != f for f in factors):  # 2 decimals keep the resampling ratio small (e.g. 9/10)
        raise FeatureError(f"features.speed_perturb={factors} must hold positive factors with at most 2 decimals")
    if not isinstance(fcfg.shard_size, int) or fcfg.shard_size <= 0:
        raise FeatureError(f"features.shard_size={fcfg.shard_size!r} must be a positive integer")
    if not isinstance(fcfg.num_workers, int) or fcfg.num_workers < 0:
        raise FeatureError(f"features.num_workers={fcfg.num_workers!r} must be an integer >= 0")
    return factors


def _augment_config(cfg) -> dict | None:
    """cfg.augment as a plain dict when it makes copies (augment.copies > 0 and some prob > 0), else None;
    a config without an `augment` group (e.g. the train or demo config) makes none."""
    acfg = cfg.get("augment") if hasattr(cfg, "get") else None
    if acfg is None:
        return None
    acfg = OmegaConf.to_container(acfg, resolve=True) if OmegaConf.is_config(acfg) else dict(acfg)
    try:
        return acfg if check_config(acfg) and acfg["copies"] > 0 else None
    except AugmentError as e:  # the recipes report FeatureError in one line
        raise FeatureError(str(e)) from None


def _write_split(store: Path, split: str, jobs: list, results, shard_size: int, cmvn: GlobalCMVN | None) -> dict:
    """Consume one split's (job, result) pairs into shards; returns the split's stats."""
    for old in (store / split).glob("shard-*"):
        old.unlink()
    stats = {"utterances": 0, "hours": 0.0, "frames": 0, "skipped": 0, "shards": [], "augmented": 0, "effects": {}}
    shard = {k: [] for k in SHARD_KEYS}
    for (row, factor, copy), (feats, seconds, error, record) in progress(
            zip(jobs, results), total=len(jobs), desc=split, unit="utt", dynamic_ncols=True):
        if feats is None:
            tqdm.write(f"warning: skipped {_utt_id(row, factor, copy)}: {error}", file=sys.stderr)
            stats["skipped"] += 1
            continue
        for key, value in zip(SHARD_KEYS, (_utt_id(row, factor, copy), feats, row["text"], row["speaker"],
                                           round(seconds, 4), record)):
            shard[key].append(value)
        stats["utterances"] += 1
        stats["hours"] += seconds / 3600
        stats["frames"] += feats.shape[0]
        if copy:
            stats["augmented"] += 1
            for effect in record:
                stats["effects"][effect] = stats["effects"].get(effect, 0) + 1
        if cmvn is not None:
            cmvn.accumulate(feats)
        if len(shard["ids"]) == shard_size:
            stats["shards"].append(write_shard(shard_path(store, split, len(stats["shards"])), shard))
            shard = {k: [] for k in SHARD_KEYS}
    if shard["ids"] or not stats["shards"]:  # an all-skipped split still gets one (empty) shard
        stats["shards"].append(write_shard(shard_path(store, split, len(stats["shards"])), shard))
    return stats


def extract_features(cfg) -> dict:
    """Extract features for every manifest in `cfg.features.manifests` into `cfg.features.dir`.

    CMVN statistics come from `cfg.features.train_split` (every copy), which alone gets
    speed-perturbed copies (`cfg.features.speed_perturb`, e.g. [0.9, 1.0, 1.1]; ids get `-sp0.9`)
    and `cfg.augment.copies` augmented copies (asr/augment.py; ids get `-aug1`, ...); each
    utterance's augmentation record is stored in its shard ("augment") and the per-effect counts
    in features.json. Skips the work when features.json shows the same config and manifests and
    every shard exists. Unreadable audio is skipped with a one-line warning and counted.
    Returns the summary.
    """
    fcfg = cfg.features
    extractor = FeatureExtractor.from_config(fcfg)
    store = Path(fcfg.dir)
    manifests = {str(split): Path(path) for split, path in fcfg.manifests.items()}
    train_split = fcfg.train_split
    if train_split not in manifests:
        raise FeatureError(f"features.train_split={train_split!r} is not a key of features.manifests "
                           f"({', '.join(manifests)})")
    factors = _check_config(fcfg)
    augment = _augment_config(cfg)
    for split, path in manifests.items():
        if not path.is_file():
            raise FeatureError(f"{path}: no manifest for split {split!r} (build the corpus or import the data first)")

    plan = {"features": extractor.to_config(), "train_split": train_split, "speed_perturb": factors,
            "shard_size": fcfg.shard_size,
            "manifests": {split: {"path": str(path.absolute()), "sha1": _sha1(path)}
                          for split, path in manifests.items()}}
    if augment is not None:
        plan["augment"] = _store_augment(augment)
    meta = _is_complete(store, plan)
    if meta is not None:
        print(f"features in {store} are up to date with this config: nothing to do")
        return {**meta["summary"], "cached": True}
    (store / "features.json").unlink(missing_ok=True)

    train_rows = read_manifest(manifests[train_split])
    rirs = Augmenter(augment, extractor.sample_rate).rirs if augment is not None else None  # made once, shared
    init = (extractor.to_config(), augment, rirs, train_rows if augment is not None else None)
    num_workers = fcfg.num_workers
    pool = multiprocessing.Pool(num_workers, _init_worker, init) if num_workers > 0 else None
    threads = torch.get_num_threads()
    _init_worker(*init)  # this process too (restored below)
    cmvn = GlobalCMVN(extractor.dim)
    summary = {"dir": str(store), "splits": {}}
    start = time.time()
    try:
        for split, path in manifests.items():
            rows = train_rows if split == train_split else read_manifest(path)
            copies = augment["copies"] if augment is not None and split == train_split else 0
            jobs = [(row, f, 0) for row in rows for f in (factors if split == train_split else [1.0])]
            jobs += [(row, 1.0, c) for row in rows for c in range(1, copies + 1)]
            results = pool.imap(_extract_one, jobs, chunksize=8) if pool else map(_extract_one, jobs)
            summary["splits"][split] = _write_split(store, split, jobs, results, fcfg.shard_size,
                                                    cmvn if split == train_split else None)
    finally:
        torch.set_num_threads(threads)
        if pool is not None:
            pool.terminate()
    if cmvn.frames == 0:
        raise FeatureError(f"split {train_split!r} ({manifests[train_split]}) gave no usable utterances")
    torch.save(cmvn.state_dict(), store / "cmvn.pt.tmp")
    os.replace(store / "cmvn.pt.tmp", store / "cmvn.pt")

    seconds = time.time() - start
    totals = {k: sum(s[k] for s in summary["splits"].values()) for k in ("utterances", "hours", "frames", "skipped")}
    summary.update(totals, seconds=round(seconds, 2), frames_per_second=totals["frames"] / max(seconds, 1e-9),
                   num_workers=num_workers)
    meta = {**extractor.to_config(), "extraction": plan, "summary": summary}
    (store / "features.json.tmp").write_text(json.dumps(meta, indent=1))
    os.replace(store / "features.json.tmp", store / "features.json")
    _print_summary(summary)
    return summary
