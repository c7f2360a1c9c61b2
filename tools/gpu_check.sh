#!/usr/bin/env bash
# The first run on a GPU machine, as one prepared command: device, driver and versions; the CUDA
# kernel tests (-m "gpu or not slow", junit XML); the benchmark presets flashrnn_cmp, eesen,
# latency and family. Sized to end within 8 minutes on an H200; writes 8 files to OUTDIR:
#   env.txt junit.xml tests.log bench.log bench.md bench.csv eesen.png flashrnn_cmp.png
#
#   bash tools/gpu_wheels.sh                     # here, once: wheels the GPU image lacks -> .whl/
#   bash tools/gpu_check.sh OUTDIR               # on the GPU machine (carry .whl)
#   bash tools/gpu_check.sh --dry-run OUTDIR     # the same steps on CPU: interpreter, tiny shapes
# Then commit OUTDIR's files under benchmarks/results/<device>/.
set -uo pipefail
cd "$(dirname "$0")/.."
DRY=0
if [ "${1:-}" = "--dry-run" ]; then DRY=1; shift; fi
OUT=${1:?usage: tools/gpu_check.sh [--dry-run] OUTDIR}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
PY=${PYTHON:-$([ -x .venv/bin/python ] && echo .venv/bin/python || echo python3)}
export PYTHONUNBUFFERED=1
if [ "$DRY" = 0 ] && [ -d .whl ] && ls .whl/*.whl >/dev/null 2>&1; then  # the GPU image lacks these
  "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
    && export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH}
fi
if [ "$DRY" = 1 ]; then export TRITON_INTERPRET=1; fi

# ---- 1. device, driver, versions
{
  echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)  host: $(uname -srm)  dry_run: $DRY"
  command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv
  "$PY" - <<'PYEOF'
import platform, torch, triton
print(f"python {platform.python_version()}  torch {torch.__version__}  triton {triton.__version__}  "
      f"cuda {torch.version.cuda}  cudnn {torch.backends.cudnn.version()}")
if torch.cuda.is_available():
    p = torch.cuda.get_device_properties(0)
    print(f"device {p.name}  sm_{p.major}{p.minor}  SMs {p.multi_processor_count}  "
          f"smem/SM {getattr(p, 'shared_memory_per_multiprocessor', '?')}  regs/SM {getattr(p, 'regs_per_multiprocessor', '?')}")
else:
    print("device: none (CPU; Triton interpreter)")
PYEOF
} > "$OUT/env.txt" 2>&1
cat "$OUT/env.txt"

# ---- 2. kernel tests on the device (the CPU dry run takes a small interpreter subset)
if [ "$DRY" = 1 ]; then
  tests=(tests/kernels/test_reference.py); budget=120
else
  tests=(tests/kernels tests/benchmarks tests/test_cells.py tests/test_rnn.py tests/reliability/test_kernel_numerics.py); budget=210
fi
timeout "$budget" "$PY" -m pytest -q -p no:cacheprovider -m "gpu or not slow" --junitxml="$OUT/junit.xml" \
  "${tests[@]}" > "$OUT/tests.log" 2>&1
echo "tests: exit $? ($(tail -1 "$OUT/tests.log"))"

# ---- 3. benchmark presets (each capped; a preset that fails or overruns leaves its log lines)
: > "$OUT/bench.log"
for spec in flashrnn_cmp:60 eesen:80 latency:50 family:80; do
  preset=${spec%%:*}; cap=${spec##*:}
  args=(bench="$preset" bench.out_dir="$tmp/$preset")
  if [ "$DRY" = 1 ]; then
    cap=120
    args+=(bench.device=cpu 'bench.dtypes=[fp32]' 'bench.providers=[torch,reference,interpret]' bench.baseline=torch
           bench.warmup_ms=1 bench.rep_ms=2 bench.tolerance.fp32=1e-4
           'bench.shapes=[{name:tiny,layers:1,hidden:16,input:8,batch:2,time:4,min_length:2}]')
  elif [ "$preset" = family ]; then
    args+=('bench.providers=[triton,triton_peephole,triton_lstmp,cudnn,cudnn_packed]')  # fp64 check still runs
  fi
  echo "=== $preset (cap ${cap}s): recipes/bench.py ${args[*]}" >> "$OUT/bench.log"
  timeout "$cap" "$PY" recipes/bench.py "${args[@]}" >> "$OUT/bench.log" 2>&1
  echo "bench $preset: exit $?" | tee -a "$OUT/bench.log"
done

# ---- 4. one table, one CSV (with the preset), the two figures the README quotes
: > "$OUT/bench.md"
header=""
: > "$OUT/bench.csv"
for preset in flashrnn_cmp eesen latency family; do
  [ -f "$tmp/$preset/$preset.md" ] && { echo "## $preset"; echo; cat "$tmp/$preset/$preset.md"; echo; } >> "$OUT/bench.md"
  csv="$tmp/$preset/$preset.csv"
  if [ -f "$csv" ]; then
    [ -n "$header" ] || { header=1; echo "preset,$(head -1 "$csv")" >> "$OUT/bench.csv"; }
    tail -n +2 "$csv" | sed "s/^/$preset,/" >> "$OUT/bench.csv"
  fi
done
for preset in eesen flashrnn_cmp; do
  [ -f "$tmp/$preset/$preset.png" ] && cp "$tmp/$preset/$preset.png" "$OUT/$preset.png"
done
ls -l "$OUT"
