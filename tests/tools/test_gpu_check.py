"""tools/gpu_check.sh --dry-run: the GPU machine's one prepared command runs end to end on CPU."""
import csv
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PRESETS = {"flashrnn_cmp", "eesen", "latency", "family"}


def test_dry_run_writes_at_most_8_files_with_every_preset(tmp_path):
    env = {**os.environ, "PYTHON": sys.executable}
    out = subprocess.run(["bash", str(ROOT / "tools" / "gpu_check.sh"), "--dry-run", str(tmp_path / "out")],
                         cwd=ROOT, capture_output=True, text=True, env=env, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    files = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert files == sorted(["env.txt", "junit.xml", "tests.log", "bench.log", "bench.md", "bench.csv",
                            "eesen.png", "flashrnn_cmp.png"])
    env_txt = (tmp_path / "out" / "env.txt").read_text()
    assert "torch 2.11.0" in env_txt and "triton 3.6.0" in env_txt and "dry_run: 1" in env_txt
    suite = ET.parse(tmp_path / "out" / "junit.xml").getroot().find("testsuite")
    assert int(suite.get("tests")) > 0 and suite.get("failures") == "0" and suite.get("errors") == "0"
    rows = list(csv.DictReader((tmp_path / "out" / "bench.csv").open()))
    assert {r["preset"] for r in rows} == PRESETS
    assert all(r["status"] == "ok" for r in rows), [(r["preset"], r["provider"], r["status"]) for r in rows]
    md = (tmp_path / "out" / "bench.md").read_text()
    assert all(f"## {p}" in md for p in PRESETS)
    assert "exit 0" in out.stdout and "exit 1" not in out.stdout
