"""`CTCModel`: frame stacking at the input, a stacked BLSTM encoder (cell lstm | peephole | gru, optional
projection and self-attention blocks) and a linear CTC head (blank = 0).

`ModelConfig` is the one list of the model's hyperparameters: the `model` config group is checked
against it (`ModelConfig.from_group`), `CTCModel` is built from it and checkpoints store it as a
plain dict (`ModelConfig.to_dict`, read back by `ModelConfig.from_dict`).
"""
from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F
from omegaconf import OmegaConf

from asr.rnn import ConfigError, LSTMStack

ATTENTION_KEYS = ("enabled", "heads", "after_layers")  # model.attention.*, read by asr.rnn.LSTMStack
GROUP_ONLY_KEYS = ("name", "tokenizer")  # in the `model` group, not hyperparameters (the tokenizer: asr.train)
FROM_DATA = ("input_dim", "vocab_size")  # set from the features and the tokenizer, never in the group


@dataclass(frozen=True)
class ModelConfig:
    """The model's hyperparameters; conf/model/default.yaml gives the same defaults, with comments."""

    input_dim: int  # feature dimension (from the feature store)
    vocab_size: int  # tokenizer vocabulary, blank included
    hidden_size: int = 256  # per direction
    num_layers: int = 3
    proj_size: int = 0  # > 0: LSTMP, each layer's output projected to this size
    subsampling: int = 3  # stack this many frames, stride the same
    input_linear: int = 0  # > 0: a linear layer of this size after stacking; 0: none
    dropout: float = 0.1  # between LSTM layers and before the head
    backend: str = "auto"  # auto | triton | torch
    cell: str = "lstm"  # lstm | peephole | gru
    attention: dict | None = None  # {enabled, heads, after_layers} (asr.rnn.LSTMStack); None: no blocks

    def __post_init__(self):
        for f, kind in _field_kinds().items():
            _check_kind(f"model.{f}", getattr(self, f), kind)
        if self.attention is not None:
            unknown = sorted(set(self.attention) - set(ATTENTION_KEYS))
            if unknown:
                raise ConfigError(f"model.attention.{unknown[0]}: unknown key (known: {', '.join(ATTENTION_KEYS)})")
        att = self.attention
        att = OmegaConf.to_container(att, resolve=True) if OmegaConf.is_config(att) else att
        object.__setattr__(self, "attention", dict(att) if att else None)
        if self.subsampling < 1:
            raise ConfigError(f"model.subsampling={self.subsampling} must be >= 1")
        if self.hidden_size < 1:
            raise ConfigError(f"model.hidden_size={self.hidden_size} must be >= 1")
        if not 0 <= self.dropout < 1:
            raise ConfigError(f"model.dropout={self.dropout} must be in [0, 1)")

    @classmethod
    def from_group(cls, group, input_dim: int, vocab_size: int) -> "ModelConfig":
        """From the `model` config group (a DictConfig or dict): every key must be a field, `name` or
        `tokenizer`; a missing key takes the field's default."""
        values = OmegaConf.to_container(group, resolve=True) if OmegaConf.is_config(group) else dict(group)
        fields = [f for f in _field_kinds() if f not in FROM_DATA]
        for key in values:
            if key in FROM_DATA:
                raise ConfigError(f"model.{key} comes from the data (features, tokenizer): remove it from the config")
            if key not in fields and key not in GROUP_ONLY_KEYS:
                raise ConfigError(f"model.{key}: unknown key (known: {', '.join(fields + list(GROUP_ONLY_KEYS))})")
        return cls(input_dim, vocab_size, **{k: v for k, v in values.items() if k in fields})

    @classmethod
    def from_dict(cls, d: dict) -> "ModelConfig":
        """From a checkpoint's `model_cfg` (this dict, or one saved before ModelConfig: the same keys)."""
        unknown = sorted(set(d) - set(_field_kinds()))
        if unknown:
            raise ConfigError(f"checkpoint model_cfg has unknown keys {unknown} (known: {', '.join(_field_kinds())})")
        return cls(**d)

    def to_dict(self) -> dict:
        """A plain dict of plain values: what checkpoints store (readable with torch.load(weights_only=True))."""
        return dataclasses.asdict(self)


def _field_kinds() -> dict[str, str]:
    """ModelConfig's fields -> their annotation ('int', 'float', 'str', 'dict | None'), in order."""
    return {f.name: f.type for f in dataclasses.fields(ModelConfig)}


def _check_kind(key: str, value, kind: str) -> None:
    is_number = isinstance(value, (int, float)) and not isinstance(value, bool)
    ok = {"int": is_number and isinstance(value, int), "float": is_number, "str": isinstance(value, str),
          "dict | None": value is None or isinstance(value, typing.Mapping)}[kind]
    if not ok:
        want = {"int": "an integer", "float": "a number", "str": "a string", "dict | None": "a mapping or null"}[kind]
        raise ConfigError(f"{key}={value!r} must be {want}")


class CTCModel(nn.Module):
    """feats [B, T, F], lengths [B] -> log_probs [B, ceil(T/k), V], out_lengths [B]; k = subsampling.

    `CTCModel(config: ModelConfig)`, or `CTCModel(input_dim, vocab_size, **hyperparameters)` with
    ModelConfig's fields as arguments (the same defaults)."""

    def __init__(self, *args, **kwargs):
        super().__init__()
        cfg = args[0] if len(args) == 1 and not kwargs and isinstance(args[0], ModelConfig) \
            else ModelConfig(*args, **kwargs)
        self.config = cfg.to_dict()  # everything needed to rebuild the model from a checkpoint
        self.subsampling = cfg.subsampling
        stacked = cfg.input_dim * cfg.subsampling
        self.input_linear = nn.Linear(stacked, cfg.input_linear) if cfg.input_linear else None
        self.encoder = LSTMStack(cfg.input_linear or stacked, cfg.hidden_size, cfg.num_layers,
                                 proj_size=cfg.proj_size, dropout=cfg.dropout, bidirectional=True,
                                 backend=cfg.backend, cell=cfg.cell, attention=cfg.attention)
        self.dropout = nn.Dropout(cfg.dropout)
        self.head = nn.Linear(self.encoder.output_size, cfg.vocab_size)

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
        cfg = ModelConfig.from_dict(ckpt["model_cfg"])
        if backend is not None:
            cfg = dataclasses.replace(cfg, backend=backend)
        model = cls(cfg)
        model.load_state_dict(ckpt["model"])
        return model.to(map_location).eval()


def build_model(model_cfg, input_dim: int, vocab_size: int) -> CTCModel:
    """Build from the `model` config group (checked against ModelConfig; `name`, `tokenizer` are not read)."""
    return CTCModel(ModelConfig.from_group(model_cfg, input_dim, vocab_size))
