"""`load_bundle`: model, tokenizer, feature extractor and CMVN of a checkpoint in one object, and
`CMVN`, the one function every stage normalizes features with."""
import pytest
import torch

from asr.bundle import load_bundle
from asr.checkpoint import CheckpointError
from asr.decoders import DecodeError
from asr.features import CMVN, FeatureError, FeatureExtractor, GlobalCMVN
from asr.model import CTCModel
from asr.tokenizer import CharTokenizer
from test_decode import tiny_checkpoint


def test_bundle_holds_what_the_checkpoint_has(tmp_path):
    ckpt = tiny_checkpoint(tmp_path / "best.pt", input_dim=20)
    b = load_bundle(ckpt)
    assert isinstance(b.model, CTCModel) and not b.model.training and b.device == torch.device("cpu")
    assert isinstance(b.tokenizer, CharTokenizer) and b.tokenizer.encode("the cat") == CharTokenizer().encode("the cat")
    assert isinstance(b.features, FeatureExtractor) and b.features.dim == 20
    assert torch.equal(b.cmvn.mean, torch.full((20,), 5.0)) and torch.equal(b.cmvn.std, torch.ones(20))
    assert b.frame_shift == pytest.approx(0.02)  # 10 ms hop x subsampling 2
    assert b.path == ckpt and b.checkpoint["model_cfg"] == b.model.config


def test_bundle_log_probs_are_the_model_on_normalized_features(tmp_path):
    b = load_bundle(tiny_checkpoint(tmp_path / "best.pt"))
    g = torch.Generator().manual_seed(0)
    feats = 5.0 + torch.randn(3, 17, 20, generator=g)  # [B, T, F] raw
    lengths = torch.tensor([17, 1, 9])
    with torch.no_grad():
        got, got_len = b.log_probs(feats, lengths)
        ref, ref_len = b.model(feats - 5.0, lengths)
    assert torch.equal(got_len, ref_len) and torch.equal(got, ref)


def test_bundle_errors_name_the_file_or_value(tmp_path):
    with pytest.raises(CheckpointError, match="missing.pt does not exist"):
        load_bundle(tmp_path / "missing.pt")
    ckpt = tiny_checkpoint(tmp_path / "best.pt")
    with pytest.raises(DecodeError, match="engine='tensorrt' is not one of: torch, onnx"):
        load_bundle(ckpt, engine="tensorrt")
    with pytest.raises(DecodeError, match="device='tpu'"):
        load_bundle(ckpt, device="tpu")


@pytest.mark.parametrize("shape", [(1, 4), (7, 4), (2, 7, 4)], ids=["T1", "T7", "B2-T7"])
def test_cmvn_global_is_mean_and_std_per_bin(shape):
    g = torch.Generator().manual_seed(1)
    mean, std = torch.randn(4, generator=g), torch.rand(4, generator=g) + 0.5
    feats = torch.randn(*shape, generator=g).half()  # the store's float16
    cmvn = CMVN.from_dict({"mean": mean, "std": std})
    out = cmvn(feats)
    assert cmvn.mode == "global" and out.dtype == torch.float32 and out.shape == feats.shape
    assert torch.equal(out, (feats.float() - mean) / std)
    assert torch.equal(CMVN.from_dict({"mean": mean, "std": std, "mode": "global"}).to("cpu")(feats), out)


def test_cmvn_bad_mode_names_it():
    with pytest.raises(FeatureError, match="cmvn mode='speaker' is not one of: global, utterance_mean, utterance"):
        CMVN.from_dict({"mean": torch.zeros(2), "std": torch.ones(2), "mode": "speaker"})


@pytest.mark.parametrize("lengths", [[7, 7], [7, 1], [3, 5]], ids=["B2-T7-full", "B2-T7-T1", "B2-T7-ragged"])
def test_cmvn_utterance_mean_zeroes_each_utterances_mean_over_its_own_frames(lengths):
    g = torch.Generator().manual_seed(2)
    mean, std = torch.randn(4, generator=g), torch.rand(4, generator=g) + 0.5
    feats = (torch.randn(2, 7, 4, generator=g) + torch.tensor([[[3.0]], [[-2.0]]])).half()  # a tilt per utterance
    lens = torch.tensor(lengths)
    cmvn = CMVN.from_dict({"mean": mean, "std": std, "mode": "utterance_mean"})
    out = cmvn(feats, lens)
    glob = CMVN.from_dict({"mean": mean, "std": std})(feats)
    assert out.dtype == torch.float32 and out.shape == feats.shape and torch.isfinite(out).all()
    for b, n in enumerate(lengths):
        valid = out[b, :n]
        assert valid.mean(0).abs().max() < 1e-5                             # its own mean removed
        assert torch.allclose(valid, glob[b, :n] - glob[b, :n].mean(0), atol=1e-6)   # after the global one
        assert torch.allclose(cmvn(feats[b, :n]), valid, atol=1e-6)         # [T, F] alone = batched, padding unseen
        padded = feats.clone()
        padded[b, n:] = 100.0
        assert torch.allclose(cmvn(padded, lens)[b, :n], valid, atol=1e-5)


@pytest.mark.parametrize("lengths", [[7, 7], [7, 2], [3, 5]], ids=["B2-T7-full", "B2-T7-T2", "B2-T7-ragged"])
def test_cmvn_utterance_gives_each_utterance_zero_mean_unit_variance(lengths):
    g = torch.Generator().manual_seed(3)
    feats = (torch.randn(2, 7, 4, generator=g) * torch.tensor([[[3.0]], [[0.2]]]) + 5.0).half()  # a scale each
    lens = torch.tensor(lengths)
    cmvn = CMVN.from_dict({"mean": torch.full((4,), 5.0), "std": torch.ones(4), "mode": "utterance"})
    out = cmvn(feats, lens)
    assert out.shape == feats.shape and torch.isfinite(out).all()
    for b, n in enumerate(lengths):
        valid = out[b, :n]
        assert valid.mean(0).abs().max() < 1e-5 and torch.allclose(valid.pow(2).mean(0), torch.ones(4), atol=1e-4)
        assert torch.allclose(cmvn(feats[b, :n]), valid, atol=1e-5)       # [T, F] alone = batched
    flat = cmvn(torch.full((3, 4), 7.0))                                  # a constant utterance: no division by 0
    assert torch.isfinite(flat).all() and flat.abs().max() == 0


def test_global_cmvn_statistics_normalize_through_cmvn():
    feats = torch.randn(50, 3) * 4 + 2
    stats = GlobalCMVN(3)
    stats.accumulate(feats)
    assert torch.equal(stats.normalize(feats), CMVN(stats.mean, stats.std)(feats))


def test_training_items_are_normalized_by_cmvn():
    from asr.data import FeatureDataset

    feats = [torch.randn(6, 3).half(), torch.randn(2, 3).half()]
    stats = {"mean": torch.tensor([1.0, -1.0, 0.5]), "std": torch.tensor([2.0, 0.5, 1.0])}
    ds = FeatureDataset(["a", "b"], feats, ["ab", "c"], CharTokenizer(), stats)
    assert all(torch.equal(ds[i]["feats"], CMVN.from_dict(stats)(feats[i])) for i in range(2))
