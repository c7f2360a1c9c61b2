"""Decode feature-store splits with a checkpoint and score them (greedy | beam | lm).

    python recipes/decode.py data=small decode=lm checkpoint=exp/synth-small/blstm_small/avg.pt
"""
import sys

import hydra
from omegaconf import DictConfig

from asr.decode import decode
from asr.errors import ASRError


@hydra.main(config_path="../conf", config_name="decode", version_base="1.3")
def main(cfg: DictConfig) -> None:
    try:
        decode(cfg)
    except ASRError as e:
        sys.exit(f"error: {e}")  # ASRError: e.g. a missing natural-text package (decode.lm.corpus_text)


if __name__ == "__main__":
    main()
