"""The `model.cell` choices (lstm, LSTMP, peephole, gru) and the self-attention blocks: training
through the recipe, checkpoints that move between backends, masking, config errors."""
import csv
from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_dir

from asr.checkpoint import load_checkpoint
from asr.model import CTCModel
from asr.rnn import ConfigError
from asr.train import train

ROOT = Path(__file__).resolve().parents[1]

CELLS = {  # id -> model overrides
    "lstm": [],
    "lstmp": ["model.proj_size=16"],
    "peephole": ["model.cell=peephole"],
    "gru": ["model.cell=gru"],
    "lstm-attention": ["model.attention.enabled=true", "model.attention.after_layers=[1,2]"],
}


def _train_cfg(store, exp_dir, *overrides):
    with initialize_config_dir(str(ROOT / "conf"), version_base="1.3"):
        return compose("train", [f"features.dir={store}", f"exp_dir={exp_dir}", "model=blstm_tiny", "train=fast",
                                 "model.backend=torch", *overrides])


@pytest.mark.parametrize("cell", list(CELLS))
def test_blstm_tiny_trains_with_each_cell(cell, synthetic_store, tmp_path):
    """A few steps of the training recipe on CPU: the training loss goes down."""
    cfg = _train_cfg(synthetic_store, tmp_path, "train.max_steps=20", "train.max_epochs=20", "train.patience=0",
                     "train.spec_augment.enabled=false", "train.lr=1e-2", "train.warmup_steps=2", *CELLS[cell])
    metrics = train(cfg)
    assert metrics["step"] == 20
    with open(tmp_path / "log.csv", newline="") as f:
        losses = [float(r["train_loss"]) for r in csv.DictReader(f) if r["train_loss"]]
    assert len(losses) == 20
    assert sum(losses[-3:]) < 0.85 * sum(losses[:3]), losses
    model = CTCModel.from_checkpoint(load_checkpoint(tmp_path / "last.pt", training_state=True))
    assert model.config["cell"] == cfg.model.cell and model.encoder.cell == cfg.model.cell


def _model(cell: str, backend: str, **kw) -> CTCModel:
    torch.manual_seed(0)
    model = CTCModel(input_dim=6, vocab_size=11, hidden_size=20, num_layers=2, subsampling=2, dropout=0.0,
                     backend=backend, cell=cell, **kw)
    with torch.no_grad():  # peepholes start at zero: make them matter
        for name, p in model.named_parameters():
            if "weight_peep" in name:
                p.normal_(0.0, 0.5)
    return model


@pytest.mark.parametrize("cell,kw", [
    ("lstm", {}), ("lstm", {"proj_size": 12}), ("peephole", {}), ("gru", {}),
    ("gru", {"attention": {"enabled": True, "heads": 2, "after_layers": [1]}}),
], ids=["lstm", "lstmp", "peephole", "gru", "gru-attention"])
def test_checkpoint_params_interchange_between_backends(cell, kw):
    """Parameters trained on one backend load into the other: same outputs and same gradients
    (Triton under the interpreter on CPU)."""
    torch_model = _model(cell, "torch", **kw)
    triton_model = CTCModel(**dict(torch_model.config, backend="triton"))
    triton_model.load_state_dict(torch_model.state_dict())
    x = torch.randn(3, 11, 6, generator=torch.Generator().manual_seed(1))
    lengths = torch.tensor([11, 4, 1])
    outs, grads = [], []
    for model in (torch_model, triton_model):
        log_probs, out_lengths = model(x, lengths)
        valid = (torch.arange(log_probs.shape[1])[None, :] < out_lengths[:, None])[..., None]
        log_probs = log_probs * valid  # frames past each length are not compared
        (log_probs * torch.linspace(-1, 1, log_probs.numel()).view_as(log_probs)).sum().backward()
        outs.append(log_probs.detach())
        grads.append({n: p.grad for n, p in model.named_parameters()})
    torch.testing.assert_close(outs[1], outs[0], atol=2e-5, rtol=1e-4)
    assert grads[0].keys() == grads[1].keys()
    for name in grads[0]:
        torch.testing.assert_close(grads[1][name], grads[0][name], atol=1e-4, rtol=1e-3, msg=lambda m: f"{name}: {m}")


@pytest.mark.parametrize("cell", ["peephole", "gru"])
def test_padding_does_not_change_an_utterance_with_attention(cell):
    """Attention masks the padded frames: valid outputs of a padded utterance equal it alone."""
    model = _model(cell, "torch", attention={"enabled": True, "heads": 4, "after_layers": None}).eval()
    x = torch.randn(2, 14, 6, generator=torch.Generator().manual_seed(2))
    batch_lp, batch_len = model(x, torch.tensor([14, 9]))
    alone_lp, alone_len = model(x[1:, :9], torch.tensor([9]))
    assert batch_len[1] == alone_len[0]
    torch.testing.assert_close(batch_lp[1, : alone_len[0]], alone_lp[0], rtol=1e-4, atol=1e-5)
    assert "encoder.attention.2.attn.in_proj_weight" in model.state_dict()  # after the last of 2 layers


@pytest.mark.parametrize("kw,match", [
    ({"cell": "rnn"}, r"model\.cell='rnn' is not one of: lstm, peephole, gru"),
    ({"cell": "gru", "proj_size": 8}, r"model\.proj_size=8 needs model\.cell=lstm"),
    ({"attention": {"enabled": True, "heads": 3}}, r"model\.attention\.heads=3 must be >= 1 and divide"),
    ({"attention": {"enabled": True, "after_layers": [3]}}, r"model\.attention\.after_layers=\[3\]"),
], ids=["bad-cell", "gru-proj", "heads-not-dividing", "after-layer-out-of-range"])
def test_bad_cell_config_names_the_key(kw, match):
    with pytest.raises(ConfigError, match=match):
        CTCModel(input_dim=6, vocab_size=11, hidden_size=20, num_layers=2, **kw)
