"""`train(cfg)`: CTC training of `CTCModel` with resume, DDP, validation, checkpoints and logs.

Layout of `cfg.exp_dir`:
  last.pt          full training state (model, optimizer, schedule, RNG, data position), written
                   every `train.save_every_steps` steps and at the end: rerunning resumes from it
  best.pt          model with the lowest dev CER so far;  avg.pt  mean of the last `avg_last` epochs
  epoch-N.pt       model after epoch N (only the last `avg_last` are kept)
  log.csv, tb/     scalars (CSV and TensorBoard);   curves.png  loss and dev CER/WER plot
Run under `torchrun --nproc_per_node=N` for DDP (gloo on CPU, NCCL on GPU); rank 0 logs and saves.
On CPU `train.processes=N` starts the N gloo ranks itself (`asr/local_ddp.py`), so the recipes need no torchrun.

The stages, in the order `train` runs them:
  check_config, setup_device      the config's values; rank, world size, device (joins DDP)
  read_features, last.pt          the feature store's config and CMVN; the state to resume from
  build_data                      tokenizer, train/dev sets (on-the-fly VTLP), bucketed sampler
  build_state                     seeded model + AdamW in a `TrainState` (asr/training_state.py), resumed
  prepare_run                     DDP wrapper, SpecAugment, exp_dir, log.csv / TensorBoard: a `Run`
  train_one_epoch                 compute_loss, update, log, last.pt every save_every_steps; stops
                                  at `stop_reason` (max_steps, max_minutes) or the epoch's end
  end_of_epoch                    validate, epoch-N.pt, save_best, last.pt, early stopping verdict
  stop_reason                     the one stop condition: early stopping, max_epochs, max_steps, max_minutes
  finish                          validate the final model, save_best, last.pt, averaging, metrics.json
"""
from __future__ import annotations

import csv
import hashlib
import json
import logging
import math
import os
import random
import time
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F
from omegaconf import DictConfig, OmegaConf

from asr.checkpoint import (CheckpointError, average_checkpoints, load_checkpoint, remove_stale_tmp,
                            save_checkpoint)
from asr.data import (BucketBatchSampler, DataError, FeatureDataset, OnlineAugment, SpecAugment, collate,
                      oversample_repeats)
from asr.decode import greedy_decode
from asr.features import CMVN_MODES, FeatureError, load_split
from asr.model import CTCModel, ModelConfig, build_model
from asr.progress import progress as progress_bar  # (a local `progress` below is the schedule fraction)
from asr.rnn import ConfigError
from asr.scoring import wer_cer
from asr.tokenizer import Tokenizer, build_tokenizer, tokenizer_from_dict
from asr.training_state import TrainState, rng_state, set_rng_state
from asr import local_ddp
from asr.errors import ASRError

log = logging.getLogger(__name__)


class TrainError(ASRError, ValueError):
    """Training cannot go on (e.g. repeated NaN/inf batches); the message says why."""


# what the recipe reports as one line; OSError: a full disk or unwritable exp_dir (the message names the file)
TrainErrors = (ConfigError, DataError, CheckpointError, FeatureError, TrainError, OSError)
CSV_FIELDS = ["step", "epoch", "elapsed_s", "lr", "train_loss", "utt_per_s", "dev_loss", "dev_cer", "dev_wer"]


def setup_device(tc: DictConfig) -> tuple[int, int, torch.device]:
    """(rank, world_size, device); joins the process group when started by torchrun."""
    if tc.device not in ("auto", "cpu", "cuda"):
        raise ConfigError(f"train.device={tc.device!r} is not one of: auto, cpu, cuda")
    use_cuda = tc.device == "cuda" or (tc.device == "auto" and torch.cuda.is_available())
    if use_cuda and not torch.cuda.is_available():
        raise ConfigError("train.device=cuda but no CUDA device is available")
    if "WORLD_SIZE" not in os.environ and os.environ.get("SUBMITIT_EXECUTOR") == "slurm":
        # a task of hydra/launcher=submitit_slurm: RANK, WORLD_SIZE, MASTER_ADDR... from SLURM
        import submitit

        submitit.helpers.TorchDistributedEnvironment().export()
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if world > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if use_cuda else "gloo")
    if use_cuda:
        torch.cuda.set_device(local_rank)
        return rank, world, torch.device("cuda", local_rank)
    return rank, world, torch.device("cpu")


def local_processes(tc: DictConfig) -> int:
    """How many local CPU ranks `train` starts itself (`train.processes`): 1 under torchrun/SLURM or on CUDA."""
    n = tc.get("processes", 1)
    if n > 1 and ("WORLD_SIZE" in os.environ or os.environ.get("SUBMITIT_EXECUTOR") == "slurm"):
        return 1  # already one rank of a launcher's job
    if n > 1 and (tc.device == "cuda" or (tc.device == "auto" and torch.cuda.is_available())):
        log.warning("train.processes=%d is for CPU training: one process on CUDA (torchrun for several GPUs)", n)
        return 1
    return n


def check_config(tc: DictConfig) -> None:
    """ConfigError naming the first `train.*` value training cannot run with."""
    for key in ("max_epochs", "max_frames", "max_bad_batches"):
        if not isinstance(tc[key], int) or tc[key] <= 0:
            raise ConfigError(f"train.{key}={tc[key]!r} must be an integer > 0")
    for key in ("lr", "grad_clip"):  # grad_clip <= 0 would zero or flip every gradient
        if not isinstance(tc[key], (int, float)) or tc[key] <= 0:
            raise ConfigError(f"train.{key}={tc[key]!r} must be > 0")
    for key in ("warmup_steps", "max_steps", "schedule_steps"):
        if not isinstance(tc.get(key, 0), int) or tc.get(key, 0) < 0:
            raise ConfigError(f"train.{key}={tc[key]!r} must be an integer >= 0")
    if not isinstance(tc.min_lr_ratio, (int, float)) or not 0 <= tc.min_lr_ratio <= 1:
        raise ConfigError(f"train.min_lr_ratio={tc.min_lr_ratio!r} must be in [0, 1]")
    for key in ("amp", "cpu_amp"):
        if not isinstance(tc.get(key, False), bool):
            raise ConfigError(f"train.{key}={tc[key]!r} must be true or false")
    procs = tc.get("processes", 1)
    if isinstance(procs, bool) or not isinstance(procs, int) or procs < 1:
        raise ConfigError(f"train.processes={procs!r} must be an integer >= 1")


def lr_at(tc: DictConfig, step: int, progress: float) -> float:
    """Linear warmup over `warmup_steps`, then cosine decay to `lr * min_lr_ratio` at progress 1."""
    warm = min(1.0, (step + 1) / max(1, tc.warmup_steps))
    cos = 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))
    return tc.lr * warm * (tc.min_lr_ratio + (1 - tc.min_lr_ratio) * cos)


def ctc_loss(log_probs: torch.Tensor, out_lengths: torch.Tensor, batch: dict, device: torch.device,
             reduction: str = "mean") -> torch.Tensor:
    return F.ctc_loss(log_probs.transpose(0, 1), batch["targets"].to(device), out_lengths,  # [T', B, V]
                      batch["target_lengths"].to(device), blank=0, reduction=reduction, zero_infinity=True)


@torch.no_grad()
def evaluate(model: CTCModel, dataset: FeatureDataset, tokenizer, max_frames: int, device: torch.device,
             amp: bool = False, max_utts: int = 0) -> dict:
    """Greedy CTC decoding of `dataset`: mean per-token loss, CER and WER (fractions)."""
    was_training = model.training
    model.eval()
    idx_all = list(range(len(dataset)))[: max_utts or None]
    sampler = BucketBatchSampler([dataset.lengths[i] for i in idx_all], max_frames, shuffle=False)
    refs, hyps, loss_sum, n = [], [], 0.0, 0
    for idx in sampler:
        batch = collate([dataset[idx_all[i]] for i in idx])
        with _autocast(device, amp):
            log_probs, out_lengths = model(batch["feats"].to(device), batch["lengths"].to(device))
        losses = ctc_loss(log_probs, out_lengths, batch, device, reduction="none")
        loss_sum += (losses / batch["target_lengths"].to(device).clamp(min=1)).sum().item()
        n += len(idx)
        hyps += [tokenizer.decode(ids) for ids in greedy_decode(log_probs, out_lengths)]
        refs += batch["texts"]
    model.train(was_training)
    wer, cer = wer_cer(refs, hyps)
    return {"loss": loss_sum / max(n, 1), "cer": cer, "wer": wer, "example": (refs[0], hyps[0]) if refs else None}


def amp_for(tc: DictConfig, device: torch.device) -> bool:
    """Whether this run computes in bf16 autocast: `train.amp` on CUDA, `train.cpu_amp` on CPU."""
    return bool(tc.amp if device.type == "cuda" else tc.get("cpu_amp", False))


def cpu_has_bf16() -> bool:
    """Whether the CPU multiplies bf16 natively (avx512_bf16 or AMX, Linux /proc/cpuinfo); elsewhere
    oneDNN emulates bf16: the same arithmetic, slower than fp32."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return any(f in flags for f in ("avx512_bf16", "amx_bf16"))


def _autocast(device: torch.device, amp: bool):
    """bf16 autocast on this device (CPU: oneDNN's bf16 matmuls and LSTM; weights and the CTC loss stay fp32)."""
    return torch.autocast(device.type, dtype=torch.bfloat16) if amp else nullcontext()


def param_digest(model: torch.nn.Module) -> str:
    """sha256 over all parameters: equal digests <=> bit-identical models."""
    h = hashlib.sha256()
    for name, p in sorted(model.state_dict().items()):
        h.update(name.encode())
        h.update(p.detach().cpu().contiguous().view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def _broadcast(values: list[float], device: torch.device) -> list[float]:
    """Rank 0's values on every rank (time budget, stop flags must agree or DDP hangs)."""
    if not dist.is_initialized():
        return values
    t = torch.tensor(values, dtype=torch.float64, device=device)
    dist.broadcast(t, 0)
    return t.tolist()


def _csv_log(path: Path, row: dict) -> None:
    new = not path.exists()
    with open(path, "a", newline="") as f:
        w = csv.DictWriter(f, fieldnames=CSV_FIELDS)
        if new:
            w.writeheader()
        w.writerow({k: row.get(k, "") for k in CSV_FIELDS})


def _csv_truncate(path: Path, step: int) -> None:
    """On resume drop rows logged after the checkpoint we resume from (they will be logged again)."""
    if not path.exists():
        return
    with open(path, newline="") as f:
        rows = [r for r in csv.DictReader(f) if int(r["step"]) <= step]
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=CSV_FIELDS)
        w.writeheader()
        w.writerows(rows)


def plot_curves(csv_path: Path, png_path: Path) -> None:
    """Training loss and dev CER/WER against steps, from log.csv."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    with open(csv_path, newline="") as f:
        rows = list(csv.DictReader(f))
    tr = [(int(r["step"]), float(r["train_loss"])) for r in rows if r["train_loss"]]
    dev = [(int(r["step"]), float(r["dev_cer"]) * 100, float(r["dev_wer"]) * 100) for r in rows if r["dev_cer"]]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4))
    if tr:
        ax1.plot(*zip(*tr), label="train CTC loss")
    if dev:
        ax1.plot([d[0] for d in dev], [float(r["dev_loss"]) for r in rows if r["dev_cer"]], "o-", label="dev CTC loss")
        ax2.plot([d[0] for d in dev], [d[1] for d in dev], "o-", label="dev CER %")
        ax2.plot([d[0] for d in dev], [d[2] for d in dev], "s-", label="dev WER %")
    ax1.set(xlabel="step", ylabel="loss", yscale="log")
    ax2.set(xlabel="step", ylabel="error rate (%)")
    for ax in (ax1, ax2):
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    fig.savefig(png_path, dpi=100)
    plt.close(fig)


def choose_average(paths: list[str], best_cer: float, score) -> tuple[dict | None, list[dict]]:
    """Average the last k of `paths` (k = 2 .. len) and keep the average only if it helps on dev.

    `score(ckpt) -> {"cer", "wer"}` evaluates a checkpoint dict on dev. Returns (the average with the
    lowest dev CER below `best_cer`, the best single model's, with "dev_cer"/"dev_wer" added; or None)
    and one {"k", "dev_cer", "dev_wer"} per average tried.
    """
    kept, tried = None, []
    for k in range(2, len(paths) + 1):
        avg = average_checkpoints(paths[-k:], training_state=True)  # paths may hold our own last.pt
        r = score(avg)
        tried.append({"k": k, "dev_cer": r["cer"], "dev_wer": r["wer"]})
        log.info("average of the last %d checkpoints: dev CER %.2f %%  WER %.2f %%", k, 100 * r["cer"], 100 * r["wer"])
        if r["cer"] < (kept["dev_cer"] if kept is not None else best_cer):
            kept = {**avg, "dev_cer": r["cer"], "dev_wer": r["wer"]}
    return kept, tried


def write_average(paths: list[str], best_cer: float, exp_dir: Path, score) -> dict:
    """`choose_average`, then write avg.pt if an average helps (else remove a stale one); the decision as a dict."""
    avg, tried = choose_average(paths, best_cer, score)
    (exp_dir / "avg.pt").unlink(missing_ok=True)  # a rerun's decision replaces the last one
    if avg is not None:
        save_checkpoint(avg, exp_dir / "avg.pt")
        decision = (f"avg.pt: mean of the last {len(avg['averaged'])} checkpoints, dev CER "
                    f"{100 * avg['dev_cer']:.2f} % < best single model {100 * best_cer:.2f} %")
    elif tried:
        decision = (f"best.pt: no average of the last k = {', '.join(str(t['k']) for t in tried)} checkpoints "
                    f"beat the best single model's dev CER {100 * best_cer:.2f} %")
    else:
        decision = "best.pt: fewer than 2 checkpoints to average"
    log.info("checkpoint averaging: %s", decision)
    return {"tried": tried, "decision": decision, "checkpoint": str(exp_dir / ("avg.pt" if avg is not None else "best.pt"))}


# ---- the stages of a training run, in the order `train` runs them -------------------------------
def read_features(fdir: Path, mode: str = "global") -> tuple[dict, dict]:
    """(the store's feature config, its CMVN {"mean" [F], "std" [F]} float32, + "mode" unless global)."""
    if mode not in CMVN_MODES:
        raise ConfigError(f"train.cmvn={mode!r} is not one of: {', '.join(CMVN_MODES)}")
    if not (fdir / "features.json").is_file() or not (fdir / "cmvn.pt").is_file():
        raise DataError(f"feature store {fdir} has no features.json/cmvn.pt: run recipes/extract_features.py first")
    features_cfg = json.loads((fdir / "features.json").read_text())
    cmvn = torch.load(fdir / "cmvn.pt", map_location="cpu")
    stats = {"mean": cmvn["mean"].float(), "std": cmvn["std"].float()}
    return features_cfg, stats if mode == "global" else {**stats, "mode": mode}


@dataclass
class Data:
    """What the model trains and validates on; `dev_set` is rank 0's only."""

    tokenizer: Tokenizer
    train_set: FeatureDataset
    dev_set: FeatureDataset | None
    sampler: BucketBatchSampler  # this rank's share of the length-bucketed batches
    features_cfg: dict
    cmvn: dict
    input_dim: int  # F, mel bins


def build_data(cfg: DictConfig, rank: int, world: int, features_cfg: dict, cmvn: dict,
               resumed: dict | None) -> Data:
    """Tokenizer (a resumed run's own, else built from `model.tokenizer`), datasets and sampler."""
    tc, fdir = cfg.train, Path(cfg.features.dir)
    if resumed is not None:
        tokenizer = tokenizer_from_dict(resumed["tokenizer"])
    else:
        tok_cfg = cfg.model.tokenizer
        texts = []
        if tok_cfg.kind != "char":  # SentencePiece trains on the training transcripts
            texts = load_split(fdir, tc.train_split)["texts"]
        try:
            tokenizer = build_tokenizer(tok_cfg.kind, texts, vocab_size=tok_cfg.vocab_size)
        except ValueError as e:  # "tokenizer.kind='foo' is not one of ..." names the key under model.
            raise ConfigError(f"model.{e}" if str(e).startswith("tokenizer.") else str(e)) from None
    # on-the-fly augmentation of the stored log-mels (augment.online: VTLP), drawn anew every epoch
    online = OnlineAugment.from_config((cfg.get("augment") or {}).get("online"),
                                       int(features_cfg.get("sample_rate", 16000)))
    if online is not None:
        log.info("augment.online: VTLP of the stored log-mels, prob %.2f, warp %.2f-%.2f, drawn anew every epoch",
                 online.vtlp_prob, *online.vtlp_range)
    train_set = FeatureDataset.from_store(fdir, tc.train_split, tokenizer, cmvn, max_frames=tc.max_frames,
                                          augment=online, augment_seed=tc.seed)
    dev_set = FeatureDataset.from_store(fdir, tc.valid_split, tokenizer, cmvn) if rank == 0 else None
    repeats = oversample_repeats(train_set.speakers, dict(tc.get("oversample") or {}))
    if repeats is not None:
        log.info("train.oversample: %d of %d utterances repeated, %d per epoch", sum(k > 1 for k in repeats),
                 len(repeats), sum(repeats))
    sampler = BucketBatchSampler(train_set.lengths, tc.max_frames, tc.max_utts, shuffle=True, seed=tc.seed,
                                 rank=rank, world_size=world, repeats=repeats)
    return Data(tokenizer, train_set, dev_set, sampler, features_cfg, cmvn, int(train_set.feats[0].shape[1]))


def build_state(cfg: DictConfig, data: Data, device: torch.device, resumed: dict | None, last_path: Path,
                rank: int, world: int) -> TrainState:
    """Seeded model and AdamW, at the sampler's start; or all of it as `resumed` (a last.pt) left it
    (this rank's own RNG states when the run had as many ranks)."""
    tc = cfg.train
    random.seed(tc.seed)
    np.random.seed(tc.seed)
    torch.manual_seed(tc.seed)
    model = build_model(cfg.model, data.input_dim, data.tokenizer.vocab_size).to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=tc.lr, betas=tuple(tc.betas), weight_decay=tc.weight_decay)
    state = TrainState(model, optimizer, data.sampler)
    if resumed is not None:
        state.load_state_dict(resumed)
        if len(resumed.get("rng_ranks") or []) == world:
            set_rng_state(resumed["rng_ranks"][rank])
        if rank == 0:
            log.info("resumed from %s: step %d, epoch %d, batch %d", last_path, state.step, state.epoch,
                     state.sampler.batch_idx)
    data.train_set.set_epoch(state.epoch)  # the epoch's VTLP draws
    return state


@dataclass
class Run:
    """What stays fixed while a process trains: config, devices, data, output folder and logs."""

    cfg: DictConfig
    rank: int
    world: int
    device: torch.device
    data: Data
    ddp_model: torch.nn.Module  # what the forward pass goes through: the model, DDP-wrapped when world > 1
    specaug: SpecAugment | None
    meta: dict  # what every checkpoint holds besides weights: model_cfg, tokenizer, features, cmvn
    total_steps: int  # the LR schedule's horizon in updates
    writer: object | None  # TensorBoard SummaryWriter (rank 0)
    t_start: float  # time.time() at the start, minus the elapsed time of the runs this one resumes

    @property
    def tc(self) -> DictConfig:
        return self.cfg.train

    @property
    def master(self) -> bool:
        return self.rank == 0

    @property
    def exp_dir(self) -> Path:
        return Path(self.cfg.exp_dir)

    @property
    def amp(self) -> bool:
        """bf16 autocast in this run (`amp_for`: train.amp on CUDA, train.cpu_amp on CPU)."""
        return amp_for(self.tc, self.device)

    @property
    def budget_s(self) -> float:
        return self.tc.max_minutes * 60


def prepare_run(cfg: DictConfig, rank: int, world: int, device: torch.device, data: Data,
                state: TrainState) -> Run:
    """DDP wrapper, SpecAugment, the schedule's horizon; on rank 0 exp_dir, config.yaml and the logs
    (log.csv cut back to the resumed step, TensorBoard purged past it)."""
    tc, model, exp_dir = cfg.train, state.model, Path(cfg.exp_dir)
    specaug = SpecAugment(**{k: v for k, v in tc.spec_augment.items() if k != "enabled"}) if tc.spec_augment.enabled else None
    n_params = sum(p.numel() for p in model.parameters())
    ddp_model = model
    if world > 1:
        ddp_model = torch.nn.parallel.DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)
    model.train()
    meta = {"model_cfg": model.config, "tokenizer": data.tokenizer.to_dict(), "features": data.features_cfg,
            "cmvn": data.cmvn}
    writer = None
    if rank == 0:
        exp_dir.mkdir(parents=True, exist_ok=True)
        for tmp in remove_stale_tmp(exp_dir):
            log.info("removed %s, left by a run killed while saving", tmp.name)
        (exp_dir / "config.yaml").write_text(OmegaConf.to_yaml(cfg, resolve=True))
        _csv_truncate(exp_dir / "log.csv", state.step)
        from torch.utils.tensorboard import SummaryWriter
        writer = SummaryWriter(str(exp_dir / "tb"), purge_step=state.step or None)
        log.info("model %s: %.2fM parameters, vocab %d, input %d x%d; %d train / %d dev utterances; "
                 "%d ranks on %s", cfg.model.name, n_params / 1e6, data.tokenizer.vocab_size, data.input_dim,
                 model.subsampling, len(data.train_set), len(data.dev_set), world, device)
        if device.type == "cpu" and amp_for(tc, device):
            if cpu_has_bf16():
                log.info("train.cpu_amp: bf16 autocast on a CPU with native bf16 (%d threads)", torch.get_num_threads())
            else:
                log.warning("train.cpu_amp=true but this CPU has no native bf16 (avx512_bf16 / amx_bf16): oneDNN "
                            "emulates it, slower than fp32; train.cpu_amp=false trains in fp32")
    # the schedule's horizon: train.schedule_steps updates, else max_epochs x batches per epoch (max_steps only stops)
    total_steps = tc.get("schedule_steps") or tc.max_epochs * len(state.sampler.batches(0))
    return Run(cfg, rank, world, device, data, ddp_model, specaug, meta, total_steps, writer,
               t_start=time.time() - state.elapsed)


def stop_reason(tc: DictConfig, state: TrainState, early_stop: bool = False) -> str:
    """Why training stops now, "" to go on. Asked before the first epoch, after every update and at
    every epoch end; `early_stop`: rank 0's patience verdict at an epoch end, broadcast to all ranks."""
    budget_s = tc.max_minutes * 60
    if early_stop or (tc.patience > 0 and state.bad_epochs >= tc.patience):  # (a rerun of an early-stopped run)
        return f"early stopping (patience={tc.patience})"
    if state.epoch >= tc.max_epochs:
        return f"max_epochs={tc.max_epochs}"
    if tc.max_steps and state.step >= tc.max_steps:  # a rerun of a finished run trains no further
        return f"max_steps={tc.max_steps}"
    if budget_s and state.elapsed >= budget_s:
        return f"max_minutes={tc.max_minutes}"
    return ""


def compute_loss(model: torch.nn.Module, batch: dict, device: torch.device, amp: bool = False,
                 specaug: SpecAugment | None = None) -> torch.Tensor:
    """Mean CTC loss of a batch (per-token normalised by F.ctc_loss), SpecAugment first if given."""
    feats, lengths = batch["feats"].to(device), batch["lengths"].to(device)  # [B, T, F], [B]
    if specaug is not None:
        feats = specaug(feats)
    with _autocast(device, amp):
        log_probs, out_lengths = model(feats, lengths)  # [B, T', V], [B]
    return ctc_loss(log_probs, out_lengths, batch, device)


def set_lr(run: Run, state: TrainState) -> float:
    """This update's learning rate: `lr_at` over the schedule's horizon, or the time budget if that is nearer."""
    progress = state.step / run.total_steps
    if run.budget_s > 0:
        progress = max(progress, state.elapsed / run.budget_s)
    lr = lr_at(run.tc, state.step, progress)
    for g in state.optimizer.param_groups:
        g["lr"] = lr
    return lr


def skip_bad_batch(tc: DictConfig, state: TrainState, batch: dict, loss: torch.Tensor,
                   grad_norm: torch.Tensor) -> None:
    """A NaN/inf loss or gradient: count the batch as skipped; `train.max_bad_batches` in a row raise TrainError.
    DDP has all-reduced the gradients, so every rank sees the same norm and skips the same batch."""
    state.bad_batches += 1
    state.bad_in_a_row += 1
    log.warning("skipped a batch with a non-finite loss or gradient (loss %s, grad norm %s): %s",
                f"{loss.item():.4g}", f"{float(grad_norm):.4g}", " ".join(batch["ids"]))
    if state.bad_in_a_row >= tc.max_bad_batches:
        raise TrainError(f"{state.bad_in_a_row} batches in a row had a non-finite loss or gradient (last: "
                         f"{' '.join(batch['ids'][:4])}{' ...' if len(batch['ids']) > 4 else ''}); stopping "
                         f"at train.max_bad_batches={tc.max_bad_batches}: check the data "
                         "(recipes/validate.py) or lower train.lr")


def log_update(run: Run, state: TrainState, lr: float, loss: float, grad_norm: float, utt_per_s: float) -> None:
    """One log.csv row (smoothed loss, mean speed) and the TensorBoard scalars of this update (rank 0)."""
    _csv_log(run.exp_dir / "log.csv", {"step": state.step, "epoch": state.epoch, "elapsed_s": f"{state.elapsed:.1f}",
                                       "lr": f"{lr:.3e}", "train_loss": f"{state.loss_ema:.4f}",
                                       "utt_per_s": f"{state.utts_seen / state.train_time:.2f}"})
    run.writer.add_scalar("train/loss", loss, state.step)
    run.writer.add_scalar("train/lr", lr, state.step)
    run.writer.add_scalar("train/grad_norm", grad_norm, state.step)
    run.writer.add_scalar("train/utt_per_s", utt_per_s, state.step)


def train_one_epoch(run: Run, state: TrainState) -> str:
    """Train on the rest of the current epoch (from the sampler's position); returns why it stopped
    before the epoch's end (`stop_reason`), or "" when the epoch ran out."""
    tc, reason = run.tc, ""
    bar = progress_bar(total=len(state.sampler), initial=state.sampler.batch_idx, desc=f"epoch {state.epoch + 1}",
                       disable=not (run.master and tc.progress), dynamic_ncols=True, leave=False)
    for idx in state.sampler:
        t0 = time.time()
        batch = collate([run.data.train_set[i] for i in idx])
        lr = set_lr(run, state)
        loss = compute_loss(run.ddp_model, batch, run.device, run.amp, run.specaug)
        state.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        grad_norm = torch.nn.utils.clip_grad_norm_(state.model.parameters(), tc.grad_clip)
        if not torch.isfinite(grad_norm):
            skip_bad_batch(tc, state, batch, loss, grad_norm)  # no update
            continue
        state.bad_in_a_row = 0
        state.optimizer.step()
        state.step += 1
        loss_val = loss.item()
        state.loss_ema = loss_val if state.loss_ema is None else 0.95 * state.loss_ema + 0.05 * loss_val
        dt = time.time() - t0
        state.train_time += dt
        state.utts_seen += len(idx) * run.world
        state.elapsed, = _broadcast([time.time() - run.t_start], run.device)  # every rank stops at the same step
        ups = len(idx) * run.world / max(dt, 1e-9)
        bar.update(1)
        bar.set_postfix(loss=f"{state.loss_ema:.3f}", utt_s=f"{ups:.1f}", lr=f"{lr:.2e}")
        if run.master and state.step % tc.log_every_steps == 0:
            log_update(run, state, lr, loss_val, float(grad_norm), ups)
        reason = stop_reason(tc, state)
        if tc.save_every_steps and state.step % tc.save_every_steps == 0 and not reason:
            save_last(run, state)
        if reason:
            break
    bar.close()
    return reason


def validate(run: Run, state: TrainState) -> dict:
    """`evaluate` on dev (rank 0), logged to log.csv, TensorBoard and the log."""
    tc = run.tc
    r = evaluate(state.model, run.data.dev_set, run.data.tokenizer, tc.max_frames, run.device, run.amp,
                 tc.valid_max_utts)
    _csv_log(run.exp_dir / "log.csv", {"step": state.step, "epoch": state.epoch, "elapsed_s": f"{state.elapsed:.1f}",
                                       "dev_loss": f"{r['loss']:.4f}", "dev_cer": f"{r['cer']:.5f}",
                                       "dev_wer": f"{r['wer']:.5f}"})
    for k in ("loss", "cer", "wer"):
        run.writer.add_scalar(f"dev/{k}", r[k], state.step)
    log.info("step %d epoch %d: dev loss %.3f  CER %.2f %%  WER %.2f %%  | ref: %s | hyp: %s", state.step,
             state.epoch, r["loss"], 100 * r["cer"], 100 * r["wer"], *(r["example"] or ("", "")))
    return r


def save_last(run: Run, state: TrainState) -> None:
    """last.pt: the checkpoint meta and the whole `TrainState`, written by rank 0. Called on every rank:
    under DDP each rank's RNG states go in too (`rng_ranks`), as dropout and SpecAugment draw per rank."""
    ranks = {}
    if run.world > 1:
        ranks["rng_ranks"] = [None] * run.world
        dist.all_gather_object(ranks["rng_ranks"], rng_state())
    if run.master:
        save_checkpoint({**run.meta, **state.state_dict(), **ranks}, run.exp_dir / "last.pt")


def save_best(run: Run, state: TrainState, dev: dict) -> bool:
    """best.pt when `dev` (this model's validation) has a lower CER than any before; returns whether it had."""
    if not dev["cer"] < state.best_cer:
        return False
    state.best_cer = dev["cer"]
    save_checkpoint({**run.meta, "model": state.model.state_dict(), "step": state.step, "epoch": state.epoch,
                     "dev_cer": dev["cer"], "dev_wer": dev["wer"]}, run.exp_dir / "best.pt")
    return True


def save_epoch_checkpoint(run: Run, state: TrainState, dev: dict) -> None:
    """epoch-N.pt, keeping only the last `train.avg_last` of them (the ones averaging may use)."""
    path = save_checkpoint({**run.meta, "model": state.model.state_dict(), "step": state.step, "epoch": state.epoch,
                            "dev_cer": dev["cer"]}, run.exp_dir / f"epoch-{state.epoch}.pt")
    state.epoch_ckpts.append(path.name)  # names in exp_dir (older last.pt files hold paths: the name is used)
    keep = max(run.tc.avg_last, 1)
    for old in state.epoch_ckpts[:-keep]:
        (run.exp_dir / Path(old).name).unlink(missing_ok=True)
    state.epoch_ckpts = state.epoch_ckpts[-keep:]


def end_of_epoch(run: Run, state: TrainState) -> tuple[dict | None, bool]:
    """Move the sampler and the VTLP draws to the next epoch; on rank 0 validate, write epoch-N.pt,
    best.pt (if better) and last.pt. Returns (dev results, None off rank 0; the early-stopping verdict)."""
    tc, dev, stop = run.tc, None, 0.0
    epoch = state.epoch + 1
    state.sampler.set_epoch(epoch)
    run.data.train_set.set_epoch(epoch)
    if run.master:
        dev = validate(run, state)
        save_epoch_checkpoint(run, state, dev)
        state.bad_epochs = 0 if save_best(run, state, dev) else state.bad_epochs + 1
        stop = float(tc.patience > 0 and state.bad_epochs >= tc.patience)
    save_last(run, state)
    return dev, bool(_broadcast([stop], run.device)[0])


def finish(run: Run, state: TrainState, reason: str, dev: dict | None) -> dict:
    """Validate the final model if not yet, save best/last, average the last checkpoints, plot, and
    write metrics.json (rank 0); returns the metrics (on every rank, dev figures on rank 0 only)."""
    tc, exp_dir = run.tc, run.exp_dir
    metrics = {"stop_reason": reason, "step": state.step, "epoch": state.epoch, "minutes": state.elapsed / 60,
               "train_loss": state.loss_ema, "utt_per_s": state.utts_seen / max(state.train_time, 1e-9),
               "params": sum(p.numel() for p in state.model.parameters()), "param_digest": param_digest(state.model),
               "world_size": run.world, "exp_dir": str(exp_dir), "bad_batches": state.bad_batches}
    if run.master:
        log.info("stopping: %s", reason)
        if dev is None or state.sampler.batch_idx > 0:  # the final model was not validated yet
            dev = validate(run, state)
            save_best(run, state, dev)
    save_last(run, state)
    if run.master:
        metrics.update(dev_cer=dev["cer"], dev_wer=dev["wer"], dev_loss=dev["loss"], best_dev_cer=state.best_cer)
        # stopped mid-epoch (a step budget): the final model is the newest of the averaged ones
        kept = [str(exp_dir / Path(name).name) for name in state.epoch_ckpts]  # a moved exp_dir still averages
        to_avg = (kept + [str(exp_dir / "last.pt")] * (state.sampler.batch_idx > 0))[-tc.avg_last:] \
            if tc.avg_last else []
        metrics["averaging"] = write_average(to_avg, state.best_cer, exp_dir, lambda ckpt: evaluate(
            CTCModel.from_checkpoint(ckpt, run.device), run.data.dev_set, run.data.tokenizer, tc.max_frames, run.device,
            run.amp, tc.valid_max_utts))
        metrics["checkpoint"] = metrics["averaging"]["checkpoint"]
        run.writer.close()
        csv_path = exp_dir / "log.csv"
        if tc.plot and csv_path.exists():
            plot_curves(csv_path, exp_dir / "curves.png")
        (exp_dir / "metrics.json").write_text(json.dumps(metrics, indent=2))
        log.info("done: %s", json.dumps({k: v for k, v in metrics.items() if k != "param_digest"}))
    if dist.is_initialized():
        dist.barrier()
    return metrics


def train(cfg: DictConfig) -> dict:
    """Train a CTC model as configured; returns the final metrics. Safe to rerun after a kill."""
    tc = cfg.train
    check_config(tc)
    ModelConfig.from_group(cfg.model, input_dim=1, vocab_size=1)  # a bad model.* key now, not after reading the store
    features_cfg, cmvn = read_features(Path(cfg.features.dir), tc.get("cmvn", "global"))  # a bad store: one error here
    if (procs := local_processes(tc)) > 1:
        return local_ddp.launch(cfg, procs)
    rank, world, device = setup_device(tc)
    if tc.num_threads:
        torch.set_num_threads(tc.num_threads)
    last_path = Path(cfg.exp_dir) / "last.pt"
    resumed = load_checkpoint(last_path, training_state=True) if tc.resume and last_path.exists() else None
    data = build_data(cfg, rank, world, features_cfg, cmvn, resumed)
    state = build_state(cfg, data, device, resumed, last_path, rank, world)
    run = prepare_run(cfg, rank, world, device, data, state)

    reason, dev = stop_reason(tc, state), None
    while not reason:
        reason = train_one_epoch(run, state)
        if not reason:
            dev, early_stop = end_of_epoch(run, state)
            reason = stop_reason(tc, state, early_stop)
    return finish(run, state, reason, dev)
