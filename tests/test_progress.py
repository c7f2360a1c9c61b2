import io
import time

import pytest
from tqdm import tqdm

from asr.progress import ENV, LineBar, ProgressError, progress


class TTY(io.StringIO):
    def isatty(self) -> bool:
        return True


def lines(text: str) -> list[str]:
    return [ln for ln in text.replace("\r", "\n").split("\n") if ln.strip()]


def test_off_a_terminal_10000_updates_print_a_few_lines(monkeypatch):
    monkeypatch.setenv(ENV, "0.05")
    out = io.StringIO()
    start = time.monotonic()
    bar = progress(total=10_000, desc="fast", file=out, mininterval=0, miniters=1)  # a caller asking for every update
    assert isinstance(bar, LineBar)
    for _ in range(10_000):
        bar.update(1)
    bar.close()
    elapsed = time.monotonic() - start
    text = out.getvalue()
    assert "\r" not in text and text.isascii() and text.endswith("\n") and "\n\n" not in text
    got = lines(text)
    # the first line, then at most one per 0.05 s interval, then the final state
    assert 2 <= len(got) <= 2 + elapsed / 0.05
    assert got[0].startswith("fast:") and "0/10000" in got[0]
    assert "10000/10000" in got[-1] and "100%" in got[-1]
    plain = io.StringIO()  # what plain tqdm writes into a log for the same loop: a redraw per update
    with tqdm(total=10_000, desc="fast", file=plain, mininterval=0, miniters=1) as bar:
        for _ in range(10_000):
            bar.update(1)
    assert len(lines(plain.getvalue())) > 10_000


def test_default_interval_is_long(monkeypatch):
    monkeypatch.delenv(ENV, raising=False)
    out = io.StringIO()
    for _ in progress(range(10_000), desc="x", file=out):
        pass
    assert len(lines(out.getvalue())) == 2  # start and end (10,000 steps take far less than 30 s)


def test_on_a_terminal_it_updates_as_tqdm_does(monkeypatch):
    monkeypatch.setenv(ENV, "1000")  # only applies off a terminal
    ours, plain = TTY(), TTY()
    for _ in progress(range(300), desc="tty", file=ours, mininterval=0, miniters=1):
        pass
    for _ in tqdm(range(300), desc="tty", file=plain, mininterval=0, miniters=1):
        pass
    assert type(progress(range(1), file=TTY())) is tqdm
    assert ours.getvalue().count("\r") == plain.getvalue().count("\r") >= 300  # a redraw per update


def test_tqdm_write_does_not_add_progress_lines(monkeypatch):
    monkeypatch.setenv(ENV, "1000")
    out = io.StringIO()
    bar = progress(total=50, desc="w", file=out)
    for i in range(50):
        bar.update(1)
        if i % 10 == 0:
            tqdm.write(f"warning {i}", file=out)
    bar.close()
    got = lines(out.getvalue())
    assert [ln for ln in got if ln.startswith("warning")] == [f"warning {i}" for i in range(0, 50, 10)]
    assert len([ln for ln in got if ln.startswith("w:")]) == 2


def test_disable_and_zero_length(monkeypatch):
    monkeypatch.setenv(ENV, "0")
    out = io.StringIO()
    for _ in progress(range(5), file=out, disable=True):
        pass
    assert out.getvalue() == ""
    for _ in progress([], desc="empty", file=out):
        pass
    assert lines(out.getvalue()) == ["empty: 0it [00:00, ?it/s]"]


@pytest.mark.parametrize("value", ["fast", "-1", "nan", "inf"])
def test_bad_interval_is_one_clear_error(monkeypatch, value):
    monkeypatch.setenv(ENV, value)
    with pytest.raises(ProgressError, match=f"{ENV}='{value}' must be a number of seconds >= 0"):
        progress(range(3), file=io.StringIO())
