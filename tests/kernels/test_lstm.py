"""The Triton LSTM recurrence against kernels.reference (float64) and torch.nn.LSTM.

Without CUDA this runs under TRITON_INTERPRET=1 (tests/conftest.py). Every output buffer
starts as NaN (DEBUG_FILL_NAN), so an element the kernels forget to write fails the test.
"""
import pytest
import torch
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

import kernels.common as kcommon
import kernels.configs as kconfigs
from kernels import LaunchConfig, lstm_recurrence, lstm_recurrence_reference
from kernels.lstm import plan_lstm
from checks import DEVICE, DT, ONE, MODES, STEP, TOL, check_length_sorted_tiles, nan_fill  # noqa: F401


def _inputs(B, T, D, H, lengths, dtype, seed=0, state=True):
    g = torch.Generator().manual_seed(seed)
    xproj = torch.randn(B, T, D, 4 * H, generator=g, dtype=torch.float64) * 0.8
    w_hh = torch.randn(D, 4 * H, H, generator=g, dtype=torch.float64) / H**0.5
    h0 = torch.randn(D, B, H, generator=g, dtype=torch.float64) * 0.5 if state else None
    c0 = torch.randn(D, B, H, generator=g, dtype=torch.float64) * 0.5 if state else None
    # round to the tested dtype so kernel and reference see the same numbers
    xproj, w_hh = xproj.to(dtype).double(), w_hh.to(dtype).double()
    lens = torch.tensor(lengths) if lengths is not None else None
    return xproj, w_hh, lens, h0, c0


def _run(fn, xproj, w_hh, lens, h0, c0, reverse, dtype, grads, **kw):
    """Forward + backward of fn on copies of the inputs in dtype; returns outputs and input grads."""
    args = [xproj, w_hh, h0, c0]
    leaves = [a.to(DEVICE, dtype).requires_grad_() if a is not None else None for a in args]
    y, h, c = fn(leaves[0], leaves[1], lens, leaves[2], leaves[3], reverse=reverse, **kw)
    gy, gh, gc = grads
    loss = 0
    for out, g in ((y, gy), (h, gh), (c, gc)):
        if g is not None:
            loss = loss + (out.double() * g.to(DEVICE)).sum()
    dx = torch.autograd.grad(loss, [a for a in leaves if a is not None], allow_unused=True)
    return (y, h, c), dx


def _grads(B, T, D, H, seed=1, use=("y", "h", "c")):
    g = torch.Generator().manual_seed(seed)
    gy = torch.randn(B, T, D, H, generator=g, dtype=torch.float64)
    gh = torch.randn(D, B, H, generator=g, dtype=torch.float64)
    gc = torch.randn(D, B, H, generator=g, dtype=torch.float64)
    return tuple(v if k in use else None for k, v in zip("yhc", (gy, gh, gc)))


def _check(B, T, D, H, lengths, dtype, config, reverse=False, state=True, use=("y", "h", "c")):
    xproj, w_hh, lens, h0, c0 = _inputs(B, T, D, H, lengths, dtype, state=state)
    grads = _grads(B, T, D, H, use=use)
    out, dx = _run(lstm_recurrence, xproj, w_hh, lens, h0, c0, reverse, dtype, grads, config=config)
    ref, dref = _run(lstm_recurrence_reference, xproj, w_hh, lens, h0, c0, reverse, torch.float64, grads)
    atol, rtol = TOL[dtype]
    for name, a, b in zip(("y", "h_n", "c_n"), out, ref):
        assert a.dtype == dtype and a.shape == b.shape, name
        assert not a.isnan().any(), f"{name} has unwritten (NaN) elements"
        torch.testing.assert_close(a.double().cpu(), b, atol=atol, rtol=rtol, msg=lambda m: f"{name}: {m}")
    names = ("d_xproj", "d_w_hh", "d_h0", "d_c0")
    for name, a, b in zip(names, dx, dref):
        assert (a is None) == (b is None), name
        if a is None:
            continue
        assert not a.isnan().any(), f"{name} has unwritten (NaN) elements"
        # gradients sum over steps: scale the tolerance with their size
        scale = max(1.0, b.abs().max().item())
        torch.testing.assert_close(a.double().cpu(), b, atol=atol * scale, rtol=rtol,
                                   msg=lambda m: f"{name}: {m}")


# B, T, D, H, lengths, reverse, config.  Persistent with one hidden block vs step mode with several.
CASES = [
    pytest.param(4, 1, 2, 20, None, False, ONE, id="B4-T1-H20-D2-persistent"),
    pytest.param(5, 7, 2, 20, [7, 3, 1, 7, 5], False, ONE, id="B5-T7-H20-D2-ragged-persistent"),
    pytest.param(5, 7, 2, 20, [7, 3, 1, 7, 5], False, STEP, id="B5-T7-H20-D2-ragged-step2"),
    pytest.param(18, 5, 2, 16, [5, 1, 2, 5, 3, 4, 1, 2, 3, 5, 4, 4, 1, 2, 3, 2, 2, 1], False,
                 LaunchConfig(block_h=16), id="B18-T5-H16-D2-ragged-2tiles"),
    pytest.param(3, 9, 1, 24, [9, 4, 1], True, ONE, id="B3-T9-H24-D1-reverse-ragged"),
    pytest.param(3, 9, 1, 24, [9, 4, 1], True, STEP, id="B3-T9-H24-D1-reverse-ragged-step2"),
    pytest.param(2, 11, 1, 48, None, False, STEP, id="B2-T11-H48-D1-step3"),
    pytest.param(3, 4, 2, 8, [4, 2, 3], False, None, id="B3-T4-H8-D2-default"),
]


@pytest.mark.parametrize("B,T,D,H,lengths,reverse,config", CASES)
def test_fp32_matches_reference(B, T, D, H, lengths, reverse, config):
    _check(B, T, D, H, lengths, torch.float32, config, reverse)


@pytest.mark.parametrize("dtype", ["bf16", "fp16"])
@pytest.mark.parametrize("config", [ONE, STEP], ids=["persistent", "step2"])
def test_half_dtypes_match_reference(dtype, config):
    _check(5, 6, 2, 20, [6, 2, 1, 5, 6], DT[dtype], config)


@pytest.mark.parametrize("use", [("y",), ("h",), ("c",), ("h", "c")], ids=lambda u: "only-" + "-".join(u))
def test_gradients_when_only_some_outputs_are_used(use):
    _check(3, 5, 2, 20, [5, 2, 4], torch.float32, STEP, use=use)


@pytest.mark.parametrize("config", [ONE, STEP], ids=["persistent", "step2"])
def test_weights_streamed_from_memory(config, monkeypatch):
    """The path for weights too big for the chip (fp32, large H): tiles reloaded every step."""
    monkeypatch.setattr(kconfigs, "RESIDENT_BYTES", 0)
    _check(4, 5, 2, 20, [5, 1, 3, 4], torch.float32, config)


def test_without_initial_state():
    _check(3, 5, 2, 20, [5, 2, 4], torch.float32, ONE, state=False)


@pytest.mark.parametrize("mode", MODES)
def test_length_sorted_tiles_match_reference(mode):
    """Rows dealt to the batch tiles longest first (make_plan's rows): values and every gradient in
    natural batch order, step by step and persistent (2 hidden blocks x 2 batch tiles x 2 directions)."""
    check_length_sorted_tiles(lambda lengths, config: plan_lstm(19, 7, 2, 32, lengths, torch.float32, config, None),
                              lambda lengths, config: _check(19, 7, 2, 32, lengths, torch.float32, config), mode)


@pytest.mark.slow
@pytest.mark.parametrize("dtype,config", [
    pytest.param(dt, cfg, id=f"B4-T37-H320-{dt}-{name}")
    for dt in ("fp32", "bf16")
    for name, cfg in (("persistent", LaunchConfig(block_h=512)), ("step5", LaunchConfig(block_h=64, mode="step")))
])
def test_H320_matches_reference(dtype, config):
    """H not a power of two: the dots take cdiv(H, BK) K-chunks, none padded."""
    _check(4, 37, 2, 320, [37, 1, 20, 36], DT[dtype], config)


@pytest.mark.slow
@pytest.mark.parametrize("config", [LaunchConfig(block_h=64), LaunchConfig(block_h=16, mode="step")],
                         ids=["B33-T23-H64-fp32-persistent", "B33-T23-H64-fp32-step4"])
def test_B33_T23_H64_matches_reference(config):
    lengths = [(7 * i) % 23 + 1 for i in range(33)]
    _check(33, 23, 2, 64, lengths, torch.float32, config)


def _nn_lstm_with_kernel(lstm: torch.nn.LSTM, x, lengths, h0, c0, config=None):
    """Run the layers of a bidirectional nn.LSTM through the kernel, its own parameters."""
    B, T, _ = x.shape
    hs, cs = [], []
    for layer in range(lstm.num_layers):
        sfx = [f"_l{layer}", f"_l{layer}_reverse"]
        w_ih = torch.stack([getattr(lstm, "weight_ih" + s) for s in sfx])          # [D, 4H, I]
        bias = torch.stack([getattr(lstm, "bias_ih" + s) + getattr(lstm, "bias_hh" + s) for s in sfx])
        xproj = torch.einsum("bti,dgi->btdg", x, w_ih) + bias                        # [B, T, D, 4H]
        w_hh = torch.stack([getattr(lstm, "weight_hh" + s) for s in sfx])
        y, h, c = lstm_recurrence(xproj, w_hh, lengths, h0[2 * layer: 2 * layer + 2],
                                  c0[2 * layer: 2 * layer + 2], config=config)
        x = y.reshape(B, T, -1)
        hs.append(h)
        cs.append(c)
    return x, torch.cat(hs), torch.cat(cs)


@pytest.mark.parametrize("config", [ONE, STEP], ids=["persistent", "step2"])
def test_two_stacked_layers_match_nn_lstm_packed(config):
    torch.manual_seed(0)
    B, T, I, H, layers = 4, 6, 5, 20, 2
    lstm = torch.nn.LSTM(I, H, num_layers=layers, bidirectional=True, batch_first=True).to(DEVICE)
    x = torch.randn(B, T, I, device=DEVICE)
    h0 = torch.randn(2 * layers, B, H, device=DEVICE) * 0.5
    c0 = torch.randn(2 * layers, B, H, device=DEVICE) * 0.5
    lengths = torch.tensor([6, 1, 3, 5])
    params = list(lstm.parameters())

    packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
    out, (hn, cn) = lstm(packed, (h0, c0))
    out, _ = pad_packed_sequence(out, batch_first=True, total_length=T)
    g = torch.randn_like(out)
    ref_grads = torch.autograd.grad((out * g).sum() + hn.sum() + 2 * cn.sum(), params)

    y, h, c = _nn_lstm_with_kernel(lstm, x, lengths, h0, c0, config)
    grads = torch.autograd.grad((y * g).sum() + h.sum() + 2 * c.sum(), params)
    torch.testing.assert_close(y, out, atol=2e-5, rtol=1e-4)
    torch.testing.assert_close(h, hn, atol=2e-5, rtol=1e-4)
    torch.testing.assert_close(c, cn, atol=2e-5, rtol=1e-4)
    for (name, _), a, b in zip(lstm.named_parameters(), grads, ref_grads):
        torch.testing.assert_close(a, b, atol=1e-4, rtol=1e-4, msg=lambda m: f"{name}: {m}")


def test_persistent_with_several_hidden_blocks_is_refused_under_the_interpreter():
    if not kcommon.INTERPRET:
        pytest.skip("the interpreter-only refusal")
    xproj, w_hh, *_ = _inputs(2, 3, 1, 20, None, torch.float32)
    with pytest.raises(ValueError, match="barrier never opens"):
        lstm_recurrence(xproj.float(), w_hh.float(), config=LaunchConfig(block_h=16, mode="persistent"))


@pytest.mark.parametrize("kwargs,match", [
    (dict(xproj=torch.zeros(2, 3, 1, 8, dtype=torch.float64), w_hh=torch.zeros(1, 8, 2, dtype=torch.float64)),
     "dtype must be float32, bfloat16 or float16"),
    (dict(w_hh=torch.zeros(1, 8, 2, dtype=torch.float16)), "differs from xproj dtype"),
    (dict(lengths=torch.tensor([3, 4])), "lengths must lie"),
    (dict(config=LaunchConfig(block_h=24)), "block_h must be a power of two"),
    (dict(config=LaunchConfig(block_h=16, mode="fast")), "mode must be"),
], ids=["fp64", "mixed-dtype", "len-gt-T", "block_h-24", "bad-mode"])
def test_rejects_bad_input(kwargs, match):
    args = dict(xproj=torch.zeros(2, 3, 1, 8), w_hh=torch.zeros(1, 8, 2))
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        lstm_recurrence(**args)


def test_unsupported_hidden_size_is_a_clear_error():
    with pytest.raises(ValueError, match="H=2000 is not supported"):
        kconfigs.default_config(2000, torch.float32)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA (cooperative launch, grid barrier)")
@pytest.mark.parametrize("dtype", ["fp32", "bf16"])
@pytest.mark.parametrize("B,T,H,block_h", [(5, 7, 20, 16), (33, 41, 320, 64), (16, 50, 1024, 16)],
                         ids=["B5-T7-H20-hb2", "B33-T41-H320-hb5", "B16-T50-H1024-hb64"])
def test_persistent_grid_barrier_on_gpu(dtype, B, T, H, block_h):
    """Several hidden blocks in one cooperative launch, meeting at the grid barrier every step."""
    lengths = [T - (5 * i) % T for i in range(B)]
    _check(B, T, 2, H, lengths, DT[dtype], LaunchConfig(block_h=block_h, mode="persistent"))
