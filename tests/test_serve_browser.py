"""asr-serve's page in a real headless browser: Debian's chromium driven by Playwright.

Uploads an espeak-ng sentence through the page's file input, checks the page shows
exactly the words POST /transcribe returns for that file (the model is a random tiny one, so
the words are not English), clicks a word and checks the audio seeks to that word's start and
the word is highlighted; then downloads the SRT. Skipped, with the reason, where chromium,
Playwright or espeak-ng is not installed (`apt-get install -y chromium`; `pip install playwright`, never
`playwright install`: the browser is Debian's).
"""
import shutil
import socket
import subprocess
import threading
import time

import pytest

pytestmark = pytest.mark.browser

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run",
        "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream"]  # a fake microphone (a beep)


@pytest.fixture(scope="module")
def browser():
    if CHROMIUM is None:
        pytest.skip("no chromium on PATH (Debian: apt-get install -y chromium)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install playwright)")
    with sync_api.sync_playwright() as p:
        try:
            b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        except sync_api.Error as e:
            pytest.skip(f"{CHROMIUM} does not start under Playwright: {str(e).splitlines()[0]}")
        yield b
        b.close()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """asr-serve on a free 127.0.0.1 port, in a thread of this process."""
    uvicorn = pytest.importorskip("uvicorn")
    from asr import serve
    from test_serve import tiny_checkpoint

    service = serve.Service(tiny_checkpoint(tmp_path_factory.mktemp("browser") / "model.pt"))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    srv = uvicorn.Server(uvicorn.Config(serve.create_app(service), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    while not srv.started:
        if not thread.is_alive():
            pytest.fail("the server thread died on start")
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    srv.should_exit = True
    thread.join(10)
    service.close()


@pytest.fixture(scope="module")
def speech(tmp_path_factory):
    """A sentence synthesized by espeak-ng (the corpus's TTS engine)."""
    if shutil.which("espeak-ng") is None:
        pytest.skip("no espeak-ng on PATH (Debian: apt-get install -y espeak-ng)")
    path = tmp_path_factory.mktemp("speech") / "hello there.wav"
    subprocess.run(["espeak-ng", "-w", str(path), "the quick brown fox jumps over the lazy dog"], check=True)
    return path


def wait_until(page, expression: str, timeout: float = 20.0) -> None:
    """Poll a JS expression (page.wait_for_function evals strings, which the page's CSP forbids)."""
    deadline = time.monotonic() + timeout
    while not page.evaluate(expression):
        if time.monotonic() > deadline:
            pytest.fail(f"still false after {timeout} s: {expression}")
        time.sleep(0.05)


def test_upload_shows_the_api_words_and_clicking_a_word_seeks(browser, server, speech, tmp_path):
    import httpx2

    expected = httpx2.post(f"{server}/transcribe", params={"name": speech.name}, content=speech.read_bytes(),
                           timeout=60).json()
    assert len({w["word"] for w in expected["words"]}) >= 2, expected  # words to tell apart

    page = browser.new_page(accept_downloads=True)
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(server)
    page.set_input_files("#file", str(speech))
    page.wait_for_selector("#transcript .word", timeout=60_000)
    assert page.locator("#transcript .word").all_text_contents() == [w["word"] for w in expected["words"]]
    assert page.locator("#status").text_content() == (
        f"{speech.name}: {expected['duration']:.2f} s, {len(expected['words'])} words")
    assert page.locator("#timings tr").count() == len(expected["words"])

    wait_until(page, "document.getElementById('audio').readyState >= 1")  # the audio's metadata is in
    i = max(range(len(expected["words"])), key=lambda k: expected["words"][k]["start"])  # the latest word
    word = expected["words"][i]
    page.locator("#transcript .word").nth(i).click()
    wait_until(page, "!document.getElementById('audio').seeking")
    assert page.evaluate("document.getElementById('audio').currentTime") == pytest.approx(word["start"], abs=1e-3)
    assert page.locator("#transcript .word.current").all_text_contents() == [word["word"]]
    assert page.locator("#transcript .word").nth(i).get_attribute("class") == "word current"

    with page.expect_download() as download:
        page.get_by_role("button", name="SRT").click()
    assert download.value.suggested_filename == "hello there.srt"
    srt = (tmp_path / "out.srt")
    download.value.save_as(srt)
    assert " ".join(line for line in srt.read_text().splitlines()
                    if line and not line[0].isdigit()) == expected["text"]
    assert errors == []
    page.close()


def test_non_audio_shows_the_servers_error(browser, server, tmp_path):
    notes = tmp_path / "notes.txt"
    notes.write_text("not audio at all\n")
    page = browser.new_page()
    page.goto(server)
    page.set_input_files("#file", str(notes))
    page.wait_for_selector("#status.error", timeout=30_000)
    assert page.locator("#status").text_content().startswith("Error 415: notes.txt: not a readable audio file")
    assert page.locator("#result").is_hidden()
    page.close()


def test_microphone_recording_is_sent_as_wav(browser, server):
    """Record from chromium's fake microphone: the page's AudioWorklet + WAV encoder, end to end."""
    page = browser.new_page()
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(server)
    page.click("#record")
    page.wait_for_selector("#record-stop", state="visible", timeout=10_000)
    wait_until(page, "document.getElementById('status').textContent.startsWith('Recording')")
    time.sleep(1.5)  # some audio from the fake device
    with page.expect_response(lambda r: r.url.startswith(f"{server}/transcribe")) as response:
        page.click("#record-stop")
    result = response.value.json()
    assert response.value.status == 200 and result["path"] == "recording.wav", result
    assert result["duration"] > 0.5
    page.wait_for_selector("#result", state="visible", timeout=30_000)
    assert page.locator("#status").text_content() == (
        f"recording.wav: {result['duration']:.2f} s, {len(result['words'])} words")
    wait_until(page, "document.getElementById('audio').readyState >= 1")
    # the browser decodes the WAV the page encoded to the length the server read
    assert page.evaluate("document.getElementById('audio').duration") == pytest.approx(result["duration"], abs=0.01)
    assert errors == []
    page.close()
