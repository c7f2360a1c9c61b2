"""The Triton LSTMP recurrence (LSTM with a recurrent projection) against kernels.reference
(float64) and torch.nn.LSTM(proj_size=...).

Without CUDA this runs under TRITON_INTERPRET=1 (tests/conftest.py); every output buffer starts
as NaN (DEBUG_FILL_NAN), so an element the kernels forget to write fails the test.
"""

import pytest
import torch
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from kernels import LaunchConfig, lstmp_recurrence, lstmp_recurrence_reference
from kernels.lstmp import plan_lstmp
from kernels import configs
from kernels.testing import concurrent_programs
from checks import (DEVICE, DT, ONE, MODES, STEP, TOL, assert_matches_reference,  # noqa: F401
                    check_length_sorted_tiles, nan_fill)  # noqa: F401 (nan_fill: autouse)


def _check(B, T, D, H, P, lengths, dtype, config, reverse=False, state=True, use=("y", "h", "c")):
    g = torch.Generator().manual_seed(0)
    inputs = dict(
        xproj=torch.randn(B, T, D, 4 * H, generator=g, dtype=torch.float64) * 0.8,
        w_hh=torch.randn(D, 4 * H, P, generator=g, dtype=torch.float64) / P**0.5,
        w_hr=torch.randn(D, P, H, generator=g, dtype=torch.float64) / H**0.5,
        h0=torch.randn(D, B, P, generator=g, dtype=torch.float64) * 0.5 if state else None,
        c0=torch.randn(D, B, H, generator=g, dtype=torch.float64) * 0.5 if state else None,
    )
    inputs = {k: v.to(dtype).double() if v is not None else None for k, v in inputs.items()}  # same numbers
    lens = torch.tensor(lengths) if lengths is not None else None
    outs = dict(y=torch.randn(B, T, D, P, generator=g, dtype=torch.float64),
                h=torch.randn(D, B, P, generator=g, dtype=torch.float64),
                c=torch.randn(D, B, H, generator=g, dtype=torch.float64))

    def run(fn, dt, **kw):
        leaves = {k: v.to(DEVICE, dt).requires_grad_() if v is not None else None for k, v in inputs.items()}
        res = fn(leaves["xproj"], leaves["w_hh"], leaves["w_hr"], lens, leaves["h0"], leaves["c0"],
                 reverse=reverse, **kw)
        loss = sum((o.double() * outs[k].to(DEVICE)).sum() for k, o in zip("yhc", res) if k in use)
        names = [k for k, v in leaves.items() if v is not None]
        grads = torch.autograd.grad(loss, [leaves[k] for k in names])
        return dict(zip(("y", "h_n", "c_n"), res)), dict(zip(names, grads))

    out, grads = run(lstmp_recurrence, dtype, config=config)
    ref, gref = run(lstmp_recurrence_reference, torch.float64)
    assert_matches_reference(out, ref, grads, gref, dtype, *TOL[dtype])


CASES = [
    pytest.param(4, 1, 2, 20, 12, None, False, ONE, id="B4-T1-H20-P12-D2-fp32-persistent"),
    pytest.param(5, 7, 2, 20, 12, [7, 3, 1, 7, 5], False, ONE, id="B5-T7-H20-P12-D2-ragged-fp32-persistent"),
    pytest.param(5, 7, 2, 20, 12, [7, 3, 1, 7, 5], False, STEP, id="B5-T7-H20-P12-D2-ragged-fp32-step2"),
    pytest.param(3, 9, 1, 40, 20, [9, 4, 1], True, STEP, id="B3-T9-H40-P20-D1-reverse-ragged-fp32-step3"),
]


@pytest.mark.parametrize("B,T,D,H,P,lengths,reverse,config", CASES)
def test_fp32_matches_reference(B, T, D, H, P, lengths, reverse, config):
    _check(B, T, D, H, P, lengths, torch.float32, config, reverse)


@pytest.mark.parametrize("dtype", ["bf16", "fp16"])
def test_half_dtypes_match_reference(dtype):
    _check(5, 6, 2, 20, 12, [6, 2, 1, 5, 6], DT[dtype], STEP)


@pytest.mark.parametrize("mode", MODES)
def test_length_sorted_tiles_match_reference(mode):
    """Rows dealt to the batch tiles longest first (make_plan's rows): values and every gradient in
    natural batch order, step by step and persistent (2 hidden blocks x 2 batch tiles x 2 directions)."""
    check_length_sorted_tiles(
        lambda lengths, config: plan_lstmp(19, 7, 2, 32, lengths, torch.float32, config, None, 20),
        lambda lengths, config: _check(19, 7, 2, 32, 20, lengths, torch.float32, config), mode)


@pytest.mark.parametrize("use", [("c",), ("h",)], ids=lambda u: "only-" + "-".join(u))
def test_gradients_when_only_some_outputs_are_used(use):
    _check(3, 5, 2, 20, 12, [5, 2, 4], torch.float32, STEP, use=use, state=use == ("h",))


@pytest.mark.slow
@pytest.mark.parametrize("B,T,D,H,P,lengths,reverse,config", [
    pytest.param(18, 5, 2, 16, 8, [5, 1, 2, 5, 3, 4, 1, 2, 3, 5, 4, 4, 1, 2, 3, 2, 2, 1], False,
                 LaunchConfig(block_h=16), id="B18-T5-H16-P8-D2-ragged-2tiles-fp32"),
    pytest.param(3, 9, 1, 24, 20, [9, 4, 1], True, ONE, id="B3-T9-H24-P20-D1-reverse-ragged-fp32-persistent"),
    pytest.param(2, 11, 1, 64, 40, None, False, STEP, id="B2-T11-H64-P40-D1-fp32-step4"),
    pytest.param(3, 4, 2, 8, 4, [4, 2, 3], False, None, id="B3-T4-H8-P4-D2-fp32-default"),
    pytest.param(4, 37, 2, 320, 160, [37, 1, 20, 36], False, LaunchConfig(block_h=64, mode="step"),
                 id="B4-T37-H320-P160-D2-fp32-step5"),
])
def test_more_shapes_match_reference(B, T, D, H, P, lengths, reverse, config):
    _check(B, T, D, H, P, lengths, torch.float32, config, reverse)


def _nn_lstmp_with_kernel(lstm: torch.nn.LSTM, x, lengths, h0, c0, config=None):
    """Run the layers of a bidirectional nn.LSTM(proj_size=P) through the kernel, its own parameters."""
    B, T, _ = x.shape
    hs, cs = [], []
    for layer in range(lstm.num_layers):
        sfx = [f"_l{layer}", f"_l{layer}_reverse"]
        w_ih = torch.stack([getattr(lstm, "weight_ih" + s) for s in sfx])          # [D, 4H, I]
        bias = torch.stack([getattr(lstm, "bias_ih" + s) + getattr(lstm, "bias_hh" + s) for s in sfx])
        xproj = torch.einsum("bti,dgi->btdg", x, w_ih) + bias                        # [B, T, D, 4H]
        w_hh = torch.stack([getattr(lstm, "weight_hh" + s) for s in sfx])           # [D, 4H, P]
        w_hr = torch.stack([getattr(lstm, "weight_hr" + s) for s in sfx])           # [D, P, H]
        y, h, c = lstmp_recurrence(xproj, w_hh, w_hr, lengths, h0[2 * layer: 2 * layer + 2],
                                   c0[2 * layer: 2 * layer + 2], config=config)
        x = y.reshape(B, T, -1)
        hs.append(h)
        cs.append(c)
    return x, torch.cat(hs), torch.cat(cs)


@pytest.mark.parametrize("config", [ONE, STEP], ids=["persistent", "step2"])
def test_two_stacked_layers_match_nn_lstm_proj_packed(config):
    torch.manual_seed(0)
    B, T, I, H, P, layers = 4, 6, 5, 20, 12, 2
    lstm = torch.nn.LSTM(I, H, num_layers=layers, bidirectional=True, batch_first=True, proj_size=P).to(DEVICE)
    x = torch.randn(B, T, I, device=DEVICE)
    h0 = torch.randn(2 * layers, B, P, device=DEVICE) * 0.5
    c0 = torch.randn(2 * layers, B, H, device=DEVICE) * 0.5
    lengths = torch.tensor([6, 1, 3, 5])
    params = list(lstm.parameters())

    packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
    out, (hn, cn) = lstm(packed, (h0, c0))
    out, _ = pad_packed_sequence(out, batch_first=True, total_length=T)
    g = torch.randn_like(out)
    ref_grads = torch.autograd.grad((out * g).sum() + hn.sum() + 2 * cn.sum(), params)

    y, h, c = _nn_lstmp_with_kernel(lstm, x, lengths, h0, c0, config)
    grads = torch.autograd.grad((y * g).sum() + h.sum() + 2 * c.sum(), params)
    torch.testing.assert_close(y, out, atol=2e-5, rtol=1e-4)
    torch.testing.assert_close(h, hn, atol=2e-5, rtol=1e-4)
    torch.testing.assert_close(c, cn, atol=2e-5, rtol=1e-4)
    for (name, _), a, b in zip(lstm.named_parameters(), grads, ref_grads):
        torch.testing.assert_close(a, b, atol=1e-4, rtol=1e-4, msg=lambda m: f"{name}: {m}")


@pytest.mark.parametrize("kwargs,match", [
    (dict(w_hh=torch.zeros(1, 8, 2)), r"w_hh must be \[1, 8, 3\]"),
    (dict(w_hr=torch.zeros(1, 3, 5)), r"w_hr must be \[1, 3, 2\]"),
    (dict(h0=torch.zeros(1, 2, 2)), r"h0 must be \[1, 2, 3\]"),
    (dict(w_hr=torch.zeros(1, 3, 2, dtype=torch.bfloat16)), "must have xproj's dtype"),
], ids=["w_hh-shape", "w_hr-shape", "h0-is-P", "mixed-dtype"])
def test_rejects_bad_input(kwargs, match):
    args = dict(xproj=torch.zeros(2, 3, 1, 8), w_hh=torch.zeros(1, 8, 3), w_hr=torch.zeros(1, 3, 2))
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        lstmp_recurrence(**args)


def test_bench_provider_with_identity_projection_is_the_lstm():
    """kernels.bench's `triton_lstmp` provider runs W_hr = I (P = H): the plain LSTM, checked as such."""
    from benchmarks.providers import _lstmp_as_lstm
    from kernels.reference import lstm_recurrence_reference

    g = torch.Generator().manual_seed(3)
    xproj, w_hh = torch.randn(3, 5, 2, 64, generator=g), torch.randn(2, 64, 16, generator=g) / 4
    lens = torch.tensor([5, 1, 3])
    y, h, c = _lstmp_as_lstm(xproj, w_hh, lens)
    ref = lstm_recurrence_reference(xproj.double(), w_hh.double(), lens)
    for a, b in zip((y, h, c), ref):
        torch.testing.assert_close(a.double(), b, atol=3e-5, rtol=1e-4)


@pytest.mark.parametrize("mode", MODES)
def test_exact_fp32_streamed_weights_match_reference(mode, monkeypatch):
    """The exact-fp32 path (allow_tf32 off: tf32x3) with weights too big for the chip (RESIDENT_BYTES 0
    here) runs its K chunks as a runtime loop: 4 chunks of 16, sorted ragged tiles, both directions."""
    monkeypatch.setattr(torch.backends.cudnn, "allow_tf32", False)
    monkeypatch.setattr(configs, "RESIDENT_BYTES", 0)
    B, T, D, H, lengths = 18, 5, 2, 48, [5, 1, 3, 5, 2, 4, 1, 2, 3, 5, 4, 4, 1, 2, 3, 2, 2, 5]
    config = LaunchConfig(block_h=16, block_k=16, mode=mode if mode == "step" else "auto")
    plan = plan_lstmp(B, T, D, H, torch.tensor(lengths, dtype=torch.int32), torch.float32, config, None, 20)
    assert (plan.dot_precision, plan.resident, plan.HP // plan.BK) == ("tf32x3", False, 4)
    if mode == "step":
        _check(B, T, D, H, 20, lengths, torch.float32, config)
        return
    with concurrent_programs() as launches:
        _check(B, T, D, H, 20, lengths, torch.float32, config)
    assert len(launches) == 2
