"""asr-serve over HTTP, in process (FastAPI's TestClient): the result's JSON shape, the size cap,
non-audio, uploaded names that look like paths, the downloads, the page, the CLI's defaults."""
import io
import json
import os
import re
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

pytest.importorskip("fastapi")
pytest.importorskip("httpx2")  # starlette's TestClient
from fastapi.testclient import TestClient  # noqa: E402

from asr import serve  # noqa: E402
from asr.checkpoint import save_checkpoint  # noqa: E402
from asr.model import CTCModel  # noqa: E402
from asr.tokenizer import CharTokenizer  # noqa: E402
from asr.transcription import Transcriber, to_srt  # noqa: E402

DIM = 20


def tiny_checkpoint(path: Path) -> Path:
    """A random tiny char model (as tests/test_transcribe.py's), biased to emit spaces: several words."""
    tok = CharTokenizer()
    torch.manual_seed(2)  # a seed whose outputs are several different words for speech and for wav_bytes()
    model = CTCModel(DIM, tok.vocab_size, hidden_size=24, num_layers=1, subsampling=2, dropout=0.0, backend="torch")
    with torch.no_grad():
        model.head.weight.mul_(8.0)
        model.head.bias[tok.encode(" ")[0]] += 2.0
    features = {"kind": "fbank", "num_mel_bins": DIM, "frame_length_ms": 25.0, "frame_shift_ms": 10.0,
                "dither": 0.0, "sample_rate": 16000}
    cmvn = {"mean": torch.full((DIM,), -8.0), "std": torch.full((DIM,), 3.0)}
    return save_checkpoint({"model_cfg": model.config, "model": model.state_dict(), "tokenizer": tok.to_dict(),
                            "features": features, "cmvn": cmvn}, path)


def wav_bytes(seconds: float = 2.0, sr: int = 16000, seed: int = 0) -> bytes:
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sr)) / sr
    x = 0.3 * np.sin(2 * np.pi * (300 + 200 * np.sin(2 * np.pi * 0.8 * t)) * t) + rng.normal(0, 0.05, t.size)
    buf = io.BytesIO()
    sf.write(buf, x.astype(np.float32), sr, format="WAV")
    return buf.getvalue()


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    return tiny_checkpoint(tmp_path_factory.mktemp("serve") / "model.pt")


@pytest.fixture(scope="module")
def service(ckpt):
    s = serve.Service(ckpt, max_bytes=200_000)
    yield s
    s.close()


@pytest.fixture(scope="module")
def client(service):
    return TestClient(serve.create_app(service))


def test_result_json_is_the_transcribers(client, ckpt, tmp_path):
    data = wav_bytes()
    r = client.post("/transcribe?name=talk.wav", content=data)
    assert r.status_code == 200 and r.headers["content-type"] == "application/json"
    got = r.json()
    (tmp_path / "talk.wav").write_bytes(data)
    expected = Transcriber(ckpt)(tmp_path / "talk.wav")
    assert got == {**expected, "path": "talk.wav"}
    assert set(got) == {"path", "duration", "text", "words", "chars"} and len(got["words"]) >= 2
    for w in got["words"]:
        assert set(w) == {"word", "start", "end"} and 0 <= w["start"] < w["end"] <= got["duration"] + 0.05
    # the same through a multipart form, as `curl -F file=@talk.wav` sends it
    m = client.post("/transcribe", files={"file": ("talk.wav", data, "audio/wav")})
    assert m.status_code == 200 and m.json() == got


def test_size_cap_and_missing_length(client, service):
    big = wav_bytes(8.0)  # 256 kB > the 200 kB cap
    r = client.post("/transcribe", content=big)
    assert r.status_code == 413 and "over the 200000-byte cap" in r.json()["error"]
    r = client.post("/transcribe", files={"file": ("big.wav", big, "audio/wav")})
    assert r.status_code == 413 and "cap" in r.json()["error"]
    r = client.post("/transcribe", content=iter([wav_bytes()]))  # chunked: no Content-Length
    assert r.status_code == 411 and "Content-Length" in r.json()["error"]
    assert not any(service.tmp_dir.iterdir())


@pytest.mark.parametrize("data, status, message", [
    (b"name,text\nx,hello\n", 415, r"^notes\.csv: not a readable audio file"),
    (b"", 400, r"^notes\.csv: empty upload$"),
    (wav_bytes(0.005), 400, r"^notes\.csv: too short"),
], ids=["text", "empty", "too-short"])
def test_not_audio_gets_one_json_error(client, service, data, status, message):
    r = client.post("/transcribe", files={"file": ("notes.csv", data, "text/csv")})
    assert r.status_code == status and set(r.json()) == {"error"}
    error = r.json()["error"]
    assert "\n" not in error and str(service.tmp_dir) not in error
    assert re.match(message, error), error


WRITES: list[str] = []  # paths opened for writing while `recording_writes` is on (audit hook below)
_RECORDING = [False]


def _audit(event, args):
    if _RECORDING[0] and event == "open" and args[0] is not None and not isinstance(args[0], int):
        mode, flags = args[1] or "", args[2] or 0
        if any(c in mode for c in "wax+") or flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT):
            WRITES.append(os.path.abspath(os.fsdecode(args[0])))


sys.addaudithook(_audit)  # hooks cannot be removed: it records only inside the test below


@pytest.mark.parametrize("name", ["../../../../tmp/evil.wav", "/etc/passwd", "..\\..\\evil.wav", "..", "a/\x00b.wav"])
def test_uploaded_names_never_become_paths(client, service, tmp_path, monkeypatch, name):
    monkeypatch.chdir(tmp_path)
    WRITES.clear()
    _RECORDING[0] = True
    try:
        r = client.post("/transcribe", files={"file": (name, wav_bytes(), "audio/wav")})
        q = client.post("/transcribe", params={"name": name}, content=wav_bytes())
    finally:
        _RECORDING[0] = False
    assert r.status_code == 200 and q.status_code == 200
    path = r.json()["path"]  # the client may %-escape odd characters of a multipart filename
    assert not re.search(r"[/\\\x00-\x1f]", path) and path not in ("", ".", "..")
    assert q.json()["path"] == serve.display_name(name)
    # the only files written: the two uploads, in the server's temp dir, since deleted
    assert all(Path(w) == service.tmp_dir or Path(w).parent == service.tmp_dir for w in WRITES), WRITES
    assert len([w for w in WRITES if Path(w).name.startswith("upload-")]) == 2, WRITES
    assert not any(service.tmp_dir.iterdir()) and not list(tmp_path.iterdir())


def test_display_name():
    assert serve.display_name("../../x/evil.wav") == "evil.wav"
    assert serve.display_name("C:\\Users\\me\\a b.wav") == "a b.wav"
    assert serve.display_name("..") == serve.display_name("") == serve.display_name(None) == "upload"


def test_downloads_render_the_result(client):
    result = client.post("/transcribe?name=talk.wav", content=wav_bytes()).json()
    srt = client.post("/render/srt", content=json.dumps(result))
    assert srt.status_code == 200 and srt.text == to_srt(result)
    assert srt.headers["content-disposition"] == 'attachment; filename="talk.srt"'
    assert client.post("/render/text", content=json.dumps(result)).text == result["text"] + "\n"
    assert json.loads(client.post("/render/json", content=json.dumps(result)).text) == result
    assert client.post("/render/pdf", content=json.dumps(result)).status_code == 404
    for bad in (b"[1, 2]", b"{not json", json.dumps({"text": "a", "words": [{"word": "a", "start": "0"}]})):
        r = client.post("/render/srt", content=bad)
        assert r.status_code == 400 and "a /transcribe result" in r.json()["error"], bad


def test_page_and_worklet(client):
    page = client.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert 'id="transcript"' in page.text and "/transcribe" in page.text
    assert "registerProcessor" in client.get("/recorder.js").text
    assert client.get("/static/../../etc/passwd").status_code == 404


def test_cli_binds_to_localhost_and_loads_the_model_once(ckpt, monkeypatch):
    import uvicorn

    calls, loads = [], []
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: calls.append(kw))
    real_init = serve.Transcriber.__init__
    monkeypatch.setattr(serve.Transcriber, "__init__", lambda self, *a, **k: loads.append(a) or real_init(self, *a, **k))
    assert serve.main([str(ckpt), "--port", "8123"]) == 0
    assert calls == [{"host": "127.0.0.1", "port": 8123, "log_level": "warning"}] and len(loads) == 1


def test_cli_bad_checkpoint(tmp_path, capsys):
    assert serve.main([str(tmp_path / "none.pt")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1
