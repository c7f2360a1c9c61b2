"""Persistent Triton LSTM recurrence: forward and backward, both directions in one launch.

The input projection x·W_ihᵀ + b for every step is one big matmul outside (cuBLAS); these
kernels run only the recurrence, gate order i, f, g, o as `torch.nn.LSTM`:

    gates_t = xproj_t + h_{t-1} @ W_hhᵀ                              [B, 4H]
    i, f, g, o = σ(gates_i), σ(gates_f), tanh(gates_g), σ(gates_o)
    c_t = f ⊙ c_{t-1} + i ⊙ g
    h_t = o ⊙ tanh(c_t)

Backward (one step, carried dh, dc; `pre` = gradient before the activation):
    dh_t  = dy_t + dh_carry          dc_t = dc_carry + dh_t ⊙ o ⊙ (1 - tanh²c_t)
    do = dh_t ⊙ tanh c_t ⊙ o(1-o)    di = dc_t ⊙ g ⊙ i(1-i)
    df = dc_t ⊙ c_{t-1} ⊙ f(1-f)     dg = dc_t ⊙ i ⊙ (1-g²)
    dc_{t-1} = dc_t ⊙ f              dh_{t-1} = [di df dg do] @ W_hh     (= d xproj_t @ W_hh)
    dW_hh = Σ_t d xproj_tᵀ · h_{t-1}   (one matmul after the loop, in the launcher)

PEEPHOLE (constexpr; kernels.peephole, Gers & Schmidhuber): per-unit diagonal peephole weights
peep [D, 3, H] = (p_i, p_f, p_o); gates i and f see c_{t-1}, gate o sees c_t:
    i = σ(gates_i + p_i ⊙ c_{t-1})   f = σ(gates_f + p_f ⊙ c_{t-1})   o = σ(gates_o + p_o ⊙ c_t)
    dc_t += do ⊙ p_o                 dc_{t-1} += di ⊙ p_i + df ⊙ p_f
    dp_i = Σ di ⊙ c_{t-1}, dp_f = Σ df ⊙ c_{t-1}, dp_o = Σ do ⊙ c_t   (in kernels.peephole, from saved c)
The peepholes are per unit: a program loads only its BH slice of them, the cell update stays
local. With PEEPHOLE False those branches are compiled out (the launcher passes peep_ptr = None).

Dimensions: B batch, T time, D directions (d = 0 forward, d = 1 reverse), H hidden units,
G = 4H gate columns; BB rows of the batch per program, BH hidden units per program, BK the
K-chunk of the dots, NK = cdiv(H, BK) chunks (H is never padded: BK divides H in the launch
table, a last partial chunk is masked), NHB = cdiv(H, BH) programs per (direction, batch tile).

Grid (D, n_hblocks, n_btiles): program (d, hb, bt) owns direction d, hidden units
[hb·BH, (hb+1)·BH) with all four of their gates (so the cell update is local) and the batch rows
rows[bt·BB : (bt+1)·BB] (length-sorted tiles: the plan's stable argsort of the lengths, longest first,
kernels.common.make_plan, loaded from rows_ptr in the prologue; every address goes through those rows,
so inputs and outputs stay in batch order and a tile of short rows stops at its own tile_len). It
loads its 4·BH gate rows of W_hh once, before the time loop, as NK tiles [4BH, BK]; the compiler
keeps them in shared memory for every step (the A operand of the dots: wgmma reads them there on
sm_90). The tensors of a step are transposed, [units, batch rows]:

    gatesᵀ [4BH, BB] = W_hh[gate rows] [4BH, H] · h_{t-1}ᵀ [H, BB]  (+ xprojᵀ)   M = 4·BH >= 64
    (one dot over the four gates, two accumulators over the K-chunks), split into i, f, g, o
    [BH, BB] by reshape / permute / split (common.gates_split: one layout conversion).

The step loop (per step, in this order): the step's own inputs (xproj; the backward: saved gates,
c_t, c_{t-1}, dy: no other program writes them) are loaded first, then the program waits at the
grid barrier (common.grid_wait: every thread polls the counter with its own acquire load, so no
CTA barrier separates the poll from what follows), then all K-chunks of h_{t-1} are loaded at
once: one run of global loads per step. Then the dots, the cell update, the stores and the
arrive (common.grid_arrive: CTA barrier, one release add) that the next step waits for.
The new h of each step goes through a global ping-pong buffer hbuf [2, D, B, H] (in the
weights' dtype: it only feeds the dot); programs of the same (d, bt) meet at the barrier (an
atomic counter per (bt, d), bounded spin) in a cooperative launch. With one hidden block no
barrier is needed. Since barrier groups are per batch tile, a launch may cover a group of tiles
(tile0: its first): when the whole grid is not co-resident but one tile's programs are, the
launcher runs one persistent launch per group of tiles. When not even that fits (or under the
interpreter, which runs programs one after another) it runs the same kernel one step per launch
("step mode"), the launch boundary being the barrier (kernels.common.Plan.launch).

Backward: each program multiplies its own gate gradients by its own W_hh rows (the forward's
slice, transposed) into a partial dh_{t-1} for every unit,
    partialᵀ [H, BB] = W_hh[gate rows]ᵀ [H, 4BH] · d xprojᵀ[gate rows] [4BH, BB]   (K = 4·BH)
one dot per BK rows of H, stored to pbuf [2, D, NHB, B, H] (fp32); after the barrier a program
sums the NHB partials of its own units (one run of loads): dh_{t-1} = Σ_programs partial.
Exchanged per program and step: B·H values (was B·4H gate gradients), no dependent dot chain.
"""
from __future__ import annotations

import torch
import triton
import triton.language as tl

from kernels.common import (INTERPRET, Cell, Kernel, Plan, alloc, device_arch, dot_operand, dot_precision,
                            gates_join, gates_split, grid_arrive, grid_wait, kernel_inputs, make_plan, previous_h,
                            tanh, w_chunks, w_load)
from kernels.configs import LaunchConfig, launch_configs, launch_maxnreg
from kernels.reference import check_inputs, lstm_recurrence_reference


@triton.jit
def _load_peep(peep_ptr, d, cols, cmask, H: tl.constexpr):
    """This program's slice of the peepholes peep[d] [3, H] as p_i, p_f, p_o, each [BH, 1] fp32."""
    pi = tl.load(peep_ptr + (d * 3 + 0) * H + cols, mask=cmask, other=0.0).to(tl.float32)[:, None]
    pf = tl.load(peep_ptr + (d * 3 + 1) * H + cols, mask=cmask, other=0.0).to(tl.float32)[:, None]
    po = tl.load(peep_ptr + (d * 3 + 2) * H + cols, mask=cmask, other=0.0).to(tl.float32)[:, None]
    return pi, pf, po


@triton.jit
def _h_chunk(hrow, rmask, kk, H: tl.constexpr):
    """The K-chunk kk [BK] of h_{t-1}ᵀ [BK, BB] from the exchange buffer (rows hrow [BB]), L2 only (.cg)."""
    return tl.load(hrow[None, :] + kk[:, None], mask=(kk < H)[:, None] & rmask[None, :], other=0.0,
                   cache_modifier=".cg")


@triton.jit(do_not_specialize=["B", "T", "tile0", "s_begin", "n_steps", "spin_limit"])
def _lstm_fwd_kernel(
    xproj_ptr, w_ptr, peep_ptr, y_ptr,  # [B,T,D,4H], [D,4H,H], [D,3,H] (PEEPHOLE), [B,T,D,H]
    hbuf_ptr, cstate_ptr,               # [2,D,B,H] h ping-pong (input dtype), [D,B,H] fp32 (c)
    hn_ptr, cn_ptr,                     # [D,B,H] fp32
    gsave_ptr, csave_ptr,               # [B,T,D,4H] activated gates, [B,T,D,H] fp32 c_t
    len_ptr, tile_len_ptr, rows_ptr,    # [B] int32, [n_btiles] int32, [B] int32 (Plan.rows)
    count_ptr, flag_ptr,                # [n_btiles, D] int32 barrier counters, [1] int32 timed out
    B, T, tile0, s_begin, n_steps, spin_limit,
    H: tl.constexpr, D: tl.constexpr, BH: tl.constexpr, BB: tl.constexpr, BK: tl.constexpr, NK: tl.constexpr,
    REVERSE: tl.constexpr, SYNC: tl.constexpr, SAVE: tl.constexpr,
    RESIDENT: tl.constexpr, DOT_PRECISION: tl.constexpr, INTERPRET: tl.constexpr, PEEPHOLE: tl.constexpr,
):
    d = tl.program_id(0)
    hb = tl.program_id(1)
    bt = tile0 + tl.program_id(2)   # a launch may cover a group of batch tiles
    n_hb = tl.num_programs(1)
    backward = (d == 1) | REVERSE

    slot = bt * BB + tl.arange(0, BB)             # this tile's slots of the length order   [BB]
    rmask = slot < B
    rows = tl.load(rows_ptr + slot, mask=rmask, other=0)   # their batch rows        [BB]
    rows64 = rows.to(tl.int64)
    cols = hb * BH + tl.arange(0, BH)             # hidden units of this program [BH]
    cmask = cols < H
    m_own = cmask[:, None] & rmask[None, :]       # [BH, BB]
    r = tl.arange(0, 4 * BH)                      # fused gate rows: gate r // BH of unit hb·BH + r % BH
    gcol = (r // BH) * H + hb * BH + r % BH       # their column of xproj (their row of W_hh)   [4BH]
    gmask = (hb * BH + r % BH) < H
    length = tl.load(len_ptr + rows, mask=rmask, other=0)
    tile_len = tl.load(tile_len_ptr + bt)
    if SYNC:
        ok = tl.load(flag_ptr) == 0   # False once a barrier of this launch timed out

    # this program's W_hh rows (its 4·BH gate rows) as [4BH, BK] K-chunks, on chip for the whole loop
    wd = w_ptr + d * (4 * H * H)
    ws = ()
    if RESIDENT:
        ws = w_chunks(wd, gcol * H, gmask, H, BK, NK, False, INTERPRET)
    if PEEPHOLE:
        pi, pf, po = _load_peep(peep_ptr, d, cols, cmask, H)   # [BH, 1] each

    state = (d * B + rows[None, :]) * H + cols[:, None]   # offsets in [D,B,H], transposed  [BH, BB]
    c = tl.load(cstate_ptr + state, mask=m_own, other=0.0)
    s0 = tl.minimum(s_begin, tile_len)
    h = tl.load(hbuf_ptr + (s0 % 2) * (D * B * H) + state, mask=m_own, other=0.0).to(tl.float32)

    if s_begin == 0:  # zero y past the tile's longest sequence (the loop never gets there)
        for t in range(tile_len, T):
            yz = y_ptr + ((rows64 * T + t) * D + d) * H
            tl.store(yz[None, :] + cols[:, None], tl.zeros([BH, BB], dtype=tl.float32), mask=m_own)

    s_end = tl.minimum(s_begin + n_steps, tile_len)
    for s in range(s_begin, s_end):
        active = (s < length) & rmask
        a2 = active[None, :]
        t = tl.where(backward, length - 1 - s, s)
        t = tl.where(active, t, s)  # inactive rows: y = 0 at time s (>= their length)
        tb = (rows64 * T + t) * D + d                                  # [BB]
        m_x = cmask[:, None] & a2
        # this step's own input (no other program writes it): issued before the barrier wait
        xrow = xproj_ptr + tb[None, :] * (4 * H) + cols[:, None]        # [BH, BB]
        xi = tl.load(xrow + 0 * H, mask=m_x, other=0.0)
        xf = tl.load(xrow + 1 * H, mask=m_x, other=0.0)
        xg = tl.load(xrow + 2 * H, mask=m_x, other=0.0)
        xo = tl.load(xrow + 3 * H, mask=m_x, other=0.0)
        if SYNC:  # every program's h_{t-1} stored (the arrives of the previous step)
            ok = grid_wait(count_ptr + bt * D + d, (s - s_begin) * n_hb, flag_ptr, spin_limit, ok, INTERPRET)
        # gatesᵀ [4BH, BB] = W[gate rows] @ h_{t-1}ᵀ (+ xprojᵀ below)
        hrow = hbuf_ptr + (s % 2) * (D * B * H) + (d * B + rows) * H   # [BB]
        acc = tl.zeros([4 * BH, BB], dtype=tl.float32)
        acc2 = tl.zeros([4 * BH, BB], dtype=tl.float32)
        if RESIDENT:
            # h_{t-1}ᵀ, all K-chunks issued together right after the wait: one round trip
            hs = ()
            for kc in tl.static_range(NK):
                hs = hs + (_h_chunk(hrow, rmask, kc * BK + tl.arange(0, BK), H),)   # [BK, BB]
            for kc in tl.static_range(NK):  # two independent accumulators
                hk = dot_operand(hs[kc], w_ptr, INTERPRET)
                if kc % 2 == 0:
                    acc = tl.dot(ws[kc], hk, acc, input_precision=DOT_PRECISION)
                else:
                    acc2 = tl.dot(ws[kc], hk, acc2, input_precision=DOT_PRECISION)
        else:  # weights streamed from L2: a runtime K loop, each h chunk next to its weights
            for kc in range(0, NK):
                kk = kc * BK + tl.arange(0, BK)
                hk = dot_operand(_h_chunk(hrow, rmask, kk, H), w_ptr, INTERPRET)
                acc = tl.dot(w_load(wd, gcol * H, gmask, kk, H, False, INTERPRET), hk, acc,
                             input_precision=DOT_PRECISION)
        ai, af, ag, ao = gates_split(acc + acc2, BH, BB)               # [BH, BB] each
        xi = xi.to(tl.float32) + ai
        xf = xf.to(tl.float32) + af
        xg = xg.to(tl.float32) + ag
        xo = xo.to(tl.float32) + ao
        if PEEPHOLE:  # i and f see c_{t-1}
            xi = xi + pi * c
            xf = xf + pf * c
        gi = tl.sigmoid(xi)
        gf = tl.sigmoid(xf)
        gg = tanh(xg)
        c_new = gf * c + gi * gg
        if PEEPHOLE:  # o sees c_t
            xo = xo + po * c_new
        go = tl.sigmoid(xo)
        h_new = go * tanh(c_new)
        c = tl.where(a2, c_new, c)
        h = tl.where(a2, h_new, h)

        own = tb[None, :] * H + cols[:, None]                          # [BH, BB] in [B,T,D,H]
        tl.store(y_ptr + own, tl.where(a2, h_new, 0.0), mask=m_own)
        if SAVE:
            grow = gsave_ptr + tb[None, :] * (4 * H) + cols[:, None]
            tl.store(grow + 0 * H, gi, mask=m_x)
            tl.store(grow + 1 * H, gf, mask=m_x)
            tl.store(grow + 2 * H, gg, mask=m_x)
            tl.store(grow + 3 * H, go, mask=m_x)
            tl.store(csave_ptr + own, c_new, mask=m_x)
        tl.store(hbuf_ptr + ((s + 1) % 2) * (D * B * H) + state, h, mask=m_own)
        if SYNC:
            grid_arrive(count_ptr + bt * D + d)   # waited for at the top of the next step
        else:
            tl.debug_barrier()  # this program reads back the h it just stored

    tl.store(cstate_ptr + state, c, mask=m_own)
    tl.store(hn_ptr + state, h, mask=m_own)
    tl.store(cn_ptr + state, c, mask=m_own)


@triton.jit(do_not_specialize=["B", "T", "tile0", "k_begin", "n_steps", "spin_limit"])
def _lstm_bwd_kernel(
    dy_ptr, w_ptr, peep_ptr,                       # [B,T,D,H], [D,4H,H], [D,3,H] (PEEPHOLE)
    gsave_ptr, csave_ptr, c0_ptr,                  # saved activated gates and c_t, [D,B,H] fp32 c_0
    dx_ptr, pbuf_ptr,                              # [B,T,D,4H] fp32 d xproj, [2,D,NHB,B,H] fp32 partial dh
    dh_ptr, dc_ptr,                                # [D,B,H] fp32: dh_n, dc_n in; dh_0, dc_0 out
    len_ptr, tile_len_ptr, rows_ptr, count_ptr, flag_ptr,
    B, T, tile0, k_begin, n_steps, spin_limit,
    H: tl.constexpr, D: tl.constexpr, BH: tl.constexpr, BB: tl.constexpr, BK: tl.constexpr, NK: tl.constexpr,
    NHB: tl.constexpr, REVERSE: tl.constexpr, SYNC: tl.constexpr,
    RESIDENT: tl.constexpr, DOT_PRECISION: tl.constexpr, INTERPRET: tl.constexpr, PEEPHOLE: tl.constexpr,
):
    d = tl.program_id(0)
    hb = tl.program_id(1)
    bt = tile0 + tl.program_id(2)   # a launch may cover a group of batch tiles
    n_hb = tl.num_programs(1)
    backward = (d == 1) | REVERSE

    slot = bt * BB + tl.arange(0, BB)             # this tile's slots of the length order   [BB]
    rmask = slot < B
    rows = tl.load(rows_ptr + slot, mask=rmask, other=0)   # their batch rows        [BB]
    rows64 = rows.to(tl.int64)
    cols = hb * BH + tl.arange(0, BH)
    cmask = cols < H
    m_own = cmask[:, None] & rmask[None, :]       # [BH, BB]
    r = tl.arange(0, 4 * BH)
    gcol = (r // BH) * H + hb * BH + r % BH       # this program's gate rows of W_hh   [4BH]
    gmask = (hb * BH + r % BH) < H
    length = tl.load(len_ptr + rows, mask=rmask, other=0)
    tile_len = tl.load(tile_len_ptr + bt)
    if SYNC:
        ok = tl.load(flag_ptr) == 0   # False once a barrier of this launch timed out

    # partial dh_{t-1} over this program's gate rows, for every unit: W[gate rows, :]ᵀ as [BK, 4BH] chunks
    # (the forward's slice, transposed)
    wd = w_ptr + d * (4 * H * H)
    ws = ()
    if RESIDENT:
        ws = w_chunks(wd, gcol * H, gmask, H, BK, NK, True, INTERPRET)
    if PEEPHOLE:
        pi, pf, po = _load_peep(peep_ptr, d, cols, cmask, H)   # [BH, 1] each

    state = (d * B + rows[None, :]) * H + cols[:, None]   # [BH, BB]
    dh = tl.load(dh_ptr + state, mask=m_own, other=0.0)
    dc = tl.load(dc_ptr + state, mask=m_own, other=0.0)
    c_first = tl.load(c0_ptr + state, mask=m_own, other=0.0)

    if k_begin == 0:  # zero d xproj past the tile's longest sequence
        for t in range(tile_len, T):
            xz = dx_ptr + ((rows64 * T + t) * D + d) * (4 * H)
            zero = tl.zeros([BH, BB], dtype=tl.float32)
            for gate in tl.static_range(4):
                tl.store(xz[None, :] + gate * H + cols[:, None], zero, mask=m_own)

    # iteration k consumes the partial dh of step s + 1 (the sum of every program's) and produces
    # step s = tile_len - 1 - k; the last iteration (s = -1) only consumes.
    pstride = D * NHB * B * H                     # one ping-pong half of pbuf
    k_end = tl.minimum(k_begin + n_steps, tile_len + 1)
    for k in range(k_begin, k_end):
        s = tile_len - 1 - k
        # this step's own inputs (saved by the forward): issued before the barrier wait
        active = (s < length) & rmask & (s >= 0)
        a2 = active[None, :]
        m_x = cmask[:, None] & a2
        t = tl.where(backward, length - 1 - s, s)
        t = tl.where(active, t, s)
        t_prev = tl.where(backward, t + 1, t - 1)
        tb = (rows64 * T + t) * D + d
        tb_prev = (rows64 * T + t_prev) * D + d
        grow = gsave_ptr + tb[None, :] * (4 * H) + cols[:, None]
        gi = tl.load(grow + 0 * H, mask=m_x, other=0.0).to(tl.float32)
        gf = tl.load(grow + 1 * H, mask=m_x, other=0.0).to(tl.float32)
        gg = tl.load(grow + 2 * H, mask=m_x, other=0.0).to(tl.float32)
        go = tl.load(grow + 3 * H, mask=m_x, other=0.0).to(tl.float32)
        c_t = tl.load(csave_ptr + tb[None, :] * H + cols[:, None], mask=m_x, other=0.0)
        c_prev = tl.load(csave_ptr + tb_prev[None, :] * H + cols[:, None], mask=m_x & (s > 0), other=0.0)
        dy = tl.load(dy_ptr + tb[None, :] * H + cols[:, None], mask=m_x, other=0.0).to(tl.float32)
        if SYNC:  # every program's partials of step s + 1 stored
            ok = grid_wait(count_ptr + bt * D + d, (k - k_begin) * n_hb, flag_ptr, spin_limit, ok, INTERPRET)
        if k > 0:
            sp = s + 1
            pb = pbuf_ptr + (sp % 2) * pstride + d * (NHB * B * H) + rows[None, :] * H + cols[:, None]
            acc = tl.zeros([BH, BB], dtype=tl.float32)
            for p in tl.static_range(NHB):  # every program's partial, one run of loads
                acc += tl.load(pb + p * (B * H), mask=m_own, other=0.0, cache_modifier=".cg")
            dh = tl.where(((sp < length) & rmask)[None, :], acc, dh)
        if s >= 0:
            c_prev = tl.where(s > 0, c_prev, c_first)
            dh_t = dh + dy
            tc = tanh(c_t)
            dc_t = dc + dh_t * go * (1.0 - tc * tc)
            if PEEPHOLE:  # o saw c_t: dc_t += do ⊙ p_o (the compiler shares do with p_o below)
                dc_t = dc_t + tl.where(a2, dh_t * tc * go * (1.0 - go), 0.0) * po
            p_i = tl.where(a2, dc_t * gg * gi * (1.0 - gi), 0.0)
            p_f = tl.where(a2, dc_t * c_prev * gf * (1.0 - gf), 0.0)
            p_g = tl.where(a2, dc_t * gi * (1.0 - gg * gg), 0.0)
            p_o = tl.where(a2, dh_t * tc * go * (1.0 - go), 0.0)
            dc_prev = dc_t * gf
            if PEEPHOLE:  # i and f saw c_{t-1}
                dc_prev = dc_prev + p_i * pi + p_f * pf
            dc = tl.where(a2, dc_prev, dc)

            xrow = dx_ptr + tb[None, :] * (4 * H) + cols[:, None]  # inactive rows write their zeros at time s
            tl.store(xrow + 0 * H, p_i, mask=m_own)
            tl.store(xrow + 1 * H, p_f, mask=m_own)
            tl.store(xrow + 2 * H, p_g, mask=m_own)
            tl.store(xrow + 3 * H, p_o, mask=m_own)
            # partial dh_{t-1}ᵀ [H, BB] = W[gate rows, :]ᵀ @ d xprojᵀ[gate rows]: one dot per K-chunk of H
            dp = dot_operand(gates_join(p_i, p_f, p_g, p_o, BH, BB), w_ptr, INTERPRET)   # [4BH, BB]
            pown = pbuf_ptr + (s % 2) * pstride + (d * NHB + hb) * (B * H) + rows[None, :] * H    # [1, BB]
            if RESIDENT:
                for kc in tl.static_range(NK):
                    kk = kc * BK + tl.arange(0, BK)
                    part = tl.dot(ws[kc], dp, input_precision=DOT_PRECISION)   # [BK, 4BH] @ [4BH, BB]
                    tl.store(pown + kk[:, None], part, mask=(kk < H)[:, None] & rmask[None, :])
            else:  # weights streamed from L2: a runtime loop over the chunks
                for kc in range(0, NK):
                    kk = kc * BK + tl.arange(0, BK)
                    part = tl.dot(w_load(wd, gcol * H, gmask, kk, H, True, INTERPRET), dp,
                                  input_precision=DOT_PRECISION)
                    tl.store(pown + kk[:, None], part, mask=(kk < H)[:, None] & rmask[None, :])
        if SYNC:  # (also after the last, consume-only iteration: on every path from a poll to the next)
            grid_arrive(count_ptr + bt * D + d)   # waited for at the top of the next iteration
        else:
            tl.debug_barrier()

    tl.store(dh_ptr + state, dh, mask=m_own)
    tl.store(dc_ptr + state, dc, mask=m_own)


# --------------------------------------------------------------------------------------
# launcher

def plan_lstm(B: int, T: int, D: int, H: int, lengths: torch.Tensor, dtype: torch.dtype,
              config: LaunchConfig | None, arch: int | None, P: int = 0) -> Plan:
    """The plan of one call; config None: the launch table on sm_<arch> (configs.cell_config; the
    backward kernel may take its own block_k / warps)."""
    caps = launch_maxnreg("lstm", H, dtype, arch, dot_precision(dtype), config)
    config, bwd = launch_configs("lstm", H, dtype, arch, dot_precision(dtype), config)
    return make_plan(B, T, D, H, lengths, dtype, config, lambda BH, BP: 4 * BH * H, bwd, sort_rows=True,
                     maxnreg=caps)


def fwd_constexprs(plan: Plan, reverse: bool) -> dict:
    return dict(H=plan.H, D=plan.D, BH=plan.BH, BB=plan.BB, BK=plan.BK, NK=triton.cdiv(plan.H, plan.BK),
                REVERSE=reverse, RESIDENT=plan.resident, DOT_PRECISION=plan.dot_precision, INTERPRET=INTERPRET,
                PEEPHOLE=False)


def bwd_constexprs(plan: Plan, reverse: bool) -> dict:
    return dict(fwd_constexprs(plan, reverse), BK=plan.bwd_BK, NK=triton.cdiv(plan.H, plan.bwd_BK), NHB=plan.n_hb)


def _forward(xproj, w_hh, peep, lengths, h0, c0, reverse: bool, save: bool, plan: Plan):
    """peep [D, 3, H]: the peephole LSTM (PEEPHOLE, kernels.peephole); None: the LSTM."""
    B, T, D, G = xproj.shape
    H = G // 4
    dev, dtype = xproj.device, xproj.dtype
    f32 = torch.float32

    y = alloc((B, T, D, H), dtype, dev)
    hbuf = alloc((2, D, B, H), dtype, dev)  # h_{t-1} only feeds the dot: the weights' dtype
    hbuf[0] = 0.0 if h0 is None else h0
    cstate = torch.zeros(D, B, H, dtype=f32, device=dev) if c0 is None else c0.to(f32).clone()  # the kernel writes it
    hn = alloc((D, B, H), f32, dev)
    cn = alloc((D, B, H), f32, dev)
    if save:
        gsave = alloc((B, T, D, G), dtype, dev, fill_nan=False)
        csave = alloc((B, T, D, H), f32, dev, fill_nan=False)
    else:
        gsave, csave = y, hn  # never touched (SAVE=False)
    args = [xproj, w_hh, peep, y, hbuf, cstate, hn, cn, gsave, csave, lengths, plan.tile_len, plan.rows]
    constexprs = dict(fwd_constexprs(plan, reverse), SAVE=save, PEEPHOLE=peep is not None)
    plan.launch(_lstm_fwd_kernel, args, constexprs, plan.max_len, inout=[hbuf, cstate], maxnreg=plan.maxnreg)
    saved = (gsave, csave) if save else None
    return y, hn.to(dtype), cn.to(dtype), saved, plan


def _backward(dy, dhn, dcn, w_hh, peep, c0, saved, plan: Plan, reverse: bool):
    B, T, D, H = plan.B, plan.T, plan.D, plan.H
    dev = w_hh.device
    f32 = torch.float32
    gsave, csave = saved
    dx = alloc((B, T, D, 4 * H), f32, dev)
    pbuf = alloc((2, D, plan.n_hb, B, H), f32, dev)  # every program's partial dh_{t-1}
    dh = torch.zeros(D, B, H, dtype=f32, device=dev) if dhn is None else dhn.to(f32).clone()
    dc = torch.zeros(D, B, H, dtype=f32, device=dev) if dcn is None else dcn.to(f32).clone()
    c_first = torch.zeros(D, B, H, dtype=f32, device=dev) if c0 is None else c0.to(f32).contiguous()
    dy = torch.zeros(B, T, D, H, dtype=w_hh.dtype, device=dev) if dy is None else dy.contiguous()
    args = [dy, w_hh, peep, gsave, csave, c_first, dx, pbuf, dh, dc, plan.lengths, plan.tile_len, plan.rows]
    constexprs = dict(bwd_constexprs(plan, reverse), PEEPHOLE=peep is not None)
    plan.launch(_lstm_bwd_kernel, args, constexprs, plan.max_len + 1, plan.bwd_num_warps, inout=[dh, dc],
                maxnreg=plan.bwd_maxnreg)
    return dx, dh, dc


class LSTMRecurrence(torch.autograd.Function):
    @staticmethod
    def forward(ctx, xproj, w_hh, lengths, h0, c0, reverse, config):
        save = any(ctx.needs_input_grad[i] for i in (0, 1, 3, 4))
        plan = plan_lstm(*xproj.shape[:3], xproj.shape[3] // 4, lengths, xproj.dtype, config,
                         device_arch(xproj.device))
        y, hn, cn, saved, plan = _forward(xproj, w_hh, None, lengths, h0, c0, reverse, save, plan)
        ctx.plan, ctx.reverse = plan, reverse
        if save:
            ctx.save_for_backward(w_hh, h0, c0, y, *saved)
        return y, hn, cn

    @staticmethod
    def backward(ctx, dy, dhn, dcn):
        w_hh, h0, c0, y, gsave, csave = ctx.saved_tensors
        plan = ctx.plan
        dx, dh0, dc0 = _backward(dy, dhn, dcn, w_hh, None, c0, (gsave, csave), plan, ctx.reverse)
        d_xproj = dx.to(w_hh.dtype) if ctx.needs_input_grad[0] else None
        d_w = None
        if ctx.needs_input_grad[1]:
            prev = previous_h(y, h0, plan.lengths, ctx.reverse).float()  # [B, T, D, H]
            d_w = torch.einsum("btdg,btdh->dgh", dx, prev).to(w_hh.dtype)  # [D, 4H, H]
        d_h0 = dh0.to(w_hh.dtype) if ctx.needs_input_grad[3] else None
        d_c0 = dc0.to(w_hh.dtype) if ctx.needs_input_grad[4] else None
        return d_xproj, d_w, None, d_h0, d_c0, None, None


def lstm_recurrence(
    xproj: torch.Tensor,
    w_hh: torch.Tensor,
    lengths: torch.Tensor | None = None,
    h0: torch.Tensor | None = None,
    c0: torch.Tensor | None = None,
    reverse: bool = False,
    *,
    config: LaunchConfig | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The LSTM recurrence of one layer, all directions in one persistent launch.

    xproj   [B, T, D, 4H]  x·W_ihᵀ + b_ih + b_hh for every step, gate order i, f, g, o
    w_hh    [D, 4H, H]     d = 0 forward, d = 1 reverse (D = 1: one direction)
    lengths [B] int        valid frames per sequence (None: all T), 1 <= length <= T
    h0, c0  [D, B, H]      initial state (None: zeros)
    reverse                D = 1 only: run that direction backwards in time
    -> y [B, T, D, H] (zero past each length), h_n [D, B, H], c_n [D, B, H]
       (states at each sequence's own end). Differentiable in xproj, w_hh, h0, c0.
    dtypes: float32, bfloat16, float16 (state and accumulation in float32).
    config (keyword): override the launch geometry (tests, benchmarks).
    """
    check_inputs(xproj, w_hh, lengths, h0, c0, reverse)
    lengths, (h0, c0) = kernel_inputs(xproj, lengths, {"w_hh": w_hh}, h0, c0)
    return LSTMRecurrence.apply(xproj.contiguous(), w_hh.contiguous(), lengths, h0, c0, bool(reverse), config)


CELL = Cell("lstm", lstm_recurrence, lstm_recurrence_reference, gates=4, plan=plan_lstm, kernels={
    "fwd": Kernel(_lstm_fwd_kernel, fwd_constexprs, frozenset({"xproj_ptr", "w_ptr", "y_ptr", "hbuf_ptr", "gsave_ptr"}),
                  none_args=frozenset({"peep_ptr"})),
    "bwd": Kernel(_lstm_bwd_kernel, bwd_constexprs, frozenset({"dy_ptr", "w_ptr", "gsave_ptr"}),
                  none_args=frozenset({"peep_ptr"}), backward=True)})
