#!/usr/bin/env bash
# Create or reuse the project venv (.venv) and install everything the toolkit needs,
# Debian packages for the built-in corpus included. Safe to repeat: a stamp file skips
# the pip step until pyproject.toml changes.
set -euo pipefail
cd "$(dirname "$0")/.."

SYS_PKGS="espeak-ng flite festival festvox-kallpc16k festvox-kdlpc16k festvox-us-slt-hts sox"
need_sys=0
for tool in espeak-ng flite text2wave sox; do command -v "$tool" >/dev/null 2>&1 || need_sys=1; done
[ -d /usr/share/festival/voices/us/cmu_us_slt_arctic_hts ] || need_sys=1
if [ "$need_sys" = 1 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "[setup] installing Debian packages: $SYS_PKGS"
    apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $SYS_PKGS >/dev/null
  else
    echo "[setup] ERROR: speech synthesizers missing and cannot apt-get install as non-root." >&2
    echo "[setup]        run as root: apt-get install $SYS_PKGS" >&2
    exit 1
  fi
fi

PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
stamp=.venv/.installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  echo "[setup] installing Python packages into .venv (first run: ~1-2 min, ~5 GB)"
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q -e '.[dev,lm]'
  touch "$stamp"
fi
