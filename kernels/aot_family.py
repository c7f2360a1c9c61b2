"""Ahead-of-time compile of the LSTM family's kernels (GRU, peephole LSTM, LSTMP): the launch each
launcher would choose, compiled for sm_80 / sm_90 without a GPU. `kernels.aot` dispatches here for
the kernel names in FAMILY, so they appear in its table:

    python -m kernels.aot --kernel gru_fwd gru_bwd peephole_fwd peephole_bwd lstmp_fwd lstmp_bwd \
        --hidden 256 320 512 1024          # sm_80 and sm_90: benchmarks/aot/family.txt

LSTMP is compiled with P = H // 2 (the blstm_large shape: 1024 cells projected to 512).
"""
from __future__ import annotations

import torch
import triton
from triton.backends.compiler import GPUTarget
from triton.compiler import ASTSource

from kernels import aot, gru, lstm, lstmp, peephole
from kernels.gru import family_config

FAMILY = {
    "gru_fwd": gru._gru_fwd_kernel, "gru_bwd": gru._gru_bwd_kernel,
    "peephole_fwd": peephole._peephole_fwd_kernel, "peephole_bwd": peephole._peephole_bwd_kernel,
    "lstmp_fwd": lstmp._lstmp_fwd_kernel, "lstmp_bwd": lstmp._lstmp_bwd_kernel,
}
# pointer arguments in the input dtype; every other pointer is an fp32 buffer or an int32 index
DTYPE_PTRS = {"xproj_ptr", "w_ptr", "wr_ptr", "bhn_ptr", "peep_ptr", "y_ptr", "gsave_ptr", "dy_ptr"}
INT_PTRS = {"len_ptr", "tile_len_ptr", "count_ptr"}


def _plan(name: str, H: int, dtype: torch.dtype, D: int, arch: int, block_k: int | None = None,
          warps: int | None = None) -> tuple[lstm._Plan, dict]:
    """The plan and constexprs the launcher builds for this kernel on sm_<arch> (B = 16, full lengths)."""
    B, T = 16, 8
    lengths = torch.full((B,), T, dtype=torch.int32)
    family = name.split("_")[0]
    config = aot.override(family_config(family, H, dtype, arch), block_k, warps)
    if family == "lstmp":
        plan = lstmp.plan_lstmp(B, T, D, H, H // 2, lengths, dtype, config)
        constexprs = lstmp._constexprs(plan, False)
    else:
        gates = 3 if family == "gru" else 4
        plan = gru._plan(B, T, D, H, lengths, dtype, config, lambda p: gates * p.BH * p.HP)
        constexprs = dict(H=H, HP=plan.HP, D=D, BH=plan.BH, BB=plan.BB, BK=plan.BK, REVERSE=False,
                          RESIDENT=plan.resident, DOT_PRECISION=plan.dot_precision, INTERPRET=False)
        if family == "peephole":  # kernels.lstm's kernels with the peepholes compiled in
            constexprs["PEEPHOLE"] = True
    if name.endswith("fwd"):
        constexprs["SAVE"] = True
    constexprs["SYNC"] = plan.n_hb > 1
    return plan, constexprs


def compile_family(name: str, H: int, dtype: torch.dtype, arch: int, D: int = 2, exact_fp32: bool = False,
                   block_k: int | None = None, warps: int | None = None) -> dict:
    """Compile one family kernel as its launcher would run it for sm_<arch>; a row of kernels.aot's table.
    exact_fp32: the fp32 path taken when torch.backends.cudnn.allow_tf32 is off (tf32x3).
    block_k, warps: replace the launcher's choice (see kernels.aot.compile_config)."""
    fn = FAMILY[name]
    with torch.backends.cudnn.flags(allow_tf32=not exact_fp32):  # the launcher's dot precision follows it
        plan, constexprs = _plan(name, H, dtype, D, arch, block_k, warps)
    dt = "*" + aot.TRITON_TYPE[dtype]
    sig = {}
    for k in fn.arg_names:
        if k in constexprs:
            sig[k] = "constexpr"
        elif k in INT_PTRS:
            sig[k] = "*i32"
        elif k.endswith("_ptr"):
            sig[k] = dt if k in DTYPE_PTRS else "*fp32"
        else:
            sig[k] = "i32"
    attrs = {(i,): [["tt.divisibility", 16]] for i, k in enumerate(fn.arg_names) if sig[k].startswith("*")}
    src = ASTSource(fn=fn, signature=sig, constexprs=constexprs, attrs=attrs)
    options = {"num_warps": plan.num_warps, "num_stages": lstm.NUM_STAGES}
    compiled = triton.compile(src, target=GPUTarget("cuda", arch, 32), options=options)
    return {"kernel": name, "arch": f"sm_{arch}", "H": H, "dtype": aot.TRITON_TYPE[dtype],
            "precision": plan.dot_precision, "block_h": plan.BH, "block_k": plan.BK, "hblocks": plan.n_hb,
            "resident": plan.resident, "warps": plan.num_warps, **aot.resource_usage(compiled, arch),
            "shared_limit": aot.SHARED_LIMIT[arch]}
