"""The network rows of a plan, whichever the supply response: the fixed responses' rows
(:func:`planner.network.security.build_network`) or the redispatch rows (:func:`planner.network.redispatch.build_network`)
with the same contingencies and rating derates."""

from __future__ import annotations

import numpy as np

from planner.network import redispatch, security
from planner.network.sensitivity import DCModel


def build_network(model: DCModel, grid, cand, params, periods: list[tuple[str, float]] | None = None
                  ) -> security.Network | redispatch.RedispatchNetwork:
    """All row families of a plan: states, N-0 limits, and with ``params.security == "n-1"`` the
    contingencies and the N-1 pairs already over without new load (see
    :func:`planner.network.security.build_network` for ``periods``)."""
    if params.supply_response != "redispatch":
        return security.build_network(model, grid, cand, params, periods=periods)
    mon = np.flatnonzero(model.monitored)
    derate = security.derate_factors(model, mon, params)
    return redispatch.build_network(model, grid, cand, params, security.contingencies(model, mon, params, derate),
                                    derate, periods=periods)
