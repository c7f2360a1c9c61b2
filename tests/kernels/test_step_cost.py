"""kernels.step_cost: the static per-step cost table. Fast tests: the SASS parser (time loop, groups of
global loads between barriers), the TTGIR parser (layouts, replicated warps, accumulator chains) and
the needed tensor-core work, on small hand-written snippets. Slow: one row compiled for sm_90."""
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from kernels import cells, step_cost
from kernels.common import make_plan
from kernels.configs import LaunchConfig


def _sass(*ops: str, name: str = "_k") -> str:
    """cuobjdump -sass style lines, one instruction per 0x10 bytes."""
    lines = [f"        Function : {name}"]
    for i, op in enumerate(ops):
        lines.append(f"        /*{i * 16:04x}*/                   {op} ;   /* 0x000000000000000000 */")
    return "\n".join(lines)


# a prologue load, then a loop 0x0020-0x00d0 with: LDG LDG | BAR | LDG | BAR BAR | HMMA HMMA, an inner
# poll loop (LDG, branch back) and the back edge
LOOP = _sass(
    "LDG.E R2, desc[UR4][R2.64]",              # 0x00 before the loop
    "MOV R0, RZ",                              # 0x10
    "@!P0 LDG.E.128 R4, desc[UR4][R8.64]",     # 0x20 loop start: group 1
    "LDG.E.128 R12, desc[UR4][R8.64+0x80]",    # 0x30 same group
    "BAR.SYNC.DEFER_BLOCKING 0x0",             # 0x40
    "@P1 LDG.E.128.STRONG.GPU R16, desc[UR4][R10.64]",  # 0x50 group 2
    "BAR.SYNC.DEFER_BLOCKING 0x0",             # 0x60
    "HMMA.16816.F32.BF16 R20, R4, R12, R20",   # 0x70
    "HMMA.16816.F32.BF16 R24, R4, R14, R24",   # 0x80
    "LDG.E.STRONG.GPU R3, desc[UR4][R10.64]",  # 0x90 group 3 (the poll)
    "@P2 BRA 0x90",                            # 0xa0 inner loop back edge
    "STG.E desc[UR4][R6.64], R20",             # 0xb0
    "BAR.SYNC.DEFER_BLOCKING 0x0",             # 0xc0
    "@P3 BRA 0x20",                            # 0xd0 time loop back edge
    "EXIT",                                    # 0xe0
    "BRA 0xf0",                                # 0xf0 the trailing self-loop (no mma: not a candidate)
)


def test_sass_functions_and_time_loop():
    fns = step_cost.sass_functions(LOOP + "\n" + _sass("EXIT", name="_other"))
    assert set(fns) == {"_k", "_other"}
    assert step_cost.time_loop(fns["_k"]) == (0x20, 0xd0)   # the outermost loop with HMMA, not the poll loop
    assert step_cost.time_loop(fns["_other"]) is None


def test_loop_stats_counts_groups_between_barriers():
    s = step_cost.loop_stats(step_cost.sass_functions(LOOP)["_k"])
    assert s == {"loop_bytes": 0xb0, "ldg_groups": 3, "bars": 3, "ldg": 4, "mma": 2, "mma_warp": 2}


def test_loop_stats_no_barrier_one_group():
    """Loads issued back to back with no barrier between them are one round trip."""
    body = step_cost.sass_functions(_sass("LDG.E R1, [R2]", "LDG.E R3, [R4]", "HMMA.1688.F32.TF32 R8, R1, R3, R8",
                                          "LDG.E R5, [R6]", "@P0 BRA 0x0"))["_k"]
    s = step_cost.loop_stats(body, k_inst=8)
    assert (s["ldg_groups"], s["bars"], s["ldg"], s["mma_warp"]) == (1, 0, 3, 1)


def test_loop_stats_reads_the_whole_hgmma_opcode():
    """HGMMA.64x16x16 (lower-case x in the opcode): 64·16·16 / (16·8·16) / 4 warps = 2 per warp."""
    body = step_cost.sass_functions(_sass("LDG.E R1, [R2]", "HGMMA.64x16x16.F32.BF16 R24, gdesc[UR44], R24, gsb0",
                                          "@P0 BRA 0x0"))["_k"]
    assert body[1][1] == "HGMMA.64x16x16.F32.BF16"
    assert step_cost.loop_stats(body)["mma_warp"] == 2


def test_mma_weight():
    assert step_cost.mma_weight("HMMA.16816.F32.BF16", 16) == 1
    assert step_cost.mma_weight("HMMA.1688.F32.TF32", 8) == 1
    assert step_cost.mma_weight("HGMMA.64x32x16.F32.BF16", 16) == 4   # 16 m16n8k16 shared by 4 warps


def _ttgir(warps: str, M: int, N: int, K: int, n_dots: int, chained: bool = True, inline: bool = False) -> str:
    layout = f"#ttg.nvidia_mma<{{versionMajor = 2, versionMinor = 0, warpsPerCTA = {warps}, instrShape = [16, 8]}}>"
    enc = layout if inline else "#mma"
    lines = [f"#mma = {layout}", "module {"]
    for i in range(n_dots):
        acc = f"%acc_{i - 1}" if chained and i else f"%init_{i}"
        lines.append(
            f"      %acc_{i} = tt.dot %a_{i}, %b_{i}, {acc}, inputPrecision = tf32 : "
            f"tensor<{M}x{K}xbf16, #ttg.dot_op<{{opIdx = 0, parent = {enc}, kWidth = 2}}>> * "
            f"tensor<{K}x{N}xbf16, #ttg.dot_op<{{opIdx = 1, parent = {enc}, kWidth = 2}}>> -> "
            f"tensor<{M}x{N}xf32, {enc}> loc(#loc1)")
    return "\n".join(lines + ["}"])


@pytest.mark.parametrize("warps,N,repl,per_warp", [
    ("[1, 8]", 32, 2, 4),     # 8 warps along N but only 4 tiles of 8 columns: each result twice
    ("[4, 1]", 16, 4, 8),     # 4 warps along M = 16 (one tile): every warp computes the whole tile
    ("[1, 4]", 32, 1, 4),     # one warp per 8 columns: no copies
    ("[2, 2]", 32, 2, 8),
])
def test_replicated_warps_from_layout(warps, N, repl, per_warp):
    dots = step_cost.parse_dots(_ttgir(warps, 16, N, 64, 1))
    assert len(dots) == 1 and (dots[0].M, dots[0].N, dots[0].K) == (16, N, 64)
    assert step_cost.replication(dots[0]) == repl
    assert step_cost.mma_per_warp(dots[0], 16) == per_warp   # K = 64: 4 k-steps of 16


def test_inline_layout_and_chains():
    dots = step_cost.parse_dots(_ttgir("[1, 8]", 16, 32, 64, 3, inline=True))
    assert [d.layout.warps for d in dots] == [(1, 8)] * 3
    assert [len(c) for c in step_cost.chains(dots)] == [3]
    s = step_cost.dot_stats(_ttgir("[1, 8]", 16, 32, 64, 4, chained=False), 16)
    assert (s["dots"], s["chain"], s["repl"], s["mma_warp_ttgir"]) == (4, 4, 2, 16)
    assert step_cost.dot_stats(_ttgir("[4, 1]", 16, 16, 64, 8), 16)["chain"] == 32


def test_parse_layout():
    lay = step_cost.parse_layout("versionMajor = 3, versionMinor = 0, warpsPerCTA = [4, 1], instrShape = [16, 64, 16]")
    assert (lay.version, lay.warps, lay.instr) == (3, (4, 1), (16, 64))


def _plan(H: int, block_h: int, block_k: int, P: int = 0):
    lengths = torch.full((16,), 8, dtype=torch.int32)
    return make_plan(16, 8, 2, H, lengths, torch.bfloat16, LaunchConfig(block_h=block_h, block_k=block_k),
                     lambda BH, BP: 0, P=P)


def test_needed_lstm_h320():
    """kernels.lstm: H 320 in K-chunks of 64 is 5 chunks, none of them zero (the old kernel padded K to 512:
    3 of 8 chunks all zero per sweep); the forward's one dot over the four gates has M = 4·BH."""
    plan = _plan(320, 32, 64)
    fwd = step_cost.needed(cells.get("lstm"), "fwd", plan, 64, 16, "tf32")
    # M = 128 (8 tiles of 16) x N = BB 16 (2 tiles of 8) x K 320 (20 k-steps): the same work as 4 gates x 4 x 20
    assert fwd == {"mma_need": 8 * 2 * 20, "mma_padded": 8 * 2 * 20, "zero_chunks": 0, "chunks": 5}
    bwd = step_cost.needed(cells.get("lstm"), "bwd", plan, 64, 16, "tf32")
    # partial dh: M = H 320 (20 tiles) x N 16 (2) x K = 4·BH 128 (8 k-steps), in 5 dots of 64 rows
    assert bwd == {"mma_need": 20 * 2 * 8, "mma_padded": 20 * 2 * 8, "zero_chunks": 0, "chunks": 5}
    assert step_cost.needed(cells.get("lstm"), "fwd", plan, 128, 16, "tf32") == {
        "mma_need": 320, "mma_padded": 8 * 2 * 24, "zero_chunks": 0, "chunks": 3}   # a masked half chunk
    assert step_cost.needed(cells.get("peephole"), "fwd", plan, 64, 16, "tf32") == fwd   # the same kernels
    # the GRU keeps h @ W: 3 gates x (N 32 / 8) x 20 k-steps, K padded to 512
    gru = step_cost.needed(cells.get("gru"), "fwd", plan, 64, 16, "tf32")
    assert (gru["mma_need"], gru["zero_chunks"], gru["chunks"]) == (3 * 4 * 20, 3 * 3, 3 * 8)
    assert step_cost.needed(cells.get("lstm"), "fwd", plan, 64, 8, "tf32x3")["mma_need"] == 3 * 8 * 2 * 40


def test_serialized_warpgroup_dots_one_chain():
    """wgmma dots each waited for (pendings = 0) before the next run one after another: one chain."""
    text = _ttgir("[4, 1]", 64, 16, 64, 2, chained=False).replace("#ttg.nvidia_mma<{versionMajor = 2",
                                                                   "#ttg.nvidia_mma<{versionMajor = 3")
    text = text.replace("tt.dot", "ttng.warp_group_dot").replace("inputPrecision = tf32", "isAsync = true")
    assert step_cost.dot_stats(text, 16)["chain"] == 4   # two independent dots, not waited for
    waits = "\n".join(f"      %w_{i}:3 = ttng.warp_group_dot_wait %acc_{i}, %a_{i}, %b_{i} {{pendings = 0 : i32}}"
                       for i in range(2))
    assert step_cost.dot_stats(text.replace("}\n", "}\n", 1) + "\n" + waits, 16)["chain"] == 8


def test_needed_lstmp_two_phases():
    plan = _plan(320, 32, 64, P=160)   # P 160 padded to 256, BP 16 per program
    assert (plan.PP, plan.BP) == (256, 16)
    fwd = step_cost.needed(cells.get("lstmp"), "fwd", plan, 64, 16, "tf32")
    # gates: 4 x (N 32 / 8) x 160 / 16; projection: (16 / 8) x 320 / 16
    assert fwd["mma_need"] == 4 * 4 * 10 + 2 * 20
    assert (fwd["zero_chunks"], fwd["chunks"]) == (4 * 1 + 3, 4 * 4 + 8)


@pytest.mark.slow
def test_step_cost_one_row(tmp_path):
    """The LSTM forward at H 320 bf16 on sm_90 compiled; every count consistent with its TTGIR; the same
    counts as the project's tools/sass_loop_stats.py where the shared tools are there."""
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    res = subprocess.run([sys.executable, "-m", "kernels.step_cost", "--kernel", "lstm_fwd", "--hidden", "320",
                          "--json", "--cache", str(tmp_path)], env=env, capture_output=True, text=True, timeout=900)
    assert res.returncode == 0, res.stderr[-3000:]
    (r,) = [json.loads(line) for line in res.stdout.splitlines()]
    assert (r["kernel"], r["arch"], r["H"], r["dtype"]) == ("lstm_fwd", "sm_90", 320, "bf16")
    assert r["mma_warp"] == r["mma_warp_ttgir"] > 0
    assert r["mma_cta"] == r["mma_warp"] * r["warps"] >= r["mma_need"] == 4 * (r["block_h"] // 8) * 20
    assert r["ldg_groups"] >= 1 and r["bars"] >= 1 and r["chain"] > 0
    assert r["chunks"] == r["dots"] == -(-320 // r["block_k"]) and r["zero_chunks"] == 0   # H never padded
    tool = Path(__file__).resolve().parents[3] / "shared" / "tools" / "sass_loop_stats.py"
    if tool.exists():
        cubin = next(tmp_path.glob("*/*.cubin"))
        bin_dir = Path(step_cost.aot._cuobjdump()).parent
        out = subprocess.run([sys.executable, str(tool), str(cubin)], capture_output=True, text=True, check=True,
                             env=dict(env, PATH=f"{bin_dir}{os.pathsep}{env.get('PATH', '')}")).stdout
        theirs = json.loads(out.splitlines()[0])
        assert {k: theirs[k] for k in ("ldg_groups", "bars", "ldg", "mma")} == {
            k: r[k] for k in ("ldg_groups", "bars", "ldg", "mma")}
