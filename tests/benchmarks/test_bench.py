"""The benchmark harness on CPU: the cpu_smoke preset end to end (LSTM and GRU rows), the correctness gate,
cuDNN path rules."""
import csv
import math
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_dir

from benchmarks import cudnn, harness, problems, providers
from benchmarks.harness import run_benchmark
from benchmarks.problems import BenchError, Shape
from benchmarks.providers import Provider

REPO = Path(__file__).resolve().parents[2]
TINY = "{name: tiny, layers: 2, hidden: 8, input: 4, batch: 3, time: 5, min_length: 2}"
TINY_GRU = "{name: tiny-gru, cell: gru, layers: 2, hidden: 8, input: 4, batch: 3, time: 5, min_length: 2}"


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

    # a bidirectional, ragged GRU shape: a row for every provider, checked (above) and timed
    gru = [s.name for s in problems.parse_shapes(cfg.bench.shapes) if s.cell == "gru"]
    assert gru and all(r["cell"] == ("gru" if r["shape"] in gru else "lstm") for r in rows)
    gru_rows = [r for r in rows if r["cell"] == "gru"]
    assert {r["provider"] for r in gru_rows} == set(cfg.bench.providers)
    assert all(r["directions"] == 2 and r["lengths"] != "fixed" for r in gru_rows)
    assert {r["path"] for r in gru_rows if r["provider"] == "torch"} == {"nn.GRU cpu padded"}

    # the Markdown table on stdout: a header with versions, one line per row
    assert "torch " in out and "triton " in out and "commit " in out
    table = [line for line in out.splitlines() if line.startswith("| ")]
    assert table[0].startswith("| shape | cell | layers |") and len(table) == 1 + len(rows)
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
        self.inner = providers.ChainRunner(lstm, dtype, device, providers.REFERENCE)
        self.params = self.inner.params
        self.named_grads = self.inner.named_grads
        self.bug = bug

    def __call__(self, x, lengths):
        _Broken.calls += 1
        y = self.inner(x, lengths)
        if self.bug == "forward":
            return y + 1e-3
        return y + 0.5 * (y - y.detach())  # same values, gradients scaled by 1.5


@pytest.mark.parametrize("shape", [TINY, TINY_GRU], ids=["lstm", "gru"])
@pytest.mark.parametrize("bug", ["forward", "backward"], ids=["wrong-output", "wrong-gradient"])
def test_failing_provider_is_marked_and_not_timed(bug, shape, tmp_path, monkeypatch):
    monkeypatch.setitem(providers.PROVIDERS, "broken", Provider(lambda m, dt, dev: _Broken(m, dt, dev, bug), "cpu"))
    monkeypatch.setattr(_Broken, "calls", 0)
    cfg = bench_cfg(f"bench.out_dir={tmp_path}", f"bench.shapes=[{shape}]",
                    "bench.providers=[reference,broken]", "bench.baseline=reference")
    rows = {r["provider"]: r for r in run_benchmark(cfg)}
    assert rows["broken"]["cell"] == ("gru" if shape == TINY_GRU else "lstm")
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
    (f"bench.shapes=[{TINY},{{name: r, cell: rnn_tanh, layers: 1, hidden: 8, input: 4, batch: 2, time: 5}}]",
     "bench.shapes[1].cell"),
    ("bench=default", "bench.shapes"),
    ("bench.device=tpu", "bench.device"),
], ids=["unknown-provider", "unknown-dtype", "unknown-baseline", "min-length-above-time", "zero-hidden", "bad-cell",
        "no-shapes", "bad-device"])
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


def test_bad_cell_message_lists_the_cells():
    with pytest.raises(BenchError, match=r"bench\.shapes\[0\]\.cell must be one of lstm, gru, got 'GRU'"):
        problems.parse_shapes([dict(layers=1, hidden=8, input=4, batch=2, time=5, cell="GRU")])
    # unnamed shapes that differ only in the cell get distinct default names
    shapes = problems.parse_shapes([dict(layers=1, hidden=8, input=4, batch=2, time=5, cell=c)
                                    for c in ("lstm", "gru")])
    assert [s.name for s in shapes] == ["L1xH8-B2-T5", "gru-L1xH8-B2-T5"] and shapes[1].gates == 3


def test_lstm_only_provider_reports_gru_shape_not_applicable(tmp_path):
    # triton_peephole / triton_lstmp compute the LSTM: on a GRU shape, a row that says so, before any CUDA work
    settings = harness.Settings(seed=0, warmup_ms=1, rep_ms=1, check_dtype="fp64", tolerance={"fp32": 1e-4},
                              device="cpu")
    shape = problems.parse_shapes([dict(name="g", cell="gru", layers=1, hidden=4, input=3, batch=2, time=3)])[0]
    for name in ("triton_peephole", "triton_lstmp"):
        row = harness.measure(shape, "fp32", name, settings, harness.ReferenceCache(settings))
        assert row["status"] == "n/a" and "lstm cell only" in row["note"] and "fwd_ms" not in row
    assert providers.PROVIDERS["triton"].cells == providers.PROVIDERS["interpret"].cells == ("lstm", "gru")


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_chain_gradients_use_the_module_naming(cell):
    # every parameter of nn.LSTM / nn.GRU is checked, bias_hh included (the GRU's b_hn lives inside the
    # reset gate, so its gradient differs from bias_ih's); the reference chain matches the module
    shape = Shape("s", layers=2, hidden=5, input=3, batch=3, time=4, cell=cell)
    module, x, _, g = problems.make_problem(shape, seed=0)
    named = []
    for runner in (providers.ChainRunner(module, x.dtype, "cpu", providers.REFERENCE),
                   providers.ModuleRunner(module, x.dtype, "cpu", packed=False)):
        y, grads = harness._forward_backward(runner, x.clone().requires_grad_(), None, g)
        named.append((y, runner.named_grads(grads[1:])))
    (y_chain, chain), (y_module, mod) = named
    assert isinstance(module, torch.nn.GRU if cell == "gru" else torch.nn.LSTM)
    assert set(chain) == set(mod) == {n for n, _ in module.named_parameters()}
    assert torch.allclose(y_chain, y_module, atol=1e-12)
    for k in mod:
        assert torch.allclose(chain[k], mod[k], atol=1e-12), k


@pytest.mark.parametrize("cell, op", [("lstm", "aten::lstm"), ("gru", "aten::gru")])
def test_ops_called_sees_which_rnn_implementation_runs(cell, op):
    shape = Shape("s", layers=1, hidden=4, input=3, batch=2, time=3, cell=cell)
    rnn, x, lengths, _ = problems.make_problem(shape, seed=0)
    ops = cudnn.ops_called(lambda: providers.ModuleRunner(rnn, x.dtype, "cpu", packed=False)(x, lengths))
    assert op in ops and "aten::_cudnn_rnn" not in ops


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
    # cuDNN mode GRU: the same small-H limits; PyTorch never picks persist static for GRU on sm_80+
    (dict(FLASHRNN, dtype="fp16", packed=False, cell="gru"), True, "standard"),
    (dict(FLASHRNN, dtype="bf16", packed=False, hidden=128, cell="gru"), False, "persistent small-H"),
    (dict(FLASHRNN, dtype="fp16", packed=False, hidden=320, layers=4, bidirectional=True, cell="gru"), True,
     "standard"),
], ids=["fp16-fwd", "fp16-bwd", "bf16", "packed", "bidirectional", "two-layers", "batch-12",
        "small-h", "small-h-bwd-limit", "fp64", "gru-fp16-no-persist", "gru-small-h", "gru-eesen"])
def test_cudnn_algo_rules(case, forward, want):
    assert cudnn.cudnn_algo(forward=forward, **case, **H100) == want


def test_cudnn_algo_excludes_sm86():
    case = dict(FLASHRNN, dtype="fp16", packed=False, forward=True)
    assert cudnn.cudnn_algo(**case, capability=(8, 6), sm_count=108, cudnn_version=91000) == "standard"
    assert cudnn.cudnn_algo(**case, capability=(8, 0), sm_count=108, cudnn_version=91000) == "persistent"


def test_cudnn_algo_gru_persistent_on_volta_only():
    case = dict(FLASHRNN, dtype="fp16", packed=False, forward=True, cell="gru")
    assert cudnn.cudnn_algo(**case, capability=(7, 0), sm_count=80, cudnn_version=91000) == "persistent"
    assert cudnn.cudnn_algo(**case, capability=(8, 0), sm_count=108, cudnn_version=91000) == "standard"


def test_rnn_flops_counts_projection_and_recurrence():
    uni = Shape("u", layers=1, hidden=2, input=3, batch=1, time=5, bidirectional=False)
    assert problems.rnn_flops(uni, steps=5) == 5 * (2 * 8 * 3 + 2 * 8 * 2)  # [4H x I] and [4H x H] matvecs
    bi = Shape("b", layers=2, hidden=2, input=3, batch=1, time=5)
    # layer 2 reads both directions' outputs: I_1 = 2H
    assert problems.rnn_flops(bi, steps=5) == 2 * 5 * 8 * 2 * (3 + 2) + 2 * 5 * 8 * 2 * (4 + 2)
    # GRU: 3 gates, [3H x I] and [3H x H] matvecs
    gru = Shape("g", layers=2, hidden=2, input=3, batch=1, time=5, cell="gru")
    assert problems.rnn_flops(gru, steps=5) == 2 * 5 * 6 * 2 * (3 + 2) + 2 * 5 * 6 * 2 * (4 + 2)
    assert problems.rnn_flops(gru, steps=5) * 4 == problems.rnn_flops(bi, steps=5) * 3


def test_recipe_prints_config_and_reports_bad_values_in_one_line(tmp_path):
    cmd = [sys.executable, str(REPO / "recipes" / "bench.py")]
    shown = subprocess.run(cmd + ["--cfg", "job", "bench=eesen"], capture_output=True, text=True, cwd=REPO)
    assert shown.returncode == 0 and "eesen-ragged" in shown.stdout and "min_length: 500" in shown.stdout
    family = subprocess.run(cmd + ["--cfg", "job", "bench=family"], capture_output=True, text=True, cwd=REPO)
    assert family.returncode == 0 and "cell: gru" in family.stdout and "triton_lstmp" in family.stdout
    bad = subprocess.run(cmd + ["bench.providers=[nope]", f"hydra.run.dir={tmp_path}"],
                         capture_output=True, text=True, cwd=REPO)
    assert bad.returncode != 0
    assert bad.stderr.strip().splitlines()[-1].startswith("error: bench.providers: unknown provider 'nope'")
