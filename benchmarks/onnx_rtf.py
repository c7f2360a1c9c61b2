"""CPU real-time factor of the torch and onnxruntime engines on the same files (one run each).

    python benchmarks/onnx_rtf.py CHECKPOINT.pt MANIFEST.jsonl [--threads 1 2] [--limit 50]

Exports CHECKPOINT to a temporary .onnx, then transcribes every file of MANIFEST (greedy) with
`Transcriber(engine=torch|onnx, threads=N)`, after one untimed warm-up file. RTF = seconds /
audio seconds, end to end (read + features + model + decode + alignment) and for the acoustic
model alone. Both engines also set torch's threads to N (features and decoding run in torch).
"""
import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import torch

from asr.export import export_onnx
from asr.transcription import Transcriber


class Timed:
    """Wraps a model: same call and `subsampling`, adds up the seconds spent in it, keeps the log-probs."""

    def __init__(self, model):
        self.model, self.subsampling, self.seconds, self.log_probs = model, model.subsampling, 0.0, []

    def __call__(self, *args):
        t0 = time.perf_counter()
        out = self.model(*args)
        self.seconds += time.perf_counter() - t0
        self.log_probs.append(out[0].float())
        return out


def run(model_path: Path, engine: str, threads: int, files: list[Path]) -> dict:
    torch.set_num_threads(threads)
    t = Transcriber(model_path, engine=engine, threads=threads)
    t(files[0])  # warm-up
    t.model = Timed(t.model)
    t0 = time.perf_counter()
    results = [t(f) for f in files]
    wall = time.perf_counter() - t0
    audio = sum(r["duration"] for r in results)
    return {"engine": engine, "threads": threads, "files": len(files), "audio_s": round(audio, 1),
            "rtf": round(wall / audio, 4), "model_rtf": round(t.model.seconds / audio, 4),
            "texts": [r["text"] for r in results], "log_probs": t.model.log_probs}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("checkpoint")
    p.add_argument("manifest")
    p.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    p.add_argument("--limit", type=int, default=50)
    args = p.parse_args()
    rows = [json.loads(line) for line in Path(args.manifest).read_text().splitlines() if line.strip()]
    files = [Path(args.manifest).parent / r["audio"] for r in rows[: args.limit]]
    with tempfile.TemporaryDirectory() as tmp:
        onnx = Path(tmp) / "model.onnx"
        export_onnx(args.checkpoint, onnx)
        out = [run(Path(args.checkpoint) if e == "torch" else onnx, e, n, files)
               for n in args.threads for e in ("torch", "onnx")]
    tokens = sum(len(t.replace(" ", "")) for t in out[0]["texts"])
    print(f"{len(files)} files; torch/1 transcripts: {tokens} characters in all")
    for r in out:
        same = r["texts"] == out[0]["texts"]
        diff = max(float((a - b).abs().max()) for a, b in zip(r["log_probs"], out[0]["log_probs"]))
        print(f"{r['engine']:5s} threads={r['threads']} files={r['files']} audio={r['audio_s']}s "
              f"RTF={r['rtf']:.4f} model RTF={r['model_rtf']:.4f} same transcripts as torch/1: {same} "
              f"max |log-prob - torch/1| {diff:.1e}")
    sys.exit(0 if all(r["texts"] == out[0]["texts"] for r in out) else 1)


if __name__ == "__main__":
    main()
