"""`train(cfg)`: CTC training of `CTCModel` with resume, DDP, validation, checkpoints and logs.

Layout of `cfg.exp_dir`:
  last.pt          full training state (model, optimizer, schedule, RNG, data position), written
                   every `train.save_every_steps` steps and at the end: rerunning resumes from it
  best.pt          model with the lowest dev CER so far;  avg.pt  mean of the last `avg_last` epochs
  epoch-N.pt       model after epoch N (only the last `avg_last` are kept)
  log.csv, tb/     scalars (CSV and TensorBoard);   curves.png  loss and dev CER/WER plot
Run under `torchrun --nproc_per_node=N` for DDP (gloo on CPU, NCCL on GPU); rank 0 logs and saves.
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
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F
from omegaconf import DictConfig, OmegaConf

from asr.checkpoint import (CheckpointError, average_checkpoints, load_checkpoint, remove_stale_tmp,
                            save_checkpoint)
from asr.data import BucketBatchSampler, DataError, FeatureDataset, OnlineAugment, SpecAugment, collate
from asr.decode import greedy_decode
from asr.features import FeatureError, load_split
from asr.model import CTCModel, build_model
from asr.progress import progress as progress_bar  # (a local `progress` below is the schedule fraction)
from asr.rnn import ConfigError
from asr.scoring import wer_cer
from asr.tokenizer import build_tokenizer, tokenizer_from_dict
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


def _autocast(device: torch.device, amp: bool):
    return torch.autocast("cuda", dtype=torch.bfloat16) if amp and device.type == "cuda" else nullcontext()


def _rng_state() -> dict:
    state = {"torch": torch.get_rng_state(), "numpy": np.random.get_state(), "python": random.getstate()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    np.random.set_state(state["numpy"])
    random.setstate(state["python"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


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


def train(cfg: DictConfig) -> dict:
    """Train a CTC model as configured; returns the final metrics. Safe to rerun after a kill."""
    tc = cfg.train
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
    rank, world, device = setup_device(tc)
    master = rank == 0
    if tc.num_threads:
        torch.set_num_threads(tc.num_threads)
    exp_dir = Path(cfg.exp_dir)
    last_path = exp_dir / "last.pt"

    # ---- features, tokenizer, data
    fdir = Path(cfg.features.dir)
    if not (fdir / "features.json").is_file() or not (fdir / "cmvn.pt").is_file():
        raise DataError(f"feature store {fdir} has no features.json/cmvn.pt: run recipes/extract_features.py first")
    features_cfg = json.loads((fdir / "features.json").read_text())
    cmvn = torch.load(fdir / "cmvn.pt", map_location="cpu")
    cmvn = {"mean": cmvn["mean"].float(), "std": cmvn["std"].float()}
    state = load_checkpoint(last_path, training_state=True) if tc.resume and last_path.exists() else None
    if state is not None:
        tokenizer = tokenizer_from_dict(state["tokenizer"])
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
    train_set = FeatureDataset.from_store(fdir, tc.train_split, tokenizer, cmvn, max_frames=tc.max_frames,
                                          augment=online, augment_seed=tc.seed)
    dev_set = FeatureDataset.from_store(fdir, tc.valid_split, tokenizer, cmvn) if master else None
    sampler = BucketBatchSampler(train_set.lengths, tc.max_frames, tc.max_utts, shuffle=True, seed=tc.seed,
                                 rank=rank, world_size=world)
    input_dim = int(train_set.feats[0].shape[1])

    # ---- model, optimizer, (resumed) state
    random.seed(tc.seed)
    np.random.seed(tc.seed)
    torch.manual_seed(tc.seed)
    model = build_model(cfg.model, input_dim, tokenizer.vocab_size).to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=tc.lr, betas=tuple(tc.betas), weight_decay=tc.weight_decay)
    specaug = SpecAugment(**{k: v for k, v in tc.spec_augment.items() if k != "enabled"}) if tc.spec_augment.enabled else None
    step, elapsed, train_time, utts_seen, bad_batches = 0, 0.0, 0.0, 0, 0
    best_cer, bad_epochs, epoch_ckpts = math.inf, 0, []
    if state is not None:
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        sampler.load_state_dict(state["sampler"])
        _set_rng_state(state["rng"])
        t = state["train"]
        step, elapsed, train_time, utts_seen = t["step"], t["elapsed"], t["train_time"], t["utts_seen"]
        best_cer, bad_epochs, epoch_ckpts = t["best_cer"], t["bad_epochs"], t["epoch_ckpts"]
        bad_batches = t.get("bad_batches", 0)
        if master:
            log.info("resumed from %s: step %d, epoch %d, batch %d", last_path, step, sampler.epoch, sampler.batch_idx)
    train_set.set_epoch(sampler.epoch)
    n_params = sum(p.numel() for p in model.parameters())
    ddp_model = model
    if world > 1:
        ddp_model = torch.nn.parallel.DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)
    model.train()

    meta = {"model_cfg": model.config, "tokenizer": tokenizer.to_dict(), "features": features_cfg, "cmvn": cmvn}
    writer = None
    csv_path = exp_dir / "log.csv"
    if master:
        exp_dir.mkdir(parents=True, exist_ok=True)
        for tmp in remove_stale_tmp(exp_dir):
            log.info("removed %s, left by a run killed while saving", tmp.name)
        (exp_dir / "config.yaml").write_text(OmegaConf.to_yaml(cfg, resolve=True))
        _csv_truncate(csv_path, step)
        from torch.utils.tensorboard import SummaryWriter
        writer = SummaryWriter(str(exp_dir / "tb"), purge_step=step or None)
        log.info("model %s: %.2fM parameters, vocab %d, input %d x%d; %d train / %d dev utterances; "
                 "%d ranks on %s", cfg.model.name, n_params / 1e6, tokenizer.vocab_size, input_dim,
                 model.subsampling, len(train_set), len(dev_set), world, device)

    def save_last() -> None:
        save_checkpoint({**meta, "model": model.state_dict(), "optimizer": optimizer.state_dict(),
                         "sampler": sampler.state_dict(), "rng": _rng_state(), "step": step, "epoch": sampler.epoch,
                         "train": {"step": step, "elapsed": elapsed, "train_time": train_time, "utts_seen": utts_seen,
                                   "best_cer": best_cer, "bad_epochs": bad_epochs, "epoch_ckpts": epoch_ckpts,
                                   "bad_batches": bad_batches}},
                        last_path)

    def validate() -> dict:
        r = evaluate(model, dev_set, tokenizer, tc.max_frames, device, tc.amp, tc.valid_max_utts)
        _csv_log(csv_path, {"step": step, "epoch": sampler.epoch, "elapsed_s": f"{elapsed:.1f}", "dev_loss": f"{r['loss']:.4f}",
                            "dev_cer": f"{r['cer']:.5f}", "dev_wer": f"{r['wer']:.5f}"})
        for k in ("loss", "cer", "wer"):
            writer.add_scalar(f"dev/{k}", r[k], step)
        log.info("step %d epoch %d: dev loss %.3f  CER %.2f %%  WER %.2f %%  | ref: %s | hyp: %s", step,
                 sampler.epoch, r["loss"], 100 * r["cer"], 100 * r["wer"], *(r["example"] or ("", "")))
        return r

    budget_s = tc.max_minutes * 60
    # the schedule's horizon: train.schedule_steps updates, else max_epochs x batches per epoch (max_steps only stops)
    total_steps = tc.get("schedule_steps") or tc.max_epochs * len(sampler.batches(0))
    stop_reason, dev, loss_ema, bad_in_a_row = "", None, None, 0
    t_start = time.time() - elapsed
    while not stop_reason:
        if sampler.epoch >= tc.max_epochs:
            stop_reason = f"max_epochs={tc.max_epochs}"
            break
        if tc.max_steps and step >= tc.max_steps:  # a rerun of a finished run trains no further
            stop_reason = f"max_steps={tc.max_steps}"
            break
        if budget_s and elapsed >= budget_s:
            stop_reason = f"max_minutes={tc.max_minutes}"
            break
        bar = progress_bar(total=len(sampler), initial=sampler.batch_idx, desc=f"epoch {sampler.epoch + 1}",
                       disable=not (master and tc.progress), dynamic_ncols=True, leave=False)
        for idx in sampler:
            t0 = time.time()
            batch = collate([train_set[i] for i in idx])
            feats, lengths = batch["feats"].to(device), batch["lengths"].to(device)
            if specaug is not None:
                feats = specaug(feats)
            progress = step / total_steps
            if budget_s > 0:
                progress = max(progress, elapsed / budget_s)
            lr = lr_at(tc, step, progress)
            for g in optimizer.param_groups:
                g["lr"] = lr
            with _autocast(device, tc.amp):
                log_probs, out_lengths = ddp_model(feats, lengths)
            loss = ctc_loss(log_probs, out_lengths, batch, device)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), tc.grad_clip)
            if not torch.isfinite(grad_norm):
                # a NaN/inf loss or gradient: skip the update. DDP has all-reduced the gradients, so every
                # rank sees the same norm and skips the same batch.
                bad_batches += 1
                bad_in_a_row += 1
                log.warning("skipped a batch with a non-finite loss or gradient (loss %s, grad norm %s): %s",
                            f"{loss.item():.4g}", f"{float(grad_norm):.4g}", " ".join(batch["ids"]))
                if bad_in_a_row >= tc.max_bad_batches:
                    raise TrainError(f"{bad_in_a_row} batches in a row had a non-finite loss or gradient (last: "
                                     f"{' '.join(batch['ids'][:4])}{' ...' if len(batch['ids']) > 4 else ''}); stopping "
                                     f"at train.max_bad_batches={tc.max_bad_batches}: check the data "
                                     "(recipes/validate.py) or lower train.lr")
                continue
            bad_in_a_row = 0
            optimizer.step()
            step += 1
            loss_val = loss.item()
            loss_ema = loss_val if loss_ema is None else 0.95 * loss_ema + 0.05 * loss_val
            dt = time.time() - t0
            train_time += dt
            utts_seen += len(idx) * world
            elapsed, = _broadcast([time.time() - t_start], device)
            ups = len(idx) * world / max(dt, 1e-9)
            bar.update(1)
            bar.set_postfix(loss=f"{loss_ema:.3f}", utt_s=f"{ups:.1f}", lr=f"{lr:.2e}")
            if master and step % tc.log_every_steps == 0:
                _csv_log(csv_path, {"step": step, "epoch": sampler.epoch, "elapsed_s": f"{elapsed:.1f}", "lr": f"{lr:.3e}",
                                    "train_loss": f"{loss_ema:.4f}", "utt_per_s": f"{utts_seen / train_time:.2f}"})
                writer.add_scalar("train/loss", loss_val, step)
                writer.add_scalar("train/lr", lr, step)
                writer.add_scalar("train/grad_norm", float(grad_norm), step)
                writer.add_scalar("train/utt_per_s", ups, step)
            if tc.max_steps and step >= tc.max_steps:
                stop_reason = f"max_steps={tc.max_steps}"
            elif budget_s and elapsed >= budget_s:
                stop_reason = f"max_minutes={tc.max_minutes}"
            if master and tc.save_every_steps and step % tc.save_every_steps == 0 and not stop_reason:
                save_last()
            if stop_reason:
                break
        bar.close()
        if stop_reason:
            break
        # ---- end of an epoch: validate, keep epoch/best checkpoints, early stopping
        epoch = sampler.epoch + 1
        sampler.set_epoch(epoch)
        train_set.set_epoch(epoch)
        stop = 0.0
        if master:
            dev = validate()
            path = save_checkpoint({**meta, "model": model.state_dict(), "step": step, "epoch": epoch,
                                    "dev_cer": dev["cer"]}, exp_dir / f"epoch-{epoch}.pt")
            epoch_ckpts.append(str(path))
            keep = max(tc.avg_last, 1)
            for old in epoch_ckpts[:-keep]:
                Path(old).unlink(missing_ok=True)
            epoch_ckpts = epoch_ckpts[-keep:]
            if dev["cer"] < best_cer:
                best_cer, bad_epochs = dev["cer"], 0
                save_checkpoint({**meta, "model": model.state_dict(), "step": step, "epoch": epoch,
                                 "dev_cer": dev["cer"], "dev_wer": dev["wer"]}, exp_dir / "best.pt")
            else:
                bad_epochs += 1
            save_last()
            stop = float(tc.patience > 0 and bad_epochs >= tc.patience)
        if _broadcast([stop], device)[0]:
            stop_reason = f"early stopping (patience={tc.patience})"

    # ---- the end: validate the final model, save last/best, average the last epochs, plot
    metrics = {"stop_reason": stop_reason, "step": step, "epoch": sampler.epoch, "minutes": elapsed / 60,
               "train_loss": loss_ema, "utt_per_s": utts_seen / max(train_time, 1e-9), "params": n_params,
               "param_digest": param_digest(model), "world_size": world, "exp_dir": str(exp_dir),
               "bad_batches": bad_batches}
    if master:
        log.info("stopping: %s", stop_reason)
        if dev is None or sampler.batch_idx > 0:  # the final model was not validated yet
            dev = validate()
            if dev["cer"] < best_cer:
                best_cer = dev["cer"]
                save_checkpoint({**meta, "model": model.state_dict(), "step": step, "epoch": sampler.epoch,
                                 "dev_cer": dev["cer"], "dev_wer": dev["wer"]}, exp_dir / "best.pt")
        save_last()
        metrics.update(dev_cer=dev["cer"], dev_wer=dev["wer"], dev_loss=dev["loss"], best_dev_cer=best_cer)
        # stopped mid-epoch (a step budget): the final model is the newest of the averaged ones
        to_avg = (epoch_ckpts + [str(last_path)] * (sampler.batch_idx > 0))[-tc.avg_last:] if tc.avg_last else []
        metrics["averaging"] = write_average(to_avg, best_cer, exp_dir, lambda ckpt: evaluate(
            CTCModel.from_checkpoint(ckpt, device), dev_set, tokenizer, tc.max_frames, device, tc.amp, tc.valid_max_utts))
        metrics["checkpoint"] = metrics["averaging"]["checkpoint"]
        writer.close()
        if tc.plot and csv_path.exists():
            plot_curves(csv_path, exp_dir / "curves.png")
        (exp_dir / "metrics.json").write_text(json.dumps(metrics, indent=2))
        log.info("done: %s", json.dumps({k: v for k, v in metrics.items() if k != "param_digest"}))
    if dist.is_initialized():
        dist.barrier()
    return metrics
