import os

import pytest
import torch

from asr import checkpoint
from asr.checkpoint import CheckpointError, average_checkpoints, load_checkpoint, save_checkpoint


def test_round_trip(tmp_path):
    obj = {"model": {"w": torch.arange(4.0)}, "tokenizer": {"kind": "char", "chars": "ab"}}
    save_checkpoint(obj, tmp_path / "sub" / "a.pt")
    back = load_checkpoint(tmp_path / "sub" / "a.pt")
    assert torch.equal(back["model"]["w"], obj["model"]["w"]) and back["tokenizer"] == obj["tokenizer"]


def test_a_failed_write_keeps_the_previous_file(tmp_path, monkeypatch):
    path = save_checkpoint({"model": {"w": torch.zeros(3)}, "step": 1}, tmp_path / "last.pt")

    def torn_save(obj, f):  # a kill in the middle of writing
        f.write(b"PK\x03\x04 half a zip")
        raise KeyboardInterrupt

    monkeypatch.setattr(checkpoint.torch, "save", torn_save)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint({"model": {"w": torch.ones(3)}, "step": 2}, path)
    assert load_checkpoint(path)["step"] == 1
    assert [p.name for p in tmp_path.iterdir()] == ["last.pt"]  # no temporary file left behind


@pytest.mark.parametrize("content", [b"", b"not a checkpoint", None], ids=["empty", "garbage", "missing"])
def test_unreadable_checkpoint_names_the_file(tmp_path, content):
    path = tmp_path / "bad.pt"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(CheckpointError, match="bad.pt"):
        load_checkpoint(path)


def test_not_a_model_checkpoint(tmp_path):
    torch.save([1, 2], tmp_path / "list.pt")
    with pytest.raises(CheckpointError, match="list.pt.*no 'model'"):
        load_checkpoint(tmp_path / "list.pt")


def test_average(tmp_path):
    paths = [save_checkpoint({"model": {"w": torch.full((2,), float(i)), "n": torch.tensor(i)}, "model_cfg": {"i": i},
                              "optimizer": {}}, tmp_path / f"e{i}.pt") for i in (1, 2, 6)]
    avg = average_checkpoints(paths)
    assert torch.equal(avg["model"]["w"], torch.full((2,), 3.0))
    assert avg["model"]["n"] == 6 and avg["model_cfg"] == {"i": 6} and "optimizer" not in avg
    with pytest.raises(CheckpointError):
        average_checkpoints([])


def test_remove_stale_tmp_keeps_live_writers(tmp_path):
    import subprocess
    import sys

    from asr.checkpoint import remove_stale_tmp

    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = tmp_path / f".last.pt.tmp-{dead.pid}"
    live = tmp_path / f".last.pt.tmp-{os.getpid()}"
    other = tmp_path / ".notes.tmp-abc"
    for f in (stale, live, other):
        f.write_bytes(b"x")
    assert remove_stale_tmp(tmp_path) == [stale]
    assert not stale.exists() and live.exists() and other.exists()
