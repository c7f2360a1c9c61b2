"""Assertions shared by the kernel tests (tests/kernels/): a kernel's outputs and gradients
against its float64 reference twin."""
import torch


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
