"""`train.processes=N` on CPU: `train(cfg)` in N local gloo processes, without torchrun.

Why: the CPU recipes run one thread per process (a second OpenMP thread only waits on the small
per-step matmuls of an LSTM), so one process leaves the second core of a 2-core machine idle.
Two single-thread ranks with half the batch each (`max_frames` is per rank) make one update of the
same size in 0.24 s instead of 0.31 (`train=cpu_demo`, README "Training"). Gradients are averaged
by DDP's all-reduce, which on 2 gloo ranks is deterministic: the same command gives bit-identical
weights on one machine, as a single process does.

    launch(cfg, n)             starts ranks 0..n-1 (spawn), waits, returns rank 0's metrics.json;
                               a rank that fails stops the others, and its one-line error
                               (ASRError/OSError) is raised here as TrainError
    _rank_main(...)            one rank: RANK/WORLD_SIZE/MASTER_* set, then `train(cfg)`; it stops
                               when the launching process is gone (killed with SIGTERM or SIGKILL,
                               its `finally` never ran), instead of training on, orphaned, into the
                               exp_dir that a rerun of the same command then writes too
"""
from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
import traceback
from pathlib import Path

import torch.multiprocessing as mp
from omegaconf import DictConfig, OmegaConf

from asr.errors import ASRError

log = logging.getLogger(__name__)
LOG_FORMAT = "[%(asctime)s][%(name)s][%(levelname)s] - %(message)s"  # hydra's job log format


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free now (the rendezvous of local gloo ranks)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _log_files() -> list[str]:
    """The files the parent logs to (hydra's `<job>.log`): rank 0 appends its log lines there too."""
    return [h.baseFilename for h in logging.getLogger().handlers if isinstance(h, logging.FileHandler)]


def _stop_with_parent(parent: int) -> None:
    """Poll the parent pid; once this process has been reparented (the launcher died), exit at once.
    Checkpoints are written to a temporary file and renamed, so an exit mid-save loses no last.pt."""
    while os.getppid() == parent:
        time.sleep(0.5)
    os._exit(1)


def _rank_main(rank: int, world: int, port: int, cfg_yaml: str, log_files: list[str], errors, parent: int) -> None:
    threading.Thread(target=_stop_with_parent, args=(parent,), daemon=True, name="stop-with-parent").start()
    os.environ.update(RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE=str(world), MASTER_ADDR="127.0.0.1",
                      MASTER_PORT=str(port))
    root = logging.getLogger()
    root.setLevel(logging.INFO if rank == 0 else logging.WARNING)
    for handler in [logging.StreamHandler()] + [logging.FileHandler(f) for f in (log_files if rank == 0 else [])]:
        handler.setFormatter(logging.Formatter(LOG_FORMAT))
        root.addHandler(handler)
    from asr.train import train
    import torch.distributed as dist

    try:
        train(OmegaConf.create(cfg_yaml))
    except (ASRError, OSError) as e:  # the one line the parent raises
        errors.put((rank, f"{type(e).__name__}: {e}"))
        raise SystemExit(1)
    except BaseException:
        errors.put((rank, traceback.format_exc(limit=-3).strip().splitlines()[-1]))
        raise
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()


def launch(cfg: DictConfig, processes: int) -> dict:
    """Train in `processes` local CPU ranks; rank 0's metrics (as `train` returns them)."""
    from asr.train import TrainError

    cfg_yaml = OmegaConf.to_yaml(cfg, resolve=True)  # the children have no hydra context to resolve in
    ctx = mp.get_context("spawn")
    errors = ctx.SimpleQueue()
    port = free_port()
    log.info("train.processes=%d: %d local gloo ranks on port %d (rank 0 logs)", processes, processes, port)
    procs = [ctx.Process(target=_rank_main, args=(r, processes, port, cfg_yaml, _log_files(), errors, os.getpid()),
                         daemon=False)
             for r in range(processes)]
    for p in procs:
        p.start()
    try:
        while any(p.exitcode is None for p in procs) and all(p.exitcode in (None, 0) for p in procs):
            time.sleep(0.2)
    finally:
        for p in procs:  # one rank failed (or we were interrupted): the others would wait for it forever
            if p.exitcode is None:
                p.terminate()
            p.join()
    failed = [(r, p.exitcode) for r, p in enumerate(procs) if p.exitcode != 0]
    if failed:
        if not errors.empty():  # the first rank that reported why it stopped
            rank, message = errors.get()
            raise TrainError(f"train.processes={processes}: rank {rank} stopped: {message}")
        rank, code = failed[0]
        raise TrainError(f"train.processes={processes}: rank {rank} exited with code {code} (see the log above)")
    return json.loads(Path(cfg.exp_dir, "metrics.json").read_text())
