"""The public Python API the README shows: `asr.transcribe`, callable any number of times,
with its real signature and docstring."""
import importlib
import inspect
import subprocess
import sys

import numpy as np
import soundfile as sf

import asr
from asr import transcription


def test_transcribe_is_the_function_itself():
    assert asr.transcribe is transcription.transcribe
    params = inspect.signature(asr.transcribe).parameters
    assert list(params)[:2] == ["paths", "checkpoint"] and "decoder" in params and "on_error" in params
    assert asr.transcribe.__doc__ == transcription.transcribe.__doc__ and "Returns per file" in asr.transcribe.__doc__
    assert "transcribe" in dir(asr)


def test_transcribe_twice_in_one_process(tmp_path):
    from test_decode import tiny_checkpoint

    ckpt = tiny_checkpoint(tmp_path / "best.pt")
    wav = tmp_path / "a.wav"
    sf.write(wav, 0.1 * np.sin(np.arange(16000) / 5.0).astype(np.float32), 16000)
    first = asr.transcribe(wav, ckpt)
    importlib.import_module("asr.transcription")  # importing the submodule again must not rebind the name

    second = asr.transcribe(wav, ckpt)
    assert first == second and first[0]["duration"] > 0.9


def test_import_asr_is_cheap_and_help_shows_parameters():
    code = ("import sys, asr; assert 'torch' not in sys.modules; import pydoc; "
            "print(pydoc.render_doc(asr.transcribe, renderer=pydoc.plaintext))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert "transcribe(paths" in out.stdout and "checkpoint" in out.stdout
