"""Faults during training: kill -9 at random moments, a full disk or an unwritable output dir at
checkpoint time, and batches whose loss or gradient is NaN/inf.

What is guaranteed: rerunning the same command after any kill continues the run and ends with
parameters bit-identical (torch.equal, CPU) to an uninterrupted run; every checkpoint file on disk
is readable at every moment; a failed checkpoint write stops training with one line naming the
file and keeps the previous checkpoint; a NaN/inf batch is skipped and counted, and
`train.max_bad_batches` of them in a row stop training with a clear message.
"""
import errno
import logging
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from asr import checkpoint
from asr.checkpoint import CheckpointError, load_checkpoint
from asr.data import BucketBatchSampler
from asr.features import extract_features, load_split
from asr.train import TrainError, train
from reliability.conftest import ROOT, compose, one_clear_line, run_python, subprocess_env

TRAIN = ["model=blstm_tiny", "train=fast", "train.num_threads=1"]


def train_cfg(store, exp_dir, *overrides):
    return compose("train", [f"features.dir={store}", f"exp_dir={exp_dir}", *TRAIN, *overrides])


def store_with_bad_frames(src: Path, dst: Path, bad: dict[int, float]) -> Path:
    """A copy of a feature store whose train utterances `bad` (index -> value) hold a NaN/inf frame."""
    shutil.copytree(src, dst)
    shard_path = dst / "train" / "shard-00000.pt"
    shard = torch.load(shard_path)
    for i, value in bad.items():
        shard["feats"][i][3] = value
    torch.save(shard, shard_path)
    return dst


# --- NaN / inf batches ----------------------------------------------------------------------------
def test_nan_and_inf_batches_are_skipped_and_counted(synthetic_store, tmp_path, caplog):
    store = store_with_bad_frames(synthetic_store, tmp_path / "store", {5: float("nan"), 17: float("inf")})
    with caplog.at_level(logging.WARNING, logger="asr.train"):
        metrics = train(train_cfg(store, tmp_path / "exp", "train.max_epochs=2"))
    skipped = [r.getMessage() for r in caplog.records if "non-finite" in r.getMessage()]
    # each bad utterance is in one batch per epoch (unless both share one): 2 epochs
    assert metrics["bad_batches"] == len(skipped) and metrics["bad_batches"] in (2, 4)
    assert any("utt0005" in s for s in skipped) and any("utt0017" in s for s in skipped)
    last = load_checkpoint(tmp_path / "exp" / "last.pt", training_state=True)
    assert all(torch.isfinite(p).all() for p in last["model"].values())
    # not trained on: AdamW took exactly one step per good batch
    adam_steps = {int(s["step"]) for s in last["optimizer"]["state"].values()}
    assert adam_steps == {metrics["step"]}
    cfg = train_cfg(store, tmp_path / "exp")
    lengths = [len(f) for f in load_split(store, "train")["feats"]]
    sampler = BucketBatchSampler(lengths, cfg.train.max_frames, cfg.train.max_utts, seed=cfg.train.seed)
    assert metrics["step"] + metrics["bad_batches"] == len(sampler.batches(0)) + len(sampler.batches(1))


def test_repeated_bad_batches_stop_training_with_a_clear_message(synthetic_store, tmp_path):
    store = store_with_bad_frames(synthetic_store, tmp_path / "store", {i: float("nan") for i in range(48)})
    with pytest.raises(TrainError, match=r"^3 batches in a row had a non-finite loss or gradient.*train.max_bad_batches=3"):
        train(train_cfg(store, tmp_path / "exp", "train.max_bad_batches=3"))
    out = run_python("recipes/train.py", f"features.dir={store}", f"exp_dir={tmp_path}/exp2", *TRAIN,
                     "train.max_bad_batches=3", env=subprocess_env())
    assert out.returncode == 1
    assert one_clear_line(out.stderr).startswith("error: 3 batches in a row had a non-finite loss or gradient")


# --- a full disk / unwritable output dir at checkpoint time -----------------------------------------------
def test_disk_full_at_checkpoint_time_keeps_the_previous_checkpoint(synthetic_store, tmp_path, monkeypatch):
    """ENOSPC injected into the 3rd checkpoint write: a clear error naming the file; last.pt stays readable."""
    real_save, calls = torch.save, []

    def save(obj, f):
        calls.append(1)
        if len(calls) == 3:
            f.write(b"PK\x03\x04 half written")
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_save(obj, f)

    monkeypatch.setattr(checkpoint.torch, "save", save)
    with pytest.raises(CheckpointError, match=r"last.pt.*No space left on device.*previous .*kept"):
        train(train_cfg(synthetic_store, tmp_path, "train.save_every_steps=1", "train.max_steps=5"))
    assert load_checkpoint(tmp_path / "last.pt", training_state=True)["step"] == 2
    assert [p.name for p in tmp_path.glob(".*tmp*")] == []


def _mount_tmpfs(where: Path, size_kb: int) -> bool:
    where.mkdir(parents=True, exist_ok=True)
    out = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_kb}k", "tmpfs", str(where)], capture_output=True)
    return out.returncode == 0


def test_real_full_disk_through_the_recipe(synthetic_store, tmp_path):
    """A tiny tmpfs as exp_dir (needs root with CAP_SYS_ADMIN; skipped elsewhere): the disk fills up at
    a checkpoint, the recipe prints one line, and the last complete checkpoint is still there."""
    args = [f"features.dir={synthetic_store}", *TRAIN, "train.save_every_steps=1", "train.max_steps=6"]
    ref = run_python("recipes/train.py", *args, f"exp_dir={tmp_path}/ref", "train.max_steps=1", env=subprocess_env())
    assert ref.returncode == 0, ref.stderr
    size_kb = int(1.5 * (tmp_path / "ref" / "last.pt").stat().st_size / 1024) + 64
    disk = tmp_path / "disk"
    if not _mount_tmpfs(disk, size_kb):
        pytest.skip("cannot mount a tmpfs here (not root with CAP_SYS_ADMIN)")
    try:
        out = run_python("recipes/train.py", *args, f"exp_dir={disk}", env=subprocess_env())
        assert out.returncode == 1
        line = one_clear_line(out.stderr)
        assert line.startswith("error: ") and "No space left on device" in line, line
        assert load_checkpoint(disk / "last.pt", training_state=True)["step"] >= 1
    finally:
        subprocess.run(["umount", str(disk)], check=False)


def test_unwritable_output_dir_is_one_clear_line(synthetic_store, tmp_path):
    """exp_dir under a regular file (chmod does not stop root, so this is the unwritable dir here).

    Hydra creates its run folder (by default under exp_dir) before the recipe starts and reports its
    own failure there with a short traceback of its own; so the run folder is put elsewhere here, to
    reach the recipe's own handling of an unwritable exp_dir."""
    (tmp_path / "a-file").write_text("not a folder")
    out = run_python("recipes/train.py", f"features.dir={synthetic_store}", f"exp_dir={tmp_path}/a-file/exp", *TRAIN,
                     f"hydra.run.dir={tmp_path}/hydra", env=subprocess_env())
    assert out.returncode == 1
    line = one_clear_line(out.stderr)
    assert line.startswith("error: ") and f"{tmp_path}/a-file/exp" in line and "Not a directory" in line, line


# --- kill -9 at random moments ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def tiny_store(tiny_corpus, tmp_path_factory):
    """Features of the built-in `tiny` corpus."""
    store = tmp_path_factory.mktemp("tiny features")
    extract_features(compose("extract_features", ["data=tiny", f"data.root={tiny_corpus}", f"features.dir={store}",
                                                  "features.num_workers=0"]))
    return store


def _checkpoints_readable(exp_dir: Path) -> int:
    """Load every checkpoint file in exp_dir (not the hidden temporary ones); returns how many."""
    paths = sorted(exp_dir.glob("*.pt"))
    for p in paths:
        load_checkpoint(p, training_state=p.name == "last.pt")  # raises CheckpointError for a torn file
    return len(paths)


@pytest.mark.slow
def test_kill_9_at_random_moments_then_rerun_equals_an_uninterrupted_run(tiny_store, tmp_path):
    """The `tiny` corpus, blstm_tiny, train=fast: 3 epochs, last.pt every step. The same command is
    killed with SIGKILL several times, then rerun until it completes; its parameters must then be
    bit-identical to one uninterrupted run's.

    The moments are random (seeded) but spread over the run: run i is killed a random 0-0.4 s after
    its last.pt reaches a random target step, so kills land mid-step, mid-save, mid-validation; the
    last kill comes after the final step (validation, averaging, the end)."""
    args = [sys.executable, str(ROOT / "recipes" / "train.py"), f"features.dir={tiny_store}", *TRAIN,
            "train.max_epochs=3", "train.save_every_steps=1", "model.dropout=0.1"]
    t0 = time.time()
    straight = subprocess.run([*args, f"exp_dir={tmp_path}/straight"], cwd=ROOT, capture_output=True, text=True,
                              env=subprocess_env())
    assert straight.returncode == 0, straight.stderr
    duration = time.time() - t0
    total = load_checkpoint(tmp_path / "straight" / "last.pt", training_state=True)["step"]

    rng = random.Random(8)
    targets = sorted(rng.sample(range(1, total), 4)) + [total]
    killed_dir, last, steps_at_kill = tmp_path / "killed", tmp_path / "killed" / "last.pt", []
    for target in targets:
        proc = subprocess.Popen([*args, f"exp_dir={killed_dir}"], cwd=ROOT, env=subprocess_env(),
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        deadline = time.time() + 300
        while proc.poll() is None and time.time() < deadline:
            if last.exists() and load_checkpoint(last, training_state=True)["step"] >= target:  # readable whenever it exists
                time.sleep(rng.uniform(0.0, 0.4))
                break
            time.sleep(0.02)
        if proc.poll() is not None:  # it finished in the moment before the kill (the last target only)
            assert proc.returncode == 0 and target == total, proc.stderr.read()[-2000:]
            continue
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        steps_at_kill.append(load_checkpoint(last, training_state=True)["step"])
        _checkpoints_readable(killed_dir)
    # the same command once more: it completes (or, had it completed above, has nothing left to do)
    done = subprocess.run([*args, f"exp_dir={killed_dir}"], cwd=ROOT, capture_output=True, text=True,
                          env=subprocess_env())
    assert done.returncode == 0, done.stderr
    kills, runs = len(steps_at_kill), len(targets) + 1
    assert kills >= 4
    print(f"\nkill -9: {kills} kills, {runs} runs (the last one completed); uninterrupted run {duration:.1f} s, "
          f"{total} steps; last.pt step at each kill: {steps_at_kill}")
    assert _checkpoints_readable(killed_dir) >= 3
    a, b = load_checkpoint(tmp_path / "straight" / "last.pt", training_state=True), load_checkpoint(last, training_state=True)
    assert a["step"] == b["step"] and a["epoch"] == b["epoch"] == 3
    assert a["model"].keys() == b["model"].keys()
    assert all(torch.equal(a["model"][k], b["model"][k]) for k in a["model"])
