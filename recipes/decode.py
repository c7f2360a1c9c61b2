"""Decode feature-store splits with a checkpoint and score them (greedy | beam | lm).

    python recipes/decode.py data=small decode=lm checkpoint=exp/synth-small/blstm_small/avg.pt
"""
import sys

import hydra
from omegaconf import DictConfig

from asr.checkpoint import CheckpointError
from asr.decode import DecodeError, decode
from asr.errors import ASRError
from asr.features import FeatureError
from asr.lm import LMError
from asr.manifest import ManifestError
from asr.rnn import ConfigError


@hydra.main(config_path="../conf", config_name="decode", version_base="1.3")
def main(cfg: DictConfig) -> None:
    try:
        decode(cfg)
    except (DecodeError, CheckpointError, FeatureError, LMError, ManifestError, ConfigError, ASRError) as e:
        sys.exit(f"error: {e}")  # ASRError: e.g. a missing natural-text package (decode.lm.corpus_text)


if __name__ == "__main__":
    main()
