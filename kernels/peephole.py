"""Persistent Triton peephole-LSTM recurrence (Gers & Schmidhuber), both directions in one launch.

Gate order i, f, g, o as `torch.nn.LSTM`; per-unit diagonal peephole weights peep [D, 3, H] =
(p_i, p_f, p_o): gates i and f see c_{t-1}, gate o sees c_t:

    a_t = xproj_t + h_{t-1} @ W_hhᵀ                                     [B, 4H]
    i = σ(a_i + p_i ⊙ c_{t-1})    f = σ(a_f + p_f ⊙ c_{t-1})    g = tanh(a_g)
    c_t = f ⊙ c_{t-1} + i ⊙ g
    o = σ(a_o + p_o ⊙ c_t)        h_t = o ⊙ tanh(c_t)

Backward (one step, carried dh, dc; `pre` = gradient before the activation):
    dh_t = dy_t + dh_carry            do = dh_t ⊙ tanh c_t ⊙ o(1-o)
    dc_t = dc_carry + dh_t ⊙ o ⊙ (1 - tanh²c_t) + do ⊙ p_o
    di = dc_t ⊙ g ⊙ i(1-i)    df = dc_t ⊙ c_{t-1} ⊙ f(1-f)    dg = dc_t ⊙ i ⊙ (1-g²)
    dc_{t-1} = dc_t ⊙ f + di ⊙ p_i + df ⊙ p_f           dh_{t-1} = [di df dg do] @ W_hh
    dW_hh = Σ_t [di df dg do]ᵀ · h_{t-1};  dp_i = Σ di ⊙ c_{t-1}, dp_f = Σ df ⊙ c_{t-1}, dp_o = Σ do ⊙ c_t
    (matmul and reductions over batch and time after the loop, in the launcher, from saved c)

Dimensions as `kernels.lstm`: B batch, T time, D directions, H hidden units, G = 4H gate columns,
BB batch rows and BH hidden units per program, HP = H padded to a power of two. Same grid, weight
residency, barrier, step mode and launch plan as `kernels.lstm` (imported from there); the
peepholes are per unit, so a program loads only its BH slice of them and the cell update stays local.
"""
from __future__ import annotations

import torch
import triton
import triton.language as tl

from kernels.gru import _plan, device_arch, family_config, valid_steps
from kernels.lstm import (INTERPRET, LaunchConfig, _alloc, _dot_operand, _grid_barrier, _load_w_chunks, _Plan,
                          _previous_h, _tanh, _w_chunk)
from kernels.reference import check_peephole_inputs


@triton.jit(do_not_specialize=["B", "T", "s_begin", "n_steps"])
def _peephole_fwd_kernel(
    xproj_ptr, w_ptr, peep_ptr, y_ptr,  # [B,T,D,4H], [D,4H,H], [D,3,H], [B,T,D,H]
    hbuf_ptr, cstate_ptr,               # [2,D,B,H] fp32 (h ping-pong), [D,B,H] fp32 (c)
    hn_ptr, cn_ptr,                     # [D,B,H] fp32
    gsave_ptr, csave_ptr,               # [B,T,D,4H] activated gates, [B,T,D,H] fp32 c_t
    len_ptr, tile_len_ptr, count_ptr,   # [B] int32, [n_btiles] int32, [D, n_btiles] int32
    B, T, s_begin, n_steps,
    H: tl.constexpr, HP: tl.constexpr, D: tl.constexpr, BH: tl.constexpr, BB: tl.constexpr,
    BK: tl.constexpr, REVERSE: tl.constexpr, SYNC: tl.constexpr, SAVE: tl.constexpr,
    RESIDENT: tl.constexpr, DOT_PRECISION: tl.constexpr, INTERPRET: tl.constexpr,
):
    d = tl.program_id(0)
    hb = tl.program_id(1)
    bt = tl.program_id(2)
    n_hb = tl.num_programs(1)
    n_bt = tl.num_programs(2)
    backward = (d == 1) | REVERSE

    rows = bt * BB + tl.arange(0, BB)
    rmask = rows < B
    rows64 = rows.to(tl.int64)
    cols = hb * BH + tl.arange(0, BH)
    cmask = cols < H
    m_own = rmask[:, None] & cmask[None, :]
    length = tl.load(len_ptr + rows, mask=rmask, other=0)
    tile_len = tl.load(tile_len_ptr + bt)

    wd = w_ptr + d * (4 * H * H)
    ws = ()
    if RESIDENT:
        ws = _load_w_chunks(wd, cols, cmask, H, HP, BK, True, INTERPRET)
    pi = tl.load(peep_ptr + (d * 3 + 0) * H + cols, mask=cmask, other=0.0).to(tl.float32)[None, :]
    pf = tl.load(peep_ptr + (d * 3 + 1) * H + cols, mask=cmask, other=0.0).to(tl.float32)[None, :]
    po = tl.load(peep_ptr + (d * 3 + 2) * H + cols, mask=cmask, other=0.0).to(tl.float32)[None, :]

    state = (d * B + rows[:, None]) * H + cols[None, :]
    c = tl.load(cstate_ptr + state, mask=m_own, other=0.0)
    s0 = tl.minimum(s_begin, tile_len)
    h = tl.load(hbuf_ptr + (s0 % 2) * (D * B * H) + state, mask=m_own, other=0.0)

    if s_begin == 0:
        for t in range(tile_len, T):
            yz = y_ptr + ((rows64 * T + t) * D + d) * H
            tl.store(yz[:, None] + cols[None, :], tl.zeros([BB, BH], dtype=tl.float32), mask=m_own)

    s_end = tl.minimum(s_begin + n_steps, tile_len)
    for s in range(s_begin, s_end):
        active = (s < length) & rmask
        a2 = active[:, None]
        t = tl.where(backward, length - 1 - s, s)
        t = tl.where(active, t, s)
        base = (rows64 * T + t) * D + d
        xrow = xproj_ptr + base * (4 * H)
        m_x = a2 & cmask[None, :]

        hrow = hbuf_ptr + (s % 2) * (D * B * H) + (d * B + rows) * H
        xi = tl.load(xrow[:, None] + 0 * H + cols[None, :], mask=m_x, other=0.0).to(tl.float32)
        xf = tl.load(xrow[:, None] + 1 * H + cols[None, :], mask=m_x, other=0.0).to(tl.float32)
        xg = tl.load(xrow[:, None] + 2 * H + cols[None, :], mask=m_x, other=0.0).to(tl.float32)
        xo = tl.load(xrow[:, None] + 3 * H + cols[None, :], mask=m_x, other=0.0).to(tl.float32)
        for kc in tl.static_range(HP // BK):
            kk = kc * BK + tl.arange(0, BK)
            hk = tl.load(hrow[:, None] + kk[None, :], mask=rmask[:, None] & (kk < H)[None, :], other=0.0,
                         cache_modifier=".cg")
            hk = _dot_operand(hk, w_ptr, INTERPRET)
            xi = tl.dot(hk, _w_chunk(ws, wd, 0, kc, cols, cmask, H, HP, BK, True, RESIDENT, INTERPRET), xi,
                        input_precision=DOT_PRECISION)
            xf = tl.dot(hk, _w_chunk(ws, wd, 1, kc, cols, cmask, H, HP, BK, True, RESIDENT, INTERPRET), xf,
                        input_precision=DOT_PRECISION)
            xg = tl.dot(hk, _w_chunk(ws, wd, 2, kc, cols, cmask, H, HP, BK, True, RESIDENT, INTERPRET), xg,
                        input_precision=DOT_PRECISION)
            xo = tl.dot(hk, _w_chunk(ws, wd, 3, kc, cols, cmask, H, HP, BK, True, RESIDENT, INTERPRET), xo,
                        input_precision=DOT_PRECISION)
        gi = tl.sigmoid(xi + pi * c)
        gf = tl.sigmoid(xf + pf * c)
        gg = _tanh(xg)
        c_new = gf * c + gi * gg
        go = tl.sigmoid(xo + po * c_new)
        h_new = go * _tanh(c_new)
        c = tl.where(a2, c_new, c)
        h = tl.where(a2, h_new, h)

        yrow = y_ptr + base * H
        tl.store(yrow[:, None] + cols[None, :], tl.where(a2, h_new, 0.0), mask=m_own)
        if SAVE:
            grow = gsave_ptr + base * (4 * H)
            tl.store(grow[:, None] + 0 * H + cols[None, :], gi, mask=m_x)
            tl.store(grow[:, None] + 1 * H + cols[None, :], gf, mask=m_x)
            tl.store(grow[:, None] + 2 * H + cols[None, :], gg, mask=m_x)
            tl.store(grow[:, None] + 3 * H + cols[None, :], go, mask=m_x)
            crow = csave_ptr + base * H
            tl.store(crow[:, None] + cols[None, :], c_new, mask=m_x)
        tl.store(hbuf_ptr + ((s + 1) % 2) * (D * B * H) + state, h, mask=m_own)
        if SYNC:
            _grid_barrier(count_ptr + d * n_bt + bt, (s - s_begin + 1) * n_hb)
        else:
            tl.debug_barrier()

    tl.store(cstate_ptr + state, c, mask=m_own)
    tl.store(hn_ptr + state, h, mask=m_own)
    tl.store(cn_ptr + state, c, mask=m_own)


@triton.jit(do_not_specialize=["B", "T", "k_begin", "n_steps"])
def _peephole_bwd_kernel(
    dy_ptr, w_ptr, peep_ptr, gsave_ptr, csave_ptr, c0_ptr,  # [B,T,D,H], [D,4H,H], [D,3,H], saved, [D,B,H] fp32
    dx_ptr, gbuf_ptr,                                       # [B,T,D,4H] fp32 d xproj, [2,D,B,4H] fp32
    dh_ptr, dc_ptr,                                         # [D,B,H] fp32: dh_n, dc_n in; dh_0, dc_0 out
    len_ptr, tile_len_ptr, count_ptr,
    B, T, k_begin, n_steps,
    H: tl.constexpr, HP: tl.constexpr, D: tl.constexpr, BH: tl.constexpr, BB: tl.constexpr,
    BK: tl.constexpr, REVERSE: tl.constexpr, SYNC: tl.constexpr,
    RESIDENT: tl.constexpr, DOT_PRECISION: tl.constexpr, INTERPRET: tl.constexpr,
):
    d = tl.program_id(0)
    hb = tl.program_id(1)
    bt = tl.program_id(2)
    n_hb = tl.num_programs(1)
    n_bt = tl.num_programs(2)
    backward = (d == 1) | REVERSE

    rows = bt * BB + tl.arange(0, BB)
    rmask = rows < B
    rows64 = rows.to(tl.int64)
    cols = hb * BH + tl.arange(0, BH)
    cmask = cols < H
    m_own = rmask[:, None] & cmask[None, :]
    length = tl.load(len_ptr + rows, mask=rmask, other=0)
    tile_len = tl.load(tile_len_ptr + bt)

    wd = w_ptr + d * (4 * H * H)
    ws = ()
    if RESIDENT:
        ws = _load_w_chunks(wd, cols, cmask, H, HP, BK, False, INTERPRET)
    pi = tl.load(peep_ptr + (d * 3 + 0) * H + cols, mask=cmask, other=0.0).to(tl.float32)[None, :]
    pf = tl.load(peep_ptr + (d * 3 + 1) * H + cols, mask=cmask, other=0.0).to(tl.float32)[None, :]
    po = tl.load(peep_ptr + (d * 3 + 2) * H + cols, mask=cmask, other=0.0).to(tl.float32)[None, :]

    state = (d * B + rows[:, None]) * H + cols[None, :]
    dh = tl.load(dh_ptr + state, mask=m_own, other=0.0)
    dc = tl.load(dc_ptr + state, mask=m_own, other=0.0)
    c_first = tl.load(c0_ptr + state, mask=m_own, other=0.0)

    if k_begin == 0:
        for t in range(tile_len, T):
            xz = dx_ptr + ((rows64 * T + t) * D + d) * (4 * H)
            zero = tl.zeros([BB, BH], dtype=tl.float32)
            for gate in tl.static_range(4):
                tl.store(xz[:, None] + gate * H + cols[None, :], zero, mask=m_own)

    # iteration k consumes the gate gradients of step s + 1 into dh, then produces step
    # s = tile_len - 1 - k; the last iteration (s = -1) only consumes.
    k_end = tl.minimum(k_begin + n_steps, tile_len + 1)
    for k in range(k_begin, k_end):
        s = tile_len - 1 - k
        if k > 0:
            sp = s + 1
            grow = gbuf_ptr + (sp % 2) * (D * B * 4 * H) + (d * B + rows) * (4 * H)
            acc = tl.zeros([BB, BH], dtype=tl.float32)
            for g in tl.static_range(4):
                for kc in tl.static_range(HP // BK):
                    kk = kc * BK + tl.arange(0, BK)
                    pk = tl.load(grow[:, None] + g * H + kk[None, :], mask=rmask[:, None] & (kk < H)[None, :],
                                 other=0.0, cache_modifier=".cg")
                    pk = _dot_operand(pk, w_ptr, INTERPRET)
                    w = _w_chunk(ws, wd, g, kc, cols, cmask, H, HP, BK, False, RESIDENT, INTERPRET)
                    acc = tl.dot(pk, w, acc, input_precision=DOT_PRECISION)
            dh = tl.where(((sp < length) & rmask)[:, None], acc, dh)
        if s >= 0:
            active = (s < length) & rmask
            a2 = active[:, None]
            m_x = a2 & cmask[None, :]
            t = tl.where(backward, length - 1 - s, s)
            t = tl.where(active, t, s)
            t_prev = tl.where(backward, t + 1, t - 1)
            base = (rows64 * T + t) * D + d
            base_prev = (rows64 * T + t_prev) * D + d
            grow = gsave_ptr + base * (4 * H)
            gi = tl.load(grow[:, None] + 0 * H + cols[None, :], mask=m_x, other=0.0).to(tl.float32)
            gf = tl.load(grow[:, None] + 1 * H + cols[None, :], mask=m_x, other=0.0).to(tl.float32)
            gg = tl.load(grow[:, None] + 2 * H + cols[None, :], mask=m_x, other=0.0).to(tl.float32)
            go = tl.load(grow[:, None] + 3 * H + cols[None, :], mask=m_x, other=0.0).to(tl.float32)
            c_t = tl.load(csave_ptr + base[:, None] * H + cols[None, :], mask=m_x, other=0.0)
            c_prev = tl.load(csave_ptr + base_prev[:, None] * H + cols[None, :], mask=m_x & (s > 0), other=0.0)
            c_prev = tl.where(s > 0, c_prev, c_first)
            dy = tl.load(dy_ptr + base[:, None] * H + cols[None, :], mask=m_x, other=0.0).to(tl.float32)

            dh_t = dh + dy
            tc = _tanh(c_t)
            p_o = tl.where(a2, dh_t * tc * go * (1.0 - go), 0.0)
            dc_t = dc + dh_t * go * (1.0 - tc * tc) + p_o * po
            p_i = tl.where(a2, dc_t * gg * gi * (1.0 - gi), 0.0)
            p_f = tl.where(a2, dc_t * c_prev * gf * (1.0 - gf), 0.0)
            p_g = tl.where(a2, dc_t * gi * (1.0 - gg * gg), 0.0)
            dc = tl.where(a2, dc_t * gf + p_i * pi + p_f * pf, dc)

            xrow = dx_ptr + base * (4 * H)
            tl.store(xrow[:, None] + 0 * H + cols[None, :], p_i, mask=m_own)
            tl.store(xrow[:, None] + 1 * H + cols[None, :], p_f, mask=m_own)
            tl.store(xrow[:, None] + 2 * H + cols[None, :], p_g, mask=m_own)
            tl.store(xrow[:, None] + 3 * H + cols[None, :], p_o, mask=m_own)
            gown = gbuf_ptr + (s % 2) * (D * B * 4 * H) + (d * B + rows[:, None]) * (4 * H) + cols[None, :]
            tl.store(gown + 0 * H, p_i, mask=m_own)
            tl.store(gown + 1 * H, p_f, mask=m_own)
            tl.store(gown + 2 * H, p_g, mask=m_own)
            tl.store(gown + 3 * H, p_o, mask=m_own)
            if SYNC:
                _grid_barrier(count_ptr + d * n_bt + bt, (k - k_begin + 1) * n_hb)
            else:
                tl.debug_barrier()

    tl.store(dh_ptr + state, dh, mask=m_own)
    tl.store(dc_ptr + state, dc, mask=m_own)


# --------------------------------------------------------------------------------------
# launcher

def _forward(xproj, w_hh, peep, lengths, h0, c0, reverse: bool, save: bool, config):
    B, T, D, G = xproj.shape
    H = G // 4
    dev, dtype = xproj.device, xproj.dtype
    f32 = torch.float32
    plan = _plan(B, T, D, H, lengths, dtype, config or family_config("peephole", H, dtype, device_arch(xproj.device)),
                 lambda p: 4 * p.BH * p.HP)
    y = _alloc((B, T, D, H), dtype, dev)
    hbuf = _alloc((2, D, B, H), f32, dev)
    hbuf[0] = 0.0 if h0 is None else h0
    cstate = torch.zeros(D, B, H, dtype=f32, device=dev) if c0 is None else c0.to(f32).clone()
    hn = _alloc((D, B, H), f32, dev)
    cn = _alloc((D, B, H), f32, dev)
    if save:
        gsave = _alloc((B, T, D, G), dtype, dev, fill_nan=False)
        csave = _alloc((B, T, D, H), f32, dev, fill_nan=False)
    else:
        gsave, csave = y, hn  # never touched (SAVE=False)
    counters = torch.zeros(D, plan.n_bt, dtype=torch.int32, device=dev)
    args = [xproj, w_hh, peep, y, hbuf, cstate, hn, cn, gsave, csave, lengths, plan.tile_len, counters, B, T]
    constexprs = dict(H=H, HP=plan.HP, D=D, BH=plan.BH, BB=plan.BB, BK=plan.BK, REVERSE=reverse, SAVE=save,
                      RESIDENT=plan.resident, DOT_PRECISION=plan.dot_precision, INTERPRET=INTERPRET)
    plan.launch(_peephole_fwd_kernel, args, counters, constexprs, plan.max_len)
    return y, hn.to(dtype), cn.to(dtype), ((gsave, csave) if save else None), plan


def _backward(dy, dhn, dcn, w_hh, peep, c0, saved, plan: _Plan, reverse: bool):
    B, T, D, H = plan.B, plan.T, plan.D, plan.H
    dev, f32 = w_hh.device, torch.float32
    gsave, csave = saved
    dx = _alloc((B, T, D, 4 * H), f32, dev)
    gbuf = _alloc((2, D, B, 4 * H), f32, dev)
    dh = torch.zeros(D, B, H, dtype=f32, device=dev) if dhn is None else dhn.to(f32).clone()
    dc = torch.zeros(D, B, H, dtype=f32, device=dev) if dcn is None else dcn.to(f32).clone()
    c_first = torch.zeros(D, B, H, dtype=f32, device=dev) if c0 is None else c0.to(f32).contiguous()
    dy = torch.zeros(B, T, D, H, dtype=w_hh.dtype, device=dev) if dy is None else dy.contiguous()
    counters = torch.zeros(D, plan.n_bt, dtype=torch.int32, device=dev)
    args = [dy, w_hh, peep, gsave, csave, c_first, dx, gbuf, dh, dc, plan.lengths, plan.tile_len, counters, B, T]
    constexprs = dict(H=H, HP=plan.HP, D=D, BH=plan.BH, BB=plan.BB, BK=plan.BK, REVERSE=reverse,
                      RESIDENT=plan.resident, DOT_PRECISION=plan.dot_precision, INTERPRET=INTERPRET)
    plan.launch(_peephole_bwd_kernel, args, counters, constexprs, plan.max_len + 1)
    return dx, dh, dc


class PeepholeLSTMRecurrence(torch.autograd.Function):
    @staticmethod
    def forward(ctx, xproj, w_hh, peep, lengths, h0, c0, reverse, config):
        save = any(ctx.needs_input_grad[i] for i in (0, 1, 2, 4, 5))
        y, hn, cn, saved, plan = _forward(xproj, w_hh, peep, lengths, h0, c0, reverse, save, config)
        ctx.plan, ctx.reverse = plan, reverse
        if save:
            ctx.save_for_backward(w_hh, peep, h0, c0, y, *saved)
        return y, hn, cn

    @staticmethod
    def backward(ctx, dy, dhn, dcn):
        w_hh, peep, h0, c0, y, gsave, csave = ctx.saved_tensors
        plan = ctx.plan
        H = plan.H
        dx, dh0, dc0 = _backward(dy, dhn, dcn, w_hh, peep, c0, (gsave, csave), plan, ctx.reverse)
        d_xproj = dx.to(w_hh.dtype) if ctx.needs_input_grad[0] else None
        d_w = d_peep = None
        if ctx.needs_input_grad[1]:
            prev = _previous_h(y, h0, plan.lengths, ctx.reverse).float()  # [B, T, D, H]
            d_w = torch.einsum("btdg,btdh->dgh", dx, prev).to(w_hh.dtype)  # [D, 4H, H]
        if ctx.needs_input_grad[2]:
            c_t = torch.where(valid_steps(plan.lengths, plan.T), csave, 0.0)  # [B, T, D, H]
            c_prev = _previous_h(c_t, c0, plan.lengths, ctx.reverse)
            d_peep = torch.stack([(dx[..., :H] * c_prev).sum(dim=(0, 1)),
                                  (dx[..., H:2 * H] * c_prev).sum(dim=(0, 1)),
                                  (dx[..., 3 * H:] * c_t).sum(dim=(0, 1))], dim=1).to(peep.dtype)  # [D, 3, H]
        d_h0 = dh0.to(w_hh.dtype) if ctx.needs_input_grad[4] else None
        d_c0 = dc0.to(w_hh.dtype) if ctx.needs_input_grad[5] else None
        return d_xproj, d_w, d_peep, None, d_h0, d_c0, None, None


def peephole_lstm_recurrence(
    xproj: torch.Tensor,
    w_hh: torch.Tensor,
    peep: torch.Tensor,
    lengths: torch.Tensor | None = None,
    h0: torch.Tensor | None = None,
    c0: torch.Tensor | None = None,
    reverse: bool = False,
    *,
    config: LaunchConfig | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The peephole-LSTM recurrence of one layer, all directions in one persistent launch.

    xproj   [B, T, D, 4H]  x·W_ihᵀ + b_ih + b_hh for every step, gate order i, f, g, o
    w_hh    [D, 4H, H]     d = 0 forward, d = 1 reverse (D = 1: one direction)
    peep    [D, 3, H]      diagonal peephole weights p_i, p_f (see c_{t-1}), p_o (sees c_t)
    lengths [B] int        valid frames per sequence (None: all T), 1 <= length <= T
    h0, c0  [D, B, H]      initial state (None: zeros)
    reverse                D = 1 only: run that direction backwards in time
    -> y [B, T, D, H] (zero past each length), h_n [D, B, H], c_n [D, B, H] (at each own end).
    Differentiable in xproj, w_hh, peep, h0, c0. dtypes float32, bfloat16, float16 (fp32 state).
    """
    check_peephole_inputs(xproj, w_hh, peep, lengths, h0, c0, reverse)
    if xproj.dtype not in (torch.float32, torch.bfloat16, torch.float16):
        raise ValueError(f"xproj dtype must be float32, bfloat16 or float16, got {xproj.dtype}")
    if w_hh.dtype != xproj.dtype or peep.dtype != xproj.dtype:
        raise ValueError(f"w_hh ({w_hh.dtype}) and peep ({peep.dtype}) must have xproj's dtype {xproj.dtype}")
    B, T = xproj.shape[:2]
    if lengths is None:
        lengths = torch.full((B,), T, dtype=torch.int32, device=xproj.device)
    lengths = lengths.to(device=xproj.device, dtype=torch.int32).contiguous()
    h0 = h0.contiguous() if h0 is not None else None
    c0 = c0.contiguous() if c0 is not None else None
    return PeepholeLSTMRecurrence.apply(xproj.contiguous(), w_hh.contiguous(), peep.contiguous(), lengths, h0, c0,
                                        bool(reverse), config)
