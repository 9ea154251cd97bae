"""Below every room: planner's error types and input bounds (errors), the remembered Ctrl-C
of the command line (interrupt) and HiGHS models, one thread pool per process (highs).

A room of planner: see the README's "Package layout"."""
