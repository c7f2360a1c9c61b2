import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
import torchaudio
from conftest import compose
from omegaconf import OmegaConf

from asr.audio import load_audio
from asr.features import (FeatureError, FeatureExtractor, GlobalCMVN, extract_features, load_cmvn, load_split,
                          shard_path, write_shard)
from asr.manifest import read_manifest, write_manifest

REPO = Path(__file__).resolve().parents[1]


def noise_wave(seconds: float, sr: int = 16000, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    t = torch.arange(int(sr * seconds)) / sr
    return 0.2 * torch.sin(2 * torch.pi * (200 + 100 * seed) * t) + 0.05 * torch.randn(t.numel(), generator=g)


# --- FeatureExtractor -------------------------------------------------------------------------
@pytest.mark.parametrize("bins,length,shift", [(80, 25, 10), (40, 25, 10), (23, 20, 8)], ids=["80", "40", "23-20ms-8ms"])
def test_fbank_matches_kaldi_fbank(bins, length, shift):
    wave = noise_wave(1.3)
    feats = FeatureExtractor(num_mel_bins=bins, frame_length_ms=length, frame_shift_ms=shift)(wave)
    direct = torchaudio.compliance.kaldi.fbank(wave.unsqueeze(0), num_mel_bins=bins, frame_length=length,
                                               frame_shift=shift, dither=0.0, sample_frequency=16000)
    assert feats.shape == direct.shape == (1 + (wave.numel() - 16 * length) // (16 * shift), bins)
    assert torch.equal(feats, direct)


def test_mel_kind_agrees_with_fbank_on_a_tone():
    t = torch.arange(16000) / 16000
    wave = 0.3 * torch.sin(2 * torch.pi * 1000 * t)
    fbank, mel = FeatureExtractor(kind="fbank")(wave), FeatureExtractor(kind="mel")(wave)
    assert mel.shape == (1 + (16000 - 512) // 160, 80)  # n_fft 512, hop 160, no centre padding
    assert torch.isfinite(mel).all()
    # both use the HTK mel scale: the 1 kHz tone peaks in (nearly) the same bin
    assert abs(int(mel.mean(0).argmax()) - int(fbank.mean(0).argmax())) <= 1


@pytest.mark.parametrize("kind", ["fbank", "mel"])
def test_vtlp_warp_moves_a_tone_up_the_filterbank(kind):
    t = torch.arange(16000) / 16000
    wave = 0.3 * torch.sin(2 * torch.pi * 2000 * t)
    ext = FeatureExtractor(kind=kind)
    plain = ext(wave)
    assert torch.equal(ext(wave, warp=1.0), plain)
    peaks = []
    for warp in (0.9, 1.0, 1.15):  # Kaldi's VTLN maps f to f / warp in the middle band
        feats = ext(wave, warp=warp)
        assert feats.shape == plain.shape and torch.isfinite(feats).all()
        peaks.append(int(feats.mean(0).argmax()))
    assert peaks[0] < peaks[1] < peaks[2]  # the same way for both kinds


def test_extractor_config_round_trip():
    ext = FeatureExtractor(kind="mel", num_mel_bins=40, dither=0.1)
    config = ext.to_config()
    assert config == {"kind": "mel", "num_mel_bins": 40, "frame_length_ms": 25.0, "frame_shift_ms": 10.0,
                      "dither": 0.1, "sample_rate": 16000}
    again = FeatureExtractor.from_config({**config, "name": "mel40", "dir": "somewhere"})  # extra keys ignored
    assert again.to_config() == config
    json.dumps(config)  # plain types: it goes into features.json and checkpoints


@pytest.mark.parametrize("override,match", [
    ({"kind": "mfcc"}, "features.kind='mfcc' is not one of: fbank, mel"),
    ({"num_mel_bins": 0}, "features.num_mel_bins=0 must be a positive integer"),
    ({"num_mel_bins": 80.5}, "features.num_mel_bins=80.5"),
    ({"frame_shift_ms": -10}, "features.frame_shift_ms=-10 must be a positive number"),
    ({"dither": -1}, "features.dither=-1"),
    ({"sample_rate": "16k"}, "features.sample_rate='16k'"),
], ids=["kind", "bins-zero", "bins-float", "shift-negative", "dither-negative", "rate-string"])
def test_extractor_bad_config(override, match):
    with pytest.raises(FeatureError, match=match):
        FeatureExtractor.from_config(override)


@pytest.mark.parametrize("kind", ["fbank", "mel"])
def test_too_short_for_one_frame(kind):
    with pytest.raises(FeatureError, match="at least"):
        FeatureExtractor(kind=kind)(torch.zeros(100))


# --- CMVN -------------------------------------------------------------------------------------
def test_cmvn_normalizes_its_own_data():
    g = torch.Generator().manual_seed(0)
    scale, shift = torch.linspace(0.5, 4.0, 20), torch.linspace(-8, 12, 20)
    utts = [(torch.randn(int(n), 20, generator=g) * scale + shift).half() for n in torch.randint(50, 300, (12,), generator=g)]
    cmvn = GlobalCMVN(20)
    for u in utts:
        cmvn.accumulate(u)
    everything = torch.cat([u.float() for u in utts])
    assert cmvn.frames == everything.shape[0]
    assert torch.allclose(cmvn.mean, everything.mean(0), atol=1e-4)
    assert torch.allclose(cmvn.std, everything.std(0, unbiased=False), atol=1e-4)
    normed = cmvn.normalize(everything)
    assert normed.mean(0).abs().max() < 1e-4
    assert (normed.std(0, unbiased=False) - 1).abs().max() < 1e-4


def test_cmvn_state_dict_round_trip_and_floor():
    feats = torch.randn(500, 4) * torch.tensor([1.0, 2.0, 3.0, 0.0]) + 5  # last bin constant
    cmvn = GlobalCMVN(4)
    cmvn.accumulate(feats)
    assert cmvn.std[3] == pytest.approx(1e-2)  # floored: no division by zero
    assert torch.isfinite(cmvn.normalize(feats)).all()
    state = cmvn.state_dict()
    assert set(state) == {"mean", "std", "frames"} and state["frames"] == 500
    again = GlobalCMVN.from_state_dict(state)
    assert torch.allclose(again.mean, cmvn.mean) and torch.allclose(again.std, cmvn.std)
    assert torch.allclose(again.normalize(feats), cmvn.normalize(feats), atol=1e-5)


# --- shards -----------------------------------------------------------------------------------
def test_shards_round_trip(tmp_path):
    shards = []
    for s in range(3):
        n = 2 if s < 2 else 1
        shards.append({"ids": [f"u{s}{i}" for i in range(n)], "feats": [torch.randn(10 + i, 8).half() for i in range(n)],
                       "texts": ["hello"] * n, "speakers": [f"spk{s}"] * n, "durations": [0.1 * (i + 1) for i in range(n)]})
        assert write_shard(shard_path(tmp_path, "train", s), shards[-1]) == f"shard-{s:05d}.pt"
    assert not list(tmp_path.rglob("*.tmp"))
    split = load_split(tmp_path, "train")
    assert split["ids"] == ["u00", "u01", "u10", "u11", "u20"]
    assert split["speakers"] == ["spk0", "spk0", "spk1", "spk1", "spk2"]
    assert split["augment"] == [{}] * 5  # shards from before augmentation records read as originals
    for got, want in zip(split["feats"], [f for s in shards for f in s["feats"]]):
        assert got.dtype == torch.float16 and torch.equal(got, want)
    with pytest.raises(FeatureError, match="dev: no feature shards"):
        load_split(tmp_path, "dev")
    with pytest.raises(FeatureError, match="cmvn.pt: no CMVN statistics"):
        load_cmvn(tmp_path)


# --- extraction -------------------------------------------------------------------------------
def make_corpus(root: Path, sizes: dict[str, int], seconds: float = 0.6) -> Path:
    """A small corpus in the data/<corpus> layout: wav/<split>/*.wav + <split>.jsonl (one 8 kHz file)."""
    k = 0
    for split, n in sizes.items():
        rows = []
        for i in range(n):
            sr = 8000 if (split, i) == ("train", 1) else 16000
            path = root / "wav" / split / f"{split}-{i}.wav"
            path.parent.mkdir(parents=True, exist_ok=True)
            wave = noise_wave(seconds + 0.1 * i, sr, seed=k)
            sf.write(path, wave.numpy(), sr)
            rows.append({"id": f"{split}-{i}", "audio": str(path), "duration": wave.numel() / sr,
                         "text": f"utterance {i}", "speaker": f"spk{i % 2}"})
            k += 1
        write_manifest(root / f"{split}.jsonl", rows)
    return root


def features_cfg(corpus: Path, store: Path, **features):
    """conf/features/default.yaml under a stand-in data group, with overrides."""
    cfg = OmegaConf.create({"data": {"name": "unit", "root": str(corpus)},
                            "features": OmegaConf.load(REPO / "conf" / "features" / "default.yaml")})
    cfg.features.dir = str(store)
    cfg.features.num_workers = 0
    for key, value in features.items():
        OmegaConf.update(cfg, f"features.{key}", value, merge=False)
    return cfg


SPLITS = {"train": 5, "dev": 2, "test": 2, "test-other": 2}


def test_default_config_names_the_store(tmp_path):
    cfg = OmegaConf.create({"data": {"name": "unit", "root": str(tmp_path)},
                            "features": OmegaConf.load(REPO / "conf" / "features" / "default.yaml")})
    assert cfg.features.name == "fbank80"
    assert cfg.features.dir == "exp/unit/features/fbank80"
    cfg.features.num_mel_bins = 40
    assert cfg.features.dir == "exp/unit/features/fbank40"
    assert cfg.features.manifests["test-other"] == f"{tmp_path}/test-other.jsonl"


def test_extract_store(tmp_path, capsys):
    corpus = make_corpus(tmp_path / "corpus", SPLITS)
    store = tmp_path / "store"
    summary = extract_features(features_cfg(corpus, store, shard_size=2))
    assert summary["utterances"] == 11 and summary["skipped"] == 0
    assert summary["splits"]["train"]["shards"] == ["shard-00000.pt", "shard-00001.pt", "shard-00002.pt"]
    assert sorted(p.name for p in store.iterdir()) == ["cmvn.pt", "dev", "features.json", "test", "test-other", "train"]
    assert not list(store.rglob("*.tmp"))
    out = capsys.readouterr().out
    assert "frames/s" in out and "test-other" in out

    train = load_split(store, "train")
    assert train["ids"] == [f"train-{i}" for i in range(5)]
    assert train["texts"][3] == "utterance 3" and train["speakers"][3] == "spk1"
    assert train["durations"][1] == pytest.approx(0.7)  # the 8 kHz file, resampled
    ext = FeatureExtractor.from_config(json.loads((store / "features.json").read_text()))
    assert torch.equal(train["feats"][1], ext(load_audio(corpus / "wav" / "train" / "train-1.wav")).half())
    assert sum(f.shape[0] for f in train["feats"]) == summary["splits"]["train"]["frames"]

    cmvn = load_cmvn(store)  # from train only
    everything = torch.cat([f.float() for f in train["feats"]])
    assert cmvn.frames == everything.shape[0]
    normed = cmvn.normalize(everything)
    assert normed.mean(0).abs().max() < 1e-3 and (normed.std(0, unbiased=False) - 1).abs().max() < 1e-2


def test_extract_is_idempotent(tmp_path, capsys):
    corpus = make_corpus(tmp_path / "corpus", {"train": 3, "dev": 1})
    store = tmp_path / "store"
    cfg = features_cfg(corpus, store, manifests={"train": str(corpus / "train.jsonl"), "dev": str(corpus / "dev.jsonl")})
    threads = torch.get_num_threads()
    first = extract_features(cfg)
    assert torch.get_num_threads() == threads  # extraction runs single-threaded, then restores the setting
    shard = store / "train" / "shard-00000.pt"
    stamp = shard.stat().st_mtime_ns
    again = extract_features(cfg)
    assert again["cached"] and again["frames"] == first["frames"]
    assert shard.stat().st_mtime_ns == stamp
    assert "up to date" in capsys.readouterr().out

    cfg.features.dither = 0.5  # a config change re-extracts
    assert "cached" not in extract_features(cfg)
    stamp = shard.stat().st_mtime_ns
    (corpus / "dev.jsonl").write_text((corpus / "dev.jsonl").read_text().replace("utterance 0", "changed"))
    assert "cached" not in extract_features(cfg)  # so does a changed manifest
    assert load_split(store, "dev")["texts"] == ["changed"]
    shard.unlink()  # as if interrupted: a missing shard re-extracts
    assert "cached" not in extract_features(cfg) and shard.stat().st_mtime_ns != stamp


def test_speed_perturbation(tmp_path):
    corpus = make_corpus(tmp_path / "corpus", {"train": 3, "dev": 2}, seconds=1.0)
    store = tmp_path / "store"
    cfg = features_cfg(corpus, store, speed_perturb=[0.9, 1.0, 1.1],
                       manifests={"train": str(corpus / "train.jsonl"), "dev": str(corpus / "dev.jsonl")})
    summary = extract_features(cfg)
    train = load_split(store, "train")
    assert train["ids"][:3] == ["train-0-sp0.9", "train-0", "train-0-sp1.1"]
    assert len(train["ids"]) == 9 and summary["splits"]["train"]["utterances"] == 9
    frames = dict(zip(train["ids"], (f.shape[0] for f in train["feats"])))
    for i in range(3):
        assert frames[f"train-{i}-sp0.9"] / frames[f"train-{i}"] == pytest.approx(1 / 0.9, rel=0.02)
        assert frames[f"train-{i}-sp1.1"] / frames[f"train-{i}"] == pytest.approx(1 / 1.1, rel=0.02)
    durations = dict(zip(train["ids"], train["durations"]))
    assert durations["train-0-sp0.9"] == pytest.approx(durations["train-0"] / 0.9, rel=1e-3)
    assert load_split(store, "dev")["ids"] == ["dev-0", "dev-1"]  # only train is perturbed
    assert train["augment"][:3] == [{"speed": 0.9}, {}, {"speed": 1.1}]  # what made each copy
    assert load_cmvn(store).frames == sum(frames.values())


def test_workers_match_in_process(tmp_path):
    corpus = make_corpus(tmp_path / "corpus", {"train": 6})
    manifests = {"train": str(corpus / "train.jsonl")}
    extract_features(features_cfg(corpus, tmp_path / "a", manifests=manifests, num_workers=0))
    extract_features(features_cfg(corpus, tmp_path / "b", manifests=manifests, num_workers=2, speed_perturb=[1.0]))
    a, b = load_split(tmp_path / "a", "train"), load_split(tmp_path / "b", "train")
    assert a["ids"] == b["ids"]
    assert all(torch.equal(x, y) for x, y in zip(a["feats"], b["feats"]))


def test_bad_audio_is_skipped_and_counted(tmp_path, capsys):
    corpus = make_corpus(tmp_path / "corpus", {"train": 3, "dev": 2})
    (corpus / "wav" / "train" / "train-2.wav").write_text("not audio")
    sf.write(corpus / "wav" / "dev" / "dev-0.wav", np.zeros(50, dtype=np.float32), 16000)  # shorter than a frame
    cfg = features_cfg(corpus, tmp_path / "store",
                       manifests={"train": str(corpus / "train.jsonl"), "dev": str(corpus / "dev.jsonl")})
    summary = extract_features(cfg)
    assert summary["skipped"] == 2 and summary["splits"]["train"]["skipped"] == 1
    assert load_split(tmp_path / "store", "train")["ids"] == ["train-0", "train-1"]
    err = capsys.readouterr().err
    assert "warning: skipped train-2:" in err and "train-2.wav: not a readable audio file" in err
    assert "warning: skipped dev-0:" in err


@pytest.mark.parametrize("override,match", [
    ({"train_split": "training"}, "features.train_split='training' is not a key of features.manifests"),
    ({"speed_perturb": [0.9, 0.0]}, "features.speed_perturb"),
    ({"speed_perturb": [0.913]}, "at most 2 decimals"),
    ({"shard_size": 0}, "features.shard_size=0"),
    ({"num_workers": -1}, "features.num_workers=-1"),
    ({"kind": "mfcc"}, "features.kind='mfcc'"),
    ({"manifests": {"train": "/nowhere/train.jsonl"}}, "/nowhere/train.jsonl: no manifest for split 'train'"),
], ids=["train-split", "speed-zero", "speed-decimals", "shard-size", "workers", "kind", "missing-manifest"])
def test_extract_bad_config(tmp_path, override, match):
    corpus = make_corpus(tmp_path / "corpus", {"train": 1})
    cfg = features_cfg(corpus, tmp_path / "store", manifests={"train": str(corpus / "train.jsonl")})
    for key, value in override.items():
        OmegaConf.update(cfg, f"features.{key}", value, merge=False)
    with pytest.raises(FeatureError, match=match):
        extract_features(cfg)


def test_recipe_prints_config_and_fails_in_one_line(tmp_path):
    run = [sys.executable, str(REPO / "recipes" / "extract_features.py")]
    job = subprocess.run(run + ["--cfg", "job", "data=tiny", "features.num_mel_bins=40"],
                         capture_output=True, text=True, cwd=REPO)
    assert job.returncode == 0, job.stderr
    cfg = OmegaConf.create(job.stdout)
    assert cfg.features.num_mel_bins == 40 and cfg.features.kind == "fbank"
    assert cfg.features.dir == f"exp/{cfg.data.name}/features/fbank40"
    bad = subprocess.run(run + ["data=tiny", f"features.dir={tmp_path / 'store'}",
                                f"features.manifests={{train:{tmp_path / 'none.jsonl'}}}"],
                         capture_output=True, text=True, cwd=REPO)
    assert bad.returncode == 1
    assert bad.stderr.strip().splitlines()[-1] == f"error: {tmp_path / 'none.jsonl'}: no manifest for split 'train' " \
                                                  "(build the corpus or import the data first)"


def test_extract_tiny_corpus(tiny_corpus, tmp_path):
    cfg = compose("extract_features", ["data=tiny", f"data.root={tiny_corpus}", f"features.dir={tmp_path / 'fbank'}",
                                       "features.shard_size=40"])
    assert cfg.features.num_workers == 2
    summary = extract_features(cfg)
    for split in ("train", "dev", "test", "test-other"):
        rows = read_manifest(tiny_corpus / f"{split}.jsonl")
        stored = load_split(tmp_path / "fbank", split)
        assert stored["ids"] == [r["id"] for r in rows] and stored["texts"] == [r["text"] for r in rows]
        assert all(f.shape[1] == 80 and f.dtype == torch.float16 for f in stored["feats"])
        # 10 ms frames: about 100 per second of audio
        assert all(abs(f.shape[0] - 100 * d) < 3 for f, d in zip(stored["feats"], stored["durations"]))
    assert summary["skipped"] == 0
    assert summary["splits"]["train"]["shards"] == ["shard-00000.pt", "shard-00001.pt"]  # 64 utterances
    assert summary["hours"] == pytest.approx(sum(r["duration"] for s in ("train", "dev", "test", "test-other")
                                                 for r in read_manifest(tiny_corpus / f"{s}.jsonl")) / 3600, rel=1e-3)
    cmvn = load_cmvn(tmp_path / "fbank")
    train = torch.cat([f.float() for f in load_split(tmp_path / "fbank", "train")["feats"]])
    assert cmvn.normalize(train).mean(0).abs().max() < 1e-3


# --- augmented copies -------------------------------------------------------------------------
def augment_cfg(cfg, **over):
    """cfg with conf/augment/default.yaml as cfg.augment, copies 2 and `over` merged in."""
    base = OmegaConf.load(REPO / "conf" / "augment" / "default.yaml")
    cfg.augment = OmegaConf.merge(base, {"copies": 2, "reverb": {"pool": 4}}, over)
    return cfg


AUGMENTED = {"noise": {"prob": 0.7, "snr": [5.0, 15.0], "kinds": {"white": 1.0, "pink": 0.0, "brown": 0.0,
                                                                   "babble": 1.0}, "babble": [2, 3]},
             "reverb": {"prob": 0.5}, "vtlp": {"prob": 0.5}}


def test_extract_augmented_copies_with_records(tmp_path):
    corpus = make_corpus(tmp_path / "corpus", {"train": 4, "dev": 2}, seconds=0.8)
    manifests = {"train": str(corpus / "train.jsonl"), "dev": str(corpus / "dev.jsonl")}
    store = tmp_path / "store"
    summary = extract_features(augment_cfg(features_cfg(corpus, store, manifests=manifests), **AUGMENTED))
    train = load_split(store, "train")
    originals = [f"train-{i}" for i in range(4)]
    assert train["ids"] == originals + [f"train-{i}-aug{c}" for i in range(4) for c in (1, 2)]
    assert train["augment"][:4] == [{}] * 4 and all(train["augment"][4:])  # every copy got some effect
    assert train["texts"][4:6] == ["utterance 0"] * 2 and train["speakers"][6] == "spk1"
    for record in train["augment"][4:]:
        assert set(record) <= {"noise", "reverb", "vtlp"}
        if "noise" in record:
            assert 5.0 <= record["noise"]["snr"] <= 15.0 and record["noise"]["kind"] in ("white", "babble")
            assert all(o in originals and o != "x" for o in record["noise"].get("from", []))
        if "reverb" in record:
            assert 0.2 <= record["reverb"]["rt60"] <= 0.8
        if "vtlp" in record:
            assert 0.9 <= record["vtlp"] <= 1.1
    stats = summary["splits"]["train"]
    assert stats["utterances"] == 12 and stats["augmented"] == 8
    assert stats["effects"] == {e: sum(e in r for r in train["augment"]) for e in ("noise", "reverb", "vtlp")
                                if any(e in r for r in train["augment"])}
    meta = json.loads((store / "features.json").read_text())
    assert meta["extraction"]["augment"]["copies"] == 2 and meta["summary"]["splits"]["train"]["effects"] == stats["effects"]
    dev = load_split(store, "dev")
    assert dev["ids"] == ["dev-0", "dev-1"] and dev["augment"] == [{}, {}]  # only train is augmented
    for i in range(4):  # the copies are the same utterance, changed
        assert abs(train["feats"][4 + 2 * i].shape[0] - train["feats"][i].shape[0]) <= 1
        assert not torch.equal(train["feats"][4 + 2 * i], train["feats"][i])
    assert load_cmvn(store).frames == sum(f.shape[0] for f in train["feats"])


def test_augmented_extraction_is_deterministic_across_workers(tmp_path):
    corpus = make_corpus(tmp_path / "corpus", {"train": 4})
    manifests = {"train": str(corpus / "train.jsonl")}
    stores = []
    for name, workers, seed in (("a", 0, 0), ("b", 2, 0), ("c", 0, 1)):
        cfg = features_cfg(corpus, tmp_path / name, manifests=manifests, num_workers=workers)
        extract_features(augment_cfg(cfg, seed=seed, **AUGMENTED))
        stores.append(load_split(tmp_path / name, "train"))
    a, b, c = stores
    assert a["ids"] == b["ids"] and a["augment"] == b["augment"]
    assert all(torch.equal(x, y) for x, y in zip(a["feats"], b["feats"]))
    assert a["augment"][4:] != c["augment"][4:]  # another augment.seed, other copies


def test_augment_config_is_part_of_the_plan(tmp_path, capsys):
    corpus = make_corpus(tmp_path / "corpus", {"train": 2})
    manifests = {"train": str(corpus / "train.jsonl")}
    cfg = features_cfg(corpus, tmp_path / "store", manifests=manifests)
    plain = extract_features(cfg)
    assert "augment" not in json.loads((tmp_path / "store" / "features.json").read_text())["extraction"]
    augment_cfg(cfg, copies=0)  # copies 0: the same store as no augment group at all
    assert extract_features(cfg)["cached"]
    augment_cfg(cfg, copies=1, gain={"prob": 1.0})
    assert "cached" not in extract_features(cfg)
    assert extract_features(cfg)["cached"]
    augment_cfg(cfg, copies=1, gain={"prob": 1.0}, online={"vtlp": {"prob": 0.5}})
    assert extract_features(cfg)["cached"]  # on-the-fly VTLP acts in the loader: the store stays
    meta_path = tmp_path / "store" / "features.json"  # a store written when the plan still held augment.online
    meta = json.loads(meta_path.read_text())
    meta["extraction"]["augment"]["online"] = {"vtlp": {"prob": 0.0, "warp": [0.9, 1.1]}}
    meta_path.write_text(json.dumps(meta))
    assert extract_features(cfg)["cached"]
    assert load_split(tmp_path / "store", "train")["ids"] == ["train-0", "train-1", "train-0-aug1", "train-1-aug1"]
    assert plain["utterances"] == 2


def test_extract_bad_augment_config_names_the_key(tmp_path):
    corpus = make_corpus(tmp_path / "corpus", {"train": 1})
    cfg = features_cfg(corpus, tmp_path / "store", manifests={"train": str(corpus / "train.jsonl")})
    with pytest.raises(FeatureError, match=r"augment\.noise\.snr=\[30\.0, 5\.0\]"):
        extract_features(augment_cfg(cfg, noise={"prob": 1.0, "snr": [30.0, 5.0]}))


def test_recipe_composes_the_augment_group():
    assert compose("extract_features", ["data=tiny"]).augment.copies == 0
    cfg = compose("extract_features", ["data=tiny", "augment=kaldi", "augment.copies=2"])
    assert cfg.augment.name == "kaldi" and cfg.augment.copies == 2 and cfg.augment.reverb.method == "shoebox"
    assert cfg.augment.noise.snr == [5.0, 20.0]  # inherited from conf/augment/default.yaml
