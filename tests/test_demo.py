import json
from pathlib import Path

from omegaconf import OmegaConf

from asr.demo import _checkpoint, _splits, _summary_lines


def test_checkpoint_auto_follows_the_averaging_decision(tmp_path):
    cfg = OmegaConf.create({"checkpoint": "auto", "exp_dir": str(tmp_path)})
    assert _checkpoint(cfg, {"checkpoint": str(tmp_path / "avg.pt")}) == tmp_path / "avg.pt"
    assert _checkpoint(cfg, {}) == tmp_path / "best.pt"
    cfg.checkpoint = "/models/mine.pt"
    assert _checkpoint(cfg, {"checkpoint": str(tmp_path / "avg.pt")}) == Path("/models/mine.pt")


def test_only_splits_the_feature_store_has_are_decoded(tmp_path, capsys):
    for split in ("test", "test-other"):
        (tmp_path / split).mkdir()
    cfg = OmegaConf.create({"features": {"dir": str(tmp_path)}, "decode": {"splits": ["test", "test-other", "test-natural"]}})
    assert _splits(cfg) == ["test", "test-other"]
    assert "no split 'test-natural'" in capsys.readouterr().out


def test_summary_prints_time_and_speed_beside_the_figures():
    cfg = OmegaConf.create({"decode": {"name": "lm", "lm": {"tune": {"split": "dev"}}}})
    metrics = {"step": 3000, "stop_reason": "max_steps=3000", "epoch": 3, "utt_per_s": 44.2, "best_dev_cer": 0.055,
               "averaging": {"decision": "best.pt: no average ..."}}
    summary = {"tuned": {"best": {"lm_weight": 0.5, "word_score": 1.0, "wer": 0.2, "cer": 0.1, "seconds": 3.0}},
               "splits": {"test": {"wer": 0.071, "cer": 0.0244, "utterances": 500, "hours": 0.36, "rtf": 0.018}}}
    lines = _summary_lines(cfg, metrics, summary, Path("best.pt"), {"training": 1212.0, "decoding": 48.0})
    text = "\n".join(lines)
    assert "3000 updates (max_steps=3000)" in text and "20.2 min" in text and "44.2 utt/s" in text
    assert "tuned on dev: lm_weight=0.5 word_score=1.0" in text and "best.pt (best.pt: no average" in text
    assert any(line.startswith("test") and "7.10" in line and "2.44" in line for line in lines)
    assert lines[-1].startswith("time: training 20.2 min, decoding 0.8 min; total 21.0 min")


def test_demo_runs_every_stage_on_the_tiny_corpus(tiny_corpus, tmp_path, capsys):
    """The main job end to end (recipes/demo.py): corpus (already built) -> features -> training ->
    decode=lm tuned on dev -> transcription of one file, with the LM in a folder of its own (the
    transcription stage once looked for it in <exp_dir>/lm only)."""
    from asr.demo import run_demo
    from conftest import compose

    cfg = compose("demo", ["data=tiny", f"data.root={tiny_corpus}", "train=fast", f"exp_dir={tmp_path / 'exp'}",
                           f"features.dir={tmp_path / 'feats'}", f"decode.lm.dir={tmp_path / 'lm'}",
                           "decode.lm.grammar_sentences=2000", "features.num_workers=0",
                           "decode.lm.tune.grid={lm_weight: [0.5, 1.0]}", "decode.lm.tune.extend=0"])
    out = run_demo(cfg)
    assert set(out["splits"]) == {"test", "test-other", "test-natural"}
    assert all(0 <= s["wer"] and 0 <= s["cer"] for s in out["splits"].values())
    assert out["tuned"]["best"]["lm_weight"] in (0.5, 1.0)
    assert (tmp_path / "lm" / "4gram.arpa").is_file() and not (tmp_path / "exp" / "lm").exists()
    assert json.loads((tmp_path / "exp" / "demo_summary.json").read_text())["checkpoint"] == out["checkpoint"]
    printed = capsys.readouterr().out
    assert "=== transcribe" in printed and "=== summary" in printed
