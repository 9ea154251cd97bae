"""Grids and sites as data: where the shipped data lives (datasets), MATPOWER files (matpower), grids
as pandapower nets and tables (grid), site files (sites), US state outlines (states) and small
grids solvable by hand (examples).

A room of planner: see the README's "Package layout"."""
