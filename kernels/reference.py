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


def _steps(xproj: torch.Tensor, d: int, lengths: torch.Tensor, backward: bool):
    """Direction d's inputs in step order: step s reads frame t = s (forward) or length − 1 − s
    (backward). -> S inputs [B, G] (S = max length), t [B, S], active [B, S] (s < length).
    One gather up front and `unbind`: indexing xproj inside the loop costs a full-size
    gradient buffer per step in backward (O(T²))."""
    B, T, _, G = xproj.shape
    s = torch.arange(int(lengths.max()), device=xproj.device)
    t = (lengths[:, None] - 1 - s).clamp(min=0) if backward else s.expand(B, -1)  # [B, S]
    x = xproj[:, :, d].gather(1, t[..., None].expand(-1, -1, G))  # [B, S, G]
    return x.unbind(1), t, s < lengths[:, None]


def _scatter_steps(outs: list, t: torch.Tensor, T: int) -> torch.Tensor:
    """Step s's output outs[s] [B, O] (zero where inactive) lands at frame t[:, s] -> y [B, T, O]."""
    out = torch.stack(outs, dim=1)  # [B, S, O]
    B, S, O = out.shape
    rows = torch.arange(B, device=out.device)[:, None].expand(B, S)
    return out.new_zeros(B, T, O).index_put((rows, t), out, accumulate=True)


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
    ys, hs, cs = [], [], []
    for d in range(D):
        backward = reverse or d == 1
        w = w_hh[d].to(acc)
        h = h0[d].to(acc) if h0 is not None else xproj.new_zeros(B, H, dtype=acc)
        c = c0[d].to(acc) if c0 is not None else xproj.new_zeros(B, H, dtype=acc)
        xs, t, act = _steps(xproj, d, lengths, backward)
        outs = []
        for s, x in enumerate(xs):
            active = act[:, s, None]  # [B, 1]
            gates = x.to(acc) + h @ w.t()  # [B, 4H]
            i, f, g, o = gates.chunk(4, dim=1)
            c_new = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
            h_new = torch.sigmoid(o) * torch.tanh(c_new)
            c = torch.where(active, c_new, c)
            h = torch.where(active, h_new, h)
            outs.append(torch.where(active, h_new, torch.zeros_like(h_new)))
        ys.append(_scatter_steps(outs, t, T))
        hs.append(h)
        cs.append(c)
    y = torch.stack(ys, dim=2).to(xproj.dtype)  # [B, T, D, H]
    return y, torch.stack(hs).to(xproj.dtype), torch.stack(cs).to(xproj.dtype)


# --------------------------------------------------------------------------------------
# The rest of the LSTM family (issue 7): GRU, peephole LSTM, LSTMP. Same conventions as above.

def _check_family(xproj, n_gates: int, lengths, reverse: bool, **shaped) -> None:
    """Shape contract of the family's recurrences: xproj [B, T, D, n_gates·H] and every named
    tensor of `shaped` = (tensor or None, expected shape); raises ValueError naming the argument."""
    if xproj.dim() != 4 or xproj.shape[3] % n_gates:
        raise ValueError(f"xproj must be [B, T, D, {n_gates}H], got shape {tuple(xproj.shape)}")
    B, T, D, _ = xproj.shape
    if D not in (1, 2):
        raise ValueError(f"D (directions) must be 1 or 2, got {D}")
    if reverse and D != 1:
        raise ValueError("reverse=True is for D = 1 only (with D = 2, d = 1 is already the reverse direction)")
    if T < 1 or B < 1:
        raise ValueError(f"xproj must have B >= 1 and T >= 1, got shape {tuple(xproj.shape)}")
    for name, (s, shape) in shaped.items():
        if s is not None and tuple(s.shape) != tuple(shape):
            raise ValueError(f"{name} must be {list(shape)}, got shape {tuple(s.shape)}")
    if lengths is not None:
        if lengths.dim() != 1 or lengths.shape[0] != B:
            raise ValueError(f"lengths must be [B] = [{B}], got shape {tuple(lengths.shape)}")
        if lengths.dtype.is_floating_point or lengths.dtype == torch.bool:
            raise ValueError(f"lengths must be an integer tensor, got {lengths.dtype}")
        lo, hi = int(lengths.min()), int(lengths.max())
        if lo < 1 or hi > T:
            raise ValueError(f"lengths must lie in [1, T={T}], got min {lo} max {hi}")


def check_gru_inputs(xproj, w_hh, b_hn, lengths, h0, reverse: bool) -> None:
    _check_family(xproj, 3, lengths, reverse)
    B, T, D, G = xproj.shape
    H = G // 3
    _check_family(xproj, 3, None, reverse, w_hh=(w_hh, (D, 3 * H, H)), b_hn=(b_hn, (D, H)), h0=(h0, (D, B, H)))


def check_peephole_inputs(xproj, w_hh, peep, lengths, h0, c0, reverse: bool) -> None:
    _check_family(xproj, 4, lengths, reverse)
    B, T, D, G = xproj.shape
    H = G // 4
    _check_family(xproj, 4, None, reverse, w_hh=(w_hh, (D, 4 * H, H)), peep=(peep, (D, 3, H)),
                  h0=(h0, (D, B, H)), c0=(c0, (D, B, H)))


def check_lstmp_inputs(xproj, w_hh, w_hr, lengths, h0, c0, reverse: bool) -> None:
    _check_family(xproj, 4, lengths, reverse)
    B, T, D, G = xproj.shape
    H = G // 4
    if w_hr.dim() != 3:
        raise ValueError(f"w_hr must be [D, P, H], got shape {tuple(w_hr.shape)}")
    P = w_hr.shape[1]
    _check_family(xproj, 4, None, reverse, w_hh=(w_hh, (D, 4 * H, P)), w_hr=(w_hr, (D, P, H)),
                  h0=(h0, (D, B, P)), c0=(c0, (D, B, H)))


def _family_loop(xproj, lengths, reverse: bool, states: list, step):
    """Run `step(x_t [B, G], d, *states) -> (out [B, O], *new_states)` over time for every direction
    with the lengths/reverse conventions of lstm_recurrence_reference.
    states: per direction, the initial states (acc dtype). -> y [B, T, D, O], final states per direction."""
    B, T, D, _ = xproj.shape
    dev = xproj.device
    if lengths is None:
        lengths = torch.full((B,), T, dtype=torch.long, device=dev)
    lengths = lengths.to(device=dev, dtype=torch.long)
    ys, finals = [], []
    for d in range(D):
        backward = reverse or d == 1
        st = list(states[d])
        xs, t, act = _steps(xproj, d, lengths, backward)
        outs = []
        for s, x in enumerate(xs):
            active = act[:, s, None]  # [B, 1]
            out, *new = step(x.to(st[0].dtype), d, *st)
            st = [torch.where(active, n, o) for n, o in zip(new, st)]
            outs.append(torch.where(active, out, torch.zeros_like(out)))
        ys.append(_scatter_steps(outs, t, T))
        finals.append(st)
    return torch.stack(ys, dim=2).to(xproj.dtype), finals


def _acc(x: torch.Tensor) -> torch.dtype:
    return torch.float64 if x.dtype == torch.float64 else torch.float32


def gru_recurrence_reference(xproj, w_hh, b_hn, lengths=None, h0=None, reverse: bool = False):
    """Twin of kernels.gru_recurrence: xproj [B,T,D,3H] (gate order r, z, n; b_hr, b_hz folded in),
    w_hh [D,3H,H], b_hn [D,H], h0 [D,B,H] -> y [B,T,D,H], h_n [D,B,H]. torch.nn.GRU's equations:
    r = σ(x_r + W_hr h), z = σ(x_z + W_hz h), n = tanh(x_n + r ⊙ (W_hn h + b_hn)), h' = (1−z) n + z h."""
    check_gru_inputs(xproj, w_hh, b_hn, lengths, h0, reverse)
    B, T, D, G = xproj.shape
    H, acc = G // 3, _acc(xproj)

    w_t, b_n = w_hh.to(acc).transpose(1, 2).unbind(0), b_hn.to(acc).unbind(0)  # per direction, hoisted

    def step(x, d, h):
        a_r, a_z, a_n = (h @ w_t[d]).chunk(3, dim=1)
        x_r, x_z, x_n = x.chunk(3, dim=1)
        r, z = torch.sigmoid(x_r + a_r), torch.sigmoid(x_z + a_z)
        n = torch.tanh(x_n + r * (a_n + b_n[d]))
        h = (1 - z) * n + z * h
        return h, h

    init = [[h0[d].to(acc) if h0 is not None else xproj.new_zeros(B, H, dtype=acc)] for d in range(D)]
    y, finals = _family_loop(xproj, lengths, reverse, init, step)
    return y, torch.stack([f[0] for f in finals]).to(xproj.dtype)


def peephole_lstm_recurrence_reference(xproj, w_hh, peep, lengths=None, h0=None, c0=None, reverse: bool = False):
    """Twin of kernels.peephole_lstm_recurrence: the LSTM above with diagonal peepholes peep [D, 3, H]
    (p_i, p_f, p_o; Gers & Schmidhuber): i = σ(x_i + W_hi h + p_i ⊙ c_{t-1}), f likewise,
    o = σ(x_o + W_ho h + p_o ⊙ c_t). -> y [B,T,D,H], h_n, c_n [D,B,H]."""
    check_peephole_inputs(xproj, w_hh, peep, lengths, h0, c0, reverse)
    B, T, D, G = xproj.shape
    H, acc = G // 4, _acc(xproj)

    w_t, p = w_hh.to(acc).transpose(1, 2).unbind(0), peep.to(acc).unbind(0)  # per direction, hoisted

    def step(x, d, h, c):
        p_i, p_f, p_o = p[d]
        gi, gf, gg, go = (x + h @ w_t[d]).chunk(4, dim=1)
        c = torch.sigmoid(gf + p_f * c) * c + torch.sigmoid(gi + p_i * c) * torch.tanh(gg)
        h = torch.sigmoid(go + p_o * c) * torch.tanh(c)
        return h, h, c

    zeros = xproj.new_zeros(B, H, dtype=acc)
    init = [[h0[d].to(acc) if h0 is not None else zeros, c0[d].to(acc) if c0 is not None else zeros]
            for d in range(D)]
    y, finals = _family_loop(xproj, lengths, reverse, init, step)
    return (y, torch.stack([f[0] for f in finals]).to(xproj.dtype),
            torch.stack([f[1] for f in finals]).to(xproj.dtype))


def lstmp_recurrence_reference(xproj, w_hh, w_hr, lengths=None, h0=None, c0=None, reverse: bool = False):
    """Twin of kernels.lstmp_recurrence (torch.nn.LSTM(proj_size=P)): xproj [B,T,D,4H], w_hh [D,4H,P],
    w_hr [D,P,H], h0 [D,B,P], c0 [D,B,H]; h_t = W_hr (o ⊙ tanh c_t). -> y [B,T,D,P], h_n [D,B,P], c_n [D,B,H]."""
    check_lstmp_inputs(xproj, w_hh, w_hr, lengths, h0, c0, reverse)
    B, T, D, G = xproj.shape
    H, P, acc = G // 4, w_hr.shape[1], _acc(xproj)

    w_t, wr_t = w_hh.to(acc).transpose(1, 2).unbind(0), w_hr.to(acc).transpose(1, 2).unbind(0)  # hoisted

    def step(x, d, h, c):
        gi, gf, gg, go = (x + h @ w_t[d]).chunk(4, dim=1)
        c = torch.sigmoid(gf) * c + torch.sigmoid(gi) * torch.tanh(gg)
        h = (torch.sigmoid(go) * torch.tanh(c)) @ wr_t[d]
        return h, h, c

    init = [[h0[d].to(acc) if h0 is not None else xproj.new_zeros(B, P, dtype=acc),
             c0[d].to(acc) if c0 is not None else xproj.new_zeros(B, H, dtype=acc)] for d in range(D)]
    y, finals = _family_loop(xproj, lengths, reverse, init, step)
    return (y, torch.stack([f[0] for f in finals]).to(xproj.dtype),
            torch.stack([f[1] for f in finals]).to(xproj.dtype))
