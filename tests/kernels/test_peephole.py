"""The Triton peephole-LSTM recurrence against kernels.reference (float64), gradients of the
peephole weights included; with zero peepholes it is the plain LSTM kernel.

Without CUDA this runs under TRITON_INTERPRET=1 (tests/conftest.py); every output buffer starts
as NaN (DEBUG_FILL_NAN), so an element the kernels forget to write fails the test.
"""
import pytest
import torch

from kernels import LaunchConfig, lstm_recurrence, peephole_lstm_recurrence, peephole_lstm_recurrence_reference
from kernels.peephole import plan_peephole
from checks import (DEVICE, DT, ONE, MODES, STEP, TOL, assert_matches_reference,  # noqa: F401
                    check_length_sorted_tiles, nan_fill)  # noqa: F401 (nan_fill: autouse)


def _inputs(B, T, D, H, dtype, state=True):
    g = torch.Generator().manual_seed(0)
    inputs = dict(
        xproj=torch.randn(B, T, D, 4 * H, generator=g, dtype=torch.float64) * 0.8,
        w_hh=torch.randn(D, 4 * H, H, generator=g, dtype=torch.float64) / H**0.5,
        peep=torch.randn(D, 3, H, generator=g, dtype=torch.float64) * 0.5,
        h0=torch.randn(D, B, H, generator=g, dtype=torch.float64) * 0.5 if state else None,
        c0=torch.randn(D, B, H, generator=g, dtype=torch.float64) * 0.5 if state else None,
    )
    return {k: v.to(dtype).double() if v is not None else None for k, v in inputs.items()}  # same numbers


def _check(B, T, D, H, lengths, dtype, config, reverse=False, state=True, use=("y", "h", "c")):
    inputs = _inputs(B, T, D, H, dtype, state)
    lens = torch.tensor(lengths) if lengths is not None else None
    g = torch.Generator().manual_seed(1)
    outs = dict(y=torch.randn(B, T, D, H, generator=g, dtype=torch.float64),
                h=torch.randn(D, B, H, generator=g, dtype=torch.float64),
                c=torch.randn(D, B, H, generator=g, dtype=torch.float64))

    def run(fn, dt, **kw):
        leaves = {k: v.to(DEVICE, dt).requires_grad_() if v is not None else None for k, v in inputs.items()}
        res = fn(leaves["xproj"], leaves["w_hh"], leaves["peep"], lens, leaves["h0"], leaves["c0"],
                 reverse=reverse, **kw)
        loss = sum((o.double() * outs[k].to(DEVICE)).sum() for k, o in zip("yhc", res) if k in use)
        names = [k for k, v in leaves.items() if v is not None]
        grads = torch.autograd.grad(loss, [leaves[k] for k in names])
        return dict(zip(("y", "h_n", "c_n"), res)), dict(zip(names, grads))

    out, grads = run(peephole_lstm_recurrence, dtype, config=config)
    ref, gref = run(peephole_lstm_recurrence_reference, torch.float64)
    assert_matches_reference(out, ref, grads, gref, dtype, *TOL[dtype])


CASES = [
    pytest.param(4, 1, 2, 20, None, False, ONE, id="B4-T1-H20-D2-fp32-persistent"),
    pytest.param(5, 7, 2, 20, [7, 3, 1, 7, 5], False, ONE, id="B5-T7-H20-D2-ragged-fp32-persistent"),
    pytest.param(5, 7, 2, 20, [7, 3, 1, 7, 5], False, STEP, id="B5-T7-H20-D2-ragged-fp32-step2"),
    pytest.param(3, 9, 1, 24, [9, 4, 1], True, STEP, id="B3-T9-H24-D1-reverse-ragged-fp32-step2"),
]


@pytest.mark.parametrize("B,T,D,H,lengths,reverse,config", CASES)
def test_fp32_matches_reference(B, T, D, H, lengths, reverse, config):
    _check(B, T, D, H, lengths, torch.float32, config, reverse)


@pytest.mark.parametrize("dtype", ["bf16", "fp16"])
def test_half_dtypes_match_reference(dtype):
    _check(5, 6, 2, 20, [6, 2, 1, 5, 6], DT[dtype], STEP)


@pytest.mark.parametrize("use", [("c",), ("h",)], ids=lambda u: "only-" + "-".join(u))
def test_gradients_when_only_some_outputs_are_used(use):
    _check(3, 5, 2, 20, [5, 2, 4], torch.float32, STEP, use=use, state=use == ("h",))


@pytest.mark.parametrize("mode", MODES)
def test_length_sorted_tiles_match_reference(mode):
    """Rows dealt to the batch tiles longest first (make_plan's rows): values and every gradient (peepholes included) in
    natural batch order, step by step and persistent (2 hidden blocks x 2 batch tiles x 2 directions)."""
    check_length_sorted_tiles(lambda lengths, config: plan_peephole(19, 7, 2, 32, lengths, torch.float32, config, None),
                              lambda lengths, config: _check(19, 7, 2, 32, lengths, torch.float32, config), mode)


@pytest.mark.slow
@pytest.mark.parametrize("B,T,D,H,lengths,reverse,config", [
    pytest.param(18, 5, 2, 16, [5, 1, 2, 5, 3, 4, 1, 2, 3, 5, 4, 4, 1, 2, 3, 2, 2, 1], False, LaunchConfig(block_h=16),
                 id="B18-T5-H16-D2-ragged-2tiles-fp32"),
    pytest.param(3, 9, 1, 24, [9, 4, 1], True, ONE, id="B3-T9-H24-D1-reverse-ragged-fp32-persistent"),
    pytest.param(2, 11, 1, 48, None, False, STEP, id="B2-T11-H48-D1-fp32-step3"),
    pytest.param(3, 4, 2, 8, [4, 2, 3], False, None, id="B3-T4-H8-D2-fp32-default"),
    pytest.param(4, 37, 2, 320, [37, 1, 20, 36], False, LaunchConfig(block_h=64, mode="step"),
                 id="B4-T37-H320-D2-fp32-step5"),
])
def test_more_shapes_match_reference(B, T, D, H, lengths, reverse, config):
    _check(B, T, D, H, lengths, torch.float32, config, reverse)


def test_zero_peepholes_is_the_lstm_kernel():
    B, T, D, H = 3, 6, 2, 20
    x = _inputs(B, T, D, H, torch.float32)
    x = {k: v.float() for k, v in x.items()}
    lens = torch.tensor([6, 1, 4])
    y, h, c = peephole_lstm_recurrence(x["xproj"], x["w_hh"], torch.zeros_like(x["peep"]), lens, x["h0"], x["c0"],
                                       config=STEP)
    y2, h2, c2 = lstm_recurrence(x["xproj"], x["w_hh"], lens, x["h0"], x["c0"], config=STEP)
    for a, b in ((y, y2), (h, h2), (c, c2)):
        torch.testing.assert_close(a, b, atol=1e-6, rtol=1e-6)


@pytest.mark.parametrize("kwargs,match", [
    (dict(peep=torch.zeros(1, 4, 2)), r"peep must be \[1, 3, 2\]"),
    (dict(peep=torch.zeros(1, 3, 2, dtype=torch.float16)), "must have xproj's dtype"),
    (dict(c0=torch.zeros(1, 3, 2)), r"c0 must be \[1, 2, 2\]"),
    (dict(lengths=torch.tensor([0, 3])), "lengths must lie"),
], ids=["peep-shape", "mixed-dtype", "c0-shape", "len-0"])
def test_rejects_bad_input(kwargs, match):
    args = dict(xproj=torch.zeros(2, 3, 1, 8), w_hh=torch.zeros(1, 8, 2), peep=torch.zeros(1, 3, 2))
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        peephole_lstm_recurrence(**args)
