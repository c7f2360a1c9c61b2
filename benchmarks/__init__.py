"""Benchmarks of the recurrence kernels against cuDNN, torch.nn and the reference loops.

`python recipes/bench.py bench=<preset>` (presets: conf/bench/*.yaml) is a thin shell over
`benchmarks.harness.run_benchmark(cfg)`. The package, one concern per module:

    problems.py   bench.shapes -> Shape, dtypes, the seeded problem (nn.LSTM / nn.GRU, x, lengths, dy), FLOPs
    providers.py  who runs it: ChainRunner (our kernels, interpreter, reference loops), ModuleRunner (nn.LSTM /
                  nn.GRU, cuDNN), the PROVIDERS table; parameters go to the kernels through kernels.params
    cudnn.py      which cuDNN RNN algorithm PyTorch picks (the table's `path` column)
    timing.py     medians after warm-up (do_bench on CUDA, perf_counter on CPU), the TF32 switch
    harness.py    check, then time, every shape x dtype x provider; the interpreter subprocess; run_benchmark
    report.py     the columns, Markdown table, CSV, plot, results_dir copies

The kernel library (`kernels`) does not import this package, Hydra, OmegaConf or matplotlib.
Data, not code: `benchmarks/aot/` (AOT compile tables), `benchmarks/results/<device>/` (saved runs);
`onnx_rtf.py` and `augment_cost.py` are stand-alone scripts (`python benchmarks/onnx_rtf.py ...`).
"""
