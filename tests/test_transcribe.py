import json
import math
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from asr.audio import AudioError
from asr.checkpoint import save_checkpoint
from asr.decode import greedy_decode
from asr.lm import build_lm
from asr.model import CTCModel
from asr.tokenizer import CharTokenizer
from asr.transcription import Transcriber, main, to_srt, transcribe

TOK = CharTokenizer()
DIM = 20


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory) -> Path:
    """A random tiny model whose output at a frame depends on that frame only.

    Zero recurrent weights and a closed forget gate make the BLSTM frame-local, so a file cut
    into chunks at multiples of the output frame shift must give the same frames as the whole.
    """
    torch.manual_seed(0)
    model = CTCModel(DIM, TOK.vocab_size, hidden_size=24, num_layers=1, subsampling=2, dropout=0.0, backend="torch")
    with torch.no_grad():
        for name, p in model.encoder.named_parameters():
            if "weight_hh" in name:
                p.zero_()
            if "bias_ih" in name:
                p[24:48] = -1e4  # forget gate (gate order i, f, g, o)
        model.head.weight.mul_(4.0)  # peakier outputs: more non-blank tokens
    features = {"kind": "fbank", "num_mel_bins": DIM, "frame_length_ms": 25.0, "frame_shift_ms": 10.0,
                "dither": 0.0, "sample_rate": 16000}
    cmvn = {"mean": torch.full((DIM,), -8.0), "std": torch.full((DIM,), 3.0)}
    return save_checkpoint({"model_cfg": model.config, "model": model.state_dict(), "tokenizer": TOK.to_dict(),
                            "features": features, "cmvn": cmvn}, tmp_path_factory.mktemp("ckpt") / "model.pt")


def signal(seconds: float, sr: int = 16000, seed: int = 0) -> np.ndarray:
    """Gliding tones with bursts of noise: something for the features to change with."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sr)) / sr
    freq = 300 + 250 * np.sin(2 * np.pi * 0.7 * t) + 150 * np.sin(2 * np.pi * 2.3 * t)
    tone = 0.3 * np.sin(2 * np.pi * np.cumsum(freq) / sr)
    bursts = (np.sin(2 * np.pi * 1.9 * t) > 0.6) * rng.normal(0, 0.1, t.size)
    return (tone + bursts).astype(np.float32)


def check_result(r: dict, duration: float) -> None:
    assert r["duration"] == pytest.approx(duration, abs=0.01)
    assert r["text"] == " ".join(w["word"] for w in r["words"])
    assert r["text"].replace(" ", "") == "".join(c["char"] for c in r["chars"]).replace(" ", "")
    times = [(c["start"], c["end"]) for c in r["chars"]]
    assert all(0 <= s < e <= duration + 0.05 for s, e in times)
    assert [s for s, _ in times] == sorted(s for s, _ in times)
    for w in r["words"]:
        assert w["start"] < w["end"] and w["word"]


def test_wav_file_with_timestamps_matches_the_model(ckpt, tmp_path):
    path = tmp_path / "a.wav"
    sf.write(path, signal(3.0), 16000)
    [r] = transcribe(path, ckpt)
    check_result(r, 3.0)
    assert len(r["chars"]) > 5
    # same text as greedy decoding of the whole file by hand
    t = Transcriber(ckpt)
    from asr.audio import load_audio

    feats = t.features(load_audio(path))
    log_probs, _ = t.model(((feats - t.mean) / t.std).unsqueeze(0), torch.tensor([feats.shape[0]]))
    assert r["text"] == " ".join(TOK.decode(greedy_decode(log_probs)[0]).split())
    # frame index x hop x subsampling: every time is a multiple of 20 ms
    assert all(math.isclose(c["start"] / 0.02, round(c["start"] / 0.02), abs_tol=1e-6) for c in r["chars"])


def test_mp3(ckpt, tmp_path):
    path = tmp_path / "a.mp3"
    sf.write(path, signal(2.0), 16000, format="MP3")
    [r] = transcribe([path], ckpt)
    assert r["duration"] == pytest.approx(2.0, abs=0.1)  # mp3 frames pad the end a little
    assert r["text"]


def test_8khz_stereo_equals_its_16khz_mono_version(ckpt, tmp_path):
    mono = signal(2.5, sr=8000)
    sf.write(tmp_path / "stereo.wav", np.stack([mono, mono], axis=1), 8000)
    sf.write(tmp_path / "mono.wav", mono, 8000)
    stereo_r, mono_r = transcribe([tmp_path / "stereo.wav", tmp_path / "mono.wav"], ckpt)
    check_result(stereo_r, 2.5)
    assert stereo_r["text"] == mono_r["text"] and stereo_r["words"] == mono_r["words"]


def test_file_longer_than_one_chunk_equals_whole_file(ckpt, tmp_path):
    path = tmp_path / "long.wav"
    sf.write(path, signal(10.0, seed=3), 16000)
    whole = transcribe(path, ckpt, chunk_seconds=60)[0]
    # chunks start every 2.4 s (a multiple of the 20 ms output frame): the frames coincide
    chunked = transcribe(path, ckpt, chunk_seconds=3.0, overlap_seconds=0.6)[0]
    check_result(chunked, 10.0)
    assert chunked["chars"][-1]["end"] > 8.0  # the last chunks were transcribed too
    assert chunked["text"] == whole["text"]
    assert chunked["words"] == whole["words"]
    assert chunked["chars"] == whole["chars"]  # no token lost or doubled at a seam, spaces included


def test_lm_and_beam_decoders(ckpt, tmp_path):
    path = tmp_path / "a.wav"
    sf.write(path, signal(2.0), 16000)
    arpa = build_lm(["the cat sat", "a dog ran", "hello there", "the dog sat"], tmp_path / "lm")
    [r] = transcribe(path, ckpt, decoder="lm", lm=arpa)
    assert set(r["text"].split()) <= {"the", "cat", "sat", "a", "dog", "ran", "hello", "there"}
    check_result(r, 2.0)
    [b] = transcribe(path, ckpt, decoder="beam", timestamps=False)
    assert set(b) == {"path", "duration", "text"}


def test_empty_and_non_audio_files_are_clear_errors(ckpt, tmp_path):
    empty = tmp_path / "empty.wav"
    sf.write(empty, np.zeros(0, dtype=np.float32), 16000)
    text = tmp_path / "notes.wav"
    text.write_text("this is not audio\n")
    with pytest.raises(AudioError, match="empty.wav: no audio samples"):
        transcribe(empty, ckpt)
    with pytest.raises(AudioError, match="notes.wav: not a readable audio file"):
        transcribe(text, ckpt)
    tiny = tmp_path / "tiny.wav"
    sf.write(tiny, signal(0.01), 16000)  # 160 samples: less than one 25 ms frame
    with pytest.raises(AudioError, match="tiny.wav: too short"):
        transcribe(tiny, ckpt)
    zero_bytes = tmp_path / "zero.flac"
    zero_bytes.touch()
    with pytest.raises(AudioError, match="zero.flac"):
        transcribe(zero_bytes, ckpt)


def test_api_on_error_record_keeps_the_other_files(ckpt, tmp_path):
    good = tmp_path / "good.wav"
    sf.write(good, signal(1.5), 16000)
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"\x00" * 100)
    results = transcribe([bad, good, tmp_path / "missing.wav"], ckpt, on_error="record", progress=False)
    assert [Path(r["path"]).name for r in results] == ["bad.wav", "good.wav", "missing.wav"]
    assert "bad.wav" in results[0]["error"] and "missing.wav" in results[2]["error"]
    assert "error" not in results[1]
    assert results[1]["text"] == transcribe(good, ckpt)[0]["text"]
    with pytest.raises(AudioError, match="bad.wav"):
        transcribe([good, bad], ckpt, progress=False)
    with pytest.raises(ValueError, match="on_error='skip'"):
        transcribe(good, ckpt, on_error="skip")


def test_cli_continues_after_bad_files_and_fails_at_the_end(ckpt, tmp_path, capsys):
    good = tmp_path / "good.wav"
    sf.write(good, signal(1.5), 16000)
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"\x00" * 100)
    code = main([str(ckpt), str(bad), str(tmp_path / "missing.wav"), str(good), "--format", "json"])
    out, err = capsys.readouterr()
    assert code == 1
    assert "bad.wav" in err and "missing.wav" in err and "2 of 3 files failed" in err
    results = json.loads(out)
    assert [Path(r["path"]).name for r in results] == ["good.wav"]
    assert main([str(ckpt), str(good)]) == 0
    assert capsys.readouterr().out.strip() == results[0]["text"]


def test_cli_srt_output_dir(ckpt, tmp_path):
    wav = tmp_path / "talk.flac"
    sf.write(wav, signal(6.0, seed=1), 16000)
    assert main([str(ckpt), str(wav), "--format", "srt", "-o", str(tmp_path / "out"), "--chunk-seconds", "2.5",
                 "--overlap-seconds", "0.5"]) == 0
    srt = (tmp_path / "out" / "talk.srt").read_text()
    blocks = [b.splitlines() for b in srt.strip().split("\n\n")]
    assert [b[0] for b in blocks] == [str(i) for i in range(1, len(blocks) + 1)]
    for b in blocks:
        start, end = b[1].split(" --> ")
        assert len(start) == len(end) == 12 and start <= end and b[2]


def test_srt_cues():
    words = [{"word": w, "start": i * 0.5, "end": i * 0.5 + 0.4} for i, w in enumerate("one two three four".split())]
    srt = to_srt({"words": words}, max_chars=9)
    assert srt == ("1\n00:00:00,000 --> 00:00:00,900\none two\n\n"
                   "2\n00:00:01,000 --> 00:00:01,400\nthree\n\n"
                   "3\n00:00:01,500 --> 00:00:01,900\nfour\n\n")


def test_cli_bad_checkpoint_and_arguments(tmp_path, capsys):
    wav = tmp_path / "a.wav"
    sf.write(wav, signal(1.0), 16000)
    assert main([str(tmp_path / "nope.pt"), str(wav)]) == 2
    assert "nope.pt" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main([str(tmp_path / "nope.pt"), str(wav), "--chunk-seconds", "1", "--overlap-seconds", "2"])


@pytest.mark.slow
def test_thirty_minute_file_streams(ckpt, tmp_path, monkeypatch):
    path = tmp_path / "long.wav"
    with sf.SoundFile(path, "w", samplerate=8000, channels=1) as f:
        for i in range(30):  # written a minute at a time
            f.write(signal(60.0, sr=8000, seed=i))
    seen = []
    chunk_tokens = Transcriber._chunk_tokens

    def spy(self, wave):
        seen.append(wave.numel())
        return chunk_tokens(self, wave)

    monkeypatch.setattr(Transcriber, "_chunk_tokens", spy)
    [r] = transcribe(path, ckpt, chunk_seconds=30, overlap_seconds=2)
    assert r["duration"] == pytest.approx(1800.0, abs=0.01)
    assert r["chars"][-1]["end"] > 1790
    assert len(seen) == 65 and max(seen) == 30 * 16000  # never more than one chunk in the model


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_agrees_with_cpu(ckpt, tmp_path):
    from asr.scoring import wer_cer

    path = tmp_path / "a.wav"
    sf.write(path, signal(4.0), 16000)
    [cpu] = transcribe(path, ckpt, device="cpu")
    [gpu] = transcribe(path, ckpt, device="cuda", chunk_seconds=2.0, overlap_seconds=0.4)
    assert wer_cer([cpu["text"]], [gpu["text"]])[1] < 0.05


def test_lm_weights_tuned_on_dev_for_this_checkpoint_else_the_configs(synthetic_store, tmp_path, monkeypatch, capsys):
    """recipes/decode.py decode=lm tunes on dev and caches tune.json beside the checkpoint's experiment:
    the transcriber of that checkpoint uses those weights, another checkpoint conf/decode/lm.yaml's."""
    from asr import transcription
    from asr.decode import decode
    from asr.features import load_split
    from test_decode import decode_cfg, tiny_checkpoint

    ckpt = tiny_checkpoint(tmp_path / "best.pt")
    other = tiny_checkpoint(tmp_path / "other.pt", seed=1)
    texts = tmp_path / "lm-text.txt"
    texts.write_text("\n".join(load_split(synthetic_store, "train")["texts"]) + "\n")
    decode(decode_cfg(synthetic_store, ckpt, tmp_path, "decode=lm", f"decode.lm.text={texts}",
                      "decode.lm.wordlist=null", "decode.lm.corpus_text=false",
                      "decode.lm.tune.grid={lm_weight: [0.2, 0.9], word_score: [-1.0, 2.0]}"))
    best = json.loads((tmp_path / "decode" / "lm" / "tune.json").read_text())["best"]
    used = []
    real = transcription.build_decoder
    monkeypatch.setattr(transcription, "build_decoder",
                        lambda dc, tok, arpa: used.append((dc.lm.lm_weight, dc.lm.word_score)) or real(dc, tok, arpa))
    wav = tmp_path / "a.wav"
    sf.write(wav, signal(1.0), 16000)

    t = Transcriber(ckpt, decoder="lm")
    assert used[-1] == (best["lm_weight"], best["word_score"]) != (0.5, 0.0)
    assert f"lm_weight={best['lm_weight']} word_score={best['word_score']}, tuned on dev" in t.settings
    assert set(t(wav)["text"].split()) <= {w for s in texts.read_text().split("\n") for w in s.split()}
    assert main([str(ckpt), str(wav), "--decoder", "lm"]) == 0
    assert "tuned on dev" in capsys.readouterr().err

    t = Transcriber(other, decoder="lm")  # tune.json was made for best.pt
    assert used[-1] == (0.5, 0.0) and "lm_weight=0.5 word_score=0.0, conf/decode/lm.yaml defaults" in t.settings
    t = Transcriber(ckpt, decoder="lm", lm_weight=1.5)
    assert used[-1] == (1.5, best["word_score"]) and t.settings.endswith("given: lm_weight")
    assert main([str(other), str(wav), "--decoder", "lm", "--word-score", "-2"]) == 0
    assert "lm_weight=0.5 word_score=-2.0, conf/decode/lm.yaml defaults" in capsys.readouterr().err
