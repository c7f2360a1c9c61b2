"""Ahead-of-time compile of every kernel configuration the launcher can choose (no GPU needed).

    python -m kernels.aot                      # table for H in 256 320 512 768 1024, sm_80 + sm_90
    python -m kernels.aot --hidden 320 --arch 90 --dtype bf16 --json

Columns (LSTM and family rows alike; see `resource_usage`): registers per thread; spills = bytes
of spill stores as `ptxas -v` reports them; stack = the per-thread stack frame (local memory:
spill slots plus anything else ptxas put there); shared = the compiled kernel's dynamic shared
memory plus the static one. The tests require spills, spill loads and stack to be 0 and shared to
fit the arch's per-block limit. Must run without TRITON_INTERPRET=1 (the jit functions are
interpreter wrappers then): the tests call it in a subprocess.

    python -m kernels.aot --header > benchmarks/aot/lstm.txt
    python -m kernels.aot --header --kernel gru_fwd gru_bwd peephole_fwd peephole_bwd lstmp_fwd lstmp_bwd \
        --hidden 256 320 512 1024 > benchmarks/aot/family.txt
"""
from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import torch
import triton
from triton.backends.compiler import GPUTarget
from triton.backends.nvidia.compiler import sm_arch_from_capability
from triton.compiler import ASTSource

from kernels import lstm

DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}
TRITON_TYPE = {torch.float32: "fp32", torch.bfloat16: "bf16", torch.float16: "fp16"}
KERNELS = {"fwd": lstm._lstm_fwd_kernel, "bwd": lstm._lstm_bwd_kernel}
# the rest of the LSTM family (compiled by kernels/aot_family.py); not in the default --kernel list
FAMILY_KERNELS = ["gru_fwd", "gru_bwd", "peephole_fwd", "peephole_bwd", "lstmp_fwd", "lstmp_bwd"]
# per-block shared memory limits (opt-in maximum) of A100 / H100
SHARED_LIMIT = {80: 163 * 1024, 90: 227 * 1024}


COLUMNS = ["kernel", "arch", "H", "dtype", "precision", "block_h", "block_k", "hblocks", "resident", "warps",
           "registers", "spills", "stack", "shared"]


def _tool(name: str) -> str:
    return str(Path(triton.__file__).parent / "backends" / "nvidia" / "bin" / name)


def _cuobjdump() -> str:
    return _tool("cuobjdump")


def resource_usage(compiled, arch: int) -> dict:
    """Registers, spills, stack frame and shared memory of a kernel compiled by triton.compile.

    What the numbers mean. `ptxas -v` prints, per kernel, "S bytes stack frame, W bytes spill
    stores, R bytes spill loads": W and R are the bytes moved by the spill store / load
    instructions ptxas inserted (static counts: what it spilled, not traffic at run time), S the
    per-thread local-memory frame that holds the spill slots and anything else ptxas put in local
    memory. `cuobjdump --dump-resource-usage` reports that frame as STACK and has no spill counts
    (ptxas compiles Triton's PTX with the default ABI: spills land in the stack frame and LOCAL
    stays 0, so counting LOCAL alone, as this module once did, misses them). So: spills = W
    (spill_loads = R in the JSON), from re-running the bundled ptxas -v on the kernel's PTX with
    Triton's own flags; stack = STACK + LOCAL and registers from the cubin; the ptxas run must agree
    with the cubin on both (it is the same compile). Spills and stack must be 0; a stack frame
    without spills would be local memory used for something else (a dynamically indexed array,
    say): as slow, so it is reported, and tested, separately.
    """
    opts = compiled.metadata
    flags = ["-lineinfo", "-v"]
    if not getattr(opts, "enable_fp_fusion", True):
        flags.append("--fmad=false")
    if getattr(opts, "ptx_options", None):
        flags += opts.ptx_options.split(" ")
    with tempfile.TemporaryDirectory() as tmp:
        cubin, ptx = Path(tmp) / "k.cubin", Path(tmp) / "k.ptx"
        cubin.write_bytes(compiled.asm["cubin"])
        ptx.write_text(compiled.asm["ptx"])
        dump = subprocess.run([_cuobjdump(), "--dump-resource-usage", str(cubin)],
                              capture_output=True, text=True, check=True).stdout
        log = subprocess.run([_tool("ptxas"), *flags, f"--gpu-name={sm_arch_from_capability(arch)}", str(ptx),
                              "-o", str(Path(tmp) / "again.cubin")], capture_output=True, text=True, check=True).stderr
    usage = {k: int(v) for k, v in re.findall(r"\b(REG|STACK|SHARED|LOCAL):(\d+)", dump)}
    frame = re.search(r"(\d+) bytes stack frame, (\d+) bytes spill stores, (\d+) bytes spill loads", log)
    regs = re.search(r"Used (\d+) registers", log)
    if frame is None or regs is None:
        raise RuntimeError(f"unexpected ptxas -v output:\n{log}")
    stack = usage["STACK"] + usage.get("LOCAL", 0)
    if int(regs.group(1)) != usage["REG"] or int(frame.group(1)) != stack:
        raise RuntimeError(f"ptxas -v ({regs.group(0)}, {frame.group(0)}) disagrees with the cubin ({dump.strip()})")
    return {"registers": usage["REG"], "spills": int(frame.group(2)), "spill_loads": int(frame.group(3)),
            "stack": stack, "shared": compiled.metadata.shared + usage["SHARED"]}


def override(cfg: lstm.LaunchConfig, block_k: int | None, warps: int | None) -> lstm.LaunchConfig:
    return dataclasses.replace(cfg, block_k=block_k or cfg.block_k, num_warps=warps or cfg.num_warps)


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


def compile_config(name: str, H: int, dtype: torch.dtype, arch: int, D: int = 2, exact_fp32: bool = False,
                   block_k: int | None = None, warps: int | None = None) -> dict:
    """Compile one launcher configuration for sm_<arch>; returns its resource usage.
    exact_fp32: the fp32 path taken when torch.backends.cudnn.allow_tf32 is off (tf32x3).
    block_k, warps: replace the launcher's choice (to try a configuration before putting it in a table)."""
    if name in FAMILY_KERNELS:
        from kernels.aot_family import compile_family  # imports this module

        return compile_family(name, H, dtype, arch, D, exact_fp32, block_k, warps)
    fn = KERNELS[name]
    cfg = override(lstm.default_config(H, dtype, arch, name), block_k, warps)
    HP = lstm.padded_hidden(H)
    BH = min(cfg.block_h, HP)
    n_hb = triton.cdiv(H, BH)
    precision = "tf32x3" if exact_fp32 and dtype == torch.float32 else lstm.dot_precision(dtype)
    resident = lstm.weights_resident(BH, HP, dtype, precision)
    constexprs = dict(H=H, HP=HP, D=D, BH=BH, BB=cfg.block_b, BK=min(cfg.block_k, HP), REVERSE=False,
                      SYNC=n_hb > 1, RESIDENT=resident, DOT_PRECISION=precision, INTERPRET=False,
                      PEEPHOLE=False, peep_ptr=None)  # the launcher passes None: compiled out
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
    return {"kernel": name, "arch": f"sm_{arch}", "H": H, "dtype": TRITON_TYPE[dtype], "precision": precision,
            "block_h": BH, "block_k": min(cfg.block_k, HP), "hblocks": n_hb, "resident": resident,
            "warps": cfg.num_warps, **resource_usage(compiled, arch), "shared_limit": SHARED_LIMIT[arch]}


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--hidden", type=int, nargs="+", default=list(lstm.AOT_HIDDEN_SIZES))
    p.add_argument("--arch", type=int, nargs="+", default=[80, 90], choices=[80, 90])
    p.add_argument("--dtype", nargs="+", default=list(DTYPES), choices=list(DTYPES))
    p.add_argument("--kernel", nargs="+", default=list(KERNELS), choices=list(KERNELS) + FAMILY_KERNELS)
    p.add_argument("--exact-fp32", action="store_true",
                   help="fp32 as with torch.backends.cudnn.allow_tf32 = False (tf32x3 instead of tf32)")
    p.add_argument("--block-k", type=int, help="compile with this block_k instead of the launcher's")
    p.add_argument("--warps", type=int, help="compile with this num_warps instead of the launcher's")
    p.add_argument("--json", action="store_true", help="one JSON object per line instead of the table")
    p.add_argument("--header", action="store_true",
                   help="first a '#' line with this command line, the Triton version and the date (benchmarks/aot/)")
    args = p.parse_args(argv)
    if os.environ.get("TRITON_INTERPRET", "0") == "1":
        raise SystemExit("kernels.aot: unset TRITON_INTERPRET (the interpreter replaces the jit functions)")
    if args.header:
        cmd = " ".join(["python -m kernels.aot", *(sys.argv[1:] if argv is None else argv)])
        print(f"# {cmd}  (triton {triton.__version__}, no GPU; {datetime.date.today()}; spills = ptxas spill-store "
              "bytes, stack = stack frame bytes per thread, shared = bytes per block)")
    if not args.json:
        print(" ".join(f"{c:>9}" for c in COLUMNS))
    for name in args.kernel:
        for arch in args.arch:
            for H in args.hidden:
                for dt in args.dtype:
                    row = compile_config(name, H, DTYPES[dt], arch, exact_fp32=args.exact_fp32, block_k=args.block_k,
                                         warps=args.warps)
                    print(json.dumps(row) if args.json else " ".join(f"{row[c]!s:>9}" for c in COLUMNS), flush=True)


if __name__ == "__main__":
    main()
