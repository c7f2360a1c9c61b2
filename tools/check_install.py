"""Post-install smoke check (the last step of tools/setup.sh): every package the toolkit needs
imports, and the installed versions are the lock's. On failure: one line per package naming it,
the installed version and the lock's version, and exit status 1 — never a traceback.

    .venv/bin/python tools/check_install.py [--lock requirements.lock]
"""
from __future__ import annotations

import argparse
import importlib
import importlib.metadata as md
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# (distribution, modules to import): what the toolkit loads at run time
REQUIRED = [
    ("torch", ["torch"]),
    ("torchaudio", ["torchaudio", "torchaudio.compliance.kaldi", "torchaudio.models.decoder"]),
    ("triton", ["triton", "triton.language"]),
    ("numpy", ["numpy"]),
    ("soundfile", ["soundfile"]),
    ("sentencepiece", ["sentencepiece"]),
    ("flashlight-text", ["flashlight.lib.text.decoder"]),  # the LM decoder (torchaudio ctc_decoder)
    ("hydra-core", ["hydra"]),
    ("omegaconf", ["omegaconf"]),
    ("editdistance", ["editdistance"]),
]


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def read_lock(path: Path) -> dict[str, str]:
    """{canonical name: version} from `name==version` lines (comments and blanks skipped)."""
    pins = {}
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, sep, version = line.partition("==")
            if not sep:
                raise SystemExit(f"[setup] ERROR: {path}: '{line}' is not a name==version line")
            pins[canonical(name)] = version.strip()
    return pins


def installed(dist: str) -> str | None:
    try:
        return md.version(dist)
    except md.PackageNotFoundError:
        return None


def problems(lock: dict[str, str]) -> list[str]:
    out = []
    for dist, modules in REQUIRED:
        have, want = installed(dist), lock.get(canonical(dist), "not in the lock")
        if have is None:
            out.append(f"{dist} is not installed (lock: {want})")
            continue
        if have != want:
            out.append(f"{dist} {have} is installed but the lock has {want}")
        for mod in modules:
            try:
                importlib.import_module(mod)
            except Exception as e:  # OSError from a binary built for another torch, ImportError, ...
                msg = str(e).splitlines()[0] if str(e) else ""
                out.append(f"{dist} {have} (lock: {want}) does not import {mod}: {type(e).__name__}: {msg[:300]}")
                break
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--lock", type=Path, default=ROOT / "requirements.lock")
    args = p.parse_args(argv)
    if not args.lock.is_file():
        print(f"[setup] ERROR: {args.lock} is missing: run bash tools/lock.sh", file=sys.stderr)
        return 1
    found = problems(read_lock(args.lock))
    for line in found:
        print(f"[setup] ERROR: {line}", file=sys.stderr)
    if found:
        print("[setup] the venv does not match the lock: rerun `make setup` (or remove .venv)", file=sys.stderr)
        return 1
    print(f"[setup] ok: {len(REQUIRED)} packages import at the lock's versions")
    return 0


if __name__ == "__main__":
    sys.exit(main())
