#!/usr/bin/env bash
# Regenerate requirements.lock: install the project with its extras into a FRESH venv (nothing
# cached from .venv), let pip resolve everything, and freeze the result as name==version lines.
# Run it after changing a dependency in pyproject.toml, then commit both files; `make setup`
# (and so `make test` / `make demo`) reinstalls from the new lock. The lock is made on Linux
# x86_64 (CPython 3.11 here, 3.12 on the GPU machine): pins hold for both.
#   bash tools/lock.sh            # EXTRAS defaults to those tools/setup.sh installs
set -euo pipefail
cd "$(dirname "$0")/.."
source tools/extras.sh
PY=${PYTHON:-python3}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$PY" -m venv "$tmp/venv"
"$tmp/venv/bin/python" -m pip install -q --upgrade pip
"$tmp/venv/bin/python" -m pip install -q -e ".[${EXTRAS}]"
{
  echo "# requirements.lock: every package \`pip install -e '.[${EXTRAS}]'\` resolved, exactly."
  echo "# Made by tools/lock.sh on $(date -u +%Y-%m-%d) with $("$tmp/venv/bin/python" -V), $(uname -m)."
  echo "# Used as a pip constraints file by tools/setup.sh; regenerate with: bash tools/lock.sh"
  "$tmp/venv/bin/python" -m pip freeze --all --exclude-editable | LC_ALL=C sort -f
} > requirements.lock.new
mv requirements.lock.new requirements.lock
echo "[lock] wrote requirements.lock ($(grep -vc '^#' requirements.lock) packages)"
