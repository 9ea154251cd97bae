"""Many what-ifs of one scenario: sweeps (sweep), reading a finished sweep (analysis) and comparing
two runs or two scenarios of a sweep (compare).

A room of planner: see the README's "Package layout"."""
