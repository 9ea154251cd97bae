"""From a validated scenario to a solved run, as ``planner solve`` does it without writing files
(prepare).

A room of planner: see the README's "Package layout"."""
