"""Steps the persistent kernels run with and without length sorting (kernels.common.make_plan).

A batch tile of BB rows loops to its longest sequence (tile_len), so the steps a kernel runs are
sum over tiles of tile_len; with sort_rows the rows are dealt to the tiles longest first.

    python -m benchmarks.tile_sorting            # the table in README.md (Kernels: length sorting)

Batches: the benchmark's `eesen-ragged` draw (conf/bench/eesen.yaml, seed 0: B = 32, lengths uniform
in 500..1000, the first 1000), 1000 more draws of that shape, and a LibriSpeech-like spread (an
assumption, no corpus here: lengths uniform over 1-35 s at 100 frames/s, B = 32 and 64), plus the
training loader's batches of such a corpus (asr.data.BucketBatchSampler, duration-bucketed).
"""
from __future__ import annotations

import statistics

import torch

from kernels.common import make_plan
from kernels.configs import LaunchConfig

BB = 16


def steps(lengths: torch.Tensor, sort_rows: bool) -> int:
    """sum over batch tiles of tile_len (the kernels' loop trips per direction)."""
    lengths = lengths.to(torch.int32)
    plan = make_plan(len(lengths), int(lengths.max()), 2, 64, lengths, torch.float32, LaunchConfig(block_h=16),
                     lambda BH, BP: 0, sort_rows=sort_rows)
    return int(plan.tile_len.sum())


def saving(batches: list[torch.Tensor]) -> tuple[int, int, float, float, float]:
    """-> steps natural, steps sorted (summed over batches), saving %, min and max saving % per batch."""
    nat = [steps(b, False) for b in batches]
    srt = [steps(b, True) for b in batches]
    per = [100 * (1 - s / n) for n, s in zip(nat, srt)]
    return sum(nat), sum(srt), 100 * (1 - sum(srt) / sum(nat)), min(per), max(per)


def eesen_draw(seed: int) -> torch.Tensor:
    """benchmarks.problems.make_problem's lengths for eesen-ragged (B 32, time 1000, min_length 500)."""
    gen = torch.Generator().manual_seed(seed)
    torch.randn(32, 1000, 120, generator=gen, dtype=torch.float64)  # x, drawn first in make_problem
    lengths = torch.randint(500, 1001, (32,), generator=gen)
    lengths[0] = 1000
    return lengths


def main() -> None:
    gen = torch.Generator().manual_seed(0)
    cases = {
        "eesen-ragged, the benchmark's draw (seed 0)": [eesen_draw(0)],
        "eesen shape, 1000 draws": [torch.randint(500, 1001, (32,), generator=gen) for _ in range(1000)],
        "LibriSpeech-like, B 32, 1000 draws": [torch.randint(100, 3501, (32,), generator=gen) for _ in range(1000)],
        "LibriSpeech-like, B 64, 1000 draws": [torch.randint(100, 3501, (64,), generator=gen) for _ in range(1000)],
    }
    from asr.data import BucketBatchSampler  # training batches: duration-bucketed (jittered sort)
    corpus = torch.randint(100, 3501, (20000,), generator=gen).tolist()
    sampler = BucketBatchSampler(corpus, max_frames=32 * 1750, seed=0)
    cases["LibriSpeech-like corpus, the training loader's batches (max_frames 56000)"] = [
        torch.tensor([corpus[i] for i in b]) for b in sampler.batches(0)]
    print(f"| batches (BB = {BB}) | n | steps natural | steps sorted | saving | per batch min-max |")
    print("|---|---|---|---|---|---|")
    for name, batches in cases.items():
        nat, srt, pct, lo, hi = saving(batches)
        sizes = statistics.mean(len(b) for b in batches)
        print(f"| {name} (mean B {sizes:.0f}) | {len(batches)} | {nat:,} | {srt:,} | {pct:.1f} % | {lo:.1f}-{hi:.1f} % |")


if __name__ == "__main__":
    main()
