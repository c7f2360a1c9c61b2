"""Microbenchmarks of the LSTM and GRU recurrences: our Triton kernels against cuDNN, PyTorch and the reference.

`run_benchmark(cfg)` takes the composed Hydra config (`conf/bench.yaml`, group `conf/bench/`)
and, for every shape x dtype x provider:
  1. checks correctness once against `kernels.reference` run in `bench.check_dtype` (float64):
     forward output and gradients (input and every weight); a row that fails is marked FAIL
     and not timed;
  2. times forward and forward+backward (medians over repeats after warm-up:
     `triton.testing.do_bench` on CUDA, the same discipline with `time.perf_counter` on CPU);
  3. derives µs per time step, TFLOP/s, peak memory (CUDA) and the speed-up over the baseline.
It prints a Markdown table and writes `<name>.md`, `<name>.csv`, `<name>.png` to the output dir.

A shape's `cell` (lstm | gru) picks the problem: a multi-layer (B)LSTM or (B)GRU, run by every
provider on the same weights, drawn from one seeded `torch.nn.LSTM` / `torch.nn.GRU`. Chained
providers (triton, interpret, reference) run per layer:
    x [B,T,I] -> xproj = x·W_ihᵀ + b  [B,T,D,4H] -> lstm_recurrence       -> y [B,T,D,H] -> [B,T,D*H] -> next layer
    x [B,T,I] -> xproj = x·W_ihᵀ + b' [B,T,D,3H] -> gru_recurrence(b_hn) -> y [B,T,D,H] -> [B,T,D*H] -> next layer
(GRU: b' = b_ih + [b_hr, b_hz, 0]; b_hn stays inside the reset gate, as in torch.nn.GRU and asr/rnn.py.)
Providers that only compute the LSTM (triton_peephole, triton_lstmp) report GRU rows as `n/a`.
"""
from __future__ import annotations

import contextlib
import copy
import csv
import datetime
import json
import math
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

import torch
from omegaconf import DictConfig, OmegaConf
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence


class BenchError(ValueError):
    """A bad benchmark configuration or setting; the message names the key."""


DTYPES = {"fp64": torch.float64, "fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}
DTYPE_ALIASES = {"float64": "fp64", "float32": "fp32", "float16": "fp16", "bfloat16": "bf16", "half": "fp16"}
MODULES = {"lstm": torch.nn.LSTM, "gru": torch.nn.GRU}  # bench.shapes[i].cell -> the seeded module
CELLS = tuple(MODULES)
COLUMNS = [
    "shape", "cell", "layers", "hidden", "input", "directions", "batch", "time", "lengths", "dtype", "provider",
    "path", "status", "max_err", "grad_err", "fwd_ms", "fwdbwd_ms", "us_per_step", "peak_mib",
    "tflops_fwd", "tflops_fwdbwd", "speedup_fwd", "speedup_fwdbwd",
]


# ----------------------------------------------------------------------------- shapes


@dataclass(frozen=True)
class Shape:
    """One benchmark problem: a `layers` x `hidden` (B)LSTM or (B)GRU over a [batch, time, input] batch."""

    name: str
    layers: int
    hidden: int
    input: int
    batch: int
    time: int
    bidirectional: bool = True
    min_length: int | None = None  # None: every sequence has `time` frames; else uniform in [min_length, time]
    cell: str = "lstm"  # lstm | gru (torch.nn.GRU's formulation: gates r, z, n)

    @property
    def directions(self) -> int:
        return 2 if self.bidirectional else 1

    @property
    def gates(self) -> int:
        """Gate blocks per direction: W_ih is [gates·H, I], W_hh [gates·H, H]."""
        return 3 if self.cell == "gru" else 4

    @property
    def lengths_label(self) -> str:
        return "fixed" if self.min_length is None else f"{self.min_length}-{self.time}"


def parse_shapes(shapes) -> list[Shape]:
    """Validate `bench.shapes` (a list of mappings) into Shapes; errors name the key."""
    if not shapes:
        raise BenchError("bench.shapes is empty: give at least one shape")
    out = []
    fields = set(Shape.__dataclass_fields__)
    for i, s in enumerate(shapes):
        key = f"bench.shapes[{i}]"
        if not isinstance(s, (dict, DictConfig)):
            raise BenchError(f"{key} must be a mapping with keys {sorted(fields)}, got {s!r}")
        s = dict(s)
        unknown = set(s) - fields
        if unknown:
            raise BenchError(f"{key} has unknown keys {sorted(unknown)} (allowed: {sorted(fields)})")
        for f in ("layers", "hidden", "input", "batch", "time"):
            if not isinstance(s.get(f), int) or isinstance(s.get(f), bool) or s[f] < 1:
                raise BenchError(f"{key}.{f} must be a positive integer, got {s.get(f)!r}")
        cell = s.setdefault("cell", "lstm")
        if cell not in CELLS:
            raise BenchError(f"{key}.cell must be one of {', '.join(CELLS)}, got {cell!r}")
        prefix = "" if cell == "lstm" else f"{cell}-"
        s.setdefault("name", f"{prefix}L{s['layers']}xH{s['hidden']}-B{s['batch']}-T{s['time']}")
        m = s.get("min_length")
        if m is not None and (not isinstance(m, int) or not 1 <= m <= s["time"]):
            raise BenchError(f"{key}.min_length must be null or an integer in [1, time={s['time']}], got {m!r}")
        out.append(Shape(**s))
    names = [s.name for s in out]
    if len(set(names)) != len(names):
        raise BenchError(f"bench.shapes has repeated names: {names}")
    return out


def parse_dtype(name: str) -> str:
    short = DTYPE_ALIASES.get(str(name), str(name))
    if short not in DTYPES:
        raise BenchError(f"bench.dtypes: unknown dtype {name!r} (choose from {', '.join(DTYPES)})")
    return short


def make_problem(shape: Shape, seed: int):
    """Seeded float64 CPU problem: (module: nn.LSTM or nn.GRU by shape.cell, x [B,T,I],
    lengths [B] int64 or None, g [B,T,D*H]).

    Every provider (and the interpreter subprocess) rebuilds the same problem from the seed.
    """
    gen = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)  # the module's init draws from the global generator
    rnn = MODULES[shape.cell](shape.input, shape.hidden, num_layers=shape.layers,
                              bidirectional=shape.bidirectional, batch_first=True).double()
    x = torch.randn(shape.batch, shape.time, shape.input, generator=gen, dtype=torch.float64)
    lengths = None
    if shape.min_length is not None:
        lengths = torch.randint(shape.min_length, shape.time + 1, (shape.batch,), generator=gen)
        lengths[0] = shape.time  # the batch is padded to exactly `time`
    g = torch.randn(shape.batch, shape.time, shape.directions * shape.hidden, generator=gen, dtype=torch.float64)
    return rnn, x, lengths, g


def rnn_flops(shape: Shape, steps: int) -> float:
    """Forward FLOPs over `steps` valid (sequence, frame) pairs: per layer l and direction,
    2·GH·I_l (input projection) + 2·GH·H (recurrence) per step, G = 4 gates (LSTM) or 3 (GRU);
    I_0 = input, I_l = D·H. Element-wise gate math is not counted."""
    D, H, G = shape.directions, shape.hidden, shape.gates
    return sum(D * steps * 2 * G * H * ((shape.input if l == 0 else D * H) + H) for l in range(shape.layers))


# ----------------------------------------------------------------------------- providers


class ChainRunner:
    """Layer by layer: one matmul for both directions' input projection, then the cell's recurrence.

    `recurrences` maps a cell to fn(xproj [B,T,D,GH], w_hh [D,GH,H], *extra, lengths) -> (y [B,T,D,H], ...);
    extra is () for the LSTM and (b_hn [D,H],) for the GRU, whose b_hr, b_hz fold into xproj's bias.
    """

    def __init__(self, rnn: torch.nn.LSTM | torch.nn.GRU, dtype: torch.dtype, device: str,
                 recurrences: dict[str, Callable]):
        self.cell = "gru" if isinstance(rnn, torch.nn.GRU) else "lstm"
        if self.cell not in recurrences:
            raise ValueError(f"no {self.cell} recurrence (this runner has {', '.join(recurrences)})")
        self.recurrence = recurrences[self.cell]
        self.layers = []
        H = rnn.hidden_size
        sfx = ["", "_reverse"][: 2 if rnn.bidirectional else 1]
        for k in range(rnn.num_layers):
            get = lambda n: [getattr(rnn, f"{n}_l{k}{s}").detach() for s in sfx]  # noqa: E731
            w_ih = torch.cat(get("weight_ih"))  # [D*GH, I]
            w_hh = torch.stack(get("weight_hh"))  # [D, GH, H]
            if self.cell == "gru":  # b_hr, b_hz fold into xproj; b_hn stays inside the reset gate
                b = torch.cat([bi + torch.cat([bh[:2 * H], bh.new_zeros(H)])
                               for bi, bh in zip(get("bias_ih"), get("bias_hh"))])  # [D*3H]
                extra = [torch.stack([bh[2 * H:] for bh in get("bias_hh")])]  # b_hn [D, H]
            else:
                b = torch.cat([bi + bh for bi, bh in zip(get("bias_ih"), get("bias_hh"))])  # [D*4H]
                extra = []
            self.layers.append([t.to(device, dtype).requires_grad_() for t in [w_ih, b, w_hh, *extra]])
        self.params = [p for layer in self.layers for p in layer]
        self.directions = len(sfx)

    def __call__(self, x: torch.Tensor, lengths: torch.Tensor | None) -> torch.Tensor:
        B, T, _ = x.shape
        for w_ih, b, w_hh, *extra in self.layers:
            xproj = torch.addmm(b, x.reshape(B * T, -1), w_ih.t()).view(B, T, self.directions, -1)  # [B,T,D,GH]
            y = self.recurrence(xproj, w_hh, *extra, lengths)[0]  # [B, T, D, H]
            x = y.reshape(B, T, -1)  # [B, T, D*H]
        return x

    def named_grads(self, grads) -> dict[str, torch.Tensor]:
        """Gradients of every parameter in nn.LSTM's / nn.GRU's naming. bias_ih gets the gradient of
        the folded bias b; bias_hh the same (LSTM) or, for the GRU, b's r, z parts and b_hn's gradient."""
        out = {}
        D, n = self.directions, len(self.layers[0])
        sfx = ["", "_reverse"][:D]
        for k in range(len(self.layers)):
            g_ih, g_b, g_hh, *g_extra = grads[n * k: n * k + n]
            for d, s in enumerate(sfx):
                g_bd = g_b.chunk(D)[d]  # [GH]
                out[f"weight_ih_l{k}{s}"] = g_ih.chunk(D)[d]
                out[f"weight_hh_l{k}{s}"] = g_hh[d]
                out[f"bias_ih_l{k}{s}"] = g_bd
                if self.cell == "gru":
                    H = g_extra[0].shape[-1]
                    out[f"bias_hh_l{k}{s}"] = torch.cat([g_bd[:2 * H], g_extra[0][d]])  # [3H]: b_hr, b_hz, b_hn
                else:
                    out[f"bias_hh_l{k}{s}"] = g_bd
        return out


class ModuleRunner:
    """`torch.nn.LSTM` / `torch.nn.GRU` (all layers in one call: cuDNN on CUDA), padded or packed input."""

    def __init__(self, rnn: torch.nn.LSTM | torch.nn.GRU, dtype: torch.dtype, device: str, packed: bool):
        self.rnn = copy.deepcopy(rnn).to(device, dtype)
        if device == "cuda":
            self.rnn.flatten_parameters()
        self.packed = packed
        self.names = [n for n, _ in self.rnn.named_parameters()]
        self.params = list(self.rnn.parameters())

    def __call__(self, x: torch.Tensor, lengths: torch.Tensor | None) -> torch.Tensor:
        if not self.packed:
            return self.rnn(x)[0]  # every sequence over all T frames
        B, T, _ = x.shape
        lengths = torch.full((B,), T) if lengths is None else lengths.cpu()
        packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
        y, _ = pad_packed_sequence(self.rnn(packed)[0], batch_first=True, total_length=T)
        return y  # [B, T, D*H]

    def named_grads(self, grads) -> dict[str, torch.Tensor]:
        return dict(zip(self.names, grads))


def _registered(kind: str, cell: str):
    """The registered cell's public recurrence (kind "fn") or its plain-PyTorch twin ("reference")."""
    def run(*args):
        from kernels import cells

        return getattr(cells.get(cell), kind)(*args)
    return run


TRITON = {c: _registered("fn", c) for c in CELLS}  # cell -> ChainRunner recurrence (kernels.cells)
REFERENCE = {c: _registered("reference", c) for c in CELLS}


def _peephole_as_lstm(xproj, w_hh, lengths):
    """The peephole kernel with zero peepholes: the same function as the LSTM (so the same check)."""
    from kernels import peephole_lstm_recurrence

    peep = w_hh.new_zeros(w_hh.shape[0], 3, w_hh.shape[2])
    return peephole_lstm_recurrence(xproj, w_hh, peep, lengths)


def _lstmp_as_lstm(xproj, w_hh, lengths):
    """The two-phase LSTMP kernel with W_hr = I (P = H): the LSTM again, at the cost of a P = H projection."""
    from kernels import lstmp_recurrence

    D, _, H = w_hh.shape
    w_hr = torch.eye(H, dtype=w_hh.dtype, device=w_hh.device).expand(D, H, H).contiguous()
    return lstmp_recurrence(xproj, w_hh, w_hr, lengths)


@dataclass
class Provider:
    """How to build a runner from the seeded module; `device`: cuda (needs CUDA), cpu, or bench (= bench.device).
    `padded`: runs every sequence over all T frames (checked against the full-length reference).
    `path`: the implementation, for the table ({module}: LSTM or GRU). `cells`: the cells it can run;
    a shape of another cell gets an `n/a` row."""

    make: Callable[[torch.nn.Module, torch.dtype, str], object]
    device: str
    padded: bool = False
    path: str = ""
    cells: tuple[str, ...] = CELLS


# Tests may register extra providers here (see tests/kernels/test_bench.py).
PROVIDERS: dict[str, Provider] = {
    "triton": Provider(lambda m, dt, dev: ChainRunner(m, dt, dev, TRITON), "cuda", path="triton"),
    "triton_peephole": Provider(lambda m, dt, dev: ChainRunner(m, dt, dev, {"lstm": _peephole_as_lstm}), "cuda",
                                path="triton peephole (p = 0)", cells=("lstm",)),
    "triton_lstmp": Provider(lambda m, dt, dev: ChainRunner(m, dt, dev, {"lstm": _lstmp_as_lstm}), "cuda",
                             path="triton lstmp (W_hr = I)", cells=("lstm",)),
    "cudnn": Provider(lambda m, dt, dev: ModuleRunner(m, dt, dev, packed=False), "cuda", padded=True),
    "cudnn_packed": Provider(lambda m, dt, dev: ModuleRunner(m, dt, dev, packed=True), "cuda"),
    "reference": Provider(lambda m, dt, dev: ChainRunner(m, dt, dev, REFERENCE), "bench",
                          path="reference loop"),
    "torch": Provider(lambda m, dt, dev: ModuleRunner(m, dt, dev, packed=False), "cpu", padded=True,
                      path="nn.{module} cpu padded"),
    "torch_packed": Provider(lambda m, dt, dev: ModuleRunner(m, dt, dev, packed=True), "cpu",
                             path="nn.{module} cpu packed"),
    # Our kernels under TRITON_INTERPRET=1; always run in a subprocess (see _run_interpreter).
    "interpret": Provider(lambda m, dt, dev: ChainRunner(m, dt, dev, TRITON), "cpu",
                          path="triton interpreter"),
}


def cudnn_algo(*, layers: int, bidirectional: bool, hidden: int, input_size: int, batch: int, time: int,
               dtype: str, packed: bool, forward: bool, capability: tuple[int, int], sm_count: int,
               cudnn_version: int | None, cell: str = "lstm") -> str:
    """The cuDNN RNN algorithm PyTorch picks for cuDNN mode LSTM or GRU (`cell`) (mirrors `get_algo`
    in aten/src/ATen/native/cudnn/RNN.cpp: the small-H limits are the same for both modes; on sm_80+
    PyTorch never picks persist static for GRU)."""
    if cell not in CELLS:
        raise ValueError(f"cell must be one of {', '.join(CELLS)}, got {cell!r}")
    if packed or dtype == "fp64":
        return "standard"
    major, minor = capability
    if major >= 6 and (cudnn_version or 0) >= 8201 and hidden <= (192 if forward else 128):
        return "persistent small-H"
    if dtype != "fp16":
        return "standard"
    common = layers == 1 and not bidirectional and hidden <= 1024 and hidden % 128 == 0 and input_size % 128 == 0
    if major == 7:
        device_ok = minor != 5 and ((batch % 16 == 0 and batch not in (80, 112)) or batch == 8) and (
            (time >= 40 and batch <= 128) or (time >= 20 and batch <= 96) or (time >= 10 and batch <= 32))
    else:
        device_ok = (major >= 8 and sm_count >= 98 and minor != 6 and cell == "lstm"
                     and batch % 8 == 0 and batch <= 128)
    return "persistent" if common and device_ok else "standard"


def ops_called(fn: Callable[[], object]) -> set[str]:
    """Names of the aten ops one call of `fn` dispatches (to see whether nn.LSTM / nn.GRU reached cuDNN)."""
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU], acc_events=True) as prof:
        fn()
    return {e.key for e in prof.key_averages()}


def cudnn_path(shape: Shape, dtype: str, packed: bool) -> str:
    """'cudnn <algo>' ('cudnn GRU <algo>' for cuDNN mode GRU) for forward and backward on the current
    CUDA device, by PyTorch's rules."""
    if not torch.backends.cudnn.is_available():
        return "native (no cuDNN)"
    props = torch.cuda.get_device_properties(torch.cuda.current_device())
    kw = dict(layers=shape.layers, bidirectional=shape.bidirectional, hidden=shape.hidden,
              input_size=shape.input, batch=shape.batch, time=shape.time, dtype=dtype, packed=packed,
              capability=(props.major, props.minor), sm_count=props.multi_processor_count,
              cudnn_version=torch.backends.cudnn.version(), cell=shape.cell)
    fwd, bwd = cudnn_algo(forward=True, **kw), cudnn_algo(forward=False, **kw)
    mode = "cudnn" if shape.cell == "lstm" else f"cudnn {shape.cell.upper()}"
    return f"{mode} {fwd}" if fwd == bwd else f"{mode} {fwd} fwd / {bwd} bwd"


# ----------------------------------------------------------------------------- timing


def time_cpu(fn: Callable[[], object], warmup_ms: float, rep_ms: float) -> float:
    """Median ms of `fn`, with do_bench's discipline: estimate, warm up for ~warmup_ms, repeat for ~rep_ms."""
    t0 = time.perf_counter()
    fn()
    est = max((time.perf_counter() - t0) * 1e3, 1e-3)
    for _ in range(max(1, int(warmup_ms / est))):
        fn()
    times = []
    for _ in range(max(3, int(rep_ms / est))):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(times)


def time_fn(fn: Callable[[], object], device: str, warmup_ms: float, rep_ms: float) -> float:
    if device == "cuda":
        from triton.testing import do_bench

        return do_bench(fn, warmup=warmup_ms, rep=rep_ms, return_mode="median")
    return time_cpu(fn, warmup_ms, rep_ms)


# ----------------------------------------------------------------------------- one row


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


@contextlib.contextmanager
def tf32(enabled: bool):
    """TF32 for fp32 matmuls (torch and our kernel follow torch.backends.cuda.matmul) and cuDNN."""
    saved = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = enabled
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved


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
    proc = subprocess.run([sys.executable, "-c", "from kernels.bench import _worker; _worker()"],
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


# ----------------------------------------------------------------------------- the run


def _git_commit() -> str:
    here = Path(__file__).resolve().parent
    try:
        rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=here, capture_output=True,
                             text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=here,
                               capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return rev + ("-dirty" if dirty else "")


def device_name(device: str) -> str:
    if device == "cuda":
        return torch.cuda.get_device_name()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "cpu"


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "unknown"


def environment(device: str) -> dict:
    import triton

    cudnn = torch.backends.cudnn.version() if device == "cuda" and torch.backends.cudnn.is_available() else None
    return dict(device=device_name(device), torch=torch.__version__, triton=triton.__version__,
                cudnn=str(cudnn) if cudnn else "n/a", commit=_git_commit(),
                date=datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"))


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


def run_benchmark(cfg: DictConfig) -> list[dict]:
    """Run the `cfg.bench` preset; print the table, write <name>.md/.csv/.png; return the rows."""
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
    if b.out_dir is not None:
        out_dir = Path(str(b.out_dir))
    else:
        from hydra.core.hydra_config import HydraConfig

        if not HydraConfig.initialized():
            raise BenchError("bench.out_dir is required outside a Hydra run (no Hydra run directory)")
        out_dir = Path(HydraConfig.get().runtime.output_dir)

    notes = []
    runnable = []
    for p in providers:
        dev = settings.device if PROVIDERS[p].device == "bench" else PROVIDERS[p].device
        if dev == "cuda" and settings.device != "cuda":
            notes.append(f"skipped `{p}`: needs CUDA (bench.device is {settings.device})")
        else:
            runnable.append(p)
    if b.baseline not in runnable:
        notes.append(f"baseline `{b.baseline}` is not run here: the speed-up columns are blank")
    jobs = []
    if "interpret" in runnable:
        for s in shapes:
            work = s.batch * s.time * s.layers * s.directions * s.hidden
            if work > b.interpret_max_work:
                notes.append(f"skipped `interpret` on {s.name}: B·T·L·D·H = {work} > bench.interpret_max_work "
                             f"({b.interpret_max_work}); the interpreter is for tiny shapes")
            else:
                jobs += [(s, dt) for dt in dtypes]
    if settings.device == "cpu" or any(PROVIDERS[p].device == "cpu" for p in runnable):
        notes.append("peak_mib is measured on CUDA only (torch.cuda.max_memory_allocated); blank on CPU")
    if jobs:
        print(f"[bench] interpret: {len(jobs)} rows in a TRITON_INTERPRET=1 subprocess ...",
              file=sys.stderr, flush=True)
    interp = {(r["shape"], r["dtype"]): r for r in (_run_interpreter(jobs, settings) if jobs else [])}

    rows = []
    refs = ReferenceCache(settings)
    with tf32(bool(b.tf32)):
        for s in shapes:
            for dt in dtypes:
                for p in runnable:
                    if p == "interpret":
                        if (s.name, dt) in interp:
                            rows.append(interp[(s.name, dt)])
                        continue
                    print(f"[bench] {s.name} {dt} {p} ...", file=sys.stderr, flush=True)
                    rows.append(measure(s, dt, p, settings, refs))
                if settings.device == "cuda":
                    torch.cuda.empty_cache()
    for r in rows:
        if r.get("note"):
            notes.append(f"{r['shape']} {r['dtype']} `{r['provider']}`: {r['status']}: {r['note']}")
    _add_speedups(rows, str(b.baseline))

    env = environment(settings.device)
    name = str(b.name)
    if settings.device == "cuda":
        notes.insert(0, f"fp32 matmuls and cuDNN: TF32 {'on' if b.tf32 else 'off'} (bench.tf32)")
    header = _header(name, env, settings, str(b.baseline), notes)
    table = markdown_table(rows)
    print(header + "\n" + table)
    out_dir.mkdir(parents=True, exist_ok=True)
    files = [out_dir / f"{name}.md", out_dir / f"{name}.csv", out_dir / f"{name}.png"]
    files[0].write_text(header + "\n" + table)
    write_csv(rows, files[1])
    write_plot(rows, files[2], title=f"{name} on {env['device']} ({env['date']})", baseline=str(b.baseline))
    print(f"[bench] wrote {', '.join(str(f) for f in files)}", file=sys.stderr)
    if b.save_results:
        dest = Path(str(b.results_dir)) / slug(env["device"])
        dest.mkdir(parents=True, exist_ok=True)
        for f in files:
            shutil.copy2(f, dest / f.name)
        print(f"[bench] saved results to {dest}/", file=sys.stderr)
    return rows


def _add_speedups(rows: list[dict], baseline: str) -> None:
    """speedup_* = baseline ms / row ms, within the same shape and dtype of this run."""
    base = {(r["shape"], r["dtype"]): r for r in rows if r["provider"] == baseline and r.get("fwd_ms")}
    for r in rows:
        ref = base.get((r["shape"], r["dtype"]))
        if ref and r.get("fwd_ms"):
            r["speedup_fwd"] = ref["fwd_ms"] / r["fwd_ms"]
            r["speedup_fwdbwd"] = ref["fwdbwd_ms"] / r["fwdbwd_ms"]


# ----------------------------------------------------------------------------- writers


def _header(name: str, env: dict, s: Settings, baseline: str, notes: list[str]) -> str:
    timer = "triton.testing.do_bench" if s.device == "cuda" else "time.perf_counter"
    lines = [
        f"## Benchmark `{name}`: {env['device']}",
        "",
        f"{env['date']} · torch {env['torch']} · triton {env['triton']} · cuDNN {env['cudnn']} · "
        f"commit {env['commit']}",
        "",
        f"Medians ({timer}; warm-up {s.warmup_ms:g} ms, repeats {s.rep_ms:g} ms); speed-up over `{baseline}` "
        f"in this run; correctness against kernels.reference in {s.check_dtype} (tolerance per dtype: "
        + ", ".join(f"{k} {v:g}" for k, v in s.tolerance.items()) + ").",
    ]
    if notes:
        lines += [""] + [f"- {n}" for n in notes]
    return "\n".join(lines) + "\n"


def _fmt(v) -> str:
    if v is None or v == "":
        return ""
    if isinstance(v, float):
        if math.isnan(v):
            return "nan"
        if v != 0 and (abs(v) < 1e-2 or abs(v) >= 1e5):
            return f"{v:.2e}"
        return f"{v:.3g}" if abs(v) < 10 else f"{v:.1f}"
    return str(v)


def markdown_table(rows: list[dict]) -> str:
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    lines += ["| " + " | ".join(_fmt(r.get(c)) for c in COLUMNS) + " |" for r in rows]
    return "\n".join(lines) + "\n"


def write_csv(rows: list[dict], path: Path) -> None:
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=COLUMNS + ["note"], extrasaction="ignore")
        w.writeheader()
        w.writerows(rows)


def write_plot(rows: list[dict], path: Path, title: str, baseline: str) -> None:
    """Grouped bars per (shape, dtype): µs per step (log scale) and forward+backward speed-up."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    groups = list(dict.fromkeys((r["shape"], r["dtype"]) for r in rows))
    providers = list(dict.fromkeys(r["provider"] for r in rows))
    by = {(r["shape"], r["dtype"], r["provider"]): r for r in rows}
    fig, axes = plt.subplots(1, 2, figsize=(max(8, 1.6 * len(groups) * 2), 4.5))
    width = 0.8 / max(1, len(providers))
    for ax, col, label in ((axes[0], "us_per_step", "µs per time step (forward)"),
                           (axes[1], "speedup_fwdbwd", f"fwd+bwd speed-up over {baseline}")):
        for j, p in enumerate(providers):
            vals = [by.get((s, d, p), {}).get(col) or math.nan for s, d in groups]  # nan: no bar
            ax.bar([i + j * width for i in range(len(groups))], vals, width, label=p)
        ax.set_xticks([i + width * (len(providers) - 1) / 2 for i in range(len(groups))])
        ax.set_xticklabels([f"{s}\n{d}" for s, d in groups], fontsize=8)
        ax.set_ylabel(label)
        if any(r.get(col) for r in rows):
            ax.set_yscale("log")  # times span decades; speed-ups are ratios
        else:
            ax.text(0.5, 0.5, "no timed rows", ha="center", transform=ax.transAxes)
        if col.startswith("speedup"):
            ax.axhline(1.0, color="gray", lw=0.8, ls="--")
    if providers:
        axes[0].legend(fontsize=8)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
