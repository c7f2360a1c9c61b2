"""Ahead-of-time compile of every kernel configuration the launcher can choose (no GPU needed).

    python -m kernels.aot                      # table for H in 256 320 512 768 1024, sm_80 + sm_90
    python -m kernels.aot --hidden 320 --arch 90 --dtype bf16 --json

Registers and local memory (spills and stack: must be 0) come from the `cuobjdump
--dump-resource-usage` bundled with Triton, run on the cubin; shared memory is the compiled
kernel's dynamic shared memory plus the static one. Must run without TRITON_INTERPRET=1 (the jit functions are
interpreter wrappers then): the tests call it in a subprocess.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import tempfile
from pathlib import Path

import torch
import triton
from triton.backends.compiler import GPUTarget
from triton.compiler import ASTSource

from kernels import lstm

DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}
TRITON_TYPE = {torch.float32: "fp32", torch.bfloat16: "bf16", torch.float16: "fp16"}
KERNELS = {"fwd": lstm._lstm_fwd_kernel, "bwd": lstm._lstm_bwd_kernel}
# the rest of the LSTM family (compiled by kernels/aot_family.py); not in the default --kernel list
FAMILY_KERNELS = ["gru_fwd", "gru_bwd", "peephole_fwd", "peephole_bwd", "lstmp_fwd", "lstmp_bwd"]
# per-block shared memory limits (opt-in maximum) of A100 / H100
SHARED_LIMIT = {80: 163 * 1024, 90: 227 * 1024}


def _cuobjdump() -> str:
    return str(Path(triton.__file__).parent / "backends" / "nvidia" / "bin" / "cuobjdump")


def _signature(name: str, dtype: torch.dtype) -> dict[str, str]:
    """Argument types of a kernel: tensors of the input dtype, fp32 buffers, int32 indices."""
    dt = "*" + TRITON_TYPE[dtype]
    if name == "fwd":
        ptrs = {"xproj_ptr": dt, "w_ptr": dt, "y_ptr": dt, "hbuf_ptr": "*fp32", "cstate_ptr": "*fp32",
                "hn_ptr": "*fp32", "cn_ptr": "*fp32", "gsave_ptr": dt, "csave_ptr": "*fp32"}
        ints = ["B", "T", "s_begin", "n_steps"]
    else:
        ptrs = {"dy_ptr": dt, "w_ptr": dt, "gsave_ptr": dt, "csave_ptr": "*fp32", "c0_ptr": "*fp32",
                "dx_ptr": "*fp32", "gbuf_ptr": "*fp32", "dh_ptr": "*fp32", "dc_ptr": "*fp32"}
        ints = ["B", "T", "k_begin", "n_steps"]
    sig = dict(ptrs)
    sig.update({"len_ptr": "*i32", "tile_len_ptr": "*i32", "count_ptr": "*i32"})
    sig.update({k: "i32" for k in ints})
    return sig


def compile_config(name: str, H: int, dtype: torch.dtype, arch: int, D: int = 2, exact_fp32: bool = False) -> dict:
    """Compile one launcher configuration for sm_<arch>; returns its resource usage.
    exact_fp32: the fp32 path taken when torch.backends.cudnn.allow_tf32 is off (tf32x3)."""
    if name in FAMILY_KERNELS:
        from kernels.aot_family import compile_family  # imports this module

        return compile_family(name, H, dtype, arch, D, exact_fp32)
    fn = KERNELS[name]
    cfg = lstm.default_config(H, dtype)
    HP = lstm.padded_hidden(H)
    BH = min(cfg.block_h, HP)
    n_hb = triton.cdiv(H, BH)
    precision = "tf32x3" if exact_fp32 and dtype == torch.float32 else lstm.dot_precision(dtype)
    resident = lstm.weights_resident(BH, HP, dtype, precision)
    constexprs = dict(H=H, HP=HP, D=D, BH=BH, BB=cfg.block_b, BK=min(cfg.block_k, HP), REVERSE=False,
                      SYNC=n_hb > 1, RESIDENT=resident, DOT_PRECISION=precision, INTERPRET=False)
    if name == "fwd":
        constexprs["SAVE"] = True
    sig = _signature(name, dtype)
    for k in constexprs:
        sig[k] = "constexpr"
    sig = {k: sig[k] for k in fn.arg_names}  # in argument order
    attrs = {(i,): [["tt.divisibility", 16]] for i, k in enumerate(fn.arg_names) if sig[k].startswith("*")}
    src = ASTSource(fn=fn, signature=sig, constexprs=constexprs, attrs=attrs)
    options = {"num_warps": cfg.num_warps, "num_stages": lstm.NUM_STAGES}
    compiled = triton.compile(src, target=GPUTarget("cuda", arch, 32), options=options)
    with tempfile.TemporaryDirectory() as tmp:
        cubin = Path(tmp) / "k.cubin"
        cubin.write_bytes(compiled.asm["cubin"])
        res = subprocess.run([_cuobjdump(), "--dump-resource-usage", str(cubin)],
                             capture_output=True, text=True, check=True)
    usage = dict(re.findall(r"(REG|STACK|SHARED|LOCAL):(\d+)", res.stdout))
    return {"kernel": name, "arch": f"sm_{arch}", "H": H, "dtype": TRITON_TYPE[dtype], "precision": precision, "block_h": BH,
            "hblocks": n_hb, "resident": resident, "warps": cfg.num_warps, "registers": int(usage["REG"]), "spills": int(usage["LOCAL"]),
            "shared": compiled.metadata.shared + int(usage["SHARED"]), "shared_limit": SHARED_LIMIT[arch]}


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--hidden", type=int, nargs="+", default=list(lstm.AOT_HIDDEN_SIZES))
    p.add_argument("--arch", type=int, nargs="+", default=[80, 90], choices=[80, 90])
    p.add_argument("--dtype", nargs="+", default=list(DTYPES), choices=list(DTYPES))
    p.add_argument("--kernel", nargs="+", default=list(KERNELS), choices=list(KERNELS) + FAMILY_KERNELS)
    p.add_argument("--exact-fp32", action="store_true",
                   help="fp32 as with torch.backends.cudnn.allow_tf32 = False (tf32x3 instead of tf32)")
    p.add_argument("--json", action="store_true", help="one JSON object per line instead of the table")
    args = p.parse_args(argv)
    if os.environ.get("TRITON_INTERPRET", "0") == "1":
        raise SystemExit("kernels.aot: unset TRITON_INTERPRET (the interpreter replaces the jit functions)")
    cols = ["kernel", "arch", "H", "dtype", "precision", "block_h", "hblocks", "resident", "warps", "registers", "spills", "shared"]
    if not args.json:
        print(" ".join(f"{c:>9}" for c in cols))
    for name in args.kernel:
        for arch in args.arch:
            for H in args.hidden:
                for dt in args.dtype:
                    row = compile_config(name, H, DTYPES[dt], arch, exact_fp32=args.exact_fp32)
                    print(json.dumps(row) if args.json else " ".join(f"{row[c]!s:>9}" for c in cols), flush=True)


if __name__ == "__main__":
    main()
