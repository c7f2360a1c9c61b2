"""The spine every recurrence kernel of this package shares: device helpers, the launch plan, the cell record.

Device side (`@triton.jit`, called from the cells' kernels):
    tanh(x)                      2σ(2x) − 1 (libdevice.tanh does not run under the interpreter)
    grid_barrier(count, target)  the programs of one (direction, batch tile) meet between steps
    dot_operand(x, w_ptr)        a step's A operand in the weights' dtype (fp32 under the interpreter)
    w_tile / w_tiles / w_pick    a program's weight slice as [BK, N] tiles: loaded once before the
                                 time loop (kept in shared memory) or, not RESIDENT, streamed per step

Host side:
    Plan / make_plan             grid, tiles, block sizes, residency and mode of one call; launches
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
def grid_barrier(count_ptr, target):
    """All programs sharing count_ptr wait until it reaches target (one arrive each)."""
    tl.debug_barrier()  # every thread of this program has issued its stores
    tl.atomic_add(count_ptr, 1, sem="release")
    seen = tl.atomic_add(count_ptr, 0, sem="acquire")
    while seen < target:
        seen = tl.atomic_add(count_ptr, 0, sem="acquire")
    tl.debug_barrier()


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
# capacity: how many programs of a compiled kernel are co-resident (cooperative launch limit)

def max_resident_programs(compiled, num_warps: int, device: torch.device) -> int:
    compiled._init_handles()
    props = torch.cuda.get_device_properties(device)
    threads = 32 * num_warps
    regs_per_warp = -(-max(compiled.n_regs, 1) * 32 // 256) * 256  # allocated in 256-register units
    per_sm = min(getattr(props, "regs_per_multiprocessor", 65536) // (regs_per_warp * num_warps),
                 props.max_threads_per_multi_processor // threads)
    shared = compiled.metadata.shared
    if shared:
        per_sm = min(per_sm, getattr(props, "shared_memory_per_multiprocessor", 228 * 1024) // shared)
    return per_sm * props.multi_processor_count


_CAPACITY: dict[tuple, int] = {}  # co-resident programs per compiled kernel


# --------------------------------------------------------------------------------------
# the plan of one call

def _check_config(config: LaunchConfig) -> None:
    for name in ("block_h", "block_b", "block_k"):
        v = getattr(config, name)
        if v < 16 or v & (v - 1):
            raise ValueError(f"{name} must be a power of two >= 16, got {v}")
    if config.mode not in ("auto", "persistent", "step"):
        raise ValueError(f"mode must be auto, persistent or step, got {config.mode!r}")


@dataclass
class Plan:
    """Grid, tiles, block sizes and mode for one call; shared by forward and backward (make_plan builds it).
    bwd_BK / bwd_num_warps: the backward kernel's (the LSTM's may differ, configs.SPILL_FIXES).
    P, PP, BP: LSTMP's projection size, padded, and projection units per program (0 for the others)."""
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
    max_len: int
    requested: str               # LaunchConfig.mode
    device: torch.device
    P: int = 0
    PP: int = 0
    BP: int = 0
    last_mode: str | None = field(default=None, compare=False)

    @property
    def grid(self) -> tuple[int, int, int]:
        return (self.D, self.n_hb, self.n_bt)

    def mode(self, kernel, args, constexprs, num_warps: int) -> str:
        """persistent when the hidden blocks can meet at a grid barrier, else step."""
        if self.n_hb == 1:
            return "persistent"  # programs are independent: no barrier, any grid size works
        harness = testing.active() if INTERPRET else None  # kernels.testing.concurrent_programs()
        if self.requested != "auto":
            if self.requested == "persistent" and INTERPRET and harness is None:
                raise ValueError("persistent mode with several hidden blocks cannot run under the "
                                 "interpreter (programs run one after another: the barrier never opens) "
                                 "outside kernels.testing.concurrent_programs()")
            return self.requested
        if harness is not None:
            n_programs = self.grid[0] * self.grid[1] * self.grid[2]
            return "persistent" if harness.capacity is None or n_programs <= harness.capacity else "step"
        if INTERPRET or self.device.type != "cuda":
            return "step"
        key = (kernel.fn.__name__ if hasattr(kernel, "fn") else str(kernel), num_warps, self.device,
               tuple(sorted(constexprs.items())))
        if key not in _CAPACITY:
            compiled = kernel.warmup(*args, grid=self.grid, num_warps=num_warps, num_stages=NUM_STAGES,
                                     launch_cooperative_grid=True, **constexprs)
            _CAPACITY[key] = max_resident_programs(compiled, num_warps, self.device)
        n_programs = self.grid[0] * self.grid[1] * self.grid[2]
        return "persistent" if n_programs <= _CAPACITY[key] else "step"

    def launch(self, kernel, args, counters, constexprs, n_total: int, num_warps: int | None = None) -> None:
        """Run kernel(*args, begin, n_steps, ...) over n_total loop iterations (num_warps: the plan's)."""
        num_warps = num_warps or self.num_warps
        mode = self.mode(kernel, args + [0, n_total], dict(constexprs, SYNC=self.n_hb > 1), num_warps)
        if mode == "persistent":
            counters.zero_()
            kernel[self.grid](*args, 0, n_total, SYNC=self.n_hb > 1, num_warps=num_warps,
                              num_stages=NUM_STAGES, launch_cooperative_grid=self.n_hb > 1 and not INTERPRET,
                              **constexprs)
        else:
            for begin in range(n_total):
                kernel[self.grid](*args, begin, 1, SYNC=False, num_warps=num_warps, num_stages=NUM_STAGES,
                                  **constexprs)
        self.last_mode = mode


def make_plan(B: int, T: int, D: int, H: int, lengths: torch.Tensor, dtype: torch.dtype, config: LaunchConfig,
              weight_elements: Callable[[int, int], int], bwd_config: LaunchConfig | None = None, P: int = 0) -> Plan:
    """The plan of one call. weight_elements(BH, BP) -> entries of one program's weight slice (residency);
    bwd_config: the backward kernel's block_k / num_warps (None: config's); P: LSTMP's projection size."""
    _check_config(config)
    HP = padded_hidden(H)
    BH = min(config.block_h, HP)
    n_hb, n_bt = triton.cdiv(H, BH), triton.cdiv(B, config.block_b)
    PP = padded_hidden(P) if P else 0
    BP = min(max(16, triton.next_power_of_2(triton.cdiv(P, n_hb))), PP) if P else 0
    BK = min(config.block_k, HP, PP or HP)
    bwd = bwd_config or config
    precision = dot_precision(dtype)
    padded = torch.zeros(n_bt * config.block_b, dtype=torch.int32, device=lengths.device)
    padded[:B] = lengths
    return Plan(B=B, T=T, D=D, H=H, HP=HP, BH=BH, BB=config.block_b, BK=BK, num_warps=config.num_warps,
                bwd_BK=min(bwd.block_k, HP, PP or HP), bwd_num_warps=bwd.num_warps, dot_precision=precision,
                resident=weights_resident(weight_elements(BH, BP), dtype, precision), n_hb=n_hb, n_bt=n_bt,
                lengths=lengths, tile_len=padded.view(n_bt, config.block_b).amax(dim=1).contiguous(),
                max_len=int(lengths.max()), requested=config.mode, device=lengths.device, P=P, PP=PP, BP=BP)


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


INT_PTRS = frozenset({"len_ptr", "tile_len_ptr", "count_ptr"})


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
