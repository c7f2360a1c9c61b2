"""Check a JSONL manifest or a Kaldi data dir up front and print every problem found.

    python recipes/validate.py source=data/synth-small/train.jsonl
    python recipes/validate.py source=/path/to/kaldi/data/train checkpoint=exp/synth-small/blstm_small/best.pt

Exit status: 0 when clean, 1 when any problem was found (or the source cannot be read).
"""
import sys

import hydra
from omegaconf import DictConfig

from asr.errors import run_or_exit
from asr.validate import validate_data


@hydra.main(config_path="../conf", config_name="validate", version_base="1.3")
def main(cfg: DictConfig) -> None:
    if run_or_exit(validate_data, cfg):  # the problems, printed
        sys.exit(1)


if __name__ == "__main__":
    main()
