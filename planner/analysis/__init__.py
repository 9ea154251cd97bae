"""Checks of a solved allocation with pandapower's own power flows, DC (validate) and AC (acpf), and
per-operator counterfactuals (operators).

A room of planner: see the README's "Package layout"."""
