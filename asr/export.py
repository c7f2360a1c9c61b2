"""Export a checkpoint's acoustic model to ONNX for onnxruntime (CPU) deployment.

    asr-export exp/synth-small/blstm_small/best.pt model.onnx        # -> model.onnx + model.json

The graph: feats [B, T, F] float32 (raw features, before CMVN), lengths [B] int64 ->
log_probs [B, T', V] float32, out_lengths [B] int64, T' = ceil(T / subsampling); B and T are
dynamic. It is the torch backend's computation (the Triton kernels are not exportable), traced by
the TorchScript exporter (`torch.onnx.export(dynamo=False)`: torch.export cannot trace `nn.LSTM`
over a dynamic T in torch 2.11). Packed sequences do not export either, so `MaskedEncoder`
honours the lengths by masking, as `LSTMStack` does on CPU: each layer runs one ONNX LSTM/GRU per
direction over the padded batch, the reverse one over every sequence flipped within its own length
(so it starts at the sequence's last frame, not in the padding), and frames past a length are
zeroed. Padding therefore never changes the outputs of the valid frames.

Everything needed to transcribe rides in the model's `metadata_props` under the key "asr" (JSON:
tokenizer, feature config, CMVN, model config); OUT.json beside OUT.onnx holds the same JSON for
other runtimes. Not exportable (one-line `ExportError`): `model.cell=peephole` (its torch path is a
Python loop over time) and `model.proj_size` > 0 (ONNX's LSTM has no projection).
"""
from __future__ import annotations

import argparse
import base64
import copy
import json
import os
import sys
import warnings
from pathlib import Path

import torch
import torch.nn as nn

from asr.checkpoint import CheckpointError, load_checkpoint
from asr.errors import ASRError
from asr.model import CTCModel

FORMAT = "triton-blstm-asr/onnx-v1"
INPUTS, OUTPUTS = ["feats", "lengths"], ["log_probs", "out_lengths"]
OPSET = 17
TOLERANCE = 1e-4  # max |log_prob| difference to PyTorch accepted by the export-time check (fp32)


class ExportError(ASRError, ValueError):
    """A model the exporter cannot handle, or an export that fails its check; names the file or key."""


class ExportAttention(nn.Module):
    """`asr.rnn.SelfAttention` with its own parameters, written with reshapes the tracer keeps
    dynamic (nn.MultiheadAttention's traced graph bakes the batch size in): x [B, T, C] -> [B, T, C]."""

    def __init__(self, block: nn.Module):
        super().__init__()
        self.heads = block.attn.num_heads
        self.in_proj, self.out_proj, self.norm = nn.Linear(1, 1), block.attn.out_proj, block.norm
        self.in_proj.weight, self.in_proj.bias = block.attn.in_proj_weight, block.attn.in_proj_bias

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        B, T, C = x.shape
        pad = torch.arange(T, device=x.device)[None, :] >= lengths[:, None]  # [B, T]
        q, k, v = self.in_proj(x).view(B, T, 3, self.heads, C // self.heads).permute(2, 0, 3, 1, 4)  # [B, h, T, c]
        a = nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=~pad[:, None, None, :])
        a = self.out_proj(a.transpose(1, 2).reshape(B, T, C))
        return self.norm(x + a).masked_fill(pad[..., None], 0.0)


class MaskedEncoder(nn.Module):
    """`LSTMStack` (cell lstm or gru, no projection) as exportable modules: one unidirectional
    nn.LSTM/GRU per layer and direction holding that direction's weights. x [B, T, C], lengths [B]
    -> y [B, T, D*H] (zeros past lengths), lengths."""

    def __init__(self, stack: nn.Module):
        super().__init__()
        self.layers = nn.ModuleList()
        for rnn in stack.layers:
            dirs = nn.ModuleList()
            for sfx in ["", "_reverse"][: stack.num_dirs]:
                uni = type(rnn)(rnn.input_size, rnn.hidden_size, batch_first=True)
                uni.load_state_dict({name: getattr(rnn, name + sfx) for name in uni._flat_weights_names})
                dirs.append(uni)
            self.layers.append(dirs)
        self.attention = nn.ModuleDict({k: ExportAttention(block) for k, block in stack.attention.items()})

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        t = torch.arange(x.shape[1], device=x.device)[None, :]  # [1, T]
        valid = t < lengths[:, None]  # [B, T]
        flip = torch.where(valid, lengths[:, None] - 1 - t, t)[..., None]  # [B, T, 1]: mirror within the length
        for i, dirs in enumerate(self.layers):
            outs = []
            for d, rnn in enumerate(dirs):
                y, _ = rnn(x.gather(1, flip.expand_as(x)) if d else x)  # [B, T, H]
                outs.append(y.gather(1, flip.expand_as(y)) if d else y)
            x = torch.cat(outs, dim=-1) * valid[..., None]  # [B, T, D*H]
            if str(i + 1) in self.attention:
                x = self.attention[str(i + 1)](x, lengths)
        return x, lengths


def exportable(model: CTCModel) -> CTCModel:
    """A copy of `model` (eval, CPU) whose encoder is the `MaskedEncoder`; same outputs as `model`."""
    cfg = model.config
    if cfg["cell"] == "peephole":
        raise ExportError("model.cell=peephole cannot be exported to ONNX (its recurrence is a Python loop "
                          "over time); export an lstm or gru model")
    if cfg["proj_size"]:
        raise ExportError(f"model.proj_size={cfg['proj_size']} (LSTMP) cannot be exported to ONNX "
                          "(the ONNX LSTM operator has no projection)")
    out = copy.deepcopy(model).cpu().eval()
    out.encoder = MaskedEncoder(out.encoder)
    return out.eval()


def metadata(ckpt: dict) -> dict:
    """The JSON-able side information: tokenizer, feature config, CMVN, model config."""
    tok = dict(ckpt["tokenizer"])
    if "model_proto" in tok:  # SentencePiece: bytes -> base64
        tok["model_proto"] = base64.b64encode(tok["model_proto"]).decode("ascii")
    return {"format": FORMAT, "inputs": INPUTS, "outputs": OUTPUTS, "model_cfg": ckpt["model_cfg"],
            "tokenizer": tok, "features": dict(ckpt["features"]),
            "cmvn": {**{k: ckpt["cmvn"][k].float().tolist() for k in ("mean", "std")},
                     "mode": ckpt["cmvn"].get("mode", "global")},
            "torch": torch.__version__}


def _trace(model: CTCModel, path: Path, opset: int) -> None:
    feats = torch.zeros(2, 23, model.config["input_dim"])
    lengths = torch.tensor([23, 11])
    axes = {"feats": {0: "batch", 1: "time"}, "lengths": {0: "batch"},
            "log_probs": {0: "batch", 1: "frames"}, "out_lengths": {0: "batch"}}
    with warnings.catch_warnings():  # the legacy exporter's deprecation and LSTM batch-size notes
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (feats, lengths), str(path), dynamo=False, opset_version=opset,
                          input_names=INPUTS, output_names=OUTPUTS, dynamic_axes=axes)


def _check(model: CTCModel, path: Path) -> float:
    """Max |log_prob| difference of the ONNX file vs `model` on a ragged batch (valid frames only)."""
    from asr.onnx_model import OnnxModel

    g = torch.Generator().manual_seed(0)
    feats = torch.randn(3, 41, model.config["input_dim"], generator=g)
    lengths = torch.tensor([41, 7, 30])
    with torch.no_grad():
        ref, ref_len = model(feats, lengths)
    got, got_len = OnnxModel(path, threads=1).run(feats, lengths)
    if not torch.equal(got_len, ref_len):
        raise ExportError(f"{path}: exported out_lengths {got_len.tolist()} != PyTorch {ref_len.tolist()}")
    valid = torch.arange(ref.shape[1])[None, :] < ref_len[:, None]
    return float((got - ref)[valid].abs().max())


def export_onnx(checkpoint: str | Path | dict, out: str | Path, opset: int = OPSET) -> dict:
    """Export `checkpoint` to `out` (.onnx) + `out` with .json; returns the metadata plus the check's
    max difference (`max_abs_diff`). Raises ExportError for a model it cannot export."""
    ckpt = checkpoint if isinstance(checkpoint, dict) else load_checkpoint(checkpoint, "cpu")
    if opset < 17:
        raise ExportError(f"--opset {opset}: need >= 17")
    model = CTCModel.from_checkpoint(ckpt, "cpu", backend="torch")
    wrapped = exportable(model)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    meta = metadata(ckpt)
    tmp = out.with_name(f".{out.name}.tmp-{os.getpid()}")
    try:
        try:
            import onnx
        except ImportError:
            raise ExportError("asr-export needs onnx and onnxruntime: pip install -e '.[onnx]'") from None
        _trace(wrapped, tmp, opset)

        proto = onnx.load(str(tmp))
        entry = proto.metadata_props.add()
        entry.key, entry.value = "asr", json.dumps(meta)
        onnx.checker.check_model(proto)
        onnx.save(proto, str(tmp))
        diff = _check(model, tmp)
        if not diff <= TOLERANCE:
            raise ExportError(f"{out}: exported log-probs differ from PyTorch by {diff:.3g} (> {TOLERANCE})")
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    out.with_suffix(".json").write_text(json.dumps(meta, indent=1) + "\n")
    return {**meta, "max_abs_diff": diff}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="asr-export", description="Export a CTC checkpoint to ONNX (+ .json beside it).")
    p.add_argument("checkpoint", help="model checkpoint (.pt) from recipes/train.py")
    p.add_argument("out", help="output .onnx file (the tokenizer, features and CMVN go in it and in OUT.json)")
    p.add_argument("--opset", type=int, default=OPSET, help=f"ONNX opset, >= 17 (default: {OPSET})")
    args = p.parse_args(argv)
    try:
        meta = export_onnx(args.checkpoint, args.out, opset=args.opset)
    except (CheckpointError, ExportError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"wrote {args.out} and {Path(args.out).with_suffix('.json')} "
          f"(opset {args.opset}; max |log-prob| difference to PyTorch {meta['max_abs_diff']:.2g})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
