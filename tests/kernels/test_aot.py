"""Ahead-of-time compilation of the launcher's configurations for sm_80 / sm_90 (no GPU needed):
zero register spills (ptxas spill stores / loads, stack frame) and shared memory within the
per-block limit, for the persistent kernels (SYNC, grid barrier) and their step-mode variants, the
TF32 path and the exact-fp32 one (tf32x3); `--dump` writes every row's PTX and cubin."""
import json
import os
import subprocess
import sys

import pytest


def _aot(*args: str) -> list[dict]:
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}  # real jit functions
    res = subprocess.run([sys.executable, "-m", "kernels.aot", "--json", *args], env=env,
                         capture_output=True, text=True, timeout=1500)
    assert res.returncode == 0, res.stderr[-3000:]
    return [json.loads(line) for line in res.stdout.splitlines()]


def _assert_fits(rows: list[dict]) -> None:
    assert rows
    for r in rows:
        where = f"{r['kernel']} {r['arch']} H={r['H']} {r['dtype']}"
        assert (r["spills"], r["spill_loads"], r["stack"]) == (0, 0, 0), (
            f"{where}: {r['spills']} bytes of spill stores, {r['stack']} bytes of stack ({r['registers']} registers)")
        assert r["shared"] <= r["shared_limit"], f"{where}: {r['shared']} bytes of shared memory"


def test_aot_one_configuration_fits():
    rows = _aot("--cell", "lstm", "--hidden", "320", "--arch", "90", "--dtype", "bf16", "--sync", "sync")
    assert {(r["kernel"], r["arch"], r["H"]) for r in rows} == {("lstm_fwd", "sm_90", 320), ("lstm_bwd", "sm_90", 320)}
    _assert_fits(rows)


def test_aot_counts_spills():
    """ptxas spills into the stack frame (cuobjdump's STACK; its LOCAL stays 0): the LSTMP backward at
    H 320 bf16 with block_k 64 and 4 warps spills 16 bytes on sm_80 (why the launcher picks (32, 8) there)."""
    rows = _aot("--kernel", "lstmp_bwd", "--hidden", "320", "--arch", "80", "--dtype", "bf16", "--block-k", "64",
                "--warps", "4", "--sync", "sync")
    assert [(r["block_k"], r["warps"]) for r in rows] == [(64, 4)]
    assert rows[0]["spills"] > 0 and rows[0]["spill_loads"] > 0
    assert rows[0]["stack"] >= rows[0]["spills"]


def test_aot_exact_fp32_fits_and_dump(tmp_path):
    """tf32x3 (torch.backends.cudnn.allow_tf32 off) at H 320, which spilled 416 bytes with the TF32
    path's launch (255 registers): its own block_k / warps (configs.EXACT_FP32); --dump writes the
    PTX and cubin of each row."""
    rows = _aot("--kernel", "lstm_fwd", "--hidden", "320", "--arch", "90", "--dtype", "fp32", "--precision", "tf32x3",
                "--dump", str(tmp_path))
    assert [(r["precision"], r["sync"], r["block_k"], r["warps"]) for r in rows] == [
        ("tf32x3", True, 16, 8), ("tf32x3", False, 16, 8)]
    _assert_fits(rows)  # the persistent kernel and its step-mode twin
    ptx = sorted(p.name for p in tmp_path.glob("*.ptx"))
    assert ptx == ["lstm_fwd-sm90-H320-fp32-tf32x3-step.ptx", "lstm_fwd-sm90-H320-fp32-tf32x3-sync.ptx"]
    sync_ptx, step_ptx = (tmp_path / ptx[1]).read_text(), (tmp_path / ptx[0]).read_text()
    assert ".entry _lstm_fwd_kernel" in sync_ptx and "atom.global.gpu.release.add" in sync_ptx  # the barrier's arrive
    assert "atom." not in step_ptx  # step mode: no barrier
    assert all((tmp_path / p.replace(".ptx", ".cubin")).stat().st_size > 0 for p in ptx)


def test_aot_exact_fp32_step_mode_fits():
    """The step-mode tf32x3 kernels (before issue 14's loop: 8 bytes of spills at 128 registers with (16, 8)):
    streamed weights in a runtime K loop, no spills, forward and backward."""
    rows = _aot("--kernel", "lstm_fwd", "lstm_bwd", "--hidden", "320", "--arch", "90", "--dtype", "fp32",
                "--precision", "tf32x3", "--sync", "step")
    assert [(r["kernel"], r["sync"]) for r in rows] == [("lstm_fwd", False), ("lstm_bwd", False)]
    _assert_fits(rows)


@pytest.mark.slow
@pytest.mark.parametrize("arch", ["80", "90"], ids=lambda a: f"sm_{a}")
@pytest.mark.parametrize("H", ["256", "320", "512", "768", "1024"], ids=lambda h: f"H{h}")
def test_aot_every_configuration_fits(H, arch):
    """fwd bwd x fp32 bf16 fp16 (TF32) x (persistent, step mode) for each H in 256 320 512 768 1024
    and sm_80, sm_90 (benchmarks/aot/lstm.txt: all 120 TF32 rows spill-free)."""
    rows = _aot("--cell", "lstm", "--hidden", H, "--arch", arch, "--precision", "tf32")
    assert len(rows) == 2 * 3 * 2
    _assert_fits(rows)


@pytest.mark.slow
@pytest.mark.parametrize("arch", ["80", "90"], ids=lambda a: f"sm_{a}")
def test_aot_every_exact_fp32_configuration_fits(arch):
    """tf32x3 fwd bwd x H 256-1024 x (persistent, step mode): all 40 rows of benchmarks/aot/lstm.txt spill-free."""
    rows = _aot("--cell", "lstm", "--arch", arch, "--dtype", "fp32", "--precision", "tf32x3")
    assert len(rows) == 2 * 5 * 2
    _assert_fits(rows)
