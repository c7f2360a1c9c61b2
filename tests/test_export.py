"""asr-export + the onnxruntime engine: exported vs PyTorch log-probs on ragged batches, the same
transcripts, one-line errors for unexportable models and bad .onnx files.

Tolerance: the exported graph computes in fp32 like the torch backend on CPU; log-probs of valid
frames agree within ATOL = 1e-4 (measured: <= 3.9e-6, attention included)."""
import json

import numpy as np
import pytest
import soundfile as sf
import torch

from asr.checkpoint import CheckpointError, save_checkpoint
from asr.export import ExportError, export_onnx, main as export_main
from asr.model import CTCModel
from asr.onnx_model import OnnxModel
from asr.tokenizer import build_tokenizer
from asr.transcription import Transcriber, main as transcribe_main, transcribe
from test_transcribe import DIM, TOK, ckpt, signal  # noqa: F401  (ckpt: the transcribe tests' frame-local model)

ATOL = 1e-4

FEATURES = {"kind": "fbank", "num_mel_bins": DIM, "frame_length_ms": 25.0, "frame_shift_ms": 10.0,
            "dither": 0.0, "sample_rate": 16000}
CMVN = {"mean": torch.full((DIM,), -8.0), "std": torch.full((DIM,), 3.0)}
CONFIGS = {  # id -> CTCModel options (backend torch); real recurrences, unlike the frame-local `ckpt`
    "lstm-L2-H24-k3": dict(hidden_size=24, num_layers=2, subsampling=3),
    "lstm-L1-H20-k1-lin16": dict(hidden_size=20, num_layers=1, subsampling=1, input_linear=16),
    "gru-L2-H24-k2": dict(cell="gru", hidden_size=24, num_layers=2, subsampling=2),
    "lstm-L2-H24-k2-attn": dict(hidden_size=24, num_layers=2, subsampling=2,
                                attention={"enabled": True, "heads": 4, "after_layers": [1, 2]}),
}


def make_ckpt(tokenizer=TOK, seed: int = 0, head_scale: float = 4.0, **kw) -> dict:
    torch.manual_seed(seed)
    model = CTCModel(DIM, tokenizer.vocab_size, dropout=0.0, backend="torch", **kw)
    with torch.no_grad():
        model.head.weight.mul_(head_scale)  # peakier outputs: more non-blank tokens
    return {"model_cfg": model.config, "model": model.state_dict(), "tokenizer": tokenizer.to_dict(),
            "features": FEATURES, "cmvn": CMVN}


@pytest.fixture(scope="module", params=list(CONFIGS), ids=list(CONFIGS))
def exported(request, tmp_path_factory):
    ck = make_ckpt(**CONFIGS[request.param])
    out = tmp_path_factory.mktemp("onnx") / "model.onnx"
    meta = export_onnx(ck, out)
    return ck, out, meta


def ragged(B: int, T: int, lengths: list[int], seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(B, T, DIM, generator=g)
    lengths = torch.tensor(lengths)
    x[torch.arange(T)[None, :] >= lengths[:, None]] = float("nan")  # padding must not reach valid frames
    return x, lengths


@pytest.mark.parametrize("B,T,lengths", [(4, 37, [37, 1, 20, 36]), (3, 64, [5, 64, 33]), (1, 1, [1]), (2, 9, [9, 2])],
                         ids=["B4-T37", "B3-T64", "B1-T1", "B2-T9"])
def test_exported_log_probs_match_pytorch_on_ragged_batches(exported, B, T, lengths):
    ck, path, meta = exported
    assert meta["max_abs_diff"] <= ATOL
    model = CTCModel.from_checkpoint(ck, backend="torch")
    onnx = OnnxModel(path, threads=1)
    x, lens = ragged(B, T, lengths, seed=B * T)
    got, got_len = onnx(torch.nan_to_num(x, nan=1e3), lens)  # huge padding values
    with torch.no_grad():
        ref, ref_len = model(x.nan_to_num(0.0), lens)
    assert got.shape == ref.shape and got.dtype == torch.float32
    assert torch.equal(got_len, ref_len)
    for b in range(B):  # each utterance alone (no padding at all): both directions see only its frames
        n = int(ref_len[b])
        with torch.no_grad():
            alone, _ = model(x[b:b + 1, : lengths[b]], lens[b:b + 1])
        assert torch.isfinite(got[b, :n]).all()
        torch.testing.assert_close(got[b, :n], ref[b, :n], atol=ATOL, rtol=0)
        torch.testing.assert_close(got[b, :n], alone[0], atol=ATOL, rtol=0)


def test_metadata_in_the_onnx_file_and_beside_it(exported):
    ck, path, meta = exported
    side = json.loads(path.with_suffix(".json").read_text())
    onnx = OnnxModel(path)
    assert side == onnx.meta
    info = onnx.checkpoint_info()
    assert info["tokenizer"] == ck["tokenizer"] and info["features"] == FEATURES
    assert info["model_cfg"] == ck["model_cfg"]
    assert all(torch.equal(info["cmvn"][k], CMVN[k]) for k in ("mean", "std")) and info["cmvn"]["mode"] == "global"
    assert onnx.subsampling == ck["model_cfg"]["subsampling"]


def test_cmvn_mode_travels_in_the_metadata(tmp_path):
    """train.cmvn=utterance_mean: the onnx engine normalizes as training did (the mode rides in the metadata)."""
    ck = make_ckpt(hidden_size=8, num_layers=1, subsampling=2)
    ck["cmvn"] = {**CMVN, "mode": "utterance_mean"}
    export_onnx(ck, tmp_path / "m.onnx")
    assert OnnxModel(tmp_path / "m.onnx").checkpoint_info()["cmvn"]["mode"] == "utterance_mean"
    assert Transcriber(tmp_path / "m.onnx", engine="onnx").cmvn.mode == "utterance_mean"


def test_sentencepiece_tokenizer_travels_in_the_metadata(tmp_path):
    texts = ["the cat sat on the mat", "a dog ran far away", "hello there my friend"] * 20
    tok = build_tokenizer("bpe", texts, vocab_size=40)
    export_onnx(make_ckpt(tok, hidden_size=8, num_layers=1, subsampling=2), tmp_path / "m.onnx")
    t = Transcriber(tmp_path / "m.onnx", engine="onnx")
    assert t.tokenizer.decode(tok.encode("the cat ran")) == "the cat ran"


@pytest.fixture(scope="module")
def recurrent_ckpt(tmp_path_factory):
    return save_checkpoint(make_ckpt(seed=1, head_scale=6.0, hidden_size=24, num_layers=2, subsampling=2),
                           tmp_path_factory.mktemp("rec") / "model.pt")


@pytest.mark.parametrize("which", ["frame-local", "recurrent"])
def test_same_transcripts_as_torch(which, ckpt, recurrent_ckpt, tmp_path):  # noqa: F811
    pt = ckpt if which == "frame-local" else recurrent_ckpt
    assert export_main([str(pt), str(tmp_path / "m.onnx")]) == 0
    wavs = []
    for i, seconds in enumerate([0.7, 1.6, 2.3, 3.1, 4.0]):
        wavs.append(tmp_path / f"u{i}.wav")
        sf.write(wavs[-1], signal(seconds, seed=i), 16000)
    ref = transcribe(wavs, pt, progress=False)
    got = transcribe(wavs, tmp_path / "m.onnx", engine="onnx", progress=False)
    assert sum(len(r["chars"]) for r in ref) > 10  # something was recognised
    assert [(r["text"], r["words"], r["chars"]) for r in got] == [(r["text"], r["words"], r["chars"]) for r in ref]


def test_transcribe_cli_with_the_onnx_engine(recurrent_ckpt, tmp_path, capsys):
    export_onnx(recurrent_ckpt, tmp_path / "m.onnx")
    sf.write(tmp_path / "a.wav", signal(2.0, seed=4), 16000)
    assert transcribe_main([str(recurrent_ckpt), str(tmp_path / "a.wav")]) == 0
    ref = capsys.readouterr().out
    assert transcribe_main([str(tmp_path / "m.onnx"), str(tmp_path / "a.wav"), "--engine", "onnx",
                            "--threads", "1"]) == 0
    assert capsys.readouterr().out == ref and ref.strip()


@pytest.mark.parametrize("kw,key", [(dict(cell="peephole"), "model.cell=peephole"),
                                    (dict(proj_size=8), "model.proj_size=8")], ids=["peephole", "lstmp"])
def test_unexportable_model_one_line_error(kw, key, tmp_path, capsys):
    ck = make_ckpt(hidden_size=16, num_layers=1, subsampling=2, **kw)
    with pytest.raises(ExportError, match=key):
        export_onnx(ck, tmp_path / "m.onnx")
    pt = save_checkpoint(ck, tmp_path / "m.pt")
    assert export_main([str(pt), str(tmp_path / "m.onnx")]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {key}") and err.count("\n") == 1
    assert not (tmp_path / "m.onnx").exists() and not list(tmp_path.glob(".m.onnx.tmp-*"))


def test_missing_corrupt_and_foreign_onnx_files(tmp_path, capsys):
    import onnx
    from onnx import TensorProto, helper

    with pytest.raises(CheckpointError, match="does not exist"):
        OnnxModel(tmp_path / "none.onnx")
    (tmp_path / "bad.onnx").write_bytes(b"\x08\x07garbage" * 50)
    with pytest.raises(CheckpointError, match=r"bad.onnx is unreadable \(Protobuf parsing failed.\)"):
        OnnxModel(tmp_path / "bad.onnx")
    graph = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])])
    foreign = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=10)
    onnx.save(foreign, tmp_path / "foreign.onnx")
    with pytest.raises(CheckpointError, match="not made by asr-export"):
        OnnxModel(tmp_path / "foreign.onnx")
    sf.write(tmp_path / "a.wav", signal(1.0), 16000)
    for name in ("none.onnx", "bad.onnx", "foreign.onnx"):
        assert transcribe_main([str(tmp_path / name), str(tmp_path / "a.wav"), "--engine", "onnx"]) == 2
        err = capsys.readouterr().err
        assert err.startswith(f"error: ONNX model {tmp_path / name}") and err.count("\n") == 1
    assert export_main([str(tmp_path / "missing.pt"), str(tmp_path / "m.onnx")]) == 2
    assert "missing.pt does not exist" in capsys.readouterr().err


def test_unknown_engine(tmp_path):
    from asr.decode import DecodeError

    with pytest.raises(DecodeError, match="engine='tensorrt' is not one of: torch, onnx"):
        Transcriber(tmp_path / "m.onnx", engine="tensorrt")
