"""TTS voices of Debian main (espeak-ng, flite, festival) and batch synthesis to 16 kHz wav.

A voice id names engine and voice: "espeak-en-us+f3", "flite-slt", "festival-kal_diphone".
Each utterance has a `speed` (tempo factor, 1 = the engine's normal), a `pitch` (semitones of
F0), a `formant` shift (semitones), a word `gap` and an `intonation` (pitch range factor):

    espeak-ng  -s words per minute, -p pitch, -g word gap, SSML <prosody range="N%">
    flite      --setf duration_stretch, int_f0_target_mean (pitch), int_f0_target_stddev (range)
    festival   Duration_Stretch; its pitch goes with the formant shift

The formant shift is speed perturbation after synthesis: the audio is played at
sr * 2^(formant/12) and resampled, which moves formants and F0 together (a shorter or longer
vocal tract) and speeds up by the same factor; the engine's tempo makes up for it. For
festival, whose F0 is not exposed, the shift is pitch + formant.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from asr.corpus import CorpusError

ENGINE_BINARIES = {"espeak": "espeak-ng", "flite": "flite", "festival": "festival"}
# flite's own F0 mean and standard deviation (Hz) per voice: kal and kal16 from their voice
# definitions, awb and slt from the median F0 of their output (rms ignores these settings)
FLITE_F0 = {"kal": (95.0, 11.0), "kal16": (105.0, 14.0), "awb": (125.0, 18.0), "slt": (170.0, 25.0),
            "rms": (100.0, 15.0)}


@dataclass(frozen=True)
class Voice:
    engine: str  # espeak | flite | festival
    name: str  # the engine's own name: "en-us+f3", "slt", "kal_diphone"

    @property
    def id(self) -> str:
        return f"{self.engine}-{self.name}"

    @classmethod
    def from_id(cls, voice_id: str) -> "Voice":
        engine, _, name = voice_id.partition("-")
        if engine not in ENGINE_BINARIES or not name:
            raise CorpusError(f"bad voice id {voice_id!r}: expected espeak-..., flite-... or festival-...")
        return cls(engine, name)


@dataclass(frozen=True)
class Job:
    """One utterance to synthesize."""

    path: str  # final wav path
    text: str
    voice: str  # voice id
    speed: float
    pitch: float  # semitones of F0
    formant: float = 0.0  # semitones of resampling (formants and F0 together)
    gap: int = 0  # extra pause between words, 10 ms units (espeak-ng)
    intonation: float = 1.0  # pitch range factor (espeak-ng, flite)

    @property
    def shift(self) -> float:
        """Semitones of resampling after synthesis."""
        return self.formant + (self.pitch if self.voice.startswith("festival") else 0.0)


def voice_catalog(voices_cfg) -> list[Voice]:
    """All voices the config names: espeak accents x (variants + train-only variants), flite and
    festival voices."""
    out = []
    for accent in voices_cfg.espeak_accents:
        for variant in [*voices_cfg.espeak_variants, *voices_cfg.get("espeak_train_variants", [])]:
            out.append(Voice("espeak", accent + (f"+{variant}" if variant else "")))
    out += [Voice("flite", v) for v in voices_cfg.flite]
    out += [Voice("festival", v) for v in voices_cfg.festival]
    return out


def train_only_voices(voices_cfg) -> set[str]:
    """Ids of the voices of `espeak_train_variants`: they speak the train split only, so adding
    them leaves every evaluation split (dev, test, test-other, test-natural) as it was."""
    return {f"espeak-{accent}+{variant}" for accent in voices_cfg.espeak_accents
            for variant in voices_cfg.get("espeak_train_variants", [])}


def _run(cmd: list[str], what: str) -> None:
    try:
        res = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    except FileNotFoundError:
        raise CorpusError(f"{what}: {cmd[0]} is not installed (apt-get install espeak-ng flite festival "
                          f"festvox-kallpc16k festvox-kdlpc16k festvox-us-slt-hts)") from None
    except subprocess.TimeoutExpired:
        raise CorpusError(f"{what}: {cmd[0]} did not finish in 600 s") from None
    # festival reports a bad voice on stdout with exit status 0 in some versions
    if res.returncode != 0 or "SIOD ERROR" in res.stdout + res.stderr:
        lines = (res.stderr + res.stdout).strip().splitlines()
        errors = [line for line in lines if "error" in line.lower()] or lines or [f"exit status {res.returncode}"]
        raise CorpusError(f"{what}: {cmd[0]} failed: {errors[0].strip()}")


def _espeak_names(kind: str) -> set[str]:
    """Names espeak-ng knows: `--voices=en` (language codes) or `--voices=variant` (file names)."""
    res = subprocess.run(["espeak-ng", f"--voices={kind}"], capture_output=True, text=True)
    names = set()
    for line in res.stdout.splitlines()[1:]:
        cols = line.split()
        if len(cols) >= 5 and not cols[4].startswith("mb/"):  # mbrola voices are not in Debian main
            names.add(cols[1] if kind == "en" else cols[4].removeprefix("!v/"))
    return names


def working_voices(voices: list[Voice]) -> list[Voice]:
    """The voices that synthesize on this machine; the others are skipped with a warning.

    espeak-ng and flite silently fall back to a default voice for an unknown name, so their
    names are checked against the engine's own list, then one phrase per voice is spoken.
    """
    failed: list[tuple[Voice, str]] = []
    for engine, binary in ENGINE_BINARIES.items():
        mine = [v for v in voices if v.engine == engine]
        if mine and shutil.which(binary) is None:
            failed += [(v, f"{binary} is not installed") for v in mine]
            continue
        if engine == "espeak" and mine:
            accents, variants = _espeak_names("en"), _espeak_names("variant")
            for v in mine:
                accent, _, variant = v.name.partition("+")
                if accent not in accents or (variant and variant not in variants):
                    failed.append((v, "espeak-ng does not list it"))
        if engine == "flite" and mine:
            listed = subprocess.run(["flite", "-lv"], capture_output=True, text=True).stdout.split(":")[-1].split()
            failed += [(v, "flite -lv does not list it") for v in mine if v.name not in listed]
    bad = {v for v, _ in failed}
    # speak one phrase with each engine/voice still in the running (espeak: one per accent and
    # one per variant, as a voice works when its accent and its variant do)
    probes: dict[Voice, list[Voice]] = {}
    for v in voices:
        if v in bad:
            continue
        key = Voice("espeak", v.name.split("+")[0]) if v.engine == "espeak" else v
        probes.setdefault(key, []).append(v)
        if v.engine == "espeak" and "+" in v.name:
            probes.setdefault(Voice("espeak", "en-us+" + v.name.split("+")[1]), []).append(v)

    def speaks(probe: Voice, path: str) -> str | None:
        try:
            _engine_batch([Job(path, "hello there", probe.id, 1.0, 0.0)], {path: path})
            return None if sf.info(path).frames >= 1000 else f"{probe.id} produced no audio"
        except (CorpusError, RuntimeError) as e:
            return str(e)

    with tempfile.TemporaryDirectory() as tmp, ThreadPoolExecutor(8) as ex:  # the work is in subprocesses
        errors = ex.map(speaks, probes, [os.path.join(tmp, f"{i}.wav") for i in range(len(probes))])
        for (probe, users), error in zip(probes.items(), errors):
            if error:
                failed += [(v, error) for v in users if v not in bad]
                bad.update(users)
    if failed:
        warnings.warn(f"skipping {len(failed)} TTS voices that do not work here: " +
                      "; ".join(f"{v.id} ({why})" for v, why in failed), stacklevel=2)
    return [v for v in voices if v not in bad]


def _engine_batch(jobs: list[Job], raw: dict[str, str]) -> None:
    """Run the TTS engine for `jobs`, writing each job's raw audio to raw[job.path].

    espeak-ng and flite run once per utterance (a few ms each); festival takes ~0.2 s to
    start, so one festival process speaks a whole batch from a Scheme script.
    """
    script, loaded = [], None
    for job in jobs:
        voice = Voice.from_id(job.voice)
        out = raw[job.path]
        stretch = 2 ** (job.shift / 12) / job.speed  # tempo left after the resampling
        if voice.engine == "espeak":
            wpm = round(175 / stretch)
            pitch = int(min(99, max(0, 50 + 8 * job.pitch)))
            # the text is lower-case letters, apostrophe and space: safe inside SSML
            ssml = f'<speak><prosody range="{round(100 * job.intonation)}%">{job.text}</prosody></speak>'
            _run(["espeak-ng", "-m", "-v", voice.name, "-s", str(wpm), "-p", str(pitch), "-g", str(job.gap),
                  "-w", out, ssml], f"espeak-ng voice {voice.name}")
        elif voice.engine == "flite":
            mean, std = FLITE_F0.get(voice.name, (100.0, 15.0))
            _run(["flite", "-voice", voice.name, "--setf", f"duration_stretch={stretch:.3f}",
                  "--setf", f"int_f0_target_mean={mean * 2 ** (job.pitch / 12):.1f}",
                  "--setf", f"int_f0_target_stddev={std * job.intonation:.1f}", "-t", job.text,
                  "-o", out], f"flite voice {voice.name}")
        else:
            # the text is lower-case letters, apostrophe and space: safe inside a Scheme string
            if voice.name != loaded:  # loading a voice takes time: once per run of one voice
                script.append(f"(voice_{voice.name})")
                loaded = voice.name
            script += [f"(Parameter.set 'Duration_Stretch {stretch:.3f})",
                       f'(utt.save.wave (utt.synth (Utterance Text "{job.text}")) "{out}" \'riff)']
    if script:
        with tempfile.NamedTemporaryFile("w", suffix=".scm", delete=False) as f:
            f.write("\n".join(script) + "\n")
        try:
            _run(["festival", "--batch", f.name], "festival voices " +
                 ", ".join(sorted({j.voice for j in jobs if j.voice.startswith("festival")})))
        finally:
            os.unlink(f.name)


_resamplers: dict[tuple[int, int], object] = {}


def _resample(audio: np.ndarray, orig_sr: int, new_sr: int) -> np.ndarray:
    if orig_sr == new_sr:
        return audio
    import torch
    import torchaudio

    key = (orig_sr, new_sr)
    if key not in _resamplers:  # the transform keeps its filter kernel between calls
        _resamplers[key] = torchaudio.transforms.Resample(orig_sr, new_sr)
    with torch.no_grad():
        return _resamplers[key](torch.from_numpy(audio)).numpy()


def synthesize(jobs: list[Job], sample_rate: int = 16000) -> list[float]:
    """Speak `jobs` and write 16 kHz mono PCM16 wavs; returns the durations in seconds.

    Each wav is written to a temporary name and renamed, so a wav that exists is complete.
    """
    import torch

    torch.set_num_threads(1)  # one process per core
    raw = {j.path: j.path + ".raw.wav" for j in jobs}
    for j in jobs:
        Path(j.path).parent.mkdir(parents=True, exist_ok=True)
    durations = []
    try:
        _engine_batch(jobs, raw)
        for job in jobs:
            try:
                audio, sr = sf.read(raw[job.path], dtype="float32", always_2d=True)
            except (sf.LibsndfileError, RuntimeError) as e:
                raise CorpusError(f"{job.voice} wrote no readable audio for {job.text!r}: {e}") from None
            audio = audio.mean(axis=1)
            if len(audio) < sr // 20:
                raise CorpusError(f"{job.voice} produced {len(audio)} samples for {job.text!r}")
            # speed perturbation: play the audio at sr * 2^(shift/12) and resample to the target;
            # the source rate is rounded to 100 Hz to keep the resampling filter short
            sr_pert = int(round(sr * 2 ** (job.shift / 12) / 100) * 100) if job.shift else sr
            audio = _resample(audio, sr_pert, sample_rate)
            peak = float(np.abs(audio).max())
            audio = audio * (0.9 / peak) if peak > 0 else audio
            tmp = job.path + ".tmp.wav"
            sf.write(tmp, audio, sample_rate, subtype="PCM_16")
            os.replace(tmp, job.path)
            durations.append(len(audio) / sample_rate)
    finally:
        for r in raw.values():
            if os.path.exists(r):
                os.unlink(r)
    return durations
