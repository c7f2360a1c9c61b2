"""The benchmark's problems: `bench.shapes` validated into `Shape`s, the dtypes, and one seeded
float64 problem per shape (`make_problem`) that every provider rebuilds from the seed.

A shape is a `layers` x `hidden` (B)LSTM or (B)GRU (`cell`) over a [batch, time, input] batch; the
lengths are all `time` (`min_length` null) or drawn uniformly from [min_length, time], the longest
exactly `time`.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from omegaconf import DictConfig


class BenchError(ValueError):
    """A bad benchmark configuration or setting; the message names the key."""


DTYPES = {"fp64": torch.float64, "fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}
DTYPE_ALIASES = {"float64": "fp64", "float32": "fp32", "float16": "fp16", "bfloat16": "bf16", "half": "fp16"}
MODULES = {"lstm": torch.nn.LSTM, "gru": torch.nn.GRU}  # bench.shapes[i].cell -> the seeded module
CELLS = tuple(MODULES)


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
