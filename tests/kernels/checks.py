"""Shared by the kernel family tests (tests/kernels/test_{lstm,gru,lstmp,peephole}.py, test_persistent.py):
the device, per-dtype tolerances, the two launch configurations, and the comparison of a kernel's
outputs and gradients against its float64 reference twin; and the NaN-fill fixture (autouse in
every module that imports it: `from checks import nan_fill`). Not a conftest.py: a second
tests/**/conftest.py outside a package would take the module name `conftest` from tests/conftest.py,
which test modules import from."""
import os

import pytest
import torch

import kernels.common as kcommon
from kernels import LaunchConfig

DEVICE = "cuda" if torch.cuda.is_available() else "cpu"
# kernel (fp32 state) vs float64 reference: (atol, rtol) per input dtype
TOL = {torch.float32: (3e-5, 1e-4), torch.float16: (1e-2, 1e-2), torch.bfloat16: (6e-2, 5e-2)}
DT = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}
ONE = LaunchConfig(block_h=32)                  # persistent, one hidden block
STEP = LaunchConfig(block_h=16, mode="step")    # one launch per step, several hidden blocks
INTERPRETER = os.environ.get("TRITON_INTERPRET") == "1"
# length sorting: B = 19 (two tiles of 16, the second short), lengths in shuffled order with length-1 rows;
# sorted, the tiles hold the 16 longest rows (tile_len 7) and lengths 2, 1, 1 (tile_len 2; natural order: 7, 6)
SHUFFLED19 = [3, 7, 1, 5, 2, 6, 4, 7, 2, 5, 3, 6, 1, 4, 7, 2, 6, 3, 5]
# step mode, and the persistent path under kernels.testing.concurrent_programs (the interpreter only)
MODES = ["step", pytest.param("persistent", marks=pytest.mark.skipif(
    not INTERPRETER, reason="kernels.testing.concurrent_programs runs under the interpreter"))]


def check_length_sorted_tiles(plan_fn, check, mode: str) -> None:
    """A cell's test_length_sorted_tiles_match_reference: B = 19, T = 7, D = 2, H = 32 in SHUFFLED19 order,
    block_h 16 (2 hidden blocks x 2 batch tiles). plan_fn(lengths, config) -> the cell's Plan;
    check(lengths, config) compares values and every gradient with the float64 reference, in natural
    batch order: step by step (STEP), or persistent under kernels.testing.concurrent_programs()."""
    from kernels.testing import concurrent_programs

    lengths = torch.tensor(SHUFFLED19, dtype=torch.int32)
    plan = plan_fn(lengths, LaunchConfig(block_h=16))
    B = len(SHUFFLED19)
    assert plan.tile_len.tolist() == [7, 2]
    assert sorted(plan.rows.tolist()) == list(range(B)) and plan.rows.tolist() != list(range(B))
    if mode == "step":
        check(SHUFFLED19, STEP)
        return
    with concurrent_programs() as launches:
        check(SHUFFLED19, LaunchConfig(block_h=16))
    assert [launch.grid for launch in launches] == [(2, 2, 2)] * 2  # one persistent forward, one backward


@pytest.fixture(autouse=True)
def nan_fill(monkeypatch):
    """Every output buffer starts as NaN (an element a kernel forgets to write fails the test); on
    CUDA, fp32 is compared at fp32 accuracy, not TF32."""
    monkeypatch.setattr(kcommon, "DEBUG_FILL_NAN", True)
    if DEVICE == "cuda":
        monkeypatch.setattr(torch.backends.cudnn, "allow_tf32", False)


def assert_matches_reference(out: dict, ref: dict, grads: dict, gref: dict, dtype: torch.dtype,
                             atol: float, rtol: float) -> None:
    """out/ref: outputs by name, grads/gref: gradients by input name. Outputs keep the input dtype
    and shape; nothing is NaN (buffers start as NaN: an unwritten element shows); gradients, which
    sum over steps, get atol scaled by their size."""
    for name in out:
        a, b = out[name], ref[name]
        assert a.dtype == dtype and a.shape == b.shape, name
        assert not a.isnan().any(), f"{name} has unwritten (NaN) elements"
        torch.testing.assert_close(a.double().cpu(), b.cpu(), atol=atol, rtol=rtol, msg=lambda m: f"{name}: {m}")
    assert grads.keys() == gref.keys()
    for name in grads:
        a, b = grads[name], gref[name]
        assert not a.isnan().any(), f"d_{name} has unwritten (NaN) elements"
        scale = max(1.0, b.abs().max().item())
        torch.testing.assert_close(a.double().cpu(), b.cpu(), atol=atol * scale, rtol=rtol,
                                   msg=lambda m: f"d_{name}: {m}")
