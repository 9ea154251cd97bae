"""The ``planner`` console command. Kept free of imports so that Ctrl-C at any moment, even
while the command line module and its libraries are still loading, ends the same way:
"aborted" on stderr and exit status 130, never a traceback, nothing published."""

import contextlib
import os
import sys

from planner.core import interrupt


def _aborted() -> None:
    print("aborted", file=sys.stderr)
    _end_now(130)


def _end_now(code: int) -> None:
    """End at once after a Ctrl-C, without the interpreter's finalization: a compiled library cut
    off mid-import or mid-work can abort it after "aborted" was printed (pyarrow, seen once at
    0.7 s: "PyThreadState_Get: ... the GIL is released", SIGABRT instead of 130). Everything that
    must not be left behind (a partial run directory, a Dask cluster) was cleaned up on the way out."""
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):  # a closed or broken pipe: nothing to flush to
            stream.flush()
    os._exit(code)


def main() -> None:
    interrupt.install()
    try:
        from planner.cli import main as cli_main

        cli_main()
    except SystemExit as exc:
        if interrupt.interrupted() and exc.code not in (0, 130):
            _aborted()
        if exc.code == 130:  # the command line's own Ctrl-C: "aborted" is printed
            _end_now(130)
        raise
    except BaseException:
        # a Ctrl-C that lands inside a compiled library's import can surface as another error
        # (e.g. pybind11's "type is already registered"): it is still the user's Ctrl-C
        if interrupt.interrupted():
            _aborted()
        raise
