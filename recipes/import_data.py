"""Import a Kaldi data dir, a LibriSpeech split folder or a Lhotse manifest as a JSONL manifest.

    python recipes/import_data.py format=kaldi src=/path/to/kaldi/data/train out=data/mycorpus/train.jsonl
    python recipes/import_data.py format=librispeech src=/path/to/LibriSpeech/dev-clean out=data/librispeech/dev.jsonl
    python recipes/import_data.py format=lhotse src=cuts_train.jsonl.gz out=data/mycorpus/train.jsonl
    python recipes/import_data.py format=lhotse src=recordings.jsonl.gz supervisions=supervisions.jsonl.gz out=...
"""
import hydra
from omegaconf import DictConfig

from asr.errors import run_or_exit
from asr.corpus.importers import import_data


@hydra.main(config_path="../conf", config_name="import_data", version_base="1.3")
def main(cfg: DictConfig) -> None:
    run_or_exit(import_data, cfg)


if __name__ == "__main__":
    main()
