import numpy as np
import pytest
import soundfile as sf
import torch

from asr.audio import AudioError, audio_info, iter_audio_chunks, load_audio, num_chunks


def sine(freq: float, sr: int, seconds: float, amp: float = 0.3) -> np.ndarray:
    t = np.arange(int(sr * seconds)) / sr
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def peak_hz(wave: torch.Tensor, sr: int) -> float:
    spectrum = torch.fft.rfft(wave.double()).abs()
    return float(spectrum.argmax()) * sr / wave.numel()


@pytest.mark.parametrize("fmt,ext,exact", [
    ("WAV", "wav", True), ("FLAC", "flac", True), ("OGG", "ogg", False), ("MP3", "mp3", False),
], ids=["wav", "flac", "ogg", "mp3"])
def test_formats(tmp_path, fmt, ext, exact):
    if fmt not in sf.available_formats():
        pytest.skip(f"libsndfile {sf.__libsndfile_version__} cannot write {fmt}")
    x = sine(440, 16000, 1.0)
    path = tmp_path / f"a.{ext}"
    sf.write(path, x, 16000, format=fmt)
    wave = load_audio(path)
    assert wave.dtype == torch.float32 and wave.dim() == 1
    assert abs(wave.numel() - x.size) <= (0 if exact else 1200)  # lossy codecs may pad a frame
    n = min(wave.numel(), x.size)
    if exact:
        assert torch.allclose(wave, torch.from_numpy(x), atol=1e-4)  # PCM16 quantisation
    else:
        assert np.corrcoef(wave[:n].numpy(), x[:n])[0, 1] > 0.95
    info = audio_info(path)
    assert info.sample_rate == 16000 and info.channels == 1 and abs(info.duration - 1.0) < 0.08


@pytest.mark.parametrize("sr", [8000, 22050, 44100, 48000], ids=lambda sr: f"{sr}Hz")
def test_resample_to_16k(tmp_path, sr):
    path = tmp_path / "a.wav"
    sf.write(path, sine(440, sr, 1.0), sr, subtype="FLOAT")
    wave = load_audio(path, sample_rate=16000)
    assert abs(wave.numel() - 16000) <= 1
    assert abs(peak_hz(wave, 16000) - 440) <= 1.0


def test_keeps_native_rate_when_asked(tmp_path):
    path = tmp_path / "a.flac"
    sf.write(path, sine(300, 8000, 0.5), 8000)
    assert load_audio(path, sample_rate=8000).numel() == 4000


@pytest.mark.parametrize("channels", [2, 6], ids=["stereo", "5.1"])
def test_mixdown_to_mono(tmp_path, channels):
    rng = np.random.default_rng(0)
    data = (0.1 * rng.standard_normal((8000, channels))).astype(np.float32)  # [frames, channels]
    path = tmp_path / "multi.wav"
    sf.write(path, data, 16000, subtype="FLOAT")
    wave = load_audio(path)
    assert wave.shape == (8000,)
    assert torch.allclose(wave, torch.from_numpy(data.mean(axis=1)), atol=1e-6)
    assert audio_info(path).channels == channels


def test_segment_offset_and_duration(tmp_path):
    x = np.linspace(-0.5, 0.5, 16000, dtype=np.float32)
    path = tmp_path / "a.wav"
    sf.write(path, x, 16000, subtype="FLOAT")
    seg = load_audio(path, offset=0.25, duration=0.5)
    assert torch.equal(seg, torch.from_numpy(x[4000:12000]))
    with pytest.raises(AudioError, match="offset 2s is past the end"):
        load_audio(path, offset=2.0)


def _empty(p):
    p.write_bytes(b"")


def _text(p):
    p.write_text("this is not audio\n" * 20)


def _truncated_header(p):
    sf.write(p, sine(440, 16000, 0.1), 16000)
    p.write_bytes(p.read_bytes()[:30])


def _zero_samples(p):
    sf.write(p, np.zeros(0, dtype=np.float32), 16000)


def _nan_samples(p):
    x = sine(440, 16000, 0.1)
    x[100] = np.nan
    sf.write(p, x, 16000, subtype="FLOAT")


def _inf_samples(p):
    x = sine(440, 16000, 0.1)
    x[5] = np.inf
    sf.write(p, x, 16000, subtype="FLOAT")


@pytest.mark.parametrize("make,match", [
    (_empty, "not a readable audio file"),
    (_text, "not a readable audio file"),
    (_truncated_header, "not a readable audio file"),
    (_zero_samples, "no audio samples"),
    (_nan_samples, "NaN or inf"),
    (_inf_samples, "NaN or inf"),
    (None, "no such audio file"),
], ids=["empty-file", "text-named-wav", "truncated-header", "zero-samples", "nan", "inf", "missing"])
def test_bad_files(tmp_path, make, match):
    path = tmp_path / "bad_utt.wav"
    if make is not None:
        make(path)
    with pytest.raises(AudioError, match=match) as err:
        load_audio(path)
    assert str(path) in str(err.value)  # the message names the file
    assert isinstance(err.value, ValueError)


@pytest.mark.parametrize("make", [_empty, _text, None], ids=["empty-file", "text-named-wav", "missing"])
def test_info_bad_files(tmp_path, make):
    path = tmp_path / "bad_utt.wav"
    if make is not None:
        make(path)
    with pytest.raises(AudioError, match="bad_utt.wav"):
        audio_info(path)


@pytest.mark.parametrize("chunk,overlap", [(1.0, 0.0), (0.7, 0.2), (5.0, 1.0)], ids=["no-overlap", "overlap", "one-chunk"])
def test_chunks_cover_the_whole_file(tmp_path, chunk, overlap):
    rng = np.random.default_rng(1)
    x = (0.1 * rng.standard_normal(16000 * 3 + 123)).astype(np.float32)
    path = tmp_path / "long.wav"
    sf.write(path, x, 16000, subtype="FLOAT")
    chunks = list(iter_audio_chunks(path, chunk, overlap))
    assert len(chunks) == num_chunks(x.size, 16000, chunk, overlap)
    step = int(round((chunk - overlap) * 16000))
    pieces = []
    for i, (start, wave) in enumerate(chunks):
        assert start == pytest.approx(i * step / 16000)
        assert wave.numel() <= int(round(chunk * 16000))  # memory bounded by the chunk size
        pieces.append(wave if i == 0 else wave[int(round(overlap * 16000)):])
    assert torch.equal(torch.cat(pieces), load_audio(path))


def test_chunks_resample_each_block(tmp_path):
    path = tmp_path / "long.flac"
    sf.write(path, sine(440, 8000, 4.0), 8000)
    chunks = list(iter_audio_chunks(path, chunk_seconds=1.0, overlap_seconds=0.0, sample_rate=16000))
    assert [s for s, _ in chunks] == [0.0, 1.0, 2.0, 3.0]
    assert all(w.numel() == 16000 for _, w in chunks)
    assert abs(peak_hz(chunks[1][1], 16000) - 440) <= 1.0


def test_chunks_bad_input(tmp_path):
    with pytest.raises(AudioError, match="no such audio file"):
        list(iter_audio_chunks(tmp_path / "missing.wav", 1.0))
    _nan_samples(tmp_path / "nan.wav")
    with pytest.raises(AudioError, match="NaN"):
        list(iter_audio_chunks(tmp_path / "nan.wav", 0.05))
    _zero_samples(tmp_path / "zero.wav")
    with pytest.raises(AudioError, match="no audio samples"):
        list(iter_audio_chunks(tmp_path / "zero.wav", 1.0))
    with pytest.raises(ValueError, match="overlap_seconds < chunk_seconds"):
        list(iter_audio_chunks(tmp_path / "nan.wav", 1.0, 1.0))
