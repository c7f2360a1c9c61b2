"""Numerical safety of the Triton LSTM recurrence: long sequences and saturating activations keep
finite outputs and gradients that match the fp64 reference, and gradient clipping works on the
Triton backend as on the torch one.

Without CUDA the kernels run under the Triton interpreter (tests/conftest.py), so B and H stay
tiny; T=5,000 takes a few minutes there and is marked slow.
"""
import pytest
import torch

import kernels
from asr.rnn import LSTMStack
from kernels.reference import lstm_recurrence_reference

DEVICE = "cuda" if torch.cuda.is_available() else "cpu"


def check_against_fp64(B: int, T: int, D: int, H: int, scale: float, lengths: list[int], seed: int = 0) -> None:
    """Forward and backward of the kernel (fp32) against the reference in fp64, same inputs."""
    g = torch.Generator().manual_seed(seed)
    xproj = (scale * torch.randn(B, T, D, 4 * H, generator=g)).to(DEVICE)
    w_hh = (0.5 * torch.randn(D, 4 * H, H, generator=g)).to(DEVICE)
    h0, c0 = (torch.randn(D, B, H, generator=g).to(DEVICE) for _ in range(2))
    lens = torch.tensor(lengths, device=DEVICE)
    grads_out = [torch.randn(B, T, D, H, generator=g).to(DEVICE), torch.randn(D, B, H, generator=g).to(DEVICE),
                 torch.randn(D, B, H, generator=g).to(DEVICE)]

    def run(fn, dtype):
        leaves = [t.detach().to(dtype, copy=True).requires_grad_() for t in (xproj, w_hh, h0, c0)]
        outs = fn(leaves[0], leaves[1], lengths=lens, h0=leaves[2], c0=leaves[3])
        sum((o * go.to(dtype)).sum() for o, go in zip(outs, grads_out)).backward()
        return [o.detach() for o in outs], [t.grad for t in leaves]

    outs, grads = run(kernels.lstm_recurrence, torch.float32)
    ref_outs, ref_grads = run(lstm_recurrence_reference, torch.float64)
    for name, t in zip(["y", "h_n", "c_n", "d_xproj", "d_w_hh", "d_h0", "d_c0"], outs + grads):
        assert torch.isfinite(t).all(), f"{name} has NaN/inf"
    for name, a, ref in zip(["y", "h_n"], outs, ref_outs):
        torch.testing.assert_close(a.double(), ref, rtol=0, atol=1e-4, msg=lambda m: f"{name}: {m}")
    # c grows with T when the gates saturate (|c| up to T): compare it relatively
    torch.testing.assert_close(outs[2].double(), ref_outs[2], rtol=1e-5, atol=1e-4)
    for name, a, ref in zip(["d_xproj", "d_w_hh", "d_h0", "d_c0"], grads, ref_grads):
        err = (a.double() - ref).abs().max() / ref.abs().max().clamp_min(1e-12)
        assert err < 1e-3, f"{name}: max error {err:.2e} of the largest gradient"


@pytest.mark.parametrize("scale", [1.0, 50.0], ids=["normal", "xproj-x50"])
def test_large_activations_stay_finite_and_match_fp64(scale):
    check_against_fp64(B=2, T=96, D=2, H=4, scale=scale, lengths=[96, 61])


@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_T5000_with_large_activations_matches_fp64():
    """T=5,000 with xproj x50 (saturated gates, |c| growing to thousands), one direction. Seconds on a
    GPU; under the Triton interpreter on 2 busy CPU cores it took 9 minutes (5,000 forward and
    5,000 backward steps, each a Python-level program)."""
    check_against_fp64(B=2, T=5000, D=1, H=4, scale=50.0, lengths=[5000, 3217])


def test_gradient_clipping_on_the_triton_backend():
    """clip_grad_norm_ sees the same total norm and leaves the same clipped gradients on both backends."""
    torch.manual_seed(0)
    B, T, F, H, L = 3, 12, 5, 8, 2
    stacks = {b: LSTMStack(F, H, L, backend=b).to(DEVICE) for b in ("triton", "torch")}
    stacks["torch"].load_state_dict(stacks["triton"].state_dict())
    x = 20 * torch.randn(B, T, F, device=DEVICE)  # big inputs: big gradients to clip
    lengths = torch.tensor([12, 9, 4], device=DEVICE)
    target = torch.randn(B, T, 2 * H, device=DEVICE)
    norms, grads = {}, {}
    for b, stack in stacks.items():
        y, _ = stack(x, lengths)
        (100 * (y - target).square().sum()).backward()
        norms[b] = torch.nn.utils.clip_grad_norm_(stack.parameters(), max_norm=1.0)
        grads[b] = {n: p.grad for n, p in stack.named_parameters()}
    assert torch.isfinite(norms["triton"]) and norms["triton"] > 10  # clipping had work to do
    torch.testing.assert_close(norms["triton"], norms["torch"], rtol=1e-4, atol=0)
    clipped = torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in grads["triton"].values()]))
    assert clipped == pytest.approx(1.0, rel=1e-4)
    for name in grads["torch"]:
        torch.testing.assert_close(grads["triton"][name], grads["torch"][name], rtol=1e-4, atol=1e-6,
                                   msg=lambda m: f"{name}: {m}")
