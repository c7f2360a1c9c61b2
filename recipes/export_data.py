"""Export a JSONL manifest as a Lhotse CutSet (lhotse.load_manifest reads it back).

    python recipes/export_data.py format=lhotse src=data/synth-small/train.jsonl out=data/synth-small/cuts_train.jsonl.gz
"""
import sys

import hydra
from omegaconf import DictConfig

from asr.errors import ASRError
from asr.corpus.lhotse import export_data


@hydra.main(config_path="../conf", config_name="export_data", version_base="1.3")
def main(cfg: DictConfig) -> None:
    try:
        export_data(cfg)
    except ASRError as e:
        sys.exit(f"error: {e}")


if __name__ == "__main__":
    main()
