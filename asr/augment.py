"""Waveform augmentation the way Kaldi / ESPnet / SpeechBrain recipes do it.

Every effect is a plain function on a mono float32 wave [N] at `sample_rate`. `Augmenter` draws which
effects one utterance copy gets, and their parameters, from the `augment` config (conf/augment/),
deterministically from (augment.seed, utterance id, copy), and returns the wave with a record of
what it did (stored beside the features: asr/features.py).

The chain, in this order (each effect fires with its own `prob`; a copy that drew none gets one of
the enabled effects, chosen with weights `prob`, so no augmented copy equals its original):
    speed      resample by a factor: tempo and pitch together (Kaldi speed perturbation)
    pitch      pitch shift in semitones: phase-vocoder stretch, then resample (tempo kept)
    whisper    the voice source replaced by noise: each STFT frame's spectral envelope (cepstrally
               smoothed, no pitch harmonics) shapes white noise; mixed with the original at `mix`
    reverb     convolution with a room impulse response (RIR) from a pool made once, from the seed:
               method=synthetic: direct path + exponentially decaying noise with the drawn RT60,
               direct-to-reverberant ratio from the source distance and the critical distance;
               method=shoebox: pyroomacoustics image sources (order 3) + ray tracing in a random room
    noise      white / pink / brown noise made here, or babble (a sum of other training utterances),
               at an SNR in dB (against the speech as it is at that point of the chain)
    telephone  8 kHz round trip (torchaudio resample) and a 300 Hz high-pass
    mu_law     8-bit mu-law round trip (torchaudio mu_law_encoding / decoding)
    codec      mp3 or ogg/vorbis round trip through soundfile at a compression level in [0, 1]
    gain       in dB
    clip       hard clipping at a fraction of the peak
    vtlp       a warp factor for the feature extractor (Kaldi's VTLN warping of the mel filterbank);
               the wave is unchanged, the record carries the factor (asr/features.py applies it)
Reverberated speech is rescaled to the RMS of its input, so level changes come from `gain` only.
"""
from __future__ import annotations

import io
import json
import math
import warnings
import zlib
from typing import Callable, Mapping, Sequence

import numpy as np
import soundfile as sf
import torch
import torchaudio.functional as AF

from asr.errors import ASRError

EFFECTS = ("speed", "pitch", "whisper", "reverb", "noise", "telephone", "mu_law", "codec", "gain", "clip", "vtlp")
NOISE_KINDS = ("white", "pink", "brown", "babble")
CODECS = {"mp3": ("MP3", "MPEG_LAYER_III"), "ogg": ("OGG", "VORBIS")}
RIR_METHODS = ("synthetic", "shoebox")
SOUND_SPEED = 343.0  # m/s


class AugmentError(ASRError, ValueError):
    """A bad `augment` config value; the message names the key."""


# --- the effects --------------------------------------------------------------------------------
def speed_perturb(wave: torch.Tensor, sample_rate: int, factor: float) -> torch.Tensor:
    """Play `factor` times faster: resample from sample_rate * factor to sample_rate. [N] -> [~N / factor]"""
    if factor == 1.0:
        return wave
    return AF.resample(wave, round(sample_rate * factor), sample_rate)


def pitch_shift(wave: torch.Tensor, sample_rate: int, semitones: float, n_fft: int = 512) -> torch.Tensor:
    """Raise the pitch by `semitones` and keep the length: stretch [N] to [~N p] with a phase vocoder,
    then play p times faster, p = 2^(semitones/12) rounded to 2 decimals (a cheap resampling ratio;
    torchaudio.functional.pitch_shift resamples at the exact ratio: 22 s for 3 s of audio at +2)."""
    p = round(2 ** (semitones / 12), 2)
    if p == 1.0 or wave.numel() <= n_fft // 2:  # shorter than half a window: nothing to shift
        return wave
    hop, window = n_fft // 4, torch.hann_window(n_fft)
    spec = torch.stft(wave, n_fft, hop, window=window, return_complex=True)  # [n_fft/2+1, frames]
    phase_advance = torch.linspace(0, math.pi * hop, spec.shape[0])[:, None]
    stretched = AF.phase_vocoder(spec, 1 / p, phase_advance)
    longer = torch.istft(stretched, n_fft, hop, window=window, length=round(wave.numel() * p))
    return _fit(speed_perturb(longer, sample_rate, p), wave.numel())


def whisperize(wave: torch.Tensor, sample_rate: int, mix: float, highpass: float, rng: np.random.Generator,
               lifter: int = 24, n_fft: int = 512) -> torch.Tensor:
    """Whispered speech from voiced speech [N] -> [N]: the spectral envelope of every frame (its real
    cepstrum kept below `lifter` samples, 1.5 ms at 16 kHz: below any pitch period) times the STFT of
    white noise, through a first-order high-pass at `highpass` Hz (no voice bar: whispers have little
    energy below ~500 Hz); `mix` of that plus (1 - mix) of the original, at the input RMS."""
    if wave.numel() <= n_fft // 2:
        return wave
    hop, window = n_fft // 4, torch.hann_window(n_fft)
    spec = torch.stft(wave, n_fft, hop, window=window, return_complex=True)  # [n_fft/2+1, frames]
    cep = torch.fft.irfft(spec.abs().clamp_min(1e-8).log(), n_fft, dim=0)  # [n_fft, frames]
    keep = torch.zeros(n_fft, 1)
    keep[:lifter], keep[n_fft - lifter + 1:] = 1.0, 1.0
    envelope = torch.fft.rfft(cep * keep, dim=0).real.exp()  # [n_fft/2+1, frames]
    f = torch.linspace(0, sample_rate / 2, n_fft // 2 + 1)[:, None]
    envelope = envelope * f / (f.square() + highpass ** 2).sqrt().clamp_min(1.0)
    noise = torch.from_numpy(rng.standard_normal(wave.numel()).astype(np.float32))
    noise_spec = torch.stft(noise, n_fft, hop, window=window, return_complex=True)
    noise_spec = noise_spec / window.square().sum().sqrt()  # unit expected magnitude per bin
    out = torch.istft(envelope * noise_spec, n_fft, hop, window=window, length=wave.numel())
    rms_in, rms_out = wave.square().mean().sqrt(), out.square().mean().sqrt()
    out = out * (rms_in / rms_out) if rms_out > 0 else out
    return mix * out + (1 - mix) * wave


def coloured_noise(n: int, colour: str, rng: np.random.Generator) -> torch.Tensor:
    """Unit-RMS noise [n] with power spectrum ~ 1/f^a: white a=0, pink a=1, brown a=2."""
    exponent = {"white": 0.0, "pink": 1.0, "brown": 2.0}[colour]
    if exponent:
        size = 1 << max(n - 1, 1).bit_length()  # a power of two: an FFT of a prime length is 10x slower
        spec = np.fft.rfft(rng.standard_normal(size))
        f = np.arange(spec.size, dtype=np.float64)
        f[0] = 1.0  # keeps the DC bin finite; it is zeroed below
        spec /= f ** (exponent / 2)
        spec[0] = 0.0
        white = np.fft.irfft(spec, size)[:n]
    else:
        white = rng.standard_normal(n)
    white /= max(np.sqrt(np.mean(white ** 2)), 1e-12)
    return torch.from_numpy(white.astype(np.float32))


def add_noise(wave: torch.Tensor, noise: torch.Tensor, snr_db: float) -> torch.Tensor:
    """wave + noise scaled so that 10 log10(|wave|^2 / |scaled noise|^2) = snr_db; [N] + [N] -> [N]."""
    p_signal, p_noise = wave.double().square().mean(), noise.double().square().mean()
    if p_signal == 0 or p_noise == 0:
        return wave
    scale = torch.sqrt(p_signal / (p_noise * 10 ** (snr_db / 10))).float()
    return wave + scale * noise


def babble(others: Sequence[torch.Tensor], n: int) -> torch.Tensor:
    """Sum of other utterances [n_i], each at unit RMS and tiled or cut to n samples -> [n]."""
    out = torch.zeros(n)
    for o in others:
        rms = o.square().mean().sqrt()
        if rms > 0:
            out += _fit(o.repeat(math.ceil(n / o.numel())), n) / rms
    return out


def synthetic_rir(rt60: float, distance: float, volume: float, sample_rate: int,
                  rng: np.random.Generator) -> np.ndarray:
    """RIR [~rt60 s]: a unit direct path, then Gaussian noise decaying 60 dB in rt60 seconds, scaled so
    that the direct-to-reverberant energy ratio is (critical distance / distance)^2, with Sabine's
    critical distance 0.057 sqrt(volume / rt60) m."""
    n = max(int(rt60 * sample_rate), 2)
    t = np.arange(n) / sample_rate
    tail = rng.standard_normal(n) * np.exp(-3 * math.log(10) * t / rt60)  # amplitude: -60 dB at rt60
    tail[0] = 0.0
    critical = 0.057 * math.sqrt(volume / rt60)
    tail *= math.sqrt((distance / critical) ** 2 / np.sum(tail ** 2))  # reverberant energy, direct = 1
    tail[0] = 1.0
    return tail.astype(np.float32)


def shoebox_rir(rt60: float, distance: float, room: Mapping, sample_rate: int, seed: int,
                rng: np.random.Generator) -> tuple[np.ndarray, float]:
    """(RIR, the distance used) of a random shoebox room (pyroomacoustics: image sources of order 3 + ray tracing, the
    wall absorption from Sabine's formula for `rt60`), the source `distance` m from the microphone
    (less where the room is too small)."""
    try:
        import pyroomacoustics as pra
    except ImportError:
        raise AugmentError("augment.reverb.method=shoebox needs pyroomacoustics "
                           "(pip install 'pyroomacoustics==0.10.1')") from None
    dims = rng.uniform(room["min"], room["max"])
    for _ in range(20):  # a room too large for the RT60 has no valid absorption: shrink it
        try:
            absorption, _ = pra.inverse_sabine(rt60, dims)
            break
        except ValueError:
            dims = dims * 0.8
    mic = rng.uniform(0.5, dims - 0.5)
    angle = rng.uniform(0, 2 * math.pi)
    direction = np.array([math.cos(angle), math.sin(angle), 0.0])
    room_left = [(dims[i] - 0.3 - mic[i]) / c if c > 0 else (mic[i] - 0.3) / -c for i, c in enumerate(direction[:2]) if c]
    distance = min(distance, *room_left)  # the source stays 0.3 m inside the walls
    source = mic + distance * direction
    pra.random.seed(seed)  # the ray tracer's C++ generator
    r = pra.ShoeBox(dims, fs=sample_rate, materials=pra.Material(absorption), max_order=3, ray_tracing=True,
                    air_absorption=True)
    r.add_source(source)
    r.add_microphone(mic)
    r.compute_rir()
    rir = np.asarray(r.rir[0][0], dtype=np.float32)
    return rir[int(np.argmax(np.abs(rir))):], distance  # from the direct path: the output stays aligned


def measure_rt60(rir: np.ndarray, sample_rate: int, decay_db: float = 20.0) -> float:
    """RT60 from the Schroeder backward-integrated energy decay curve (ISO 3382): the least-squares
    slope of its -5 to -(5 + decay_db) dB part (T20 for 20), extrapolated to -60 dB."""
    energy = np.cumsum(np.asarray(rir, dtype=np.float64)[::-1] ** 2)[::-1]
    edc = 10 * np.log10(np.maximum(energy / energy[0], 1e-300))
    i0, i1 = int(np.argmax(edc < -5.0)), int(np.argmax(edc < -5.0 - decay_db))
    if i1 <= i0 + 1:
        return 0.0
    slope = np.polyfit(np.arange(i0, i1) / sample_rate, edc[i0:i1], 1)[0]  # dB per second
    return float(-60.0 / slope) if slope < 0 else 0.0


def reverberate(wave: torch.Tensor, rir: np.ndarray) -> torch.Tensor:
    """wave [N] * rir [R] (FFT convolution), cut to N samples, at the RMS of `wave`. The FFT size is
    the next power of two (torchaudio.functional.fftconvolve uses N + R - 1: 4x slower for 5 s * 0.8 s)."""
    size = 1 << (wave.numel() + len(rir) - 2).bit_length()
    spectrum = torch.fft.rfft(wave, size) * torch.fft.rfft(torch.from_numpy(rir), size)
    out = torch.fft.irfft(spectrum, size)[: wave.numel()]
    rms_in, rms_out = wave.square().mean().sqrt(), out.square().mean().sqrt()
    return out * (rms_in / rms_out) if rms_out > 0 else out


def telephone(wave: torch.Tensor, sample_rate: int) -> torch.Tensor:
    """8 kHz round trip (a 4 kHz band limit) and a 300 Hz high-pass: the 300-3400 Hz telephone band."""
    narrow = AF.resample(wave, sample_rate, 8000)
    narrow = AF.highpass_biquad(narrow, 8000, 300.0)
    return _fit(AF.resample(narrow, 8000, sample_rate), wave.numel())


def mu_law(wave: torch.Tensor, channels: int = 256) -> torch.Tensor:
    """mu-law companding round trip with `channels` levels (G.711-like for 256)."""
    return AF.mu_law_decoding(AF.mu_law_encoding(wave.clamp(-1, 1), channels), channels)


def codec_round_trip(wave: torch.Tensor, sample_rate: int, codec: str, level: float) -> torch.Tensor:
    """Encode to `codec` (mp3 | ogg) in memory at compression `level` in [0, 1], decode, keep N samples."""
    fmt, subtype = CODECS[codec]
    buf = io.BytesIO()
    sf.write(buf, wave.clamp(-1, 1).numpy(), sample_rate, format=fmt, subtype=subtype, compression_level=level)
    buf.seek(0)
    decoded, _ = sf.read(buf, dtype="float32")
    return _fit(torch.from_numpy(decoded), wave.numel())


def clip(wave: torch.Tensor, level: float) -> torch.Tensor:
    """Hard clipping at `level` times the peak."""
    peak = float(wave.abs().max())
    return wave.clamp(-level * peak, level * peak)


def _fit(wave: torch.Tensor, n: int) -> torch.Tensor:
    """Cut or zero-pad [M] to [n]."""
    if wave.numel() >= n:
        return wave[:n].contiguous()
    return torch.cat([wave, wave.new_zeros(n - wave.numel())])


# --- the config -----------------------------------------------------------------------------------
def _get(cfg: Mapping, path: str):
    node = cfg
    for part in path.split("."):
        if not isinstance(node, Mapping) or part not in node:
            raise AugmentError(f"augment.{path} is missing")
        node = node[part]
    return node


def _prob(cfg: Mapping, effect: str) -> float:
    p = _get(cfg, f"{effect}.prob")
    if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0 <= p <= 1:
        raise AugmentError(f"augment.{effect}.prob={p!r} must be a number in [0, 1]")
    return float(p)


def _range(cfg: Mapping, path: str, lo: float = -math.inf, hi: float = math.inf, integer: bool = False) -> tuple:
    """A [low, high] pair with lo <= low <= high <= hi."""
    r = _get(cfg, path)
    kind = int if integer else (int, float)
    ok = (isinstance(r, Sequence) and not isinstance(r, str) and len(r) == 2
          and all(isinstance(v, kind) and not isinstance(v, bool) for v in r) and lo <= r[0] <= r[1] <= hi)
    if not ok:
        raise AugmentError(f"augment.{path}={_plain(r)!r} must be [low, high] with {lo:g} <= low <= high <= {hi:g}"
                           + (" (integers)" if integer else ""))
    return (int(r[0]), int(r[1])) if integer else (float(r[0]), float(r[1]))


def _plain(value):
    try:
        from omegaconf import OmegaConf

        return OmegaConf.to_container(value) if OmegaConf.is_config(value) else value
    except ImportError:  # pragma: no cover
        return value


def check_config(cfg: Mapping) -> dict:
    """Validate the `augment` config; returns {effect: prob} of the enabled effects (prob > 0).
    Every bad value raises one AugmentError naming its key."""
    copies, seed = _get(cfg, "copies"), _get(cfg, "seed")
    for key, value in (("copies", copies), ("seed", seed)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise AugmentError(f"augment.{key}={value!r} must be an integer >= 0")
    unknown = set(cfg) - set(EFFECTS) - {"name", "copies", "seed", "online"}
    if unknown:
        raise AugmentError(f"augment.{sorted(unknown)[0]} is not an augmentation (one of: {', '.join(EFFECTS)})")
    probs = {e: _prob(cfg, e) for e in EFFECTS}
    _check_parameters(cfg)
    return {e: p for e, p in probs.items() if p > 0}


def _check_parameters(cfg: Mapping) -> None:
    """The effects' own keys (ranges, choices), checked whether or not the effect is enabled."""
    factors = _get(cfg, "speed.factors")
    if not factors or any(isinstance(f, bool) or not isinstance(f, (int, float)) or not 0.5 <= f <= 2
                          or round(f, 2) != f for f in factors):
        raise AugmentError(f"augment.speed.factors={_plain(factors)!r} must be factors in [0.5, 2] with at most 2 decimals")
    _range(cfg, "pitch.semitones", -12, 12)
    _range(cfg, "vtlp.warp", 0.7, 1.3)
    _range(cfg, "whisper.mix", 0, 1)
    _range(cfg, "whisper.highpass", 0, 4000)
    _range(cfg, "reverb.rt60", 0.05, 3.0)
    _range(cfg, "reverb.distance", 0.1, 20)
    _range(cfg, "reverb.volume", 1, 1e5)
    if _get(cfg, "reverb.method") not in RIR_METHODS:
        raise AugmentError(f"augment.reverb.method={_get(cfg, 'reverb.method')!r} is not one of: {', '.join(RIR_METHODS)}")
    low, high = _get(cfg, "reverb.room.min"), _get(cfg, "reverb.room.max")
    if not all(isinstance(r, Sequence) and len(r) == 3 and all(isinstance(v, (int, float)) for v in r)
               for r in (low, high)) or not all(1.5 <= a <= b <= 100 for a, b in zip(low, high)):
        raise AugmentError(f"augment.reverb.room={{min: {_plain(low)!r}, max: {_plain(high)!r}}} must be "
                           "[length, width, height] bounds in metres with 1.5 <= min <= max <= 100")
    pool = _get(cfg, "reverb.pool")
    if isinstance(pool, bool) or not isinstance(pool, int) or pool <= 0:
        raise AugmentError(f"augment.reverb.pool={pool!r} must be a positive integer")
    _range(cfg, "noise.snr", -10, 60)
    _range(cfg, "noise.babble", 1, 20, integer=True)
    kinds = _get(cfg, "noise.kinds")
    if not isinstance(kinds, Mapping) or not kinds or set(kinds) - set(NOISE_KINDS) or \
            any(not isinstance(w, (int, float)) or w < 0 for w in kinds.values()) or sum(kinds.values()) <= 0:
        raise AugmentError(f"augment.noise.kinds={_plain(kinds)!r} must map some of {', '.join(NOISE_KINDS)} "
                           "to weights >= 0, not all 0")
    channels = _get(cfg, "mu_law.channels")
    if isinstance(channels, bool) or not isinstance(channels, int) or not 2 <= channels <= 65536:
        raise AugmentError(f"augment.mu_law.channels={channels!r} must be an integer in [2, 65536]")
    formats = _get(cfg, "codec.formats")
    if not formats or any(f not in CODECS for f in formats):
        raise AugmentError(f"augment.codec.formats={_plain(formats)!r} must hold some of: {', '.join(CODECS)}")
    _range(cfg, "codec.level", 0, 1)
    _range(cfg, "gain.db", -60, 30)
    _range(cfg, "clip.level", 0.01, 1)


def available_codecs(formats: Sequence[str]) -> list[str]:
    """The codecs of `formats` this libsndfile can write (soundfile.available_formats())."""
    have = sf.available_formats()
    return [f for f in formats if CODECS[f][0] in have]


def make_rir_pool(cfg: Mapping, sample_rate: int) -> tuple[list[np.ndarray], list[dict]]:
    """`reverb.pool` RIRs with RT60 and distance uniform in their ranges, from `seed` alone:
    (rirs [R_i] float32, infos {"rt60": drawn, "rt60_measured": Schroeder T20, "distance"})."""
    r = cfg["reverb"]
    rng = np.random.default_rng([int(cfg["seed"]), 0x52495200])
    rirs, infos = [], []
    for i in range(int(r["pool"])):
        rt60, distance = rng.uniform(*r["rt60"]), rng.uniform(*r["distance"])
        if r["method"] == "synthetic":
            rir = synthetic_rir(rt60, distance, rng.uniform(*r["volume"]), sample_rate, rng)
        else:
            rir, distance = shoebox_rir(rt60, distance, r["room"], sample_rate, int(cfg["seed"]) * 100003 + i, rng)
        rirs.append(rir)
        infos.append({"rt60": round(float(rt60), 3), "rt60_measured": round(measure_rt60(rir, sample_rate), 3),
                      "distance": round(float(distance), 2)})
    return rirs, infos


# others(rng, k) -> k other utterances as (id, wave [n_i]) for babble
OtherUtterances = Callable[[np.random.Generator, int], Sequence[tuple[str, torch.Tensor]]]


class Augmenter:
    """augmenter(wave [N], utt_id, copy, others) -> (augmented wave [N'] float32, record dict).

    The draw depends only on (augment.seed, utt_id, copy): the same copy of an utterance gets the
    same effects in any process and any order. `rirs` is a (rirs, infos) pool to share between
    processes (made from the config when None and reverb is enabled).
    """

    def __init__(self, cfg: Mapping, sample_rate: int, rirs: tuple[list, list] | None = None):
        self.probs = check_config(cfg)
        self.cfg, self.sample_rate, self.seed = _plain(cfg), sample_rate, int(cfg["seed"])
        self.codecs = available_codecs(self.cfg["codec"]["formats"])
        if "codec" in self.probs and not self.codecs:
            warnings.warn(f"augment.codec: this libsndfile writes none of {self.cfg['codec']['formats']}: codec off")
            del self.probs["codec"]
        self.rirs = rirs if rirs is not None or "reverb" not in self.probs else make_rir_pool(self.cfg, sample_rate)

    @property
    def enabled(self) -> bool:
        return self.cfg["copies"] > 0 and bool(self.probs)

    def rng(self, utt_id: str, copy: int) -> np.random.Generator:
        return np.random.default_rng([self.seed, zlib.crc32(utt_id.encode()), copy])

    def draw(self, rng: np.random.Generator) -> list[str]:
        """The effects of one copy: each with its prob; none drawn -> one, weighted by prob."""
        fired = [e for e, p in self.probs.items() if rng.random() < p]
        if not fired and self.probs:
            names, weights = list(self.probs), np.array(list(self.probs.values()))
            fired = [names[rng.choice(len(names), p=weights / weights.sum())]]
        return fired

    def __call__(self, wave: torch.Tensor, utt_id: str, copy: int,
                 others: OtherUtterances | None = None) -> tuple[torch.Tensor, dict]:
        rng = self.rng(utt_id, copy)
        record: dict = {}
        for effect in self.draw(rng):  # in EFFECTS order
            wave = getattr(self, f"_{effect}")(wave, rng, record, others)
        # plain Python types only (no numpy scalars): the record goes into shards read with weights_only
        return wave.float().contiguous(), json.loads(json.dumps(record))

    # each: (wave, rng, record, others) -> wave; draws its parameters and writes them to the record
    def _speed(self, wave, rng, record, others):
        record["speed"] = float(rng.choice(self.cfg["speed"]["factors"]))
        return speed_perturb(wave, self.sample_rate, record["speed"])

    def _pitch(self, wave, rng, record, others):
        record["pitch"] = round(float(rng.uniform(*self.cfg["pitch"]["semitones"])), 2)
        return pitch_shift(wave, self.sample_rate, record["pitch"])

    def _whisper(self, wave, rng, record, others):
        w = self.cfg["whisper"]
        record["whisper"] = {"mix": round(float(rng.uniform(*w["mix"])), 3),
                             "highpass": round(float(rng.uniform(*w["highpass"])), 1)}
        return whisperize(wave, self.sample_rate, record["whisper"]["mix"], record["whisper"]["highpass"], rng)

    def _reverb(self, wave, rng, record, others):
        i = int(rng.integers(len(self.rirs[0])))
        record["reverb"] = {"rir": i, **self.rirs[1][i]}
        return reverberate(wave, self.rirs[0][i])

    def _noise(self, wave, rng, record, others):
        kinds = self.cfg["noise"]["kinds"]
        names, weights = list(kinds), np.array([float(w) for w in kinds.values()])
        kind = names[rng.choice(len(names), p=weights / weights.sum())]
        snr = round(float(rng.uniform(*self.cfg["noise"]["snr"])), 2)
        record["noise"] = {"kind": kind, "snr": snr}
        if kind == "babble":
            if others is None:
                raise AugmentError("augment.noise.kinds has babble, but no other utterances were given to mix")
            picked = others(rng, int(rng.integers(self.cfg["noise"]["babble"][0], self.cfg["noise"]["babble"][1] + 1)))
            record["noise"]["from"] = [uid for uid, _ in picked]
            noise = babble([w for _, w in picked], wave.numel())
        else:
            noise = coloured_noise(wave.numel(), kind, rng)
        return add_noise(wave, noise, snr)

    def _telephone(self, wave, rng, record, others):
        record["telephone"] = True
        return telephone(wave, self.sample_rate)

    def _mu_law(self, wave, rng, record, others):
        record["mu_law"] = int(self.cfg["mu_law"]["channels"])
        return mu_law(wave, record["mu_law"])

    def _codec(self, wave, rng, record, others):
        codec = self.codecs[int(rng.integers(len(self.codecs)))]
        record["codec"] = {"format": codec, "level": round(float(rng.uniform(*self.cfg["codec"]["level"])), 2)}
        return codec_round_trip(wave, self.sample_rate, codec, record["codec"]["level"])

    def _gain(self, wave, rng, record, others):
        record["gain"] = round(float(rng.uniform(*self.cfg["gain"]["db"])), 2)  # dB
        return wave * 10 ** (record["gain"] / 20)

    def _clip(self, wave, rng, record, others):
        record["clip"] = round(float(rng.uniform(*self.cfg["clip"]["level"])), 3)
        return clip(wave, record["clip"])

    def _vtlp(self, wave, rng, record, others):
        record["vtlp"] = round(float(rng.uniform(*self.cfg["vtlp"]["warp"])), 3)
        return wave  # the feature extractor warps its mel filterbank by record["vtlp"]
