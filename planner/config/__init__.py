"""Scenario files: the typed schema of every setting with its bounds (scenario), and the fully
resolved scenario of a run (resolved).

A room of planner: see the README's "Package layout"."""
