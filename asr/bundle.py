"""`load_bundle(checkpoint)`: everything inference needs from a trained model, loaded at once.

Like torchaudio's pipeline bundles, one object carries the acoustic model, its tokenizer, its
feature extractor and its CMVN; decoding, transcription and serving all start from it:

    bundle = load_bundle("exp/synth-small/blstm_small/best.pt", device="cpu")
    feats = bundle.features(wave)                                  # [T, F] raw log-mels
    log_probs, out_lengths = bundle.log_probs(feats[None], torch.tensor([feats.shape[0]]))

engine="torch": a .pt checkpoint (`CTCModel`); engine="onnx": an `asr-export`ed .onnx file run by
onnxruntime on CPU (`asr.onnx_model.OnnxModel`), whose metadata holds the same entries.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from asr.decoders import DecodeError
from asr.features import CMVN, FeatureExtractor
from asr.tokenizer import tokenizer_from_dict

ENGINES = ("torch", "onnx")


def resolve_device(name: str) -> torch.device:
    """cpu | cuda[:i] | auto (cuda when available) -> a device; a clear error when CUDA is missing."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise DecodeError(f"device={name!r} is not one of: cpu, cuda, cuda:N, auto") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise DecodeError(f"device={name!r} but CUDA is not available on this machine")
    return device


@dataclass
class Bundle:
    model: torch.nn.Module  # CTCModel (eval, on `device`) or OnnxModel: feats after CMVN -> log_probs
    tokenizer: object  # CharTokenizer | SentencePieceTokenizer
    features: FeatureExtractor  # wave -> raw features [T, F], as the training features were made
    cmvn: CMVN  # on `device`
    device: torch.device
    path: Path
    checkpoint: dict  # the checkpoint's entries (the .onnx file's metadata for engine=onnx)

    @property
    def frame_shift(self) -> float:
        """Seconds per output frame (hop x subsampling)."""
        return self.features.frame_shift_ms / 1000 * self.model.subsampling

    def log_probs(self, feats: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Raw features [B, T, F] (padded, on `device`), lengths [B] -> log_probs [B, T', V], out_lengths [B]."""
        return self.model(self.cmvn(feats, lengths), lengths)


def load_bundle(checkpoint: str | Path, device: str = "cpu", engine: str = "torch",
                threads: int | None = None) -> Bundle:
    """The model (eval mode, on `device`), tokenizer, feature extractor and CMVN of `checkpoint`.

    `threads`: torch's or onnxruntime's intra-op CPU threads. A missing or unreadable file raises
    `CheckpointError` naming it; a bad engine or device `DecodeError`.
    """
    if engine not in ENGINES:
        raise DecodeError(f"engine={engine!r} is not one of: {', '.join(ENGINES)}")
    dev = resolve_device(device)
    if engine == "onnx":
        if dev.type != "cpu":
            raise DecodeError(f"engine=onnx runs on the CPU (got device={device!r})")
        from asr.onnx_model import OnnxModel

        model = OnnxModel(checkpoint, threads=threads)
        ckpt = model.checkpoint_info()
    else:
        from asr.checkpoint import load_checkpoint
        from asr.model import CTCModel

        if threads:
            torch.set_num_threads(int(threads))
        ckpt = load_checkpoint(checkpoint, "cpu")
        model = CTCModel.from_checkpoint(ckpt, dev)
    return Bundle(model=model, tokenizer=tokenizer_from_dict(ckpt["tokenizer"]),
                  features=FeatureExtractor.from_config(ckpt["features"]), cmvn=CMVN.from_dict(ckpt["cmvn"]).to(dev),
                  device=dev, path=Path(checkpoint), checkpoint=ckpt)
