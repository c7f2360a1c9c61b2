"""Timing: medians after warm-up (`triton.testing.do_bench` on CUDA, the same discipline with
`time.perf_counter` on CPU), and the TF32 switch the fp32 rows run under."""
from __future__ import annotations

import contextlib
import statistics
import time
from typing import Callable

import torch


def time_cpu(fn: Callable[[], object], warmup_ms: float, rep_ms: float) -> float:
    """Median ms of `fn`, with do_bench's discipline: estimate, warm up for ~warmup_ms, repeat for ~rep_ms."""
    t0 = time.perf_counter()
    fn()
    est = max((time.perf_counter() - t0) * 1e3, 1e-3)
    for _ in range(max(1, int(warmup_ms / est))):
        fn()
    times = []
    for _ in range(max(3, int(rep_ms / est))):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(times)


def time_fn(fn: Callable[[], object], device: str, warmup_ms: float, rep_ms: float) -> float:
    if device == "cuda":
        from triton.testing import do_bench

        return do_bench(fn, warmup=warmup_ms, rep=rep_ms, return_mode="median")
    return time_cpu(fn, warmup_ms, rep_ms)


@contextlib.contextmanager
def tf32(enabled: bool):
    """TF32 for fp32 matmuls (torch and our kernel follow torch.backends.cuda.matmul) and cuDNN."""
    saved = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = enabled
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved
