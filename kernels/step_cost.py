"""Static per-step cost of the persistent recurrence kernels, read from their compiled code (no GPU needed).

    python -m kernels.step_cost                                   # every cell, fwd + bwd, sm_90, bf16, every AOT H
    python -m kernels.step_cost --hidden 320 1024 --json
    python -m kernels.step_cost --arch 90 80 --dtype bf16 fp16 --out benchmarks/aot/step_cost.txt
    python -m kernels.step_cost --kernel lstm_fwd --hidden 320 --block-k 512   # try a configuration

Every row is one kernel as the launcher compiles it (kernels.aot.compile_row, the cell's own plan and
launch table, B = 16, T = 8); its SASS (cuobjdump -sass of the cubin) and TTGIR (Triton's cache) are
kept under --cache (default /tmp/kernels-step-cost) keyed by the kernel's source, constexprs, warps
and arch, so a second run reads them back instead of compiling.

The time loop is the outermost backward branch of the SASS that holds tensor-core instructions
(the rule of the project's tools/sass_loop_stats.py, copied here: same counts on the same cubin).
Per loop iteration (= one time step; LSTMP runs its two phases in one iteration, so its numbers
are per step too; an inner loop such as the barrier's poll counts once):

    ldg_groups  runs of global loads (LDG) separated by a CTA barrier (BAR.*): each run after a
                barrier is one more round trip on the step's serial path
    bars, ldg   BAR.* and LDG instructions in the loop body
    mma_warp    tensor-core instructions one warp issues (HMMA / HGMMA, as m16n8k16 for 16-bit
                inputs, m16n8k8 for TF32: an HGMMA.64xNx16, shared by a warpgroup's 4 warps,
                counts 64·N/128 / 4 of them per warp)
    mma_cta     mma_warp x warps: what the program issues per step
    mma_need    what the step's dots really need: Σ over accumulators ⌈BB/16⌉·⌈N/8⌉·⌈K/k⌉ with K the
                real (unpadded) reduction length, k = 16 (bf16, fp16) or 8 (TF32), x3 for tf32x3
    repl        warp replication of the dot's accumulator layout (TTGIR #ttg.nvidia_mma warpsPerCTA
                against the M x N tile): a warp tile is 16 x 8 (v2) or 16 x n (v3); with w warps on
                an axis that has only t tiles, w / min(w, t) warps hold copies of the same result
    kpad        the dots' K padded over the real K (HP / H, PP / P): the share of the issued work
                that multiplies zeros (also inside a chunk that straddles H)
    zero_k      all-zero K chunks of the step's dots / all K chunks (K padded to a power of two,
                HP; (HP - H) // BK chunks of each sweep multiply zeros)
    chain       the longest chain of dependent tensor-core instructions per warp (Σ K / k along one
                accumulator: the K sweeps that feed it, one after another)
    est_us      0.25 µs x ldg_groups (an L2 round trip each) + chain x 32 cycles at 1.755 GHz (the
                latency of a dependent HMMA); a lower bound that ignores DRAM misses, issue
                throughput and the wait for the slowest program at the barrier

A `!` after mma_warp: the SASS count differs from the one the TTGIR dots and layouts predict.
Must run without TRITON_INTERPRET=1 (as kernels.aot).
"""
from __future__ import annotations

import argparse
import datetime
import hashlib
import json
import math
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import torch
import triton

from kernels import aot, cells, configs

L2_ROUND_TRIP_US = 0.25     # one global load that misses L1 and hits L2 (the figure)
HMMA_LATENCY_CYCLES = 32    # a dependent mma.sync on A100 / H100 (microbenchmarks report ~30-35)
CLOCK_GHZ = 1.755           # H100 SXM sustained SM clock
DEFAULT_CACHE = Path("/tmp/kernels-step-cost")

COLUMNS = ["kernel", "arch", "H", "dtype", "block_h", "block_k", "hblocks", "warps", "ldg_groups", "bars", "ldg",
           "mma_warp", "mma_cta", "mma_need", "repl", "kpad", "zero_k", "chain", "est_us"]

# --------------------------------------------------------------------------------------
# SASS: the time loop (logic of tools/sass_loop_stats.py)

INS = re.compile(r"/\*([0-9a-f]{4,})\*/\s+(?:@!?U?P\w+\s+)?([A-Z][A-Za-z0-9_.]*)([^;]*);")  # HGMMA.64x16x16


def sass_functions(text: str) -> dict[str, list[tuple[int, str, str]]]:
    """cuobjdump -sass text -> {function: [(address, opcode, operands)]}."""
    out, cur = {}, None
    for line in text.splitlines():
        m = re.search(r"Function : (\S+)", line)
        if m:
            cur = out.setdefault(m.group(1), [])
            continue
        m = INS.search(line)
        if m and cur is not None:
            cur.append((int(m.group(1), 16), m.group(2), m.group(3)))
    return out


def is_mma(op: str) -> bool:
    return op.startswith(("HMMA", "HGMMA", "WGMMA"))


def time_loop(body: list[tuple[int, str, str]]) -> tuple[int, int] | None:
    """(first, last address) of the outermost backward-branch loop holding tensor-core instructions."""
    loops = []
    for addr, op, rest in body:
        if op.startswith("BRA"):
            t = re.search(r"0x([0-9a-f]+)", rest)
            if t and int(t.group(1), 16) < addr:
                loops.append((int(t.group(1), 16), addr))
    cands = [(a, b) for a, b in loops if any(a <= x <= b and is_mma(o) for x, o, _ in body)]
    return max(cands, key=lambda ab: ab[1] - ab[0]) if cands else None


def mma_weight(op: str, k_inst: int) -> float:
    """One SASS tensor-core instruction as a number of m16n8k<k_inst> ones (HMMA.16816, HGMMA.64x32x16 ...)."""
    m = re.match(r"HGMMA\.(\d+)x(\d+)x(\d+)", op)
    if m:
        a, b, c = map(int, m.groups())
        return a * b * c / (16 * 8 * k_inst) / 4   # the four warps of a warpgroup issue it together
    m = re.match(r"HMMA\.(16)(8)(\d+)", op)
    return int(m.group(3)) / k_inst if m else 1.0


def loop_stats(body: list[tuple[int, str, str]], k_inst: int = 16) -> dict | None:
    """ldg_groups, bars, ldg, mma (as the tool counts them) and mma_warp (in m16n8k<k_inst> units) of the time loop."""
    span = time_loop(body)
    if span is None:
        return None
    a, b = span
    ins = [o for x, o, _ in body if a <= x <= b]
    groups, in_group = 0, False
    for o in ins:
        if o.startswith("BAR.SYNC") or o.startswith("BAR.RED") or o == "BAR":
            in_group = False
        elif o.startswith("LDG"):
            groups += not in_group
            in_group = True
    mma_w = sum(mma_weight(o, k_inst) for o in ins if is_mma(o))
    return {"loop_bytes": b - a, "ldg_groups": groups, "bars": sum(o.startswith("BAR") for o in ins),
            "ldg": sum(o.startswith("LDG") for o in ins), "mma": sum(is_mma(o) for o in ins),
            "mma_warp": int(mma_w) if mma_w == int(mma_w) else mma_w}


# --------------------------------------------------------------------------------------
# TTGIR: the dots, their accumulator chains and layouts

@dataclass(frozen=True)
class Layout:
    version: int
    warps: tuple[int, int]      # warpsPerCTA [M, N]
    instr: tuple[int, int]      # a warp's tile (instrShape[:2])


@dataclass(frozen=True)
class Dot:
    result: str
    acc: str
    M: int
    N: int
    K: int
    layout: Layout
    tf32x3: bool
    serial: bool = False   # a warpgroup dot waited for before the next dot (chains)


_MMA = re.compile(r"#ttg\.nvidia_mma<\{([^}]*)\}>")
_DOT = re.compile(r"(%[^\s=]+) = (?:tt\.dot|ttng\.warp_group_dot) (%[^,\s]+), (%[^,\s]+), (%[^,\s]+)")
_SHAPE = re.compile(r"(?:tensor|memdesc)<(\d+)x(\d+)x")


def parse_layout(fields: str) -> Layout:
    """'versionMajor = 2, versionMinor = 0, warpsPerCTA = [1, 8], instrShape = [16, 8]' -> Layout."""
    ints = lambda key: [int(v) for v in re.search(key + r" = \[([\d, ]+)\]", fields).group(1).split(",")]
    version = int(re.search(r"versionMajor = (\d+)", fields).group(1))
    w, i = ints("warpsPerCTA"), ints("instrShape")
    return Layout(version, (w[0], w[1]), (i[0], i[1]))


def parse_dots(ttgir: str) -> list[Dot]:
    """Every tt.dot / ttng.warp_group_dot of a TTGIR module, with its shapes and accumulator layout."""
    aliases = {m.group(1): parse_layout(m.group(2))
               for m in re.finditer(r"^(#\w+) = " + _MMA.pattern, ttgir, re.M)}
    dots = []
    waited = set(re.findall(r"= ttng\.warp_group_dot_wait (%[^,\s]+),.*pendings = 0\b", ttgir))
    for line in ttgir.splitlines():
        m = _DOT.search(line)
        if not m:
            continue
        types = line.split(" : ", 1)[1]
        (M, K), (_, N) = [tuple(map(int, s)) for s in _SHAPE.findall(types)[:2]]
        enc = types.split("->", 1)[1]
        inline = _MMA.search(enc)
        layout = parse_layout(inline.group(1)) if inline else aliases[re.search(r"xf32, (#\w+)", enc).group(1)]
        dots.append(Dot(m.group(1), m.group(4), M, N, K, layout, "tf32x3" in line,
                        m.group(1) in waited or ("warp_group_dot" in line and "isAsync = true" not in line)))
    return dots


def replication(dot: Dot) -> int:
    """How many warps hold each accumulator element: warps on an axis beyond its number of warp tiles."""
    (wm, wn), (im, inn) = dot.layout.warps, dot.layout.instr
    rep_m = wm // min(wm, math.ceil(dot.M / im))
    rep_n = wn // min(wn, math.ceil(dot.N / inn))
    return rep_m * rep_n


def mma_per_warp(dot: Dot, k_inst: int) -> int:
    """m16n8k<k_inst> instructions one warp issues for this dot under its layout."""
    (wm, wn), (im, inn) = dot.layout.warps, dot.layout.instr
    tiles_m = math.ceil(math.ceil(dot.M / im) / wm) * (im // 16)
    tiles_n = math.ceil(math.ceil(dot.N / inn) / wn) * (inn // 8)
    return tiles_m * tiles_n * (dot.K // k_inst) * (3 if dot.tf32x3 else 1)


def chains(dots: list[Dot]) -> list[list[Dot]]:
    """The dots grouped by accumulator: a dot whose acc is another dot's result continues its chain.
    Dots flagged `serial` (a warpgroup dot waited for at once, `ttng.warp_group_dot_wait {pendings = 0}`,
    before the next one is issued) run one after another whatever their accumulators: one chain."""
    owner, out, serial = {}, [], None
    for d in dots:
        if d.serial:
            if serial is None:
                serial = []
                out.append(serial)
            serial.append(d)
            continue
        if d.acc in owner:
            chain = owner[d.acc]
        else:
            chain = []
            out.append(chain)
        chain.append(d)
        owner[d.result] = chain
    return out


def dot_stats(ttgir: str, k_inst: int) -> dict:
    """From the TTGIR: predicted mma per warp, replication (the worst dot's), the longest dependent chain."""
    dots = parse_dots(ttgir)
    return {"dots": len(dots), "mma_warp_ttgir": sum(mma_per_warp(d, k_inst) for d in dots),
            "repl": max((replication(d) for d in dots), default=1),
            "warps_per_cta": sorted({d.layout.warps for d in dots}),
            "chain": max((sum(d.K // k_inst * (3 if d.tf32x3 else 1) for d in c) for c in chains(dots)), default=0)}


# --------------------------------------------------------------------------------------
# what the step's dots need (from the plan): accumulators, their N and K sweeps

def sweeps(cell, kernel: str, plan) -> list[tuple[int, int, int, int]]:
    """(N, sweeps, real K, padded K) per accumulator of one step of the cells whose dots are
    h [BB, K] @ W [K, N] (GRU, LSTMP): a sweep is one pass over a padded K axis in BK chunks (a
    backward that sums its gates' sweeps into one accumulator has G of them)."""
    G, H, HP, BH = cell.gates, plan.H, plan.HP, plan.BH
    if cell.projected:
        P, PP, BP = plan.P, plan.PP, plan.BP
        if kernel == "fwd":   # phase A: the gates (K = P); phase B: the projection (K = H)
            return [(BH, 1, P, PP)] * G + [(BP, 1, H, HP)]
        return [(BP, G, H, HP), (BH, 1, P, PP)]   # dh (K = 4H), then dm (K = P)
    return [(BH, 1, H, HP)] * G if kernel == "fwd" else [(BH, G, H, HP)]


def step_dots(cell, kernel: str, plan, BK: int) -> list[tuple[int, int, int, int, int, int, int]]:
    """The step's dots as (M, padded M, N, real K, padded K, chunks, all-zero chunks) per accumulator group.
    kernels.lstm (LSTM, peephole): the forward is gatesᵀ [4BH, BB] = W[gate rows] [4BH, H] @ h_{t-1}ᵀ in
    cdiv(H, BK) K-chunks; the backward is the partial dh_{t-1}ᵀ [H, BB] = W[gate rows]ᵀ [H, 4BH] @
    d xprojᵀ [4BH, BB], one dot per BK rows of H (K = 4BH, never padded). The others: sweeps()."""
    H, BH, BB = plan.H, plan.BH, plan.BB
    if getattr(cell.kernels[kernel].fn, "__name__", "") in ("_lstm_fwd_kernel", "_lstm_bwd_kernel") or \
            getattr(getattr(cell.kernels[kernel].fn, "fn", None), "__name__", "") in ("_lstm_fwd_kernel",
                                                                                    "_lstm_bwd_kernel"):
        nk = math.ceil(H / BK)
        if kernel == "fwd":
            return [(4 * BH, 4 * BH, BB, H, nk * BK, nk, 0)]
        return [(H, nk * BK, BB, 4 * BH, 4 * BH, nk, 0)]
    return [(BB, BB, N, K, KP, n * (KP // BK), n * ((KP - K) // BK), n) for N, n, K, KP in sweeps(cell, kernel, plan)]


def needed(cell, kernel: str, plan, BK: int, k_inst: int, precision: str) -> dict:
    """mma_need, mma_padded (the same with K padded: what one copy of the dots issues), and the
    all-zero / total K chunks of the step's dots."""
    f = 3 if precision == "tf32x3" else 1
    need = padded = zero = total = 0
    for M, MP, N, K, KP, chunks, zeros, *n in step_dots(cell, kernel, plan, BK):
        n = n[0] if n else 1
        need += math.ceil(M / 16) * math.ceil(N / 8) * n * f * math.ceil(K / k_inst)
        padded += math.ceil(MP / 16) * math.ceil(N / 8) * n * f * (KP // k_inst)
        zero += zeros
        total += chunks
    return {"mma_need": need, "mma_padded": padded, "zero_chunks": zero, "chunks": total}


# --------------------------------------------------------------------------------------
# compile (through kernels.aot) and cache

def _cache_dir(root: Path, name: str, H: int, dtype: torch.dtype, arch: int, precision: str,
               block_k: int | None, warps: int | None) -> Path:
    cell_name, kernel = name.rsplit("_", 1)
    cell = cells.get(cell_name)
    _, constexprs, warps = aot.launch_plan(cell, kernel, H, dtype, arch, exact_fp32=precision == "tf32x3",
                                           block_k=block_k, warps=warps)
    key = repr((cell.kernels[kernel].fn.cache_key, sorted(constexprs.items()), warps, arch, str(dtype),
                triton.__version__))
    stem = f"{name}-sm{arch}-H{H}-{aot.TRITON_TYPE[dtype]}-{precision}"
    return root / f"{stem}-{hashlib.sha256(key.encode()).hexdigest()[:12]}"


def artifacts(name: str, H: int, dtype: torch.dtype, arch: int, precision: str = "tf32",
              root: Path = DEFAULT_CACHE, block_k: int | None = None,
              warps: int | None = None) -> tuple[dict, str, str]:
    """(kernels.aot row, SASS text, TTGIR text) of one persistent kernel, compiled once per source.
    block_k, warps: replace the launcher's choice (as kernels.aot --block-k / --warps)."""
    d = _cache_dir(root, name, H, dtype, arch, precision, block_k, warps)
    files = d / "row.json", d / "kernel.sass", d / "kernel.ttgir"
    if not all(f.exists() for f in files):
        with triton.knobs.cache.scope():
            triton.knobs.cache.dir = str(d / "triton")   # this row's compile alone: its TTGIR is the one there
            row = aot.compile_row(name, H, dtype, arch, exact_fp32=precision == "tf32x3", block_k=block_k,
                                  warps=warps, dump=d)
        cubin = next(d.glob("*.cubin"))
        sass = subprocess.run([aot._cuobjdump(), "-sass", str(cubin)], capture_output=True, text=True,
                              check=True).stdout
        ttgir = next((d / "triton").glob("*/*.ttgir")).read_text()
        files[1].write_text(sass)
        files[2].write_text(ttgir)
        files[0].write_text(json.dumps(row))
    return json.loads(files[0].read_text()), files[1].read_text(), files[2].read_text()


def step_row(name: str, H: int, dtype: torch.dtype, arch: int, precision: str = "tf32",
             root: Path = DEFAULT_CACHE, block_k: int | None = None, warps: int | None = None) -> dict:
    """One row of the table (see the module docstring)."""
    row, sass, ttgir = artifacts(name, H, dtype, arch, precision, root, block_k, warps)
    k_inst = 8 if dtype == torch.float32 else 16
    fn = cells.get(name.rsplit("_", 1)[0]).kernels[name.rsplit("_", 1)[1]].fn
    body = sass_functions(sass)[fn.__name__]
    loop = loop_stats(body, k_inst)
    dots = dot_stats(ttgir, k_inst)
    cell_name, kernel = name.rsplit("_", 1)
    cell = cells.get(cell_name)
    plan, _, _ = aot.launch_plan(cell, kernel, H, dtype, arch, exact_fp32=precision == "tf32x3", block_k=block_k,
                                 warps=warps)
    need = needed(cell, kernel, plan, row["block_k"], k_inst, precision)
    est_l2 = L2_ROUND_TRIP_US * loop["ldg_groups"]
    est_tc = dots["chain"] * HMMA_LATENCY_CYCLES / (CLOCK_GHZ * 1000)
    return {**{k: row[k] for k in ("kernel", "arch", "H", "dtype", "precision", "sync", "block_h", "block_k",
                                   "hblocks", "warps", "registers", "spills", "shared")},
            **{k: loop[k] for k in ("ldg_groups", "bars", "ldg", "mma", "mma_warp", "loop_bytes")},
            "mma_warp_ttgir": dots["mma_warp_ttgir"], "mma_cta": loop["mma_warp"] * row["warps"],
            "mma_need": need["mma_need"], "repl": dots["repl"], "warps_per_cta": dots["warps_per_cta"],
            "kpad": round(need["mma_padded"] / need["mma_need"], 2),
            "zero_chunks": need["zero_chunks"], "chunks": need["chunks"], "dots": dots["dots"],
            "chain": dots["chain"], "est_l2_us": round(est_l2, 2), "est_tc_us": round(est_tc, 2),
            "est_us": round(est_l2 + est_tc, 2)}


def format_row(r: dict) -> str:
    cells_ = dict(r, zero_k=f"{r['zero_chunks']}/{r['chunks']}", repl=f"{r['repl']}x", kpad=f"{r['kpad']}x",
                  mma_warp=f"{r['mma_warp']}{'' if r['mma_warp'] == r['mma_warp_ttgir'] else '!'}",
                  est_us=f"{r['est_l2_us']}+{r['est_tc_us']}={r['est_us']}")
    return " ".join(f"{cells_[c]!s:>{max(len(c), 6)}}" for c in COLUMNS)


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--cell", nargs="+", choices=list(cells.CELLS), help="every kernel of these cells")
    p.add_argument("--kernel", nargs="+", default=aot.KERNELS, choices=aot.KERNELS)
    p.add_argument("--hidden", type=int, nargs="+", default=list(configs.AOT_HIDDEN_SIZES))
    p.add_argument("--arch", type=int, nargs="+", default=[90], choices=[80, 90])
    p.add_argument("--dtype", nargs="+", default=["bf16"], choices=list(aot.DTYPES))
    p.add_argument("--precision", default="tf32", choices=["tf32", "tf32x3"], help="fp32 rows: the dot's path")
    p.add_argument("--block-k", type=int, help="compile with this block_k instead of the launcher's")
    p.add_argument("--warps", type=int, help="compile with this num_warps instead of the launcher's")
    p.add_argument("--json", action="store_true", help="one JSON object per line instead of the table")
    p.add_argument("--cache", type=Path, default=DEFAULT_CACHE, help="where compiled SASS / TTGIR are kept")
    p.add_argument("--out", type=Path, help="write the table (with a '#' header) here as well")
    args = p.parse_args(argv)
    if args.cell:
        args.kernel = [f"{c}_{k}" for c in args.cell for k in ("fwd", "bwd")]
    if os.environ.get("TRITON_INTERPRET", "0") == "1":
        raise SystemExit("kernels.step_cost: unset TRITON_INTERPRET (the interpreter replaces the jit functions)")
    cmd = " ".join(["python -m kernels.step_cost", *(sys.argv[1:] if argv is None else argv)])
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                            cwd=Path(__file__).parent).stdout.strip() or "?"
    lines = [f"# {cmd}  (commit {commit}, triton {triton.__version__}, no GPU; {datetime.date.today()}; per time step; "
             f"est_us = "
             f"{L2_ROUND_TRIP_US} us x ldg_groups + chain x {HMMA_LATENCY_CYCLES} cycles / {CLOCK_GHZ} GHz)",
             " ".join(f"{c:>{max(len(c), 6)}}" for c in COLUMNS)]
    if not args.json:
        print("\n".join(lines), flush=True)
    for name in args.kernel:
        for arch in args.arch:
            for dt in args.dtype:
                for H in args.hidden:
                    precision = args.precision if dt == "fp32" else "tf32"
                    r = step_row(name, H, aot.DTYPES[dt], arch, precision, args.cache, args.block_k, args.warps)
                    lines.append(format_row(r))
                    print(json.dumps(r) if args.json else lines[-1], flush=True)
    if args.out:
        args.out.write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
