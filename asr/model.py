"""`CTCModel`: frame stacking at the input, a stacked BLSTM encoder (cell lstm | peephole | gru, optional
projection and self-attention blocks) and a linear CTC head (blank = 0)."""
from __future__ import annotations

from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F
from omegaconf import OmegaConf

from asr.rnn import ConfigError, LSTMStack


class CTCModel(nn.Module):
    """feats [B, T, F], lengths [B] -> log_probs [B, ceil(T/k), V], out_lengths [B]; k = subsampling."""

    def __init__(self, input_dim: int, vocab_size: int, hidden_size: int = 256, num_layers: int = 3,
                 proj_size: int = 0, subsampling: int = 3, input_linear: int = 0, dropout: float = 0.1,
                 backend: str = "auto", cell: str = "lstm", attention: dict | None = None):
        super().__init__()
        if subsampling < 1:
            raise ConfigError(f"model.subsampling={subsampling} must be >= 1")
        if hidden_size < 1:
            raise ConfigError(f"model.hidden_size={hidden_size} must be >= 1")
        if not 0 <= dropout < 1:
            raise ConfigError(f"model.dropout={dropout} must be in [0, 1)")
        # everything needed to rebuild the model from a checkpoint
        self.config = dict(input_dim=input_dim, vocab_size=vocab_size, hidden_size=hidden_size,
                           num_layers=num_layers, proj_size=proj_size, subsampling=subsampling,
                           input_linear=input_linear, dropout=dropout, backend=backend, cell=cell,
                           attention=dict(attention) if attention else None)
        self.subsampling = subsampling
        stacked = input_dim * subsampling
        self.input_linear = nn.Linear(stacked, input_linear) if input_linear else None
        self.encoder = LSTMStack(input_linear or stacked, hidden_size, num_layers, proj_size=proj_size,
                                 dropout=dropout, bidirectional=True, backend=backend, cell=cell,
                                 attention=attention)
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(self.encoder.output_size, vocab_size)

    def forward(self, feats: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        k = self.subsampling
        B, T, Fd = feats.shape
        if k > 1:
            # stack k consecutive frames, stride k: pad T up to a multiple of k with zeros, and zero
            # the frames past each length so the last stacked frame does not depend on the padding
            past_end = torch.arange(T, device=feats.device)[None, :] >= lengths[:, None]  # [B, T]
            feats = feats.masked_fill(past_end[..., None], 0.0)
            pad = (-T) % k
            feats = F.pad(feats, (0, 0, 0, pad))
            feats = feats.reshape(B, (T + pad) // k, k * Fd)  # [B, T', k*F]
        out_lengths = torch.div(lengths + k - 1, k, rounding_mode="floor")  # ceil(len / k)
        x = feats
        if self.input_linear is not None:
            x = self.input_linear(x)
        x, _ = self.encoder(x, out_lengths)
        logits = self.head(self.dropout(x))  # [B, T', V]
        return logits.float().log_softmax(dim=-1), out_lengths

    @classmethod
    def from_checkpoint(cls, path_or_dict: str | Path | dict, map_location: str | torch.device = "cpu",
                        backend: str | None = None) -> "CTCModel":
        """Rebuild a model (in eval mode) from a checkpoint file or an already loaded checkpoint dict."""
        from asr.checkpoint import load_checkpoint

        ckpt = path_or_dict if isinstance(path_or_dict, dict) else load_checkpoint(path_or_dict, map_location)
        cfg = dict(ckpt["model_cfg"])
        if backend is not None:
            cfg["backend"] = backend
        model = cls(**cfg)
        model.load_state_dict(ckpt["model"])
        return model.to(map_location).eval()


def build_model(model_cfg, input_dim: int, vocab_size: int) -> CTCModel:
    """Build from the `model` config group (extra keys like `name`, `tokenizer` are ignored)."""
    keys = ("hidden_size", "num_layers", "proj_size", "subsampling", "input_linear", "dropout", "backend", "cell",
            "attention")
    kw = {k: model_cfg[k] for k in keys if k in model_cfg}
    if kw.get("attention") is not None:  # a plain dict in the checkpoint's model_cfg
        kw["attention"] = OmegaConf.to_container(kw["attention"]) if OmegaConf.is_config(kw["attention"]) \
            else dict(kw["attention"])
    return CTCModel(input_dim, vocab_size, **kw)
