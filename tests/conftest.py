"""Shared test set-up.

Without CUDA, Triton kernels run under the interpreter: TRITON_INTERPRET must be set before
`triton` is first imported, so it is set here, at collection time.
"""
import os

import pytest

try:
    import torch

    _cuda = torch.cuda.is_available()
except ImportError:  # pragma: no cover
    _cuda = False
if not _cuda:
    os.environ.setdefault("TRITON_INTERPRET", "1")


# --- synthetic features (training tests: no audio, fast) -------------------------------------
def synthetic_utterances(n: int, seed: int = 0, dim: int = 20, words: int = 3) -> tuple[list, list, list]:
    """(ids, feats [T, dim] float16, texts): every character is a fixed noisy template held 4-7 frames."""
    import torch

    g = torch.Generator().manual_seed(seed)
    alphabet = " abcdefgh"
    templates = 2.0 * torch.randn(len(alphabet), dim, generator=torch.Generator().manual_seed(1234))
    ids, feats, texts = [], [], []
    for i in range(n):
        text = " ".join("".join(alphabet[1 + int(j)] for j in torch.randint(0, 8, (int(torch.randint(2, 5, (1,), generator=g)),), generator=g))
                        for _ in range(words))
        frames = [templates[alphabet.index(ch)].expand(int(torch.randint(4, 8, (1,), generator=g)), dim) for ch in text]
        x = torch.cat(frames) + 0.3 * torch.randn(sum(len(f) for f in frames), dim, generator=g)
        ids.append(f"utt{i:04d}")
        feats.append((x + 5.0).half())  # an offset, so CMVN has something to remove
        texts.append(text)
    return ids, feats, texts


def write_synthetic_store(root, sizes: dict | None = None, dim: int = 20):
    """A feature store in the ARCHITECTURE.md layout (shards, cmvn.pt, features.json)."""
    import json
    from pathlib import Path

    import torch

    root = Path(root)
    sizes = sizes or {"train": 48, "dev": 8}
    for k, (split, n) in enumerate(sizes.items()):
        ids, feats, texts = synthetic_utterances(n, seed=k, dim=dim)
        (root / split).mkdir(parents=True, exist_ok=True)
        torch.save({"ids": ids, "feats": feats, "texts": texts, "speakers": ["spk"] * n,
                    "durations": [len(f) / 100 for f in feats]}, root / split / "shard-00000.pt")
    train_feats = torch.cat([f.float() for f in synthetic_utterances(sizes["train"], seed=0, dim=dim)[1]])
    torch.save({"mean": train_feats.mean(0), "std": train_feats.std(0), "frames": len(train_feats)}, root / "cmvn.pt")
    (root / "features.json").write_text(json.dumps({"kind": "fbank", "num_mel_bins": dim, "frame_length_ms": 25.0,
                                                    "frame_shift_ms": 10.0, "dither": 0.0, "sample_rate": 16000}))
    return root


@pytest.fixture(scope="session")
def synthetic_store(tmp_path_factory):
    """Path of a small synthetic feature store: train 48, dev 8 utterances of 20-dim features."""
    return write_synthetic_store(tmp_path_factory.mktemp("synthetic-features"))


# --- the built-in corpus ----------------------------------------------------------------------
def compose(config_name: str, overrides: list[str] | None = None):
    """A recipe's config composed as `python recipes/<recipe>.py <overrides>` would see it."""
    from pathlib import Path

    from hydra import compose as hydra_compose, initialize_config_dir

    conf = str(Path(__file__).resolve().parents[1] / "conf")
    with initialize_config_dir(config_dir=conf, version_base="1.3"):
        return hydra_compose(config_name=config_name, overrides=overrides or [])


@pytest.fixture(scope="session")
def tiny_corpus(tmp_path_factory):
    """Root Path of the `tiny` built-in corpus (64 train / 16 dev / 16 test / 16 test-other),
    built once per session: wav/<split>/*.wav, <split>.jsonl, corpus.json."""
    import warnings

    from asr.corpus import prepare_corpus

    root = tmp_path_factory.mktemp("synth-tiny")
    cfg = compose("prepare", ["data=tiny", f"data.root={root}"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a TTS voice missing on this machine is skipped with a warning
        prepare_corpus(cfg)
    return root
