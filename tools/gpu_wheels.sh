#!/usr/bin/env bash
# Download, for the project's H200 machine (CPython 3.12, manylinux x86_64, no network there),
# the wheels it lacks: the packages tools/gpu_check.sh needs that its image does not hold, at the
# versions of requirements.lock, into the git-ignored .whl/ (the device tool carries it).
#   bash tools/gpu_wheels.sh        # then: run(..., carry=[".whl"]) with tools/gpu_check.sh
set -euo pipefail
cd "$(dirname "$0")/.."
# not in the GPU image (device README, KINDS.md), with what they need that it lacks
NEED="hydra-core omegaconf antlr4-python3-runtime soundfile cffi pycparser jiwer rapidfuzz editdistance flashlight-text"
PY=${PYTHON:-python3}
mkdir -p .whl
for name in $NEED; do
  pin=$(grep -i "^${name}==" requirements.lock || true)
  [ -n "$pin" ] || { echo "[gpu_wheels] ERROR: $name is not in requirements.lock" >&2; exit 1; }
  "$PY" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 \
    --platform manylinux2014_x86_64 --platform manylinux1_x86_64 --platform any -d .whl "$pin" 2>/dev/null \
  || "$PY" -m pip wheel -q --no-deps -w .whl "$pin"  # an sdist only (antlr4 4.9.3): pure Python, build it here
done
ls -1 .whl
du -sh .whl
