"""The ``planner`` console command. Kept free of imports so that Ctrl-C at any moment, even
while the command line module and its libraries are still loading, ends the same way:
"aborted" on stderr and exit status 130, never a traceback."""

import signal
import sys

_interrupted = False


def _on_sigint(signum, frame):  # as Python's own handler, but remembered
    global _interrupted
    _interrupted = True
    raise KeyboardInterrupt


def _aborted() -> None:
    print("aborted", file=sys.stderr)
    sys.exit(130)


def main() -> None:
    signal.signal(signal.SIGINT, _on_sigint)
    try:
        from planner.cli import main as cli_main

        cli_main()
    except SystemExit as exc:
        if _interrupted and exc.code not in (0, 130):
            _aborted()
        raise
    except BaseException:
        # a Ctrl-C that lands inside a compiled library's import can surface as another error
        # (e.g. pybind11's "type is already registered"): it is still the user's Ctrl-C
        if _interrupted:
            _aborted()
        raise
