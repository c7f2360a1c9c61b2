"""Training data: features from the store with CMVN, duration-bucketed (distributed) batches, SpecAugment."""
from __future__ import annotations

import logging
from pathlib import Path

import torch
import torch.nn as nn
import torchaudio
from torch.nn.utils.rnn import pad_sequence
from torch.utils.data import Dataset, Sampler

from asr.features import load_split
from asr.tokenizer import Tokenizer
from asr.errors import ASRError

log = logging.getLogger(__name__)


class DataError(ASRError, ValueError):
    """Missing or unusable training data; the message names the folder or split."""


class FeatureDataset(Dataset):
    """Utterances held in memory as float16 log-mels; items are CMVN-normalized float32."""

    def __init__(self, ids: list[str], feats: list[torch.Tensor], texts: list[str], tokenizer: Tokenizer,
                 cmvn: dict | None = None):
        self.ids, self.feats, self.texts = ids, feats, texts
        self.targets = [torch.tensor(tokenizer.encode(t), dtype=torch.long) for t in texts]
        self.lengths = [int(f.shape[0]) for f in feats]
        self.mean = cmvn["mean"].float() if cmvn is not None else None
        self.std = cmvn["std"].float() if cmvn is not None else None
        self.skipped = 0  # utterances of the split left out by from_store

    @classmethod
    def from_store(cls, features_dir: str | Path, split: str, tokenizer: Tokenizer,
                   cmvn: dict | None = None, max_frames: int = 0) -> "FeatureDataset":
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
                      tokenizer, cmvn)
        dataset.skipped = len(d["ids"]) - len(keep)
        return dataset

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, i: int) -> dict:
        x = self.feats[i].float()  # [T, F]
        if self.mean is not None:
            x = (x - self.mean) / self.std
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
    mid-epoch (`load_state_dict`), which is how training resumes after a kill.
    """

    def __init__(self, lengths: list[int], max_frames: int, max_utts: int = 0, shuffle: bool = True,
                 seed: int = 0, rank: int = 0, world_size: int = 1):
        if max_frames <= 0:
            raise DataError(f"train.max_frames={max_frames} must be > 0")
        self.lengths, self.max_frames, self.max_utts = lengths, max_frames, max_utts
        self.shuffle, self.seed, self.rank, self.world_size = shuffle, seed, rank, world_size
        self.epoch, self.batch_idx = 0, 0
        self._cache: tuple[int, list[list[int]]] | None = None

    def batches(self, epoch: int) -> list[list[int]]:
        if self._cache is not None and self._cache[0] == epoch:
            return self._cache[1]
        n = len(self.lengths)
        g = torch.Generator().manual_seed(self.seed + epoch)
        jitter = 1 + 0.2 * (torch.rand(n, generator=g) - 0.5) if self.shuffle else torch.ones(n)
        order = sorted(range(n), key=lambda i: self.lengths[i] * float(jitter[i]))
        batches, cur, cur_max = [], [], 0
        for i in order:
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
