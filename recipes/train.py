"""Train a BLSTM-CTC model: python recipes/train.py data=small train=cpu_demo (the preset picks blstm_small_nodrop)

Rerunning the same command resumes from exp_dir/last.pt. DDP: torchrun --nproc_per_node=N recipes/train.py ...
"""
import logging
import os
import sys

# OpenMP threads spin while waiting; on a busy CPU that makes an LSTM step several times slower.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import hydra
from omegaconf import DictConfig

from asr.errors import ASRError
from asr.train import train


@hydra.main(config_path="../conf", config_name="train", version_base="1.3")
def main(cfg: DictConfig) -> None:
    try:
        metrics = train(cfg)
    except (ASRError, OSError) as e:  # OSError: a full disk or an unwritable exp_dir (named in the message)
        logging.getLogger("train").error("%s", e)
        sys.exit(f"error: {e}")
    if metrics.get("dev_cer") is not None:
        print(f"dev CER {100 * metrics['dev_cer']:.2f} %  WER {100 * metrics['dev_wer']:.2f} %  "
              f"({metrics['step']} steps, {metrics['minutes']:.1f} min, {metrics['utt_per_s']:.1f} utt/s) "
              f"-> {metrics['exp_dir']}")


if __name__ == "__main__":
    main()
