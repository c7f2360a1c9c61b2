"""DDP on CPU: 2 gloo processes run `train(cfg)`; afterwards both ranks hold identical parameters."""
import json
import os
import socket
from pathlib import Path

import torch.distributed as dist
import torch.multiprocessing as mp
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from asr.checkpoint import load_checkpoint
from asr.train import param_digest, train

ROOT = Path(__file__).resolve().parents[1]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


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
    mp.spawn(_worker, args=(2, _free_port(), OmegaConf.to_yaml(cfg), str(tmp_path)), nprocs=2, join=True)
    r0, r1 = (json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1))
    assert r0["world_size"] == r1["world_size"] == 2 and r0["step"] == r1["step"] == 3
    assert r0["param_digest"] == r1["param_digest"]
    last = load_checkpoint(tmp_path / "exp" / "last.pt", training_state=True)  # written by rank 0 only
    assert last["step"] == 3
    from asr.model import CTCModel
    assert param_digest(CTCModel.from_checkpoint(last)) == r0["param_digest"]
    assert "dev_cer" in r0 and "dev_cer" not in r1  # validation on rank 0
