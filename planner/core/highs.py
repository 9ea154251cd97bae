"""HiGHS models for the whole process: quiet, and one thread count chosen once.

Two facts of HiGHS (highspy 1.16) that planner must live with:

* **The banner.** The first ``highspy.Highs()`` of a process prints "Running HiGHS ...
  Copyright ..." on the C library's stdout, before any option can turn output off. planner's
  stdout carries its answer and nothing else, so :func:`new_model` makes that first instance
  with the process's file descriptor 1 pointed at ``/dev/null`` for the moment it takes.
* **One thread pool per process.** HiGHS starts its task scheduler once, at the first run, with
  the ``threads`` option of that model; a later model whose ``threads`` differs fails to run
  ("HiGHS run failed"). planner therefore chooses the thread count once per process: the
  ``threads`` of the first model made through :func:`new_model` (``None``: HiGHS's default, half
  the cores). Every later model runs on that pool; a model asking for another count is told so
  in the log, once per count, and runs with the chosen one. The answer does not depend on it
  (the tie-break of :mod:`planner.optimization.tiebreak` makes it unique); only the speed does.

Every planner HiGHS model is made here (:func:`new_model`), so these rules hold everywhere.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import sys
import threading

logger = logging.getLogger(__name__)

_lock = threading.Lock()
_made = False
#: the process's HiGHS thread count once chosen (0: HiGHS's default)
_threads: int | None = None
_told: set[int] = set()


@contextlib.contextmanager
def _stdout_to_devnull():
    """Point file descriptor 1 at /dev/null (C code's printf included), then restore it."""
    try:
        fd = sys.__stdout__.fileno() if sys.__stdout__ is not None else 1
    except (AttributeError, ValueError, OSError):
        fd = 1
    for stream in (sys.stdout, sys.__stdout__):
        with contextlib.suppress(Exception):
            stream.flush()
    try:
        saved = os.dup(fd)
    except OSError:  # no stdout at all: nothing to protect
        yield
        return
    libc = None
    with contextlib.suppress(OSError):
        libc = ctypes.CDLL(None)
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(devnull, fd)
        finally:
            os.close(devnull)
        yield
    finally:
        if libc is not None:
            libc.fflush(None)  # what the C library buffered goes to /dev/null, not to the answer
        os.dup2(saved, fd)
        os.close(saved)


def chosen_threads() -> int | None:
    """The process's HiGHS thread count (0: HiGHS's default), or None before the first model."""
    return _threads


def new_model(threads: int | None = None, **options):
    """A new ``highspy.Highs`` with output off, the process's thread count and ``options`` set.

    ``threads`` is a request: the first model of the process fixes the count (see the module's
    docstring), later requests for another count are logged and run with the fixed one."""
    import highspy

    global _made, _threads
    with _lock:
        if not _made:
            with _stdout_to_devnull():
                h = highspy.Highs()
            _made = True
            _threads = int(threads or 0)
        else:
            h = highspy.Highs()
            if threads is not None and int(threads) != _threads and int(threads) not in _told:
                _told.add(int(threads))
                logger.info(f"HiGHS runs with {_threads or 'its default number of'} threads in this process "
                            f"(set by its first model); {threads} asked for takes effect in a new process")
    h.setOptionValue("output_flag", False)
    if _threads:
        h.setOptionValue("threads", _threads)
    for key, value in options.items():
        if value is not None:
            h.setOptionValue(key, value)
    return h
