"""Plain-PyTorch twin of `kernels.lstm_recurrence` (same signature, same results).

It is the ground truth of the kernel tests (run it in float64), the baseline of the
benchmark, and the path the `torch`-free code can always fall back to. Gate order i, f, g, o
as `torch.nn.LSTM`:

    gates_t = xproj_t + h_{t-1} @ W_hhᵀ          [B, 4H]
    i, f, g, o = σ(gates_i), σ(gates_f), tanh(gates_g), σ(gates_o)
    c_t = f ⊙ c_{t-1} + i ⊙ g
    h_t = o ⊙ tanh(c_t)

State and arithmetic are in float32 for 16-bit inputs (float64 stays float64), like the kernel.
"""
from __future__ import annotations

import torch


def check_inputs(xproj: torch.Tensor, w_hh: torch.Tensor, lengths, h0, c0, reverse: bool) -> None:
    """The seam's shape contract; raises ValueError naming the offending argument."""
    if xproj.dim() != 4:
        raise ValueError(f"xproj must be [B, T, D, 4H], got shape {tuple(xproj.shape)}")
    B, T, D, G = xproj.shape
    if w_hh.dim() != 3 or w_hh.shape[0] != D or w_hh.shape[1] != G or G != 4 * w_hh.shape[2]:
        raise ValueError(f"w_hh must be [D, 4H, H] = [{D}, {G}, {G // 4}], got shape {tuple(w_hh.shape)}")
    if D not in (1, 2):
        raise ValueError(f"D (directions) must be 1 or 2, got {D}")
    if reverse and D != 1:
        raise ValueError("reverse=True is for D = 1 only (with D = 2, d = 1 is already the reverse direction)")
    if T < 1 or B < 1:
        raise ValueError(f"xproj must have B >= 1 and T >= 1, got shape {tuple(xproj.shape)}")
    H = G // 4
    for name, s in (("h0", h0), ("c0", c0)):
        if s is not None and tuple(s.shape) != (D, B, H):
            raise ValueError(f"{name} must be [D, B, H] = [{D}, {B}, {H}], got shape {tuple(s.shape)}")
    if lengths is not None:
        if lengths.dim() != 1 or lengths.shape[0] != B:
            raise ValueError(f"lengths must be [B] = [{B}], got shape {tuple(lengths.shape)}")
        if lengths.dtype.is_floating_point or lengths.dtype == torch.bool:
            raise ValueError(f"lengths must be an integer tensor, got {lengths.dtype}")
        lo, hi = int(lengths.min()), int(lengths.max())
        if lo < 1 or hi > T:
            raise ValueError(f"lengths must lie in [1, T={T}], got min {lo} max {hi}")


def lstm_recurrence_reference(
    xproj: torch.Tensor,
    w_hh: torch.Tensor,
    lengths: torch.Tensor | None = None,
    h0: torch.Tensor | None = None,
    c0: torch.Tensor | None = None,
    reverse: bool = False,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """xproj [B,T,D,4H], w_hh [D,4H,H], lengths [B], h0/c0 [D,B,H] -> y [B,T,D,H], h_n, c_n [D,B,H].

    Direction d = 0 runs forward, d = 1 (or d = 0 with reverse=True) runs backward in time,
    starting at each sequence's own last frame. y is zero past each length; h_n, c_n are the
    states at each sequence's own end. Differentiable by autograd.
    """
    check_inputs(xproj, w_hh, lengths, h0, c0, reverse)
    B, T, D, G = xproj.shape
    H = G // 4
    acc = torch.float64 if xproj.dtype == torch.float64 else torch.float32
    dev = xproj.device
    if lengths is None:
        lengths = torch.full((B,), T, dtype=torch.long, device=dev)
    lengths = lengths.to(device=dev, dtype=torch.long)
    rows = torch.arange(B, device=dev)
    ys, hs, cs = [], [], []
    for d in range(D):
        backward = reverse or d == 1
        w = w_hh[d].to(acc)
        h = h0[d].to(acc) if h0 is not None else xproj.new_zeros(B, H, dtype=acc)
        c = c0[d].to(acc) if c0 is not None else xproj.new_zeros(B, H, dtype=acc)
        y = xproj.new_zeros(B, T, H, dtype=acc)
        for s in range(int(lengths.max())):
            active = (s < lengths).unsqueeze(1)  # [B, 1]
            t = (lengths - 1 - s).clamp(min=0) if backward else torch.full_like(lengths, s)
            gates = xproj[rows, t, d].to(acc) + h @ w.t()  # [B, 4H]
            i, f, g, o = gates.chunk(4, dim=1)
            c_new = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
            h_new = torch.sigmoid(o) * torch.tanh(c_new)
            c = torch.where(active, c_new, c)
            h = torch.where(active, h_new, h)
            y = y.index_put((rows, t), torch.where(active, h_new, torch.zeros_like(h_new)), accumulate=True)
        ys.append(y)
        hs.append(h)
        cs.append(c)
    y = torch.stack(ys, dim=2).to(xproj.dtype)  # [B, T, D, H]
    return y, torch.stack(hs).to(xproj.dtype), torch.stack(cs).to(xproj.dtype)
