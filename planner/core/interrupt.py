"""Ctrl-C for the command line: remembered, so that an interrupt that cannot propagate still ends
the run as "aborted" before anything is published. Python swallows an exception raised where it
cannot propagate (a weakref callback, e.g. importlib's module-lock clean-up, or a library's bare
``except:``) and prints "Exception ignored in ..." with a traceback: for a KeyboardInterrupt that
print is dropped here, and :func:`check` raises it again at the next safe point. :func:`install`
is called by the console entry only; library use is unaffected."""

import signal
import sys

_interrupted = False


def on_sigint(signum, frame):  # as Python's own handler, but remembered
    global _interrupted
    _interrupted = True
    raise KeyboardInterrupt


def _unraisable(info, _default=sys.unraisablehook) -> None:
    if info.exc_type is KeyboardInterrupt and _interrupted:
        return  # remembered: check() raises it where it can propagate
    _default(info)


def install() -> None:
    signal.signal(signal.SIGINT, on_sigint)
    sys.unraisablehook = _unraisable


def interrupted() -> bool:
    return _interrupted


def set_interrupted(flag: bool) -> None:
    """Remember a Ctrl-C (``True``) or forget it (``False``), as the handler does."""
    global _interrupted
    _interrupted = bool(flag)


def check() -> None:
    """Raise KeyboardInterrupt if Ctrl-C was pressed, even if the first one was swallowed."""
    if _interrupted:
        raise KeyboardInterrupt
