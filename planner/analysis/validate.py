"""Check a solved allocation with pandapower's own power flow.

:func:`allocated_net` returns a copy of the grid's net with the new loads added
at their buses and the generators dispatched as the model assumed (the base
dispatch balanced for a lossless model, plus each generator's share of the new
load). ``pandapower.rundcpp`` on that net gives the flows the model predicted;
:func:`dc_check` runs it and compares.
"""

from __future__ import annotations

import copy
import warnings

import numpy as np
import pandas as pd

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    import pandapower as pp


def allocated_net(grid, result, state: str = "peak", power_factor: float = 1.0, new_load: bool = True):
    """The allocated case as a pandapower net (a deep copy; the grid is not changed).

    ``state``: ``peak`` (base load as given, the firm share of each new load) or
    ``offpeak`` (every base load except DC-tie exports x the off-peak factor, all
    new load), with the generators dispatched as the model assumed in that state.
    ``power_factor`` gives the new loads reactive power (lagging) for AC studies.
    ``new_load=False`` gives the same state without any new load.
    """
    net = copy.deepcopy(grid.net)
    info = result.states.get(state) if result.states else None
    if info is None:
        raise ValueError(f"the result has no state '{state}' (it has: {', '.join(result.states) or 'none'})")
    factor = info["load_factor"]
    if factor != 1.0:
        scaled = ~net.load["name"].fillna("").astype(str).str.startswith("dc tie")
        net.load.loc[scaled, ["p_mw", "q_mvar"]] *= factor
    load = info["load_mw"][info["load_mw"] > 0] if new_load else info["load_mw"][[]]
    if len(load):
        q = load.to_numpy() * np.tan(np.arccos(power_factor))
        pp.create_loads(net, load.index.to_numpy(), p_mw=load.to_numpy(), q_mvar=q,
                        name=[f"planner new load {b}" for b in load.index])
    if result.model.distributed or factor != 1.0:
        dispatch = info["dispatch_mw"] if new_load else info["base_dispatch_mw"]
        net.gen.loc[dispatch.index, "p_mw"] = dispatch.to_numpy()
    if getattr(result, "dispatch_table", None) is not None:
        _opf_ready(net, grid, result, state)
    return net


def _opf_ready(net, grid, result, state: str) -> None:
    """A redispatch case carries what the model optimized over, so that pandapower's DC OPF
    (``rundcopp``, new loads fixed) solves the same economic dispatch: each dispatchable
    generator is controllable within the model's limits at the model's piecewise-linear cost
    (``pwl_cost``, from its lower limit; the quadratic ``poly_cost`` rows are dropped), every other
    injection is fixed (the reference bus at 0 MW: the model's base case is balanced without it),
    and each branch's ``max_loading_percent`` makes its OPF limit the model's limit in this state
    (unmonitored branches: no limit)."""
    t = result.dispatch_table
    gens = t["gen"].to_numpy()
    net.gen["controllable"] = False
    net.gen.loc[gens, "controllable"] = True
    net.gen.loc[gens, "min_p_mw"] = t["min_mw"].to_numpy()
    net.gen.loc[gens, "max_p_mw"] = t["max_mw"].to_numpy()
    if len(net.sgen):
        net.sgen["controllable"] = False
    if len(net.ext_grid):
        net.ext_grid[["min_p_mw", "max_p_mw"]] = 0.0
    net.poly_cost = net.poly_cost.iloc[0:0]  # pandapower's OPF takes quadratic or piecewise-linear costs, not both
    slopes = t.filter(regex=r"^slope_\d+_usd_per_mwh$").to_numpy()
    lo, width = t["min_mw"].to_numpy(), t["segment_mw"].to_numpy()
    # segment k of generator j: [edge k, edge k + 1] at its slope (one edge array: consecutive exactly)
    edge = lo[:, None] + width[:, None] * np.arange(slopes.shape[1] + 1)[None, :]
    points = np.stack([edge[:, :-1], edge[:, 1:], slopes], axis=2).tolist()
    pp.create_pwl_costs(net, gens.astype(int).tolist(), "gen", points)
    prefix = "" if state == "peak" else f"{state}_"
    where = grid.branches.reset_index(drop=True)[["branch_id", "element", "element_index"]]
    b = result.branches.merge(where, on="branch_id")
    unlimited = 1e6  # percent: far above any flow of the case
    for element in ("line", "trafo"):
        table = getattr(net, element)
        table["max_loading_percent"] = unlimited
    lim = b[b["monitored"].to_numpy(bool)]
    for element in ("line", "trafo"):
        here = lim[lim["element"] == element]
        if len(here):
            getattr(net, element).loc[here["element_index"].to_numpy(), "max_loading_percent"] = \
                100.0 * here[f"{prefix}limit_mw"].to_numpy() / here["rate_mw"].to_numpy()


def run_dc(net, branches=None) -> pd.Series:
    """pandapower DC flows of lines and transformers, indexed by ('line' | 'trafo', element
    index): MW at the from/hv end, or, given the grid's ``branches`` table (``element``,
    ``element_index``, ``from_bus``), MW flowing from each branch's ``from_bus`` to its ``to_bus``."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pp.rundcpp(net, numba=False)
    line = pd.Series(net.res_line["p_from_mw"].to_numpy(),
                     index=pd.MultiIndex.from_arrays([["line"] * len(net.line), net.line.index]))
    trafo = pd.Series(net.res_trafo["p_hv_mw"].to_numpy(),
                      index=pd.MultiIndex.from_arrays([["trafo"] * len(net.trafo), net.trafo.index]))
    flows = pd.concat([line, trafo])
    if branches is None:
        return flows
    # the end each flow above is measured at: a line's from_bus, a transformer's hv_bus
    end = pd.concat([pd.Series(net.line["from_bus"].to_numpy(), index=line.index),
                     pd.Series(net.trafo["hv_bus"].to_numpy(), index=trafo.index)])
    key = pd.MultiIndex.from_arrays([branches["element"].to_numpy(), branches["element_index"].to_numpy()])
    sign = np.where(end.reindex(key).to_numpy() == branches["from_bus"].to_numpy(), 1.0, -1.0)
    return pd.Series(flows.reindex(key).to_numpy() * sign, index=key)


def dc_check(grid, result, net=None, state: str = "peak") -> dict:
    """Run ``rundcpp`` on the allocated case; compare with ``result.branches``.

    Returns the largest flow difference (MW), the largest loading of a
    monitored branch (percent of rating) and the number of monitored branches
    above their limit (rating, or base flow where already overloaded).
    """
    net = net if net is not None else allocated_net(grid, result, state)  # a given net gets rundcpp's res_ tables
    flows = run_dc(net, grid.branches)
    pp_flow = pd.Series(flows.to_numpy(), index=grid.branches["branch_id"].to_numpy()
                        if "branch_id" in grid.branches else grid.branches.index.to_numpy())
    table = result.branches.set_index("branch_id")
    pp_flow = pp_flow.reindex(table.index)
    prefix = "" if state == "peak" else f"{state}_"
    diff = np.abs(pp_flow.to_numpy() - table[f"{prefix}flow_mw"].to_numpy())
    mon = table["monitored"].to_numpy()
    limit = table[f"{prefix}limit_mw"].to_numpy()
    over = mon & (np.abs(pp_flow.to_numpy()) > limit * (1 + 1e-6))
    with np.errstate(invalid="ignore"):
        loading = np.abs(pp_flow.to_numpy()[mon]) / table["rate_mw"].to_numpy()[mon] * 100
    # slack output: near zero when the dispatch is balanced as the model assumed
    slack = float(net.res_ext_grid["p_mw"].abs().sum()) if len(net.ext_grid) else 0.0
    return {"max_flow_diff_mw": float(np.nanmax(diff)) if len(diff) else 0.0,
            "max_loading_percent": float(np.nanmax(loading)) if len(loading) else 0.0,
            "branches_over_limit": int(over.sum()), "slack_mw": slack, "flows_mw": pp_flow}
