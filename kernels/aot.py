"""Ahead-of-time compile of every kernel configuration the launchers can choose (no GPU needed).

    python -m kernels.aot                      # every cell's fwd and bwd, H 256 320 512 768 1024, sm_80 + sm_90
    python -m kernels.aot --kernel gru_fwd --hidden 320 --arch 90 --dtype bf16 --json
    python -m kernels.aot --dump DIR           # also write each row's PTX and cubin to DIR

Every row is one launch as the cell's launcher would run it: the cell (kernels.cells) builds its
plan (kernels.common.make_plan with the cell's launch table in kernels.configs) and its kernel's
constexprs for a B = 16, T = 8 call; the signature follows from the kernel's argument names. Rows:
kernel ({cell}_{fwd|bwd}) x arch x H x dtype x precision (tf32; fp32 also tf32x3, the exact path
taken when torch.backends.cudnn.allow_tf32 is off) x sync (True: the persistent kernel with the
grid barrier; False: the step-mode variant). LSTMP is compiled with P = H // 2.

Columns (see `resource_usage`): registers per thread; spills = bytes of spill stores as `ptxas -v`
reports them; stack = the per-thread stack frame (local memory: spill slots plus anything else
ptxas put there); shared = the compiled kernel's dynamic shared memory plus the static one. The
tests require spills, spill loads and stack to be 0 and shared to fit the arch's per-block limit.
Must run without TRITON_INTERPRET=1 (the jit functions are interpreter wrappers then): the tests
call it in a subprocess.

    python -m kernels.aot --header --cell lstm > benchmarks/aot/lstm.txt
    python -m kernels.aot --header --cell peephole gru lstmp --hidden 256 320 512 1024 > benchmarks/aot/family.txt
"""
from __future__ import annotations

import argparse
import contextlib
import dataclasses
import datetime
import io
import itertools
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

from kernels import cells, configs
from kernels.common import INT_PTRS, Cell, Kernel, Plan

DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}
TRITON_TYPE = {torch.float32: "fp32", torch.bfloat16: "bf16", torch.float16: "fp16"}
KERNELS = [f"{c}_{k}" for c in cells.CELLS for k in ("fwd", "bwd")]
# per-block shared memory limits (opt-in maximum) of A100 / H100
SHARED_LIMIT = {80: 163 * 1024, 90: 227 * 1024}

COLUMNS = ["kernel", "arch", "H", "dtype", "precision", "sync", "block_h", "block_k", "hblocks", "resident", "warps",
           "maxnreg", "registers", "spills", "stack", "shared"]


def _tool(name: str) -> str:
    return str(Path(triton.__file__).parent / "backends" / "nvidia" / "bin" / name)


def _cuobjdump() -> str:
    return _tool("cuobjdump")


def resource_usage(compiled, arch: int, ptxas_log: str = "", maxnreg: int | None = None) -> dict:
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
    maxnreg: the same PTX compiled again by ptxas under that register cap (`.maxnreg`, what Triton's
    maxnreg option emits; nothing else in the PTX depends on it): the rows of kernels.aot --search.
    """
    flags = ["-lineinfo", "-v"]
    opts = compiled.metadata
    if not getattr(opts, "enable_fp_fusion", True):
        flags.append("--fmad=false")
    if getattr(opts, "ptx_options", None):
        flags += opts.ptx_options.split(" ")
    ptx, cubin, log = compiled.asm["ptx"], compiled.asm["cubin"], ptxas_log
    if maxnreg is not None:
        ptx = with_maxnreg(ptx, maxnreg)
        log = ""
    with tempfile.TemporaryDirectory() as tmp:
        cubin_path, ptx_path = Path(tmp) / "k.cubin", Path(tmp) / "k.ptx"
        cubin_path.write_bytes(cubin)
        ptx_path.write_text(ptx)
        # the compile's own ptxas -v output is not there when Triton's cache had the kernel: compile the PTX
        # again and read registers and stack from that cubin too, so log and cubin are one compile (a cached
        # cubin and PTX need not be: seen 1-4 registers apart on a cache several processes compiled into at once)
        if "bytes stack frame" not in log:
            log = subprocess.run([_tool("ptxas"), *flags, f"--gpu-name={sm_arch_from_capability(arch)}", str(ptx_path),
                                  "-o", str(cubin_path)], capture_output=True, text=True, check=True).stderr
        dump = subprocess.run([_cuobjdump(), "--dump-resource-usage", str(cubin_path)],
                              capture_output=True, text=True, check=True).stdout
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


def with_maxnreg(ptx: str, maxnreg: int) -> str:
    """The PTX with its entry's register cap set to maxnreg (`.maxnreg`, after `.reqntid`)."""
    if re.search(r"^\.maxnreg \d+$", ptx, flags=re.M):
        return re.sub(r"^\.maxnreg \d+$", f".maxnreg {maxnreg}", ptx, flags=re.M)
    out, n = re.subn(r"^(\.reqntid .*)$", rf"\1\n.maxnreg {maxnreg}", ptx, count=1, flags=re.M)
    if n != 1:
        raise RuntimeError("no .reqntid line in the PTX to put .maxnreg after")
    return out


def override(cfg: configs.LaunchConfig, block_k: int | None, warps: int | None) -> configs.LaunchConfig:
    return dataclasses.replace(cfg, block_k=block_k or cfg.block_k, num_warps=warps or cfg.num_warps)


def launch_plan(cell: Cell, kernel: str, H: int, dtype: torch.dtype, arch: int, D: int = 2, exact_fp32: bool = False,
                block_k: int | None = None, warps: int | None = None) -> tuple[Plan, dict, int]:
    """The plan, constexprs (SYNC included, for the persistent kernel) and num_warps the launcher
    builds for `kernel` ("fwd" | "bwd") of `cell` on sm_<arch> (B = 16, T = 8, full lengths)."""
    B, T = 16, 8
    lengths = torch.full((B,), T, dtype=torch.int32)
    P = H // 2 if cell.projected else 0
    config = None
    if block_k or warps:
        config = override(configs.cell_config(cell.name, H, dtype, arch, kernel), block_k, warps)
    with torch.backends.cudnn.flags(allow_tf32=not exact_fp32):  # the launcher's dot precision follows it
        plan = cell.plan(B, T, D, H, lengths, dtype, config, arch, P)
    spec: Kernel = cell.kernels[kernel]
    constexprs = dict(spec.constexprs(plan, False), SYNC=plan.n_hb > 1, **dict.fromkeys(spec.none_args))
    if kernel == "fwd":
        constexprs["SAVE"] = True
    return plan, constexprs, plan.bwd_num_warps if spec.backward else plan.num_warps


def _signature(fn, constexprs: dict, dtype_ptrs: frozenset, dtype: torch.dtype) -> dict[str, str]:
    """Argument types in order: pointers in the input dtype, int32 index pointers, fp32 buffers, i32 scalars."""
    sig = {}
    for k in fn.arg_names:
        if k in constexprs:
            sig[k] = "constexpr"
        elif k in INT_PTRS:
            sig[k] = "*i32"
        elif k.endswith("_ptr"):
            sig[k] = "*" + TRITON_TYPE[dtype] if k in dtype_ptrs else "*fp32"
        else:
            sig[k] = "i32"
    return sig


def compile_row(name: str, H: int, dtype: torch.dtype, arch: int, D: int = 2, exact_fp32: bool = False,
                block_k: int | None = None, warps: int | None = None, sync: bool = True,
                dump: Path | None = None, maxnreg: int | None = None) -> dict:
    """Compile one launcher configuration ({cell}_{fwd|bwd}) for sm_<arch>; returns its row.
    exact_fp32: the fp32 path taken when torch.backends.cudnn.allow_tf32 is off (tf32x3).
    block_k, warps, maxnreg: replace the launcher's choice (to try a configuration before putting it in
    a table; maxnreg 0: no register cap). sync False: the step-mode variant (SYNC=False); dump: write
    the PTX and cubin there."""
    return _compile(name, H, dtype, arch, D, exact_fp32, block_k, warps, sync, dump, maxnreg)[0]


def _compile(name, H, dtype, arch, D, exact_fp32, block_k, warps, sync, dump, maxnreg):
    """compile_row's row and the compiled kernel."""
    cell_name, kernel = name.rsplit("_", 1)
    cell = cells.get(cell_name)
    plan, constexprs, num_warps = launch_plan(cell, kernel, H, dtype, arch, D, exact_fp32, block_k, warps)
    constexprs["SYNC"] = constexprs["SYNC"] and sync
    spec = cell.kernels[kernel]
    fn = spec.fn
    sig = _signature(fn, constexprs, spec.dtype_ptrs, dtype)
    attrs = {(i,): [["tt.divisibility", 16]] for i, k in enumerate(fn.arg_names) if sig[k].startswith("*")}
    src = ASTSource(fn=fn, signature=sig, constexprs=constexprs, attrs=attrs)
    cap = plan.bwd_maxnreg if spec.backward else plan.maxnreg  # the launcher's register cap (configs.MAXNREG)
    if maxnreg is not None:
        cap = maxnreg or None
    options = {"num_warps": num_warps, "num_stages": configs.NUM_STAGES}
    if cap is not None:
        options["maxnreg"] = cap
    log = io.StringIO()
    with triton.knobs.nvidia.scope(), contextlib.redirect_stdout(log):
        triton.knobs.nvidia.dump_ptxas_log = True  # Triton prints its ptxas -v output: one ptxas run, not two
        compiled = triton.compile(src, target=GPUTarget("cuda", arch, 32), options=options)
    row = {"kernel": name, "arch": f"sm_{arch}", "H": H, "dtype": TRITON_TYPE[dtype], "precision": plan.dot_precision,
           "sync": constexprs["SYNC"], "block_h": plan.BH, "block_k": constexprs["BK"], "hblocks": plan.n_hb,
           "resident": plan.resident, "warps": num_warps, "maxnreg": cap,
           **resource_usage(compiled, arch, log.getvalue()),
           "shared_limit": SHARED_LIMIT[arch]}
    if dump is not None:
        stem = f"{name}-sm{arch}-H{H}-{row['dtype']}-{row['precision']}-{'sync' if row['sync'] else 'step'}"
        dump.mkdir(parents=True, exist_ok=True)
        (dump / f"{stem}.ptx").write_text(compiled.asm["ptx"])
        (dump / f"{stem}.cubin").write_bytes(compiled.asm["cubin"])
    return row, compiled


def fits(row: dict) -> bool:
    """No spill stores or loads, no stack frame, shared memory within the arch's per-block limit."""
    return (row["spills"], row["spill_loads"], row["stack"]) == (0, 0, 0) and row["shared"] <= row["shared_limit"]


# register caps tried by --search (ptxas allocates in units of 8 per thread; 255 is the maximum):
# first up to NEAR above the uncapped count (or below it), then the CANDIDATES, then the higher caps
CAPS = range(64, 256, 8)
NEAR = 32


def search(name: str, H: int, dtype: torch.dtype, arch: int, exact_fp32: bool, syncs: list[bool],
           dump: Path | None = None) -> list[dict]:
    """The rows of one launch (kernel x arch x H x dtype x precision, each variant in syncs) with the
    launcher's entry. If any does not fit: first ptxas's register cap (the same PTX under `.maxnreg`,
    seconds per try: the lowest of CAPS at most NEAR above the entry's registers, then below them,
    under which every variant fits), then the first of configs.CANDIDATES (block_k, num_warps; a full
    compile each), then the higher caps. Each row gets "fix": None when the entry fits, ["maxnreg", cap] (configs.MAXNREG),
    [block_k, num_warps] (configs.FIXES), or "none" (the entry's rows are returned)."""
    entry = [_compile(name, H, dtype, arch, 2, exact_fp32, None, None, s, dump, None) for s in syncs]
    rows_ = [r for r, _ in entry]
    if all(map(fits, rows_)):
        return [dict(r, fix=None) for r in rows_]
    regs = max(r["registers"] for r in rows_)

    def capped(caps) -> list[dict] | None:
        for cap in caps:
            out = [dict(r, maxnreg=cap, **resource_usage(c, arch, maxnreg=cap)) for r, c in entry]
            if all(map(fits, out)):
                return [dict(r, fix=["maxnreg", cap]) for r in out]
        return None

    near = [c for c in CAPS if regs < c <= regs + NEAR] + [c for c in reversed(CAPS) if c < regs]
    if (found := capped(near)) is not None:
        return found
    tried = {(rows_[0]["block_k"], rows_[0]["warps"])}
    cell_name, kernel = name.rsplit("_", 1)
    for block_k, warps in configs.CANDIDATES:
        _, constexprs, _ = launch_plan(cells.get(cell_name), kernel, H, dtype, arch, 2, exact_fp32, block_k, warps)
        if (constexprs["BK"], warps) in tried:
            continue  # block_k clipped to the padded K: a configuration already compiled
        tried.add((constexprs["BK"], warps))
        candidate = []
        for sync in syncs:  # a variant that does not fit ends this candidate's try
            candidate.append(compile_row(name, H, dtype, arch, exact_fp32=exact_fp32, block_k=block_k, warps=warps,
                                         sync=sync, dump=dump))
            if not fits(candidate[-1]):
                break
        if len(candidate) == len(syncs) and all(map(fits, candidate)):
            return [dict(r, fix=[block_k, warps]) for r in candidate]
    if (found := capped([c for c in CAPS if c > regs + NEAR])) is not None:  # many more registers: last resort
        return found
    return [dict(r, fix="none") for r in rows_]


def rows(args) -> list[tuple]:
    """(kernel, H, dtype, arch, exact_fp32, sync) for every row the arguments ask for."""
    out = []
    for name in args.kernel:
        for arch in args.arch:
            for H in args.hidden:
                for dt in args.dtype:
                    for precision in args.precision:
                        if precision == "tf32x3" and dt != "fp32":
                            continue  # the 16-bit dtypes have one path
                        for sync in args.sync:
                            out.append((name, H, DTYPES[dt], arch, precision == "tf32x3", sync == "sync"))
    return out


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--cell", nargs="+", choices=list(cells.CELLS), help="every kernel of these cells")
    p.add_argument("--kernel", nargs="+", default=KERNELS, choices=KERNELS)
    p.add_argument("--hidden", type=int, nargs="+", default=list(configs.AOT_HIDDEN_SIZES))
    p.add_argument("--arch", type=int, nargs="+", default=[80, 90], choices=[80, 90])
    p.add_argument("--dtype", nargs="+", default=list(DTYPES), choices=list(DTYPES))
    p.add_argument("--precision", nargs="+", default=["tf32", "tf32x3"], choices=["tf32", "tf32x3"],
                   help="tf32x3: fp32 as with torch.backends.cudnn.allow_tf32 = False (fp32 rows only)")
    p.add_argument("--sync", nargs="+", default=["sync", "step"], choices=["sync", "step"],
                   help="sync: the persistent kernel (grid barrier); step: the step-mode variant")
    p.add_argument("--block-k", type=int, help="compile with this block_k instead of the launcher's")
    p.add_argument("--warps", type=int, help="compile with this num_warps instead of the launcher's")
    p.add_argument("--maxnreg", type=int, help="compile with this register cap instead of the launcher's (0: none)")
    p.add_argument("--search", action="store_true",
                   help="where the launcher's entry does not fit, try register caps, then configs.CANDIDATES (JSON 'fix')")
    p.add_argument("--json", action="store_true", help="one JSON object per line instead of the table")
    p.add_argument("--dump", type=Path, help="write each row's PTX and cubin to this folder")
    p.add_argument("--header", action="store_true",
                   help="first a '#' line with this command line, the Triton version and the date (benchmarks/aot/)")
    args = p.parse_args(argv)
    if args.cell:
        args.kernel = [f"{c}_{k}" for c in args.cell for k in ("fwd", "bwd")]
    if os.environ.get("TRITON_INTERPRET", "0") == "1":
        raise SystemExit("kernels.aot: unset TRITON_INTERPRET (the interpreter replaces the jit functions)")
    if args.header:
        cmd = " ".join(["python -m kernels.aot", *(sys.argv[1:] if argv is None else argv)])
        print(f"# {cmd}  (triton {triton.__version__}, no GPU; {datetime.date.today()}; spills = ptxas spill-store "
              "bytes, stack = stack frame bytes per thread, shared = bytes per block)")
    if not args.json:
        print(" ".join(f"{c:>9}" for c in COLUMNS))
    if args.search:
        for launch, group in itertools.groupby(rows(args), key=lambda r: r[:5]):
            for row in search(*launch, [r[5] for r in group], dump=args.dump):
                print(json.dumps(row) if args.json else " ".join(f"{row[c]!s:>9}" for c in COLUMNS), flush=True)
        return
    for name, H, dtype, arch, exact, sync in rows(args):
        row = compile_row(name, H, dtype, arch, exact_fp32=exact, block_k=args.block_k, warps=args.warps, sync=sync,
                          dump=args.dump, maxnreg=args.maxnreg)
        print(json.dumps(row) if args.json else " ".join(f"{row[c]!s:>9}" for c in COLUMNS), flush=True)


if __name__ == "__main__":
    main()
