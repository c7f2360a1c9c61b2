"""BLSTM + CTC speech recognition with persistent Triton LSTM kernels."""

__version__ = "0.1.0"


def transcribe(*args, **kwargs):
    """See `asr.transcribe.transcribe`."""
    from asr.transcribe import transcribe as _transcribe

    return _transcribe(*args, **kwargs)
