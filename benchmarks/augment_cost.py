"""CPU cost of each augmentation (asr/augment.py), in CPU ms (time.process_time, so a busy machine
does not inflate it) per second of audio, one thread.

    python benchmarks/augment_cost.py speech.wav [more.wav ...] [--reps 5]

Each effect alone (prob 1) on every file, against the fbank extraction it adds to; the RIR pool is
timed per RIR (it is made once per store).
"""
import argparse
import time

import torch
from omegaconf import OmegaConf

from asr.audio import load_audio
from asr.augment import EFFECTS, Augmenter, make_rir_pool
from asr.data import OnlineAugment
from asr.features import FeatureExtractor

SR = 16000


def config(**over):
    cfg = OmegaConf.load("conf/augment/default.yaml")
    cfg.copies = 1
    return OmegaConf.to_container(OmegaConf.merge(cfg, over), resolve=True)


def per_second(fn, waves, reps):
    seconds = sum(w.numel() for w in waves) / SR * reps
    t0 = time.process_time()
    for r in range(reps):
        for i, w in enumerate(waves):
            fn(w, f"u{i}", r + 1)
    return 1000 * (time.process_time() - t0) / seconds


def main():
    p = argparse.ArgumentParser()
    p.add_argument("wavs", nargs="+")
    p.add_argument("--reps", type=int, default=5)
    a = p.parse_args()
    torch.set_num_threads(1)
    waves = [load_audio(w, SR) for w in a.wavs]
    others = lambda rng, k: [(f"o{j}", waves[j % len(waves)]) for j in range(k)]
    fbank = FeatureExtractor()
    fbank(waves[0])  # warm-up
    rows = [("fbank80 extraction (reference)", per_second(lambda w, u, c: fbank(w), waves, a.reps))]
    rows.append(("fbank80 with a VTLP warp", per_second(lambda w, u, c: fbank(w, warp=1.07), waves, a.reps)))
    variants = {e: {e: {"prob": 1.0}} for e in EFFECTS}
    variants.update({
        "noise: white": {"noise": {"prob": 1.0, "kinds": {"white": 1.0}}},
        "noise: pink": {"noise": {"prob": 1.0, "kinds": {"pink": 1.0}}},
        "noise: babble (3-6, waves in memory)": {"noise": {"prob": 1.0, "kinds": {"babble": 1.0}}},
        "codec: mp3": {"codec": {"prob": 1.0, "formats": ["mp3"]}},
        "codec: ogg": {"codec": {"prob": 1.0, "formats": ["ogg"]}},
    })
    del variants["noise"], variants["codec"]
    # last: pyroomacoustics leaves threads that use CPU (process_time) after it ran
    variants["reverb (shoebox pool)"] = {"reverb": {"prob": 1.0, "method": "shoebox", "pool": 4}}
    for name, over in variants.items():
        cfg = config(**over)
        if name.startswith("noise: "):
            cfg["noise"]["kinds"] = {name[7:].split()[0]: 1.0}  # (a merge keeps the other kinds)
        aug = Augmenter(cfg, SR)
        rows.append((name, per_second(lambda w, u, c: aug(w, u, c, others), waves, a.reps)))
    rows.append(("reading the wav (load_audio; babble reads 3-6 others)",
                 per_second(lambda w, u, c: [load_audio(f, SR) for f in a.wavs], waves[:1], a.reps)
                 * waves[0].numel() / sum(w.numel() for w in waves)))
    feats = [fbank(w) for w in waves]
    online = OnlineAugment(1.0, (0.9, 1.1))
    g = torch.Generator().manual_seed(0)
    rows.append(("on the fly: VTLP of stored log-mels (asr.data.OnlineAugment)",
                 per_second(lambda w, u, c: [online(f, g) for f in feats], waves[:1], a.reps)
                 * waves[0].numel() / sum(w.numel() for w in waves)))
    for preset in ("light", "voice", "kaldi", "full"):
        cfg = OmegaConf.merge(OmegaConf.load("conf/augment/default.yaml"), OmegaConf.load(f"conf/augment/{preset}.yaml"))
        cfg = OmegaConf.to_container(cfg, resolve=True)
        cfg.pop("defaults")
        aug = Augmenter({**cfg, "reverb": {**cfg["reverb"], "pool": 8}}, SR)
        cost = per_second(lambda w, u, c: fbank(*(lambda r: (r[0], r[1].get("vtlp", 1.0)))(aug(w, u, c, others))),
                          waves, a.reps)
        rows.append((f"preset {preset}: one copy, chain + fbank (pool excluded)", cost))
    for method in ("synthetic", "shoebox"):
        cfg = config(reverb={"prob": 1.0, "method": method, "pool": 8})
        t0 = time.process_time()
        make_rir_pool(cfg, SR)
        rows.append((f"one {method} RIR (pool, once per store; ms per RIR)", 1000 * (time.process_time() - t0) / 8))
    audio = sum(w.numel() for w in waves) / SR
    print(f"{len(waves)} files, {audio:.1f} s of audio, {a.reps} reps, 1 thread")
    print(f"| augmentation | ms per s of audio |\n|---|---|")
    for name, ms in rows:
        print(f"| {name} | {ms:.2f} |")


if __name__ == "__main__":
    main()
