"""Test harness for the persistent (grid-barrier) path under the Triton interpreter.

`concurrent_programs()` (being written) runs every program of one interpreter launch in its own
thread, so a SYNC=True kernel's grid barrier can open on CPU. While it is active, `active()`
returns its settings and the launchers take the persistent path where a GPU would.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class HarnessSettings:
    """capacity: how many programs the launcher may assume are co-resident (None: the whole grid);
    co_resident: how many programs really run at once (None: all; fewer simulates a wrong guess);
    timeout: seconds before a stuck launch raises; jitter: max seconds of random sleep around
    loads, stores and atomics; seed: the jitter's seed."""
    capacity: int | None = None
    co_resident: int | None = None
    timeout: float = 60.0
    jitter: float = 0.0
    seed: int = 0


_ACTIVE: HarnessSettings | None = None


def active() -> HarnessSettings | None:
    """The settings of the enclosing `concurrent_programs()` block, or None outside one."""
    return _ACTIVE
