"""`TrainState`: everything a training run must carry over a kill, i.e. what `last.pt` holds.

    last.pt = {**meta, **TrainState.state_dict()}      meta: model_cfg, tokenizer, features, cmvn
    state_dict() = {"model", "optimizer", "sampler": {"epoch", "batch_idx"}, "rng": {"torch", "numpy",
                    "python"[, "cuda"]}, "step", "epoch", "train": {"step", "elapsed", "train_time",
                    "utts_seen", "best_cer", "bad_epochs", "epoch_ckpts", "bad_batches"}}

There is no scheduler object: the learning rate is a function of `step` (and of `elapsed` under a
wall-clock budget), see `asr.train.lr_at`. The data position is the sampler's (epoch, batches of
that epoch already trained on); `epoch` and `train.step` repeat `sampler.epoch` and `step` for
readers of the file. A `last.pt` from before this class (no `train.bad_batches`) loads too.
"""
from __future__ import annotations

import math
import random
from dataclasses import dataclass, field

import numpy as np
import torch

from asr.data import BucketBatchSampler


def rng_state() -> dict:
    """The global RNG states dropout and SpecAugment draw from (torch, numpy, python, CUDA)."""
    state = {"torch": torch.get_rng_state(), "numpy": np.random.get_state(), "python": random.getstate()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    np.random.set_state(state["numpy"])
    random.setstate(state["python"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


@dataclass
class TrainState:
    """Model, optimizer, data position, RNG and the run's bookkeeping; `state_dict` is `last.pt`'s."""

    model: torch.nn.Module  # the bare model (not the DDP wrapper)
    optimizer: torch.optim.Optimizer
    sampler: BucketBatchSampler
    step: int = 0  # optimizer updates so far
    elapsed: float = 0.0  # wall-clock seconds of training, over every resumed run
    train_time: float = 0.0  # seconds spent in training steps (utt/s = utts_seen / train_time)
    utts_seen: int = 0  # over all ranks
    bad_batches: int = 0  # batches skipped for a non-finite loss or gradient
    best_cer: float = math.inf  # lowest dev CER so far (the one best.pt holds)
    bad_epochs: int = 0  # epochs since the dev CER last improved (early stopping)
    epoch_ckpts: list[str] = field(default_factory=list)  # the epoch-N.pt files kept for averaging (names in exp_dir)
    # this process only, not in last.pt (a resumed run starts them afresh)
    loss_ema: float | None = None  # smoothed training loss, for the logs
    bad_in_a_row: int = 0  # consecutive skipped batches (train.max_bad_batches stops training)

    @property
    def epoch(self) -> int:
        """Epochs completed; the one being trained is epoch + 1."""
        return self.sampler.epoch

    def state_dict(self) -> dict:
        return {"model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
                "sampler": self.sampler.state_dict(), "rng": rng_state(), "step": self.step, "epoch": self.epoch,
                "train": {"step": self.step, "elapsed": self.elapsed, "train_time": self.train_time,
                          "utts_seen": self.utts_seen, "best_cer": self.best_cer, "bad_epochs": self.bad_epochs,
                          "epoch_ckpts": self.epoch_ckpts, "bad_batches": self.bad_batches}}

    def load_state_dict(self, state: dict) -> None:
        """Restore from a `state_dict()` (e.g. a `last.pt`); sets the global RNG states too."""
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.sampler.load_state_dict(state["sampler"])
        set_rng_state(state["rng"])
        t = state["train"]
        self.step, self.elapsed, self.train_time, self.utts_seen = t["step"], t["elapsed"], t["train_time"], t["utts_seen"]
        self.best_cer, self.bad_epochs, self.epoch_ckpts = t["best_cer"], t["bad_epochs"], t["epoch_ckpts"]
        self.bad_batches = t.get("bad_batches", 0)
