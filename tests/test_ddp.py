"""DDP on CPU: 2 gloo processes run `train(cfg)`; afterwards both ranks hold identical parameters."""
import json
import os
from pathlib import Path

import torch.distributed as dist
import torch.multiprocessing as mp
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from asr.checkpoint import load_checkpoint
from asr.local_ddp import free_port
from asr.train import param_digest, train

ROOT = Path(__file__).resolve().parents[1]


def _worker(rank: int, world: int, port: int, cfg_yaml: str, out_dir: str) -> None:
    os.environ.update(RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE=str(world), MASTER_ADDR="127.0.0.1",
                      MASTER_PORT=str(port))
    try:
        metrics = train(OmegaConf.create(cfg_yaml))
        Path(out_dir, f"rank{rank}.json").write_text(json.dumps(metrics))
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()


def test_two_gloo_ranks_hold_identical_parameters(synthetic_store, tmp_path):
    with initialize_config_dir(str(ROOT / "conf"), version_base="1.3"):
        cfg = compose("train", [f"features.dir={synthetic_store}", f"exp_dir={tmp_path / 'exp'}", "model=blstm_tiny",
                                "train=fast", "train.max_steps=3", "train.max_epochs=5", "model.dropout=0.2"])
    mp.spawn(_worker, args=(2, free_port(), OmegaConf.to_yaml(cfg), str(tmp_path)), nprocs=2, join=True)
    r0, r1 = (json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1))
    assert r0["world_size"] == r1["world_size"] == 2 and r0["step"] == r1["step"] == 3
    assert r0["param_digest"] == r1["param_digest"]
    last = load_checkpoint(tmp_path / "exp" / "last.pt", training_state=True)  # written by rank 0 only
    assert last["step"] == 3
    from asr.model import CTCModel
    assert param_digest(CTCModel.from_checkpoint(last)) == r0["param_digest"]
    assert "dev_cer" in r0 and "dev_cer" not in r1  # validation on rank 0


def _tiny(store, exp, *more):
    with initialize_config_dir(str(ROOT / "conf"), version_base="1.3"):
        return compose("train", [f"features.dir={store}", f"exp_dir={exp}", "model=blstm_tiny", "train=fast",
                                 "train.max_steps=4", "train.max_epochs=5", "train.device=cpu", "train.num_threads=1",
                                 "train.progress=false", "train.plot=false", *more])


def test_train_processes_starts_the_ranks_itself_and_repeats_bit_for_bit(synthetic_store, tmp_path):
    """train.processes=2: the gloo ranks without torchrun; rank 0's metrics come back; a rerun is bit-identical."""
    digests = []
    for run in ("a", "b"):
        metrics = train(_tiny(synthetic_store, tmp_path / run, "train.processes=2"))
        assert metrics["world_size"] == 2 and metrics["step"] == 4 and "dev_cer" in metrics
        last = load_checkpoint(tmp_path / run / "last.pt", training_state=True)
        from asr.model import CTCModel
        assert param_digest(CTCModel.from_checkpoint(last)) == metrics["param_digest"]
        digests.append(metrics["param_digest"])
    assert digests[0] == digests[1]
    one = train(_tiny(synthetic_store, tmp_path / "one"))  # one rank sees half the frames an update: other weights
    assert one["world_size"] == 1 and one["param_digest"] != digests[0]


def test_train_processes_a_failing_rank_is_one_error_line(synthetic_store, tmp_path):
    """A store the ranks cannot read stops every rank, and train raises one line naming what failed."""
    import shutil

    import pytest

    from asr.data import DataError
    from asr.rnn import ConfigError
    from asr.train import TrainError

    with pytest.raises(DataError, match=r"feature store .*no-store has no features.json"):  # checked before spawning
        train(_tiny(tmp_path / "no-store", tmp_path / "exp", "train.processes=2"))
    with pytest.raises(ConfigError, match=r"train.processes=0 must be an integer >= 1"):
        train(_tiny(synthetic_store, tmp_path / "exp", "train.processes=0"))
    broken = tmp_path / "broken"
    shutil.copytree(synthetic_store, broken)
    shutil.rmtree(broken / "dev")
    with pytest.raises(TrainError, match=r"train.processes=2: rank 0 stopped: \w+Error: .*dev"):
        train(_tiny(broken, tmp_path / "exp", "train.processes=2"))


def test_train_processes_resume_equals_straight_run(synthetic_store, tmp_path):
    """Stopped at 3 updates of 6 and rerun, the ranks end bit-identical to a straight run: last.pt holds
    every rank's RNG states (SpecAugment draws per utterance, so the ranks' states differ)."""
    common = ["train.processes=2", "model.dropout=0.2", "train.spec_augment.enabled=true",  # per-rank RNG draws
              "train.schedule_steps=6", "train.max_epochs=50"]
    straight = train(_tiny(synthetic_store, tmp_path / "straight", "train.max_steps=6", *common))
    train(_tiny(synthetic_store, tmp_path / "resumed", "train.max_steps=3", *common))
    resumed = train(_tiny(synthetic_store, tmp_path / "resumed", "train.max_steps=6", *common))
    assert straight["step"] == resumed["step"] == 6
    assert straight["param_digest"] == resumed["param_digest"]


def _state_ppid(pid: int | str) -> tuple[str, int] | None:
    """(state letter, parent pid) of a process from /proc/<pid>/stat (Linux); None once it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()  # after "(comm)": state ppid ...
        return fields[0], int(fields[1])
    except (OSError, IndexError, ValueError):
        return None


def _alive(pid: int) -> bool:
    stat = _state_ppid(pid)
    return stat is not None and stat[0] != "Z"


def _children(pid: int, marker: str) -> list[int]:
    """Live processes whose parent is `pid` and whose command line holds `marker`."""
    found = []
    for entry in Path("/proc").iterdir():
        stat = _state_ppid(entry.name) if entry.name.isdigit() else None
        if stat is not None and stat[0] != "Z" and stat[1] == pid:
            try:
                if marker in (entry / "cmdline").read_bytes().decode(errors="replace"):
                    found.append(int(entry.name))
            except OSError:
                continue  # gone meanwhile
    return found


def test_train_processes_ranks_stop_when_the_launcher_is_killed(synthetic_store, tmp_path):
    """kill -9 of the process that started the ranks (its `finally` never runs): the ranks stop within
    seconds instead of training on, orphaned, into the exp_dir a rerun of the same command writes too."""
    import signal
    import subprocess
    import sys
    import time

    import pytest

    if not Path("/proc/self/stat").exists():
        pytest.skip("needs Linux /proc to find the ranks")
    exp = tmp_path / "exp"
    cmd = [sys.executable, str(ROOT / "recipes" / "train.py"), f"features.dir={synthetic_store}", f"exp_dir={exp}",
           "model=blstm_tiny", "train=fast", "train.processes=2", "train.max_steps=100000", "train.max_epochs=10000",
           "train.schedule_steps=100000", "train.patience=0", "train.save_every_steps=1", "train.progress=false",
           "train.plot=false"]
    launcher = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    ranks: list[int] = []
    try:
        deadline = time.time() + 180
        while time.time() < deadline and launcher.poll() is None and not (exp / "last.pt").exists():
            time.sleep(0.1)  # the ranks are training once rank 0 has saved an update
        ranks = _children(launcher.pid, "spawn_main")
        assert launcher.poll() is None and len(ranks) == 2, "the ranks did not start"
        launcher.send_signal(signal.SIGKILL)
        launcher.wait()
        deadline = time.time() + 20
        while time.time() < deadline and any(_alive(p) for p in ranks):
            time.sleep(0.1)
        assert not any(_alive(p) for p in ranks), "the ranks trained on after their launcher was killed"
    finally:
        launcher.kill()
        for p in ranks:
            if _alive(p):
                os.kill(p, signal.SIGKILL)
