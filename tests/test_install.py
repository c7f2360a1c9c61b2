"""The venv matches requirements.lock: a drift shows as one failing test with a readable message,
not as collection errors in every module (tools/check_install.py is setup's version of this)."""
import importlib.metadata as md
import importlib.util
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LOCK = ROOT / "requirements.lock"
spec = importlib.util.spec_from_file_location("check_install", ROOT / "tools" / "check_install.py")
check_install = importlib.util.module_from_spec(spec)
spec.loader.exec_module(check_install)
PINS = check_install.read_lock(LOCK)


@pytest.mark.parametrize("dist", ["torch", "torchaudio", "triton", "numpy"])
def test_installed_version_is_the_locks(dist):
    have = md.version(dist)
    assert have == PINS[dist], (f"{dist} {have} is installed but requirements.lock pins {PINS[dist]}: "
                                f"run `make setup` to reinstall from the lock")


def test_every_installed_locked_package_is_at_its_locked_version():
    drift = [f"{name} {check_install.installed(name)} (lock {v})" for name, v in PINS.items()
             if check_install.installed(name) not in (None, v)]
    assert not drift, "installed versions differ from requirements.lock: " + ", ".join(drift)


def test_pyproject_exact_pins_agree_with_the_lock():
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    exact = dict(re.match(r"([\w.-]+)==([\w.+]+)$", d.replace(" ", "")).groups() for d in deps if "==" in d)
    assert {"torch", "torchaudio", "triton"} <= set(exact)
    assert {n: PINS[check_install.canonical(n)] for n in exact} == exact


def test_smoke_check_passes_in_this_venv():
    out = subprocess.run([sys.executable, str(ROOT / "tools" / "check_install.py")], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr


def test_smoke_check_names_a_package_that_does_not_load(tmp_path):
    """A binary built against another torch (today's torchaudio 2.11.1) fails at import with OSError."""
    (tmp_path / "soundfile.py").write_text("raise OSError('libsndfile.so: undefined symbol: sf_open')\n")
    out = subprocess.run([sys.executable, str(ROOT / "tools" / "check_install.py")], capture_output=True, text=True,
                         env={"PYTHONPATH": str(tmp_path), "PATH": "/usr/bin:/bin"})
    assert out.returncode == 1 and "Traceback" not in out.stderr
    [line] = [ln for ln in out.stderr.splitlines() if "soundfile" in ln]
    assert f"soundfile {md.version('soundfile')} (lock: {PINS['soundfile']}) does not import soundfile: OSError" in line


def test_smoke_check_names_a_version_that_drifted(tmp_path):
    lock = tmp_path / "requirements.lock"
    lock.write_text(LOCK.read_text().replace(f"\ntorchaudio=={PINS['torchaudio']}", "\ntorchaudio==2.11.1"))
    out = subprocess.run([sys.executable, str(ROOT / "tools" / "check_install.py"), "--lock", str(lock)],
                         capture_output=True, text=True)
    assert out.returncode == 1
    assert f"torchaudio {md.version('torchaudio')} is installed but the lock has 2.11.1" in out.stderr
