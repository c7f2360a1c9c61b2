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


def _checkpoint(cfg: DictConfig, metrics: dict) -> Path:
    """`checkpoint=auto`: the training's choice (avg.pt when averaging helped on dev, else best.pt)."""
    if cfg.checkpoint != "auto":
        return Path(cfg.checkpoint)
    return Path(metrics.get("checkpoint") or Path(cfg.exp_dir) / "best.pt")


def _splits(cfg: DictConfig) -> list[str]:
    """The decode splits that the feature store has (test-natural only exists in corpora with natural text)."""
    have = [s for s in cfg.decode.splits if (Path(cfg.features.dir) / s).is_dir()]
    for s in cfg.decode.splits:
        if s not in have:
            print(f"note: no split {s!r} in {cfg.features.dir}: not decoded")
    return have


def _summary_lines(cfg: DictConfig, metrics: dict, summary: dict, ckpt: Path, times: dict) -> list[str]:
    tuned = summary.get("tuned", {}).get("best")
    weights = " ".join(f"{k}={v}" for k, v in tuned.items() if k not in ("wer", "cer", "seconds")) if tuned else ""
    lines = [f"training: {metrics.get('step')} updates ({metrics.get('stop_reason')}), {metrics.get('epoch')} epochs, "
             f"{times['training'] / 60:.1f} min, {metrics.get('utt_per_s', 0):.1f} utt/s; dev CER "
             f"{100 * metrics.get('best_dev_cer', float('nan')):.2f} % (greedy)",
             f"checkpoint: {ckpt.name} ({metrics.get('averaging', {}).get('decision', 'as configured')})",
             f"decoder: {cfg.decode.name}" + (f", tuned on {cfg.decode.lm.tune.split}: {weights}" if weights else ""),
             f"{'split':<13}{'WER %':>7}{'CER %':>7}{'utts':>6}{'hours':>7}{'RTF':>7}"]
    for split, s in summary["splits"].items():
        lines.append(f"{split:<13}{100 * s['wer']:7.2f}{100 * s['cer']:7.2f}{s['utterances']:6d}{s['hours']:7.2f}"
                     f"{s['rtf']:7.3f}")
    total = sum(times.values())
    lines.append("time: " + ", ".join(f"{k} {v / 60:.1f} min" for k, v in times.items()) + f"; total {total / 60:.1f} min")
    return lines


def run_demo(cfg: DictConfig) -> dict:
    """Corpus -> features -> training -> decoding of test/test-other/test-natural -> transcription of one file."""
    from asr.corpus import prepare_corpus
    from asr.decode import decode, lm_arpa_path
    from asr.features import extract_features
    from asr.manifest import read_manifest
    from asr.train import train
    from asr.transcription import render, transcribe

    times: dict[str, float] = {}
    corpus = _stage("corpus", times, prepare_corpus, cfg)
    _stage("features", times, extract_features, cfg)
    metrics = _stage("training", times, train, cfg)
    ckpt = _checkpoint(cfg, metrics)
    OmegaConf.update(cfg, "checkpoint", str(ckpt))
    OmegaConf.update(cfg, "decode.splits", _splits(cfg))
    summary = _stage("decoding", times, decode, cfg)

    first = read_manifest(Path(cfg.data.root) / f"{cfg.transcribe.split}.jsonl")[0]
    word_lm = cfg.decode.decoder == "lm" and cfg.decode.lm.unit == "word"  # what asr.transcribe's lm decoder reads
    lm = lm_arpa_path(cfg.decode.lm) if word_lm else None  # the LM decoding used
    result = _stage("transcribe", times, transcribe, first["audio"], ckpt, decoder="lm" if word_lm else "greedy",
                    lm=lm)[0]
    print(f"{first['audio']} (reference: {first['text']!r})")
    print(render(result, cfg.transcribe.format))

    print("\n=== summary " + "=" * 52)
    print(f"corpus {corpus['name']}: " + ", ".join(f"{s} {n}" for s, n in corpus["counts"].items()) + " utterances")
    print("\n".join(_summary_lines(cfg, metrics, summary, ckpt, times)))
    out = {"splits": summary["splits"], "tuned": summary.get("tuned"),
           "minutes": {k: round(v / 60, 2) for k, v in times.items()},
           "total_minutes": round(sum(times.values()) / 60, 2),
           "train": {k: v for k, v in metrics.items() if k != "exp_dir"}, "checkpoint": str(ckpt)}
    Path(cfg.exp_dir, "demo_summary.json").write_text(json.dumps(out, indent=1, default=str))
    return out
