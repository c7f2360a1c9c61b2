"""Training data: features from the store with CMVN, duration-bucketed (distributed) batches, SpecAugment,
and on-the-fly augmentation of the stored features (VTLP), drawn anew every epoch."""
from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Callable, Mapping

import torch
import torch.nn as nn
import torchaudio
from torch.nn.utils.rnn import pad_sequence
from torch.utils.data import Dataset, Sampler

from asr.features import CMVN, load_split
from asr.tokenizer import Tokenizer
from asr.errors import ASRError

log = logging.getLogger(__name__)


class DataError(ASRError, ValueError):
    """Missing or unusable training data; the message names the folder or split."""


# augment(raw log-mels [T, F] float32, generator) -> [T, F]: on the fly, before CMVN
FeatureAugmentFn = Callable[[torch.Tensor, torch.Generator], torch.Tensor]


class FeatureDataset(Dataset):
    """Utterances held in memory as float16 log-mels; items are CMVN-normalized float32.

    `augment` (e.g. `OnlineAugment`) changes an item's raw log-mels before CMVN with a generator
    seeded from (augment_seed, epoch, index) only, so an epoch's items are the same in any order,
    process or resumed run; the training loop calls `set_epoch` every epoch.
    """

    def __init__(self, ids: list[str], feats: list[torch.Tensor], texts: list[str], tokenizer: Tokenizer,
                 cmvn: dict | None = None, augment: FeatureAugmentFn | None = None, augment_seed: int = 0):
        self.ids, self.feats, self.texts = ids, feats, texts
        self.speakers: list[str] | None = None  # from the store (from_store), for train.oversample
        self.augment, self.augment_seed, self.epoch = augment, augment_seed, 0
        self.targets = [torch.tensor(tokenizer.encode(t), dtype=torch.long) for t in texts]
        self.lengths = [int(f.shape[0]) for f in feats]
        self.cmvn = CMVN.from_dict(cmvn) if cmvn is not None else None
        self.skipped = 0  # utterances of the split left out by from_store

    @classmethod
    def from_store(cls, features_dir: str | Path, split: str, tokenizer: Tokenizer,
                   cmvn: dict | None = None, max_frames: int = 0, augment: FeatureAugmentFn | None = None,
                   augment_seed: int = 0) -> "FeatureDataset":
        """Every shard of `split`; utterances with characters outside the tokenizer, or longer than
        `max_frames` (> 0), are skipped with a warning each and counted in `dataset.skipped`."""
        split_dir = Path(features_dir) / split
        if not split_dir.is_dir() or not any(split_dir.glob("shard-*.pt")):
            raise DataError(f"no feature shards in {split_dir}: run recipes/extract_features.py first")
        d = load_split(features_dir, split)
        if not d["ids"]:
            raise DataError(f"split {split!r} in {features_dir} has no utterances")
        # an utterance we cannot train on is skipped with one warning line, never trained on as
        # something else: characters the tokenizer would drop, or too long for any batch
        keep = []
        for i, (uid, feats, text) in enumerate(zip(d["ids"], d["feats"], d["texts"])):
            unknown = tokenizer.unknown_chars(text)
            if unknown:
                log.warning("skipped %s (%s): transcript has characters outside the tokenizer: %s", uid, split,
                            " ".join(repr(c) for c in sorted(unknown)))
            elif max_frames and feats.shape[0] > max_frames:
                log.warning("skipped %s (%s): %d frames is more than train.max_frames=%d", uid, split,
                            feats.shape[0], max_frames)
            else:
                keep.append(i)
        if len(keep) < len(d["ids"]):
            log.warning("split %s: skipped %d of %d utterances (see the warnings above)", split,
                        len(d["ids"]) - len(keep), len(d["ids"]))
        if not keep:
            raise DataError(f"split {split!r} in {features_dir} has no usable utterances")
        dataset = cls([d["ids"][i] for i in keep], [d["feats"][i] for i in keep], [d["texts"][i] for i in keep],
                      tokenizer, cmvn, augment, augment_seed)
        dataset.skipped = len(d["ids"]) - len(keep)
        dataset.speakers = [d["speakers"][i] for i in keep]
        return dataset

    def __len__(self) -> int:
        return len(self.ids)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __getitem__(self, i: int) -> dict:
        x = self.feats[i].float()  # [T, F]
        if self.augment is not None:
            g = torch.Generator().manual_seed(((self.augment_seed * 1_000_003 + self.epoch) * 1_000_003 + i) % 2 ** 63)
            x = self.augment(x, g)
        if self.cmvn is not None:
            x = self.cmvn(x)
        return {"id": self.ids[i], "feats": x, "target": self.targets[i], "text": self.texts[i]}


def collate(items: list[dict]) -> dict:
    """Pad to a batch: feats [B, T, F], lengths [B], targets [sum(U)] concatenated, target_lengths [B]."""
    return {
        "ids": [it["id"] for it in items],
        "texts": [it["text"] for it in items],
        "feats": pad_sequence([it["feats"] for it in items], batch_first=True),
        "lengths": torch.tensor([it["feats"].shape[0] for it in items], dtype=torch.long),
        "targets": torch.cat([it["target"] for it in items]),
        "target_lengths": torch.tensor([len(it["target"]) for it in items], dtype=torch.long),
    }


class BucketBatchSampler(Sampler[list[int]]):
    """Batches of similar-length utterances with at most `max_frames` padded frames each.

    The batches of an epoch depend only on (seed, epoch): lengths are jittered by +-10 % and
    sorted, cut into batches, and the batch order is shuffled. Under DDP each rank takes every
    `world_size`-th batch and all ranks get the same number of batches. Iteration can start
    mid-epoch (`load_state_dict`), which is how training resumes after a kill. `repeats[i]`:
    how many times utterance i is in every epoch (default once; `oversample_repeats`).
    """

    def __init__(self, lengths: list[int], max_frames: int, max_utts: int = 0, shuffle: bool = True,
                 seed: int = 0, rank: int = 0, world_size: int = 1, repeats: list[int] | None = None):
        if max_frames <= 0:
            raise DataError(f"train.max_frames={max_frames} must be > 0")
        if repeats is not None and (len(repeats) != len(lengths) or min(repeats, default=1) < 1):
            raise DataError(f"repeats: one count >= 1 per utterance ({len(lengths)}), got {len(repeats)}")
        self.items = [i for i, k in enumerate(repeats) for _ in range(k)] if repeats else list(range(len(lengths)))
        self.lengths, self.max_frames, self.max_utts = lengths, max_frames, max_utts
        self.shuffle, self.seed, self.rank, self.world_size = shuffle, seed, rank, world_size
        self.epoch, self.batch_idx = 0, 0
        self._cache: tuple[int, list[list[int]]] | None = None

    def batches(self, epoch: int) -> list[list[int]]:
        if self._cache is not None and self._cache[0] == epoch:
            return self._cache[1]
        n = len(self.items)
        g = torch.Generator().manual_seed(self.seed + epoch)
        jitter = 1 + 0.2 * (torch.rand(n, generator=g) - 0.5) if self.shuffle else torch.ones(n)
        order = sorted(range(n), key=lambda j: self.lengths[self.items[j]] * float(jitter[j]))
        batches, cur, cur_max = [], [], 0
        for i in (self.items[j] for j in order):
            longest = max(cur_max, self.lengths[i])
            full = longest * (len(cur) + 1) > self.max_frames or (self.max_utts and len(cur) >= self.max_utts)
            if cur and full:
                batches.append(cur)
                cur, longest = [], self.lengths[i]
            cur.append(i)
            cur_max = longest
        if cur:
            batches.append(cur)
        if self.shuffle:
            batches = [batches[j] for j in torch.randperm(len(batches), generator=g).tolist()]
        if self.world_size > 1:
            while len(batches) < self.world_size:  # tiny data: every rank still gets one batch
                batches = batches + batches
            per_rank = len(batches) // self.world_size
            batches = batches[self.rank::self.world_size][:per_rank]
        self._cache = (epoch, batches)
        return batches

    def __len__(self) -> int:
        return len(self.batches(self.epoch))

    def __iter__(self):
        batches = self.batches(self.epoch)
        while self.batch_idx < len(batches):
            self.batch_idx += 1
            yield batches[self.batch_idx - 1]

    def set_epoch(self, epoch: int) -> None:
        self.epoch, self.batch_idx = epoch, 0

    def state_dict(self) -> dict:
        """`batch_idx`: batches of `epoch` already handed out (and trained on)."""
        return {"epoch": self.epoch, "batch_idx": self.batch_idx}

    def load_state_dict(self, state: dict) -> None:
        self.epoch, self.batch_idx = int(state["epoch"]), int(state["batch_idx"])


def oversample_repeats(speakers: list[str], oversample: dict, key: str = "train.oversample") -> list[int] | None:
    """Per utterance, how many times an epoch holds it: `oversample` maps fnmatch patterns on speaker ids
    to whole counts >= 1 (e.g. {"flite-*": 2}); the first matching pattern wins, others stay 1.
    None when `oversample` is empty. A bad count, or a pattern no speaker matches, is an error naming it."""
    from fnmatch import fnmatchcase

    if not oversample:
        return None
    for pattern, k in oversample.items():
        if not isinstance(k, int) or isinstance(k, bool) or k < 1:
            raise DataError(f"{key}.{pattern}={k!r}: a whole number of copies >= 1")
        if not any(fnmatchcase(s, pattern) for s in speakers):
            raise DataError(f"{key}.{pattern}: no training speaker matches (speakers look like {speakers[0]!r})")
    return [next((k for pattern, k in oversample.items() if fnmatchcase(s, pattern)), 1) for s in speakers]


class SpecAugment(nn.Module):
    """Frequency and time masking (torchaudio) on a normalized batch x [B, T, F]; a no-op in eval mode."""

    def __init__(self, freq_masks: int = 2, freq_width: int = 15, time_masks: int = 2, time_width: int = 40,
                 time_max_ratio: float = 0.2):
        super().__init__()
        self.freq = nn.ModuleList(torchaudio.transforms.FrequencyMasking(freq_width, iid_masks=True)
                                  for _ in range(freq_masks))
        self.time = nn.ModuleList(torchaudio.transforms.TimeMasking(time_width, iid_masks=True, p=time_max_ratio)
                                  for _ in range(time_masks))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training:
            return x
        spec = x.transpose(1, 2)  # [B, F, T], the layout torchaudio masks expect
        for mask in [*self.freq, *self.time]:
            spec = mask(spec)
        return spec.transpose(1, 2)


# --- on-the-fly augmentation of stored features ---------------------------------------------
def _mel(f: torch.Tensor) -> torch.Tensor:
    return 1127.0 * torch.log1p(f / 700.0)


def vtlp_source_bins(num_bins: int, warp: float, sample_rate: int = 16000, low_freq: float = 20.0) -> torch.Tensor:
    """For each mel bin [F], the (fractional) bin whose content it shows after a VTLN warp: bin j's
    filter centre c_j moves to c_j / warp in the middle band, as kaldi.fbank(vtln_warp=warp) does
    (torchaudio.compliance.kaldi.vtln_warp_freq, between 100 Hz and Nyquist - 500 Hz)."""
    nyquist = sample_rate / 2
    lo, hi = _mel(torch.tensor(low_freq)), _mel(torch.tensor(nyquist))
    step = (hi - lo) / (num_bins + 1)
    centres_mel = lo + step * torch.arange(1, num_bins + 1)
    centres = 700.0 * torch.expm1(centres_mel / 1127.0)  # Hz
    moved = torchaudio.compliance.kaldi.vtln_warp_freq(100.0, nyquist - 500.0, low_freq, nyquist, warp, centres)
    return ((_mel(moved) - lo) / step - 1).clamp(0, num_bins - 1)


def vtlp_warp(x: torch.Tensor, warp: float, sample_rate: int = 16000) -> torch.Tensor:
    """Log-mels [T, F] as if extracted with a VTLN warp of the filterbank (linear interpolation over bins)."""
    pos = vtlp_source_bins(x.shape[1], warp, sample_rate)
    lo = pos.floor().long()
    hi, frac = (lo + 1).clamp_max(x.shape[1] - 1), pos - lo
    return x[:, lo] * (1 - frac) + x[:, hi] * frac


class OnlineAugment:
    """augment(raw log-mels [T, F], generator) -> [T, F], from `augment.online` (conf/augment/):
    vtlp: with probability `prob`, a warp factor uniform in `warp` (`vtlp_warp`)."""

    def __init__(self, vtlp_prob: float = 0.0, vtlp_range: tuple[float, float] = (0.9, 1.1), sample_rate: int = 16000):
        self.vtlp_prob, self.vtlp_range, self.sample_rate = vtlp_prob, vtlp_range, sample_rate

    @classmethod
    def from_config(cls, online: Mapping | None, sample_rate: int = 16000) -> "OnlineAugment | None":
        """None when nothing is enabled; a bad value raises DataError naming the key."""
        if not online:
            return None
        vtlp = online.get("vtlp") or {}
        prob, warp = vtlp.get("prob", 0.0), list(vtlp.get("warp", [0.9, 1.1]))
        if isinstance(prob, bool) or not isinstance(prob, (int, float)) or not 0 <= prob <= 1:
            raise DataError(f"augment.online.vtlp.prob={prob!r} must be a number in [0, 1]")
        if len(warp) != 2 or not all(isinstance(w, (int, float)) for w in warp) or not 0.7 <= warp[0] <= warp[1] <= 1.3:
            raise DataError(f"augment.online.vtlp.warp={warp!r} must be [low, high] with 0.7 <= low <= high <= 1.3")
        unknown = set(online) - {"vtlp"}
        if unknown:
            raise DataError(f"augment.online.{sorted(unknown)[0]} is not an on-the-fly augmentation (one of: vtlp)")
        return cls(float(prob), (float(warp[0]), float(warp[1])), sample_rate) if prob > 0 else None

    def __call__(self, x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
        u = torch.rand(2, generator=g).tolist()  # both drawn always: one item, one fixed use of the generator
        if u[0] >= self.vtlp_prob:
            return x
        warp = self.vtlp_range[0] + (self.vtlp_range[1] - self.vtlp_range[0]) * u[1]
        return vtlp_warp(x, warp, self.sample_rate) if not math.isclose(warp, 1.0) else x
