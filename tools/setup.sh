#!/usr/bin/env bash
# Create or reuse the project venv (.venv) and install everything the toolkit needs,
# Debian packages for the built-in corpus included. Safe to repeat: a stamp file skips
# the pip step until requirements.lock or pyproject.toml changes; a failed install or smoke
# check leaves no stamp, so the next run tries again.
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian packages: the speech synthesizers and the natural-text sources of the built-in corpus
# (asr/corpus/text.py); `make test` (SETUP_TEST=1) adds chromium for the asr-serve browser test.
SYS_PKGS="espeak-ng flite festival festvox-kallpc16k festvox-kdlpc16k festvox-us-slt-hts sox
          wordnet-base fortunes fortunes-min dict-gcide wamerican wamerican-huge"
need_sys=0
for tool in espeak-ng flite text2wave sox; do command -v "$tool" >/dev/null 2>&1 || need_sys=1; done
for f in /usr/share/festival/voices/us/cmu_us_slt_arctic_hts /usr/share/wordnet/data.noun \
         /usr/share/games/fortunes/fortunes /usr/share/dictd/gcide.dict.dz /usr/share/dict/american-english /usr/share/dict/american-english-huge; do
  [ -e "$f" ] || need_sys=1
done
if [ "${SETUP_TEST:-0}" = 1 ] && ! command -v chromium >/dev/null 2>&1; then
  SYS_PKGS="$SYS_PKGS chromium"; need_sys=1
fi
if [ "$need_sys" = 1 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "[setup] installing Debian packages:" $SYS_PKGS
    apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $SYS_PKGS >/dev/null
  else
    echo "[setup] ERROR: Debian packages missing and cannot apt-get install as non-root." >&2
    echo "[setup]        run as root: apt-get install" $SYS_PKGS >&2
    exit 1
  fi
fi

PY=${PYTHON:-python3}
source tools/extras.sh
[ -x .venv/bin/python ] || "$PY" -m venv .venv
# The install is locked: requirements.lock pins every package (tools/lock.sh makes it). The stamp
# holds the hash of the lock, pyproject.toml and the extras: any change reinstalls, none installs nothing.
stamp=.venv/.installed
want=$(cat requirements.lock pyproject.toml tools/extras.sh | sha256sum | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "[setup] installing Python packages into .venv from requirements.lock (first run: ~1-2 min, ~5 GB)"
  .venv/bin/python -m pip install -q -c requirements.lock pip
  .venv/bin/python -m pip install -q -c requirements.lock -e ".[${EXTRAS}]"
  .venv/bin/python tools/check_install.py
  echo "$want" > "$stamp"
fi
