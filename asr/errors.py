"""The root of every error the toolkit raises on purpose (bad input, bad config, I/O).

Each module has its own subclass (`AudioError`, `ManifestError`, ...) whose message names the
file, line or config key; recipes catch `ASRError` and print that one line instead of a traceback.
"""


class ASRError(Exception):
    """An error with a message meant for the user."""


class ConfigError(ASRError, ValueError):
    """A bad configuration value; the message names the key."""


def run_or_exit(fn, *args, errors: tuple[type[BaseException], ...] = (ASRError,)):
    """A recipe's call of its library function: the result, or (one of `errors`) the process ends
    with the one line `error: <message>` on stderr instead of a traceback."""
    try:
        return fn(*args)
    except errors as e:
        raise SystemExit(f"error: {e}") from None
