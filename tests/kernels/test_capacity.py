"""The launcher's co-residency model and what it does when a persistent launch cannot run
(kernels.common: programs_per_sm, device_capacity, schedule, Plan.launch), without a GPU:
device-property fixtures for the capacity arithmetic, a fake kernel for the host-side fallbacks,
and the interpreter under kernels.testing.concurrent_programs() for per-tile launches and the
bounded barrier spin."""
from types import SimpleNamespace

import pytest
import torch

import kernels.common as kcommon
from kernels import LaunchConfig, gru_recurrence, gru_recurrence_reference, lstm_recurrence, lstm_recurrence_reference

INTERPRET = kcommon.INTERPRET


def _props(name, sms, major, minor, threads, shared_sm, shared_block):
    return SimpleNamespace(name=name, multi_processor_count=sms, major=major, minor=minor,
                           max_threads_per_multi_processor=threads, regs_per_multiprocessor=65536,
                           shared_memory_per_multiprocessor=shared_sm, shared_memory_per_block_optin=shared_block)


# torch.cuda.get_device_properties of each device (values from NVIDIA's data sheets / CUDA guide)
DEVICES = {
    "H100-SXM": _props("NVIDIA H100 80GB HBM3", 132, 9, 0, 2048, 233472, 232448),
    "H100-PCIe": _props("NVIDIA H100 PCIe", 114, 9, 0, 2048, 233472, 232448),
    "H200": _props("NVIDIA H200", 132, 9, 0, 2048, 233472, 232448),
    "A100": _props("NVIDIA A100-SXM4-80GB", 108, 8, 0, 2048, 167936, 166912),
    "L4": _props("NVIDIA L4", 58, 8, 9, 1536, 102400, 101376),
}
# the LSTM forward at H 1024 bf16 on sm_90 (benchmarks/aot/lstm.txt): 144 registers, 4 warps, 133 KiB shared
LSTM_FWD_H1024 = (144, 136192, 4)


@pytest.mark.parametrize("device, programs", [("H100-SXM", 132), ("H100-PCIe", 114), ("H200", 132), ("A100", 108),
                                              ("L4", 0)])
def test_capacity_of_a_one_block_per_sm_kernel(device, programs):
    """133 KiB of shared memory per block: one program per SM; the L4 (99 KiB per block) holds none."""
    n, why = kcommon.device_capacity(*LSTM_FWD_H1024, DEVICES[device])
    assert n == programs
    assert "shared memory" in why


def test_reserved_shared_memory_is_counted():
    """Two blocks of 113.5 KiB would fit 228 KiB, but each also takes the driver's 1 KiB: one per SM."""
    h100 = DEVICES["H100-SXM"]
    assert kcommon.programs_per_sm(64, 113 * 1024, 4, h100) == (2, "shared memory")  # 2 x 114 KiB = 228 KiB
    assert kcommon.programs_per_sm(64, 113 * 1024 + 512, 4, h100) == (1, "shared memory")


def test_register_allocation_granularity():
    """170 registers round up to 176 per thread (5632 per warp, 256-register units): two warps per
    register-file partition, two 4-warp programs per SM, where 65536 / (170 x 128) would say three."""
    h100 = DEVICES["H100-SXM"]
    assert kcommon.programs_per_sm(170, 0, 4, h100) == (2, "registers")
    assert kcommon.programs_per_sm(168, 0, 4, h100) == (3, "registers")  # 5376 = 21 x 256: no rounding
    assert kcommon.programs_per_sm(255, 0, 8, h100) == (1, "registers")  # 8192 per warp: 8 warps per SM


def test_thread_and_block_limits():
    assert kcommon.programs_per_sm(32, 0, 8, DEVICES["L4"]) == (6, "threads")  # 1536 threads per SM
    assert kcommon.programs_per_sm(16, 0, 1, DEVICES["L4"]) == (24, "blocks")  # sm_89: 24 blocks per SM
    assert kcommon.programs_per_sm(16, 0, 1, DEVICES["A100"]) == (32, "blocks")


@pytest.mark.parametrize("capacity, tiles", [(None, 2), (256, 2), (255, 1), (132, 1), (128, 1), (127, 0), (0, 0)])
def test_schedule_per_batch_tile(capacity, tiles):
    """H 1024 as 64 hidden blocks, D = 2, B = 32 as 2 batch tiles: 256 programs; one tile's 128 fit an H100."""
    assert kcommon.schedule(2, 64, 2, capacity) == tiles


# --------------------------------------------------------------------------------------
# host-side fallbacks, with a fake kernel (no GPU, no interpreter)

class _FakeKernel:
    """Records launches; a cooperative one raises (`fail="raise"`) or times out at a barrier
    (`fail="timeout"`: sets the flag and scribbles over the in/out state, as a broken run would)."""
    __name__ = "_fake_kernel"

    def __init__(self, fail):
        self.fail, self.launches, self.caps = fail, [], []

    def __getitem__(self, grid):
        def run(*args, SYNC, launch_cooperative_grid=False, **kw):
            state, flag, n_steps = args[0], args[2], args[7]
            self.launches.append((grid, SYNC, n_steps))
            self.caps.append(kw.get("maxnreg", "no option"))
            if launch_cooperative_grid and self.fail == "raise":
                raise RuntimeError("Triton Error [CUDA]: too many blocks in cooperative launch")
            if SYNC and self.fail == "timeout":
                state.fill_(float("nan"))
                flag.fill_(1)
            elif not SYNC:
                assert torch.isfinite(state).all(), "step mode must start from the restored state"
        return run


def _fake_plan(monkeypatch, capacity=10_000):
    monkeypatch.setattr(kcommon, "INTERPRET", False)
    monkeypatch.setattr(kcommon, "_capacity", lambda *a: (capacity, "fake device"))
    lengths = torch.full((20,), 5, dtype=torch.int32)
    return kcommon.make_plan(20, 5, 2, 64, lengths, torch.float32, LaunchConfig(block_h=16), lambda BH, BP: 0)


@pytest.mark.parametrize("fail", ["raise", "timeout"])
def test_failed_persistent_launch_reruns_in_step_mode_with_one_warning(fail, monkeypatch):
    plan = _fake_plan(monkeypatch)
    kernel, state = _FakeKernel(fail), torch.zeros(3)
    with pytest.warns(kcommon.KernelFallbackWarning) as record:
        plan.launch(kernel, [state], {}, n_total=5, inout=[state])
    assert len(record) == 1
    assert ("cooperative launch" if fail == "raise" else "timed out") in str(record[0].message)
    assert plan.last_mode == "step"
    assert kernel.launches[0] == ((2, 4, 2), True, 5)  # the persistent try
    assert kernel.launches[1:] == [((2, 4, 2), False, 1)] * 5  # then one launch per step
    assert torch.equal(state, torch.zeros(3))


@pytest.mark.parametrize("cap", [None, 136])
def test_register_cap_goes_to_every_launch(cap, monkeypatch):
    """Plan.launch's maxnreg (configs.MAXNREG) reaches the persistent try and each step-mode launch;
    with none, no maxnreg option at all (Triton's default)."""
    plan = _fake_plan(monkeypatch)
    kernel, state = _FakeKernel("timeout"), torch.zeros(3)
    with pytest.warns(kcommon.KernelFallbackWarning):
        plan.launch(kernel, [state], {}, n_total=3, inout=[state], maxnreg=cap)
    assert kernel.caps == ["no option" if cap is None else cap] * 4


def test_register_caps_come_from_the_table(monkeypatch):
    """configs.MAXNREG's entries go to the plan of the cell's default launch (forward and backward
    apart); a caller's own LaunchConfig gets no cap."""
    from kernels import configs
    from kernels.gru import plan_gru
    monkeypatch.setitem(configs.MAXNREG, ("gru", 90, "bwd", 320, torch.bfloat16, "tf32"), 168)
    lengths = torch.full((4,), 3, dtype=torch.int32)
    plan = plan_gru(4, 3, 2, 320, lengths, torch.bfloat16, None, 90)
    assert (plan.maxnreg, plan.bwd_maxnreg) == (None, 168)
    assert plan_gru(4, 3, 2, 320, lengths, torch.bfloat16, None, 80).bwd_maxnreg is None
    own = plan_gru(4, 3, 2, 320, lengths, torch.bfloat16, LaunchConfig(block_h=32), 90)
    assert (own.maxnreg, own.bwd_maxnreg) == (None, None)


def test_persistent_launch_per_group_of_batch_tiles(monkeypatch):
    """One tile's 2 x 4 programs fit, the whole grid's 2 x 4 x 2 do not: two persistent launches."""
    plan = _fake_plan(monkeypatch, capacity=12)
    kernel = _FakeKernel(None)
    plan.launch(kernel, [torch.zeros(3)], {}, n_total=5)
    assert kernel.launches == [((2, 4, 1), True, 5), ((2, 4, 1), True, 5)]
    assert plan.last_mode == "tiles"


def test_explicit_persistent_mode_checks_capacity(monkeypatch):
    monkeypatch.setattr(kcommon, "INTERPRET", False)
    monkeypatch.setattr(kcommon, "_capacity", lambda *a: (7, "7 per device (fake)"))
    lengths = torch.full((20,), 5, dtype=torch.int32)
    plan = kcommon.make_plan(20, 5, 2, 64, lengths, torch.float32, LaunchConfig(block_h=16, mode="persistent"),
                             lambda BH, BP: 0)
    with pytest.raises(ValueError, match=r"8 programs .* but 7 fit: 7 per device \(fake\)"):
        plan.launch(_FakeKernel(None), [torch.zeros(3)], {}, n_total=5)


# --------------------------------------------------------------------------------------
# length sorting (make_plan's rows and tile_len)

def _plan(lengths, sort_rows):
    lengths = torch.tensor(lengths, dtype=torch.int32)
    return kcommon.make_plan(len(lengths), int(lengths.max()), 2, 64, lengths, torch.float32,
                             LaunchConfig(block_h=16), lambda BH, BP: 0, sort_rows=sort_rows)


def test_sorted_tiles_take_the_longest_rows_first():
    """Lengths [9, 1, 8, 2] repeated over two tiles of 16: natural order puts a 9 in both tiles,
    sorted the tiles are the sixteen 9s and 8s (tile_len 9) and the sixteen 1s and 2s (tile_len 2)."""
    lengths = [9, 1, 8, 2] * 8
    assert _plan(lengths, sort_rows=False).tile_len.tolist() == [9, 9]
    plan = _plan(lengths, sort_rows=True)
    assert plan.tile_len.tolist() == [9, 2]
    assert plan.rows.dtype == torch.int32 and plan.rows.is_contiguous()
    assert sorted(torch.tensor(lengths)[plan.rows.long()].tolist()[:16]) == [8] * 8 + [9] * 8


@pytest.mark.parametrize("B", [1, 16, 37])
def test_sorted_tile_len_is_minimal_and_stable(B):
    """tile_len[k] is the (k·BB)-th longest length: no assignment of rows to tiles of BB does better
    (its k-th longest tile holds one of the k·BB + 1 longest rows). Ties keep batch order (stable);
    B not a multiple of BB: the last tile is short and holds the shortest rows."""
    g = torch.Generator().manual_seed(B)
    lengths = torch.randint(1, 12, (B,), generator=g).tolist()
    lengths[B // 2] = 1
    plan = _plan(lengths, sort_rows=True)
    ordered = sorted(lengths, reverse=True)
    assert plan.tile_len.tolist() == ordered[::16]
    rows = plan.rows.tolist()
    assert sorted(rows) == list(range(B))
    assert [lengths[r] for r in rows] == ordered
    assert all(a < b for a, b in zip(rows, rows[1:]) if lengths[a] == lengths[b])  # stable
    natural = _plan(lengths, sort_rows=False)
    assert natural.rows.tolist() == list(range(B))
    assert natural.tile_len.tolist() == [max(lengths[i:i + 16]) for i in range(0, B, 16)]
    assert sum(plan.tile_len.tolist()) <= sum(natural.tile_len.tolist())


# --------------------------------------------------------------------------------------
# the real kernels under the interpreter, programs concurrent (kernels.testing)

needs_harness = pytest.mark.skipif(not INTERPRET, reason="the concurrent-programs harness needs TRITON_INTERPRET=1")


def _lstm_problem(B, T, D, H, seed=0):
    g = torch.Generator().manual_seed(seed)
    xproj = torch.randn(B, T, D, 4 * H, generator=g) * 0.5
    w_hh = torch.randn(D, 4 * H, H, generator=g) / H ** 0.5
    lengths = torch.randint(1, T + 1, (B,), generator=g)
    lengths[0] = T
    return xproj, w_hh, lengths


@needs_harness
def test_per_tile_persistent_launches_match_the_reference(monkeypatch):
    """B 20 as 2 batch tiles, H 32 as 2 hidden blocks, D 2: capacity for one tile (4 programs), so the
    forward and the backward each run as 2 persistent launches (SYNC=True), one per tile."""
    from kernels.testing import concurrent_programs

    monkeypatch.setattr(kcommon, "DEBUG_FILL_NAN", True)
    xproj, w_hh, lengths = _lstm_problem(20, 4, 2, 32)
    xproj.requires_grad_(True)
    w_hh.requires_grad_(True)
    with concurrent_programs(capacity=4, timeout=120) as launches:
        y, hn, cn = lstm_recurrence(xproj, w_hh, lengths, config=LaunchConfig(block_h=16))
        grads = torch.autograd.grad((y * y).sum() + hn.sum(), [xproj, w_hh])
    assert [(launch.kernel, launch.grid) for launch in launches] == (
        [("_lstm_fwd_kernel", (2, 2, 1))] * 2 + [("_lstm_bwd_kernel", (2, 2, 1))] * 2)
    y_ref, hn_ref, _ = lstm_recurrence_reference(xproj, w_hh, lengths)
    ref = torch.autograd.grad((y_ref * y_ref).sum() + hn_ref.sum(), [xproj, w_hh])
    torch.testing.assert_close(y, y_ref, rtol=1e-5, atol=1e-5)
    for name, a, b in zip(["xproj", "w_hh"], grads, ref):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5, msg=lambda m: f"{name}: {m}")


@needs_harness
def test_barrier_timeout_falls_back_to_step_mode(monkeypatch):
    """A wrong co-residency guess: the launcher assumes the whole grid fits, but only 2 of the 4
    hidden blocks of a (direction, tile) run at once, so the first barrier can never open. The
    bounded spin expires, the programs stop waiting, and the call reruns in step mode: one warning
    per kernel, the reference's values and gradients, nothing hung."""
    from kernels.testing import concurrent_programs

    monkeypatch.setattr(kcommon, "SPIN_LIMIT", 64)
    xproj, w_hh, lengths = _lstm_problem(3, 3, 1, 64, seed=1)
    b_hn = torch.randn(1, 64) * 0.1
    gx = torch.randn(3, 3, 1, 192) * 0.5
    gw = torch.randn(1, 192, 64) / 8
    for t in (xproj, w_hh, gx, gw, b_hn):
        t.requires_grad_(True)
    with pytest.warns(kcommon.KernelFallbackWarning, match="timed out") as record:
        with concurrent_programs(capacity=None, co_resident=2, timeout=120) as launches:
            y, _, _ = lstm_recurrence(xproj, w_hh, lengths, config=LaunchConfig(block_h=16))
            (dx,) = torch.autograd.grad(y.sum(), [xproj])
            yg, _ = gru_recurrence(gx, gw, b_hn, lengths, config=LaunchConfig(block_h=16))
    fallbacks = [w for w in record if w.category is kcommon.KernelFallbackWarning]  # (garbage data may overflow exp)
    assert len(fallbacks) == 3  # LSTM forward and backward, GRU forward
    assert [launch.grid for launch in launches[:2]] == [(1, 4, 1), (1, 4, 1)]  # persistent try, first step
    y_ref, _, _ = lstm_recurrence_reference(xproj, w_hh, lengths)
    torch.testing.assert_close(y, y_ref, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(dx, torch.autograd.grad(y_ref.sum(), [xproj])[0], rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(yg, gru_recurrence_reference(gx, gw, b_hn, lengths)[0], rtol=1e-5, atol=1e-5)
