"""Export a JSONL manifest as a Lhotse CutSet (lhotse.load_manifest reads it back).

    python recipes/export_data.py format=lhotse src=data/synth-small/train.jsonl out=data/synth-small/cuts_train.jsonl.gz
"""
import hydra
from omegaconf import DictConfig

from asr.errors import run_or_exit
from asr.corpus.lhotse import export_data


@hydra.main(config_path="../conf", config_name="export_data", version_base="1.3")
def main(cfg: DictConfig) -> None:
    run_or_exit(export_data, cfg)


if __name__ == "__main__":
    main()
