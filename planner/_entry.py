"""The ``planner`` console command. Kept free of imports so that Ctrl-C at any moment, even
while the command line module and its libraries are still loading, ends the same way:
"aborted" on stderr and exit status 130, never a traceback."""

import sys


def main() -> None:
    try:
        from planner.cli import main as cli_main
    except KeyboardInterrupt:
        print("aborted", file=sys.stderr)
        sys.exit(130)
    cli_main()
