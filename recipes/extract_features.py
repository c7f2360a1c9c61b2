"""Log-mel features for every split of a corpus, into a sharded store with CMVN statistics.

    python recipes/extract_features.py data=tiny
    python recipes/extract_features.py data=small features=mel features.speed_perturb=[0.9,1.0,1.1]
"""
import hydra
from omegaconf import DictConfig

from asr.errors import run_or_exit
from asr.features import extract_features


@hydra.main(config_path="../conf", config_name="extract_features", version_base="1.3")
def main(cfg: DictConfig) -> None:
    run_or_exit(extract_features, cfg)


if __name__ == "__main__":
    main()
