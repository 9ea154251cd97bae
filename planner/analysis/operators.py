"""Per operator: what each company holds, which paths its sites take, what that is worth, and
the AI MW that the network or the supply pools stop.

The per-operator table is a group-by of the allocation (one row per site), so every total
equals the sum over that operator's rows of ``allocation.csv``. The MW the network stops come
from two counterfactual solves of the same MILP (same sites, prices, demand caps, budget and
blocks): one without any network row, one without network rows and without supply pools.
At each site

* ``ai_blocked_by_network_mw`` = max(0, AI MW without network rows - AI MW of the plan),
* ``ai_blocked_by_pool_mw`` = max(0, AI MW without network rows or pools - AI MW without
  network rows),

so the network is charged first and the pools with what is left. A site that would get less AI
without the network (the MW went elsewhere) is charged nothing. Each counterfactual is the
optimum closest to the solve before it (fewest AI MW moved, solved to a zero gap), so that a tie
between sites of one price is not charged to the network or the pools.
"""

from __future__ import annotations

import dataclasses
import logging

import numpy as np
import pandas as pd
import pulp

from planner.core.errors import PlannerError, SolverError
from planner.optimization import model as mdl

logger = logging.getLogger(__name__)

#: operator name of sites and requests that have none (e.g. demand at a city centre)
NO_OPERATOR = "(no operator)"
#: status of an operator with no site on the modelled grid
NOT_ON_GRID = "no site on the modelled grid"

#: allocation columns the counterfactual adds, per site
COUNTERFACTUAL_COLUMNS = ["ai_mw_without_network", "ai_mw_without_network_or_pools", "ai_blocked_by_network_mw",
                          "ai_blocked_by_pool_mw"]

#: operators.csv, in order: column -> what it holds
COLUMNS = {
    "operator": "the company (sites without one: " + NO_OPERATOR + ")",
    "status": f"modelled, or {NOT_ON_GRID} (none of its sites maps to a bus, or the scenario's filters leave "
              "none of them)",
    "sites": "its sites and requests in the scenario (after the scenario's site filters)",
    "sites_modelled": "of which on a bus of the grid with a MW figure",
    "sites_outside_scenario": "its sites in the site files that the scenario's filters leave out",
    "poi_mw": "MW held: grid connection or site power as reported (poi_mw), sites in the scenario",
    "it_mw": "MW held: critical IT load as reported (it_mw)",
    "operating_mw": "MW held: energized or operating today as reported (operating_mw)",
    "cap_mw": "grid MW of its modelled sites, as the model sizes them",
    "existing_mw": "bitcoin mining load running today at its modelled sites",
    "mining_mw": "MW that mine in the plan",
    "ai_lease_mw": "AI MW leased to a tenant (powered shell)",
    "ai_cloud_mw": "AI MW run as its own cloud (its GPUs)",
    "ai_mw": "AI MW served (lease + cloud)",
    "value_usd": "NPV of the plan at its sites ($)",
    "capex_usd": "capex of the plan at its sites ($)",
    "usd_per_w": "value per W of what its sites run (value_usd over mining + AI MW, $/W)",
    "ai_blocked_by_network_mw": "AI MW its sites would take without the network's rows (see above)",
    "ai_blocked_by_pool_mw": "AI MW its sites would take without supply pools as well",
    "poi_mw_outside_scenario": "poi_mw of its sites the scenario's filters leave out",
}


def _solve(built: mdl.Built, params: mdl.Params, what: str) -> str:
    from planner.optimization.solve import STATUS_OK, run_once, solver_deadline

    status, _, _ = run_once(built, params, True, solver_deadline(params))
    if status not in STATUS_OK:
        raise SolverError(f"the counterfactual solve {what} stopped without a solution (status {status})")
    return status


#: tie-break score per AI MW moved away from the reference in a counterfactual solve: larger than any
#: difference of two tie-break weights (1 to 2, :mod:`planner.optimization.tiebreak`), so that among allocations of
#: equal NPV the closest to the reference comes first and the tie-break order second
MOVED_WEIGHT = 4.0


def closest(solved, ref: np.ndarray, what: str, pools: bool) -> tuple[np.ndarray, float]:
    """The end state's AI MW per candidate of an optimum of the plan's model without network rows
    (and, ``pools=False``, without supply pools) that is closest to ``ref`` (AI MW per candidate),
    and its objective ($, on the plan's basis: :attr:`planner.optimization.solve.Solved.offset_usd`). The model
    is the plan's (:func:`planner.optimization.model.build` over its periods, with its supply response's block:
    under redispatch the generators' limits and costs stay, only the branch limits go). Ties are
    common (sites at one price, or at one bus): the NPV is solved first (to a zero gap), then among
    the allocations of equal NPV the tie-break stage (:func:`planner.optimization.solve.break_ties`) takes the
    one with the fewest AI MW moved away from ``ref`` (``sum |ai - ref|``), and among those the
    documented order; so the MW a site is charged are the ones the relaxation needs, not a tie
    broken another way."""
    from planner.optimization.solve import (
        STATUS_OK,
        allocation_mw,
        break_ties,
        dispatch_scores,
        end_state,
        fix_binaries,
        polish,
        solver_deadline,
        tie_columns,
    )

    params = dataclasses.replace(solved.params, mip_gap=0.0)
    tl = solved.timeline
    if not pools:
        params = dataclasses.replace(params, supply_pools_mw={})
        tl = dataclasses.replace(tl, pools_mw={})
    built = mdl.build(solved.cand, params, tl, solved.built.values)
    params.supply.block(built, solved.net, params)
    view, _ = end_state(built, None)
    moved = []
    for i, var in view.ai.items():  # d >= |ai - ref|, free in the NPV stage
        d = built.prob.add_variable(f"moved_{i}", 0)
        built.prob += pulp.LpConstraint(pulp.LpAffineExpression([(d, 1.0), (var, -1.0)]), pulp.LpConstraintGE,
                                        f"moved_up_{i}", -float(ref[i]))
        built.prob += pulp.LpConstraint(pulp.LpAffineExpression([(d, 1.0), (var, 1.0)]), pulp.LpConstraintGE,
                                        f"moved_down_{i}", float(ref[i]))
        moved.append((d, -MOVED_WEIGHT))
    value = built.prob.objective.copy()
    _solve(built, params, what)
    columns = tie_columns(built, solved.cand)
    tie = break_ties(built, None, params, solver_deadline(params), columns, extra=moved)
    if tie.status not in STATUS_OK:
        raise SolverError(f"the counterfactual solve {what} stopped in its tie-break (status {tie.status})")
    fix_binaries(built, built.live or None)
    polish(built, None, params, columns, extra=moved, dispatch=dispatch_scores(built, solved.net))
    return (allocation_mw(view, solved.cand)["ai_mw"].to_numpy(float),
            float(pulp.value(value)) * mdl.SCALE + solved.offset_usd)


def counterfactual(solved, ai_mw) -> tuple[pd.DataFrame, dict]:
    """AI MW per row of the plan's sites (as :func:`planner.plan` got them) in the two
    counterfactual solves of the plan's model (``solved``: :class:`planner.optimization.solve.Solved`), each the
    optimum closest to the one before it (:func:`closest`): without network rows (closest to the
    plan's ``ai_mw``, per row of the sites), then without network rows or supply pools. Also their
    totals and objectives. A timeline's are those of its end state (the last year)."""
    cand = solved.cand
    rows = cand.frame["row"].to_numpy()
    ref = np.asarray(ai_mw, float)[rows]
    out = pd.DataFrame(index=pd.RangeIndex(len(ai_mw)))
    totals = {"ai_mw": round(float(ref.sum()), 3)}
    for name, pools in (("ai_mw_without_network", True), ("ai_mw_without_network_or_pools", False)):
        what = name.removeprefix("ai_mw_").replace("_", " ")
        ref, objective = closest(solved, ref, what, pools)
        col = np.zeros(len(ai_mw))
        col[rows] = ref
        out[name] = col
        totals[name] = round(float(ref.sum()), 3)
        totals[f"objective_usd_{name.removeprefix('ai_mw_')}"] = round(objective, 0)
        logger.info(f"counterfactual {what}: {ref.sum():,.0f} MW of AI")
    return out, totals


def add_counterfactual(alloc: pd.DataFrame, cf: pd.DataFrame) -> None:
    """Put the counterfactual AI MW and the MW blocked by the network and the pools on ``alloc``
    (rows aligned); rows not modelled get 0."""
    ai = alloc["ai_mw"].fillna(0).to_numpy(float)
    free_net = cf["ai_mw_without_network"].to_numpy(float)
    free_all = cf["ai_mw_without_network_or_pools"].to_numpy(float)
    alloc["ai_mw_without_network"] = free_net
    alloc["ai_mw_without_network_or_pools"] = free_all
    alloc["ai_blocked_by_network_mw"] = np.round(np.maximum(free_net - ai, 0.0), 6)
    alloc["ai_blocked_by_pool_mw"] = np.round(np.maximum(free_all - free_net, 0.0), 6)


def _operator(frame: pd.DataFrame) -> pd.Series:
    if "operator" not in frame:
        return pd.Series(NO_OPERATOR, index=frame.index)
    name = frame["operator"].astype("string").fillna("").str.strip()
    return name.mask(name == "", NO_OPERATOR).astype(str)


def table(alloc: pd.DataFrame, outside: pd.DataFrame | None = None) -> pd.DataFrame:
    """operators.csv: one row per operator (see :data:`COLUMNS`). ``alloc``: the allocation (one row
    per site and request); ``outside``: the sites of the site files that the scenario's filters left
    out (columns operator, poi_mw), so operators with no site in the scenario are listed too."""
    a = alloc.copy()
    a["operator"] = _operator(a)
    num = [c for c in ("poi_mw", "it_mw", "operating_mw", "cap_mw", "existing_mw", "mining_mw", "ai_lease_mw",
                       "ai_cloud_mw", "ai_mw", "value_usd", "capex_usd", *COUNTERFACTUAL_COLUMNS[2:]) if c in a]
    for c in num:
        a[c] = pd.to_numeric(a[c], errors="coerce")
    a["modelled"] = a["use"].astype(str) != "not_modelled"
    g = a.groupby("operator", sort=False)
    out = g[num].sum(min_count=0)
    out.insert(0, "sites", g.size())
    out.insert(1, "sites_modelled", g["modelled"].sum().astype(int))
    if outside is not None and len(outside):
        o = outside.copy()
        o["operator"] = _operator(o)
        og = o.groupby("operator")
        out = out.join(og.size().rename("sites_outside_scenario"), how="outer")
        poi = pd.to_numeric(o["poi_mw"], errors="coerce") if "poi_mw" in o else pd.Series(np.nan, index=o.index)
        out = out.join(poi.groupby(o["operator"]).sum(min_count=1).rename("poi_mw_outside_scenario"), how="left")
    for c in ("sites", "sites_modelled", "sites_outside_scenario"):
        out[c] = out[c].fillna(0).astype(int) if c in out else 0
    for c in num:
        out[c] = out[c].fillna(0.0)
    run_mw = out[[c for c in ("mining_mw", "ai_mw") if c in out]].sum(axis=1).to_numpy(float)
    out["usd_per_w"] = np.where(run_mw > 1e-6, out["value_usd"].to_numpy(float) / np.maximum(run_mw, 1e-9) / 1e6,
                                np.nan)
    out["status"] = np.where(out["sites_modelled"] > 0, "modelled", NOT_ON_GRID)
    out = out.reset_index().rename(columns={"index": "operator"})
    # modelled operators by value, then the others by name; no operator last
    out["_last"] = out["operator"] == NO_OPERATOR
    out = out.sort_values(["_last", "status", "value_usd", "operator"], ascending=[True, True, False, True])
    return out[[c for c in COLUMNS if c in out]].reset_index(drop=True)


def summary_block(ops: pd.DataFrame) -> dict:
    """summary.json's ``operators``: per modelled operator its row (MW by path, value, $/W, MW
    blocked), and the operators with no site on the modelled grid."""
    def num(v):
        return None if v is None or not np.isfinite(v) else round(float(v), 3)

    keep = [c for c in ops.columns if c not in ("operator", "status")]
    modelled = ops[ops["status"] == "modelled"]
    return {
        "by_operator": {r["operator"]: {c: (int(r[c]) if c.startswith("sites") else num(r[c])) for c in keep}
                        for _, r in modelled.iterrows()},
        "not_on_modelled_grid": ops.loc[ops["status"] != "modelled", "operator"].tolist(),
    }


def attach(prep, result, counterfactual_solves: bool = True) -> pd.DataFrame:
    """Add the operator view to a scenario's result: the counterfactual columns on
    ``result.allocation``, ``result.operators`` and ``result.summary.operators`` (with its
    ``counterfactual`` block: the AI totals of the two solves, or why they were not run: asked
    not to, a timeline, redispatch, or a solve that failed; the table is written either way).
    Returns the operators table."""
    import time

    alloc = result.allocation
    if "operator" in alloc:  # one spelling per operator in allocation.csv and operators.csv
        alloc["operator"] = alloc["operator"].astype("string").str.strip().astype(object)
    reason = None
    if not counterfactual_solves:
        reason = "not asked for"
    elif getattr(result, "solved", None) is None:
        reason = "the result holds no solved model"
    block: dict = {"run": False}
    if reason is None:
        t = time.perf_counter()
        try:
            cf, totals = counterfactual(result.solved, alloc["ai_mw"].fillna(0).to_numpy(float))
        except PlannerError as exc:
            reason = f"failed: {exc}"
            logger.warning(f"the per-operator counterfactual solves {reason}; operators.csv has no stopped MW")
        else:
            add_counterfactual(alloc, cf)
            block = {"run": True, **totals}
            timings = result.summary.timings_s
            if timings is not None:
                timings["counterfactual"] = round(time.perf_counter() - t, 4)
                if "total" in timings:
                    timings["total"] = round(timings["total"] + timings["counterfactual"], 4)
    if reason is not None:
        block["reason"] = reason
    ops = table(alloc, getattr(prep, "outside_sites", None))
    result.operators = ops
    result.summary.operators = {**summary_block(ops), "counterfactual": block}
    return ops
