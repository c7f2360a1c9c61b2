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

The recurrence runs through `kernels.lstm`'s kernels with PEEPHOLE = True (see its header: grid,
weight residency, barrier, step mode and launch plan are the LSTM's; the peepholes are per unit, so
a program loads only its BH slice of them). This module keeps the peephole launch configuration
(kernels.configs.family_config("peephole", ...): its own block_k / num_warps per H, dtype and arch,
the same for forward and backward), the autograd Function and the gradient of the peepholes.
"""
from __future__ import annotations

import torch

from kernels.common import (Cell, Kernel, Plan, device_arch, dot_precision, kernel_inputs, make_plan, previous_h,
                            valid_steps)
from kernels.configs import LaunchConfig, launch_configs, launch_maxnreg
from kernels.lstm import _backward, _forward, _lstm_bwd_kernel, _lstm_fwd_kernel, fwd_constexprs
from kernels.lstm import bwd_constexprs as bwd_constexprs_lstm
from kernels.reference import check_peephole_inputs, peephole_lstm_recurrence_reference


# --------------------------------------------------------------------------------------
# launcher

def plan_peephole(B: int, T: int, D: int, H: int, lengths: torch.Tensor, dtype: torch.dtype,
                  config: LaunchConfig | None, arch: int | None, P: int = 0) -> Plan:
    """kernels.lstm's plan with the peephole family's launch config (forward and backward alike)."""
    caps = launch_maxnreg("peephole", H, dtype, arch, dot_precision(dtype), config)
    config, bwd = launch_configs("peephole", H, dtype, arch, dot_precision(dtype), config)
    return make_plan(B, T, D, H, lengths, dtype, config, lambda BH, BP: 4 * BH * H, bwd, sort_rows=True,
                     maxnreg=caps)


def constexprs(plan: Plan, reverse: bool) -> dict:
    """kernels.lstm's kernels with the peepholes compiled in."""
    return dict(fwd_constexprs(plan, reverse), PEEPHOLE=True)


def bwd_constexprs(plan: Plan, reverse: bool) -> dict:
    return dict(bwd_constexprs_lstm(plan, reverse), PEEPHOLE=True)


class PeepholeLSTMRecurrence(torch.autograd.Function):
    @staticmethod
    def forward(ctx, xproj, w_hh, peep, lengths, h0, c0, reverse, config):
        save = any(ctx.needs_input_grad[i] for i in (0, 1, 2, 4, 5))
        B, T, D, G = xproj.shape
        plan = plan_peephole(B, T, D, G // 4, lengths, xproj.dtype, config, device_arch(xproj.device))
        y, hn, cn, saved, plan = _forward(xproj, w_hh, peep, lengths, h0, c0, reverse, save, plan)
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
            prev = previous_h(y, h0, plan.lengths, ctx.reverse).float()  # [B, T, D, H]
            d_w = torch.einsum("btdg,btdh->dgh", dx, prev).to(w_hh.dtype)  # [D, 4H, H]
        if ctx.needs_input_grad[2]:
            c_t = torch.where(valid_steps(plan.lengths, plan.T), csave, 0.0)  # [B, T, D, H]
            c_prev = previous_h(c_t, c0, plan.lengths, ctx.reverse)
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
    lengths, (h0, c0) = kernel_inputs(xproj, lengths, {"w_hh": w_hh, "peep": peep}, h0, c0)
    return PeepholeLSTMRecurrence.apply(xproj.contiguous(), w_hh.contiguous(), peep.contiguous(), lengths, h0, c0,
                                        bool(reverse), config)


_DTYPE_PTRS = frozenset({"xproj_ptr", "w_ptr", "peep_ptr", "y_ptr", "hbuf_ptr", "gsave_ptr", "dy_ptr"})
CELL = Cell("peephole", peephole_lstm_recurrence, peephole_lstm_recurrence_reference, gates=4, plan=plan_peephole,
            extra_params=("weight_peep",), kernels={"fwd": Kernel(_lstm_fwd_kernel, constexprs, _DTYPE_PTRS),
                                                    "bwd": Kernel(_lstm_bwd_kernel, bwd_constexprs, _DTYPE_PTRS,
                                                                  backward=True)})
