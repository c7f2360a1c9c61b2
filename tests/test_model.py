import dataclasses
import math
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from omegaconf import OmegaConf

from asr.checkpoint import save_checkpoint
from asr.data import FeatureDataset, collate
from asr.decode import greedy_decode
from asr.model import ATTENTION_KEYS, CTCModel, ModelConfig, build_model
from asr.rnn import ConfigError
from asr.scoring import wer_cer
from asr.tokenizer import CharTokenizer
from conftest import compose, synthetic_utterances

PRESETS = sorted(p.stem for p in (Path(__file__).resolve().parents[1] / "conf" / "model").glob("*.yaml"))


@pytest.mark.parametrize("k", [1, 2, 3, 4], ids=["x1", "x2", "x3", "x4"])
def test_shapes_and_lengths_through_subsampling(k):
    torch.manual_seed(0)
    model = CTCModel(input_dim=10, vocab_size=29, hidden_size=16, num_layers=2, subsampling=k, backend="torch").eval()
    lengths = torch.tensor([23, 1, 17, 22])
    log_probs, out_lengths = model(torch.randn(4, 23, 10), lengths)
    assert log_probs.shape == (4, math.ceil(23 / k), 29)
    assert out_lengths.tolist() == [math.ceil(n / k) for n in lengths.tolist()]
    torch.testing.assert_close(log_probs.exp().sum(-1), torch.ones(4, math.ceil(23 / k)))


@pytest.mark.parametrize("k", [1, 3], ids=["x1", "x3"])
def test_padding_does_not_change_an_utterance(k):
    """Valid output frames of a padded utterance equal those of the same utterance alone."""
    torch.manual_seed(0)
    model = CTCModel(10, 29, hidden_size=16, num_layers=2, subsampling=k, input_linear=12, backend="torch").eval()
    x = torch.randn(2, 20, 10)
    batch_lp, batch_len = model(x, torch.tensor([20, 13]))
    alone_lp, alone_len = model(x[1:, :13], torch.tensor([13]))
    assert batch_len[1] == alone_len[0]
    torch.testing.assert_close(batch_lp[1, : alone_len[0]], alone_lp[0], rtol=1e-4, atol=1e-5)


def test_bad_subsampling_is_a_config_error():
    with pytest.raises(ConfigError, match="model.subsampling"):
        CTCModel(10, 29, subsampling=0)


def test_from_checkpoint_round_trip(tmp_path):
    torch.manual_seed(0)
    model = CTCModel(10, 29, hidden_size=16, num_layers=2, proj_size=8, subsampling=2, backend="torch").eval()
    path = save_checkpoint({"model_cfg": model.config, "model": model.state_dict()}, tmp_path / "m.pt")
    x, lengths = torch.randn(2, 9, 10), torch.tensor([9, 5])
    for source in (path, str(path), {"model_cfg": model.config, "model": model.state_dict()}):
        again = CTCModel.from_checkpoint(source, "cpu")
        assert not again.training and again.config == model.config
        torch.testing.assert_close(again(x, lengths)[0], model(x, lengths)[0])


# model_cfg as CTCModel.config wrote it before ModelConfig existed (the keys of the README's demo best.pt),
# and an older one without `cell` and `attention`
OLD_CFG = dict(input_dim=10, vocab_size=29, hidden_size=16, num_layers=2, proj_size=0, subsampling=3, input_linear=0,
               dropout=0.1, backend="auto", cell="lstm", attention={"enabled": False, "heads": 4, "after_layers": None})
OLDER_CFG = {k: v for k, v in OLD_CFG.items() if k not in ("cell", "attention")}


@pytest.mark.parametrize("old", [OLD_CFG, OLDER_CFG], ids=["before-model-config", "before-cells"])
def test_checkpoint_written_before_model_config_loads(old, tmp_path):
    torch.manual_seed(0)
    model = CTCModel(**old).eval()
    path = save_checkpoint({"model_cfg": dict(old), "model": model.state_dict()}, tmp_path / "old.pt")
    again = CTCModel.from_checkpoint(path, "cpu")  # load_checkpoint: torch.load(weights_only=True)
    assert again.config == {**dataclasses.asdict(ModelConfig(10, 29)), **old}
    x, lengths = torch.randn(2, 9, 10), torch.tensor([9, 5])
    torch.testing.assert_close(again(x, lengths)[0], model(x, lengths)[0])
    assert CTCModel.from_checkpoint(path, "cpu", backend="torch").config["backend"] == "torch"


@pytest.mark.parametrize("preset", PRESETS)
def test_every_model_preset_is_a_model_config(preset):
    group = compose("train", [f"model={preset}"]).model
    cfg = ModelConfig.from_group(group, input_dim=80, vocab_size=29)
    expect = {k: v for k, v in OmegaConf.to_container(group).items() if k not in ("name", "tokenizer")}
    assert cfg.to_dict() == {"input_dim": 80, "vocab_size": 29, **expect}  # every field set by the group


def test_default_yaml_gives_the_dataclass_defaults():
    group = compose("train", ["model=default"]).model
    defaults = ModelConfig(input_dim=80, vocab_size=29)
    for f in dataclasses.fields(ModelConfig):
        if f.name in ("input_dim", "vocab_size"):
            assert f.name not in group
        elif f.name == "attention":  # the group's blocks are off; a bare CTCModel has none
            assert tuple(group.attention) == ATTENTION_KEYS and group.attention.enabled is False
        else:
            assert group[f.name] == getattr(defaults, f.name), f.name
    assert set(group) == {f.name for f in dataclasses.fields(ModelConfig)} - {"input_dim", "vocab_size"} | {
        "name", "tokenizer"}


@pytest.mark.parametrize("override, message", [
    ({"hiden_size": 32}, r"model\.hiden_size: unknown key \(known: hidden_size, num_layers"),
    ({"attention": {"enabled": True, "head": 2}}, r"model\.attention\.head: unknown key \(known: enabled, heads"),
    ({"hidden_size": "big"}, r"model\.hidden_size='big' must be an integer"),
    ({"dropout": True}, r"model\.dropout=True must be a number"),
    ({"cell": 3}, r"model\.cell=3 must be a string"),
    ({"input_dim": 40}, r"model\.input_dim comes from the data"),
    ({"subsampling": 0}, r"model\.subsampling=0 must be >= 1"),
], ids=["unknown-key", "unknown-attention-key", "not-an-int", "bool-dropout", "not-a-string", "input-dim", "range"])
def test_bad_model_group_is_one_config_error(override, message):
    # the keys as a preset yaml would set them
    group = {**OmegaConf.to_container(compose("train", ["model=blstm_tiny"]).model), **override}
    with pytest.raises(ConfigError, match=message):
        build_model(group, input_dim=10, vocab_size=29)


def test_build_model_reads_the_group():
    group = compose("train", ["model=blstm_tiny", "model.proj_size=8", "model.attention.enabled=true"]).model
    model = build_model(group, input_dim=10, vocab_size=29)
    assert model.config == ModelConfig.from_group(group, 10, 29).to_dict()
    assert model.config["proj_size"] == 8 and model.config["attention"]["enabled"] is True
    assert isinstance(model.config["attention"], dict) and model.encoder.proj_size == 8


@pytest.fixture
def one_thread():
    """Tiny LSTMs are slower with several threads on a busy machine."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def test_tiny_model_overfits_eight_utterances(one_thread):
    ids, feats, texts = synthetic_utterances(8, seed=3)
    tok = CharTokenizer()
    frames = torch.cat([f.float() for f in feats])
    ds = FeatureDataset(ids, feats, texts, tok, {"mean": frames.mean(0), "std": frames.std(0)})
    batch = collate([ds[i] for i in range(len(ds))])
    torch.manual_seed(0)
    model = CTCModel(20, tok.vocab_size, hidden_size=32, num_layers=2, subsampling=2, dropout=0.0, backend="torch")
    opt = torch.optim.AdamW(model.parameters(), lr=2e-2)
    for step in range(400):
        log_probs, out_lengths = model(batch["feats"], batch["lengths"])
        loss = F.ctc_loss(log_probs.transpose(0, 1), batch["targets"], out_lengths, batch["target_lengths"],
                          zero_infinity=True)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step % 10 == 9:  # dropout is 0: the training forward is the eval forward
            hyps = [tok.decode(h) for h in greedy_decode(log_probs.detach(), out_lengths)]
            if wer_cer(texts, hyps)[1] == 0:
                break
    model.eval()
    with torch.no_grad():
        log_probs, out_lengths = model(batch["feats"], batch["lengths"])
    hyps = [tok.decode(h) for h in greedy_decode(log_probs, out_lengths)]
    assert wer_cer(texts, hyps) == (0.0, 0.0), list(zip(texts, hyps))
