"""The kernel library stands alone: importing it never pulls in Hydra, OmegaConf or matplotlib
(the benchmark application that needs them is the `benchmarks` package)."""
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_kernels_import_no_application_libraries():
    code = ("import kernels, kernels.lstm, kernels.gru, kernels.lstmp, kernels.aot, kernels.step_cost, kernels.params; "
            "import sys; "
            "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('hydra', 'omegaconf', 'matplotlib')); "
            "assert not bad, bad")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-2000:]
