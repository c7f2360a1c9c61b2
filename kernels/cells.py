"""The registry of recurrent cells: each cell module describes itself once as `CELL` (a
`kernels.common.Cell`: its kernels, plan, reference, gate count, public function) and is listed
here. The AOT compiler (kernels.aot), the benchmark (benchmarks.providers) and the model (asr.rnn) find
cells here; adding a cell is its own module plus one line below.
"""
from __future__ import annotations

from kernels import gru, lstm, lstmp, peephole
from kernels.common import Cell

CELLS: dict[str, Cell] = {c.name: c for c in (
    lstm.CELL,
    peephole.CELL,
    gru.CELL,
    lstmp.CELL,
)}


def get(name: str) -> Cell:
    if name not in CELLS:
        raise KeyError(f"unknown cell {name!r} (registered: {', '.join(CELLS)})")
    return CELLS[name]
