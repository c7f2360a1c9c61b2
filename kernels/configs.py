"""Every launch table of the kernel family and the functions that read them (no kernel code here).

    default_config(H, dtype, arch, kernel)       the LSTM's LaunchConfig ("fwd" or "bwd" kernel)
    family_config(family, H, dtype, arch)        GRU, peephole LSTM, LSTMP ("gru" | "peephole" | "lstmp")
    cell_config(cell, H, dtype, arch, kernel, precision)   either of the above by cell name, then FIXES

Every entry is compiled by `python -m kernels.aot` (no GPU needed) and tests/kernels/test_aot*.py
assert zero register spills and shared memory within the per-block limit on sm_80 and sm_90.
`arch` is the compute capability as 80, 90 (None: no GPU, the sm_90 tables). `precision` is the
dot's input precision (kernels.common.dot_precision): "tf32" (fp32 with TF32, and the 16-bit
dtypes) or "tf32x3" (exact fp32: torch.backends.cudnn.allow_tf32 off), which has its own entries.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import torch
import triton


@dataclass(frozen=True)
class LaunchConfig:
    """How the launcher splits the work. block_h: hidden units per program (power of 2, >= 16);
    block_b: batch rows per program (power of 2, >= 16); block_k: K-chunk of the step's dots;
    mode: auto | persistent | step."""
    block_h: int
    block_b: int = 16
    block_k: int = 64
    num_warps: int = 4
    mode: str = "auto"


def padded_hidden(H: int) -> int:
    return max(16, triton.next_power_of_2(H))


# Weight tiles stay on chip when the program's slice (elements x bytes, x2 for tf32x3) fits this
# (A100 allows 163 KiB per block; the rest is the compiler's staging of h / gate-gradient chunks).
# Else they stream from L2 every step.
RESIDENT_BYTES = 128 * 1024
# No software pipelining: a prefetched h (or gate-gradient) load would cross the step's barrier.
NUM_STAGES = 1
AOT_HIDDEN_SIZES = (256, 320, 512, 768, 1024)
_16BIT = (torch.bfloat16, torch.float16)

# --------------------------------------------------------------------------------------
# LSTM (kernels.lstm)

# Chosen per (padded H, dtype) so each program's weight tiles fit in shared memory next to the
# staging buffers, with no register spills, on sm_80 and sm_90.
# padded hidden size HP -> {dtype: (block_h, num_warps)}
CONFIGS: dict[int, dict[torch.dtype, tuple[int, int]]] = {
    16: {torch.float32: (16, 4), torch.bfloat16: (16, 4), torch.float16: (16, 4)},
    32: {torch.float32: (32, 4), torch.bfloat16: (32, 4), torch.float16: (32, 4)},
    64: {torch.float32: (64, 4), torch.bfloat16: (64, 4), torch.float16: (64, 4)},
    128: {torch.float32: (32, 4), torch.bfloat16: (64, 4), torch.float16: (64, 4)},
    256: {torch.float32: (32, 4), torch.bfloat16: (32, 4), torch.float16: (32, 4)},
    512: {torch.float32: (16, 4), torch.bfloat16: (32, 4), torch.float16: (32, 4)},
    1024: {torch.float32: (16, 4), torch.bfloat16: (16, 4), torch.float16: (16, 4)},
}
# ptxas spills 8-28 bytes with the entry above in these (arch, kernel, padded H, dtype) launches (a
# few loop-invariant values stored before the time loop); each takes the first spill-free of
# block_k 32 or 8 warps, found with `python -m kernels.aot --block-k 32` / `--warps 8`. arch None
# (no GPU) uses the sm_90 entries. -> (block_k, num_warps). Kept for issue 14's step loop (kernels.lstm),
# under which these launches compile spill-free with no replicated dot (benchmarks/aot/lstm.txt).
SPILL_FIXES: dict[tuple[int, str, int, torch.dtype], tuple[int, int]] = {
    **{(90, "fwd", 256, dt): (32, 4) for dt in _16BIT},
    **{(90, "fwd", 512, dt): (64, 8) for dt in _16BIT},
    (90, "bwd", 1024, torch.float32): (64, 8),
}

# --------------------------------------------------------------------------------------
# GRU, peephole LSTM, LSTMP

# The family's launch choices: default_config's block_h (per padded H and dtype) with (block_k,
# num_warps) replaced per kernel family, hidden size, dtype and GPU arch. The LSTM's block_k = 64
# makes ptxas spill a few registers in several of these kernels: the default here is (32, 4), and
# each entry is the first of CANDIDATES whose forward and backward compile with no spills (ptxas
# -v: 0 bytes spill stores and stack frame), found by compiling them (`python -m kernels.aot
# --kernel gru_fwd gru_bwd --arch 80 --block-k 64 --warps 8 ...`).
# FAMILY_CONFIGS is for sm_90 (the first five candidates sufficed) and the default. ptxas allocates
# registers differently for sm_80: with the sm_90 choices, 25 of the 72 kernel x H x dtype launches
# spill 4-20 bytes there (in the SASS inspected: a few loop-invariant values stored once before the
# time loop and reloaded after it or once per step). FAMILY_CONFIGS_SM80 replaces those 23 (family,
# H, dtype) entries with the first candidate spill-free on sm_80; LSTMP at H 512 fp32 and H 1024
# 16-bit spills there with each of the first six and takes block_k = 128. Every choice fits sm_80's
# 163 KiB of shared memory per block (at most 152 KiB); the sm_90 entries are unchanged.
CANDIDATES = [(32, 4), (64, 4), (32, 8), (64, 8), (16, 4), (16, 8), (128, 4), (128, 8)]
FAMILY_CONFIGS: dict[str, dict[int, dict[torch.dtype, tuple[int, int]]]] = {
    "gru": {1024: {torch.float32: (64, 4), torch.bfloat16: (64, 4), torch.float16: (64, 4)}},
    "peephole": {320: {torch.float32: (64, 4)}, 1024: {torch.float32: (64, 4)}},
    "lstmp": {320: {torch.float32: (64, 4)}, 512: {torch.float32: (16, 4)},
              1024: {torch.bfloat16: (16, 4), torch.float16: (16, 4)}},
}
FAMILY_CONFIGS_SM80: dict[str, dict[int, dict[torch.dtype, tuple[int, int]]]] = {
    "gru": {256: dict.fromkeys(_16BIT, (64, 4)), 320: dict.fromkeys(_16BIT, (64, 4)),
            512: dict.fromkeys(_16BIT, (32, 8)), 1024: {torch.float32: (32, 4)}},
    "peephole": {256: {torch.float32: (64, 4), **dict.fromkeys(_16BIT, (32, 8))}, 320: dict.fromkeys(_16BIT, (64, 4)),
                 512: {torch.float32: (64, 4), **dict.fromkeys(_16BIT, (32, 8))}},
    "lstmp": {256: dict.fromkeys(_16BIT, (32, 8)), 320: dict.fromkeys(_16BIT, (64, 4)),
              512: {torch.float32: (128, 8)}, 1024: {torch.float32: (64, 8), **dict.fromkeys(_16BIT, (128, 4))}},
}


def default_config(H: int, dtype: torch.dtype, arch: int | None = None, kernel: str = "fwd") -> LaunchConfig:
    """The launcher's choice for the LSTM forward ("fwd") or backward ("bwd") kernel on sm_<arch>."""
    HP = padded_hidden(H)
    if HP not in CONFIGS:
        raise ValueError(f"hidden size H={H} is not supported by the Triton LSTM kernel (max {max(CONFIGS)})")
    table = CONFIGS[HP]
    block_h, num_warps = table.get(dtype, table[torch.float32])
    block_k, num_warps = SPILL_FIXES.get((90 if arch is None else arch, kernel, HP, dtype), (64, num_warps))
    return LaunchConfig(block_h=min(block_h, HP), block_k=block_k, num_warps=num_warps)


def family_config(family: str, H: int, dtype: torch.dtype, arch: int | None = None) -> LaunchConfig:
    """The default LaunchConfig of a family kernel ("gru", "peephole", "lstmp") for hidden size H on
    sm_<arch> (None: the sm_90 table), forward and backward alike. Ampere (arch < 90) takes
    FAMILY_CONFIGS_SM80's entries."""
    entry = None
    if arch is not None and arch < 90:
        entry = FAMILY_CONFIGS_SM80[family].get(H, {}).get(dtype)
    if entry is None:
        entry = FAMILY_CONFIGS[family].get(H, {}).get(dtype, (32, 4))
    block_k, num_warps = entry
    return dataclasses.replace(default_config(H, dtype), block_k=block_k, num_warps=num_warps)


# --------------------------------------------------------------------------------------
# per-kernel fixes on top of the tables above

# (cell, arch, kernel, H, dtype, precision) -> (block_k, num_warps): launches where the entry above
# makes ptxas spill in either variant of the kernel, the persistent one (SYNC, grid barrier) or the
# step-mode one, most of them the exact-fp32 path (tf32x3: three TF32 products per dot, twice the
# weight bytes, so it streams its weights at H >= 320 and needs more registers). Each is the first of
# CANDIDATES whose two variants compile with no spills, found by compiling them (`python -m
# kernels.aot --kernel ... --precision tf32x3 --block-k .. --warps ..`).
FIXES: dict[tuple[str, int, str, int, torch.dtype, str], tuple[int, int]] = {
    # after the bounded barrier spin and the tile offset went into the kernels (ptxas spilled 8-32 bytes)
    ("lstm", 80, "fwd", 320, torch.float32, "tf32"): (64, 4),   # issue 14: (64, 8) replicates the M = 64 dot
    ("lstm", 80, "fwd", 1024, torch.float32, "tf32"): (64, 8),
    ("lstm", 90, "fwd", 1024, torch.float32, "tf32"): (64, 4),   # issue 14: 8 warps on wgmma M = 64: 2x copies
    ("lstm", 80, "fwd", 512, torch.float32, "tf32x3"): (16, 4),   # issue 14's loop: (16, 8) spills
    **{("gru", 90, "bwd", h, dt, "tf32"): (64, 4) for h in (256, 512) for dt in _16BIT},
    **{("gru", 90, "bwd", 1024, dt, "tf32"): (128, 4) for dt in _16BIT},  # (64, 4): 8, (64, 8) / (32, 8): 16 bytes
    ("peephole", 90, "fwd", 1024, torch.float32, "tf32"): (64, 8),
    **{("peephole", 90, "bwd", h, torch.float32, "tf32"): (64, 8) for h in (320, 512, 1024)},
    **{("peephole", 90, "bwd", 256, dt, "tf32"): (32, 8) for dt in _16BIT},   # (64, 4): 16 bytes
    **{("peephole", 90, "bwd", 512, dt, "tf32"): (64, 4) for dt in _16BIT},
    **{("lstmp", 90, "fwd", 1024, dt, "tf32"): (128, 4) for dt in _16BIT},   # (64, 4): 32 bytes
    ("lstmp", 90, "bwd", 256, torch.float32, "tf32"): (32, 8),
    ("lstmp", 90, "bwd", 320, torch.float32, "tf32"): (128, 4),
    ("lstmp", 90, "bwd", 512, torch.float32, "tf32"): (128, 4),
    **{("lstmp", 90, "bwd", 512, dt, "tf32"): (32, 4) for dt in _16BIT},
    ("lstmp", 90, "bwd", 1024, torch.float32, "tf32"): (64, 8),
    ("gru", 80, "bwd", 320, torch.float32, "tf32"): (64, 8),
    **{("gru", 80, "bwd", 512, dt, "tf32"): (64, 8) for dt in _16BIT},
    **{("lstm", 90, "bwd", 768, dt, "tf32"): (128, 4) for dt in _16BIT},
    **{("lstm", 90, "bwd", 1024, dt, "tf32"): (128, 4) for dt in _16BIT},
    **{("peephole", 80, "fwd", 1024, dt, "tf32"): (64, 8) for dt in (torch.float32, *_16BIT)},
    **{("peephole", 80, "bwd", 320, dt, "tf32"): (64, 8) for dt in _16BIT},
    ("peephole", 80, "bwd", 1024, torch.float32, "tf32"): (64, 8),
    ("gru", 90, "fwd", 1024, torch.float32, "tf32"): (32, 8),
    # the peephole LSTM after issue 14's step loop (kernels.lstm): (32, 4) spills (kernels.aot --search)
    **{("peephole", 90, "fwd", h, dt, "tf32"): (64, 4) for h in (512, 1024) for dt in _16BIT},
    # after the kernels took rows_ptr (length-sorted tiles), found by `python -m kernels.aot --search`
    ("lstmp", 80, "fwd", 512, torch.float32, "tf32"): (64, 4),   # (128, 8): 255 registers, 36 bytes
    **{("lstmp", 80, "bwd", 320, dt, "tf32"): (32, 8) for dt in _16BIT},  # (64, 4): 8-16 bytes under any cap
    ("lstmp", 80, "bwd", 320, torch.float32, "tf32"): (32, 4),
    ("gru", 90, "bwd", 320, torch.float32, "tf32"): (32, 8),
    **{("gru", 90, "bwd", 320, dt, "tf32"): (64, 4) for dt in _16BIT},
    **{("gru", 80, "fwd", 320, dt, "tf32"): (32, 4) for dt in _16BIT},   # (64, 4): no spills only capped at 240
    **{("lstmp", 90, "fwd", 320, dt, "tf32"): (64, 4) for dt in _16BIT},
    ("lstmp", 90, "fwd", 768, torch.float32, "tf32"): (64, 4),
    ("lstmp", 90, "bwd", 768, torch.float32, "tf32"): (64, 4),
    ("lstmp", 90, "bwd", 768, torch.bfloat16, "tf32"): (16, 4),
    ("lstmp", 90, "bwd", 768, torch.float16, "tf32"): (64, 4),
    ("lstmp", 80, "fwd", 768, torch.float32, "tf32"): (64, 8),
    **{("lstmp", 80, "bwd", 512, dt, "tf32"): (32, 8) for dt in _16BIT},
    **{("gru", 90, "fwd", 1024, dt, "tf32"): (32, 4) for dt in _16BIT},
    # (32, 4): 8-12 bytes under every cap and candidate; block_k 256 (H 768 = 3 chunks), 194 registers, 160 KiB
    **{("lstmp", 80, "bwd", 768, dt, "tf32"): (256, 4) for dt in _16BIT},
}
# ptxas's register cap (the PTX `.maxnreg`, Triton's `maxnreg` launch option) per (cell, arch, kernel, H,
# dtype, precision), for launches where ptxas spills with no cap but not under one: its allocator is
# not monotonic in the budget. E.g. the persistent LSTMP backward at H 320 bf16 on sm_80 (block_k 64,
# 4 warps, with rows_ptr): no cap, 128 registers and 8-16 bytes of spills; capped at 255, 255
# registers and spills still; capped at 136 or 168, none (its step-mode twin spills 8 bytes under
# every cap, so that launch takes (32, 8) in FIXES instead). Each cap is the lowest multiple of 8
# above the uncapped registers (else below them) under which both variants (persistent, step mode)
# compile with no spills and no stack, found by rerunning ptxas on the kernel's PTX (`python -m
# kernels.aot --search`: seconds per cap, against minutes per CANDIDATES compile; a Triton compile
# with maxnreg differs from the uncapped PTX only by the directive). Launches not listed: no cap.
MAXNREG: dict[tuple[str, int, str, int, torch.dtype, str], int] = {
    # the LSTM forward after issue 14's step loop (kernels.lstm): uncapped, the step-mode twin spills
    # 4-8 bytes at 80 registers
    **{("lstm", 80, "fwd", 1024, dt, "tf32"): 104 for dt in _16BIT},
    ("lstm", 80, "fwd", 1024, torch.float32, "tf32"): 88,
    # ... and after the kernels took rows_ptr (length sorting): uncapped, 4-8 bytes (kernels.aot --search)
    ("lstm", 80, "fwd", 256, torch.float32, "tf32"): 144,
    **{("lstm", 80, "fwd", 320, dt, "tf32"): 168 for dt in _16BIT},
    **{("lstm", 80, "fwd", 768, dt, "tf32"): 88 for dt in _16BIT},
    ("peephole", 80, "fwd", 512, torch.float32, "tf32"): 112,
    ("peephole", 80, "fwd", 1024, torch.float32, "tf32"): 96,
    # the backward with 4 warps on sm_80 (8 warps, the old SPILL_FIXES entry, replicate the M = 64 dots)
    **{("lstm", 80, "bwd", h, dt, "tf32"): 168 for h in (256, 512) for dt in _16BIT},
    **{("gru", 90, "bwd", 768, dt, "tf32"): 112 for dt in _16BIT},   # uncapped: spills (persistent and step)
    **{("lstmp", arch, "fwd", 256, torch.float32, "tf32x3"): 144 for arch in (80, 90)},
    ("gru", 80, "bwd", 512, torch.float16, "tf32"): 88,
    ("lstmp", 80, "bwd", 512, torch.float32, "tf32"): 176,
    ("lstmp", 90, "bwd", 512, torch.float32, "tf32"): 192,
    ("gru", 80, "bwd", 768, torch.bfloat16, "tf32"): 104,
    **{("gru", 80, "bwd", 1024, dt, "tf32"): 112 for dt in _16BIT},
    ("gru", 80, "bwd", 1024, torch.float32, "tf32"): 152,
}
# The exact-fp32 path's own (block_k, num_warps), every cell and kernel: with the TF32 entries it
# takes 255 registers and spills (the LSTM forward at H 320 on sm_90: 416 bytes with (64, 4), still
# 244 with (32, 8) and 260 with (64, 8)); K-chunks of 16 over 8 warps: 186 registers, no spills.
EXACT_FP32 = (16, 8)


def cell_config(cell: str, H: int, dtype: torch.dtype, arch: int | None = None, kernel: str = "fwd",
                precision: str = "tf32") -> LaunchConfig:
    """The default LaunchConfig of any registered cell's kernel ("fwd" | "bwd") on sm_<arch> for the
    dot precision (kernels.common.dot_precision): the cell's table, then FIXES."""
    config = default_config(H, dtype, arch, kernel) if cell == "lstm" else family_config(cell, H, dtype, arch)
    fix = FIXES.get((cell, 90 if arch is None else arch, kernel, H, dtype, precision))
    if fix is None and precision == "tf32x3":
        fix = EXACT_FP32
    if fix is not None:
        config = dataclasses.replace(config, block_k=fix[0], num_warps=fix[1])
    return config


def cell_maxnreg(cell: str, H: int, dtype: torch.dtype, arch: int | None = None, kernel: str = "fwd",
                 precision: str = "tf32") -> int | None:
    """ptxas's register cap for a cell's kernel from MAXNREG (None: no cap)."""
    return MAXNREG.get((cell, 90 if arch is None else arch, kernel, H, dtype, precision))


def launch_maxnreg(cell: str, H: int, dtype: torch.dtype, arch: int | None, precision: str,
                   config: LaunchConfig | None) -> tuple[int | None, int | None]:
    """(forward, backward) register caps of a call: none for a given config, else MAXNREG's."""
    if config is not None:
        return None, None
    return (cell_maxnreg(cell, H, dtype, arch, "fwd", precision), cell_maxnreg(cell, H, dtype, arch, "bwd", precision))


def launch_configs(cell: str, H: int, dtype: torch.dtype, arch: int | None, precision: str,
                   config: LaunchConfig | None) -> tuple[LaunchConfig, LaunchConfig | None]:
    """(forward, backward) configs of a call: the given config for both, or (None) the cell's defaults."""
    if config is not None:
        return config, None
    return (cell_config(cell, H, dtype, arch, "fwd", precision), cell_config(cell, H, dtype, arch, "bwd", precision))
