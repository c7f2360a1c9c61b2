import pytest
import torch

from asr.data import BucketBatchSampler, DataError, FeatureDataset, SpecAugment, collate, oversample_repeats
from asr.tokenizer import CharTokenizer
from conftest import synthetic_utterances

LENGTHS = [int(n) for n in torch.randint(20, 300, (203,), generator=torch.Generator().manual_seed(0))]


def _epoch(sampler: BucketBatchSampler, epoch: int) -> list[list[int]]:
    sampler.set_epoch(epoch)
    return list(sampler)


def test_every_utterance_once_per_epoch_within_the_frame_budget():
    sampler = BucketBatchSampler(LENGTHS, max_frames=1000, seed=1)
    batches = _epoch(sampler, 0)
    assert sorted(i for b in batches for i in b) == list(range(len(LENGTHS)))
    for b in batches:
        assert len(b) == 1 or max(LENGTHS[i] for i in b) * len(b) <= 1000


def test_long_utterance_gets_its_own_batch_and_max_utts_caps():
    sampler = BucketBatchSampler([50, 5000, 60, 55, 52], max_frames=1000, max_utts=2, seed=0)
    batches = _epoch(sampler, 0)
    assert [1] in batches and all(len(b) <= 2 for b in batches)


def test_order_is_a_function_of_seed_and_epoch():
    a, b = BucketBatchSampler(LENGTHS, 1000, seed=1), BucketBatchSampler(LENGTHS, 1000, seed=1)
    assert _epoch(a, 3) == _epoch(b, 3)
    assert _epoch(a, 3) != _epoch(a, 4)
    assert _epoch(a, 3) != _epoch(BucketBatchSampler(LENGTHS, 1000, seed=2), 3)


def test_resume_mid_epoch_continues_with_the_remaining_batches():
    sampler = BucketBatchSampler(LENGTHS, 1000, seed=1)
    sampler.set_epoch(2)
    it = iter(sampler)
    seen = [next(it) for _ in range(5)]
    state = sampler.state_dict()
    assert state == {"epoch": 2, "batch_idx": 5}
    fresh = BucketBatchSampler(LENGTHS, 1000, seed=1)
    fresh.load_state_dict(state)
    assert seen + list(fresh) == _epoch(BucketBatchSampler(LENGTHS, 1000, seed=1), 2)


@pytest.mark.parametrize("world", [2, 3], ids=["2-ranks", "3-ranks"])
def test_distributed_ranks_get_disjoint_equal_shares(world):
    per_rank = [_epoch(BucketBatchSampler(LENGTHS, 1000, seed=1, rank=r, world_size=world), 0) for r in range(world)]
    assert len({len(p) for p in per_rank}) == 1
    flat = [i for p in per_rank for b in p for i in b]
    assert len(flat) == len(set(flat))
    single = _epoch(BucketBatchSampler(LENGTHS, 1000, seed=1), 0)
    assert len(single) - len(per_rank[0]) * world < world  # at most world-1 batches dropped


def test_oversampled_utterances_come_k_times_an_epoch():
    repeats = [1 + i % 3 for i in range(len(LENGTHS))]
    sampler = BucketBatchSampler(LENGTHS, 1000, seed=1, repeats=repeats)
    for epoch in (0, 1):
        batches = _epoch(sampler, epoch)
        counts = torch.bincount(torch.tensor([i for b in batches for i in b]), minlength=len(LENGTHS))
        assert counts.tolist() == repeats
        assert all(len(b) == 1 or max(LENGTHS[i] for i in b) * len(b) <= 1000 for b in batches)
    # repeats of one are the plain sampler, batch for batch (runs without oversampling are unchanged)
    plain = BucketBatchSampler(LENGTHS, 1000, seed=1)
    assert _epoch(BucketBatchSampler(LENGTHS, 1000, seed=1, repeats=[1] * len(LENGTHS)), 2) == _epoch(plain, 2)
    with pytest.raises(DataError, match="one count >= 1 per utterance"):
        BucketBatchSampler(LENGTHS, 1000, repeats=[2, 0] + [1] * (len(LENGTHS) - 2))
    with pytest.raises(DataError, match="one count >= 1 per utterance"):
        BucketBatchSampler(LENGTHS, 1000, repeats=[2])


def test_oversample_patterns_pick_speakers():
    speakers = ["flite-kal", "espeak-en-us+m1", "festival-kal_diphone", "flite-slt", "espeak-en-gb"]
    assert oversample_repeats(speakers, {}) is None
    assert oversample_repeats(speakers, {"flite-*": 2, "festival-*": 3}) == [2, 1, 3, 2, 1]
    assert oversample_repeats(speakers, {"flite-kal": 4, "flite-*": 2}) == [4, 1, 1, 2, 1]  # the first match wins
    for bad in (0, 1.5, True, "2"):
        with pytest.raises(DataError, match=r"train.oversample.flite-\*="):
            oversample_repeats(speakers, {"flite-*": bad})
    with pytest.raises(DataError, match=r"train.oversample.flight-\*: no training speaker matches"):
        oversample_repeats(speakers, {"flight-*": 2})


def test_dataset_applies_cmvn_and_collate_pads():
    ids, feats, texts = synthetic_utterances(4)
    frames = torch.cat([f.float() for f in feats])
    ds = FeatureDataset(ids, feats, texts, CharTokenizer(), {"mean": frames.mean(0), "std": frames.std(0)})
    normed = torch.cat([ds[i]["feats"] for i in range(4)])
    torch.testing.assert_close(normed.mean(0), torch.zeros(20), atol=1e-2, rtol=0)
    batch = collate([ds[i] for i in range(4)])
    T = max(len(f) for f in feats)
    assert batch["feats"].shape == (4, T, 20) and batch["lengths"].tolist() == [len(f) for f in feats]
    assert batch["target_lengths"].tolist() == [len(t) for t in texts]
    assert CharTokenizer().decode(batch["targets"][: len(texts[0])].tolist()) == texts[0]


def test_from_store_missing_split_names_the_folder(tmp_path):
    with pytest.raises(DataError, match=str(tmp_path / "train")):
        FeatureDataset.from_store(tmp_path, "train", CharTokenizer())


def test_from_store_reads_shards(synthetic_store):
    ds = FeatureDataset.from_store(synthetic_store, "dev", CharTokenizer())
    assert len(ds) == 8 and ds[0]["feats"].dtype == torch.float32
    assert ds.speakers == ["spk"] * 8
    assert ds.augment is None


def test_from_store_passes_the_online_augmentation(synthetic_store):
    from asr.data import OnlineAugment

    aug = OnlineAugment.from_config({"vtlp": {"prob": 1.0, "warp": [0.9, 1.1]}})
    ds = FeatureDataset.from_store(synthetic_store, "dev", CharTokenizer(), augment=aug, augment_seed=5)
    plain = FeatureDataset.from_store(synthetic_store, "dev", CharTokenizer())
    assert ds.augment is aug and ds.augment_seed == 5
    assert ds[0]["feats"].shape == plain[0]["feats"].shape and not torch.equal(ds[0]["feats"], plain[0]["feats"])


def test_spec_augment_masks_in_training_only():
    torch.manual_seed(0)
    x = torch.randn(3, 200, 40) + 10
    aug = SpecAugment(freq_masks=2, freq_width=10, time_masks=2, time_width=30, time_max_ratio=0.3)
    y = aug(x)
    assert y.shape == x.shape and (y == 0).any() and not torch.equal(y[0] == 0, y[1] == 0)  # iid masks
    assert torch.equal(aug.eval()(x), x)


# --- on-the-fly augmentation ------------------------------------------------------------------
def test_vtlp_warp_of_stored_features_matches_the_extractor():
    from asr.data import vtlp_source_bins, vtlp_warp
    from asr.features import FeatureExtractor

    torch.testing.assert_close(vtlp_source_bins(80, 1.0), torch.arange(80.0), atol=1e-3, rtol=0)
    t = torch.arange(16000) / 16000
    wave = 0.3 * torch.sin(2 * torch.pi * 2000 * t) + 0.2 * torch.sin(2 * torch.pi * 500 * t)
    for kind in ("fbank", "mel"):
        ext = FeatureExtractor(kind=kind)
        plain = ext(wave)
        for warp in (0.9, 1.15):
            exact, online = ext(wave, warp=warp), vtlp_warp(plain, warp)
            assert online.shape == plain.shape and torch.isfinite(online).all()
            assert int(online.mean(0).argmax()) == int(exact.mean(0).argmax())
            # most of the warp's change, from the stored features alone (measured: 0.26-0.39 vs 2.3-2.8)
            assert (online - exact).abs().mean() < 0.25 * (plain - exact).abs().mean()


def test_online_augment_is_a_function_of_seed_epoch_and_index():
    from asr.data import OnlineAugment

    ids, feats, texts = synthetic_utterances(6, dim=40)
    aug = OnlineAugment.from_config({"vtlp": {"prob": 1.0, "warp": [0.85, 1.15]}})
    ds = FeatureDataset(ids, feats, texts, CharTokenizer(), augment=aug, augment_seed=3)
    plain = FeatureDataset(ids, feats, texts, CharTokenizer())
    ds.set_epoch(1)
    first = [ds[i]["feats"] for i in range(6)]
    assert all(torch.equal(ds[i]["feats"], first[i]) for i in reversed(range(6)))  # any order
    assert all(f.shape == plain[i]["feats"].shape and torch.isfinite(f).all() for i, f in enumerate(first))
    assert not any(torch.equal(f, plain[i]["feats"]) for i, f in enumerate(first))
    ds.set_epoch(2)
    assert not torch.equal(ds[0]["feats"], first[0])  # a new warp every epoch
    again = FeatureDataset(ids, feats, texts, CharTokenizer(), augment=aug, augment_seed=3)
    again.set_epoch(1)
    assert torch.equal(again[4]["feats"], first[4])  # a resumed run sees the same items


def test_online_augment_applies_before_cmvn():
    from asr.data import OnlineAugment, vtlp_warp

    ids, feats, texts = synthetic_utterances(2, dim=40)
    cmvn = {"mean": torch.full((40,), 5.0), "std": torch.full((40,), 2.0)}

    class Fixed(OnlineAugment):
        def __call__(self, x, g):
            return vtlp_warp(x, 1.1)

    ds = FeatureDataset(ids, feats, texts, CharTokenizer(), cmvn, augment=Fixed())
    torch.testing.assert_close(ds[1]["feats"], (vtlp_warp(feats[1].float(), 1.1) - 5.0) / 2.0)


@pytest.mark.parametrize("online,match", [
    ({"vtlp": {"prob": 2.0}}, r"augment\.online\.vtlp\.prob=2\.0"),
    ({"vtlp": {"prob": 0.5, "warp": [1.2, 0.9]}}, r"augment\.online\.vtlp\.warp"),
    ({"vtlp": {"prob": 0.5}, "specaug": {}}, r"augment\.online\.specaug is not"),
], ids=["prob", "warp", "unknown"])
def test_online_augment_bad_config_names_the_key(online, match):
    from asr.data import OnlineAugment

    with pytest.raises(DataError, match=match):
        OnlineAugment.from_config(online)


def test_online_augment_off_is_none():
    from asr.data import OnlineAugment

    assert OnlineAugment.from_config(None) is None
    assert OnlineAugment.from_config({"vtlp": {"prob": 0.0, "warp": [0.9, 1.1]}}) is None
