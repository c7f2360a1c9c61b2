"""The providers: who runs the benchmark's problem, each built from the same seeded module.

- `ChainRunner`: layer by layer, one matmul for both directions' input projection, then a cell's
  recurrence (our kernels, the interpreter, the reference loops). The module's parameters become the
  kernels' inputs through `kernels.params.layer_params`, the helper `asr.rnn.LSTMStack` uses too:
    x [B,T,I] -> xproj = x·W_ihᵀ + b  [B,T,D,4H] -> lstm_recurrence       -> y [B,T,D,H] -> [B,T,D*H] -> next layer
    x [B,T,I] -> xproj = x·W_ihᵀ + b' [B,T,D,3H] -> gru_recurrence(b_hn) -> y [B,T,D,H] -> [B,T,D*H] -> next layer
  (GRU: b' = b_ih + [b_hr, b_hz, 0]; b_hn stays inside the reset gate, as in torch.nn.GRU.)
- `ModuleRunner`: `torch.nn.LSTM` / `torch.nn.GRU` itself (cuDNN on CUDA), padded or packed.

`PROVIDERS` names them for `bench.providers`; tests may register more. Providers that only compute
the LSTM (triton_peephole, triton_lstmp) report GRU rows as `n/a`.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Callable

import torch
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from benchmarks.problems import CELLS
from kernels import cells
from kernels.params import layer_params


class ChainRunner:
    """Layer by layer: one matmul for both directions' input projection, then the cell's recurrence.

    `recurrences` maps a cell to fn(xproj [B,T,D,GH], w_hh [D,GH,H], *extra, lengths) -> (y [B,T,D,H], ...);
    extra is () for the LSTM and (b_hn [D,H],) for the GRU, whose b_hr, b_hz fold into xproj's bias.
    """

    def __init__(self, rnn: torch.nn.LSTM | torch.nn.GRU, dtype: torch.dtype, device: str,
                 recurrences: dict[str, Callable]):
        self.cell = "gru" if isinstance(rnn, torch.nn.GRU) else "lstm"
        if self.cell not in recurrences:
            raise ValueError(f"no {self.cell} recurrence (this runner has {', '.join(recurrences)})")
        self.recurrence = recurrences[self.cell]
        cell, D = cells.get(self.cell), 2 if rnn.bidirectional else 1
        self.layers = []
        for k in range(rnn.num_layers):
            with torch.no_grad():  # leaves of their own, with nn.LSTM's / nn.GRU's values
                lp = layer_params(rnn, cell, layer=k, directions=D)
                w_ih = lp.w_ih.reshape(D * lp.gates, -1)  # [D*GH, I]
                b = (lp.b_ih + lp.b_hh).reshape(-1)  # [D*GH]; GRU: b_hr, b_hz fold in, b_hn is lp.extras[0]
            self.layers.append([t.to(device, dtype).requires_grad_() for t in [w_ih, b, lp.w_hh, *lp.extras]])
        self.params = [p for layer in self.layers for p in layer]
        self.directions = D

    def __call__(self, x: torch.Tensor, lengths: torch.Tensor | None) -> torch.Tensor:
        B, T, _ = x.shape
        for w_ih, b, w_hh, *extra in self.layers:
            xproj = torch.addmm(b, x.reshape(B * T, -1), w_ih.t()).view(B, T, self.directions, -1)  # [B,T,D,GH]
            y = self.recurrence(xproj, w_hh, *extra, lengths)[0]  # [B, T, D, H]
            x = y.reshape(B, T, -1)  # [B, T, D*H]
        return x

    def named_grads(self, grads) -> dict[str, torch.Tensor]:
        """Gradients of every parameter in nn.LSTM's / nn.GRU's naming. bias_ih gets the gradient of
        the folded bias b; bias_hh the same (LSTM) or, for the GRU, b's r, z parts and b_hn's gradient."""
        out = {}
        D, n = self.directions, len(self.layers[0])
        sfx = ["", "_reverse"][:D]
        for k in range(len(self.layers)):
            g_ih, g_b, g_hh, *g_extra = grads[n * k: n * k + n]
            for d, s in enumerate(sfx):
                g_bd = g_b.chunk(D)[d]  # [GH]
                out[f"weight_ih_l{k}{s}"] = g_ih.chunk(D)[d]
                out[f"weight_hh_l{k}{s}"] = g_hh[d]
                out[f"bias_ih_l{k}{s}"] = g_bd
                if self.cell == "gru":
                    H = g_extra[0].shape[-1]
                    out[f"bias_hh_l{k}{s}"] = torch.cat([g_bd[:2 * H], g_extra[0][d]])  # [3H]: b_hr, b_hz, b_hn
                else:
                    out[f"bias_hh_l{k}{s}"] = g_bd
        return out


class ModuleRunner:
    """`torch.nn.LSTM` / `torch.nn.GRU` (all layers in one call: cuDNN on CUDA), padded or packed input."""

    def __init__(self, rnn: torch.nn.LSTM | torch.nn.GRU, dtype: torch.dtype, device: str, packed: bool):
        self.rnn = copy.deepcopy(rnn).to(device, dtype)
        if device == "cuda":
            self.rnn.flatten_parameters()
        self.packed = packed
        self.names = [n for n, _ in self.rnn.named_parameters()]
        self.params = list(self.rnn.parameters())

    def __call__(self, x: torch.Tensor, lengths: torch.Tensor | None) -> torch.Tensor:
        if not self.packed:
            return self.rnn(x)[0]  # every sequence over all T frames
        B, T, _ = x.shape
        lengths = torch.full((B,), T) if lengths is None else lengths.cpu()
        packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
        y, _ = pad_packed_sequence(self.rnn(packed)[0], batch_first=True, total_length=T)
        return y  # [B, T, D*H]

    def named_grads(self, grads) -> dict[str, torch.Tensor]:
        return dict(zip(self.names, grads))


def _registered(kind: str, cell: str):
    """The registered cell's public recurrence (kind "fn") or its plain-PyTorch twin ("reference")."""
    def run(*args):
        return getattr(cells.get(cell), kind)(*args)
    return run


TRITON = {c: _registered("fn", c) for c in CELLS}  # cell -> ChainRunner recurrence (kernels.cells)
REFERENCE = {c: _registered("reference", c) for c in CELLS}


def _peephole_as_lstm(xproj, w_hh, lengths):
    """The peephole kernel with zero peepholes: the same function as the LSTM (so the same check)."""
    from kernels import peephole_lstm_recurrence

    peep = w_hh.new_zeros(w_hh.shape[0], 3, w_hh.shape[2])
    return peephole_lstm_recurrence(xproj, w_hh, peep, lengths)


def _lstmp_as_lstm(xproj, w_hh, lengths):
    """The two-phase LSTMP kernel with W_hr = I (P = H): the LSTM again, at the cost of a P = H projection."""
    from kernels import lstmp_recurrence

    D, _, H = w_hh.shape
    w_hr = torch.eye(H, dtype=w_hh.dtype, device=w_hh.device).expand(D, H, H).contiguous()
    return lstmp_recurrence(xproj, w_hh, w_hr, lengths)


@dataclass
class Provider:
    """How to build a runner from the seeded module; `device`: cuda (needs CUDA), cpu, or bench (= bench.device).
    `padded`: runs every sequence over all T frames (checked against the full-length reference).
    `path`: the implementation, for the table ({module}: LSTM or GRU). `cells`: the cells it can run;
    a shape of another cell gets an `n/a` row."""

    make: Callable[[torch.nn.Module, torch.dtype, str], object]
    device: str
    padded: bool = False
    path: str = ""
    cells: tuple[str, ...] = CELLS


# Tests may register extra providers here (see tests/benchmarks/test_bench.py).
PROVIDERS: dict[str, Provider] = {
    "triton": Provider(lambda m, dt, dev: ChainRunner(m, dt, dev, TRITON), "cuda", path="triton"),
    "triton_peephole": Provider(lambda m, dt, dev: ChainRunner(m, dt, dev, {"lstm": _peephole_as_lstm}), "cuda",
                                path="triton peephole (p = 0)", cells=("lstm",)),
    "triton_lstmp": Provider(lambda m, dt, dev: ChainRunner(m, dt, dev, {"lstm": _lstmp_as_lstm}), "cuda",
                             path="triton lstmp (W_hr = I)", cells=("lstm",)),
    "cudnn": Provider(lambda m, dt, dev: ModuleRunner(m, dt, dev, packed=False), "cuda", padded=True),
    "cudnn_packed": Provider(lambda m, dt, dev: ModuleRunner(m, dt, dev, packed=True), "cuda"),
    "reference": Provider(lambda m, dt, dev: ChainRunner(m, dt, dev, REFERENCE), "bench",
                          path="reference loop"),
    "torch": Provider(lambda m, dt, dev: ModuleRunner(m, dt, dev, packed=False), "cpu", padded=True,
                      path="nn.{module} cpu padded"),
    "torch_packed": Provider(lambda m, dt, dev: ModuleRunner(m, dt, dev, packed=True), "cpu",
                             path="nn.{module} cpu packed"),
    # Our kernels under TRITON_INTERPRET=1; always run in a subprocess (see _run_interpreter).
    "interpret": Provider(lambda m, dt, dev: ChainRunner(m, dt, dev, TRITON), "cpu",
                          path="triton interpreter"),
}
