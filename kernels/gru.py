"""Persistent Triton GRU recurrence (the cuDNN / `torch.nn.GRU` formulation), both directions in one launch.

Gate order r, z, n as `torch.nn.GRU`. The reset gate multiplies the recurrent term AFTER the
matmul, so b_hn stays inside the kernel; xproj carries x·W_ihᵀ + b_ih with b_hr, b_hz folded in:

    a_r, a_z, a_n = h_{t-1} @ W_hhᵀ  (+ b_hn on a_n)                  [B, H] each
    r = σ(x_r + a_r)     z = σ(x_z + a_z)     n = tanh(x_n + r ⊙ a_n)
    h_t = (1 − z) ⊙ n + z ⊙ h_{t-1}

Backward (one step, carried dh; `pre` = gradient before the activation):
    dh_t = dy_t + dh_carry
    dn_pre = dh_t (1 − z)(1 − n²)      dz_pre = dh_t (h_{t-1} − n) z(1 − z)
    dr_pre = dn_pre ⊙ a_n ⊙ r(1 − r)   da_n = dn_pre ⊙ r
    d xproj_t = [dr_pre dz_pre dn_pre]     d a_t = [dr_pre dz_pre da_n]
    dh_{t-1} = dh_t ⊙ z + d a_t @ W_hh
    dW_hh = Σ_t d a_tᵀ · h_{t-1},  db_hn = Σ_t da_n   (after the loop, in the launcher)

Dimensions: B batch, T time, D directions (d = 0 forward, d = 1 reverse), H hidden units,
3H gate columns; BB batch rows, BH hidden units per program, HP = H padded to a power of two.

Same design as `kernels.lstm` (grid (D, n_hblocks, n_btiles), the program's W_hh slice on chip,
h ping-pong buffer + grid barrier, cooperative launch, step-mode fallback), on the shared spine
of `kernels.common` (plan, barrier, weight tiles) with its launch table in `kernels.configs`.

Length-sorted tiles: batch tile bt holds the rows rows[bt·BB : (bt+1)·BB] of the plan's stable
argsort of the lengths (longest first; kernels.common.make_plan), loaded from rows_ptr in the
prologue; every address goes through those rows, so inputs and outputs stay in batch order and a
tile of short rows stops at its own tile_len.
"""
from __future__ import annotations

import torch
import triton
import triton.language as tl

from kernels.common import (INTERPRET, Cell, Kernel, Plan, alloc, device_arch, dot_operand, dot_precision,
                            grid_barrier, kernel_inputs, make_plan, previous_h, tanh, valid_steps, w_pick, w_tile,
                            w_tiles)
from kernels.configs import LaunchConfig, launch_configs, launch_maxnreg, padded_hidden
from kernels.reference import check_gru_inputs, gru_recurrence_reference


@triton.jit(do_not_specialize=["B", "T", "tile0", "s_begin", "n_steps", "spin_limit"])
def _gru_fwd_kernel(
    xproj_ptr, w_ptr, bhn_ptr, y_ptr,   # [B,T,D,3H], [D,3H,H], [D,H], [B,T,D,H]
    hbuf_ptr, hn_ptr,                   # [2,D,B,H] fp32 (h ping-pong), [D,B,H] fp32
    gsave_ptr, hsave_ptr,               # [B,T,D,3H] r z n, [B,T,D,2H] fp32 (a_n, h_t)
    len_ptr, tile_len_ptr, rows_ptr,    # [B] int32, [n_btiles] int32, [B] int32 (Plan.rows)
    count_ptr, flag_ptr,                # [n_btiles, D] int32 barrier counters, [1] int32 timed out
    B, T, tile0, s_begin, n_steps, spin_limit,
    H: tl.constexpr, HP: tl.constexpr, D: tl.constexpr, BH: tl.constexpr, BB: tl.constexpr,
    BK: tl.constexpr, REVERSE: tl.constexpr, SYNC: tl.constexpr, SAVE: tl.constexpr,
    RESIDENT: tl.constexpr, DOT_PRECISION: tl.constexpr, INTERPRET: tl.constexpr,
):
    d = tl.program_id(0)
    hb = tl.program_id(1)
    bt = tile0 + tl.program_id(2)   # a launch may cover a group of batch tiles
    n_hb = tl.num_programs(1)
    backward = (d == 1) | REVERSE

    slot = bt * BB + tl.arange(0, BB)   # this tile's slots in the length-sorted order (make_plan)
    rmask = slot < B
    rows = tl.load(rows_ptr + slot, mask=rmask, other=0)   # their batch rows
    rows64 = rows.to(tl.int64)
    cols = hb * BH + tl.arange(0, BH)
    cmask = cols < H
    m_own = rmask[:, None] & cmask[None, :]
    length = tl.load(len_ptr + rows, mask=rmask, other=0)
    tile_len = tl.load(tile_len_ptr + bt)
    if SYNC:
        ok = tl.load(flag_ptr) == 0   # False once a barrier of this launch timed out

    # W[g*H + j, k] as [K=k, N=j] tiles, on chip for the whole loop
    wd = w_ptr + d * (3 * H * H)
    ws = ()
    if RESIDENT:
        ws = w_tiles(wd, cols, cmask, 3, H * H, H, HP, BK, 1, H, INTERPRET)
    bhn = tl.load(bhn_ptr + d * H + cols, mask=cmask, other=0.0).to(tl.float32)

    state = (d * B + rows[:, None]) * H + cols[None, :]
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
        xrow = xproj_ptr + base * (3 * H)
        m_x = a2 & cmask[None, :]

        hrow = hbuf_ptr + (s % 2) * (D * B * H) + (d * B + rows) * H
        ar = tl.zeros([BB, BH], dtype=tl.float32)
        az = tl.zeros([BB, BH], dtype=tl.float32)
        an = tl.zeros([BB, BH], dtype=tl.float32) + bhn[None, :]
        if RESIDENT or DOT_PRECISION != "tf32x3":  # K chunks unrolled (resident tiles index a tuple)
            for kc in tl.static_range(HP // BK):
                kk = kc * BK + tl.arange(0, BK)
                hk = tl.load(hrow[:, None] + kk[None, :], mask=rmask[:, None] & (kk < H)[None, :], other=0.0,
                             cache_modifier=".cg")
                hk = dot_operand(hk, w_ptr, INTERPRET)
                ar = tl.dot(hk, w_pick(ws, wd, 0, kc, cols, cmask, H * H, H, HP, BK, 1, H, RESIDENT, INTERPRET), ar,
                            input_precision=DOT_PRECISION)
                az = tl.dot(hk, w_pick(ws, wd, 1, kc, cols, cmask, H * H, H, HP, BK, 1, H, RESIDENT, INTERPRET), az,
                            input_precision=DOT_PRECISION)
                an = tl.dot(hk, w_pick(ws, wd, 2, kc, cols, cmask, H * H, H, HP, BK, 1, H, RESIDENT, INTERPRET), an,
                            input_precision=DOT_PRECISION)
        else:  # exact fp32, weights streamed: a runtime loop (unrolled, 255 registers and spills)
            for kc in range(0, HP // BK):
                kk = kc * BK + tl.arange(0, BK)
                hk = tl.load(hrow[:, None] + kk[None, :], mask=rmask[:, None] & (kk < H)[None, :], other=0.0,
                             cache_modifier=".cg")
                hk = dot_operand(hk, w_ptr, INTERPRET)
                ar = tl.dot(hk, w_tile(wd, kk, cols, kk < H, cmask, 1, H, INTERPRET), ar,
                            input_precision=DOT_PRECISION)
                az = tl.dot(hk, w_tile(wd + 1 * (H * H), kk, cols, kk < H, cmask, 1, H, INTERPRET), az,
                            input_precision=DOT_PRECISION)
                an = tl.dot(hk, w_tile(wd + 2 * (H * H), kk, cols, kk < H, cmask, 1, H, INTERPRET), an,
                            input_precision=DOT_PRECISION)
        xr = tl.load(xrow[:, None] + 0 * H + cols[None, :], mask=m_x, other=0.0).to(tl.float32)
        xz = tl.load(xrow[:, None] + 1 * H + cols[None, :], mask=m_x, other=0.0).to(tl.float32)
        xn = tl.load(xrow[:, None] + 2 * H + cols[None, :], mask=m_x, other=0.0).to(tl.float32)
        gr = tl.sigmoid(xr + ar)
        gz = tl.sigmoid(xz + az)
        gn = tanh(xn + gr * an)
        h_new = (1.0 - gz) * gn + gz * h
        h = tl.where(a2, h_new, h)

        yrow = y_ptr + base * H
        tl.store(yrow[:, None] + cols[None, :], tl.where(a2, h_new, 0.0), mask=m_own)
        if SAVE:
            grow = gsave_ptr + base * (3 * H)
            tl.store(grow[:, None] + 0 * H + cols[None, :], gr, mask=m_x)
            tl.store(grow[:, None] + 1 * H + cols[None, :], gz, mask=m_x)
            tl.store(grow[:, None] + 2 * H + cols[None, :], gn, mask=m_x)
            srow = hsave_ptr + base * (2 * H)
            tl.store(srow[:, None] + cols[None, :], an, mask=m_x)
            tl.store(srow[:, None] + H + cols[None, :], h_new, mask=m_x)
        tl.store(hbuf_ptr + ((s + 1) % 2) * (D * B * H) + state, h, mask=m_own)
        if SYNC:
            ok = grid_barrier(count_ptr + bt * D + d, (s - s_begin + 1) * n_hb, flag_ptr, spin_limit, ok)
        else:
            tl.debug_barrier()

    tl.store(hn_ptr + state, h, mask=m_own)


@triton.jit(do_not_specialize=["B", "T", "tile0", "k_begin", "n_steps", "spin_limit"])
def _gru_bwd_kernel(
    dy_ptr, w_ptr, gsave_ptr, hsave_ptr, h0_ptr,   # [B,T,D,H], [D,3H,H], saved, [D,B,H] fp32
    dx_ptr, gbuf_ptr,                              # [B,T,D,3H] fp32 d xproj, [2,D,B,3H] fp32 d a
    dh_ptr,                                        # [D,B,H] fp32: dh_n in, dh_0 out
    len_ptr, tile_len_ptr, rows_ptr, count_ptr, flag_ptr,
    B, T, tile0, k_begin, n_steps, spin_limit,
    H: tl.constexpr, HP: tl.constexpr, D: tl.constexpr, BH: tl.constexpr, BB: tl.constexpr,
    BK: tl.constexpr, REVERSE: tl.constexpr, SYNC: tl.constexpr,
    RESIDENT: tl.constexpr, DOT_PRECISION: tl.constexpr, INTERPRET: tl.constexpr,
):
    d = tl.program_id(0)
    hb = tl.program_id(1)
    bt = tile0 + tl.program_id(2)   # a launch may cover a group of batch tiles
    n_hb = tl.num_programs(1)
    backward = (d == 1) | REVERSE

    slot = bt * BB + tl.arange(0, BB)   # this tile's slots in the length-sorted order (make_plan)
    rmask = slot < B
    rows = tl.load(rows_ptr + slot, mask=rmask, other=0)   # their batch rows
    rows64 = rows.to(tl.int64)
    cols = hb * BH + tl.arange(0, BH)
    cmask = cols < H
    m_own = rmask[:, None] & cmask[None, :]
    length = tl.load(len_ptr + rows, mask=rmask, other=0)
    tile_len = tl.load(tile_len_ptr + bt)
    if SYNC:
        ok = tl.load(flag_ptr) == 0   # False once a barrier of this launch timed out

    # dh_{t-1}[:, j] += Σ_gates d a[:, gate rows] @ W[gate rows, j]: W[g*H + k, j] as [K=k, N=j]
    wd = w_ptr + d * (3 * H * H)
    ws = ()
    if RESIDENT:
        ws = w_tiles(wd, cols, cmask, 3, H * H, H, HP, BK, H, 1, INTERPRET)

    state = (d * B + rows[:, None]) * H + cols[None, :]
    dh = tl.load(dh_ptr + state, mask=m_own, other=0.0)
    h_first = tl.load(h0_ptr + state, mask=m_own, other=0.0)

    if k_begin == 0:
        for t in range(tile_len, T):
            xz = dx_ptr + ((rows64 * T + t) * D + d) * (3 * H)
            zero = tl.zeros([BB, BH], dtype=tl.float32)
            for gate in tl.static_range(3):
                tl.store(xz[:, None] + gate * H + cols[None, :], zero, mask=m_own)

    # iteration k consumes d a of step s + 1 (every program's slice) into dh, then produces step
    # s = tile_len - 1 - k; the last iteration (s = -1) only consumes. dh holds dh_t ⊙ z in between.
    k_end = tl.minimum(k_begin + n_steps, tile_len + 1)
    for k in range(k_begin, k_end):
        s = tile_len - 1 - k
        if k > 0:
            sp = s + 1
            grow = gbuf_ptr + (sp % 2) * (D * B * 3 * H) + (d * B + rows) * (3 * H)
            acc = tl.zeros([BB, BH], dtype=tl.float32)
            if RESIDENT or DOT_PRECISION != "tf32x3":  # K chunks unrolled (resident tiles index a tuple)
                for g in tl.static_range(3):
                    for kc in tl.static_range(HP // BK):
                        kk = kc * BK + tl.arange(0, BK)
                        pk = tl.load(grow[:, None] + g * H + kk[None, :], mask=rmask[:, None] & (kk < H)[None, :],
                                     other=0.0, cache_modifier=".cg")
                        pk = dot_operand(pk, w_ptr, INTERPRET)
                        w = w_pick(ws, wd, g, kc, cols, cmask, H * H, H, HP, BK, H, 1, RESIDENT, INTERPRET)
                        acc = tl.dot(pk, w, acc, input_precision=DOT_PRECISION)
            else:  # exact fp32, weights streamed: a runtime loop (unrolled, 255 registers and spills)
                for g in tl.static_range(3):
                    for kc in range(0, HP // BK):
                        kk = kc * BK + tl.arange(0, BK)
                        pk = tl.load(grow[:, None] + g * H + kk[None, :], mask=rmask[:, None] & (kk < H)[None, :],
                                     other=0.0, cache_modifier=".cg")
                        pk = dot_operand(pk, w_ptr, INTERPRET)
                        w = w_tile(wd + g * (H * H), kk, cols, kk < H, cmask, H, 1, INTERPRET)
                        acc = tl.dot(pk, w, acc, input_precision=DOT_PRECISION)
            dh = tl.where(((sp < length) & rmask)[:, None], acc + dh, dh)
        if s >= 0:
            active = (s < length) & rmask
            a2 = active[:, None]
            m_x = a2 & cmask[None, :]
            t = tl.where(backward, length - 1 - s, s)
            t = tl.where(active, t, s)
            t_prev = tl.where(backward, t + 1, t - 1)
            base = (rows64 * T + t) * D + d
            base_prev = (rows64 * T + t_prev) * D + d
            grow = gsave_ptr + base * (3 * H)
            gr = tl.load(grow[:, None] + 0 * H + cols[None, :], mask=m_x, other=0.0).to(tl.float32)
            gz = tl.load(grow[:, None] + 1 * H + cols[None, :], mask=m_x, other=0.0).to(tl.float32)
            gn = tl.load(grow[:, None] + 2 * H + cols[None, :], mask=m_x, other=0.0).to(tl.float32)
            an = tl.load(hsave_ptr + base[:, None] * (2 * H) + cols[None, :], mask=m_x, other=0.0)
            h_prev = tl.load(hsave_ptr + base_prev[:, None] * (2 * H) + H + cols[None, :], mask=m_x & (s > 0),
                             other=0.0)
            h_prev = tl.where(s > 0, h_prev, h_first)
            dy = tl.load(dy_ptr + base[:, None] * H + cols[None, :], mask=m_x, other=0.0).to(tl.float32)

            dh_t = dh + dy
            p_n = tl.where(a2, dh_t * (1.0 - gz) * (1.0 - gn * gn), 0.0)
            p_z = tl.where(a2, dh_t * (h_prev - gn) * gz * (1.0 - gz), 0.0)
            p_r = tl.where(a2, p_n * an * gr * (1.0 - gr), 0.0)
            dh = tl.where(a2, dh_t * gz, dh)

            xrow = dx_ptr + base * (3 * H)
            tl.store(xrow[:, None] + 0 * H + cols[None, :], p_r, mask=m_own)
            tl.store(xrow[:, None] + 1 * H + cols[None, :], p_z, mask=m_own)
            tl.store(xrow[:, None] + 2 * H + cols[None, :], p_n, mask=m_own)
            gown = gbuf_ptr + (s % 2) * (D * B * 3 * H) + (d * B + rows[:, None]) * (3 * H) + cols[None, :]
            tl.store(gown + 0 * H, p_r, mask=m_own)
            tl.store(gown + 1 * H, p_z, mask=m_own)
            tl.store(gown + 2 * H, p_n * gr, mask=m_own)
            if SYNC:
                ok = grid_barrier(count_ptr + bt * D + d, (k - k_begin + 1) * n_hb, flag_ptr, spin_limit, ok)
            else:
                tl.debug_barrier()

    tl.store(dh_ptr + state, dh, mask=m_own)


# --------------------------------------------------------------------------------------
# launcher

def plan_gru(B: int, T: int, D: int, H: int, lengths: torch.Tensor, dtype: torch.dtype,
             config: LaunchConfig | None, arch: int | None, P: int = 0) -> Plan:
    """The plan of one call; config None: configs.family_config("gru", ...) on sm_<arch>."""
    caps = launch_maxnreg("gru", H, dtype, arch, dot_precision(dtype), config)
    config, bwd = launch_configs("gru", H, dtype, arch, dot_precision(dtype), config)
    return make_plan(B, T, D, H, lengths, dtype, config, lambda BH, BP: 3 * BH * padded_hidden(H), bwd,
                     sort_rows=True, maxnreg=caps)


def constexprs(plan: Plan, reverse: bool) -> dict:
    return dict(H=plan.H, HP=plan.HP, D=plan.D, BH=plan.BH, BB=plan.BB, BK=plan.BK, REVERSE=reverse,
                RESIDENT=plan.resident, DOT_PRECISION=plan.dot_precision, INTERPRET=INTERPRET)


def bwd_constexprs(plan: Plan, reverse: bool) -> dict:
    return dict(constexprs(plan, reverse), BK=plan.bwd_BK)


def _forward(xproj, w_hh, b_hn, lengths, h0, reverse: bool, save: bool, config):
    B, T, D, G = xproj.shape
    H = G // 3
    dev, dtype = xproj.device, xproj.dtype
    f32 = torch.float32
    plan = plan_gru(B, T, D, H, lengths, dtype, config, device_arch(dev))
    y = alloc((B, T, D, H), dtype, dev)
    hbuf = alloc((2, D, B, H), f32, dev)
    hbuf[0] = 0.0 if h0 is None else h0
    hn = alloc((D, B, H), f32, dev)
    if save:
        gsave = alloc((B, T, D, G), dtype, dev, fill_nan=False)
        hsave = alloc((B, T, D, 2 * H), f32, dev, fill_nan=False)
    else:
        gsave, hsave = y, hn  # never touched (SAVE=False)
    args = [xproj, w_hh, b_hn, y, hbuf, hn, gsave, hsave, lengths, plan.tile_len, plan.rows]
    plan.launch(_gru_fwd_kernel, args, dict(constexprs(plan, reverse), SAVE=save), plan.max_len, inout=[hbuf],
                maxnreg=plan.maxnreg)
    return y, hn.to(dtype), ((gsave, hsave) if save else None), plan


def _backward(dy, dhn, w_hh, h0, saved, plan: Plan, reverse: bool):
    B, T, D, H = plan.B, plan.T, plan.D, plan.H
    dev, f32 = w_hh.device, torch.float32
    gsave, hsave = saved
    dx = alloc((B, T, D, 3 * H), f32, dev)
    gbuf = alloc((2, D, B, 3 * H), f32, dev)
    dh = torch.zeros(D, B, H, dtype=f32, device=dev) if dhn is None else dhn.to(f32).clone()
    h_first = torch.zeros(D, B, H, dtype=f32, device=dev) if h0 is None else h0.to(f32).contiguous()
    dy = torch.zeros(B, T, D, H, dtype=w_hh.dtype, device=dev) if dy is None else dy.contiguous()
    args = [dy, w_hh, gsave, hsave, h_first, dx, gbuf, dh, plan.lengths, plan.tile_len, plan.rows]
    plan.launch(_gru_bwd_kernel, args, bwd_constexprs(plan, reverse), plan.max_len + 1, plan.bwd_num_warps,
                inout=[dh], maxnreg=plan.bwd_maxnreg)
    return dx, dh


class GRURecurrence(torch.autograd.Function):
    @staticmethod
    def forward(ctx, xproj, w_hh, b_hn, lengths, h0, reverse, config):
        save = any(ctx.needs_input_grad[i] for i in (0, 1, 2, 4))
        y, hn, saved, plan = _forward(xproj, w_hh, b_hn, lengths, h0, reverse, save, config)
        ctx.plan, ctx.reverse = plan, reverse
        if save:
            ctx.save_for_backward(w_hh, h0, *saved)
        return y, hn

    @staticmethod
    def backward(ctx, dy, dhn):
        w_hh, h0, gsave, hsave = ctx.saved_tensors
        plan = ctx.plan
        H = plan.H
        dx, dh0 = _backward(dy, dhn, w_hh, h0, (gsave, hsave), plan, ctx.reverse)
        d_xproj = dx.to(w_hh.dtype) if ctx.needs_input_grad[0] else None
        d_w = d_b = None
        if ctx.needs_input_grad[1] or ctx.needs_input_grad[2]:
            valid = valid_steps(plan.lengths, plan.T)
            da = dx.clone()  # d a_t = [dr_pre, dz_pre, dn_pre ⊙ r]   [B, T, D, 3H]
            da[..., 2 * H:] *= torch.where(valid, gsave[..., :H].float(), 0.0)  # r
            d_b = da[..., 2 * H:].sum(dim=(0, 1)).to(w_hh.dtype)  # [D, H]
            if ctx.needs_input_grad[1]:
                h_t = torch.where(valid, hsave[..., H:], 0.0)  # [B, T, D, H] fp32
                prev = previous_h(h_t, h0, plan.lengths, ctx.reverse)
                d_w = torch.einsum("btdg,btdh->dgh", da, prev).to(w_hh.dtype)  # [D, 3H, H]
        d_h0 = dh0.to(w_hh.dtype) if ctx.needs_input_grad[4] else None
        return d_xproj, d_w, d_b if ctx.needs_input_grad[2] else None, None, d_h0, None, None


def gru_recurrence(
    xproj: torch.Tensor,
    w_hh: torch.Tensor,
    b_hn: torch.Tensor,
    lengths: torch.Tensor | None = None,
    h0: torch.Tensor | None = None,
    reverse: bool = False,
    *,
    config: LaunchConfig | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The GRU recurrence of one layer (torch.nn.GRU / cuDNN), all directions in one persistent launch.

    xproj   [B, T, D, 3H]  x·W_ihᵀ + b_ih, plus b_hh on the r and z columns; gate order r, z, n
    w_hh    [D, 3H, H]     d = 0 forward, d = 1 reverse (D = 1: one direction)
    b_hn    [D, H]         the n gate's recurrent bias (inside the reset: n = tanh(x_n + r ⊙ (W_hn h + b_hn)))
    lengths [B] int        valid frames per sequence (None: all T), 1 <= length <= T
    h0      [D, B, H]      initial state (None: zeros)
    reverse                D = 1 only: run that direction backwards in time
    -> y [B, T, D, H] (zero past each length), h_n [D, B, H] (at each sequence's own end).
    Differentiable in xproj, w_hh, b_hn, h0. dtypes float32, bfloat16, float16 (fp32 state).
    """
    check_gru_inputs(xproj, w_hh, b_hn, lengths, h0, reverse)
    lengths, (h0,) = kernel_inputs(xproj, lengths, {"w_hh": w_hh, "b_hn": b_hn}, h0)
    return GRURecurrence.apply(xproj.contiguous(), w_hh.contiguous(), b_hn.contiguous(), lengths, h0,
                               bool(reverse), config)


CELL = Cell("gru", gru_recurrence, gru_recurrence_reference, gates=3, plan=plan_gru, kernel_bias_gates=1, kernels={
    "fwd": Kernel(_gru_fwd_kernel, constexprs, frozenset({"xproj_ptr", "w_ptr", "bhn_ptr", "y_ptr", "gsave_ptr"})),
    "bwd": Kernel(_gru_bwd_kernel, bwd_constexprs, frozenset({"dy_ptr", "w_ptr", "gsave_ptr"}), backward=True)})
