"""Kernel microbenchmarks: the Triton LSTM and GRU recurrences against cuDNN, torch.nn and the reference loops.

    python recipes/bench.py                      # cpu_smoke: tiny shapes, CPU providers
    python recipes/bench.py bench=eesen          # presets: conf/bench/*.yaml
    python recipes/bench.py bench=family         # EESEN size as LSTM and as GRU, every kernel of the family
    python recipes/bench.py bench=flashrnn_cmp bench.dtypes=[fp16] bench.save_results=true

Prints a Markdown table; writes <name>.md, .csv and .png to the Hydra run dir (or bench.out_dir).
The library: the `benchmarks` package (`benchmarks.harness.run_benchmark`).
"""
import hydra
from omegaconf import DictConfig

from benchmarks.harness import run_benchmark
from asr.errors import run_or_exit
from benchmarks.problems import BenchError


@hydra.main(config_path="../conf", config_name="bench", version_base="1.3")
def main(cfg: DictConfig) -> None:
    run_or_exit(run_benchmark, cfg, errors=(BenchError,))


if __name__ == "__main__":
    main()
