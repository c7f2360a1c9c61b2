"""asr-serve: a local transcription page and a JSON endpoint over one checkpoint, loaded once.

    asr-serve exp/synth-small/blstm_small/best.pt --port 8000      # then open http://127.0.0.1:8000
    curl --data-binary @a.wav http://127.0.0.1:8000/transcribe     # or: curl -F file=@a.wav ...

GET  /                the page (asr/static/index.html): drop or choose a file, or record the
                      microphone (recorded as WAV in the page); transcript, word timings, the audio
                      with the current word highlighted; downloads TXT / SRT / JSON
POST /transcribe      audio as the raw body, or as multipart field `file`
                      -> 200 the `asr.transcription.transcribe` result ("path": the upload's base name, for show only)
                      -> 400 (empty, too short, undecodable) | 411 (no Content-Length) | 413 (over the cap)
                         | 415 (not audio), each {"error": "one line"}
POST /render/{fmt}    a /transcribe result -> text | srt | json (`asr.transcription.render`): the downloads

The upload is written to a fresh file with a random name in the server's own temp dir and
deleted after decoding: no name or path from the request ever reaches the filesystem. Binds to
127.0.0.1 unless --host says otherwise. Needs the `serve` extra: pip install -e '.[serve]'.
"""

import argparse
import json
import re
import sys
import tempfile
import threading
from importlib import resources
from pathlib import Path

from asr.audio import AudioError, audio_info
from asr.checkpoint import CheckpointError
from asr.decode import DecodeError
from asr.errors import ASRError
from asr.features import FeatureError
from asr.transcription import DECODERS, Transcriber, render

PAGES = {"/": ("index.html", "text/html; charset=utf-8"),
         "/recorder.js": ("recorder.js", "text/javascript; charset=utf-8")}
RENDER = {"text": ("text/plain; charset=utf-8", "txt"), "srt": ("application/x-subrip; charset=utf-8", "srt"),
          "json": ("application/json", "json")}
CSP = ("default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
       "media-src 'self' blob:; connect-src 'self'; img-src 'self' data:")


class ServeError(ASRError):
    """A request the server refuses: `status` is its HTTP status."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


def display_name(name: str | None) -> str:
    """The upload's base name for messages and the result's "path"; never used as a path."""
    name = re.split(r"[\\/]", name or "")[-1]
    name = re.sub(r"[\x00-\x1f\x7f]", "", name).strip()[:120]
    return name if name not in ("", ".", "..") else "upload"


class Service:
    """The loaded model, the temp dir, the size cap; `transcribe(data, name)` -> result dict."""

    def __init__(self, checkpoint: str | Path, device: str = "cpu", decoder: str = "greedy",
                 max_bytes: int = 50 * 2**20, chunk_seconds: float = 30.0):
        self.transcriber = Transcriber(checkpoint, device=device, decoder=decoder)
        self.max_bytes, self.chunk_seconds = max_bytes, chunk_seconds
        self._tmp = tempfile.TemporaryDirectory(prefix="asr-serve-")
        self.tmp_dir = Path(self._tmp.name)
        self._lock = threading.Lock()  # one transcription at a time: the model is not shared across threads

    def transcribe(self, data: bytes, name: str) -> dict:
        if not data:
            raise ServeError(400, f"{name}: empty upload")
        if len(data) > self.max_bytes:
            raise ServeError(413, f"{name}: {len(data)} bytes is over the {self.max_bytes}-byte cap")
        with tempfile.NamedTemporaryFile(dir=self.tmp_dir, prefix="upload-") as f:
            f.write(data)
            f.flush()
            try:
                audio_info(f.name)
            except AudioError as e:
                raise ServeError(415, _reword(e, f.name, name)) from None
            try:
                with self._lock:
                    result = self.transcriber(f.name, self.chunk_seconds, min(2.0, self.chunk_seconds / 4))
            except (AudioError, FeatureError) as e:
                raise ServeError(400, _reword(e, f.name, name)) from None
        return {**result, "path": name}

    def close(self) -> None:
        self._tmp.cleanup()


def _reword(e: Exception, tmp: str, name: str) -> str:
    """The error's message with the upload's name in place of the temp file's path."""
    return str(e).replace(tmp, name)


def create_app(service: Service):
    """The FastAPI app over a `Service` (tests call this with their own)."""
    from fastapi import FastAPI, Request
    from fastapi.responses import JSONResponse, Response

    app = FastAPI(title="asr-serve", docs_url=None, redoc_url=None, openapi_url=None)

    @app.exception_handler(ServeError)
    async def refused(request: Request, e: ServeError):
        return JSONResponse({"error": str(e)}, status_code=e.status)

    for route, (filename, media_type) in PAGES.items():  # fixed routes: no path from the request is opened
        body = resources.files("asr").joinpath("static", filename).read_bytes()  # read once, at start
        app.get(route)(_page(Response, body, media_type))

    @app.post("/transcribe")
    async def transcribe(request: Request):
        from starlette.concurrency import run_in_threadpool

        data, name = await _upload(request, service.max_bytes)
        return await run_in_threadpool(service.transcribe, data, name)

    @app.post("/render/{fmt}")
    async def render_result(fmt: str, request: Request):
        if fmt not in RENDER:
            raise ServeError(404, f"format {fmt!r} is not one of: {', '.join(RENDER)}")
        result = await _json_result(request, service.max_bytes)
        media_type, ext = RENDER[fmt]
        stem = Path(display_name(str(result.get("path") or "transcript"))).stem or "transcript"
        return Response(render(result, fmt), media_type=media_type,
                        headers={"Content-Disposition": f'attachment; filename="{_ascii(stem)}.{ext}"'})

    return app


def _page(response_class, body: bytes, media_type: str):
    async def page():
        return response_class(body, media_type=media_type, headers={"Content-Security-Policy": CSP})
    return page


def _ascii(name: str) -> str:
    return re.sub(r'[^A-Za-z0-9._ -]', "_", name)


def _content_length(request, cap: int) -> int:
    """The declared body size, checked against the cap before a byte of the body is read."""
    declared = request.headers.get("content-length")
    if declared is None or not declared.isdigit():
        raise ServeError(411, "send the upload with a Content-Length header")
    if int(declared) > cap + 64 * 1024:  # multipart framing on top of the file itself
        raise ServeError(413, f"upload of {declared} bytes is over the {cap}-byte cap")
    return int(declared)


async def _upload(request, cap: int) -> tuple[bytes, str]:
    """(audio bytes, display name) from a raw body or a multipart `file` field."""
    _content_length(request, cap)
    if request.headers.get("content-type", "").startswith("multipart/form-data"):
        try:
            form = await request.form(max_files=1, max_fields=8)
        except Exception as e:  # starlette's MultiPartException and parser errors
            raise ServeError(400, f"malformed multipart upload ({e})") from None
        try:
            upload = form.get("file")
            if upload is None or isinstance(upload, str):
                raise ServeError(400, "multipart upload has no file field named 'file'")
            return await upload.read(cap + 1), display_name(upload.filename)
        finally:
            await form.close()  # starlette's spooled copy (an anonymous temp file past 1 MB)
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > cap:
            raise ServeError(413, f"upload is over the {cap}-byte cap")
    return bytes(body), display_name(request.query_params.get("name"))


async def _json_result(request, cap: int) -> dict:
    _content_length(request, cap)
    try:
        result = json.loads(await request.body())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ServeError(400, f"expected a /transcribe result as JSON ({e})") from None
    words = result.get("words", []) if isinstance(result, dict) else None
    if not isinstance(result, dict) or not isinstance(result.get("text"), str) or not isinstance(words, list) \
            or not all(isinstance(w, dict) and isinstance(w.get("word"), str)
                       and all(isinstance(w.get(k), (int, float)) for k in ("start", "end")) for w in words):
        raise ServeError(400, "expected a /transcribe result: an object with text and words [{word, start, end}]")
    return result


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="asr-serve", description="A local transcription page and JSON endpoint.")
    p.add_argument("checkpoint", help="model checkpoint (.pt) from recipes/train.py")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1, this machine only)")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--device", default="cpu", help="cpu | cuda | auto (default: cpu)")
    p.add_argument("--decoder", choices=[d for d in DECODERS if d != "lm"], default="greedy")
    p.add_argument("--max-mb", type=float, default=50.0, help="upload size cap in MiB (default: 50)")
    args = p.parse_args(argv)
    try:
        import uvicorn
        import fastapi  # noqa: F401
    except ImportError:
        print("error: asr-serve needs the serve extra: pip install -e '.[serve]'", file=sys.stderr)
        return 2
    try:
        service = Service(args.checkpoint, device=args.device, decoder=args.decoder,
                          max_bytes=int(args.max_mb * 2**20))
    except (CheckpointError, DecodeError, FeatureError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        print(f"warning: listening on {args.host}: anyone who can reach it can use the model", file=sys.stderr)
    print(f"asr-serve: {args.checkpoint} on http://{args.host}:{args.port}", file=sys.stderr)
    try:
        uvicorn.run(create_app(service), host=args.host, port=args.port, log_level="warning")
    finally:
        service.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
