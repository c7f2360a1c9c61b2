"""asr.rnn.LSTMStack on backend triton (the kernel) vs torch (nn.LSTM): same outputs, gradients,
and the same loss curve when training `blstm_tiny` (CPU: Triton interpreter)."""
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from hydra import compose, initialize_config_dir

import kernels.common as kcommon
import kernels.configs as kconfigs
from asr.model import build_model
from asr.rnn import LSTMStack

CONF = Path(__file__).resolve().parents[2] / "conf"
DEVICE = "cuda" if torch.cuda.is_available() else "cpu"


@pytest.fixture(autouse=True)
def exact_fp32(monkeypatch):
    """On CUDA both backends would use TF32 (cuDNN and the kernel follow cudnn.allow_tf32): turn it off."""
    monkeypatch.setattr(torch.backends.cudnn, "allow_tf32", False)


@pytest.fixture(params=["one-hblock", "two-hblocks"])
def kernel_blocks(request, monkeypatch):
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
