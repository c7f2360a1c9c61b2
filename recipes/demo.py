"""The main job on the built-in corpus: python recipes/demo.py [data=tiny train=fast ...]

Every stage skips work that is already complete (corpus, features) or resumes it (training),
so rerunning after an interruption continues where it stopped.
"""
import sys

import hydra
from omegaconf import DictConfig

from asr.demo import run_demo
from asr.errors import ASRError


@hydra.main(config_path="../conf", config_name="demo", version_base="1.3")
def main(cfg: DictConfig) -> None:
    try:
        run_demo(cfg)
    except (ASRError, OSError) as e:  # bad input/config, full disk: one line, no traceback
        sys.exit(f"error: {e}")


if __name__ == "__main__":
    main()
