"""The recurrent stack of the encoder and its `backend: auto | triton | torch` seam.

`LSTMStack` keeps one `torch.nn.LSTM(num_layers=1, bidirectional=True)` per layer, so the
parameters (and checkpoints) are the same whichever backend runs them:
- torch:  `torch.nn.LSTM`: packed sequences on GPU (cuDNN); on CPU each direction on the padded
          batch, the reverse one over sequences flipped within their lengths (packed backward is slow);
- triton: the input projection of both directions in one matmul, then the persistent
          recurrence `kernels.lstm_recurrence` (see ARCHITECTURE.md, "The kernel seam").
The `cell` picks the layer: lstm (with proj_size: LSTMP, `kernels.lstmp_recurrence`), gru
(`torch.nn.GRU` / `kernels.gru_recurrence`) or peephole (`PeepholeLSTM`: nn.LSTM's parameters plus
diagonal peepholes; torch backend = the plain-PyTorch `kernels.reference` loop). Optional
`SelfAttention` blocks (multi-head, residual + layer norm, masked by lengths) go after chosen layers.
"""
from __future__ import annotations

import functools
import logging

import torch
import torch.nn as nn
from torch.func import functional_call
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from asr.errors import ASRError, ConfigError  # noqa: F401  (ConfigError: importable from here too)

log = logging.getLogger(__name__)

BACKENDS = ("auto", "triton", "torch")



CELLS = ("lstm", "peephole", "gru")


def resolve_backend(backend: str, device: torch.device | str) -> str:
    """`auto` -> triton on CUDA, torch elsewhere (every cell, LSTMP included, has a kernel)."""
    if backend not in BACKENDS:
        raise ConfigError(f"model.backend={backend!r} is not one of: {', '.join(BACKENDS)}")
    on_cuda = torch.device(device).type == "cuda"
    if backend == "auto":
        backend = "triton" if on_cuda else "torch"
    return backend


class PeepholeLSTM(nn.Module):
    """One (bi)directional peephole-LSTM layer (Gers & Schmidhuber): `torch.nn.LSTM`'s parameters
    (same names and init) plus diagonal peepholes `weight_peep_l0[_reverse]` [3, H] = (p_i, p_f, p_o),
    initialised to zero (the layer starts as a plain LSTM)."""

    def __init__(self, input_size: int, hidden_size: int, bidirectional: bool = True):
        super().__init__()
        self.input_size, self.hidden_size, self.bidirectional = input_size, hidden_size, bidirectional
        template = nn.LSTM(input_size, hidden_size, bidirectional=bidirectional, batch_first=True)
        for name, p in template.named_parameters():
            self.register_parameter(name, p)
        for sfx in ["", "_reverse"][: 2 if bidirectional else 1]:
            self.register_parameter(f"weight_peep_l0{sfx}", nn.Parameter(torch.zeros(3, hidden_size)))


class SelfAttention(nn.Module):
    """Multi-head self-attention over the frames, residual + layer norm: x [B, T, C] -> [B, T, C];
    padded frames are masked as keys and zeroed in the output."""

    def __init__(self, dim: int, heads: int, dropout: float = 0.0):
        super().__init__()
        if heads < 1 or dim % heads:
            raise ConfigError(f"model.attention.heads={heads} must be >= 1 and divide the encoder width {dim}")
        self.attn = nn.MultiheadAttention(dim, heads, dropout=dropout, batch_first=True)
        self.dropout = nn.Dropout(dropout)
        self.norm = nn.LayerNorm(dim)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        pad = torch.arange(x.shape[1], device=x.device)[None, :] >= lengths.to(x.device)[:, None]  # [B, T]
        a, _ = self.attn(x, x, x, key_padding_mask=pad, need_weights=False)
        return self.norm(x + self.dropout(a)).masked_fill(pad[..., None], 0.0)


def attention_layers(attention: dict | None, num_layers: int) -> list[int]:
    """The layer numbers (1 = after the first recurrent layer) followed by an attention block."""
    if not attention or not attention.get("enabled", False):
        return []
    after = attention.get("after_layers")
    after = [num_layers] if after is None else [int(a) for a in after]
    bad = [a for a in after if not 1 <= a <= num_layers]
    if bad or not after:
        raise ConfigError(f"model.attention.after_layers={after} must list layer numbers in [1, {num_layers}]")
    return sorted(set(after))


class LSTMStack(nn.Module):
    """Stacked (bi)directional LSTM over padded batches: x [B, T, F], lengths [B] -> y [B, T, D*H]."""

    def __init__(self, input_size: int, hidden_size: int, num_layers: int, proj_size: int = 0,
                 dropout: float = 0.0, bidirectional: bool = True, backend: str = "auto", cell: str = "lstm",
                 attention: dict | None = None):
        super().__init__()
        if backend not in BACKENDS:
            raise ConfigError(f"model.backend={backend!r} is not one of: {', '.join(BACKENDS)}")
        if cell not in CELLS:
            raise ConfigError(f"model.cell={cell!r} is not one of: {', '.join(CELLS)}")
        if proj_size and cell != "lstm":
            raise ConfigError(f"model.proj_size={proj_size} needs model.cell=lstm (got {cell!r})")
        if num_layers < 1:
            raise ConfigError(f"model.num_layers={num_layers} must be >= 1")
        if not 0 <= proj_size < hidden_size:
            raise ConfigError(f"model.proj_size={proj_size} must be 0 (off) or in [1, hidden_size={hidden_size})")
        self.backend = backend
        self.num_dirs = 2 if bidirectional else 1
        self.hidden_size = hidden_size
        self.proj_size = proj_size
        out = proj_size or hidden_size
        self.output_size = self.num_dirs * out
        self.cell = cell
        self.layers = nn.ModuleList(self._make_layer(input_size if i == 0 else self.output_size, bidirectional)
                                    for i in range(num_layers))
        heads = int((attention or {}).get("heads", 4))
        self.attention = nn.ModuleDict({str(k): SelfAttention(self.output_size, heads, dropout)
                                        for k in attention_layers(attention, num_layers)})
        self.dropout = nn.Dropout(dropout)
        self._logged: str | None = None
        self._uni: dict[tuple, nn.Module] = {}  # plain dict: not submodules, not in the state_dict

    def _make_layer(self, input_size: int, bidirectional: bool) -> nn.Module:
        if self.cell == "gru":
            return nn.GRU(input_size, self.hidden_size, num_layers=1, bidirectional=bidirectional, batch_first=True)
        if self.cell == "peephole":
            return PeepholeLSTM(input_size, self.hidden_size, bidirectional)
        return nn.LSTM(input_size, self.hidden_size, num_layers=1, bidirectional=bidirectional, batch_first=True,
                       proj_size=self.proj_size)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        backend = resolve_backend(self.backend, x.device)
        if backend != self._logged:
            log.info("LSTMStack: %d %s layers x %d (%s) on the %s backend (%s)", len(self.layers), self.cell,
                     self.hidden_size, "bidirectional" if self.num_dirs == 2 else "forward", backend, x.device)
            self._logged = backend
        if backend == "triton" or self.cell == "peephole":  # peephole on torch: the reference loop
            run = functools.partial(self._layer_kernels, backend=backend)
        else:  # cuDNN handles packed sequences well; on CPU their backward is slow
            run = self._layer_packed if x.is_cuda else self._layer_torch
        for i, lstm in enumerate(self.layers):
            if i > 0:
                x = self.dropout(x)  # between layers, like nn.LSTM(dropout=...)
            x = run(lstm, x, lengths)
            if str(i + 1) in self.attention:
                x = self.attention[str(i + 1)](x, lengths)
        return x, lengths

    @staticmethod
    def _layer_packed(lstm: nn.LSTM, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        T = x.shape[1]
        packed = pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)
        y, _ = pad_packed_sequence(lstm(packed)[0], batch_first=True, total_length=T)  # [B, T, D*H]
        return y

    def _layer_torch(self, lstm: nn.LSTM, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        # Not pack_padded_sequence: its backward is ~8x slower on CPU. Each direction runs on the
        # padded batch instead: forward as is (exact for t < length), reverse over the sequences
        # flipped within their lengths, so it starts at each utterance's last frame, not the padding.
        B, T, _ = x.shape
        t = torch.arange(T, device=x.device)[None, :]  # [1, T]
        valid = t < lengths[:, None]  # [B, T]
        flip = torch.where(valid, lengths[:, None] - 1 - t, t)  # [B, T]: mirror frame within the length
        uni = self._unidirectional(lstm)
        outs = []
        for d in range(self.num_dirs):
            sfx = "_reverse" if d else ""
            params = {name: getattr(lstm, name + sfx) for name in uni._flat_weights_names}
            xin = x.gather(1, flip[..., None].expand_as(x)) if d else x
            y, _ = functional_call(uni, params, (xin,))  # [B, T, H]
            outs.append(y.gather(1, flip[..., None].expand_as(y)) if d else y)
        return torch.cat(outs, dim=-1) * valid[..., None]  # [B, T, D*H], zeros past lengths

    def _unidirectional(self, lstm: nn.Module) -> nn.Module:
        """A one-direction LSTM (or GRU) shaped like `lstm`, run with `lstm`'s weights (its own are never used).

        Built on the meta device: no memory, and no draw from the RNG (which would break resume)."""
        key = (type(lstm), lstm.input_size, lstm.hidden_size, lstm.proj_size)
        if key not in self._uni:
            kw = {"proj_size": lstm.proj_size} if isinstance(lstm, nn.LSTM) else {}
            self._uni[key] = type(lstm)(*key[1:3], batch_first=True, device="meta", **kw)
        return self._uni[key]

    def _layer_kernels(self, lstm: nn.Module, x: torch.Tensor, lengths: torch.Tensor, backend: str) -> torch.Tensor:
        """One layer through the kernel seam: the Triton kernels, or (peephole cell, torch backend)
        the plain-PyTorch `kernels.reference` twin."""
        from kernels import cells  # lazy: Triton is only needed on this path
        from kernels.params import layer_params

        cell = cells.get("lstmp" if self.proj_size else self.cell)
        B, T, _ = x.shape
        D = self.num_dirs
        p = layer_params(lstm, cell, layer=0, directions=D)  # GRU: b_hn leaves b_hh for the kernel (first extra)
        G = p.gates  # 4H (lstm, peephole) or 3H (gru)
        # b_ih and b_hh go in by two ops, not as (b_ih + b_hh): that sum's backward hands both biases
        # one shared gradient tensor, which clip_grad_norm_ (in place, per parameter) then scales twice
        xproj = torch.addmm(p.b_ih.reshape(-1), x.reshape(B * T, -1), p.w_ih.reshape(D * G, -1).t())
        xproj = xproj.add_(p.b_hh.reshape(-1)).view(B, T, D, G)
        # under autocast xproj comes out bf16: the kernels take the weights in the same dtype
        dt, lengths = xproj.dtype, lengths.to(x.device)
        fn = cell.fn if backend == "triton" else cell.reference  # torch: only the peephole cell comes here
        y = fn(xproj, p.w_hh.to(dt), *[e.to(dt) for e in p.extras], lengths)[0]  # [B, T, D, H]
        return y.reshape(B, T, -1)
