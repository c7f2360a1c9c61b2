"""The main job: every stage of the pipeline on the built-in corpus, timed."""
from __future__ import annotations

import json
import time
from pathlib import Path

from omegaconf import DictConfig, OmegaConf


def _stage(name: str, times: dict, fn, *args, **kwargs):
    print(f"\n=== {name} " + "=" * (60 - len(name)), flush=True)
    t0 = time.perf_counter()
    out = fn(*args, **kwargs)
    times[name] = time.perf_counter() - t0
    print(f"--- {name}: {times[name]:.1f} s", flush=True)
    return out


def run_demo(cfg: DictConfig) -> dict:
    """Corpus -> features -> training -> decoding of test/test-other -> transcription of one file."""
    from asr.corpus import prepare_corpus
    from asr.decode import decode
    from asr.features import extract_features
    from asr.manifest import read_manifest
    from asr.train import train
    from asr.transcription import render, transcribe

    times: dict[str, float] = {}
    corpus = _stage("corpus", times, prepare_corpus, cfg)
    _stage("features", times, extract_features, cfg)
    metrics = _stage("training", times, train, cfg)
    ckpt = Path(cfg.checkpoint)
    if not ckpt.exists():  # avg.pt is off (train.avg_last=0) or too few epochs: fall back to best.pt
        ckpt = Path(cfg.exp_dir) / "best.pt"
        OmegaConf.update(cfg, "checkpoint", str(ckpt))
    summary = _stage("decoding", times, decode, cfg)

    first = read_manifest(Path(cfg.data.root) / f"{cfg.transcribe.split}.jsonl")[0]
    result = _stage("transcribe", times, transcribe, first["audio"], ckpt, decoder=cfg.decode.decoder)[0]
    print(f"{first['audio']} (reference: {first['text']!r})")
    print(render(result, cfg.transcribe.format))

    total = sum(times.values())
    print("\n=== summary " + "=" * 52)
    print(f"corpus {corpus['name']}: " + ", ".join(f"{s} {n}" for s, n in corpus["counts"].items()) + " utterances")
    print(f"training: {metrics.get('step')} steps, {metrics.get('utt_per_s', 0):.1f} utt/s")
    for split, s in summary["splits"].items():
        print(f"{split:<11} WER {100 * s['wer']:5.2f} %   CER {100 * s['cer']:5.2f} %   ({cfg.decode.decoder}, {ckpt.name})")
    print("time: " + ", ".join(f"{k} {v / 60:.1f} min" for k, v in times.items()) + f"; total {total / 60:.1f} min")
    out = {"splits": summary["splits"], "minutes": {k: round(v / 60, 2) for k, v in times.items()},
           "total_minutes": round(total / 60, 2), "train": {k: v for k, v in metrics.items() if k != "exp_dir"},
           "checkpoint": str(ckpt)}
    Path(cfg.exp_dir, "demo_summary.json").write_text(json.dumps(out, indent=1, default=str))
    return out
