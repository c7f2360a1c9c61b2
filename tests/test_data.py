import pytest
import torch

from asr.data import BucketBatchSampler, DataError, FeatureDataset, SpecAugment, collate
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


def test_spec_augment_masks_in_training_only():
    torch.manual_seed(0)
    x = torch.randn(3, 200, 40) + 10
    aug = SpecAugment(freq_masks=2, freq_width=10, time_masks=2, time_width=30, time_max_ratio=0.3)
    y = aug(x)
    assert y.shape == x.shape and (y == 0).any() and not torch.equal(y[0] == 0, y[1] == 0)  # iid masks
    assert torch.equal(aug.eval()(x), x)
