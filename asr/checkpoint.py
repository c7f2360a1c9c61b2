"""Atomic checkpoint files, loading with a clear error, and checkpoint averaging."""
from __future__ import annotations

import os
import pickle
from pathlib import Path

import torch

from asr.errors import ASRError


class CheckpointError(ASRError, RuntimeError):
    """A checkpoint that is missing or cannot be read; the message names the file."""


def save_checkpoint(obj: dict, path: str | Path) -> Path:
    """`torch.save` to a temporary file in the same folder, fsync, then rename over `path`.

    A kill at any moment leaves either the previous file or the new one, never a torn one.
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(tmp, "wb") as f:
            torch.save(obj, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except (OSError, RuntimeError) as e:  # a full disk, an unwritable folder: the previous file is untouched
        # torch.save reports a full disk as RuntimeError("unexpected pos ...") raised while handling the OSError
        cause = e if isinstance(e, OSError) else e.__context__
        if not isinstance(cause, OSError):
            raise
        kept = f"; the previous {path.name} is kept" if path.is_file() else ""
        raise CheckpointError(f"cannot write checkpoint {path}: {cause.strerror or cause}{kept}") from None
    finally:
        tmp.unlink(missing_ok=True)
    dir_fd = os.open(path.parent, os.O_RDONLY)  # make the rename itself durable
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
    return path


def remove_stale_tmp(folder: str | Path) -> list[Path]:
    """Delete `.<name>.tmp-<pid>` files that `save_checkpoint` left behind when its process was
    killed mid-write (their pid is no longer running). Returns the files removed."""
    removed = []
    for tmp in Path(folder).glob(".*.tmp-*"):
        pid = tmp.name.rsplit("-", 1)[-1]
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            os.kill(int(pid), 0)
            continue  # that process is alive (maybe writing it right now)
        except ProcessLookupError:
            pass
        except PermissionError:  # alive, another user's
            continue
        tmp.unlink(missing_ok=True)
        removed.append(tmp)
    return removed


class UnsafeCheckpointError(CheckpointError):
    """A checkpoint that holds pickled objects other than tensors and plain data (it could run code)."""


def _training_state_globals() -> list:
    """The only non-plain types `last.pt` holds: numpy's RNG state (an ndarray of uint32)."""
    import numpy as np

    return [np._core.multiarray._reconstruct, np.ndarray, np.dtype, type(np.dtype(np.uint32))]


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu", *,
                    training_state: bool = False) -> dict:
    """Read a checkpoint with `torch.load(weights_only=True)`: tensors, plain containers, strings and
    numbers only, so a crafted file cannot run code. `training_state=True` (only for resuming from a
    run's own `last.pt`) also allows numpy's RNG state. Raises `UnsafeCheckpointError` naming the
    file and the refused type, `CheckpointError` for a missing or unreadable file."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist")
    allowed = _training_state_globals() if training_state else []
    try:
        with torch.serialization.safe_globals(allowed):
            ckpt = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as e:  # the weights-only unpickler refused a global (or a torn pickle)
        with torch.serialization.safe_globals(allowed):
            try:
                refused = torch.serialization.get_unsafe_globals_in_checkpoint(path)
            except Exception:  # not even a readable archive
                refused = []
        if not refused:
            raise CheckpointError(f"checkpoint {path} is unreadable ({type(e).__name__}: {e})") from e
        raise UnsafeCheckpointError(
            f"checkpoint {path} holds a pickled {', '.join(refused)} object, not only tensors and plain data; "
            f"refusing to load it (it could run code). Re-save it from a trusted copy with plain "
            f"entries only") from None
    except Exception as e:  # torch raises many kinds (zip, EOF, ...) for a bad file
        raise CheckpointError(f"checkpoint {path} is unreadable ({type(e).__name__}: {e})") from e
    if not isinstance(ckpt, dict) or "model" not in ckpt:
        raise CheckpointError(f"checkpoint {path} is not a model checkpoint (no 'model' entry)")
    return ckpt


def average_checkpoints(paths: list[str | Path], training_state: bool = False) -> dict:
    """Element-wise mean of the models in `paths`; the other entries come from the last file.
    training_state: some of `paths` are the run's own `last.pt` (see `load_checkpoint`)."""
    if not paths:
        raise CheckpointError("average_checkpoints needs at least one checkpoint")
    ckpts = [load_checkpoint(p, training_state=training_state) for p in paths]
    avg = {}
    for name, last in ckpts[-1]["model"].items():
        if last.is_floating_point():
            avg[name] = sum(c["model"][name].double() for c in ckpts).div(len(ckpts)).to(last.dtype)
        else:  # integer buffers (counters) are not averaged
            avg[name] = last.clone()
    out = {k: v for k, v in ckpts[-1].items() if k in ("model_cfg", "tokenizer", "features", "cmvn", "step", "epoch")}
    out["model"] = avg
    out["averaged"] = [str(p) for p in paths]
    return out
