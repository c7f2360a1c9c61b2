"""The Triton GRU recurrence against kernels.reference (float64) and torch.nn.GRU.

Without CUDA this runs under TRITON_INTERPRET=1 (tests/conftest.py); every output buffer starts
as NaN (DEBUG_FILL_NAN), so an element the kernels forget to write fails the test.
"""

import pytest
import torch
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from kernels import LaunchConfig, gru_recurrence, gru_recurrence_reference
from kernels.gru import plan_gru
from kernels import configs
from kernels.testing import concurrent_programs
from checks import (DEVICE, DT, ONE, MODES, STEP, TOL, assert_matches_reference,  # noqa: F401
                    check_length_sorted_tiles, nan_fill)  # noqa: F401 (nan_fill: autouse)


def _check(B, T, D, H, lengths, dtype, config, reverse=False, state=True, use=("y", "h")):
    g = torch.Generator().manual_seed(0)
    inputs = dict(
        xproj=torch.randn(B, T, D, 3 * H, generator=g, dtype=torch.float64) * 0.8,
        w_hh=torch.randn(D, 3 * H, H, generator=g, dtype=torch.float64) / H**0.5,
        b_hn=torch.randn(D, H, generator=g, dtype=torch.float64) * 0.5,
        h0=torch.randn(D, B, H, generator=g, dtype=torch.float64) * 0.5 if state else None,
    )
    inputs = {k: v.to(dtype).double() if v is not None else None for k, v in inputs.items()}  # same numbers
    lens = torch.tensor(lengths) if lengths is not None else None
    outs = dict(y=torch.randn(B, T, D, H, generator=g, dtype=torch.float64),
                h=torch.randn(D, B, H, generator=g, dtype=torch.float64))

    def run(fn, dt, **kw):
        leaves = {k: v.to(DEVICE, dt).requires_grad_() if v is not None else None for k, v in inputs.items()}
        y, h = fn(leaves["xproj"], leaves["w_hh"], leaves["b_hn"], lens, leaves["h0"], reverse=reverse, **kw)
        loss = sum((o.double() * outs[k].to(DEVICE)).sum() for k, o in zip("yh", (y, h)) if k in use)
        names = [k for k, v in leaves.items() if v is not None]
        grads = torch.autograd.grad(loss, [leaves[k] for k in names])
        return {"y": y, "h_n": h}, dict(zip(names, grads))

    out, grads = run(gru_recurrence, dtype, config=config)
    ref, gref = run(gru_recurrence_reference, torch.float64)
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


def test_only_final_state_used_and_no_initial_state():
    _check(3, 5, 2, 20, [5, 2, 4], torch.float32, ONE, state=False, use=("h",))


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


@pytest.mark.parametrize("mode", MODES)
def test_length_sorted_tiles_match_reference(mode):
    """Rows dealt to the batch tiles longest first (make_plan's rows): values and every gradient in
    natural batch order, step by step and persistent (2 hidden blocks x 2 batch tiles x 2 directions)."""
    check_length_sorted_tiles(lambda lengths, config: plan_gru(19, 7, 2, 32, lengths, torch.float32, config, None),
                              lambda lengths, config: _check(19, 7, 2, 32, lengths, torch.float32, config), mode)


def _nn_gru_with_kernel(gru: torch.nn.GRU, x, lengths, h0, config=None):
    """Run the layers of a bidirectional nn.GRU through the kernel, from its own parameters."""
    B, T, _ = x.shape
    H = gru.hidden_size
    hs = []
    for layer in range(gru.num_layers):
        sfx = [f"_l{layer}", f"_l{layer}_reverse"]
        w_ih = torch.stack([getattr(gru, "weight_ih" + s) for s in sfx])                  # [D, 3H, I]
        b_hh = torch.stack([getattr(gru, "bias_hh" + s) for s in sfx])                    # [D, 3H]
        bias = torch.stack([getattr(gru, "bias_ih" + s) for s in sfx]) + torch.cat(
            [b_hh[:, :2 * H], torch.zeros_like(b_hh[:, 2 * H:])], dim=1)                  # b_hr, b_hz folded in
        xproj = torch.einsum("bti,dgi->btdg", x, w_ih) + bias[None, None]                  # [B, T, D, 3H]
        w_hh = torch.stack([getattr(gru, "weight_hh" + s) for s in sfx])
        y, h = gru_recurrence(xproj, w_hh, b_hh[:, 2 * H:], lengths, h0[2 * layer: 2 * layer + 2], config=config)
        x = y.reshape(B, T, -1)
        hs.append(h)
    return x, torch.cat(hs)


@pytest.mark.parametrize("config", [ONE, STEP], ids=["persistent", "step2"])
def test_two_stacked_layers_match_nn_gru_packed(config):
    torch.manual_seed(0)
    B, T, I, H, layers = 4, 6, 5, 20, 2
    gru = torch.nn.GRU(I, H, num_layers=layers, bidirectional=True, batch_first=True).to(DEVICE)
    x = torch.randn(B, T, I, device=DEVICE)
    h0 = torch.randn(2 * layers, B, H, device=DEVICE) * 0.5
    lengths = torch.tensor([6, 1, 3, 5])
    params = list(gru.parameters())

    packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
    out, hn = gru(packed, h0)
    out, _ = pad_packed_sequence(out, batch_first=True, total_length=T)
    g = torch.randn_like(out)
    ref_grads = torch.autograd.grad((out * g).sum() + hn.sum(), params)

    y, h = _nn_gru_with_kernel(gru, x, lengths, h0, config)
    grads = torch.autograd.grad((y * g).sum() + h.sum(), params)
    torch.testing.assert_close(y, out, atol=2e-5, rtol=1e-4)
    torch.testing.assert_close(h, hn, atol=2e-5, rtol=1e-4)
    for (name, _), a, b in zip(gru.named_parameters(), grads, ref_grads):
        torch.testing.assert_close(a, b, atol=1e-4, rtol=1e-4, msg=lambda m: f"{name}: {m}")


@pytest.mark.parametrize("kwargs,match", [
    (dict(w_hh=torch.zeros(1, 12, 3)), r"w_hh must be \[1, 12, 4\]"),
    (dict(b_hn=torch.zeros(2, 4)), r"b_hn must be \[1, 4\]"),
    (dict(b_hn=torch.zeros(1, 4, dtype=torch.float16)), "must have xproj's dtype"),
    (dict(lengths=torch.tensor([3, 4])), "lengths must lie"),
    (dict(xproj=torch.zeros(2, 3, 1, 10)), r"xproj must be \[B, T, D, 3H\]"),
], ids=["w_hh-shape", "b_hn-shape", "mixed-dtype", "len-gt-T", "gates-not-3H"])
def test_rejects_bad_input(kwargs, match):
    args = dict(xproj=torch.zeros(2, 3, 1, 12), w_hh=torch.zeros(1, 12, 4), b_hn=torch.zeros(1, 4))
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        gru_recurrence(**args)


@pytest.mark.parametrize("mode", MODES)
def test_exact_fp32_streamed_weights_match_reference(mode, monkeypatch):
    """The exact-fp32 path (allow_tf32 off: tf32x3) with weights too big for the chip (RESIDENT_BYTES 0
    here) runs its K chunks as a runtime loop: 4 chunks of 16, sorted ragged tiles, both directions."""
    monkeypatch.setattr(torch.backends.cudnn, "allow_tf32", False)
    monkeypatch.setattr(configs, "RESIDENT_BYTES", 0)
    B, T, D, H, lengths = 18, 5, 2, 48, [5, 1, 3, 5, 2, 4, 1, 2, 3, 5, 4, 4, 1, 2, 3, 2, 2, 5]
    config = LaunchConfig(block_h=16, block_k=16, mode=mode if mode == "step" else "auto")
    plan = plan_gru(B, T, D, H, torch.tensor(lengths, dtype=torch.int32), torch.float32, config, None)
    assert (plan.dot_precision, plan.resident, plan.HP // plan.BK) == ("tf32x3", False, 4)
    if mode == "step":
        _check(B, T, D, H, lengths, torch.float32, config)
        return
    with concurrent_programs() as launches:
        _check(B, T, D, H, lengths, torch.float32, config)
    assert len(launches) == 2
