"""Figures: static maps and charts with matplotlib (plot) and the interactive HTML maps with plotly
(webmap).

A room of planner: see the README's "Package layout"."""
