"""asr.rnn.LSTMStack: the torch backend against a plain multi-layer nn.LSTM, its parameters and
backend choice; the triton backend (the kernel; CPU: Triton interpreter) against torch: same
outputs, gradients, and the same loss curve when training `blstm_tiny`."""
from pathlib import Path

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from hydra import compose, initialize_config_dir
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

import kernels.common as kcommon
import kernels.configs as kconfigs
from asr.model import build_model
from asr.rnn import ConfigError, LSTMStack, resolve_backend

CONF = Path(__file__).resolve().parents[1] / "conf"
DEVICE = "cuda" if torch.cuda.is_available() else "cpu"


def _plain_lstm_like(stack: LSTMStack, input_size: int, hidden: int, layers: int, proj: int) -> nn.LSTM:
    """A multi-layer nn.LSTM holding the same weights as `stack`."""
    plain = nn.LSTM(input_size, hidden, num_layers=layers, bidirectional=True, batch_first=True, proj_size=proj)
    with torch.no_grad():
        for k, layer in enumerate(stack.layers):
            for name, p in layer.named_parameters():  # e.g. weight_ih_l0_reverse -> weight_ih_l{k}_reverse
                getattr(plain, name.replace("_l0", f"_l{k}")).copy_(p)
    return plain


@pytest.mark.parametrize("proj", [0, 6], ids=["lstm", "lstmp"])
@pytest.mark.parametrize("path", ["padded", "packed"], ids=["cpu-padded", "cuda-packed"])
def test_torch_backend_equals_plain_multilayer_lstm(proj, path, monkeypatch):
    torch.manual_seed(0)
    B, T, F, H, L = 4, 11, 7, 12, 3
    stack = LSTMStack(F, H, L, proj_size=proj, backend="torch").eval()
    if path == "packed":  # the CUDA path, run here on CPU
        monkeypatch.setattr(stack, "_layer_torch", stack._layer_packed)
    plain = _plain_lstm_like(stack, F, H, L, proj).eval()
    x = torch.randn(B, T, F)
    lengths = torch.tensor([11, 7, 3, 9])
    y, out_lengths = stack(x, lengths)
    packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
    ref, _ = pad_packed_sequence(plain(packed)[0], batch_first=True, total_length=T)
    assert y.shape == (B, T, 2 * (proj or H)) and torch.equal(out_lengths, lengths)
    torch.testing.assert_close(y, ref, rtol=1e-5, atol=1e-6)
    assert y[1, 7:].abs().max() == 0  # zeros past each length
    y.sum().backward()  # gradients reach the stack's own parameters
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in stack.parameters())


def test_parameters_are_one_bidirectional_lstm_per_layer():
    stack = LSTMStack(5, 8, 2, backend="torch")
    names = {n for n, _ in stack.named_parameters()}
    assert "layers.1.weight_hh_l0_reverse" in names and len(stack.layers) == 2
    assert stack.layers[1].input_size == 16  # the next layer reads both directions


def test_bad_backend_names_the_key_and_choices():
    with pytest.raises(ConfigError, match=r"model\.backend='cudnn'.*auto, triton, torch"):
        LSTMStack(5, 8, 2, backend="cudnn")


@pytest.mark.parametrize("backend,device,expected", [
    ("auto", "cpu", "torch"), ("auto", "cuda", "triton"), ("torch", "cuda", "torch"), ("triton", "cpu", "triton"),
], ids=["auto-cpu", "auto-cuda", "torch-cuda", "triton-forced"])
def test_resolve_backend(backend, device, expected):
    assert resolve_backend(backend, device) == expected


def test_triton_backend_matches_torch():
    """The kernel seam: same parameters, same output (Triton interpreter on CPU)."""
    kernels = pytest.importorskip("kernels")
    if not hasattr(kernels, "lstm_recurrence"):
        pytest.skip("kernels.lstm_recurrence is not available")
    torch.manual_seed(0)
    stack = LSTMStack(6, 8, 2, backend="torch").eval()
    x, lengths = torch.randn(3, 9, 6), torch.tensor([9, 4, 6])
    ref, _ = stack(x, lengths)
    stack.backend = "triton"
    y, _ = stack(x, lengths)
    torch.testing.assert_close(y, ref, rtol=1e-4, atol=1e-5)


# --- backend triton vs torch -----------------------------------------------------------------------
@pytest.fixture
def exact_fp32(monkeypatch):
    """On CUDA both backends would use TF32 (cuDNN and the kernel follow cudnn.allow_tf32): turn it off."""
    monkeypatch.setattr(torch.backends.cudnn, "allow_tf32", False)


@pytest.fixture(params=["one-hblock", "two-hblocks"])
def kernel_blocks(request, monkeypatch, exact_fp32):
    """Default launch geometry, or hidden size split over two programs (step mode on CPU)."""
    monkeypatch.setattr(kcommon, "DEBUG_FILL_NAN", True)
    if request.param == "two-hblocks":
        monkeypatch.setitem(kconfigs.CONFIGS, 32, {dt: (16, 4) for dt in (torch.float32, torch.bfloat16, torch.float16)})
    return request.param


def test_lstm_stack_triton_matches_torch_with_gradients(kernel_blocks):
    torch.manual_seed(0)
    B, T, Fdim, H, L = 3, 9, 6, 20, 2
    stack = LSTMStack(Fdim, H, L, backend="torch").to(DEVICE).train()
    x = torch.randn(B, T, Fdim, device=DEVICE, requires_grad=True)
    lengths = torch.tensor([9, 1, 6])
    g = torch.randn(B, T, 2 * H, device=DEVICE)
    params = [x, *stack.parameters()]

    ref, _ = stack(x, lengths)
    ref_grads = torch.autograd.grad((ref * g).sum(), params)
    stack.backend = "triton"
    y, out_lengths = stack(x, lengths)
    grads = torch.autograd.grad((y * g).sum(), params)

    assert torch.equal(out_lengths, lengths)
    torch.testing.assert_close(y, ref, rtol=1e-4, atol=2e-5)
    assert y[1, 1:].abs().max() == 0  # zeros past the length-1 sequence
    names = ["x"] + [n for n, _ in stack.named_parameters()]
    for name, a, b in zip(names, grads, ref_grads):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=5e-5, msg=lambda m: f"{name}: {m}")


def _train_losses(backend: str, state: dict, steps: int, data) -> list[float]:
    with initialize_config_dir(str(CONF), version_base="1.3"):
        cfg = compose("train", overrides=["model=blstm_tiny", f"model.backend={backend}"])
    feats, lengths, targets, target_lengths = data
    model = build_model(cfg.model, input_dim=feats.shape[-1], vocab_size=7).to(DEVICE)
    model.load_state_dict(state)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(steps):
        log_probs, out_lengths = model(feats, lengths)  # [B, T', V]
        loss = F.ctc_loss(log_probs.transpose(0, 1), targets, out_lengths, target_lengths, blank=0)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return losses


@pytest.mark.usefixtures("exact_fp32")
def test_blstm_tiny_trains_with_the_same_loss_curve_on_both_backends():
    torch.manual_seed(0)
    B, T, Fdim = 3, 24, 8
    feats = torch.randn(B, T, Fdim, device=DEVICE)
    lengths = torch.tensor([24, 17, 9], device=DEVICE)
    targets = torch.randint(1, 7, (B, 4), device=DEVICE)
    target_lengths = torch.tensor([4, 3, 2], device=DEVICE)
    data = (feats, lengths, targets, target_lengths)
    with initialize_config_dir(str(CONF), version_base="1.3"):
        cfg = compose("train", overrides=["model=blstm_tiny"])
    state = build_model(cfg.model, input_dim=Fdim, vocab_size=7).state_dict()

    torch_losses = _train_losses("torch", state, 5, data)
    triton_losses = _train_losses("triton", state, 5, data)
    assert torch_losses[-1] < torch_losses[0]  # it does learn
    torch.testing.assert_close(torch.tensor(triton_losses), torch.tensor(torch_losses), rtol=1e-4, atol=1e-5)
