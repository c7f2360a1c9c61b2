"""`torch.nn.LSTM` / `torch.nn.GRU` parameters -> the recurrence kernels' inputs, one layer at a time.

The one place where parameters in torch's naming become what `cell.fn` / `cell.reference` take, for
the model (`asr.rnn.LSTMStack`) and the benchmark (`benchmarks.providers.ChainRunner`) alike:

    torch names, layer k, direction suffix s in ("", "_reverse")[:D]:
        weight_ih_l{k}{s} [G, I]   weight_hh_l{k}{s} [G, H|P]   bias_ih_l{k}{s} [G]   bias_hh_l{k}{s} [G]
        + the cell's extra_params: weight_peep_l{k}{s} [3, H] (peephole), weight_hr_l{k}{s} [P, H] (LSTMP)
    kernel inputs, stacked over the D directions (G = gates · H):
        w_ih [D, G, I]   b_ih [D, G]   b_hh [D, G]   w_hh [D, G, H|P]   extras: [b_hn [D, H]] + extra_params [D, ...]
    the layer:
        xproj = x · W_ihᵀ + b_ih + b_hh           [B, T, D, G]
        y = cell.fn(xproj, w_hh, *extras, lengths)[0]   [B, T, D, H|P]

b_hh is the part of bias_hh that folds into xproj: all of it for the LSTM cells; for the GRU (the
cell's `kernel_bias_gates` = 1) its last H entries, b_hn, are zeroed there and passed as the first
extra, because torch.nn.GRU applies b_hn inside the reset gate: n = tanh(x W_inᵀ + b_in + r ⊙ (h W_hnᵀ + b_hn)).

Only tensors are read (`params[name]` or `getattr(params, name)`: a module or a name -> tensor
mapping); the results stay on autograd's graph of those tensors.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import torch


@dataclass
class LayerParams:
    """One layer's kernel inputs, stacked over directions (shapes in the module docstring)."""

    w_ih: torch.Tensor  # [D, G, I]
    b_ih: torch.Tensor  # [D, G]
    b_hh: torch.Tensor  # [D, G]: folds into xproj (GRU: b_hn zeroed)
    w_hh: torch.Tensor  # [D, G, H|P]
    extras: list[torch.Tensor]  # after w_hh in the recurrence's arguments: [b_hn [D, H]] (GRU) + extra_params

    @property
    def gates(self) -> int:
        """G = gates · H: the width of xproj per direction."""
        return self.w_ih.shape[1]


def layer_params(params, cell, layer: int = 0, directions: int = 2) -> LayerParams:
    """Stack layer `layer`'s parameters of both directions for `cell` (a `kernels.common.Cell`: reads its
    `kernel_bias_gates` and `extra_params`). `params`: an nn.LSTM / nn.GRU / PeepholeLSTM, or a mapping
    from torch's parameter names to tensors."""
    get = params.__getitem__ if isinstance(params, Mapping) else lambda n: getattr(params, n)
    sfx = ["", "_reverse"][:directions]

    def stack(stem):  # both directions' parameter: [D, ...]
        return torch.stack([get(f"{stem}_l{layer}{s}") for s in sfx])

    w_ih, b_ih, b_hh, w_hh = stack("weight_ih"), stack("bias_ih"), stack("bias_hh"), stack("weight_hh")
    G = w_ih.shape[1]
    kb = cell.kernel_bias_gates * (G // cell.gates)  # GRU: H entries of b_hh stay inside the kernel
    extras = [stack(p) for p in cell.extra_params]
    if kb:
        extras = [b_hh[:, G - kb:]] + extras
        b_hh = torch.cat([b_hh[:, :G - kb], torch.zeros_like(b_hh[:, G - kb:])], dim=1)
    return LayerParams(w_ih, b_ih, b_hh, w_hh, extras)
