"""The persistent path (SYNC=True: hidden blocks meeting at the grid barrier every step) run on CPU.

Under kernels.testing.concurrent_programs() every program of an interpreter launch runs in its own
thread, so the barrier really opens and closes: the four cells, forward and backward, 2-4 hidden
blocks, 1-2 batch tiles, ragged lengths with a length-1 row, both directions, against the float64
references (values and every gradient), with and without jitter around loads, stores and atomics.
Every test asserts the persistent path was taken (one launch per pass, several hidden blocks).
Also: a capacity below the grid (one persistent launch per batch tile, or step mode) and a wrong
co-residency guess (the bounded spin gives up, the call reruns in step mode). Self-checks show the
harness catches what a broken barrier does, with one deterministic straggler (a program that waits
until the others have run a step ahead): no wait (NaN / wrong values), one h buffer instead of two
(wrong values), an unreachable target or too few co-resident programs (a LaunchTimeout naming the
kernel, no thread left spinning).

Interpreter only (TRITON_INTERPRET=1, set by tests/conftest.py without CUDA).
"""
import os
import sys
import threading
import time

import pytest
import torch
import triton
import triton.language as tl

import kernels.lstm as klstm
from kernels import (LaunchConfig, gru_recurrence, gru_recurrence_reference, lstm_recurrence, lstm_recurrence_reference,
                     lstmp_recurrence, lstmp_recurrence_reference, peephole_lstm_recurrence,
                     peephole_lstm_recurrence_reference)
from kernels.testing import LaunchTimeout, active, concurrent_programs
from checks import assert_matches_reference

pytestmark = pytest.mark.skipif(os.environ.get("TRITON_INTERPRET") != "1", reason="interpreter harness")

ATOL, RTOL = 3e-5, 1e-4  # fp32 kernel (fp32 state) vs float64 reference
JITTER = 2e-4            # seconds: random sleeps around every load, store and atomic


@pytest.fixture(autouse=True)
def nan_fill(monkeypatch):
    """Every buffer the kernels should overwrite starts as NaN (the flag lives in the kernels' shared module)."""
    home = next(m for m in (sys.modules.get("kernels.common"), klstm) if hasattr(m, "DEBUG_FILL_NAN"))
    monkeypatch.setattr(home, "DEBUG_FILL_NAN", True)


# --- the four cells: (kernel, reference, inputs [B, T, D, H] -> dict in call order, outputs) ----------------------
def _randn(g, *shape, scale=1.0):
    return torch.randn(*shape, generator=g, dtype=torch.float64) * scale


def _lstm_inputs(g, B, T, D, H):
    return dict(xproj=_randn(g, B, T, D, 4 * H, scale=0.8), w_hh=_randn(g, D, 4 * H, H, scale=H**-0.5),
                lengths=None, h0=_randn(g, D, B, H, scale=0.5), c0=_randn(g, D, B, H, scale=0.5))


def _peephole_inputs(g, B, T, D, H):
    x = _lstm_inputs(g, B, T, D, H)
    return dict(xproj=x["xproj"], w_hh=x["w_hh"], peep=_randn(g, D, 3, H, scale=0.5), lengths=None,
                h0=x["h0"], c0=x["c0"])


def _gru_inputs(g, B, T, D, H):
    return dict(xproj=_randn(g, B, T, D, 3 * H, scale=0.8), w_hh=_randn(g, D, 3 * H, H, scale=H**-0.5),
                b_hn=_randn(g, D, H, scale=0.5), lengths=None, h0=_randn(g, D, B, H, scale=0.5))


def _lstmp_inputs(g, B, T, D, H, P=24):
    return dict(xproj=_randn(g, B, T, D, 4 * H, scale=0.8), w_hh=_randn(g, D, 4 * H, P, scale=P**-0.5),
                w_hr=_randn(g, D, P, H, scale=H**-0.5), lengths=None, h0=_randn(g, D, B, P, scale=0.5),
                c0=_randn(g, D, B, H, scale=0.5))


CELLS = {  # name -> (kernel, reference, inputs, output names)
    "lstm": (lstm_recurrence, lstm_recurrence_reference, _lstm_inputs, ("y", "h_n", "c_n")),
    "peephole": (peephole_lstm_recurrence, peephole_lstm_recurrence_reference, _peephole_inputs, ("y", "h_n", "c_n")),
    "gru": (gru_recurrence, gru_recurrence_reference, _gru_inputs, ("y", "h_n")),
    "lstmp": (lstmp_recurrence, lstmp_recurrence_reference, _lstmp_inputs, ("y", "h_n", "c_n")),
}


def _run(fn, inputs: dict, lengths, dtype, weights: dict, **kw):
    """fn on leaf copies of inputs in dtype; -> outputs by name, the gradients of sum(out · weight) by input."""
    leaves = {k: v.to(dtype).requires_grad_() if v is not None else None for k, v in inputs.items()}
    leaves["lengths"] = lengths
    res = fn(*leaves.values(), **kw)
    loss = sum((o.double() * weights[k]).sum() for k, o in zip(weights, res))
    names = [k for k, v in leaves.items() if isinstance(v, torch.Tensor) and v.requires_grad]
    grads = torch.autograd.grad(loss, [leaves[k] for k in names])
    return dict(zip(weights, res)), dict(zip(names, grads))


def _case(cell, B, T, D, H, lengths, reverse=False, seed=0):
    """-> the cell's kernel, its fp32-exact inputs, lengths, output weights and the float64 reference's results."""
    fn, ref_fn, make, out_names = CELLS[cell]
    g = torch.Generator().manual_seed(seed)
    inputs = {k: v.float().double() if v is not None else None for k, v in make(g, B, T, D, H).items()}
    lens = torch.tensor(lengths, dtype=torch.int32)
    shapes = [r.shape for r in ref_fn(*{**inputs, "lengths": lens}.values(), reverse=reverse)]
    weights = {k: torch.randn(shape, generator=g, dtype=torch.float64) for k, shape in zip(out_names, shapes)}
    ref, gref = _run(ref_fn, inputs, lens, torch.float64, weights, reverse=reverse)
    return fn, inputs, lens, weights, ref, gref


def _check_persistent(cell, B, T, D, H, lengths, config, reverse=False, **harness):
    """The cell's kernel under the harness against its reference; asserts one launch per pass, SYNC=True."""
    fn, inputs, lens, weights, ref, gref = _case(cell, B, T, D, H, lengths, reverse)
    with concurrent_programs(**harness) as launches:
        out, grads = _run(fn, inputs, lens, torch.float32, weights, reverse=reverse, config=config)
    n_hb = -(-H // config.block_h)
    assert n_hb >= 2  # several hidden blocks: SYNC=True, the grid barrier is on the path
    assert len(launches) == 2, f"expected one forward and one backward launch (persistent), got {launches}"
    for launch in launches:
        assert launch.grid == (D, n_hb, -(-B // config.block_b)), launch
    assert_matches_reference(out, ref, grads, gref, torch.float32, ATOL, RTOL)


RAGGED18 = [6, 1, 2, 6, 3, 4, 1, 2, 3, 5, 4, 4, 1, 2, 3, 2, 2, 5]  # 2 batch tiles of 16, length-1 rows in both
RAGGED20 = [7, 1, 2, 3, 4, 5, 6, 7, 1, 7, 2, 3, 4, 5, 6, 7, 1, 7, 3, 7]
BH16 = LaunchConfig(block_h=16)
CASES = [  # cell, B, T, D, H, lengths, config, reverse
    pytest.param("lstm", 18, 6, 2, 48, RAGGED18, BH16, False, id="lstm-B18-T6-H48-D2-3hb-2bt"),
    pytest.param("peephole", 18, 6, 2, 64, RAGGED18, BH16, False, id="peephole-B18-T6-H64-D2-4hb-2bt"),
    pytest.param("gru", 18, 6, 2, 32, RAGGED18, BH16, False, id="gru-B18-T6-H32-D2-2hb-2bt"),
    pytest.param("lstmp", 5, 5, 2, 40, [5, 1, 3, 5, 2], BH16, False, id="lstmp-B5-T5-H40-P24-D2-3hb-1bt"),
]
SLOW_CASES = [
    pytest.param("lstm", 20, 7, 2, 64, RAGGED20, LaunchConfig(block_h=16, block_k=32), False,
                 id="lstm-B20-T7-H64-D2-4hb-2bt-bk32"),
    pytest.param("lstm", 5, 5, 1, 48, [5, 1, 3, 5, 2], BH16, True, id="lstm-B5-T5-H48-D1-reverse-3hb"),
    pytest.param("peephole", 5, 5, 2, 32, [5, 1, 3, 5, 2], BH16, False, id="peephole-B5-T5-H32-D2-2hb-1bt"),
    pytest.param("gru", 20, 7, 2, 64, RAGGED20, BH16, False, id="gru-B20-T7-H64-D2-4hb-2bt"),
    pytest.param("gru", 5, 5, 1, 48, [5, 1, 3, 5, 2], BH16, True, id="gru-B5-T5-H48-D1-reverse-3hb"),
    pytest.param("lstmp", 18, 6, 2, 64, RAGGED18, BH16, False, id="lstmp-B18-T6-H64-P24-D2-4hb-2bt"),
]


@pytest.mark.parametrize("cell,B,T,D,H,lengths,config,reverse", CASES)
def test_persistent_matches_reference(cell, B, T, D, H, lengths, config, reverse):
    _check_persistent(cell, B, T, D, H, lengths, config, reverse)


@pytest.mark.parametrize("cell,B,T,D,H,lengths,config,reverse", CASES)
def test_persistent_with_jitter_matches_reference(cell, B, T, D, H, lengths, config, reverse):
    _check_persistent(cell, B, T, D, H, lengths, config, reverse, jitter=JITTER, seed=1)


@pytest.mark.slow
@pytest.mark.parametrize("jitter", [0.0, JITTER], ids=["no-jitter", "jitter"])
@pytest.mark.parametrize("cell,B,T,D,H,lengths,config,reverse", SLOW_CASES)
def test_persistent_sweep_matches_reference(cell, B, T, D, H, lengths, config, reverse, jitter):
    _check_persistent(cell, B, T, D, H, lengths, config, reverse, jitter=jitter, seed=2)


def test_capacity_below_grid_takes_step_mode():
    """capacity: the launcher's co-residency guess; a grid that does not fit runs one step per launch."""
    fn, inputs, lens, weights, ref, gref = _case("lstm", 5, 4, 2, 32, [4, 1, 3, 2, 4])
    with concurrent_programs(capacity=3) as launches:
        out, grads = _run(fn, inputs, lens, torch.float32, weights, config=LaunchConfig(block_h=16))
    assert len(launches) == 4 + 5  # max_len forward steps, max_len + 1 backward iterations
    assert_matches_reference(out, ref, grads, gref, torch.float32, ATOL, RTOL)


def test_capacity_of_one_tile_runs_one_persistent_launch_per_tile():
    """capacity = one batch tile's programs (D x hidden blocks): barrier groups are per (direction, batch
    tile), so the launcher runs one persistent launch per tile instead of step mode."""
    fn, inputs, lens, weights, ref, gref = _case("lstm", 18, 6, 2, 48, RAGGED18)
    with concurrent_programs(capacity=2 * 3) as launches:
        out, grads = _run(fn, inputs, lens, torch.float32, weights, config=BH16)
    assert [launch.grid for launch in launches] == [(2, 3, 1)] * 4  # forward tiles 0, 1; backward tiles 0, 1
    assert_matches_reference(out, ref, grads, gref, torch.float32, ATOL, RTOL)


def test_wrong_co_residency_guess_falls_back_to_step_mode(monkeypatch):
    """The launcher assumes the whole grid co-resident but only 2 of 6 programs run at once: the bounded
    spin gives up, the program flags it, and the host reruns the call in step mode with a warning."""
    import kernels.common as common

    monkeypatch.setattr(common, "SPIN_LIMIT", 200)
    fn, inputs, lens, weights, ref, gref = _case("lstm", 5, 4, 2, 48, [4, 1, 3, 2, 4])
    with pytest.warns(common.KernelFallbackWarning, match="timed out"):
        with concurrent_programs(co_resident=2, timeout=30) as launches:
            out, grads = _run(fn, inputs, lens, torch.float32, weights, config=BH16)
    assert len(launches) == (1 + 4) + (1 + 5)  # each pass: the persistent try, then one launch per step
    assert_matches_reference(out, ref, grads, gref, torch.float32, ATOL, RTOL)


# --- self-checks on the real kernels: the barrier monkeypatched -------------------------------------------------
def _barrier_names():
    """(module, name) of every kernels.* global bound to the kernels' grid barrier wait (found by its function
    name): grid_barrier (GRU, LSTMP: arrive + wait) and grid_wait (the LSTM's wait at the top of a step). Both
    take (count_ptr, target, ...) with target the arrivals the wait needs, so one wrapper breaks either."""
    found = []
    for mod_name, mod in list(sys.modules.items()):
        if mod_name == "kernels" or mod_name.startswith("kernels."):
            for name, value in vars(mod).items():
                fn = getattr(value, "fn", None)
                if getattr(fn, "__name__", "").endswith("grid_barrier") or getattr(fn, "__name__", "") == "grid_wait":
                    found.append((mod, name))
    assert found, "no grid barrier found in kernels.*"
    return found


def _patch_barrier(monkeypatch, make):
    """Replace the grid barrier everywhere by make(original) (a plain function: the interpreter calls it as is)."""
    for mod, name in _barrier_names():
        monkeypatch.setattr(mod, name, make(getattr(mod, name)))


STRAGGLE = 0.5  # seconds a straggler waits at most (its group's last barrier has no next one to wait for)


def _straggling(barrier, axis: int, target=lambda t: t):
    """barrier(count, target(t)); then the program with program_id(axis) == 0 waits until the others of its
    group (the programs sharing the counter, along axis) have arrived at the next barrier, i.e. run a whole
    step ahead (at most STRAGGLE s): a deterministic slow block, so a race a broken barrier allows happens."""
    def wrapped(count_ptr, t, *rest):
        out = barrier(count_ptr, target(t), *rest)
        if tl.program_id(axis) == 0:
            others_ahead = t + tl.num_programs(axis) - 1
            end = time.monotonic() + STRAGGLE
            while tl.atomic_add(count_ptr, 0, sem="acquire") < others_ahead and time.monotonic() < end:
                time.sleep(1e-3)
        return out
    return wrapped


def test_barrier_without_wait_is_caught(monkeypatch):
    """Arrive but never wait (target 0): the other hidden blocks run ahead of the straggler (hidden block 0)
    and read its stale or unwritten (NaN) h slice."""
    _patch_barrier(monkeypatch, lambda barrier: _straggling(barrier, axis=1, target=lambda t: t * 0))
    fn, inputs, lens, weights, ref, gref = _case("lstm", 18, 6, 2, 48, RAGGED18)
    with concurrent_programs():
        out, grads = _run(fn, inputs, lens, torch.float32, weights, config=LaunchConfig(block_h=16))
    with pytest.raises(AssertionError):
        assert_matches_reference(out, ref, grads, gref, torch.float32, ATOL, RTOL)


def test_straggler_with_the_kernels_barrier_matches(monkeypatch):
    """The same straggler with the real barrier: the others wait for it, the results are right."""
    _patch_barrier(monkeypatch, lambda barrier: _straggling(barrier, axis=1))
    fn, inputs, lens, weights, ref, gref = _case("lstm", 5, 4, 2, 48, [4, 1, 3, 2, 4])
    with concurrent_programs():
        out, grads = _run(fn, inputs, lens, torch.float32, weights, config=LaunchConfig(block_h=16))
    assert_matches_reference(out, ref, grads, gref, torch.float32, ATOL, RTOL)


def test_unreachable_barrier_target_times_out(monkeypatch):
    """Target + 1: the barrier never opens; the launch raises naming the kernel, and no thread keeps spinning."""
    _patch_barrier(monkeypatch, lambda barrier: lambda count_ptr, target, *rest: barrier(count_ptr, target + 1, *rest))
    fn, inputs, lens, weights, _, _ = _case("gru", 5, 3, 2, 32, [3, 1, 2, 3, 2])
    threads = threading.active_count()
    with pytest.raises(LaunchTimeout, match=r"_gru_fwd_kernel: 4 of 4 programs still running after 2 s"):
        with concurrent_programs(timeout=2.0):
            _run(fn, inputs, lens, torch.float32, weights, config=LaunchConfig(block_h=16))
    assert threading.active_count() == threads
    _assert_restored()


def test_too_few_co_resident_programs_time_out():
    """co_resident < grid (a wrong co-residency guess): the programs that run wait for ones that never start.
    Programs start in grid order and a barrier group is one (direction, batch tile): with 2 of 6 co-resident,
    hidden blocks 0 and 1 of direction 0 wait for block 2. (With 4, direction 0 fits and the launch ends.)"""
    fn, inputs, lens, weights, _, _ = _case("lstm", 5, 3, 2, 48, [3, 1, 2, 3, 2])
    threads = threading.active_count()
    with pytest.raises(LaunchTimeout, match=r"_lstm_fwd_kernel: 2 of 6 programs still running after 2 s "
                                            r"\(4 not started, co_resident=2\)"):
        with concurrent_programs(timeout=2.0, co_resident=2):
            _run(fn, inputs, lens, torch.float32, weights, config=LaunchConfig(block_h=16))
    assert threading.active_count() == threads
    _assert_restored()


# --- self-checks on a toy recurrence exchanging its state through a barrier the same way ------------------------
@triton.jit
def _toy_grid_barrier(count_ptr, target):
    """The kernels' grid barrier without its spin limit: release arrive, acquire poll until target."""
    tl.debug_barrier()
    tl.atomic_add(count_ptr, 1, sem="release")
    seen = tl.atomic_add(count_ptr, 0, sem="acquire")
    while seen < target:
        seen = tl.atomic_add(count_ptr, 0, sem="acquire")
    tl.debug_barrier()


@triton.jit
def _arrive_only(count_ptr, target):
    tl.debug_barrier()
    tl.atomic_add(count_ptr, 1, sem="release")
    tl.debug_barrier()


toy_barrier = None  # set per test: _toy_grid_barrier or a broken one


@triton.jit
def _toy_kernel(w_ptr, buf_ptr, out_ptr, count_ptr, n_steps, N: tl.constexpr, BN: tl.constexpr, BK: tl.constexpr,
                NBUF: tl.constexpr, EXTRA: tl.constexpr):
    """h_s = tanh(W h_{s-1}), W [N, N]; program p owns rows [p·BN, (p+1)·BN) and reads all of h_{s-1} from
    buf in BK chunks (NBUF = 2: ping-pong, 1: one buffer); one barrier per step, target (s + 1)·programs + EXTRA."""
    p = tl.program_id(0)
    rows = p * BN + tl.arange(0, BN)
    for s in range(n_steps):
        acc = tl.zeros([BN], dtype=tl.float32)
        for kc in tl.static_range(N // BK):
            ks = kc * BK + tl.arange(0, BK)
            h = tl.load(buf_ptr + (s % NBUF) * N + ks, cache_modifier=".cg")   # [BK]
            w = tl.load(w_ptr + rows[:, None] * N + ks[None, :])               # [BN, BK]
            acc += tl.sum(w * h[None, :], axis=1)
        h_new = 2.0 * tl.sigmoid(2.0 * acc) - 1.0
        tl.store(out_ptr + s * N + rows, h_new)
        tl.store(buf_ptr + ((s + 1) % NBUF) * N + rows, h_new)
        toy_barrier(count_ptr, (s + 1) * tl.num_programs(0) + EXTRA)


def _toy(monkeypatch, barrier, nbuf=2, extra=0, n=64, bn=16, steps=6, **harness):
    """-> max |toy - float64 reference| over every step (NaN if a step read an unwritten value)."""
    monkeypatch.setattr(sys.modules[__name__], "toy_barrier", barrier)
    g = torch.Generator().manual_seed(0)
    w = (torch.randn(n, n, generator=g) * 1.5 / n**0.5).double()
    h0 = torch.randn(n, generator=g)
    h, ref = h0.double(), []
    for _ in range(steps):
        h = torch.tanh(w @ h)
        ref.append(h)
    buf = torch.full((nbuf, n), float("nan"))
    buf[0] = h0
    out = torch.full((steps, n), float("nan"))
    count = torch.zeros(1, dtype=torch.int32)
    with concurrent_programs(**harness) as launches:
        _toy_kernel[(n // bn,)](w.float(), buf, out, count, steps, N=n, BN=bn, BK=16, NBUF=nbuf, EXTRA=extra)
    assert [launch.programs for launch in launches] == [n // bn]
    return (out.double() - torch.stack(ref)).abs().max().item()


@pytest.mark.parametrize("straggler", [False, True], ids=["", "straggler"])
def test_toy_with_a_sound_barrier_matches(monkeypatch, straggler):
    barrier = _straggling(_toy_grid_barrier, axis=0) if straggler else _toy_grid_barrier
    assert _toy(monkeypatch, barrier) < 1e-5
    assert _toy(monkeypatch, barrier, jitter=JITTER, seed=4) < 1e-5


def test_toy_barrier_without_wait_is_caught(monkeypatch):
    """The others run ahead of the straggler (program 0) and read its stale or unwritten (NaN) slice."""
    err = _toy(monkeypatch, _straggling(_arrive_only, axis=0))
    assert not err < 1e-3, err


def test_toy_single_h_buffer_is_caught(monkeypatch):
    """One buffer: the others overwrite h_{s-1} with h_s before the straggler has read it."""
    err = _toy(monkeypatch, _straggling(_toy_grid_barrier, axis=0), nbuf=1)
    assert not err < 1e-3, err


def test_toy_unreachable_target_times_out(monkeypatch):
    threads = threading.active_count()
    with pytest.raises(LaunchTimeout, match=r"_toy_kernel: 4 of 4 programs still running after 1 s"):
        _toy(monkeypatch, _toy_grid_barrier, extra=1, timeout=1.0)
    assert threading.active_count() == threads
    _assert_restored()


# --- the harness itself ---------------------------------------------------------------------------------------
def _assert_restored():
    from triton.runtime import interpreter as interp

    assert active() is None
    assert interp.GridExecutor.__call__.__module__ == interp.__name__
    assert interp.InterpretedFunction.__call__.__module__ == interp.__name__
    assert "grid_idx" not in vars(interp.InterpreterBuilder)
    for name in ("create_masked_load", "create_masked_store", "create_atomic_rmw", "create_atomic_cas"):
        assert getattr(interp.InterpreterBuilder, name).__module__ == interp.__name__, name


def test_harness_sets_and_restores_everything():
    interval = sys.getswitchinterval()
    with concurrent_programs(timeout=5, jitter=1e-5, seed=7, capacity=8, co_resident=2):
        settings = active()
        assert (settings.timeout, settings.jitter, settings.seed, settings.capacity, settings.co_resident) == \
            (5.0, 1e-5, 7, 8, 2)
        assert sys.getswitchinterval() < interval
        with pytest.raises(RuntimeError, match="do not nest"):
            with concurrent_programs():
                pass
    assert sys.getswitchinterval() == interval
    _assert_restored()


@pytest.mark.parametrize("kw", [dict(capacity=0), dict(co_resident=1.5), dict(timeout=0), dict(jitter=-1.0)],
                         ids=["capacity0", "co_resident-float", "timeout0", "jitter-negative"])
def test_bad_settings_raise(kw):
    with pytest.raises(ValueError):
        with concurrent_programs(**kw):
            pass
    _assert_restored()


def test_helper_calls_are_set_up_one_at_a_time(monkeypatch):
    """Triton's set-up of a @triton.jit helper call (_patch_lang iterates the module's globals, the first
    rewrite adds to them) never runs in two programs at once: overlapping, one program's rewrite changed the
    dict another was iterating (CI: "dictionary changed size during iteration"). A sleep widens the window."""
    from triton.runtime import interpreter as interp

    original, guard = interp._patch_lang, threading.Lock()
    inside, calls = [0, 0], []  # now inside, most ever inside; one entry per set-up

    def slow_patch_lang(fn):
        with guard:
            inside[0] += 1
            inside[1] = max(inside)
        time.sleep(2e-3)
        with guard:
            inside[0] -= 1
            calls.append(fn.__name__)
        return original(fn)

    monkeypatch.setattr(interp, "_patch_lang", slow_patch_lang)
    assert _toy(monkeypatch, _toy_grid_barrier, steps=3) < 1e-5
    assert calls.count("_toy_grid_barrier") == 4 * 3  # every program's barrier call of every step
    assert inside[1] == 1


def test_an_error_in_one_program_stops_the_launch(monkeypatch):
    """A program that fails (here: its barrier raises) ends the launch with that error, not a timeout."""
    def failing(count_ptr, target, *rest):
        if tl.program_id(0) == 1:
            raise ZeroDivisionError("program 1 fails")
        return _toy_grid_barrier(count_ptr, target, *rest)

    with pytest.raises(triton.runtime.errors.InterpreterError, match=r"program \(1, 0, 0\) of _toy_kernel"):
        _toy(monkeypatch, failing, timeout=30.0)
    _assert_restored()
