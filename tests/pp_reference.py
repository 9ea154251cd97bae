"""pandapower's own single-slack DC model of a grid, for the brute-force references of the tests."""

from __future__ import annotations

import warnings

import numpy as np

from planner.analysis.validate import run_dc

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from pandapower.pd2ppc import _pd2ppc
    from pandapower.pypower.makePTDF import makePTDF


def single_slack_dc(grid):
    """(PTDF, bus lookup, base flows, limits): pandapower's makePTDF (branch rows x internal buses;
    ``lookup[bus id]`` is a bus's column), rundcpp base flows in grid branch order, and the model's
    limits ``max(rate, |f0|)``."""
    net = grid.net
    flows = run_dc(net)
    _, ppci = _pd2ppc(net)
    full = makePTDF(ppci["baseMVA"], ppci["bus"], ppci["branch"])
    lookup = net._pd2ppc_lookups["bus"]
    br = grid.branches
    f0 = flows.reindex(list(zip(br["element"], br["element_index"]))).to_numpy()
    return full, lookup, f0, np.maximum(br["rate_mw"].to_numpy(), np.abs(f0))
