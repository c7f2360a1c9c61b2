import io
import math
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
import torchaudio
from omegaconf import OmegaConf

from asr.augment import (EFFECTS, AugmentError, Augmenter, add_noise, available_codecs, babble, check_config, clip,
                         codec_round_trip, coloured_noise, make_rir_pool, measure_rt60, mu_law, pitch_shift,
                         reverberate, shoebox_rir, speed_perturb, synthetic_rir, telephone, whisperize)

REPO = Path(__file__).resolve().parents[1]
SR = 16000
DEFAULT = OmegaConf.to_container(OmegaConf.load(REPO / "conf" / "augment" / "default.yaml"))


def config(*overs: dict, **over) -> dict:
    """conf/augment/default.yaml with copies 1 and the given overrides merged in, in order."""
    return OmegaConf.to_container(OmegaConf.merge(DEFAULT, {"copies": 1}, *overs, over))


def voiced(seconds: float = 1.0, f0: float = 140.0, seed: int = 0) -> torch.Tensor:
    """Speech-like test signal [N]: 20 harmonics of f0 under a 4 Hz syllable envelope, plus a little noise."""
    t = torch.arange(int(seconds * SR)) / SR
    harmonics = sum(torch.sin(2 * math.pi * f0 * k * t) / k for k in range(1, 21))
    envelope = 0.5 * (1 - torch.cos(2 * math.pi * 4 * t))
    noise = 0.01 * torch.randn(t.numel(), generator=torch.Generator().manual_seed(seed))
    return (0.2 * harmonics * envelope + noise).float()


def others(rng, k):
    return [(f"other{j}", voiced(0.3 + 0.2 * j, f0=100 + 30 * j, seed=j)) for j in range(k)]


def snr_db(clean: torch.Tensor, noisy: torch.Tensor) -> float:
    return float(10 * torch.log10(clean.double().square().sum() / (noisy - clean).double().square().sum()))


def spectrum_db(wave: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """(frequencies [Hz], power [dB]) averaged over 512-point frames."""
    spec = torch.stft(wave, 512, 128, window=torch.hann_window(512), return_complex=True).abs().square().mean(1)
    return np.fft.rfftfreq(512, 1 / SR), 10 * np.log10(spec.double().numpy() + 1e-20)


# --- every effect through the Augmenter -------------------------------------------------------
CODEC_OK = bool(available_codecs(["mp3", "ogg"]))


@pytest.mark.parametrize("effect", EFFECTS)
def test_each_effect_alone_shape_dtype_record(effect):
    if effect == "codec" and not CODEC_OK:
        pytest.skip("this libsndfile writes neither mp3 nor ogg")
    wave = voiced(1.3)
    aug = Augmenter(config({"reverb": {"pool": 4}}, **{effect: {"prob": 1.0}}), SR)
    out, record = aug(wave.clone(), "utt-1", 1, others)
    assert list(record) == [effect]
    buf = io.BytesIO()
    torch.save(record, buf)
    assert torch.load(io.BytesIO(buf.getvalue()), weights_only=True) == record  # as the shards are read
    assert out.dtype == torch.float32 and out.dim() == 1 and torch.isfinite(out).all()
    expected = wave.numel() / record["speed"] if effect == "speed" else wave.numel()
    assert abs(out.numel() - expected) <= 1
    if effect != "vtlp":  # vtlp leaves the wave to the feature extractor
        assert not torch.equal(out[: wave.numel()], wave[: out.numel()])


@pytest.mark.parametrize("effect", EFFECTS)
def test_each_effect_on_silence_and_a_few_samples(effect):
    if effect == "codec" and not CODEC_OK:
        pytest.skip("this libsndfile writes neither mp3 nor ogg")
    aug = Augmenter(config({"reverb": {"pool": 2}}, **{effect: {"prob": 1.0}}), SR)
    for wave in (torch.zeros(SR // 4), 0.1 * torch.randn(1), 0.1 * torch.randn(100)):
        out, record = aug(wave, "utt-1", 1, others)
        assert list(record) == [effect] and torch.isfinite(out).all() and out.dtype == torch.float32


@pytest.mark.parametrize("effect", EFFECTS)
def test_same_seed_same_copy_same_output(effect):
    if effect == "codec" and not CODEC_OK:
        pytest.skip("this libsndfile writes neither mp3 nor ogg")
    cfg = config({"reverb": {"pool": 4}}, **{effect: {"prob": 1.0}})
    a, b = Augmenter(cfg, SR), Augmenter(cfg, SR)  # two processes' worth: the RIR pool is remade
    out_a, rec_a = a(voiced(), "utt-7", 2, others)
    out_b, rec_b = b(voiced(), "utt-7", 2, others)
    assert rec_a == rec_b and torch.equal(out_a, out_b)


def test_draw_depends_on_seed_utterance_and_copy():
    cfg = config({"reverb": {"pool": 4}}, **{e: {"prob": 0.5} for e in EFFECTS if e != "codec"})
    aug = Augmenter(cfg, SR)
    records = {(u, c): aug(voiced(0.5), u, c, others)[1] for u in ("a", "b") for c in (1, 2)}
    assert len({repr(r) for r in records.values()}) == 4
    assert all(records.values())  # a copy that drew no effect gets one
    other_seed = Augmenter({**cfg, "seed": 1}, SR)
    assert other_seed(voiced(0.5), "a", 1, others)[1] != records["a", 1]


def test_none_preset_is_off_and_every_preset_is_valid():
    assert not Augmenter(DEFAULT, SR).enabled and check_config(DEFAULT) == {}
    for name in ("none", "light", "voice", "kaldi", "full"):
        cfg = OmegaConf.merge(DEFAULT, OmegaConf.load(REPO / "conf" / "augment" / f"{name}.yaml"))
        cfg = OmegaConf.to_container(cfg)
        cfg.pop("defaults")
        assert bool(check_config(cfg)) == (name != "none")


# --- measured back from the signal ------------------------------------------------------------
@pytest.mark.parametrize("snr", [-5.0, 0.0, 7.5, 30.0])
@pytest.mark.parametrize("kind", ["white", "pink", "brown"])
def test_add_noise_hits_the_snr(kind, snr):
    wave = voiced()
    noisy = add_noise(wave, coloured_noise(wave.numel(), kind, np.random.default_rng(0)), snr)
    assert snr_db(wave, noisy) == pytest.approx(snr, abs=1e-3)


@pytest.mark.parametrize("kind", ["white", "pink", "brown", "babble"])
def test_noise_snr_in_the_configured_range(kind):
    cfg = config(noise={"prob": 1.0, "snr": [3.0, 9.0], "babble": [2, 4]})
    cfg["noise"]["kinds"] = {kind: 1.0}  # (a merge keeps the other kinds)
    aug = Augmenter(cfg, SR)
    wave = voiced()
    for copy in range(1, 6):
        out, record = aug(wave, "u", copy, others)
        assert record["noise"]["kind"] == kind and 3.0 <= record["noise"]["snr"] <= 9.0
        assert snr_db(wave, out) == pytest.approx(record["noise"]["snr"], abs=1e-3)
        if kind == "babble":
            assert 2 <= len(record["noise"]["from"]) <= 4


@pytest.mark.parametrize("kind,slope", [("white", 0.0), ("pink", -1.0), ("brown", -2.0)])
def test_noise_colour_spectral_slope(kind, slope):
    noise = coloured_noise(4 * SR, kind, np.random.default_rng(1))
    assert noise.square().mean().sqrt() == pytest.approx(1.0, rel=1e-4)
    freqs, power = spectrum_db(noise)
    band = (freqs > 100) & (freqs < 6000)
    fitted = np.polyfit(np.log10(freqs[band]), power[band] / 10, 1)[0]  # log power vs log f
    assert fitted == pytest.approx(slope, abs=0.15)


def test_babble_is_a_unit_rms_sum():
    parts = [voiced(0.3), voiced(0.7, f0=200)]
    mix = babble(parts, SR)
    assert mix.shape == (SR,) and torch.isfinite(mix).all()
    assert babble(parts[:1], SR).square().mean().sqrt() == pytest.approx(1.0, rel=0.05)  # tiled to fill


@pytest.mark.parametrize("rt60", [0.15, 0.4, 0.9, 1.6])
def test_synthetic_rir_rt60_by_schroeder_integration(rt60):
    rir = synthetic_rir(rt60, distance=2.0, volume=100.0, sample_rate=SR, rng=np.random.default_rng(3))
    assert rir.dtype == np.float32 and np.isfinite(rir).all() and rir[0] == 1.0
    assert measure_rt60(rir, SR) == pytest.approx(rt60, rel=0.1)
    critical = 0.057 * math.sqrt(100.0 / rt60)  # direct-to-reverberant energy ratio (critical distance / distance)^2
    assert 1.0 / np.sum(rir[1:].astype(np.float64) ** 2) == pytest.approx((critical / 2.0) ** 2, rel=1e-3)


def test_measure_rt60_agrees_with_pyroomacoustics():
    pra = pytest.importorskip("pyroomacoustics")
    rir, _ = shoebox_rir(0.5, 2.0, DEFAULT["reverb"]["room"], SR, seed=0, rng=np.random.default_rng(0))
    assert measure_rt60(rir, SR) == pytest.approx(pra.experimental.measure_rt60(rir, fs=SR, decay_db=20), rel=0.05)


@pytest.mark.parametrize("method", ["synthetic", "shoebox"])
def test_rir_pool_rt60_and_distance_in_range(method):
    if method == "shoebox":
        pytest.importorskip("pyroomacoustics")
    cfg = config(reverb={"prob": 1.0, "method": method, "pool": 6, "rt60": [0.25, 0.6], "distance": [1.0, 2.5]})
    rirs, infos = make_rir_pool(cfg, SR)
    assert len(rirs) == len(infos) == 6
    again = make_rir_pool(cfg, SR)
    assert all(np.array_equal(a, b) for a, b in zip(rirs, again[0])) and infos == again[1]
    for rir, info in zip(rirs, infos):
        assert all(type(v) is float for v in info.values())  # no numpy scalars: records are loaded weights_only
        assert np.isfinite(rir).all() and 0.25 <= info["rt60"] <= 0.6 and info["distance"] <= 2.5
        assert info["rt60_measured"] == pytest.approx(measure_rt60(rir, SR), abs=1e-3)
        # synthetic: exact by construction; shoebox: Sabine's formula against a simulated room (measured
        # 0.21 for 0.2, 0.56 for 0.5, 1.06 for 0.9 with ray tracing)
        assert info["rt60_measured"] == pytest.approx(info["rt60"], rel=0.1 if method == "synthetic" else 0.5)
        if method == "synthetic":
            assert 1.0 <= info["distance"]


def test_reverberation_keeps_length_and_rms():
    wave = voiced()
    rir = synthetic_rir(0.6, 3.0, 50.0, SR, np.random.default_rng(0))
    out = reverberate(wave, rir)
    assert out.shape == wave.shape and torch.isfinite(out).all()
    direct = torchaudio.functional.fftconvolve(wave, torch.from_numpy(rir))[: wave.numel()]
    torch.testing.assert_close(out / out.norm(), direct / direct.norm(), atol=1e-6, rtol=0)
    assert out.square().mean() == pytest.approx(float(wave.square().mean()), rel=1e-4)
    assert snr_db(wave, out) < 10  # it is reverberant


# --- channels, level, voice -------------------------------------------------------------------
def test_telephone_band():
    wave = coloured_noise(SR, "white", np.random.default_rng(0)) * 0.1
    out = telephone(wave, SR)
    freqs, power = spectrum_db(out)
    inband = power[(freqs > 600) & (freqs < 3000)].mean()
    assert out.shape == wave.shape
    assert power[(freqs > 4300) & (freqs < 7500)].mean() < inband - 40
    assert power[(freqs > 20) & (freqs < 120)].mean() < inband - 10


def test_mu_law_round_trip_is_close_and_bounded():
    wave = voiced()
    out = mu_law(wave * 3, 256)  # out-of-range samples are clipped first
    assert out.abs().max() <= 1.0 and out.shape == wave.shape
    assert snr_db(wave, mu_law(wave, 256)) > 25
    assert snr_db(wave, mu_law(wave, 16)) < snr_db(wave, mu_law(wave, 256))


@pytest.mark.parametrize("codec", ["mp3", "ogg"])
def test_codec_round_trip(codec):
    if codec not in available_codecs([codec]):
        pytest.skip(f"this libsndfile cannot write {codec}")
    wave = voiced(1.1)
    out = codec_round_trip(wave, SR, codec, 0.3)
    assert out.shape == wave.shape and out.dtype == torch.float32 and torch.isfinite(out).all()
    assert 3 < snr_db(wave, out) < 60  # lossy, but the same signal at the same time


def test_codec_unavailable_is_dropped_with_a_warning(monkeypatch):
    monkeypatch.setattr(sf, "available_formats", lambda: {"WAV": "WAV"})
    with pytest.warns(UserWarning, match="augment.codec"):
        aug = Augmenter(config(codec={"prob": 1.0}, gain={"prob": 0.5}), SR)
    assert "codec" not in aug.probs and aug(voiced(), "u", 1)[1].keys() == {"gain"}


def test_gain_and_clip():
    wave = voiced()
    aug = Augmenter(config(gain={"prob": 1.0, "db": [-6.0, -6.0]}), SR)
    out, record = aug(wave, "u", 1)
    assert record == {"gain": -6.0} and torch.allclose(out, wave * 10 ** (-6 / 20))
    clipped = clip(wave, 0.5)
    assert clipped.abs().max() == pytest.approx(0.5 * float(wave.abs().max()))
    assert (clipped.abs() >= 0.5 * wave.abs().max() - 1e-7).float().mean() > 0.01


def test_speed_and_pitch_move_a_tone():
    t = torch.arange(SR) / SR
    tone = torch.sin(2 * math.pi * 440 * t)
    peak = lambda w: spectrum_db(w)[0][np.argmax(spectrum_db(w)[1])]
    fast = speed_perturb(tone, SR, 1.1)
    assert abs(fast.numel() - SR / 1.1) <= 1 and peak(fast) == pytest.approx(484, abs=32)
    up = pitch_shift(tone, SR, 12.0)  # an octave up, same length
    assert up.shape == tone.shape and torch.isfinite(up).all() and peak(up) == pytest.approx(880, abs=32)
    assert torch.equal(pitch_shift(tone, SR, 0.01), tone)  # rounds to factor 1


def test_whisper_removes_the_harmonics_and_keeps_the_envelope():
    wave = voiced(1.0, f0=140.0)
    freqs, before = spectrum_db(wave)
    _, after = spectrum_db(whisperize(wave, SR, 1.0, 0.0, np.random.default_rng(0)))
    on = np.array([np.argmin(np.abs(freqs - 140 * k)) for k in range(2, 15)])  # harmonic bins
    off = np.array([np.argmin(np.abs(freqs - 140 * (k + 0.5))) for k in range(2, 15)])  # between harmonics
    assert np.mean(before[on] - before[off]) > 15  # voiced: peaks at the harmonics
    assert abs(np.mean(after[on] - after[off])) < 4  # whispered: noise, no harmonic comb
    def bands(w):  # dB per band, relative to their mean
        p = 10 ** (spectrum_db(w)[1] / 10)
        db = np.array([10 * np.log10(p[(freqs >= a) & (freqs < b)].sum()) for a, b in
                       ((100, 500), (500, 1000), (1000, 2000), (2000, 4000))])
        return db - db.mean()
    whispered = whisperize(wave, SR, 1.0, 0.0, np.random.default_rng(0))
    assert np.abs(bands(whispered) - bands(wave)).max() < 6  # the spectral envelope is kept, coarsely
    low = whisperize(wave, SR, 1.0, 1500.0, np.random.default_rng(0))
    _, tilted = spectrum_db(low)
    assert np.mean(tilted[freqs < 400]) < np.mean(after[freqs < 400]) - 6  # the high-pass removes the low band
    assert torch.allclose(low.square().mean(), wave.square().mean(), rtol=1e-3)  # at the input RMS
    half = whisperize(wave, SR, 0.5, 0.0, np.random.default_rng(0))
    assert torch.allclose(half, 0.5 * wave + 0.5 * whisperize(wave, SR, 1.0, 0.0, np.random.default_rng(0)), atol=1e-6)


# --- bad config values ------------------------------------------------------------------------
@pytest.mark.parametrize("override,match", [
    ({"copies": -1}, r"augment\.copies=-1"),
    ({"seed": "x"}, r"augment\.seed='x'"),
    ({"noise": {"prob": 1.5}}, r"augment\.noise\.prob=1\.5"),
    ({"noise": {"snr": [20.0, 5.0]}}, r"augment\.noise\.snr=\[20\.0, 5\.0\]"),
    ({"noise": {"kinds": {"pink": -1.0}}}, r"augment\.noise\.kinds"),
    ({"noise": {"kinds": {"music": 1.0}}}, r"augment\.noise\.kinds"),
    ({"noise": {"babble": [0, 3]}}, r"augment\.noise\.babble"),
    ({"reverb": {"rt60": [0.0, 1.0]}}, r"augment\.reverb\.rt60"),
    ({"reverb": {"method": "foo"}}, r"augment\.reverb\.method='foo'"),
    ({"reverb": {"pool": 0}}, r"augment\.reverb\.pool=0"),
    ({"reverb": {"room": {"min": [3.0, 3.0, 5.0]}}}, r"augment\.reverb\.room"),
    ({"speed": {"factors": [0.333]}}, r"augment\.speed\.factors"),
    ({"codec": {"formats": ["wav"]}}, r"augment\.codec\.formats"),
    ({"mu_law": {"channels": 1}}, r"augment\.mu_law\.channels=1"),
    ({"clip": {"level": [0.0, 0.5]}}, r"augment\.clip\.level"),
    ({"vtlp": {"warp": [0.5, 1.1]}}, r"augment\.vtlp\.warp"),
    ({"whisper": {"mix": [0.5, 1.5]}}, r"augment\.whisper\.mix"),
    ({"whisper": {"highpass": [-1.0, 100.0]}}, r"augment\.whisper\.highpass"),
    ({"reverbb": {"prob": 1.0}}, r"augment\.reverbb is not an augmentation"),
], ids=lambda v: str(v) if isinstance(v, str) else None)
def test_bad_config_names_the_key(override, match):
    with pytest.raises(AugmentError, match=match):
        Augmenter(config(**override), SR)


def test_missing_key_and_babble_without_utterances():
    cfg = config()
    del cfg["gain"]
    with pytest.raises(AugmentError, match=r"augment\.gain\.prob is missing"):
        check_config(cfg)
    cfg = config(noise={"prob": 1.0})
    cfg["noise"]["kinds"] = {"babble": 1.0}
    aug = Augmenter(cfg, SR)
    with pytest.raises(AugmentError, match="babble"):
        aug(voiced(), "u", 1)
