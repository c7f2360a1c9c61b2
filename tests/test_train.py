import csv
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_dir

from asr.checkpoint import load_checkpoint, save_checkpoint
from asr.data import BucketBatchSampler, DataError
from asr.model import CTCModel
from asr.rnn import ConfigError
from asr.train import lr_at, stop_reason, train
from asr.training_state import TrainState

ROOT = Path(__file__).resolve().parents[1]


def make_cfg(store, exp_dir, *overrides):
    with initialize_config_dir(str(ROOT / "conf"), version_base="1.3"):
        return compose("train", [f"features.dir={store}", f"exp_dir={exp_dir}", "model=blstm_tiny", "train=fast",
                                 *overrides])


def test_oversampling_lengthens_the_epoch(synthetic_store, tmp_path):
    plain = train(make_cfg(synthetic_store, tmp_path / "plain", "train.max_epochs=1"))
    twice = train(make_cfg(synthetic_store, tmp_path / "twice", "train.max_epochs=1", "train.oversample={spk: 2}"))
    assert plain["epoch"] == twice["epoch"] == 1 and twice["step"] > plain["step"]
    with pytest.raises(DataError, match="train.oversample.nobody: no training speaker matches"):
        train(make_cfg(synthetic_store, tmp_path / "bad", "train.oversample={nobody: 2}"))


def test_train_writes_checkpoints_logs_and_plot(synthetic_store, tmp_path):
    metrics = train(make_cfg(synthetic_store, tmp_path, "train.max_epochs=3", "train.plot=true"))
    assert metrics["epoch"] == 3 and metrics["stop_reason"] == "max_epochs=3"
    assert 0 <= metrics["dev_cer"] <= 1 and metrics["utt_per_s"] > 0
    for name in ("last.pt", "best.pt", "log.csv", "curves.png", "metrics.json", "config.yaml"):
        assert (tmp_path / name).is_file(), name
    # avg.pt only when the average of the last 2 epochs beats the best single model on dev
    [tried] = metrics["averaging"]["tried"]
    assert tried["k"] == 2 and (tmp_path / "avg.pt").is_file() == (tried["dev_cer"] < metrics["best_dev_cer"])
    assert metrics["checkpoint"] == str(tmp_path / ("avg.pt" if (tmp_path / "avg.pt").is_file() else "best.pt"))
    assert sorted(p.name for p in tmp_path.glob("epoch-*.pt")) == ["epoch-2.pt", "epoch-3.pt"]  # avg_last=2
    assert any((tmp_path / "tb").iterdir())
    best = load_checkpoint(tmp_path / "best.pt")
    assert best["tokenizer"]["kind"] == "char" and best["features"]["num_mel_bins"] == 20
    assert best["cmvn"]["mean"].shape == (20,) and "optimizer" not in best
    model = CTCModel.from_checkpoint(best)
    assert model.config["hidden_size"] == 32 and model.subsampling == 2
    with open(tmp_path / "log.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [r["epoch"] for r in rows if r["dev_cer"]] == ["1", "2", "3"]  # one validation per epoch
    assert sum(1 for r in rows if r["train_loss"]) == metrics["step"]  # train.log_every_steps=1


def _params(path):
    return load_checkpoint(path, training_state=True)["model"]


@pytest.mark.parametrize("k", [2, 5], ids=["kill-mid-epoch-1", "kill-in-epoch-2"])
def test_resume_equals_straight_run(synthetic_store, tmp_path, k):
    n, common = 8, ["model.dropout=0.2", "train.spec_augment.enabled=true", "train.max_epochs=5"]
    straight = train(make_cfg(synthetic_store, tmp_path / "straight", f"train.max_steps={n}", *common))
    train(make_cfg(synthetic_store, tmp_path / "resumed", f"train.max_steps={k}", *common))
    train(make_cfg(synthetic_store, tmp_path / "resumed", f"train.max_steps={k}", *common))  # safe to repeat
    resumed = train(make_cfg(synthetic_store, tmp_path / "resumed", f"train.max_steps={n}", *common))
    assert straight["step"] == resumed["step"] == n
    a, b = _params(tmp_path / "straight" / "last.pt"), _params(tmp_path / "resumed" / "last.pt")
    assert all(torch.equal(a[name], b[name]) for name in a)
    assert straight["param_digest"] == resumed["param_digest"]


def test_two_runs_give_bit_identical_weights(synthetic_store, tmp_path):
    common = ["model.dropout=0.2", "train.spec_augment.enabled=true", "train.max_steps=6", "train.schedule_steps=6"]
    a = train(make_cfg(synthetic_store, tmp_path / "a", *common))
    b = train(make_cfg(synthetic_store, tmp_path / "b", *common))
    assert a["param_digest"] == b["param_digest"] and a["dev_cer"] == b["dev_cer"]
    pa, pb = _params(tmp_path / "a" / "best.pt"), _params(tmp_path / "b" / "best.pt")
    assert all(torch.equal(pa[name], pb[name]) for name in pa)


def test_fixed_update_budget_stops_at_n_and_decays_over_it(synthetic_store, tmp_path):
    n = 7  # fewer than one epoch's batches x max_epochs: the budget is what stops training
    cfg = make_cfg(synthetic_store, tmp_path, f"train.max_steps={n}", f"train.schedule_steps={n}",
                   "train.max_epochs=50", "train.min_lr_ratio=0.1")
    metrics = train(cfg)
    assert metrics["step"] == n and metrics["stop_reason"] == f"max_steps={n}"
    with open(tmp_path / "log.csv", newline="") as f:
        lrs = [float(r["lr"]) for r in csv.DictReader(f) if r["lr"]]
    assert len(lrs) == n  # log_every_steps=1
    assert lrs[-1] == pytest.approx(lr_at(cfg.train, n - 1, (n - 1) / n), rel=1e-3)
    assert lrs[-1] < 0.2 * cfg.train.lr  # the cosine has (nearly) reached lr * min_lr_ratio at the budget
    assert train(cfg)["step"] == n  # a rerun trains no further


def _tiny_ckpt(path, w: float):
    from asr.checkpoint import save_checkpoint

    return str(save_checkpoint({"model": {"w": torch.tensor([w])}, "step": 1}, path))


def test_averaging_kept_only_when_it_beats_the_best_model_on_dev(tmp_path):
    from asr.train import choose_average

    paths = [_tiny_ckpt(tmp_path / f"e{i}.pt", w) for i, w in enumerate([0.9, 0.0, 1.0])]
    score = lambda ckpt: {"cer": abs(float(ckpt["model"]["w"]) - 0.5), "wer": 0.0}  # noqa: E731
    # last 2: w = 0.5 (CER 0); last 3: w = 0.633 (CER 0.133)
    avg, tried = choose_average(paths, best_cer=0.2, score=score)
    assert [t["k"] for t in tried] == [2, 3] and tried[1]["dev_cer"] == pytest.approx(0.1333, abs=1e-3)
    assert avg["averaged"] == paths[-2:] and avg["dev_cer"] == 0.0
    avg, _ = choose_average(paths, best_cer=0.0, score=score)  # no average beats the best single model
    assert avg is None
    assert choose_average(paths[:1], best_cer=1.0, score=score) == (None, [])


def test_a_moved_experiment_resumes_and_averages_its_epoch_checkpoints(synthetic_store, tmp_path):
    train(make_cfg(synthetic_store, tmp_path / "a", "train.max_epochs=2", "train.avg_last=2"))
    assert load_checkpoint(tmp_path / "a" / "last.pt", training_state=True)["train"]["epoch_ckpts"] == [
        "epoch-1.pt", "epoch-2.pt"]
    (tmp_path / "a").rename(tmp_path / "b")
    metrics = train(make_cfg(synthetic_store, tmp_path / "b", "train.max_epochs=3", "train.avg_last=2"))
    assert metrics["epoch"] == 3 and sorted(p.name for p in (tmp_path / "b").glob("epoch-*.pt")) == [
        "epoch-2.pt", "epoch-3.pt"]
    assert [t["k"] for t in metrics["averaging"]["tried"]] == [2]  # epoch-2.pt + epoch-3.pt, found in the new folder


def test_resume_false_starts_over(synthetic_store, tmp_path):
    train(make_cfg(synthetic_store, tmp_path, "train.max_steps=2"))
    again = train(make_cfg(synthetic_store, tmp_path, "train.max_steps=1", "train.resume=false"))
    assert again["step"] == 1


def test_lr_schedule_warms_up_then_decays():
    tc = make_cfg("x", "y", "train.lr=1.0", "train.warmup_steps=10", "train.min_lr_ratio=0.1").train
    assert lr_at(tc, 0, 0.0) == pytest.approx(0.1)
    assert lr_at(tc, 9, 0.0) == pytest.approx(1.0)
    assert lr_at(tc, 500, 0.5) == pytest.approx(0.55)
    assert lr_at(tc, 1000, 1.0) == pytest.approx(0.1) == lr_at(tc, 2000, 1.7)


def _tiny_state(seed: int) -> TrainState:
    torch.manual_seed(seed)
    model = torch.nn.Linear(3, 2)
    return TrainState(model, torch.optim.AdamW(model.parameters(), lr=0.1),
                      BucketBatchSampler([5, 7, 9, 11, 13], max_frames=20, seed=seed))


def test_training_state_round_trips_through_last_pt(tmp_path):
    import random

    import numpy as np

    a = _tiny_state(0)
    a.model(torch.randn(4, 3)).sum().backward()
    a.optimizer.step()
    next(iter(a.sampler))  # one batch of epoch 0 handed out
    a.step, a.elapsed, a.train_time, a.utts_seen, a.bad_batches = 1, 2.5, 2.0, 4, 1
    a.best_cer, a.bad_epochs, a.epoch_ckpts, a.loss_ema, a.bad_in_a_row = 0.25, 1, ["e1.pt"], 3.0, 2
    save_checkpoint({"model_cfg": {}, **a.state_dict()}, tmp_path / "last.pt")
    draws = (torch.rand(3), np.random.rand(), random.random())  # what the saved RNG states give next
    last = load_checkpoint(tmp_path / "last.pt", training_state=True)
    # last.pt's layout (resuming an older last.pt depends on it)
    assert set(last) == {"model_cfg", "model", "optimizer", "sampler", "rng", "step", "epoch", "train"}
    assert set(last["train"]) == {"step", "elapsed", "train_time", "utts_seen", "best_cer", "bad_epochs",
                                  "epoch_ckpts", "bad_batches"}
    assert last["sampler"] == {"epoch": 0, "batch_idx": 1} and last["step"] == 1 and last["epoch"] == 0
    b = _tiny_state(1)
    b.load_state_dict(last)
    assert torch.equal(torch.rand(3), draws[0]) and np.random.rand() == draws[1] and random.random() == draws[2]
    assert all(torch.equal(p, q) for p, q in zip(a.model.parameters(), b.model.parameters()))
    sa, sb = a.optimizer.state_dict()["state"][0], b.optimizer.state_dict()["state"][0]
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert (b.epoch, b.sampler.batch_idx, b.step, b.elapsed) == (0, 1, 1, 2.5)
    assert (b.train_time, b.utts_seen, b.bad_batches) == (2.0, 4, 1)
    assert (b.best_cer, b.bad_epochs, b.epoch_ckpts) == (0.25, 1, ["e1.pt"])
    assert (b.loss_ema, b.bad_in_a_row) == (None, 0)  # this process only: not in last.pt
    del last["train"]["bad_batches"]  # a last.pt written before bad batches were counted
    c = _tiny_state(2)
    c.load_state_dict(last)
    assert c.bad_batches == 0 and c.step == 1


def test_stop_reason_is_one_condition_for_every_budget():
    tc = make_cfg("x", "y", "train.max_epochs=3", "train.max_steps=10", "train.max_minutes=1", "train.patience=2").train
    state = _tiny_state(0)
    assert stop_reason(tc, state) == ""
    assert stop_reason(tc, state, early_stop=True) == "early stopping (patience=2)"
    state.elapsed = 60.0
    assert stop_reason(tc, state) == "max_minutes=1"
    state.step = 10
    assert stop_reason(tc, state) == "max_steps=10"
    state.sampler.set_epoch(3)
    assert stop_reason(tc, state) == "max_epochs=3"
    assert stop_reason(tc, state, early_stop=True) == "early stopping (patience=2)"  # an epoch end's verdict first
    no_budgets = make_cfg("x", "y", "train.max_epochs=50", "train.max_steps=0", "train.max_minutes=0").train
    state.step, state.elapsed = 10 ** 6, 1e9
    assert stop_reason(no_budgets, state) == ""  # 0 = no such budget
    state.bad_epochs = 2  # a resumed last.pt of a run that stopped early: it stays stopped
    assert stop_reason(tc, _tiny_state(0)) == "" and stop_reason(no_budgets, state) == ""  # patience 5 > 2
    state.sampler.set_epoch(0)
    state.step, state.elapsed = 0, 0.0
    assert stop_reason(tc, state) == "early stopping (patience=2)"


def test_rerun_of_an_early_stopped_run_trains_no_further(synthetic_store, tmp_path):
    common = ["train.max_epochs=30", "train.patience=1", "train.lr=1e-6", "train.warmup_steps=1000"]  # no progress
    first = train(make_cfg(synthetic_store, tmp_path, *common))
    assert first["stop_reason"] == "early stopping (patience=1)" and first["epoch"] < 30
    again = train(make_cfg(synthetic_store, tmp_path, *common))
    assert (again["stop_reason"], again["epoch"], again["step"]) == (first["stop_reason"], first["epoch"], first["step"])


@pytest.mark.parametrize("override,error,match", [
    ("train.device=tpu", ConfigError, "train.device='tpu'"),
    ("model.backend=cudnn", ConfigError, "model.backend='cudnn'"),
    ("train.max_frames=0", ConfigError, "train.max_frames=0"),
    ("train.schedule_steps=-5", ConfigError, "train.schedule_steps=-5"),
    ("train.cmvn=speaker", ConfigError, "train.cmvn='speaker' is not one of: global, utterance_mean, utterance"),
    ("train.cpu_amp=bf16", ConfigError, "train.cpu_amp='bf16' must be true or false"),
], ids=["device", "backend", "max-frames", "schedule-steps", "cmvn", "cpu-amp"])
def test_bad_config_values_name_the_key(synthetic_store, tmp_path, override, error, match):
    with pytest.raises(error, match=match):
        train(make_cfg(synthetic_store, tmp_path, override))


@pytest.mark.parametrize("override,match", [
    ("++model.hiden_size=32", r"model\.hiden_size: unknown key"),
    ("model.dropout=1.5", r"model\.dropout=1\.5 must be in \[0, 1\)"),
], ids=["unknown-key", "dropout"])
def test_bad_model_values_are_reported_before_the_feature_store_is_read(tmp_path, override, match):
    """The model group is checked first: with no feature store at all, the error is still the model key."""
    with pytest.raises(ConfigError, match=match):
        train(make_cfg(tmp_path / "no-store", tmp_path / "exp", override))
    assert not (tmp_path / "exp").exists()


def test_online_vtlp_changes_training_deterministically(synthetic_store, tmp_path, caplog):
    on = ["train.max_epochs=2", "augment.online.vtlp.prob=1.0", "augment.online.vtlp.warp=[0.8,1.2]"]
    with caplog.at_level("INFO", logger="asr.train"):
        train(make_cfg(synthetic_store, tmp_path / "a", *on))
    assert "augment.online: VTLP of the stored log-mels, prob 1.00, warp 0.80-1.20" in caplog.text
    train(make_cfg(synthetic_store, tmp_path / "b", *on))
    train(make_cfg(synthetic_store, tmp_path / "off", "train.max_epochs=2"))
    w = {k: load_checkpoint(tmp_path / k / "last.pt", training_state=True)["model"] for k in ("a", "b", "off")}
    assert all(torch.equal(w["a"][n], w["b"][n]) for n in w["a"])
    assert not all(torch.equal(w["a"][n], w["off"][n]) for n in w["a"])


def test_utterance_mean_cmvn_trains_and_rides_in_the_checkpoint(synthetic_store, tmp_path):
    """train.cmvn=utterance_mean: the checkpoint names the mode, so decoding and transcription (load_bundle)
    normalize as training did; the weights differ from a global-CMVN run's; the default stays global."""
    from asr.bundle import load_bundle

    train(make_cfg(synthetic_store, tmp_path / "utt", "train.max_epochs=1", "train.cmvn=utterance_mean"))
    train(make_cfg(synthetic_store, tmp_path / "glob", "train.max_epochs=1"))
    utt, glob = (load_checkpoint(tmp_path / k / "best.pt") for k in ("utt", "glob"))
    assert utt["cmvn"]["mode"] == "utterance_mean" and "mode" not in glob["cmvn"]
    assert torch.equal(utt["cmvn"]["mean"], glob["cmvn"]["mean"])
    assert not all(torch.equal(utt["model"][n], glob["model"][n]) for n in utt["model"])
    assert load_bundle(tmp_path / "utt" / "best.pt").cmvn.mode == "utterance_mean"
    assert load_bundle(tmp_path / "glob" / "best.pt").cmvn.mode == "global"


def test_cpu_amp_trains_in_bf16_reproducibly_and_resumes(synthetic_store, tmp_path):
    """train.cpu_amp=true: bf16 autocast on CPU. Two runs are bit-identical, a killed-and-resumed run equals
    a straight one, the weights stay fp32 and differ from an fp32 run's, and dev decoding works."""
    common = ["train.cpu_amp=true", "train.max_steps=6", "train.schedule_steps=6", "train.max_epochs=5"]
    a = train(make_cfg(synthetic_store, tmp_path / "a", *common))
    b = train(make_cfg(synthetic_store, tmp_path / "b", *common))
    train(make_cfg(synthetic_store, tmp_path / "r", *common[:1], "train.max_steps=3", *common[2:]))
    r = train(make_cfg(synthetic_store, tmp_path / "r", *common))
    fp32 = train(make_cfg(synthetic_store, tmp_path / "fp32", *common[1:]))
    assert a["param_digest"] == b["param_digest"] == r["param_digest"] != fp32["param_digest"]
    assert 0 <= a["dev_cer"] <= 1 and a["step"] == 6
    weights = _params(tmp_path / "a" / "last.pt")
    assert all(w.dtype == torch.float32 and torch.isfinite(w).all() for w in weights.values())


def test_cpu_amp_warns_once_where_the_cpu_emulates_bf16(synthetic_store, tmp_path, monkeypatch, caplog):
    import asr.train

    monkeypatch.setattr(asr.train, "cpu_has_bf16", lambda: False)
    with caplog.at_level("WARNING", logger="asr.train"):
        train(make_cfg(synthetic_store, tmp_path, "train.cpu_amp=true", "train.max_steps=1"))
    assert sum("this CPU has no native bf16" in r.getMessage() for r in caplog.records) == 1


def test_amp_for_picks_the_key_of_the_device():
    from omegaconf import OmegaConf

    from asr.train import amp_for

    tc = OmegaConf.create({"amp": True, "cpu_amp": False})
    assert amp_for(tc, torch.device("cuda", 0)) and not amp_for(tc, torch.device("cpu"))
    tc = OmegaConf.create({"amp": False, "cpu_amp": True})
    assert not amp_for(tc, torch.device("cuda", 0)) and amp_for(tc, torch.device("cpu"))


def test_bad_online_augmentation_names_the_key(synthetic_store, tmp_path):
    with pytest.raises(DataError, match="augment.online.vtlp.prob=2"):
        train(make_cfg(synthetic_store, tmp_path, "augment.online.vtlp.prob=2"))


def test_missing_feature_store_names_the_folder(tmp_path):
    with pytest.raises(DataError, match=str(tmp_path / "nowhere")):
        train(make_cfg(tmp_path / "nowhere", tmp_path / "exp"))


def _recipe(*args, **kw):
    return subprocess.run([sys.executable, str(ROOT / "recipes" / "train.py"), *args], cwd=ROOT,
                          capture_output=True, text=True, **kw)


def test_train_preset_picks_the_model_unless_one_is_named():
    # cpu_demo's defaults list overrides the model: blstm_small without dropout; model=... still wins
    with initialize_config_dir(str(ROOT / "conf"), version_base="1.3"):
        for args, dropout in [(["train=cpu_demo"], 0.0), (["train=cpu_demo", "model=blstm_small"], 0.1),
                              (["train=cpu_long"], 0.1), ([], 0.1)]:
            cfg = compose("train", args)
            assert (cfg.model.name, cfg.model.dropout) == ("blstm_small", dropout), args


def test_recipe_prints_config_and_reports_errors_in_one_line(tmp_path):
    out = _recipe("model=eesen", "train=cpu_demo", "--cfg", "job")
    assert out.returncode == 0 and "hidden_size: 320" in out.stdout and "max_steps: 6000" in out.stdout
    assert "cpu_amp: true" in out.stdout and "num_threads: 1" in out.stdout and "processes: 2" in out.stdout
    out = _recipe("train=cpu_long", "--cfg", "job")
    assert out.returncode == 0 and "schedule_steps: 22000" in out.stdout and "max_minutes: 0" in out.stdout
    assert "cpu_amp: true" in out.stdout and "processes: 2" in out.stdout and "max_frames: 2500" in out.stdout
    out = _recipe(f"features.dir={tmp_path}", f"exp_dir={tmp_path}/exp")
    assert out.returncode == 1 and out.stderr.strip().splitlines()[-1].startswith(f"error: feature store {tmp_path} has no")


@pytest.mark.slow
def test_resume_after_kill_9(synthetic_store, tmp_path):
    """A real kill at an arbitrary moment (save_every_steps=1), then the same command again."""
    n = 12
    args = [f"features.dir={synthetic_store}", "model=blstm_tiny", "train=fast", f"train.max_steps={n}",
            "train.save_every_steps=1", "model.dropout=0.2", "train.max_epochs=5"]
    assert _recipe(*args, f"exp_dir={tmp_path}/straight").returncode == 0
    proc = subprocess.Popen([sys.executable, str(ROOT / "recipes" / "train.py"), *args, f"exp_dir={tmp_path}/killed"],
                            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    last = tmp_path / "killed" / "last.pt"
    deadline = time.time() + 300
    while time.time() < deadline and proc.poll() is None:
        if last.exists() and load_checkpoint(last, training_state=True)["step"] >= 3:
            os.kill(proc.pid, signal.SIGKILL)
            break
        time.sleep(0.05)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, "the run ended before it could be killed"
    assert _recipe(*args, f"exp_dir={tmp_path}/killed").returncode == 0
    a, b = _params(tmp_path / "straight" / "last.pt"), _params(last)
    assert all(torch.equal(a[name], b[name]) for name in a)
