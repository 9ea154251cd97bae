"""Ctrl-C for the command line: remembered, so that an interrupt some library swallows (a bare
``except:`` around an optional import) still ends the run as "aborted" before anything is
published. :func:`install` is called by the console entry only; library use is unaffected."""

import signal

_interrupted = False


def _on_sigint(signum, frame):  # as Python's own handler, but remembered
    global _interrupted
    _interrupted = True
    raise KeyboardInterrupt


def install() -> None:
    signal.signal(signal.SIGINT, _on_sigint)


def interrupted() -> bool:
    return _interrupted


def check() -> None:
    """Raise KeyboardInterrupt if Ctrl-C was pressed, even if the first one was swallowed."""
    if _interrupted:
        raise KeyboardInterrupt
