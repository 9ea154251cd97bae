"""The ``planner`` console command. Kept free of imports so that Ctrl-C at any moment, even
while the command line module and its libraries are still loading, ends the same way:
"aborted" on stderr and exit status 130, never a traceback, nothing published."""

import sys

from planner import interrupt


def _aborted() -> None:
    print("aborted", file=sys.stderr)
    sys.exit(130)


def main() -> None:
    interrupt.install()
    try:
        from planner.cli import main as cli_main

        cli_main()
    except SystemExit as exc:
        if interrupt.interrupted() and exc.code not in (0, 130):
            _aborted()
        raise
    except BaseException:
        # a Ctrl-C that lands inside a compiled library's import can surface as another error
        # (e.g. pybind11's "type is already registered"): it is still the user's Ctrl-C
        if interrupt.interrupted():
            _aborted()
        raise
