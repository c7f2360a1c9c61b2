"""The recurrent stack of the encoder and its `backend: auto | triton | torch` seam.

`LSTMStack` keeps one `torch.nn.LSTM(num_layers=1, bidirectional=True)` per layer, so the
parameters (and checkpoints) are the same whichever backend runs them:
- torch:  `torch.nn.LSTM` over a packed sequence (cuDNN on GPU, MKL/oneDNN on CPU);
- triton: the input projection of both directions in one matmul, then the persistent
          recurrence `kernels.lstm_recurrence` (see ARCHITECTURE.md, "The kernel seam").
"""
from __future__ import annotations

import logging

import torch
import torch.nn as nn
from torch.func import functional_call
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

log = logging.getLogger(__name__)

BACKENDS = ("auto", "triton", "torch")


class ConfigError(ValueError):
    """A bad configuration value; the message names the key."""


def resolve_backend(backend: str, device: torch.device | str, proj_size: int = 0) -> str:
    """`auto` -> triton on CUDA, torch elsewhere. Projection (LSTMP) runs on torch for now."""
    if backend not in BACKENDS:
        raise ConfigError(f"model.backend={backend!r} is not one of: {', '.join(BACKENDS)}")
    on_cuda = torch.device(device).type == "cuda"
    if backend == "auto":
        backend = "triton" if on_cuda else "torch"
    if backend == "triton" and proj_size > 0:
        log.warning("model.backend=triton has no LSTMP (proj_size=%d) kernel yet: using torch", proj_size)
        backend = "torch"
    return backend


class LSTMStack(nn.Module):
    """Stacked (bi)directional LSTM over padded batches: x [B, T, F], lengths [B] -> y [B, T, D*H]."""

    def __init__(self, input_size: int, hidden_size: int, num_layers: int, proj_size: int = 0,
                 dropout: float = 0.0, bidirectional: bool = True, backend: str = "auto"):
        super().__init__()
        if backend not in BACKENDS:
            raise ConfigError(f"model.backend={backend!r} is not one of: {', '.join(BACKENDS)}")
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
        self.layers = nn.ModuleList(
            nn.LSTM(input_size if i == 0 else self.output_size, hidden_size, num_layers=1,
                    bidirectional=bidirectional, batch_first=True, proj_size=proj_size)
            for i in range(num_layers)
        )
        self.dropout = nn.Dropout(dropout)
        self._logged: str | None = None
        self._uni: dict[tuple, nn.LSTM] = {}  # plain dict: not submodules, not in the state_dict

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        backend = resolve_backend(self.backend, x.device, self.proj_size)
        if backend != self._logged:
            log.info("LSTMStack: %d layers x %d (%s) on the %s backend (%s)", len(self.layers),
                     self.hidden_size, "bidirectional" if self.num_dirs == 2 else "forward", backend, x.device)
            self._logged = backend
        if backend == "triton":
            run = self._layer_triton
        else:  # cuDNN handles packed sequences well; on CPU their backward is slow
            run = self._layer_packed if x.is_cuda else self._layer_torch
        for i, lstm in enumerate(self.layers):
            if i > 0:
                x = self.dropout(x)  # between layers, like nn.LSTM(dropout=...)
            x = run(lstm, x, lengths)
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

    def _unidirectional(self, lstm: nn.LSTM) -> nn.LSTM:
        """A one-direction LSTM shaped like `lstm`, run with `lstm`'s weights (its own are never used).

        Built on the meta device: no memory, and no draw from the RNG (which would break resume)."""
        key = (lstm.input_size, lstm.hidden_size, lstm.proj_size)
        if key not in self._uni:
            self._uni[key] = nn.LSTM(*key[:2], batch_first=True, proj_size=key[2], device="meta")
        return self._uni[key]

    def _layer_triton(self, lstm: nn.LSTM, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        import kernels  # lazy: Triton is only needed on this path

        B, T, _ = x.shape
        D, H = self.num_dirs, self.hidden_size
        sfx = ["", "_reverse"][:D]
        w_ih = torch.cat([getattr(lstm, f"weight_ih_l0{s}") for s in sfx])  # [D*4H, F]
        bias = torch.cat([getattr(lstm, f"bias_ih_l0{s}") + getattr(lstm, f"bias_hh_l0{s}") for s in sfx])
        w_hh = torch.stack([getattr(lstm, f"weight_hh_l0{s}") for s in sfx])  # [D, 4H, H]
        xproj = torch.addmm(bias, x.reshape(B * T, -1), w_ih.t()).view(B, T, D, 4 * H)
        # under autocast xproj comes out bf16: the kernel takes w_hh in the same dtype
        y, _, _ = kernels.lstm_recurrence(xproj, w_hh.to(xproj.dtype), lengths=lengths.to(x.device))  # [B, T, D, H]
        return y.reshape(B, T, D * H)
