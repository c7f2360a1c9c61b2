"""Load: transcribe over 1,000 short files and over one 1-hour file with bounded memory, and a
2-process DDP run (gloo, CPU) whose training data holds bad files.

Peak memory is read the way `time -v` does: each transcription runs as the only child of a fresh
Python process, which reports `getrusage(RUSAGE_CHILDREN).ru_maxrss` after it exits.
"""
import json
import os
from pathlib import Path

import pytest
import soundfile as sf
import torch.distributed as dist
import torch.multiprocessing as mp
from omegaconf import OmegaConf

from asr.checkpoint import load_checkpoint
from asr.features import extract_features
from asr.local_ddp import free_port
from asr.model import CTCModel
from asr.train import param_digest, train
from reliability.conftest import SKIPPED, compose, run_python, subprocess_env, tone, write_wav_streaming

RSS_BOUND_MB = 3000  # a generous absolute bound; torch alone takes ~400 MB
MEASURE = ("import resource, subprocess, sys; rc = subprocess.run(sys.argv[1:]).returncode; "
           "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss // 1024, rc, file=sys.stderr)")


def transcribe_peak_rss(checkpoint: Path, paths: list[Path], out_dir: Path) -> tuple[int, int, str]:
    """(peak RSS in MB, exit status, stderr) of `python -m asr.transcription checkpoint paths... -o out_dir`."""
    import sys

    out = run_python("-c", MEASURE, sys.executable, "-m", "asr.transcription", str(checkpoint), *map(str, paths),
                     "--output-dir", str(out_dir), "--no-timestamps", timeout=1800, env=subprocess_env())
    peak_mb, rc = map(int, out.stderr.strip().splitlines()[-1].split())
    return peak_mb, rc, out.stderr


@pytest.fixture(scope="module")
def short_files_peak(random_checkpoint, tmp_path_factory) -> int:
    """Peak RSS (MB) of transcribing 1,000 short files (0.5-1.5 s) in one command."""
    d = tmp_path_factory.mktemp("short files")
    paths = []
    for i in range(1000):
        paths.append(d / f"utt-{i:04d}.wav")
        sf.write(paths[-1], tone(0.5 + (i % 11) / 10, seed=i % 7), 16000, subtype="PCM_16")
    peak, rc, err = transcribe_peak_rss(random_checkpoint, paths, d / "out")
    assert rc == 0, err
    assert len(list((d / "out").glob("*.txt"))) == 1000  # every file got its transcript
    print(f"\npeak RSS, transcribe 1,000 short files: {peak} MB")
    return peak


@pytest.mark.slow
def test_transcribe_1000_short_files_bounded_memory(short_files_peak):
    assert short_files_peak < RSS_BOUND_MB


@pytest.mark.slow
def test_transcribe_one_hour_file_bounded_memory(random_checkpoint, short_files_peak, tmp_path):
    """Chunked reading: the 1-hour file's peak is not much above the short files' (memory does not
    grow with audio length; the whole file as float32 alone would be 230 MB)."""
    hour = write_wav_streaming(tmp_path / "one hour.wav", 3600)
    peak, rc, err = transcribe_peak_rss(random_checkpoint, [hour], tmp_path / "out")
    assert rc == 0, err
    result = (tmp_path / "out" / "one hour.txt").read_text()
    assert isinstance(result, str)
    print(f"\npeak RSS, transcribe a 1-hour file: {peak} MB (1,000 short files: {short_files_peak} MB)")
    assert peak < RSS_BOUND_MB
    assert peak < short_files_peak + 150


# --- DDP with bad files in the training data ---------------------------------------------------------
def _worker(rank: int, world: int, port: int, cfg_yaml: str, out_dir: str) -> None:
    os.environ.update(RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE=str(world), MASTER_ADDR="127.0.0.1",
                      MASTER_PORT=str(port))
    try:
        metrics = train(OmegaConf.create(cfg_yaml))
        Path(out_dir, f"rank{rank}.json").write_text(json.dumps(metrics))
    except ValueError as e:  # a toolkit error: what the recipe would print as its one line
        Path(out_dir, f"rank{rank}.error").write_text(str(e))
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()


@pytest.fixture(scope="module")
def bad_train_store(bad_corpus, tmp_path_factory):
    """Features of the audio manifest (every bad file, a bad transcript) as train, 4 utterances per shard."""
    store = tmp_path_factory.mktemp("ddp store")
    cfg = compose("extract_features", ["data=tiny", f"features.dir={store}", "features.num_workers=0",
                                       "features.shard_size=4"])
    OmegaConf.update(cfg, "features.manifests", {"train": str(bad_corpus.audio_manifest),
                                                 "dev": str(bad_corpus.good_manifest)}, merge=False)
    summary = extract_features(cfg)
    assert summary["splits"]["train"]["skipped"] == len(SKIPPED)
    return store


def _ddp_cfg(store, exp_dir):
    cfg = compose("train", [f"features.dir={store}", f"exp_dir={exp_dir}", "model=blstm_tiny", "train=fast",
                            "train.max_steps=3", "train.max_epochs=5", "train.max_frames=300"])
    return OmegaConf.to_yaml(cfg)


def test_ddp_two_ranks_survive_bad_files_in_the_data(bad_train_store, tmp_path):
    """Bad audio was skipped by the feature step, the bad transcript is skipped by each rank's loader
    alike: both ranks finish with identical parameters."""
    mp.spawn(_worker, args=(2, free_port(), _ddp_cfg(bad_train_store, tmp_path / "exp"), str(tmp_path)), nprocs=2,
             join=True)
    assert not list(tmp_path.glob("*.error")), [p.read_text() for p in tmp_path.glob("*.error")]
    r0, r1 = (json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1))
    assert r0["step"] == r1["step"] == 3 and r0["world_size"] == 2
    assert r0["param_digest"] == r1["param_digest"]
    assert param_digest(CTCModel.from_checkpoint(load_checkpoint(tmp_path / "exp" / "last.pt", training_state=True))) == r0["param_digest"]


def test_ddp_corrupt_feature_shard_stops_both_ranks_with_one_clear_error(bad_train_store, tmp_path):
    """A shard file that is not a shard: both ranks stop with the same error naming it (no hang)."""
    import shutil

    store = tmp_path / "store"
    shutil.copytree(bad_train_store, store)
    bad = store / "train" / "shard-00001.pt"
    bad.write_bytes(b"PK\x03\x04 not a torch file")
    mp.spawn(_worker, args=(2, free_port(), _ddp_cfg(store, tmp_path / "exp"), str(tmp_path)), nprocs=2, join=True)
    errors = [(tmp_path / f"rank{r}.error").read_text() for r in (0, 1)]
    assert errors[0] == errors[1] and errors[0].startswith(f"{bad}: unreadable feature shard")
    out = run_python("recipes/train.py", f"features.dir={store}", f"exp_dir={tmp_path}/exp1", "model=blstm_tiny",
                     "train=fast")
    assert out.returncode == 1 and "Traceback" not in out.stderr
    assert out.stderr.strip().splitlines()[-1].startswith(f"error: {bad}: unreadable feature shard")


@pytest.mark.parametrize("kind", ["fbank", "mel"])
def test_long_audio_features_by_blocks_equal_one_shot(kind):
    """Feature extraction computes long audio a block of frames at a time (bounded memory): the same
    features as all at once, including a last block of a single frame."""
    import torch

    from asr.features import FeatureExtractor

    wave = 0.1 * torch.randn(16000 * 60 + 560, generator=torch.Generator().manual_seed(0))  # 6001 frames
    fe = FeatureExtractor(kind=kind)
    blocks = fe(wave)
    fe.block_frames = 10**9
    torch.testing.assert_close(blocks, fe(wave), rtol=0, atol=1e-5)
