"""Decode feature-store splits with a checkpoint and score them (greedy | beam | lm).

    python recipes/decode.py data=small decode=lm checkpoint=exp/synth-small/blstm_small/avg.pt
"""
import hydra
from omegaconf import DictConfig

from asr.decode import decode
from asr.errors import run_or_exit


@hydra.main(config_path="../conf", config_name="decode", version_base="1.3")
def main(cfg: DictConfig) -> None:
    run_or_exit(decode, cfg)


if __name__ == "__main__":
    main()
