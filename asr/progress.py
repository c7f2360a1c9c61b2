"""Progress bars that stay quiet off a terminal.

`progress(iterable, desc=..., total=...)` takes tqdm's arguments and returns a tqdm bar. On a
terminal it is plain tqdm, redrawn in place as before. When its stream (stderr by default) is not a
TTY — CI, `nohup`, `make demo > log` — it is a `LineBar`: one plain ASCII line per
`ASR_PROGRESS_INTERVAL` seconds (default 30; 0: every update), plus the final state when it
closes, instead of a `\\r` redraw per update. `tqdm.write(...)` keeps working with either.

    ASR_PROGRESS_INTERVAL=5 python recipes/train.py ... > train.log 2>&1     # a line every 5 s
"""
from __future__ import annotations

import os
import sys
import time

from tqdm import tqdm

from asr.errors import ASRError

ENV = "ASR_PROGRESS_INTERVAL"
DEFAULT_INTERVAL = 30.0  # seconds between lines off a terminal


class ProgressError(ASRError, ValueError):
    """A bad ASR_PROGRESS_INTERVAL value."""


def interval() -> float:
    """Seconds between progress lines off a terminal: $ASR_PROGRESS_INTERVAL, default 30."""
    raw = os.environ.get(ENV, "").strip()
    if not raw:
        return DEFAULT_INTERVAL
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not value >= 0 or value == float("inf"):
        raise ProgressError(f"{ENV}={raw!r} must be a number of seconds >= 0")
    return value


def is_tty(stream) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        return False


class LineBar(tqdm):
    """A tqdm bar for logs: each display is one '\\n'-terminated line, at most one per `mininterval`
    seconds (the first and the final line excepted); nothing is ever erased or redrawn."""

    def __init__(self, *args, **kwargs):
        self._line_t: float | None = None  # when the last line was written (monotonic)
        self._line_n: int | None = None  # the count it showed
        super().__init__(*args, **kwargs)

    def display(self, msg=None, pos=None):
        now = time.monotonic()
        if msg is None:
            if self._line_t is not None and now - self._line_t < self.mininterval:
                return False  # e.g. the redraw after a tqdm.write: not yet due
            msg = self.__str__()
        if msg:  # msg == "" asks to erase the bar: nothing to erase in a log
            self.fp.write(msg + "\n")
            self.fp.flush()
            self._line_t, self._line_n = now, self.n
        return False  # nothing on screen to clear afterwards

    def clear(self, nolock=False):
        pass

    def close(self):
        if not getattr(self, "disable", True) and self.leave is not False and self._line_n is not None \
                and self.n != self._line_n:
            self._ema_dt = lambda: None  # the final line shows the overall rate, as tqdm's does
            self.display(msg=self.__str__())
        self.leave = False  # tqdm's close would redraw once more and end with an empty line
        super().close()


def progress(iterable=None, desc: str | None = None, total: int | float | None = None, file=None, **kwargs) -> tqdm:
    """tqdm(iterable, desc, total, file=file or sys.stderr, **kwargs); off a terminal a `LineBar`
    printing one ASCII line every ASR_PROGRESS_INTERVAL seconds."""
    file = sys.stderr if file is None else file
    if is_tty(file):
        return tqdm(iterable, desc=desc, total=total, file=file, **kwargs)
    every = interval()
    kwargs.update(mininterval=every, maxinterval=max(every, kwargs.get("maxinterval", 10.0)), ascii=True,
                  dynamic_ncols=False)
    return LineBar(iterable, desc=desc, total=total, file=file, **kwargs)
