"""The harness: `run_benchmark(cfg)` takes the composed Hydra config (`conf/bench.yaml`, group
`conf/bench/`) and, for every shape x dtype x provider:
  1. checks correctness once against `kernels.reference` run in `bench.check_dtype` (float64):
     forward output and gradients (input and every weight); a row that fails is marked FAIL
     and not timed;
  2. times forward and forward+backward (`benchmarks.timing`);
  3. derives µs per time step, TFLOP/s, peak memory (CUDA) and the speed-up over the baseline.
It prints a Markdown table and writes `<name>.md`, `<name>.csv`, `<name>.png` (`benchmarks.report`).
The `interpret` rows run in a subprocess with TRITON_INTERPRET=1 (`_worker`).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from omegaconf import DictConfig, OmegaConf

from benchmarks.cudnn import cudnn_path, ops_called
from benchmarks.problems import DTYPES, MODULES, BenchError, Shape, make_problem, parse_dtype, parse_shapes, rnn_flops
from benchmarks.providers import PROVIDERS, REFERENCE, ChainRunner
from benchmarks.report import environment, write_report
from benchmarks.timing import tf32, time_fn


@dataclass
class Settings:
    """What a measurement needs from the config (plain values: it travels to the interpreter subprocess)."""

    seed: int
    warmup_ms: float
    rep_ms: float
    check_dtype: str
    tolerance: dict
    device: str  # where `reference` (and the check's reference) runs: cuda | cpu


def _forward_backward(runner, x, lengths, g):
    """One forward+backward; returns (y, grads of [x] + runner.params)."""
    y = runner(x, lengths)
    return y, torch.autograd.grad(y, [x] + runner.params, g.to(y.dtype))


def _err(a: torch.Tensor, b: torch.Tensor) -> float:
    return (a.double() - b.double()).abs().max().item()


class ReferenceCache:
    """The check's ground truth per (shape, padded): y and named gradients in bench.check_dtype."""

    def __init__(self, settings: Settings):
        self.s = settings
        self.cache: dict = {}

    def get(self, shape: Shape, padded: bool, device: str):
        key = (shape, padded, device)
        if key not in self.cache:
            if any(k[0] != shape for k in self.cache):
                self.cache.clear()  # one shape at a time: large shapes hold GBs
            rnn, x, lengths, g = make_problem(shape, self.s.seed)
            dt = DTYPES[self.s.check_dtype]
            runner = ChainRunner(rnn, dt, device, REFERENCE)
            x = x.to(device, dt).requires_grad_()
            lens = None if padded or lengths is None else lengths.to(device)
            with tf32(False):  # full fp32 precision when check_dtype is fp32
                y, grads = _forward_backward(runner, x, lens, g.to(device))
            named = {"input": grads[0], **runner.named_grads(grads[1:])}
            self.cache[key] = (y.detach(), {k: v.detach() for k, v in named.items()})
        return self.cache[key]


def base_row(shape: Shape, dtype: str, name: str, status: str = "ok", note: str = "") -> dict:
    path = PROVIDERS[name].path.format(module=MODULES[shape.cell].__name__)
    return dict(shape=shape.name, cell=shape.cell, layers=shape.layers, hidden=shape.hidden, input=shape.input,
                directions=shape.directions, batch=shape.batch, time=shape.time, lengths=shape.lengths_label,
                dtype=dtype, provider=name, path=path, status=status, note=note)


def measure(shape: Shape, dtype: str, name: str, settings: Settings, refs: ReferenceCache) -> dict:
    """Check then time one provider on one shape and dtype; returns a row (speed-ups filled in later)."""
    provider = PROVIDERS[name]
    if shape.cell not in provider.cells:  # e.g. the peephole kernel on a GRU shape: nothing to measure
        return base_row(shape, dtype, name, "n/a", f"runs the {'/'.join(provider.cells)} cell only, "
                                                   f"not {shape.cell}")
    device = settings.device if provider.device == "bench" else provider.device
    row = base_row(shape, dtype, name)
    rnn, x, lengths, g = make_problem(shape, settings.seed)
    dt = DTYPES[dtype]
    try:
        runner = provider.make(rnn, dt, device)
        x = x.to(device, dt)
        g = g.to(device, dt)
        lens = None if lengths is None else lengths.to(device)
        # correctness, once, before any timing
        y_ref, grads_ref = refs.get(shape, provider.padded, settings.device)
        y, grads = _forward_backward(runner, x.clone().requires_grad_(), lens, g)
        named = {"input": grads[0], **runner.named_grads(grads[1:])}
        row["max_err"] = _err(y, y_ref.to(y.device))
        row["grad_err"] = max(_err(named[k], r.to(y.device)) / max(r.abs().max().item(), 1e-12)
                              for k, r in grads_ref.items())
        del y, grads, named
        if name in ("cudnn", "cudnn_packed"):
            with torch.no_grad():
                used = "aten::_cudnn_rnn" in ops_called(lambda: runner(x, lens))
            row["path"] = cudnn_path(shape, dtype, packed=name == "cudnn_packed") if used else "native (no cuDNN)"
    except Exception as e:  # a provider that cannot run this shape/dtype is reported, not fatal
        row.update(status="ERROR", note=f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}")
        return row
    tol = settings.tolerance[dtype]
    if not (row["max_err"] <= tol and row["grad_err"] <= tol):  # NaN fails too
        row.update(status="FAIL", note=f"error above tolerance {tol:g}")
        return row
    try:
        def fwd():
            with torch.no_grad():
                runner(x, lens)

        xg = x.clone().requires_grad_()
        row["fwd_ms"] = time_fn(fwd, device, settings.warmup_ms, settings.rep_ms)
        row["fwdbwd_ms"] = time_fn(lambda: _forward_backward(runner, xg, lens, g), device,
                                   settings.warmup_ms, settings.rep_ms)
        if device == "cuda":
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
            base = torch.cuda.memory_allocated()
            _forward_backward(runner, xg, lens, g)
            torch.cuda.synchronize()
            row["peak_mib"] = (torch.cuda.max_memory_allocated() - base) / 2**20
    except Exception as e:
        row.update(status="ERROR", note=f"timing: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}")
        return row
    steps = shape.batch * shape.time if lengths is None else int(lengths.sum())
    flops = rnn_flops(shape, steps)
    row["us_per_step"] = row["fwd_ms"] * 1e3 / shape.time
    row["tflops_fwd"] = flops / (row["fwd_ms"] * 1e-3) / 1e12
    row["tflops_fwdbwd"] = 3 * flops / (row["fwdbwd_ms"] * 1e-3) / 1e12
    return row


# ----------------------------------------------------------------------------- the interpreter subprocess


def _run_interpreter(jobs: list[tuple[Shape, str]], settings: Settings) -> list[dict]:
    """Run the `interpret` rows in a fresh Python with TRITON_INTERPRET=1 (it must be set before
    triton is imported, which this process may already have done)."""
    spec = json.dumps({"jobs": [[asdict(s), dt] for s, dt in jobs], "settings": asdict(settings)})
    env = {**os.environ, "TRITON_INTERPRET": "1"}
    proc = subprocess.run([sys.executable, "-c", "from benchmarks.harness import _worker; _worker()"],
                          input=spec, capture_output=True, text=True, env=env)
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith("BENCH_ROWS "):
            return json.loads(line[len("BENCH_ROWS "):])
    tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
    return [base_row(s, dt, "interpret", "ERROR", f"interpreter subprocess exited {proc.returncode}: {tail}")
            for s, dt in jobs]


def _worker() -> None:
    """Entry point of the interpreter subprocess: JSON jobs on stdin, one BENCH_ROWS line on stdout."""
    spec = json.load(sys.stdin)
    settings = Settings(**{**spec["settings"], "device": "cpu"})
    refs = ReferenceCache(settings)
    rows = [measure(Shape(**s), dt, "interpret", settings, refs) for s, dt in spec["jobs"]]
    print("BENCH_ROWS " + json.dumps(rows))


def _settings(b: DictConfig) -> Settings:
    device = str(b.device)
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device not in ("cuda", "cpu"):
        raise BenchError(f"bench.device must be auto, cuda or cpu, got {b.device!r}")
    if device == "cuda" and not torch.cuda.is_available():
        raise BenchError("bench.device=cuda but no CUDA device is available (use bench.device=auto or cpu)")
    tolerance = {parse_dtype(k): float(v) for k, v in b.tolerance.items()}
    for key in ("warmup_ms", "rep_ms"):
        if not float(b[key]) > 0:
            raise BenchError(f"bench.{key} must be > 0, got {b[key]!r}")
    return Settings(seed=int(b.seed), warmup_ms=float(b.warmup_ms), rep_ms=float(b.rep_ms),
                    check_dtype=parse_dtype(b.check_dtype), tolerance=tolerance, device=device)


@dataclass
class Run:
    """A validated `cfg.bench`: what to measure, where to write it, and the notes for the table."""

    name: str
    settings: Settings
    shapes: list[Shape]
    dtypes: list[str]
    runnable: list[str]  # bench.providers that can run on this device, in order
    baseline: str
    tf32: bool
    out_dir: Path
    results_dir: Path | None  # bench.save_results: copy the files to results_dir/<device-slug>/
    interpret_max_work: int
    notes: list[str]


def _out_dir(b: DictConfig) -> Path:
    if b.out_dir is not None:
        return Path(str(b.out_dir))
    from hydra.core.hydra_config import HydraConfig

    if not HydraConfig.initialized():
        raise BenchError("bench.out_dir is required outside a Hydra run (no Hydra run directory)")
    return Path(HydraConfig.get().runtime.output_dir)


def plan_run(cfg: DictConfig) -> Run:
    """Validate `cfg.bench` (each error names its key) and drop the providers this device cannot run."""
    missing = sorted(OmegaConf.missing_keys(cfg))
    if missing:
        raise BenchError(f"{', '.join(missing)}: required (???) but not set")
    b = cfg.bench
    settings = _settings(b)
    shapes = parse_shapes(b.shapes)
    dtypes = [parse_dtype(d) for d in b.dtypes]
    for d in dtypes:
        if d not in settings.tolerance:
            raise BenchError(f"bench.tolerance has no entry for dtype {d}")
    providers = list(b.providers)
    for p in providers:
        if p not in PROVIDERS:
            raise BenchError(f"bench.providers: unknown provider {p!r} (choose from {', '.join(PROVIDERS)})")
    if b.baseline not in PROVIDERS:
        raise BenchError(f"bench.baseline: unknown provider {b.baseline!r} (choose from {', '.join(PROVIDERS)})")
    out_dir = _out_dir(b)
    notes, runnable = [], []
    for p in providers:
        dev = settings.device if PROVIDERS[p].device == "bench" else PROVIDERS[p].device
        if dev == "cuda" and settings.device != "cuda":
            notes.append(f"skipped `{p}`: needs CUDA (bench.device is {settings.device})")
        else:
            runnable.append(p)
    if b.baseline not in runnable:
        notes.append(f"baseline `{b.baseline}` is not run here: the speed-up columns are blank")
    return Run(str(b.name), settings, shapes, dtypes, runnable, str(b.baseline), bool(b.tf32), out_dir,
               Path(str(b.results_dir)) if b.save_results else None, b.interpret_max_work, notes)


def _interpreter_jobs(run: Run) -> list[tuple[Shape, str]]:
    """The (shape, dtype) pairs of the `interpret` rows; shapes too large for the interpreter get a note."""
    jobs = []
    if "interpret" in run.runnable:
        for s in run.shapes:
            work = s.batch * s.time * s.layers * s.directions * s.hidden
            if work > run.interpret_max_work:
                run.notes.append(f"skipped `interpret` on {s.name}: B·T·L·D·H = {work} > bench.interpret_max_work "
                                 f"({run.interpret_max_work}); the interpreter is for tiny shapes")
            else:
                jobs += [(s, dt) for dt in run.dtypes]
    return jobs


def measure_all(run: Run) -> list[dict]:
    """Every row of the run, in shape, dtype, provider order (the interpreter's from its subprocess)."""
    jobs = _interpreter_jobs(run)
    settings = run.settings
    if settings.device == "cpu" or any(PROVIDERS[p].device == "cpu" for p in run.runnable):
        run.notes.append("peak_mib is measured on CUDA only (torch.cuda.max_memory_allocated); blank on CPU")
    if jobs:
        print(f"[bench] interpret: {len(jobs)} rows in a TRITON_INTERPRET=1 subprocess ...",
              file=sys.stderr, flush=True)
    interp = {(r["shape"], r["dtype"]): r for r in (_run_interpreter(jobs, settings) if jobs else [])}
    rows = []
    refs = ReferenceCache(settings)
    with tf32(run.tf32):
        for s in run.shapes:
            for dt in run.dtypes:
                for p in run.runnable:
                    if p == "interpret":
                        if (s.name, dt) in interp:
                            rows.append(interp[(s.name, dt)])
                        continue
                    print(f"[bench] {s.name} {dt} {p} ...", file=sys.stderr, flush=True)
                    rows.append(measure(s, dt, p, settings, refs))
                if settings.device == "cuda":
                    torch.cuda.empty_cache()
    return rows


def run_benchmark(cfg: DictConfig) -> list[dict]:
    """Run the `cfg.bench` preset; print the table, write <name>.md/.csv/.png; return the rows."""
    run = plan_run(cfg)
    rows = measure_all(run)
    for r in rows:
        if r.get("note"):
            run.notes.append(f"{r['shape']} {r['dtype']} `{r['provider']}`: {r['status']}: {r['note']}")
    _add_speedups(rows, run.baseline)
    env = environment(run.settings.device)
    if run.settings.device == "cuda":
        run.notes.insert(0, f"fp32 matmuls and cuDNN: TF32 {'on' if run.tf32 else 'off'} (bench.tf32)")
    write_report(rows, run.name, env, run.settings, run.baseline, run.notes, run.out_dir, run.results_dir)
    return rows


def _add_speedups(rows: list[dict], baseline: str) -> None:
    """speedup_* = baseline ms / row ms, within the same shape and dtype of this run."""
    base = {(r["shape"], r["dtype"]): r for r in rows if r["provider"] == baseline and r.get("fwd_ms")}
    for r in rows:
        ref = base.get((r["shape"], r["dtype"]))
        if ref and r.get("fwd_ms"):
            r["speedup_fwd"] = ref["fwd_ms"] / r["fwd_ms"]
            r["speedup_fwdbwd"] = ref["fwdbwd_ms"] / r["fwdbwd_ms"]
