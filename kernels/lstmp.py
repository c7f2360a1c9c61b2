"""Persistent Triton LSTMP recurrence (LSTM with a recurrent projection, `torch.nn.LSTM(proj_size=P)`).

Gate order i, f, g, o as `torch.nn.LSTM`; the state fed back (and output) is the projection
h_t = W_hr (o ⊙ tanh c_t) of size P < H (the EESEN / Mobvoi BLSTMP shape):

    a_t = xproj_t + h_{t-1} @ W_hhᵀ                   W_hh [4H, P]           [B, 4H]
    i, f, g, o = σ(a_i), σ(a_f), tanh(a_g), σ(a_o)
    c_t = f ⊙ c_{t-1} + i ⊙ g        m_t = o ⊙ tanh(c_t)                        [B, H]
    h_t = m_t @ W_hrᵀ                 W_hr [P, H]                              [B, P]

Backward (one step, carried dh [B, P], dc [B, H]):
    dh_t = dy_t + dh_carry            dm_t = dh_t @ W_hr                          [B, H]
    then the LSTM cell backward with dm_t in place of dh_t (see kernels.lstm) -> d a_t [B, 4H]
    dh_{t-1} = d a_t @ W_hh           dc_{t-1} = dc_t ⊙ f
    dW_hh = Σ_t d a_tᵀ h_{t-1},  dW_hr = Σ_t dh_tᵀ m_t   (matmuls after the loop, in the launcher)

Dimensions: B batch, T time, D directions, H cell units, P projection units; HP, PP = H, P padded
to powers of two; BB batch rows, BH cell units, BP projection units per program.

Design. Grid (D, n_hblocks, n_btiles) as `kernels.lstm`. The projection couples every cell unit
of a direction, so a step has two phases, each followed by a grid barrier (or, in step mode, a
launch boundary: one launch per phase):
  A  program (d, hb, bt) updates the cells [hb·BH, (hb+1)·BH) (all four gates, K = P) and
     writes its slice of m_t to mbuf [D, B, H];
  B  the same program computes the projection units [hb·BP, (hb+1)·BP) of h_t = m_t @ W_hrᵀ
     (K = H) and writes them to the h ping-pong buffer and y.
Its W_hh rows (4·BH × P) and W_hr rows (BP × H) stay on chip for the whole loop. The trade-off:
two barriers per step instead of one, against doing the projection redundantly in every program
(one barrier, but every program would hold all of W_hr: P·H, too much for the chip at the
sizes that matter, 512 × 1024). With one hidden block (small H) there is no barrier at all.
Backward mirrors it: phase 0 makes dh_t for the program's projection units (K = 4H), phase 1
the cell backward of its cell units (dm_t: K = P).

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
from kernels.reference import check_lstmp_inputs, lstmp_recurrence_reference


@triton.jit(do_not_specialize=["B", "T", "tile0", "i_begin", "n_steps", "spin_limit"])
def _lstmp_fwd_kernel(
    xproj_ptr, w_ptr, wr_ptr, y_ptr,    # [B,T,D,4H], [D,4H,P], [D,P,H], [B,T,D,P]
    hbuf_ptr, mbuf_ptr, cstate_ptr,     # [2,D,B,P] fp32 (h ping-pong), [D,B,H] fp32 (m_t), [D,B,H] fp32 (c)
    hn_ptr, cn_ptr,                     # [D,B,P], [D,B,H] fp32
    gsave_ptr, csave_ptr,               # [B,T,D,4H] activated gates, [B,T,D,H] fp32 c_t
    len_ptr, tile_len_ptr, rows_ptr,    # [B] int32, [n_btiles] int32, [B] int32 (Plan.rows)
    count_ptr, flag_ptr,                # [n_btiles, D] int32 barrier counters, [1] int32 timed out
    B, T, tile0, i_begin, n_steps, spin_limit,             # iterations: 2 per time step (phase A, phase B)
    H: tl.constexpr, HP: tl.constexpr, P: tl.constexpr, PP: tl.constexpr, D: tl.constexpr,
    BH: tl.constexpr, BP: tl.constexpr, BB: tl.constexpr, BK: tl.constexpr, REVERSE: tl.constexpr,
    SYNC: tl.constexpr, SAVE: tl.constexpr, RESIDENT: tl.constexpr, DOT_PRECISION: tl.constexpr,
    INTERPRET: tl.constexpr,
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
    cols = hb * BH + tl.arange(0, BH)             # cell units of this program       [BH]
    cmask = cols < H
    pcols = hb * BP + tl.arange(0, BP)            # projection units of this program [BP]
    pmask = pcols < P
    m_own = rmask[:, None] & cmask[None, :]       # [BB, BH]
    m_p = rmask[:, None] & pmask[None, :]         # [BB, BP]
    length = tl.load(len_ptr + rows, mask=rmask, other=0)
    tile_len = tl.load(tile_len_ptr + bt)
    if SYNC:
        ok = tl.load(flag_ptr) == 0   # False once a barrier of this launch timed out

    # W_hh[g*H + j, p] as [K=p, N=j] tiles; W_hr[p, j] as [K=j, N=p] tiles; on chip for the loop
    wd = w_ptr + d * (4 * H * P)
    wrd = wr_ptr + d * (P * H)
    ws = ()
    wrs = ()
    if RESIDENT:
        ws = w_tiles(wd, cols, cmask, 4, H * P, P, PP, BK, 1, P, INTERPRET)
        wrs = w_tiles(wrd, pcols, pmask, 1, 0, H, HP, BK, 1, H, INTERPRET)

    state = (d * B + rows[:, None]) * H + cols[None, :]     # [D,B,H] offsets
    pstate = (d * B + rows[:, None]) * P + pcols[None, :]   # [D,B,P] offsets
    c = tl.load(cstate_ptr + state, mask=m_own, other=0.0)
    s0 = tl.minimum(i_begin // 2, tile_len)
    hp = tl.load(hbuf_ptr + (s0 % 2) * (D * B * P) + pstate, mask=m_p, other=0.0)

    if i_begin == 0:
        for t in range(tile_len, T):
            yz = y_ptr + ((rows64 * T + t) * D + d) * P
            tl.store(yz[:, None] + pcols[None, :], tl.zeros([BB, BP], dtype=tl.float32), mask=m_p)

    i_end = tl.minimum(i_begin + n_steps, 2 * tile_len)
    for it in range(i_begin, i_end):
        s = it // 2
        active = (s < length) & rmask
        a2 = active[:, None]
        t = tl.where(backward, length - 1 - s, s)
        t = tl.where(active, t, s)
        base = (rows64 * T + t) * D + d
        if it % 2 == 0:  # phase A: the cells of this program (K = P)
            m_x = a2 & cmask[None, :]
            xrow = xproj_ptr + base * (4 * H)
            hrow = hbuf_ptr + (s % 2) * (D * B * P) + (d * B + rows) * P
            xi = tl.load(xrow[:, None] + 0 * H + cols[None, :], mask=m_x, other=0.0).to(tl.float32)
            xf = tl.load(xrow[:, None] + 1 * H + cols[None, :], mask=m_x, other=0.0).to(tl.float32)
            xg = tl.load(xrow[:, None] + 2 * H + cols[None, :], mask=m_x, other=0.0).to(tl.float32)
            xo = tl.load(xrow[:, None] + 3 * H + cols[None, :], mask=m_x, other=0.0).to(tl.float32)
            if RESIDENT or DOT_PRECISION != "tf32x3":  # K chunks unrolled (resident tiles index a tuple)
                for kc in tl.static_range(PP // BK):
                    kk = kc * BK + tl.arange(0, BK)
                    hk = tl.load(hrow[:, None] + kk[None, :], mask=rmask[:, None] & (kk < P)[None, :], other=0.0,
                                 cache_modifier=".cg")
                    hk = dot_operand(hk, w_ptr, INTERPRET)
                    xi = tl.dot(hk, w_pick(ws, wd, 0, kc, cols, cmask, H * P, P, PP, BK, 1, P, RESIDENT, INTERPRET),
                                xi, input_precision=DOT_PRECISION)
                    xf = tl.dot(hk, w_pick(ws, wd, 1, kc, cols, cmask, H * P, P, PP, BK, 1, P, RESIDENT, INTERPRET),
                                xf, input_precision=DOT_PRECISION)
                    xg = tl.dot(hk, w_pick(ws, wd, 2, kc, cols, cmask, H * P, P, PP, BK, 1, P, RESIDENT, INTERPRET),
                                xg, input_precision=DOT_PRECISION)
                    xo = tl.dot(hk, w_pick(ws, wd, 3, kc, cols, cmask, H * P, P, PP, BK, 1, P, RESIDENT, INTERPRET),
                                xo, input_precision=DOT_PRECISION)
            else:  # exact fp32, weights streamed: a runtime loop (unrolled, 255 registers and spills)
                for kc in range(0, PP // BK):
                    kk = kc * BK + tl.arange(0, BK)
                    hk = tl.load(hrow[:, None] + kk[None, :], mask=rmask[:, None] & (kk < P)[None, :], other=0.0,
                                 cache_modifier=".cg")
                    hk = dot_operand(hk, w_ptr, INTERPRET)
                    xi = tl.dot(hk, w_tile(wd, kk, cols, kk < P, cmask, 1, P, INTERPRET),
                                xi, input_precision=DOT_PRECISION)
                    xf = tl.dot(hk, w_tile(wd + 1 * (H * P), kk, cols, kk < P, cmask, 1, P, INTERPRET),
                                xf, input_precision=DOT_PRECISION)
                    xg = tl.dot(hk, w_tile(wd + 2 * (H * P), kk, cols, kk < P, cmask, 1, P, INTERPRET),
                                xg, input_precision=DOT_PRECISION)
                    xo = tl.dot(hk, w_tile(wd + 3 * (H * P), kk, cols, kk < P, cmask, 1, P, INTERPRET),
                                xo, input_precision=DOT_PRECISION)
            gi = tl.sigmoid(xi)
            gf = tl.sigmoid(xf)
            gg = tanh(xg)
            go = tl.sigmoid(xo)
            c_new = gf * c + gi * gg
            c = tl.where(a2, c_new, c)
            tl.store(mbuf_ptr + state, go * tanh(c_new), mask=m_own)
            if SAVE:
                grow = gsave_ptr + base * (4 * H)
                tl.store(grow[:, None] + 0 * H + cols[None, :], gi, mask=m_x)
                tl.store(grow[:, None] + 1 * H + cols[None, :], gf, mask=m_x)
                tl.store(grow[:, None] + 2 * H + cols[None, :], gg, mask=m_x)
                tl.store(grow[:, None] + 3 * H + cols[None, :], go, mask=m_x)
                tl.store(csave_ptr + base[:, None] * H + cols[None, :], c_new, mask=m_x)
        else:  # phase B: this program's projection units, h_t = m_t @ W_hrᵀ (K = H)
            mrow = mbuf_ptr + (d * B + rows) * H
            acc = tl.zeros([BB, BP], dtype=tl.float32)
            if RESIDENT or DOT_PRECISION != "tf32x3":  # K chunks unrolled (resident tiles index a tuple)
                for kc in tl.static_range(HP // BK):
                    kk = kc * BK + tl.arange(0, BK)
                    mk = tl.load(mrow[:, None] + kk[None, :], mask=rmask[:, None] & (kk < H)[None, :], other=0.0,
                                 cache_modifier=".cg")
                    mk = dot_operand(mk, wr_ptr, INTERPRET)
                    acc = tl.dot(mk, w_pick(wrs, wrd, 0, kc, pcols, pmask, 0, H, HP, BK, 1, H, RESIDENT, INTERPRET),
                                 acc, input_precision=DOT_PRECISION)
            else:  # exact fp32, weights streamed: a runtime loop (unrolled, 255 registers and spills)
                for kc in range(0, HP // BK):
                    kk = kc * BK + tl.arange(0, BK)
                    mk = tl.load(mrow[:, None] + kk[None, :], mask=rmask[:, None] & (kk < H)[None, :], other=0.0,
                                 cache_modifier=".cg")
                    mk = dot_operand(mk, wr_ptr, INTERPRET)
                    acc = tl.dot(mk, w_tile(wrd, kk, pcols, kk < H, pmask, 1, H, INTERPRET),
                                 acc, input_precision=DOT_PRECISION)
            hp = tl.where(a2, acc, hp)
            tl.store(y_ptr + base[:, None] * P + pcols[None, :], tl.where(a2, acc, 0.0), mask=m_p)
            tl.store(hbuf_ptr + ((s + 1) % 2) * (D * B * P) + pstate, hp, mask=m_p)
        if SYNC:
            ok = grid_barrier(count_ptr + bt * D + d, (it - i_begin + 1) * n_hb, flag_ptr, spin_limit, ok)
        else:
            tl.debug_barrier()

    # the epilogue's addresses from rows read again: kept from the prologue across the time loop, ptxas
    # spilled them (16 bytes at H 768 16-bit on sm_80)
    rows = tl.load(rows_ptr + slot, mask=rmask, other=0)
    state = (d * B + rows[:, None]) * H + cols[None, :]
    pstate = (d * B + rows[:, None]) * P + pcols[None, :]
    tl.store(cstate_ptr + state, c, mask=m_own)
    tl.store(cn_ptr + state, c, mask=m_own)
    tl.store(hn_ptr + pstate, hp, mask=m_p)


@triton.jit(do_not_specialize=["B", "T", "tile0", "i_begin", "n_steps", "spin_limit"])
def _lstmp_bwd_kernel(
    dy_ptr, w_ptr, wr_ptr, gsave_ptr, csave_ptr, c0_ptr,  # [B,T,D,P], [D,4H,P], [D,P,H], saved, [D,B,H] fp32
    dx_ptr, gbuf_ptr, dhbuf_ptr, dhsave_ptr,              # [B,T,D,4H] fp32, [D,B,4H] fp32, [D,B,P] fp32, [B,T,D,P] fp32
    dh_ptr, dc_ptr,                                       # [D,B,P] fp32 dh_n in, dh_0 out; [D,B,H] fp32 dc_n, dc_0
    len_ptr, tile_len_ptr, rows_ptr, count_ptr, flag_ptr,
    B, T, tile0, i_begin, n_steps, spin_limit,
    H: tl.constexpr, HP: tl.constexpr, P: tl.constexpr, PP: tl.constexpr, D: tl.constexpr,
    BH: tl.constexpr, BP: tl.constexpr, BB: tl.constexpr, BK: tl.constexpr, REVERSE: tl.constexpr,
    SYNC: tl.constexpr, RESIDENT: tl.constexpr, DOT_PRECISION: tl.constexpr, INTERPRET: tl.constexpr,
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
    pcols = hb * BP + tl.arange(0, BP)
    pmask = pcols < P
    m_own = rmask[:, None] & cmask[None, :]
    m_p = rmask[:, None] & pmask[None, :]
    length = tl.load(len_ptr + rows, mask=rmask, other=0)
    tile_len = tl.load(tile_len_ptr + bt)
    if SYNC:
        ok = tl.load(flag_ptr) == 0   # False once a barrier of this launch timed out

    # W_hh[g*H + k, p] as [K=k, N=p] tiles; W_hr[p, j] as [K=p, N=j] tiles
    wd = w_ptr + d * (4 * H * P)
    wrd = wr_ptr + d * (P * H)
    ws = ()
    wrs = ()
    if RESIDENT:
        ws = w_tiles(wd, pcols, pmask, 4, H * P, H, HP, BK, P, 1, INTERPRET)
        wrs = w_tiles(wrd, cols, cmask, 1, 0, P, PP, BK, H, 1, INTERPRET)

    state = (d * B + rows[:, None]) * H + cols[None, :]
    pstate = (d * B + rows[:, None]) * P + pcols[None, :]
    dh = tl.load(dh_ptr + pstate, mask=m_p, other=0.0)
    dc = tl.load(dc_ptr + state, mask=m_own, other=0.0)
    c_first = tl.load(c0_ptr + state, mask=m_own, other=0.0)

    if i_begin == 0:
        for t in range(tile_len, T):
            xz = dx_ptr + ((rows64 * T + t) * D + d) * (4 * H)
            zero = tl.zeros([BB, BH], dtype=tl.float32)
            for gate in tl.static_range(4):
                tl.store(xz[:, None] + gate * H + cols[None, :], zero, mask=m_own)

    # time step s = tile_len - 1 - k, k = it // 2. Phase 0 consumes d a of step s + 1 into dh (K = 4H)
    # and makes dh_t = dh + dy_t of this program's projection units; phase 1 runs the cell backward
    # of its cell units from dm_t = dh_t @ W_hr (K = P). The last iteration (s = -1) only consumes.
    i_end = tl.minimum(i_begin + n_steps, 2 * tile_len + 1)
    for it in range(i_begin, i_end):
        k = it // 2
        s = tile_len - 1 - k
        active = (s < length) & rmask
        a2 = active[:, None]
        t = tl.where(backward, length - 1 - s, s)
        t = tl.where(active, t, s)
        base = (rows64 * T + t) * D + d
        if it % 2 == 0:
            if k > 0:
                sp = s + 1
                grow = gbuf_ptr + (d * B + rows) * (4 * H)
                acc = tl.zeros([BB, BP], dtype=tl.float32)
                if RESIDENT or DOT_PRECISION != "tf32x3":  # K chunks unrolled (resident tiles index a tuple)
                    for g in tl.static_range(4):
                        for kc in tl.static_range(HP // BK):
                            kk = kc * BK + tl.arange(0, BK)
                            pk = tl.load(grow[:, None] + g * H + kk[None, :], mask=rmask[:, None] & (kk < H)[None, :],
                                         other=0.0, cache_modifier=".cg")
                            pk = dot_operand(pk, w_ptr, INTERPRET)
                            w = w_pick(ws, wd, g, kc, pcols, pmask, H * P, H, HP, BK, P, 1, RESIDENT, INTERPRET)
                            acc = tl.dot(pk, w, acc, input_precision=DOT_PRECISION)
                else:  # exact fp32, weights streamed: a runtime loop (unrolled, 255 registers and spills)
                    for g in tl.static_range(4):
                        for kc in range(0, HP // BK):
                            kk = kc * BK + tl.arange(0, BK)
                            pk = tl.load(grow[:, None] + g * H + kk[None, :], mask=rmask[:, None] & (kk < H)[None, :],
                                         other=0.0, cache_modifier=".cg")
                            pk = dot_operand(pk, w_ptr, INTERPRET)
                            w = w_tile(wd + g * (H * P), kk, pcols, kk < H, pmask, P, 1, INTERPRET)
                            acc = tl.dot(pk, w, acc, input_precision=DOT_PRECISION)
                dh = tl.where(((sp < length) & rmask)[:, None], acc, dh)
            if s >= 0:
                m_xp = a2 & pmask[None, :]
                dy = tl.load(dy_ptr + base[:, None] * P + pcols[None, :], mask=m_xp, other=0.0).to(tl.float32)
                dh_t = tl.where(a2, dh + dy, 0.0)
                tl.store(dhbuf_ptr + pstate, dh_t, mask=m_p)
                tl.store(dhsave_ptr + base[:, None] * P + pcols[None, :], dh_t, mask=m_xp)
        else:
            m_x = a2 & cmask[None, :]
            drow = dhbuf_ptr + (d * B + rows) * P
            dm = tl.zeros([BB, BH], dtype=tl.float32)
            if RESIDENT or DOT_PRECISION != "tf32x3":  # K chunks unrolled (resident tiles index a tuple)
                for kc in tl.static_range(PP // BK):
                    kk = kc * BK + tl.arange(0, BK)
                    hk = tl.load(drow[:, None] + kk[None, :], mask=rmask[:, None] & (kk < P)[None, :], other=0.0,
                                 cache_modifier=".cg")
                    hk = dot_operand(hk, wr_ptr, INTERPRET)
                    dm = tl.dot(hk, w_pick(wrs, wrd, 0, kc, cols, cmask, 0, P, PP, BK, H, 1, RESIDENT, INTERPRET),
                                dm, input_precision=DOT_PRECISION)
            else:  # exact fp32, weights streamed: a runtime loop (unrolled, 255 registers and spills)
                for kc in range(0, PP // BK):
                    kk = kc * BK + tl.arange(0, BK)
                    hk = tl.load(drow[:, None] + kk[None, :], mask=rmask[:, None] & (kk < P)[None, :], other=0.0,
                                 cache_modifier=".cg")
                    hk = dot_operand(hk, wr_ptr, INTERPRET)
                    dm = tl.dot(hk, w_tile(wrd, kk, cols, kk < P, cmask, H, 1, INTERPRET),
                                dm, input_precision=DOT_PRECISION)
            t_prev = tl.where(backward, t + 1, t - 1)
            base_prev = (rows64 * T + t_prev) * D + d
            grow = gsave_ptr + base * (4 * H)
            gi = tl.load(grow[:, None] + 0 * H + cols[None, :], mask=m_x, other=0.0).to(tl.float32)
            gf = tl.load(grow[:, None] + 1 * H + cols[None, :], mask=m_x, other=0.0).to(tl.float32)
            gg = tl.load(grow[:, None] + 2 * H + cols[None, :], mask=m_x, other=0.0).to(tl.float32)
            go = tl.load(grow[:, None] + 3 * H + cols[None, :], mask=m_x, other=0.0).to(tl.float32)
            c_t = tl.load(csave_ptr + base[:, None] * H + cols[None, :], mask=m_x, other=0.0)
            c_prev = tl.load(csave_ptr + base_prev[:, None] * H + cols[None, :], mask=m_x & (s > 0), other=0.0)
            c_prev = tl.where(s > 0, c_prev, c_first)

            tc = tanh(c_t)
            dc_t = dc + dm * go * (1.0 - tc * tc)
            p_i = tl.where(a2, dc_t * gg * gi * (1.0 - gi), 0.0)
            p_f = tl.where(a2, dc_t * c_prev * gf * (1.0 - gf), 0.0)
            p_g = tl.where(a2, dc_t * gi * (1.0 - gg * gg), 0.0)
            p_o = tl.where(a2, dm * tc * go * (1.0 - go), 0.0)
            dc = tl.where(a2, dc_t * gf, dc)

            xrow = dx_ptr + base * (4 * H)
            tl.store(xrow[:, None] + 0 * H + cols[None, :], p_i, mask=m_own)
            tl.store(xrow[:, None] + 1 * H + cols[None, :], p_f, mask=m_own)
            tl.store(xrow[:, None] + 2 * H + cols[None, :], p_g, mask=m_own)
            tl.store(xrow[:, None] + 3 * H + cols[None, :], p_o, mask=m_own)
            gown = gbuf_ptr + (d * B + rows[:, None]) * (4 * H) + cols[None, :]
            tl.store(gown + 0 * H, p_i, mask=m_own)
            tl.store(gown + 1 * H, p_f, mask=m_own)
            tl.store(gown + 2 * H, p_g, mask=m_own)
            tl.store(gown + 3 * H, p_o, mask=m_own)
        if SYNC:
            ok = grid_barrier(count_ptr + bt * D + d, (it - i_begin + 1) * n_hb, flag_ptr, spin_limit, ok)
        else:
            tl.debug_barrier()

    tl.store(dh_ptr + pstate, dh, mask=m_p)
    tl.store(dc_ptr + state, dc, mask=m_own)


# --------------------------------------------------------------------------------------
# launcher

def plan_lstmp(B: int, T: int, D: int, H: int, lengths: torch.Tensor, dtype: torch.dtype,
               config: LaunchConfig | None, arch: int | None, P: int = 0) -> Plan:
    """The plan plus the projection split: BP projection units per program, n_hb·BP >= P; its weight
    slice on chip is 4·BH·PP (W_hh rows) + BP·HP (W_hr rows)."""
    caps = launch_maxnreg("lstmp", H, dtype, arch, dot_precision(dtype), config)
    config, bwd = launch_configs("lstmp", H, dtype, arch, dot_precision(dtype), config)
    PP, HP = padded_hidden(P), padded_hidden(H)
    return make_plan(B, T, D, H, lengths, dtype, config, lambda BH, BP: 4 * BH * PP + BP * HP, bwd, P=P,
                     sort_rows=True, maxnreg=caps)


def constexprs(plan: Plan, reverse: bool) -> dict:
    return dict(H=plan.H, HP=plan.HP, P=plan.P, PP=plan.PP, D=plan.D, BH=plan.BH, BP=plan.BP, BB=plan.BB,
                BK=plan.BK, REVERSE=reverse, RESIDENT=plan.resident, DOT_PRECISION=plan.dot_precision,
                INTERPRET=INTERPRET)


def bwd_constexprs(plan: Plan, reverse: bool) -> dict:
    return dict(constexprs(plan, reverse), BK=plan.bwd_BK)


def _forward(xproj, w_hh, w_hr, lengths, h0, c0, reverse: bool, save: bool, config):
    B, T, D, G = xproj.shape
    H, P = G // 4, w_hr.shape[1]
    dev, dtype = xproj.device, xproj.dtype
    f32 = torch.float32
    plan = plan_lstmp(B, T, D, H, lengths, dtype, config, device_arch(dev), P)
    y = alloc((B, T, D, P), dtype, dev)
    hbuf = alloc((2, D, B, P), f32, dev)
    hbuf[0] = 0.0 if h0 is None else h0
    mbuf = alloc((D, B, H), f32, dev)
    cstate = torch.zeros(D, B, H, dtype=f32, device=dev) if c0 is None else c0.to(f32).clone()
    hn = alloc((D, B, P), f32, dev)
    cn = alloc((D, B, H), f32, dev)
    if save:
        gsave = alloc((B, T, D, G), dtype, dev, fill_nan=False)
        csave = alloc((B, T, D, H), f32, dev, fill_nan=False)
    else:
        gsave, csave = y, hn  # never touched (SAVE=False)
    args = [xproj, w_hh, w_hr, y, hbuf, mbuf, cstate, hn, cn, gsave, csave, lengths, plan.tile_len, plan.rows]
    plan.launch(_lstmp_fwd_kernel, args, dict(constexprs(plan, reverse), SAVE=save), 2 * plan.max_len,
                inout=[hbuf, cstate], maxnreg=plan.maxnreg)
    return y, hn.to(dtype), cn.to(dtype), ((gsave, csave) if save else None), plan


def _backward(dy, dhn, dcn, w_hh, w_hr, c0, saved, plan: Plan, reverse: bool):
    B, T, D, H, P = plan.B, plan.T, plan.D, plan.H, plan.P
    dev, f32 = w_hh.device, torch.float32
    gsave, csave = saved
    dx = alloc((B, T, D, 4 * H), f32, dev)
    gbuf = alloc((D, B, 4 * H), f32, dev)
    dhbuf = alloc((D, B, P), f32, dev)
    dhsave = alloc((B, T, D, P), f32, dev, fill_nan=False)
    dh = torch.zeros(D, B, P, dtype=f32, device=dev) if dhn is None else dhn.to(f32).clone()
    dc = torch.zeros(D, B, H, dtype=f32, device=dev) if dcn is None else dcn.to(f32).clone()
    c_first = torch.zeros(D, B, H, dtype=f32, device=dev) if c0 is None else c0.to(f32).contiguous()
    dy = torch.zeros(B, T, D, P, dtype=w_hh.dtype, device=dev) if dy is None else dy.contiguous()
    args = [dy, w_hh, w_hr, gsave, csave, c_first, dx, gbuf, dhbuf, dhsave, dh, dc, plan.lengths, plan.tile_len,
            plan.rows]
    plan.launch(_lstmp_bwd_kernel, args, bwd_constexprs(plan, reverse), 2 * plan.max_len + 1,
                plan.bwd_num_warps, inout=[dh, dc], maxnreg=plan.bwd_maxnreg)
    return dx, dhsave, dh, dc


class LSTMPRecurrence(torch.autograd.Function):
    @staticmethod
    def forward(ctx, xproj, w_hh, w_hr, lengths, h0, c0, reverse, config):
        save = any(ctx.needs_input_grad[i] for i in (0, 1, 2, 4, 5))
        y, hn, cn, saved, plan = _forward(xproj, w_hh, w_hr, lengths, h0, c0, reverse, save, config)
        ctx.plan, ctx.reverse = plan, reverse
        if save:
            ctx.save_for_backward(w_hh, w_hr, h0, c0, y, *saved)
        return y, hn, cn

    @staticmethod
    def backward(ctx, dy, dhn, dcn):
        w_hh, w_hr, h0, c0, y, gsave, csave = ctx.saved_tensors
        plan = ctx.plan
        H = plan.H
        dx, dhsave, dh0, dc0 = _backward(dy, dhn, dcn, w_hh, w_hr, c0, (gsave, csave), plan, ctx.reverse)
        d_xproj = dx.to(w_hh.dtype) if ctx.needs_input_grad[0] else None
        d_w = d_wr = None
        if ctx.needs_input_grad[1]:
            prev = previous_h(y, h0, plan.lengths, ctx.reverse).float()  # [B, T, D, P]
            d_w = torch.einsum("btdg,btdp->dgp", dx, prev).to(w_hh.dtype)  # [D, 4H, P]
        if ctx.needs_input_grad[2]:
            valid = valid_steps(plan.lengths, plan.T)
            m = torch.where(valid, gsave[..., 3 * H:].float() * torch.tanh(csave), 0.0)  # o ⊙ tanh c  [B, T, D, H]
            dh_t = torch.where(valid, dhsave, 0.0)                                          # [B, T, D, P]
            d_wr = torch.einsum("btdp,btdh->dph", dh_t, m).to(w_hr.dtype)                   # [D, P, H]
        d_h0 = dh0.to(w_hh.dtype) if ctx.needs_input_grad[4] else None
        d_c0 = dc0.to(w_hh.dtype) if ctx.needs_input_grad[5] else None
        return d_xproj, d_w, d_wr, None, d_h0, d_c0, None, None


def lstmp_recurrence(
    xproj: torch.Tensor,
    w_hh: torch.Tensor,
    w_hr: torch.Tensor,
    lengths: torch.Tensor | None = None,
    h0: torch.Tensor | None = None,
    c0: torch.Tensor | None = None,
    reverse: bool = False,
    *,
    config: LaunchConfig | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The LSTMP recurrence of one layer (torch.nn.LSTM(proj_size=P)), all directions in one persistent launch.

    xproj   [B, T, D, 4H]  x·W_ihᵀ + b_ih + b_hh for every step, gate order i, f, g, o
    w_hh    [D, 4H, P]     recurrent weights (they read the projected state)
    w_hr    [D, P, H]      projection, h_t = W_hr (o ⊙ tanh c_t)
    lengths [B] int        valid frames per sequence (None: all T), 1 <= length <= T
    h0 [D, B, P], c0 [D, B, H]   initial state (None: zeros)
    reverse                D = 1 only: run that direction backwards in time
    -> y [B, T, D, P] (zero past each length), h_n [D, B, P], c_n [D, B, H] (at each own end).
    Differentiable in xproj, w_hh, w_hr, h0, c0. dtypes float32, bfloat16, float16 (fp32 state).
    """
    check_lstmp_inputs(xproj, w_hh, w_hr, lengths, h0, c0, reverse)
    lengths, (h0, c0) = kernel_inputs(xproj, lengths, {"w_hh": w_hh, "w_hr": w_hr}, h0, c0)
    return LSTMPRecurrence.apply(xproj.contiguous(), w_hh.contiguous(), w_hr.contiguous(), lengths, h0, c0,
                                 bool(reverse), config)


_DTYPE_PTRS = frozenset({"xproj_ptr", "w_ptr", "wr_ptr", "y_ptr", "gsave_ptr", "dy_ptr"})
CELL = Cell("lstmp", lstmp_recurrence, lstmp_recurrence_reference, gates=4, plan=plan_lstmp, projected=True,
            extra_params=("weight_hr",), kernels={"fwd": Kernel(_lstmp_fwd_kernel, constexprs, _DTYPE_PTRS),
                                                  "bwd": Kernel(_lstmp_bwd_kernel, bwd_constexprs, _DTYPE_PTRS,
                                                                backward=True)})
