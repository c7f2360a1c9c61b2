"""Fixtures shared by the kernel tests; the constants and the reference comparison are in checks.py."""
import pytest
import torch

import kernels.common as kcommon
from checks import DEVICE


@pytest.fixture
def nan_fill(monkeypatch):
    """Every output buffer starts as NaN (an element a kernel forgets to write fails the test); on
    CUDA, fp32 is compared at fp32 accuracy, not TF32. A family test opts in with
    `pytestmark = pytest.mark.usefixtures("nan_fill")`."""
    monkeypatch.setattr(kcommon, "DEBUG_FILL_NAN", True)
    if DEVICE == "cuda":
        monkeypatch.setattr(torch.backends.cudnn, "allow_tf32", False)
