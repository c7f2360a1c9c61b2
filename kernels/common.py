"""The spine every recurrence kernel of this package shares: device helpers, the launch plan, the cell record.

Device side (`@triton.jit`, called from the cells' kernels):
    tanh(x)                      2σ(2x) − 1 (libdevice.tanh does not run under the interpreter)
    grid_barrier(count, target, flag, spin_limit, ok)
                                 the programs of one (direction, batch tile) meet between steps;
                                 a bounded spin: on expiry it sets the flag and stops waiting
    dot_operand(x, w_ptr)        a step's A operand in the weights' dtype (fp32 under the interpreter)
    w_tile / w_tiles / w_pick    a program's weight slice as [BK, N] tiles: loaded once before the
                                 time loop (kept in shared memory) or, not RESIDENT, streamed per step

Host side:
    Plan / make_plan             grid, tiles, block sizes, residency and mode of one call; launches
                                 persistent (whole grid), per group of batch tiles, or step by step;
                                 reruns in step mode when a persistent launch fails (one warning)
    programs_per_sm, device_capacity, schedule
                                 the co-residency model (reserved shared memory, allocation units)
    alloc                        outputs (NaN-filled when DEBUG_FILL_NAN: tests see unwritten entries)
    kernel_inputs                the dtype contract, lengths int32 and contiguous states
    previous_h, valid_steps      the h_{t-1} each step saw, the t < length mask (weight gradients)
    dot_precision, weights_resident, device_arch
    Cell                         one cell described once (its kernels, plan, reference, gate count);
                                 the registry is kernels.cells

Dimensions as in the kernels: B batch, T time, D directions, H hidden units, HP = H padded to a
power of two; BB batch rows, BH hidden units, BK K-chunk per program; grid (D, n_hblocks, n_btiles).
"""
from __future__ import annotations

import os
import warnings
from dataclasses import dataclass, field
from typing import Callable

import torch
import triton
import triton.language as tl

from kernels import configs, testing
from kernels.configs import NUM_STAGES, LaunchConfig, padded_hidden

INTERPRET = os.environ.get("TRITON_INTERPRET", "0") == "1"
# Tests turn this on: every buffer the kernels should fully overwrite starts as NaN.
DEBUG_FILL_NAN = os.environ.get("KERNELS_DEBUG_NAN", "0") == "1"


# --------------------------------------------------------------------------------------
# device helpers

@triton.jit
def tanh(x):
    # libdevice.tanh does not run under the interpreter; this is accurate to ~6e-8 in fp32
    return 2.0 * tl.sigmoid(2.0 * x) - 1.0


@triton.jit
def grid_barrier(count_ptr, target, flag_ptr, spin_limit, ok):
    """All programs sharing count_ptr wait until it reaches target (one arrive each): the arrive is a
    release atomic, the poll an acquire one. The wait is bounded: after spin_limit polls the program
    sets *flag_ptr and stops waiting, at this and (ok False) every later barrier; the host sees the
    flag and reruns the call in step mode. -> ok and this barrier opened."""
    tl.debug_barrier()  # every thread of this program has issued its stores
    tl.atomic_add(count_ptr, 1, sem="release")
    seen = tl.atomic_add(count_ptr, 0, sem="acquire")
    budget = tl.where(ok, spin_limit, 0)
    spins = 0
    while (seen < target) & (spins < budget):
        seen = tl.atomic_add(count_ptr, 0, sem="acquire")
        spins += 1
    opened = seen >= target
    if not opened:
        tl.atomic_xchg(flag_ptr, 1)
    tl.debug_barrier()
    return ok & opened


@triton.jit
def grid_arrive(count_ptr):
    """This program's arrive at a grid barrier (the first half of grid_barrier, for a loop that waits at
    its top: grid_wait): every thread has issued its stores (CTA barrier), then one release add."""
    tl.debug_barrier()
    tl.atomic_add(count_ptr, 1, sem="release")


@triton.jit
def _poll(count_ptr, INTERPRET: tl.constexpr):
    """The counter, read by every thread with its own acquire load (no broadcast through shared memory)."""
    if INTERPRET:
        seen = tl.atomic_add(count_ptr, 0, sem="acquire")
    else:
        seen = tl.inline_asm_elementwise("ld.global.gpu.acquire.b32 $0, [$1];", "=r,l", [count_ptr],
                                         dtype=tl.int32, is_pure=False, pack=1)
    return seen


@triton.jit
def grid_wait(count_ptr, target, flag_ptr, spin_limit, ok, INTERPRET: tl.constexpr):
    """Wait until the counter reaches target (the arrives of every program sharing it, grid_arrive).
    Every thread polls the counter itself (an acquire load at gpu scope): no CTA barrier inside or
    after the spin, so the loads that follow it are issued in the same run as the poll. Bounded as
    grid_barrier: after spin_limit polls (ok False: at once) the thread sets *flag_ptr and stops
    waiting; the host reruns the call in step mode. -> ok and this barrier opened (this thread)."""
    seen = _poll(count_ptr, INTERPRET)
    budget = tl.where(ok, spin_limit, 0)
    spins = 0
    while (seen < target) & (spins < budget):
        seen = _poll(count_ptr, INTERPRET)
        spins += 1
    opened = seen >= target
    if not opened:
        if INTERPRET:
            tl.atomic_xchg(flag_ptr, 1)
        else:  # by this thread itself (a scalar atomic would run in one thread only)
            tl.inline_asm_elementwise("st.global.relaxed.gpu.b32 [$1], 1;\n\tmov.b32 $0, 0;", "=r,l", [flag_ptr],
                                      dtype=tl.int32, is_pure=False, pack=1)
    return ok & opened


@triton.jit
def w_chunks(w_ptr, roff, rmask, K: tl.constexpr, BK: tl.constexpr, NK: tl.constexpr, TRANS: tl.constexpr,
             INTERPRET: tl.constexpr):
    """A program's weight rows w[roff[r] + k] (k < K) as NK = cdiv(K, BK) K-chunk tiles [R, BK] (TRANS:
    [BK, R]), loaded once before the time loop: the compiler keeps them in shared memory."""
    ws = ()
    for kc in tl.static_range(NK):
        ws = ws + (w_chunk((), w_ptr, roff, rmask, kc, K, BK, NK, TRANS, False, INTERPRET),)
    return ws


@triton.jit
def w_chunk(ws, w_ptr, roff, rmask, kc: tl.constexpr, K: tl.constexpr, BK: tl.constexpr, NK: tl.constexpr,
            TRANS: tl.constexpr, RESIDENT: tl.constexpr, INTERPRET: tl.constexpr):
    """Chunk kc of w_chunks: from the on-chip tuple (RESIDENT) or from L2 (every step)."""
    if RESIDENT:
        w = ws[kc]
    else:
        w = w_load(w_ptr, roff, rmask, kc * BK + tl.arange(0, BK), K, TRANS, INTERPRET)
    return w


@triton.jit
def w_load(w_ptr, roff, rmask, ks, K: tl.constexpr, TRANS: tl.constexpr, INTERPRET: tl.constexpr):
    """Weight rows w[roff[r] + k] at the K indices ks as [R, len(ks)] (TRANS: [len(ks), R]); ks may be
    a runtime chunk (a streamed K loop)."""
    if TRANS:
        w = tl.load(w_ptr + roff[None, :] + ks[:, None], mask=rmask[None, :] & (ks < K)[:, None], other=0.0)
    else:
        w = tl.load(w_ptr + roff[:, None] + ks[None, :], mask=rmask[:, None] & (ks < K)[None, :], other=0.0)
    if INTERPRET:
        w = w.to(tl.float32)  # tl.dot on 16-bit inputs is wrong under the interpreter
    return w


@triton.jit
def gates_split(x, BH: tl.constexpr, BB: tl.constexpr):
    """[4·BH, BB] with gate rows g·BH + j -> the four gates [BH, BB], order i, f, g, o."""
    x = tl.permute(tl.reshape(x, (2, 2, BH, BB)), (2, 3, 0, 1))   # [BH, BB, g // 2, g % 2]
    even, odd = tl.split(x)                                      # [BH, BB, g // 2]: (i, g), (f, o)
    i, g = tl.split(even)
    f, o = tl.split(odd)
    return i, f, g, o


@triton.jit
def gates_join(i, f, g, o, BH: tl.constexpr, BB: tl.constexpr):
    """The inverse of gates_split: four [BH, BB] gates -> [4·BH, BB], gate rows g·BH + j."""
    x = tl.join(tl.join(i, g), tl.join(f, o))                    # [BH, BB, g // 2, g % 2]
    return tl.reshape(tl.permute(x, (2, 3, 0, 1)), (4 * BH, BB))


@triton.jit
def dot_operand(x, w_ptr, INTERPRET: tl.constexpr):
    if INTERPRET:
        x = x.to(tl.float32)
    else:
        x = x.to(w_ptr.dtype.element_ty)
    return x


@triton.jit
def w_tile(w_ptr, ks, ns, kmask, nmask, SK: tl.constexpr, SN: tl.constexpr, INTERPRET: tl.constexpr):
    """[K, N] tile w[k * SK + n * SN] (the B operand of a step's dot)."""
    w = tl.load(w_ptr + ks[:, None] * SK + ns[None, :] * SN, mask=kmask[:, None] & nmask[None, :], other=0.0)
    if INTERPRET:
        w = w.to(tl.float32)  # tl.dot on 16-bit inputs is wrong under the interpreter
    return w


@triton.jit
def w_tiles(w_ptr, ns, nmask, NG: tl.constexpr, GS: tl.constexpr, K: tl.constexpr, KP: tl.constexpr,
            BK: tl.constexpr, SK: tl.constexpr, SN: tl.constexpr, INTERPRET: tl.constexpr):
    """The program's weight slice as NG gates x (KP // BK) K-chunks of [BK, N] tiles, gate g at w_ptr + g·GS,
    index g * (KP // BK) + chunk. Loaded once before the time loop; the compiler keeps them in shared
    memory (the B operand of every step's dots) and loads one tile at a time into registers."""
    ws = ()
    for g in tl.static_range(NG):
        for kc in tl.static_range(KP // BK):
            ks = kc * BK + tl.arange(0, BK)
            ws = ws + (w_tile(w_ptr + g * GS, ks, ns, ks < K, nmask, SK, SN, INTERPRET),)
    return ws


@triton.jit
def w_pick(ws, w_ptr, g: tl.constexpr, kc: tl.constexpr, ns, nmask, GS: tl.constexpr, K: tl.constexpr,
           KP: tl.constexpr, BK: tl.constexpr, SK: tl.constexpr, SN: tl.constexpr, RESIDENT: tl.constexpr,
           INTERPRET: tl.constexpr):
    """Tile (g, kc) of w_tiles: from the on-chip tuple, or (too big for the chip) from L2 every step."""
    if RESIDENT:
        w = ws[g * (KP // BK) + kc]
    else:
        ks = kc * BK + tl.arange(0, BK)
        w = w_tile(w_ptr + g * GS, ks, ns, ks < K, nmask, SK, SN, INTERPRET)
    return w


# --------------------------------------------------------------------------------------
# host helpers

def device_arch(device: torch.device) -> int | None:
    """The compute capability of a CUDA device as 80, 90, ...; None off the GPU (and under the interpreter)."""
    if device.type != "cuda" or INTERPRET:
        return None
    major, minor = torch.cuda.get_device_capability(device)
    return 10 * major + minor


def dot_precision(dtype: torch.dtype) -> str:
    """fp32 follows torch.nn.LSTM on CUDA: cuDNN uses TF32 unless torch.backends.cudnn.allow_tf32
    is off; then tf32x3 (three TF32 products, ~fp32 accuracy, more shared memory and registers)."""
    if dtype == torch.float32 and not torch.backends.cudnn.allow_tf32:
        return "tf32x3"
    return "tf32"


def weights_resident(elements: int, dtype: torch.dtype, precision: str) -> bool:
    """Whether a program's weight slice of `elements` entries stays on chip (configs.RESIDENT_BYTES)."""
    nbytes = elements * torch.tensor([], dtype=dtype).element_size()
    if precision == "tf32x3":
        nbytes *= 2  # the compiler keeps the big and small TF32 halves of the weights
    return nbytes <= configs.RESIDENT_BYTES


def alloc(shape, dtype, device, fill_nan: bool = True) -> torch.Tensor:
    out = torch.empty(shape, dtype=dtype, device=device)
    if DEBUG_FILL_NAN and fill_nan:
        out.fill_(float("nan") if dtype.is_floating_point else -(2**30))
    return out


def kernel_inputs(xproj: torch.Tensor, lengths: torch.Tensor | None, weights: dict[str, torch.Tensor],
                  *states: torch.Tensor | None) -> tuple[torch.Tensor, list]:
    """The dtype contract of every recurrence in this package (xproj and each named weight in one of
    float32, bfloat16, float16); -> lengths int32 [B] on xproj's device, the states contiguous."""
    if xproj.dtype not in (torch.float32, torch.bfloat16, torch.float16):
        raise ValueError(f"xproj dtype must be float32, bfloat16 or float16, got {xproj.dtype}")
    for name, w in weights.items():
        if w.dtype != xproj.dtype:
            raise ValueError(f"{name} dtype {w.dtype} differs from xproj dtype {xproj.dtype}: "
                             f"{', '.join(weights)} must have xproj's dtype")
    B, T = xproj.shape[:2]
    if lengths is None:
        lengths = torch.full((B,), T, dtype=torch.int32, device=xproj.device)
    lengths = lengths.to(device=xproj.device, dtype=torch.int32).contiguous()
    return lengths, [s.contiguous() if s is not None else None for s in states]


def previous_h(y: torch.Tensor, h0: torch.Tensor | None, lengths: torch.Tensor, reverse: bool) -> torch.Tensor:
    """h_{t-1} seen by step t of each direction: [B, T, D, H] (garbage past each length)."""
    B, T, D, H = y.shape
    prev = torch.zeros_like(y)
    rows = torch.arange(B, device=y.device)
    for d in range(D):
        first = h0[d].to(y.dtype) if h0 is not None else y.new_zeros(B, H)
        if reverse or d == 1:
            prev[:, :-1, d] = y[:, 1:, d]
            prev[rows, lengths.long() - 1, d] = first
        else:
            prev[:, 1:, d] = y[:, :-1, d]
            prev[:, 0, d] = first
    return prev


def valid_steps(lengths: torch.Tensor, T: int) -> torch.Tensor:
    """[B, T, 1, 1] bool: t < length (the saved buffers hold garbage past each length)."""
    return (torch.arange(T, device=lengths.device)[None, :] < lengths[:, None].long())[:, :, None, None]


# --------------------------------------------------------------------------------------
# capacity: how many programs of a compiled kernel are co-resident (the cooperative launch limit)

# The driver reserves this much shared memory per block (CUDA occupancy calculator, sm_80 - sm_90).
RESERVED_SHARED = 1024
SHARED_GRANULARITY = 128      # shared memory is allocated in 128-byte units
REG_UNIT = 256                # registers are allocated per warp in 256-register units ...
SUBPARTITIONS = 4             # ... from each of the SM's four register-file partitions
MAX_BLOCKS_PER_SM = {80: 32, 86: 16, 87: 16, 89: 24, 90: 32}
# Iterations a program spins at one grid barrier before it gives up (sets flag_ptr and stops
# waiting; the host then reruns the call in step mode). One iteration is an acquire load from L2,
# ~1 µs: ~16 s on a GPU, many times any healthy wait (one step of the slowest program).
SPIN_LIMIT = int(os.environ.get("KERNELS_SPIN_LIMIT", 1 << 24))


class KernelFallbackWarning(RuntimeWarning):
    """A persistent launch could not run (no room, or a barrier timed out): the call ran in step mode."""


def programs_per_sm(n_regs: int, shared: int, num_warps: int, props) -> tuple[int, str]:
    """Blocks of a kernel (n_regs per thread, `shared` bytes per block) one SM holds, and what limits it.
    props: torch.cuda.get_device_properties (or any object with its fields)."""
    arch = 10 * props.major + props.minor
    regs_per_warp = -(-max(n_regs, 1) * 32 // REG_UNIT) * REG_UNIT
    per_partition = getattr(props, "regs_per_multiprocessor", 65536) // SUBPARTITIONS // regs_per_warp
    limits = {"registers": per_partition * SUBPARTITIONS // num_warps,
              "threads": props.max_threads_per_multi_processor // (32 * num_warps),
              "blocks": MAX_BLOCKS_PER_SM.get(arch, 16)}
    if shared:
        block = -(-(shared + RESERVED_SHARED) // SHARED_GRANULARITY) * SHARED_GRANULARITY
        limits["shared memory"] = props.shared_memory_per_multiprocessor // block
        if shared > props.shared_memory_per_block_optin:
            limits["shared memory"] = 0
    why = min(limits, key=limits.get)
    return limits[why], why


def device_capacity(n_regs: int, shared: int, num_warps: int, props) -> tuple[int, str]:
    """Co-resident programs on the whole device, and the per-SM limit that sets it (for messages)."""
    per_sm, why = programs_per_sm(n_regs, shared, num_warps, props)
    return per_sm * props.multi_processor_count, (
        f"{per_sm} per SM x {props.multi_processor_count} SMs ({why}: {n_regs} registers x {32 * num_warps} "
        f"threads, {shared} B shared + {RESERVED_SHARED} B reserved per block)")


def schedule(D: int, n_hb: int, n_bt: int, capacity: int | None) -> int:
    """Batch tiles per persistent launch: barrier groups are per (direction, batch tile), so a launch
    needs only its own tiles' D·n_hb programs co-resident. n_bt: the whole grid fits; 0: not even one
    tile fits (step mode). capacity None: unlimited."""
    if capacity is None:
        return n_bt
    return min(n_bt, capacity // (D * n_hb))


_CAPACITY: dict[tuple, tuple[int, str]] = {}  # (co-resident programs, why) per compiled kernel


def _capacity(plan: "Plan", kernel, args: list, constexprs: dict, num_warps: int,
              maxnreg: int | None = None) -> tuple[int | None, str]:
    """How many programs of this launch can be co-resident (None: no limit), and why."""
    harness = testing.active() if INTERPRET else None  # kernels.testing.concurrent_programs()
    if harness is not None:
        return harness.capacity, "kernels.testing.concurrent_programs(capacity=...)"
    if INTERPRET or plan.device.type != "cuda":
        return 0, ("the interpreter runs programs one after another (the barrier never opens) outside "
                   "kernels.testing.concurrent_programs()")
    key = (getattr(kernel, "fn", kernel).__name__, num_warps, maxnreg, plan.device, tuple(sorted(constexprs.items())))
    if key not in _CAPACITY:
        compiled = kernel.warmup(*args, grid=plan.grid, num_warps=num_warps, num_stages=NUM_STAGES,
                                 launch_cooperative_grid=True, **_reg_cap(maxnreg), **constexprs)
        compiled._init_handles()
        _CAPACITY[key] = device_capacity(compiled.n_regs, compiled.metadata.shared, num_warps,
                                         torch.cuda.get_device_properties(plan.device))
    return _CAPACITY[key]


# --------------------------------------------------------------------------------------
# the plan of one call

def _reg_cap(maxnreg: int | None) -> dict:
    """The launch option for ptxas's register cap (configs.MAXNREG); none when there is no cap."""
    return {} if maxnreg is None else {"maxnreg": maxnreg}


def _check_config(config: LaunchConfig) -> None:
    for name in ("block_h", "block_b", "block_k"):
        v = getattr(config, name)
        if v < 16 or v & (v - 1):
            raise ValueError(f"{name} must be a power of two >= 16, got {v}")
    if config.mode not in ("auto", "persistent", "step"):
        raise ValueError(f"mode must be auto, persistent or step, got {config.mode!r}")


def _warn(message: str) -> None:
    warnings.warn(message, KernelFallbackWarning, stacklevel=4)


@dataclass
class Plan:
    """Grid, tiles, block sizes and mode for one call; shared by forward and backward (make_plan builds it).
    bwd_BK / bwd_num_warps: the backward kernel's (the LSTM's may differ, configs.SPILL_FIXES).
    maxnreg / bwd_maxnreg: ptxas's register cap of the forward / backward kernel (configs.MAXNREG; None: none).
    P, PP, BP: LSTMP's projection size, padded, and projection units per program (0 for the others).
    last_mode: how the last launch ran: persistent (one launch), tiles (one persistent launch per
    group of batch tiles) or step (one launch per loop iteration)."""
    B: int
    T: int
    D: int
    H: int
    HP: int
    BH: int
    BB: int
    BK: int
    num_warps: int
    bwd_BK: int
    bwd_num_warps: int
    dot_precision: str
    resident: bool
    n_hb: int
    n_bt: int
    lengths: torch.Tensor        # [B] int32
    tile_len: torch.Tensor       # [n_btiles] int32: the longest sequence of each batch tile
    rows: torch.Tensor           # [B] int32: slot bt·BB + i of tile bt is batch row rows[bt·BB + i]
    max_len: int
    requested: str               # LaunchConfig.mode
    device: torch.device
    P: int = 0
    PP: int = 0
    BP: int = 0
    maxnreg: int | None = None
    bwd_maxnreg: int | None = None
    last_mode: str | None = field(default=None, compare=False)

    @property
    def grid(self) -> tuple[int, int, int]:
        return (self.D, self.n_hb, self.n_bt)

    def tiles_per_launch(self, kernel, args, constexprs, num_warps: int, maxnreg: int | None = None) -> int:
        """Batch tiles per persistent launch (n_bt: one launch; 0: step mode), from the capacity."""
        if self.n_hb == 1 or self.requested == "step":
            return self.n_bt if self.n_hb == 1 else 0  # one hidden block: no barrier, any grid works
        capacity, why = _capacity(self, kernel, args, constexprs, num_warps, maxnreg)
        tiles = schedule(self.D, self.n_hb, self.n_bt, capacity)
        if tiles == 0 and self.requested == "persistent":
            raise ValueError(f"persistent mode needs the {self.D * self.n_hb} programs of one batch tile "
                             f"(D={self.D} x {self.n_hb} hidden blocks) co-resident, but {capacity} fit: {why}")
        return tiles

    def launch(self, kernel, args: list, constexprs: dict, n_total: int, num_warps: int | None = None,
               inout: tuple = (), maxnreg: int | None = None) -> None:
        """Run kernel(*args, count_ptr, flag_ptr, B, T, tile0, begin, n_steps, spin_limit) over n_total
        loop iterations. inout: buffers the kernel reads and overwrites (initial state), restored
        before a rerun in step mode; maxnreg: ptxas's register cap (plan.maxnreg or bwd_maxnreg)."""
        num_warps = num_warps or self.num_warps
        sync = self.n_hb > 1
        counters = torch.zeros(self.n_bt * self.D, dtype=torch.int32, device=self.device)  # [n_btiles, D]
        flag = torch.zeros(1, dtype=torch.int32, device=self.device)
        probe = args + [counters, flag, self.B, self.T, 0, 0, n_total, SPIN_LIMIT]
        tiles = self.tiles_per_launch(kernel, probe, dict(constexprs, SYNC=sync), num_warps, maxnreg)
        if tiles:
            saved = [t.clone() for t in inout] if sync else []
            if self._persistent(kernel, args, counters, flag, constexprs, n_total, num_warps, tiles, maxnreg):
                self.last_mode = "persistent" if tiles == self.n_bt else "tiles"
                return
            for t, s in zip(inout, saved):
                t.copy_(s)
        for begin in range(n_total):
            kernel[self.grid](*args, counters, flag, self.B, self.T, 0, begin, 1, SPIN_LIMIT, SYNC=False,
                              num_warps=num_warps, num_stages=NUM_STAGES, **_reg_cap(maxnreg), **constexprs)
        self.last_mode = "step"

    def _persistent(self, kernel, args, counters, flag, constexprs, n_total, num_warps, tiles, maxnreg) -> bool:
        """One persistent launch per group of `tiles` batch tiles; False (and one warning) when a
        cooperative launch raised or a barrier timed out: the caller reruns in step mode."""
        sync = self.n_hb > 1
        name = getattr(kernel, "fn", kernel).__name__
        try:
            for tile0 in range(0, self.n_bt, tiles):
                grid = (self.D, self.n_hb, min(tiles, self.n_bt - tile0))
                kernel[grid](*args, counters, flag, self.B, self.T, tile0, 0, n_total, SPIN_LIMIT, SYNC=sync,
                             num_warps=num_warps, num_stages=NUM_STAGES,
                             launch_cooperative_grid=sync and not INTERPRET, **_reg_cap(maxnreg), **constexprs)
        except RuntimeError as e:
            if not sync or INTERPRET:
                raise
            _warn(f"{name}: the cooperative launch of {self.D * self.n_hb * tiles} programs failed ({e}); "
                  "running in step mode")
            return False
        if sync and int(flag.item()):
            _warn(f"{name}: a grid barrier timed out after {SPIN_LIMIT} spins (the programs of a batch tile "
                  "were not all co-resident); reran in step mode")
            return False
        return True


def make_plan(B: int, T: int, D: int, H: int, lengths: torch.Tensor, dtype: torch.dtype, config: LaunchConfig,
              weight_elements: Callable[[int, int], int], bwd_config: LaunchConfig | None = None, P: int = 0,
              sort_rows: bool = False, maxnreg: tuple[int | None, int | None] = (None, None)) -> Plan:
    """The plan of one call. weight_elements(BH, BP) -> entries of one program's weight slice (residency);
    bwd_config: the backward kernel's block_k / num_warps (None: config's); P: LSTMP's projection size;
    maxnreg: ptxas's register caps of the forward and backward kernels (configs.cell_maxnreg).

    Length sorting (sort_rows, the cell's opt-in; its kernels must take rows_ptr): the batch rows are
    dealt to the tiles longest first, so a tile's longest sequence is close to its rows' lengths and
    a tile of short rows ends early (barrier groups are per batch tile). Nothing is gathered:
        rows      int32 [B]          stable argsort of lengths, descending (sort_rows False: arange);
                                     slot bt·BB + i of batch tile bt is batch row rows[bt·BB + i]
        tile_len  int32 [n_btiles]   the longest length among each tile's slots (0 for none)
    Each kernel loads `rows = tl.load(rows_ptr + slot, mask=slot < B)` in its prologue and addresses
    every input, output, state and exchange buffer through rows, so everything stays in natural
    batch order: the caller neither permutes its inputs nor restores its outputs."""
    _check_config(config)
    HP = padded_hidden(H)
    BH = min(config.block_h, HP)
    n_hb, n_bt = triton.cdiv(H, BH), triton.cdiv(B, config.block_b)
    PP = padded_hidden(P) if P else 0
    BP = min(max(16, triton.next_power_of_2(triton.cdiv(P, n_hb))), PP) if P else 0
    BK = min(config.block_k, HP, PP or HP)
    bwd = bwd_config or config
    precision = dot_precision(dtype)
    if sort_rows:
        rows = torch.sort(lengths, descending=True, stable=True).indices
    else:
        rows = torch.arange(B, device=lengths.device)
    padded = torch.zeros(n_bt * config.block_b, dtype=torch.int32, device=lengths.device)
    padded[:B] = lengths[rows]
    return Plan(B=B, T=T, D=D, H=H, HP=HP, BH=BH, BB=config.block_b, BK=BK, num_warps=config.num_warps,
                bwd_BK=min(bwd.block_k, HP, PP or HP), bwd_num_warps=bwd.num_warps, dot_precision=precision,
                resident=weights_resident(weight_elements(BH, BP), dtype, precision), n_hb=n_hb, n_bt=n_bt,
                lengths=lengths, tile_len=padded.view(n_bt, config.block_b).amax(dim=1).contiguous(),
                rows=rows.to(torch.int32).contiguous(), max_len=int(lengths.max()), requested=config.mode,
                device=lengths.device, P=P, PP=PP, BP=BP, maxnreg=maxnreg[0], bwd_maxnreg=maxnreg[1])


# --------------------------------------------------------------------------------------
# the cell record (registry: kernels.cells)

@dataclass(frozen=True)
class Kernel:
    """One kernel of a cell as its launcher runs it. constexprs(plan, reverse) -> the launch's
    constexprs (SAVE excluded: the forward's launcher adds it; SYNC: the plan's launch);
    dtype_ptrs: pointer arguments in the input dtype (every other pointer is an fp32 buffer, or int32
    if named in INT_PTRS); none_args: pointer arguments the launcher passes as None (compiled out)."""
    fn: object
    constexprs: Callable[[Plan, bool], dict]
    dtype_ptrs: frozenset
    none_args: frozenset = frozenset()
    backward: bool = False   # launched with the plan's bwd_BK / bwd_num_warps


INT_PTRS = frozenset({"len_ptr", "tile_len_ptr", "rows_ptr", "count_ptr", "flag_ptr"})


@dataclass(frozen=True)
class Cell:
    """One recurrent cell, described once. fn: the public recurrence; reference: its plain-PyTorch twin;
    gates: gate blocks of xproj (4 LSTM-like, 3 GRU); kernels: {"fwd": Kernel, "bwd": Kernel};
    plan(B, T, D, H, lengths, dtype, config, arch, P) -> Plan (config None: the cell's launch table);
    extra_params: the layer's torch parameters (stems, e.g. "weight_peep") passed after w_hh;
    kernel_bias_gates: trailing gate blocks whose b_hh stays inside the kernel (GRU: b_hn), passed
    before the extra parameters; projected: needs proj_size (LSTMP, P = H // 2 in the AOT table)."""
    name: str
    fn: Callable
    reference: Callable
    gates: int
    kernels: dict
    plan: Callable
    extra_params: tuple[str, ...] = ()
    kernel_bias_gates: int = 0
    projected: bool = False
