import pytest
import torch
import torch.nn as nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from asr.rnn import ConfigError, LSTMStack, resolve_backend


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
