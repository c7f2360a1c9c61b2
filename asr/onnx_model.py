"""Run an `asr-export`ed acoustic model with onnxruntime on CPU.

`OnnxModel(path)` reads the graph and its side information (metadata_props "asr": tokenizer,
feature config, CMVN, model config) from the .onnx file alone; `model(feats, lengths)` has
`CTCModel`'s signature: feats [B, T, F] (after CMVN), lengths [B] -> log_probs [B, T', V], out_lengths [B].
"""
from __future__ import annotations

import base64
import json
import re
from pathlib import Path

import numpy as np
import torch

from asr.checkpoint import CheckpointError
from asr.export import FORMAT, ExportError


class OnnxModel:
    def __init__(self, path: str | Path, threads: int | None = None):
        try:
            import onnxruntime as ort
        except ImportError:
            raise ExportError("the onnx engine needs onnxruntime: pip install -e '.[onnx]'") from None
        path = Path(path)
        if not path.is_file():
            raise CheckpointError(f"ONNX model {path} does not exist")
        opts = ort.SessionOptions()
        if threads:
            opts.intra_op_num_threads = opts.inter_op_num_threads = int(threads)
        opts.log_severity_level = 3  # errors only: no graph-optimizer chatter
        try:
            self.session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
        except Exception as e:  # onnxruntime raises its own Fail/InvalidProtobuf/... kinds
            reason = str(e).split(" failed:", 1)[-1].strip()
            reason = re.sub(r"^\S+:\d+ [\w:~]+\(.*?\) ", "", reason)  # onnxruntime's source location
            reason = (reason.splitlines() or [type(e).__name__])[0][:300]
            raise CheckpointError(f"ONNX model {path} is unreadable ({reason})") from None
        raw = self.session.get_modelmeta().custom_metadata_map.get("asr")
        try:
            meta = json.loads(raw) if raw else {}
        except json.JSONDecodeError:
            meta = {}
        if meta.get("format") != FORMAT:
            raise CheckpointError(f"ONNX model {path} was not made by asr-export (no {FORMAT!r} metadata)")
        self.path, self.meta = path, meta
        self.config = meta["model_cfg"]
        self.subsampling = int(self.config["subsampling"])

    def checkpoint_info(self) -> dict:
        """The checkpoint entries `Transcriber` needs: tokenizer, features, cmvn (as tensors)."""
        tok = dict(self.meta["tokenizer"])
        if "model_proto" in tok:
            tok["model_proto"] = base64.b64decode(tok["model_proto"])
        cmvn = {k: torch.tensor(self.meta["cmvn"][k]) for k in ("mean", "std")}
        cmvn["mode"] = self.meta["cmvn"].get("mode", "global")  # an export older than the mode: global
        return {"tokenizer": tok, "features": self.meta["features"], "cmvn": cmvn, "model_cfg": self.config}

    def run(self, feats: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        log_probs, out_lengths = self.session.run(None, {
            "feats": np.ascontiguousarray(feats.detach().cpu().numpy(), dtype=np.float32),
            "lengths": lengths.detach().cpu().numpy().astype(np.int64)})
        return torch.from_numpy(log_probs), torch.from_numpy(out_lengths)

    __call__ = run
