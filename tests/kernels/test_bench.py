"""The benchmark harness on CPU: the cpu_smoke preset end to end, the correctness gate, cuDNN path rules."""
import csv
import math
import subprocess
import sys
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir

from kernels import bench
from kernels.bench import BenchError, Provider, Shape, run_benchmark

REPO = Path(__file__).resolve().parents[2]
TINY = "{name: tiny, layers: 2, hidden: 8, input: 4, batch: 3, time: 5, min_length: 2}"


def bench_cfg(*overrides: str):
    with initialize_config_dir(config_dir=str(REPO / "conf"), version_base="1.3"):
        return compose(config_name="bench", overrides=list(overrides))


def test_cpu_smoke_preset(tmp_path, capsys):
    cfg = bench_cfg("bench=cpu_smoke", f"bench.out_dir={tmp_path}/run", "bench.save_results=true",
                    f"bench.results_dir={tmp_path}/results")
    rows = run_benchmark(cfg)
    out = capsys.readouterr().out

    shapes = [s["name"] for s in cfg.bench.shapes]
    got = {(r["shape"], r["dtype"], r["provider"]) for r in rows}
    want = {(s, d, p) for s in shapes for d in cfg.bench.dtypes for p in cfg.bench.providers}
    assert got == want
    tol = cfg.bench.tolerance
    for r in rows:
        assert r["status"] == "ok", r
        # the correctness check ran: finite errors within the dtype's tolerance
        assert math.isfinite(r["max_err"]) and r["max_err"] <= tol[r["dtype"]], r
        assert math.isfinite(r["grad_err"]) and r["grad_err"] <= tol[r["dtype"]], r
        assert r["fwd_ms"] > 0 and r["fwdbwd_ms"] > 0 and r["us_per_step"] > 0 and r["tflops_fwd"] > 0
        assert r["speedup_fwdbwd"] > 0
    assert {r["path"] for r in rows if r["provider"] == "interpret"} == {"triton interpreter"}

    # the Markdown table on stdout: a header with versions, one line per row
    assert "torch " in out and "triton " in out and "commit " in out
    table = [line for line in out.splitlines() if line.startswith("| ")]
    assert table[0].startswith("| shape | layers |") and len(table) == 1 + len(rows)
    for shape, dtype, provider in want:
        assert any(f"| {shape} |" in line and f"| {provider} |" in line for line in table[1:])

    files = [tmp_path / "run" / f"cpu_smoke.{ext}" for ext in ("md", "csv", "png")]
    assert all(f.stat().st_size > 0 for f in files)
    with open(files[1]) as f:
        assert len(list(csv.DictReader(f))) == len(rows)
    assert files[2].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    saved = list((tmp_path / "results").glob("*/cpu_smoke.*"))
    assert sorted(p.suffix for p in saved) == [".csv", ".md", ".png"]


class _Broken:
    """The reference chain with a deliberate bug in the forward output or in the gradient."""

    calls = 0

    def __init__(self, lstm, dtype, device, bug):
        self.inner = bench.ChainRunner(lstm, dtype, device, bench._reference_recurrence)
        self.params = self.inner.params
        self.named_grads = self.inner.named_grads
        self.bug = bug

    def __call__(self, x, lengths):
        _Broken.calls += 1
        y = self.inner(x, lengths)
        if self.bug == "forward":
            return y + 1e-3
        return y + 0.5 * (y - y.detach())  # same values, gradients scaled by 1.5


@pytest.mark.parametrize("bug", ["forward", "backward"], ids=["wrong-output", "wrong-gradient"])
def test_failing_provider_is_marked_and_not_timed(bug, tmp_path, monkeypatch):
    monkeypatch.setitem(bench.PROVIDERS, "broken", Provider(lambda m, dt, dev: _Broken(m, dt, dev, bug), "cpu"))
    monkeypatch.setattr(_Broken, "calls", 0)
    cfg = bench_cfg(f"bench.out_dir={tmp_path}", f"bench.shapes=[{TINY}]",
                    "bench.providers=[reference,broken]", "bench.baseline=reference")
    rows = {r["provider"]: r for r in run_benchmark(cfg)}
    assert rows["reference"]["status"] == "ok" and rows["reference"]["fwd_ms"] > 0
    broken = rows["broken"]
    assert broken["status"] == "FAIL"
    err = broken["max_err"] if bug == "forward" else broken["grad_err"]
    assert err > cfg.bench.tolerance.fp32
    assert "fwd_ms" not in broken and "fwdbwd_ms" not in broken and "speedup_fwd" not in broken
    assert _Broken.calls == 1  # the check only: never timed
    assert "FAIL" in (tmp_path / "cpu_smoke.md").read_text()


def test_interpreter_subprocess_failure_is_a_row_not_a_crash(tmp_path, monkeypatch):
    monkeypatch.setattr(sys, "executable", "/bin/false")  # the subprocess exits 1 with no output
    cfg = bench_cfg(f"bench.out_dir={tmp_path}", f"bench.shapes=[{TINY}]", "bench.providers=[reference,interpret]",
                    "bench.baseline=reference", "bench.warmup_ms=1", "bench.rep_ms=1")
    rows = {r["provider"]: r for r in run_benchmark(cfg)}
    assert rows["reference"]["status"] == "ok"
    assert rows["interpret"]["status"] == "ERROR" and "exited 1" in rows["interpret"]["note"]
    assert rows["interpret"]["hidden"] == 8 and "fwd_ms" not in rows["interpret"]


def test_padded_provider_is_checked_over_all_frames(tmp_path):
    # nn.LSTM on padded input runs every sequence over all T frames; its reference does the same
    cfg = bench_cfg(f"bench.out_dir={tmp_path}", f"bench.shapes=[{TINY}]",
                    "bench.providers=[torch,torch_packed]", "bench.warmup_ms=1", "bench.rep_ms=1")
    rows = {r["provider"]: r for r in run_benchmark(cfg)}
    assert rows["torch"]["status"] == rows["torch_packed"]["status"] == "ok"
    assert rows["torch_packed"]["speedup_fwd"] > 0


@pytest.mark.parametrize("override, key", [
    ("bench.providers=[triton,nope]", "bench.providers"),
    ("bench.dtypes=[fp8]", "bench.dtypes"),
    ("bench.baseline=cudnn_fast", "bench.baseline"),
    ("bench.shapes=[{name: x, layers: 1, hidden: 8, input: 4, batch: 2, time: 5, min_length: 9}]",
     "bench.shapes[0].min_length"),
    ("bench.shapes=[{layers: 1, hidden: 0, input: 4, batch: 2, time: 5}]", "bench.shapes[0].hidden"),
    ("bench=default", "bench.shapes"),
    ("bench.device=tpu", "bench.device"),
], ids=["unknown-provider", "unknown-dtype", "unknown-baseline", "min-length-above-time", "zero-hidden", "no-shapes", "bad-device"])
def test_bad_config_names_the_key(override, key, tmp_path):
    cfg = bench_cfg(f"bench.out_dir={tmp_path}", override)
    with pytest.raises(BenchError, match=key.replace("[", r"\[").replace("]", r"\]")):
        run_benchmark(cfg)


def test_cuda_providers_are_skipped_on_cpu_with_a_note(tmp_path, capsys):
    cfg = bench_cfg(f"bench.out_dir={tmp_path}", f"bench.shapes=[{TINY}]",
                    "bench.providers=[cudnn,triton,reference]", "bench.warmup_ms=1", "bench.rep_ms=1")
    rows = run_benchmark(cfg)
    assert [r["provider"] for r in rows] == ["reference"]
    out = capsys.readouterr().out
    assert "skipped `cudnn`: needs CUDA" in out and "skipped `triton`: needs CUDA" in out


def test_ops_called_sees_which_lstm_implementation_runs():
    shape = Shape("s", layers=1, hidden=4, input=3, batch=2, time=3)
    lstm, x, lengths, _ = bench.make_problem(shape, seed=0)
    ops = bench.ops_called(lambda: bench.ModuleRunner(lstm, x.dtype, "cpu", packed=False)(x, lengths))
    assert "aten::lstm" in ops and "aten::_cudnn_rnn" not in ops


H100 = dict(capability=(9, 0), sm_count=132, cudnn_version=91000)
FLASHRNN = dict(layers=1, bidirectional=False, hidden=768, input_size=768, batch=16, time=1024)


@pytest.mark.parametrize("case, forward, want", [
    (dict(FLASHRNN, dtype="fp16", packed=False), True, "persistent"),
    (dict(FLASHRNN, dtype="fp16", packed=False), False, "persistent"),
    (dict(FLASHRNN, dtype="bf16", packed=False), True, "standard"),
    (dict(FLASHRNN, dtype="fp16", packed=True), True, "standard"),
    (dict(FLASHRNN, dtype="fp16", packed=False, bidirectional=True), True, "standard"),
    (dict(FLASHRNN, dtype="fp16", packed=False, layers=2), True, "standard"),
    (dict(FLASHRNN, dtype="fp16", packed=False, batch=12), True, "standard"),
    (dict(FLASHRNN, dtype="bf16", packed=False, hidden=128, layers=4, bidirectional=True), True,
     "persistent small-H"),
    (dict(FLASHRNN, dtype="bf16", packed=False, hidden=192), False, "standard"),
    (dict(FLASHRNN, dtype="fp64", packed=False, hidden=128), True, "standard"),
], ids=["fp16-fwd", "fp16-bwd", "bf16", "packed", "bidirectional", "two-layers", "batch-12",
        "small-h", "small-h-bwd-limit", "fp64"])
def test_cudnn_algo_rules(case, forward, want):
    assert bench.cudnn_algo(forward=forward, **case, **H100) == want


def test_cudnn_algo_excludes_sm86():
    case = dict(FLASHRNN, dtype="fp16", packed=False, forward=True)
    assert bench.cudnn_algo(**case, capability=(8, 6), sm_count=108, cudnn_version=91000) == "standard"
    assert bench.cudnn_algo(**case, capability=(8, 0), sm_count=108, cudnn_version=91000) == "persistent"


def test_lstm_flops_counts_projection_and_recurrence():
    uni = Shape("u", layers=1, hidden=2, input=3, batch=1, time=5, bidirectional=False)
    assert bench.lstm_flops(uni, steps=5) == 5 * (2 * 8 * 3 + 2 * 8 * 2)  # [4H x I] and [4H x H] matvecs
    bi = Shape("b", layers=2, hidden=2, input=3, batch=1, time=5)
    # layer 2 reads both directions' outputs: I_1 = 2H
    assert bench.lstm_flops(bi, steps=5) == 2 * 5 * 8 * 2 * (3 + 2) + 2 * 5 * 8 * 2 * (4 + 2)


def test_recipe_prints_config_and_reports_bad_values_in_one_line(tmp_path):
    cmd = [sys.executable, str(REPO / "recipes" / "bench.py")]
    shown = subprocess.run(cmd + ["--cfg", "job", "bench=eesen"], capture_output=True, text=True, cwd=REPO)
    assert shown.returncode == 0 and "eesen-ragged" in shown.stdout and "min_length: 500" in shown.stdout
    bad = subprocess.run(cmd + ["bench.providers=[nope]", f"hydra.run.dir={tmp_path}"],
                         capture_output=True, text=True, cwd=REPO)
    assert bad.returncode != 0
    assert bad.stderr.strip().splitlines()[-1].startswith("error: bench.providers: unknown provider 'nope'")
