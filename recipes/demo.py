"""The main job on the built-in corpus: python recipes/demo.py [data=tiny train=fast ...]

Every stage skips work that is already complete (corpus, features) or resumes it (training),
so rerunning after an interruption continues where it stopped.
"""
import hydra
from omegaconf import DictConfig

from asr.demo import run_demo
from asr.errors import ASRError, run_or_exit


@hydra.main(config_path="../conf", config_name="demo", version_base="1.3")
def main(cfg: DictConfig) -> None:
    run_or_exit(run_demo, cfg, errors=(ASRError, OSError))  # bad input/config, full disk: one line


if __name__ == "__main__":
    main()
