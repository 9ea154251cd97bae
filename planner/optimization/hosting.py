"""Hosting capacity as the allocation model: the one model of :mod:`planner.optimization.model`,
solved for one bus at a time.

For a set of buses, one AI site per bus (firm load, no minimum block, no pool, demand cap or
budget) goes into the model of a plan with the run's settings: its supply response's network
and block (:mod:`planner.network.supply`, here without energy payments or generation cost: any
dispatch within the generators' limits is allowed), its load states, its security (N-0, or
N-1 with the contingencies added lazily as in a plan). For each bus in turn the objective is
that site's MW and every other site is held at 0; the LP is re-solved warm on the one live
HiGHS model, and the network rows found for one bus stay for the next (each is a row of the
model, true whatever the load). The answer is the largest firm new load the bus alone can take
in every state of the plan.

This is the definition the fast paths are checked against (``tests/test_model_hosting.py``):
the closed form of a fixed participation (:func:`planner.network.hosting.security_frame`) and
the B-theta LP of redispatch (:mod:`planner.network.hosting_redispatch`).
"""

from __future__ import annotations

import dataclasses
import logging
import time

import numpy as np
import pandas as pd
import pulp

from planner.core.errors import SolverError
from planner.data.examples import sites_at
from planner.optimization import model as mdl
from planner.optimization.solve import lazy_solve

logger = logging.getLogger(__name__)

#: MW of a bus's site when no cap is given: more than any grid planner ships can serve
DEFAULT_CAP_MW = 1e6


def model_hosting(grid, buses, params: mdl.Params, model=None, cap_mw: float = DEFAULT_CAP_MW) -> pd.DataFrame:
    """The hosting capacity of each of ``buses`` (MW of firm new load) as the allocation model with
    ``params``'s supply response, security and load states, solved for one bus at a time.

    Returns a frame with ``bus`` and ``hosting_mw`` (inf where no row limits the bus below
    ``cap_mw``), in the order of ``buses``. ``model``: the DC model of the supply response
    (default: built here)."""
    ids = np.asarray(buses, dtype=np.int64)
    if len(np.unique(ids)) != len(ids):
        raise ValueError("model_hosting: a bus is listed twice")
    params = dataclasses.replace(params, min_block_mw=0.0, supply_pools_mw={}, ai_demand_mw={}, max_capex_usd=None,
                                 requested_ai_mw=None, check_existing_load=False, bus_hosting=False,
                                 allow_ai_cloud=False, split_paths=True, solver="highs").validate()
    kind = params.supply
    model = model if kind.fits(model) else kind.dc_model(grid)
    sites = sites_at(grid, [{"site_id": f"bus {b}", "bus": int(b), "poi_mw": float(cap_mw),
                             "current_use": "development", "min_block_mw": 0.0} for b in ids])
    cand = mdl.candidates(sites, params)
    if len(cand) != len(ids):
        raise ValueError("model_hosting: a bus is not in the grid's DC model")
    t = time.perf_counter()
    net = kind.network(model, grid, cand, params)
    built = mdl.build(cand, params)
    kind.block(built, net, params, pay=False, cost=False)
    ai = [built.periods[0].ai[i] for i in range(len(ids))]
    built.prob.setObjective(pulp.LpAffineExpression([(v, 0.0) for v in ai]))
    for v in ai:
        v.upBound = 0.0
    host = np.full(len(ids), np.nan)
    rows = rounds = 0
    for i, var in enumerate(ai):
        _focus(built, ai, i)
        info = lazy_solve(built, net, params, mip=False, deadline=None, quiet=True)
        if info.status != "optimal":
            raise SolverError(f"model hosting at bus {ids[i]}: the LP did not solve ({info.status})")
        host[i] = float(var.varValue or 0.0)
        rows, rounds = rows + info.rows_added, rounds + info.rounds
    logger.info(f"model hosting of {len(ids):,} bus(es), supply {kind.name}, {params.security.upper()}: {rounds} "
                f"rounds, {rows} rows ({time.perf_counter() - t:.1f} s)")
    host = np.where(host >= cap_mw * (1 - 1e-9), np.inf, host)
    return pd.DataFrame({"bus": ids, "hosting_mw": host})


def _focus(built: mdl.Built, ai: list, i: int) -> None:
    """Make site ``i``'s MW the objective and free it; hold the site before it at 0."""
    changed = [ai[i]] if i == 0 else [ai[i - 1], ai[i]]
    for v in changed:
        v.upBound = None if v is ai[i] else 0.0
    costs = [1.0 if v is ai[i] else 0.0 for v in changed]
    if built.live is not None:
        built.live.set_bounds(changed)
        built.live.set_costs(changed, costs)
    else:
        for v, c in zip(changed, costs):
            built.prob.objective[v] = c
