"""Which cuDNN RNN algorithm a `cudnn` / `cudnn_packed` row ran, for the table's `path` column.

`cudnn_algo` mirrors PyTorch's choice (`get_algo` in aten/src/ATen/native/cudnn/RNN.cpp) from the
shape, dtype and device; `ops_called` checks that nn.LSTM / nn.GRU reached cuDNN at all.
"""
from __future__ import annotations

from typing import Callable

import torch

from benchmarks.problems import CELLS, Shape


def cudnn_algo(*, layers: int, bidirectional: bool, hidden: int, input_size: int, batch: int, time: int,
               dtype: str, packed: bool, forward: bool, capability: tuple[int, int], sm_count: int,
               cudnn_version: int | None, cell: str = "lstm") -> str:
    """The cuDNN RNN algorithm PyTorch picks for cuDNN mode LSTM or GRU (`cell`) (mirrors `get_algo`
    in aten/src/ATen/native/cudnn/RNN.cpp: the small-H limits are the same for both modes; on sm_80+
    PyTorch never picks persist static for GRU)."""
    if cell not in CELLS:
        raise ValueError(f"cell must be one of {', '.join(CELLS)}, got {cell!r}")
    if packed or dtype == "fp64":
        return "standard"
    major, minor = capability
    if major >= 6 and (cudnn_version or 0) >= 8201 and hidden <= (192 if forward else 128):
        return "persistent small-H"
    if dtype != "fp16":
        return "standard"
    common = layers == 1 and not bidirectional and hidden <= 1024 and hidden % 128 == 0 and input_size % 128 == 0
    if major == 7:
        device_ok = minor != 5 and ((batch % 16 == 0 and batch not in (80, 112)) or batch == 8) and (
            (time >= 40 and batch <= 128) or (time >= 20 and batch <= 96) or (time >= 10 and batch <= 32))
    else:
        device_ok = (major >= 8 and sm_count >= 98 and minor != 6 and cell == "lstm"
                     and batch % 8 == 0 and batch <= 128)
    return "persistent" if common and device_ok else "standard"


def ops_called(fn: Callable[[], object]) -> set[str]:
    """Names of the aten ops one call of `fn` dispatches (to see whether nn.LSTM / nn.GRU reached cuDNN)."""
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU], acc_events=True) as prof:
        fn()
    return {e.key for e in prof.key_averages()}


def cudnn_path(shape: Shape, dtype: str, packed: bool) -> str:
    """'cudnn <algo>' ('cudnn GRU <algo>' for cuDNN mode GRU) for forward and backward on the current
    CUDA device, by PyTorch's rules."""
    if not torch.backends.cudnn.is_available():
        return "native (no cuDNN)"
    props = torch.cuda.get_device_properties(torch.cuda.current_device())
    kw = dict(layers=shape.layers, bidirectional=shape.bidirectional, hidden=shape.hidden,
              input_size=shape.input, batch=shape.batch, time=shape.time, dtype=dtype, packed=packed,
              capability=(props.major, props.minor), sm_count=props.multi_processor_count,
              cudnn_version=torch.backends.cudnn.version(), cell=shape.cell)
    fwd, bwd = cudnn_algo(forward=True, **kw), cudnn_algo(forward=False, **kw)
    mode = "cudnn" if shape.cell == "lstm" else f"cudnn {shape.cell.upper()}"
    return f"{mode} {fwd}" if fwd == bwd else f"{mode} {fwd} fwd / {bwd} bwd"
