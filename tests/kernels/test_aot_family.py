"""Ahead-of-time compilation of the LSTM family's kernels (GRU, peephole LSTM, LSTMP) for sm_80 and
sm_90 without a GPU, through `python -m kernels.aot --kernel ...`: zero register spills (ptxas
spill stores / loads and stack frame) and shared memory within the per-block limit, for the launch
each launcher picks on that arch (kernels.configs.cell_config), the persistent kernels and their
step-mode variants, TF32 and exact fp32 (tf32x3). The tables: benchmarks/aot/family.txt."""
import json
import os
import subprocess
import sys

import pytest

FAMILY = ["gru_fwd", "gru_bwd", "lstmp_fwd", "lstmp_bwd"]   # their own kernels (kernels/gru.py, lstmp.py)
PEEPHOLE = ["peephole_fwd", "peephole_bwd"]                 # the LSTM kernels with PEEPHOLE (kernels/lstm.py)
HIDDEN = ["256", "320", "512", "768", "1024"]


def _aot(*args: str) -> list[dict]:
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}  # real jit functions
    res = subprocess.run([sys.executable, "-m", "kernels.aot", "--json", *args], env=env,
                         capture_output=True, text=True, timeout=6 * 3600)
    assert res.returncode == 0, res.stderr[-3000:]
    return [json.loads(line) for line in res.stdout.splitlines()]


def _assert_fits(rows: list[dict]) -> None:
    assert rows
    for r in rows:
        where = (f"{r['kernel']} {r['arch']} H={r['H']} {r['dtype']} {r['precision']} sync={r['sync']} "
                 f"block_k={r['block_k']} warps={r['warps']} maxnreg={r['maxnreg']}")
        assert (r["spills"], r["spill_loads"], r["stack"]) == (0, 0, 0), (
            f"{where}: {r['spills']} bytes of spill stores, {r['stack']} bytes of stack ({r['registers']} registers)")
        assert r["shared"] <= r["shared_limit"], f"{where}: {r['shared']} bytes of shared memory"


def _rows(kernels, arch, precision, dtypes):
    return {(k, f"sm_{arch}", int(H), dt, precision, s) for k in kernels for H in HIDDEN for dt in dtypes
            for s in (True, False)}


def test_aot_lstmp_bwd_h320_bf16_fits_sm80_and_sm90():
    """The two-phase LSTMP backward (the family's largest kernel), several hidden blocks: barrier compiled
    in. Its table entry (block_k 64, 4 warps on sm_80) spills 8-16 bytes there since the kernels take
    rows_ptr (length sorting), under any register cap in the step-mode variant: sm_80 takes (32, 8)
    from configs.FIXES; sm_90 keeps (32, 4)."""
    rows = _aot("--kernel", "lstmp_bwd", "--hidden", "320", "--arch", "80", "90", "--dtype", "bf16", "--sync", "sync")
    assert [(r["kernel"], r["arch"], r["H"], r["dtype"]) for r in rows] == [
        ("lstmp_bwd", "sm_80", 320, "bf16"), ("lstmp_bwd", "sm_90", 320, "bf16")]
    assert all(r["hblocks"] > 1 for r in rows)
    assert [(r["block_k"], r["warps"]) for r in rows] == [(32, 8), (32, 4)]
    _assert_fits(rows)


@pytest.mark.slow
@pytest.mark.parametrize("arch", ["80", "90"], ids=lambda a: f"sm_{a}")
def test_aot_every_family_configuration_fits(arch):
    """GRU and LSTMP: H in 256 320 512 768 1024 x fp32 bf16 fp16 (TF32) x persistent and step mode x
    forward and backward (LSTMP: P = H / 2). About 2 CPU-hours per arch."""
    rows = _aot("--kernel", *FAMILY, "--hidden", *HIDDEN, "--arch", arch, "--precision", "tf32")
    assert {(r["kernel"], r["arch"], r["H"], r["dtype"], r["precision"], r["sync"]) for r in rows} == _rows(
        FAMILY, arch, "tf32", ("fp32", "bf16", "fp16"))
    assert len(rows) == 4 * 5 * 3 * 2
    _assert_fits(rows)


@pytest.mark.slow
@pytest.mark.parametrize("arch", ["80", "90"], ids=lambda a: f"sm_{a}")
def test_aot_every_family_exact_fp32_configuration_fits(arch):
    """GRU and LSTMP on the exact-fp32 path (tf32x3: torch.backends.cudnn.allow_tf32 off), the same grid."""
    rows = _aot("--kernel", *FAMILY, "--hidden", *HIDDEN, "--arch", arch, "--dtype", "fp32", "--precision", "tf32x3")
    assert {(r["kernel"], r["arch"], r["H"], r["dtype"], r["precision"], r["sync"]) for r in rows} == _rows(
        FAMILY, arch, "tf32x3", ("fp32",))
    _assert_fits(rows)


@pytest.mark.slow
@pytest.mark.parametrize("arch", ["80", "90"], ids=lambda a: f"sm_{a}")
def test_aot_every_peephole_configuration_fits(arch):
    """The peephole LSTM's rows (kernels/lstm.py with PEEPHOLE), TF32, same grid."""
    rows = _aot("--kernel", *PEEPHOLE, "--hidden", *HIDDEN, "--arch", arch, "--precision", "tf32")
    assert len(rows) == 2 * 5 * 3 * 2
    _assert_fits(rows)
