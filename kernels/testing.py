"""Test harness for the persistent (grid-barrier) path under the Triton interpreter.

The interpreter runs the programs of a launch one after another, so a SYNC=True kernel, whose
hidden blocks meet at a grid barrier every step, would spin forever in its first barrier. Under
`concurrent_programs()` every program of a launch runs in its own Python thread instead:

    launch kernel[grid](*args)      (TRITON_INTERPRET=1)
      host copies of the arguments, made once and shared by all programs
      one thread per program (d, hb, bt), its grid index thread-local in the interpreter builder
      calls of @triton.jit helpers set up one at a time (Triton's set-up edits module globals)
      join with a timeout; copy the host arguments back once

The interpreter's atomics are real atomics on host memory, so the barrier (release on arrive,
acquire while spinning) opens when the last program arrives. While the block is active,
`active()` returns its settings and the launchers take the persistent path where a GPU would
(`capacity`: how many programs they may assume co-resident). Options simulate what a GPU does
differently: `co_resident=k` runs only k programs at once (the rest start as others finish, as a
GPU schedules blocks: a wrong co-residency guess), `jitter` sleeps a random time (seeded) around
every load, store and atomic. A launch still running after `timeout` seconds raises
`LaunchTimeout` naming the kernel and the programs still running; the stuck threads see a stop
flag at their next load, store or atomic and exit, so none is left spinning.

This checks the barrier's logic (who waits for whom, which buffer a step reads), not the memory
model: threads share one coherent host memory. The GPU side (release/acquire scopes, no cached
loads of exchanged buffers) is checked on the compiled PTX (tests/kernels/test_ptx.py).
"""
from __future__ import annotations

import contextlib
import inspect
import itertools
import os
import random
import sys
import threading
import time
from dataclasses import dataclass, field


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


class LaunchTimeout(RuntimeError):
    """A launch under concurrent_programs() did not finish within its timeout (a barrier that never opens)."""


@dataclass(frozen=True)
class Launch:
    """One kernel launch seen by the harness: the kernel's name and its grid (x, y, z)."""
    kernel: str
    grid: tuple[int, int, int]

    @property
    def programs(self) -> int:
        return self.grid[0] * self.grid[1] * self.grid[2]


SWITCH_INTERVAL = 2e-5  # seconds (CPython's default 5e-3): spinning programs hand the GIL over quickly
POLL_PAUSE = 2e-5       # seconds slept after every atomic: a spinning program lets the others run
STOP_GRACE = 10.0       # seconds the stuck threads of a timed-out launch get to see the stop flag


class _Stop(BaseException):
    """Raised inside a program's thread when its launch is stopped (timeout or another program failed)."""


@dataclass
class _LaunchState:
    """What the threads of one launch share."""
    programs: list
    settings: HarnessSettings
    stop: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)
    next: int = 0                                  # the next program to start
    running: set = field(default_factory=set)      # programs started and not finished
    errors: list = field(default_factory=list)     # (program, exception)


_local = threading.local()  # per thread: grid_idx (the interpreter builder's), launch, rng
_DEVICE_CALL_LOCK = threading.Lock()  # serializes the set-up of @triton.jit calls made inside kernels


def _get_grid_idx(builder):
    return getattr(_local, "grid_idx", None)


def _set_grid_idx(builder, value):
    _local.grid_idx = value


def _guarded(method, atomic: bool):
    """A builder memory op that checks the launch's stop flag and sleeps the jitter around the op."""
    def op(builder, *args, **kwargs):
        launch = getattr(_local, "launch", None)
        if launch is None:  # the main thread (no launch of this harness)
            return method(builder, *args, **kwargs)
        if launch.stop.is_set():
            raise _Stop()
        jitter = launch.settings.jitter
        if jitter:
            time.sleep(_local.rng.uniform(0.0, jitter))
        out = method(builder, *args, **kwargs)
        if jitter:
            time.sleep(_local.rng.uniform(0.0, jitter))
        elif atomic:
            time.sleep(POLL_PAUSE)
        return out
    return op


def _device_call(self, *args, **kwargs):
    """InterpretedFunction.__call__ (a @triton.jit function called from a kernel) with its set-up serialized.

    Triton's version patches triton.language (iterating the callee module's globals) and, on the first call,
    rewrites the callee (adding the interpreter's names to those same globals): with programs in threads, one
    program's rewrite could change the dict another was iterating ("dictionary changed size during iteration").
    The call itself runs outside the lock, so programs waiting at a barrier inside a callee do not block others.
    """
    from triton.runtime import interpreter as interp
    from triton.runtime.errors import InterpreterError

    with _DEVICE_CALL_LOCK:
        interp._patch_lang(self.fn)
        fn = self.rewrite()
    try:
        return fn(*args, **kwargs)
    except Exception as e:
        raise InterpreterError(repr(e)) from e


def _program_worker(fn, args: dict, launch: _LaunchState) -> None:
    """Runs programs of the launch in order until none is left (one program per thread when all co-resident)."""
    _local.launch = launch
    while True:
        with launch.lock:
            if launch.stop.is_set() or launch.next >= len(launch.programs):
                return
            index = launch.next
            launch.next += 1
            launch.running.add(index)
        _local.grid_idx = launch.programs[index]
        _local.rng = random.Random(launch.settings.seed * 1_000_003 + index)
        try:
            fn(**args)
        except _Stop:
            return
        except BaseException as e:  # noqa: BLE001 - handed to the launching thread
            with launch.lock:
                launch.errors.append((launch.programs[index], e))
            launch.stop.set()
            return
        with launch.lock:
            launch.running.discard(index)


def _run_programs(fn, args: dict, grid: tuple, settings: HarnessSettings) -> None:
    from triton.runtime.errors import InterpreterError

    programs = list(itertools.product(*(range(n) for n in grid)))
    launch = _LaunchState(programs, settings)
    n_threads = len(programs) if settings.co_resident is None else min(settings.co_resident, len(programs))
    threads = [threading.Thread(target=_program_worker, args=(fn, args, launch), daemon=True,
                                name=f"{fn.__name__}-{i}") for i in range(n_threads)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + settings.timeout
    try:
        for t in threads:
            t.join(max(0.0, deadline - time.monotonic()))
    except BaseException:  # KeyboardInterrupt while waiting: stop the programs before the patches go
        launch.stop.set()
        for t in threads:
            t.join(STOP_GRACE)
        raise
    if any(t.is_alive() for t in threads):
        with launch.lock:
            running, waiting = len(launch.running), len(programs) - launch.next
        launch.stop.set()
        for t in threads:
            t.join(STOP_GRACE)
        left = sum(t.is_alive() for t in threads)
        raise LaunchTimeout(
            f"{fn.__name__}: {running} of {len(programs)} programs still running after {settings.timeout:g} s"
            f" ({waiting} not started, co_resident={settings.co_resident}): a grid barrier that never opens?"
            + (f" {left} threads did not stop" if left else ""))
    if launch.errors:
        program, e = launch.errors[0]
        raise InterpreterError(f"program {program} of {fn.__name__}: {e!r}") from e


def _concurrent_call(executor, *args_dev, **kwargs):
    """GridExecutor.__call__ with the programs run concurrently (same steps as triton's, see interpreter.py)."""
    from triton.runtime import interpreter as interp

    argspec = inspect.getfullargspec(executor.fn)
    kwargs = {k: v for k, v in kwargs.items() if k in argspec.args}
    args_hst, kwargs_hst = executor._init_args_hst(args_dev, kwargs)  # host copies, once per launch
    for hook in executor.pre_run_hooks:
        hook(*args_hst, **kwargs_hst)
    patch_scope = interp._patch_lang(executor.fn)
    try:
        args = inspect.getcallargs(executor.fn, *args_hst, **kwargs_hst)
        args = {name: arg if name in executor.constexprs else interp._implicit_cvt(arg) for name, arg in args.items()}
        grid = executor.grid(args) if callable(executor.grid) else executor.grid
        grid = tuple(grid) + (1,) * (3 - len(grid))
        interp.interpreter_builder.set_grid_dim(*grid)
        _LAUNCHES.append(Launch(executor.fn.__name__, grid))
        _run_programs(executor.fn, args, grid, _ACTIVE)
    finally:
        patch_scope.restore()
    executor._restore_args_dev(args_dev, args_hst, kwargs, kwargs_hst)  # copied back once


_LAUNCHES: list[Launch] = []


def _patches():
    """(object, attribute, replacement) for everything concurrent_programs() changes in triton's interpreter."""
    from triton.runtime import interpreter as interp

    builder = interp.InterpreterBuilder
    return [
        (interp.GridExecutor, "__call__", _concurrent_call),
        (interp.InterpretedFunction, "__call__", _device_call),
        (builder, "grid_idx", property(_get_grid_idx, _set_grid_idx)),  # shadows the instance attribute
        (builder, "create_masked_load", _guarded(builder.create_masked_load, atomic=False)),
        (builder, "create_masked_store", _guarded(builder.create_masked_store, atomic=False)),
        (builder, "create_atomic_rmw", _guarded(builder.create_atomic_rmw, atomic=True)),
        (builder, "create_atomic_cas", _guarded(builder.create_atomic_cas, atomic=True)),
    ]


@contextlib.contextmanager
def concurrent_programs(timeout: float = 60.0, jitter: float = 0.0, seed: int = 0, capacity: int | None = None,
                        co_resident: int | None = None):
    """Run every Triton interpreter launch in the block with its programs concurrent (see the module doc).

    timeout      seconds one launch may take; then LaunchTimeout (kernel name, programs still running)
    jitter       max seconds of random sleep before and after each load, store and atomic (0: none)
    seed         the jitter's seed (each program draws from its own generator)
    capacity     programs the launcher may assume co-resident (None: the whole grid fits)
    co_resident  programs really running at once (None: all), started in grid order as others finish
    -> the list of Launch(kernel, grid) made in the block, in order (grows as launches happen).
    Needs TRITON_INTERPRET=1; blocks do not nest.
    """
    global _ACTIVE, _LAUNCHES
    if os.environ.get("TRITON_INTERPRET", "0") != "1":
        raise RuntimeError("kernels.testing.concurrent_programs() needs the Triton interpreter (TRITON_INTERPRET=1)")
    if _ACTIVE is not None:
        raise RuntimeError("kernels.testing.concurrent_programs() blocks do not nest")
    for name, value in (("capacity", capacity), ("co_resident", co_resident)):
        if value is not None and (not isinstance(value, int) or value < 1):
            raise ValueError(f"{name} must be a positive int or None, got {value!r}")
    if not timeout > 0 or not jitter >= 0:
        raise ValueError(f"timeout must be > 0 and jitter >= 0, got timeout={timeout!r}, jitter={jitter!r}")
    saved = [(obj, name, obj.__dict__.get(name)) for obj, name, _ in _patches()]
    interval = sys.getswitchinterval()
    launches: list[Launch] = []
    try:
        for obj, name, value in _patches():
            setattr(obj, name, value)
        sys.setswitchinterval(SWITCH_INTERVAL)
        _ACTIVE, _LAUNCHES = HarnessSettings(capacity, co_resident, float(timeout), float(jitter), seed), launches
        yield launches
    finally:
        _ACTIVE, _LAUNCHES = None, []
        sys.setswitchinterval(interval)
        for obj, name, original in saved:
            if original is None:
                if name in obj.__dict__:
                    delattr(obj, name)
            else:
                setattr(obj, name, original)
