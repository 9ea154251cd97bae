"""The allocation: candidates and the MILP (model), the years of a timeline (periods), one live
HiGHS model (live), the tie-break (tiebreak), the solve (solve), its tables (result), what a
timeline reports (timeline) and the whole model as an LP file (lpfile).

A room of planner: see the README's "Package layout"."""
