"""The benchmark's outputs: the row columns, the environment line, the Markdown table, the CSV
and the plot (`<name>.md`, `<name>.csv`, `<name>.png`), optionally copied to
`bench.results_dir/<device-slug>/`.
"""
from __future__ import annotations

import csv
import datetime
import math
import platform
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import torch

if TYPE_CHECKING:
    from benchmarks.harness import Settings


COLUMNS = [
    "shape", "cell", "layers", "hidden", "input", "directions", "batch", "time", "lengths", "dtype", "provider",
    "path", "status", "max_err", "grad_err", "fwd_ms", "fwdbwd_ms", "us_per_step", "peak_mib",
    "tflops_fwd", "tflops_fwdbwd", "speedup_fwd", "speedup_fwdbwd",
]


def _git_commit() -> str:
    here = Path(__file__).resolve().parent
    try:
        rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=here, capture_output=True,
                             text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=here,
                               capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return rev + ("-dirty" if dirty else "")


def device_name(device: str) -> str:
    if device == "cuda":
        return torch.cuda.get_device_name()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "cpu"


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "unknown"


def environment(device: str) -> dict:
    import triton

    cudnn = torch.backends.cudnn.version() if device == "cuda" and torch.backends.cudnn.is_available() else None
    return dict(device=device_name(device), torch=torch.__version__, triton=triton.__version__,
                cudnn=str(cudnn) if cudnn else "n/a", commit=_git_commit(),
                date=datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"))


def _header(name: str, env: dict, s: Settings, baseline: str, notes: list[str]) -> str:
    timer = "triton.testing.do_bench" if s.device == "cuda" else "time.perf_counter"
    lines = [
        f"## Benchmark `{name}`: {env['device']}",
        "",
        f"{env['date']} · torch {env['torch']} · triton {env['triton']} · cuDNN {env['cudnn']} · "
        f"commit {env['commit']}",
        "",
        f"Medians ({timer}; warm-up {s.warmup_ms:g} ms, repeats {s.rep_ms:g} ms); speed-up over `{baseline}` "
        f"in this run; correctness against kernels.reference in {s.check_dtype} (tolerance per dtype: "
        + ", ".join(f"{k} {v:g}" for k, v in s.tolerance.items()) + ").",
    ]
    if notes:
        lines += [""] + [f"- {n}" for n in notes]
    return "\n".join(lines) + "\n"


def _fmt(v) -> str:
    if v is None or v == "":
        return ""
    if isinstance(v, float):
        if math.isnan(v):
            return "nan"
        if v != 0 and (abs(v) < 1e-2 or abs(v) >= 1e5):
            return f"{v:.2e}"
        return f"{v:.3g}" if abs(v) < 10 else f"{v:.1f}"
    return str(v)


def markdown_table(rows: list[dict]) -> str:
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    lines += ["| " + " | ".join(_fmt(r.get(c)) for c in COLUMNS) + " |" for r in rows]
    return "\n".join(lines) + "\n"


def write_csv(rows: list[dict], path: Path) -> None:
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=COLUMNS + ["note"], extrasaction="ignore")
        w.writeheader()
        w.writerows(rows)


def write_plot(rows: list[dict], path: Path, title: str, baseline: str) -> None:
    """Grouped bars per (shape, dtype): µs per step (log scale) and forward+backward speed-up."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    groups = list(dict.fromkeys((r["shape"], r["dtype"]) for r in rows))
    providers = list(dict.fromkeys(r["provider"] for r in rows))
    by = {(r["shape"], r["dtype"], r["provider"]): r for r in rows}
    fig, axes = plt.subplots(1, 2, figsize=(max(8, 1.6 * len(groups) * 2), 4.5))
    width = 0.8 / max(1, len(providers))
    for ax, col, label in ((axes[0], "us_per_step", "µs per time step (forward)"),
                           (axes[1], "speedup_fwdbwd", f"fwd+bwd speed-up over {baseline}")):
        for j, p in enumerate(providers):
            vals = [by.get((s, d, p), {}).get(col) or math.nan for s, d in groups]  # nan: no bar
            ax.bar([i + j * width for i in range(len(groups))], vals, width, label=p)
        ax.set_xticks([i + width * (len(providers) - 1) / 2 for i in range(len(groups))])
        ax.set_xticklabels([f"{s}\n{d}" for s, d in groups], fontsize=8)
        ax.set_ylabel(label)
        if any(r.get(col) for r in rows):
            ax.set_yscale("log")  # times span decades; speed-ups are ratios
        else:
            ax.text(0.5, 0.5, "no timed rows", ha="center", transform=ax.transAxes)
        if col.startswith("speedup"):
            ax.axhline(1.0, color="gray", lw=0.8, ls="--")
    if providers:
        axes[0].legend(fontsize=8)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def write_report(rows: list[dict], name: str, env: dict, settings: Settings, baseline: str, notes: list[str],
                 out_dir: Path, results_dir: Path | None) -> list[Path]:
    """Print the header and table; write <name>.md/.csv/.png to out_dir (and copy them to
    results_dir/<device-slug>/ unless results_dir is None); return the three paths."""
    header = _header(name, env, settings, baseline, notes)
    table = markdown_table(rows)
    print(header + "\n" + table)
    out_dir.mkdir(parents=True, exist_ok=True)
    files = [out_dir / f"{name}.md", out_dir / f"{name}.csv", out_dir / f"{name}.png"]
    files[0].write_text(header + "\n" + table)
    write_csv(rows, files[1])
    write_plot(rows, files[2], title=f"{name} on {env['device']} ({env['date']})", baseline=baseline)
    print(f"[bench] wrote {', '.join(str(f) for f in files)}", file=sys.stderr)
    if results_dir is not None:
        dest = results_dir / slug(env["device"])
        dest.mkdir(parents=True, exist_ok=True)
        for f in files:
            shutil.copy2(f, dest / f.name)
        print(f"[bench] saved results to {dest}/", file=sys.stderr)
    return files
