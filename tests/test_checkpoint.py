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


# --- checkpoints that cannot run code -------------------------------------------------------------
class _RunsCode:
    """What a malicious model file pickles: unpickling it calls os.system."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def crafted(path, marker):
    """The toolkit's own checkpoint format plus one entry whose unpickling runs a shell command."""
    from test_decode import tiny_checkpoint

    ckpt = torch.load(tiny_checkpoint(path), weights_only=True)
    ckpt["extra"] = _RunsCode(marker)
    torch.save(ckpt, path)
    return path


def test_own_checkpoint_loads_with_weights_only(tmp_path):
    from test_decode import tiny_checkpoint

    ckpt = load_checkpoint(tiny_checkpoint(tmp_path / "best.pt"))
    assert set(ckpt) >= {"model", "model_cfg", "tokenizer", "features", "cmvn"}


def test_crafted_checkpoint_is_refused_by_load_checkpoint(tmp_path):
    from asr.checkpoint import UnsafeCheckpointError

    marker = tmp_path / "pwned"
    path = crafted(tmp_path / "best.pt", marker)
    with pytest.raises(UnsafeCheckpointError, match=r"best\.pt holds a pickled posix\.system"):
        load_checkpoint(path)
    with pytest.raises(UnsafeCheckpointError):  # the training-state allow-list is numpy's RNG only
        load_checkpoint(path, training_state=True)
    assert not marker.exists()


def test_crafted_checkpoint_is_refused_by_transcribe_api_and_cli(tmp_path, capsys):
    import numpy as np
    import soundfile as sf

    import asr
    from asr.transcription import main

    marker = tmp_path / "pwned"
    path = crafted(tmp_path / "best.pt", marker)
    wav = tmp_path / "a.wav"
    sf.write(wav, np.zeros(16000, np.float32), 16000)
    with pytest.raises(CheckpointError, match="posix.system"):
        asr.transcribe(wav, path)
    assert main([str(path), str(wav)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "best.pt holds a pickled posix.system" in err
    assert not marker.exists()


def test_crafted_checkpoint_is_refused_by_the_decode_recipe(synthetic_store, tmp_path):
    from test_decode import decode_cfg

    from asr.decode import decode

    marker = tmp_path / "pwned"
    path = crafted(tmp_path / "best.pt", marker)
    with pytest.raises(CheckpointError, match="posix.system"):
        decode(decode_cfg(synthetic_store, path, tmp_path))
    assert not marker.exists()


def test_training_state_loads_numpy_rng_only_when_asked(tmp_path):
    import numpy as np

    path = save_checkpoint({"model": {}, "rng": {"numpy": np.random.get_state()}}, tmp_path / "last.pt")
    assert load_checkpoint(path, training_state=True)["rng"]["numpy"][0] == "MT19937"
    with pytest.raises(CheckpointError, match="last.pt holds a pickled numpy"):
        load_checkpoint(path)
