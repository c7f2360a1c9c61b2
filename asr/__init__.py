"""BLSTM + CTC speech recognition with persistent Triton LSTM kernels.

The public API: `asr.transcribe(paths, checkpoint, ...)` (`asr.transcription.transcribe`). It is
imported on first use, so `import asr` stays cheap (no torch); its signature and docstring are
the real ones (`help(asr.transcribe)`).
"""

__version__ = "0.1.0"
__all__ = ["transcribe"]


def __getattr__(name: str):
    # A module __getattr__ (PEP 562), not a wrapper: `asr.transcribe` IS the function. The
    # submodule is asr.transcription, so importing it never rebinds `asr.transcribe`.
    if name == "transcribe":
        from asr.transcription import transcribe

        globals()["transcribe"] = transcribe
        return transcribe
    raise AttributeError(f"module 'asr' has no attribute {name!r}")


def __dir__():
    return sorted(list(globals()) + __all__)
