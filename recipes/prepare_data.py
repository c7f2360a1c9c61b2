"""Build the built-in synthetic speech corpus (sentences -> TTS voices -> 16 kHz wavs + manifests).

    python recipes/prepare_data.py                      # data=small -> data/synth-small
    python recipes/prepare_data.py data=tiny data.root=/tmp/x data.num_workers=4
"""
import hydra
from omegaconf import DictConfig

from asr.corpus import prepare_corpus
from asr.errors import run_or_exit


@hydra.main(config_path="../conf", config_name="prepare", version_base="1.3")
def main(cfg: DictConfig) -> None:
    info = run_or_exit(prepare_corpus, cfg)
    state = "already complete, nothing to do" if info["skipped"] else f"built in {info['seconds']:.1f} s"
    print(f"corpus {info['name']} at {cfg.data.root}: {state}")
    for split, n in info["counts"].items():
        print(f"  {split:<12} {n:>7} utterances {info['hours'][split]:7.2f} h  {len(info['voices'][split]):>4} voices")
    print(f"  {info['words']} distinct words; {len(info['voices_used'])} voices used, "
          f"{len(info['voices_skipped'])} skipped; synthesis took {info['seconds']:.1f} s")


if __name__ == "__main__":
    main()
