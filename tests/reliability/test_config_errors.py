"""A wrong key or value in a Hydra override: Hydra's own message, or one line naming the key and
what is allowed. A few through the recipes as subprocesses (stderr: no traceback, one clear last
line), the rest through the library functions the recipes call."""
import pytest

from asr.corpus import CorpusError, prepare_corpus
from asr.decode import DecodeError, build_decoder, resolve_device
from asr.features import FeatureError, extract_features
from asr.rnn import ConfigError
from asr.tokenizer import CharTokenizer
from asr.train import train
from asr.validate import ValidateError, validate_data
from reliability.conftest import compose, one_clear_line, run_python


# --- through the recipes ------------------------------------------------------------------------
def test_train_recipe_bad_backend(synthetic_store, tmp_path):
    out = run_python("recipes/train.py", f"features.dir={synthetic_store}", f"exp_dir={tmp_path}", "model=blstm_tiny",
                     "train=fast", "model.backend=cuda")
    assert out.returncode == 1
    assert one_clear_line(out.stderr) == "error: model.backend='cuda' is not one of: auto, triton, torch"


def test_train_recipe_bad_learning_rate(synthetic_store, tmp_path):
    out = run_python("recipes/train.py", f"features.dir={synthetic_store}", f"exp_dir={tmp_path}", "model=blstm_tiny",
                     "train=fast", "train.lr=-1")
    assert out.returncode == 1
    assert one_clear_line(out.stderr) == "error: train.lr=-1 must be > 0"


def test_feature_recipe_bad_kind(tmp_path):
    out = run_python("recipes/extract_features.py", "data=tiny", f"features.dir={tmp_path}", "features.kind=foo")
    assert out.returncode == 1
    assert one_clear_line(out.stderr) == "error: features.kind='foo' is not one of: fbank, mel"


def test_decode_recipe_bad_decoder(random_checkpoint, tmp_path):
    out = run_python("recipes/decode.py", f"checkpoint={random_checkpoint}", f"exp_dir={tmp_path}", "decode.decoder=foo")
    assert out.returncode == 1
    assert one_clear_line(out.stderr) == "error: decode.decoder='foo' is not one of: greedy, beam, lm"


def test_prepare_recipe_bad_size(tmp_path):
    out = run_python("recipes/prepare_data.py", "data=tiny", f"data.root={tmp_path}", "data.sizes.train=0")
    assert out.returncode == 1
    assert one_clear_line(out.stderr) == "error: bad config value data.sizes.train=0: expected > 0"


def test_validate_recipe_bad_tolerance(bad_corpus):
    out = run_python("recipes/validate.py", f"source={bad_corpus.good_manifest}", "tolerance=-1")
    assert out.returncode == 1
    assert one_clear_line(out.stderr) == "error: tolerance=-1 must be a number of seconds >= 0"


@pytest.mark.parametrize("override,says", [
    ("train.lrr=1", "Key 'lrr' is not in struct"),
    ("model=blstm_huge", "Could not find 'model/blstm_huge'"),
], ids=["unknown-key", "unknown-preset"])
def test_hydra_rejects_unknown_keys_and_types(override, says):
    """Hydra's own message, which names the key (and lists the presets for a group), with no traceback."""
    out = run_python("recipes/train.py", override)
    assert out.returncode == 1 and "Traceback" not in out.stderr
    assert says in out.stderr, out.stderr
    if override.startswith("model="):
        assert "blstm_tiny" in out.stderr  # the available options


# --- through the library ------------------------------------------------------------------------
TRAIN_CASES = [
    ("train.lr=-1", r"train.lr=-1 must be > 0"),
    ("train.lr=0", r"train.lr=0 must be > 0"),
    ("train.grad_clip=-1", r"train.grad_clip=-1 must be > 0"),
    ("train.warmup_steps=-5", r"train.warmup_steps=-5 must be an integer >= 0"),
    ("train.min_lr_ratio=2", r"train.min_lr_ratio=2 must be in \[0, 1\]"),
    ("train.max_epochs=0", r"train.max_epochs=0 must be an integer > 0"),
    ("train.max_epochs=many", r"train.max_epochs='many' must be an integer > 0"),
    ("train.device=tpu", r"train.device='tpu' is not one of: auto, cpu, cuda"),
    ("model.backend=cuda", r"model.backend='cuda' is not one of: auto, triton, torch"),
    ("model.hidden_size=0", r"model.hidden_size=0 must be >= 1"),
    ("model.num_layers=0", r"model.num_layers=0 must be >= 1"),
    ("model.dropout=1.5", r"model.dropout=1.5 must be in \[0, 1\)"),
    ("model.subsampling=0", r"model.subsampling=0 must be >= 1"),
    ("model.tokenizer.kind=foo", r"model.tokenizer.kind='foo' is not one of: char, bpe, unigram"),
]
FEATURE_CASES = [
    ("features.kind=foo", r"features.kind='foo' is not one of: fbank, mel"),
    ("features.num_mel_bins=0", r"features.num_mel_bins=0 must be a positive integer"),
    ("features.frame_shift_ms=-10", r"features.frame_shift_ms=-10 must be a positive number"),
    ("features.speed_perturb=[0.9,0]", r"features.speed_perturb=\[0.9, 0.0\] must hold positive factors"),
    ("features.shard_size=0", r"features.shard_size=0 must be a positive integer"),
    ("features.train_split=nope", r"features.train_split='nope' is not a key of features.manifests"),
]


@pytest.mark.parametrize("override,match", TRAIN_CASES, ids=[o for o, _ in TRAIN_CASES])
def test_train_config_errors_name_the_key(synthetic_store, tmp_path, override, match):
    cfg = compose("train", [f"features.dir={synthetic_store}", f"exp_dir={tmp_path}", "model=blstm_tiny", "train=fast",
                            override])
    with pytest.raises(ConfigError, match=f"^{match}"):
        train(cfg)


@pytest.mark.parametrize("override,match", FEATURE_CASES, ids=[o for o, _ in FEATURE_CASES])
def test_feature_config_errors_name_the_key(tmp_path, override, match):
    with pytest.raises(FeatureError, match=f"^{match}"):
        extract_features(compose("extract_features", ["data=tiny", f"features.dir={tmp_path}", override]))


@pytest.mark.parametrize("override,match", [
    ("data.sizes.train=0", r"data.sizes.train=0: expected > 0"),
    ("data.sizes.train=-5", r"data.sizes.train=-5: expected an integer >= 0"),
    ("data.seed=foo", r"data.seed='foo': expected an integer"),
    ("data.min_words=20", r"data.min_words=20: expected 1 <= min_words <= max_words=14"),
], ids=["size-0", "size-negative", "seed", "min-words"])
def test_corpus_config_errors_name_the_key(tmp_path, override, match):
    with pytest.raises(CorpusError, match=match):
        prepare_corpus(compose("prepare", ["data=tiny", f"data.root={tmp_path}", override]))


def test_decode_config_errors_name_the_key():
    with pytest.raises(DecodeError, match=r"^decode.decoder='foo' is not one of: greedy, beam, lm"):
        build_decoder(compose("decode", ["decode.decoder=foo"]).decode, CharTokenizer())
    with pytest.raises(DecodeError, match=r"^device='tpu' is not one of: cpu, cuda, cuda:N, auto"):
        resolve_device("tpu")


def test_validate_config_errors_name_the_key(bad_corpus):
    with pytest.raises(ValidateError, match=r"^set source=\.\.\."):
        validate_data(compose("validate"))
    with pytest.raises(ValidateError, match=r"^tolerance=-1 must be"):
        validate_data(compose("validate", [f"source={bad_corpus.good_manifest}", "tolerance=-1"]))
