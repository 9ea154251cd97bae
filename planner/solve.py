"""Solve the allocation: lazy network rows, HiGHS (CBC fallback), duals, result.

:func:`plan` is the Python entry point::

    result = planner.plan(grid, sites, planner.Params())
    result.allocation     # GeoDataFrame, one row per site
    result.branches       # flows, ratings, loading, shadow prices
    result.buses          # candidate buses: new load, marginal value, hosting
    result.summary        # the dict written as summary.json

Lazy rows: the problem is handed to HiGHS once (:class:`planner.live.LiveModel`)
and first solved without network rows, as an LP (the binaries relaxed). The flows
of every monitored branch are then computed with numpy (base flow plus
sensitivity times bus loads); the rows of violated branches — and of those above
``near_binding`` of their limit, which would likely be violated next — are added
to the live model, and the LP is re-solved warm, until no branch is violated.
Then the MILP is solved once with those rows (and again only if its allocation
violates a row the relaxation did not need). Screening
(:func:`planner.sensitivity.screen`) first removes the branches that no
allocation could overload, so only those can ever get a row. With
``solver=cbc`` every round solves the MILP through PuLP.

Duals: with the binaries fixed at their MILP values the problem is an LP; its
duals give the shadow price of every binding branch, pool, demand cap and
budget, and the marginal value of one more MW of interconnection at each
site (the dual of its POI row).
"""

from __future__ import annotations

import dataclasses
import functools
import importlib.util
import logging
import time
import warnings
from dataclasses import dataclass
from importlib import metadata

import numpy as np
import pandas as pd
import pulp

from planner import model as mdl
from planner import sensitivity as sens
from planner.errors import InfeasibleError, InputError, SolverError
from planner.live import LiveModel
from planner.model import Params
from planner.result import Result, assemble
from planner.security import Network, build_network

logger = logging.getLogger(__name__)

#: stopped by a limit with an incumbent: the best allocation found, with its gap
STATUS_OK = ("optimal", "time_limit", "solution_limit")


@dataclass
class LazySolve:
    """How a lazy solve went (:func:`_lazy_solve`)."""

    status: str
    gap: float | None  # MIP gap of the incumbent (None for an LP)
    rounds: int  # solves, LP and MILP
    lp_rounds: int  # of which LP-relaxation solves (the MILP's warm-up)
    rows_added: int  # network rows added lazily
    solve_s: float  # wall time of the solves, hand-over to HiGHS included
    solver_s: float  # HiGHS's own time (NaN for CBC)
    check_s: float  # flow checks between rounds


#: candidate columns the economics set; a plan whose candidates differ from the last only in these
#: re-solves the last live model warm (:class:`Warm`)
PRICE_COLUMNS = ["v_keep_usd_per_mw", "v_new_usd_per_mw", "v_ai_usd_per_mw", "capex_new_usd_per_mw",
                 "capex_ai_usd_per_mw", "ai_lead_months", "ai_income_usd_per_mw_year", "v_cloud_usd_per_mw",
                 "capex_cloud_usd_per_mw"]


@dataclass
class Warm:
    """A solved plan kept for the next one that differs from it only in prices (a sweep).

    Pass the same :class:`Warm` (empty at first) to successive :func:`plan` calls. When the grid and
    the sites are the same objects, every setting but the economics is equal, and the candidates
    differ only in their values and capex (:data:`PRICE_COLUMNS`), the next plan changes the
    objective and budget-row coefficients of the live model in place, frees the binaries that were
    fixed for the duals, and re-solves warm with the network rows found so far (rows are never
    wrong, only sometimes unneeded). Anything else builds from scratch, and the new plan is kept.
    Sensitivities, screening, the redispatch reference dispatch and the existing-load check do
    not depend on prices and are reused as they are.
    """

    grid: object = None
    sites: object = None
    params: Params | None = None
    model: sens.DCModel | None = None
    cand: mdl.Candidates | None = None
    net: object = None
    built: mdl.Built | None = None
    reference: dict | None = None   # redispatch: the dispatch without new load
    existing: float | None = None   # the existing-load check
    repriced: int = 0               # plans solved warm with this object

    def keep(self, **parts) -> None:
        for k, v in parts.items():
            setattr(self, k, v)


def _reprice(warm: Warm, grid, sites, cand: mdl.Candidates, params: Params) -> bool:
    """Put the prices of ``params`` on the plan kept in ``warm`` when only prices changed (see
    :class:`Warm`); return whether it did."""
    if warm.built is None or warm.grid is not grid or warm.sites is not sites:
        return False
    if dataclasses.replace(params, economics=warm.params.economics) != warm.params:
        return False
    old = warm.cand
    if not (np.array_equal(old.buses, cand.buses) and np.array_equal(old.bus_of_site, cand.bus_of_site)
            and (old.column_region is None) == (cand.column_region is None)
            and (old.column_region is None or np.array_equal(old.column_region, cand.column_region))
            and old.frame.drop(columns=PRICE_COLUMNS).equals(cand.frame.drop(columns=PRICE_COLUMNS))):
        return False
    built, f = warm.built, cand.frame
    live = built.live or None
    # free the binaries fixed for the last duals, and the ai <= cap * z rows relaxed with them
    must = f["ai_min_mw"].to_numpy(float)
    for i, z in built.z.items():
        z.cat = pulp.LpInteger
        z.lowBound, z.upBound = (1 if must[i] > 0 else 0), 1
        built.aiup[i].constant = 0.0
    path_binaries = [y for ys in built.paths.values() for y in ys.values()]
    for y in path_binaries:
        y.cat = pulp.LpInteger
        y.lowBound, y.upBound = 0, 1
    terms: dict[str, list] = {}
    for v, c in mdl.site_objective(f, built.keep, built.new, built.ai, built.cloud):
        terms[v.name] = [v, c]
    if params.supply_response == "redispatch":
        from planner import redispatch

        warm.net.reweight(params)
        for v, c in redispatch.dispatch_objective(built, warm.net, params):
            terms.setdefault(v.name, [v, 0.0])[1] += c
    capex = mdl.capex_terms(f, built.new, built.ai, built.cloud)
    if live is not None:
        live.set_bounds([*built.z.values(), *path_binaries])
        live.update_rows(built.aiup.values())
        live.set_costs([v for v, _ in terms.values()], [c for _, c in terms.values()])
        if built.budget is not None:
            live.set_coefficients(built.budget, capex)
    else:  # CBC solves the PuLP problem itself
        built.prob.setObjective(pulp.LpAffineExpression([tuple(t) for t in terms.values()]))
        if built.budget is not None:
            for v, c in capex:
                built.budget.expr[v] = c
    warm.cand, warm.params = cand, params
    warm.repriced += 1
    return True


# --------------------------------------------------------------------------- solver


def _cbc(params: Params, mip: bool, time_left: float | None):
    """CBC: a system/`pulp[cbc]` binary through COIN_CMD, else the binary PuLP bundles."""
    kw = {"mip": mip, "msg": False, "timeLimit": time_left, "gapRel": params.mip_gap, "threads": params.threads}
    coin = pulp.COIN_CMD(**kw)
    if coin.available():
        return coin
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return pulp.PULP_CBC_CMD(**kw)


def _highs_options(params: Params) -> dict:
    """HiGHS options of every live model of a run (a test adds ``mip_max_improving_sols``)."""
    return {"threads": params.threads, "mip_rel_gap": params.mip_gap}


def _live(built: mdl.Built, params: Params) -> LiveModel | None:
    """The live HiGHS model of ``built`` (made on first use), or None when CBC solves it: asked
    for, highspy missing, or HiGHS failed on this problem before."""
    if built.live is None and params.solver == "highs" and importlib.util.find_spec("highspy") is not None:
        built.live = LiveModel(built.prob, _highs_options(params))
    return built.live or None


def _run(built: mdl.Built, params: Params, mip: bool, deadline: float | None) -> tuple[str, float | None, float]:
    """Solve once; return (status, mip_gap, solver seconds). HiGHS solves the live model (only the
    rows added since its last solve are handed over); CBC, when asked for or when HiGHS fails,
    solves the PuLP problem from scratch."""
    time_left = None if deadline is None else max(deadline - time.perf_counter(), 2.0 if mip else 1.0)
    live = _live(built, params)
    if live is not None:
        try:
            info = live.run(mip, time_left)
            return info.status, info.gap, info.solver_s
        except pulp.PulpSolverError as exc:
            logger.warning(f"{exc}; solving with CBC instead")
            built.live = False  # CBC from now on
    prob = built.prob
    try:
        prob.solve(_cbc(params, mip, time_left))
    except pulp.PulpSolverError as exc:
        if built.live is False:
            raise SolverError(f"HiGHS and CBC both failed ({exc}); try another solver setting, a longer "
                              "time limit or a smaller scenario") from None
        raise SolverError(f"CBC failed ({exc}); try solver=highs, a longer time limit or a smaller "
                          "scenario") from None
    status = pulp.LpStatus[prob.status].lower()
    gap = None
    if status == "optimal" and prob.sol_status == pulp.LpSolutionIntegerFeasible:
        status = "time_limit"
    if status == "optimal" and mip:
        gap = 0.0
    return status, gap, float("nan")


def _value(var) -> float:
    v = var.varValue if var is not None else 0.0
    return float(v) if v is not None else 0.0


# --------------------------------------------------------------------------- lazy loop


def _state_loads(built: mdl.Built) -> dict[str, np.ndarray]:
    return {state: np.array([_value(v) for v in vec]) for state, vec in built.loads.items()}


def _lazy_solve(built: mdl.Built, net: Network, params: Params, mip: bool, deadline,
                quiet: bool = False) -> LazySolve:
    """Solve with lazy network rows until no monitored branch (or branch-outage pair) is over its
    limit. A MILP on the live HiGHS model first converges its LP relaxation (warm re-solves after
    each batch of rows), then solves the MILP once with those rows, and again only if the integer
    allocation still violates a row."""
    rounds = lp_rounds = added = 0
    status, gap = "optimal", None
    solve_s = highs_s = check_s = 0.0
    phases = [False, True] if mip and built.z and _live(built, params) is not None else [mip]
    for phase_mip in phases:
        while True:
            rounds += 1
            lp_rounds += not phase_mip
            t = time.perf_counter()
            status, gap, run_s = _run(built, params, phase_mip, deadline)
            solve_s += time.perf_counter() - t
            highs_s += run_s
            if status not in STATUS_OK:
                break
            t = time.perf_counter()
            todo, n_over = net.violations(_state_loads(built), params.near_binding)
            check_s += time.perf_counter() - t
            if n_over == 0:
                break
            if rounds >= params.max_lazy_rounds:
                raise SolverError(f"network rows still violated after {rounds} lazy rounds; "
                                  "raise max_lazy_rounds")
            n = sum(mdl.add_rows(built, keys, coef, base, limit, state) for keys, coef, base, limit, state in todo)
            added += n
            if not quiet:
                logger.info(f"lazy round {rounds} ({'MILP' if phase_mip else 'LP'}): {n_over} rows or "
                            f"branch-outage pairs over their limit, {n} rows added")
            if n == 0:
                raise SolverError("a violated network row was already in the model: numerical trouble; "
                                  "try solver=cbc")
        if status == "infeasible" or (phase_mip == mip and status not in STATUS_OK):
            break
    return LazySolve(status=status, gap=gap, rounds=rounds, lp_rounds=lp_rounds, rows_added=added,
                     solve_s=solve_s, solver_s=highs_s, check_s=check_s)


def _diagnose(cand: mdl.Candidates, params: Params, net: Network, model: sens.DCModel) -> str:
    """Name the constraints in conflict. Only must-serve AI (``ai_min_mw``) can make the
    model infeasible: without it, building nothing is always a solution."""
    f = cand.frame
    must = f["ai_min_mw"].to_numpy(float)
    region = f["region"].to_numpy()
    names = f["site_id"].to_numpy()
    causes = []
    need = np.maximum(must - f["existing_mw"].to_numpy(float), 0.0)
    for r, pool in params.supply_pools_mw.items():
        here = (region == r) & (must > 0)
        if need[here].sum() > pool + 1e-6:
            causes.append(f"must-serve AI in region {r} ({', '.join(names[here])}) needs "
                          f"{need[here].sum():,.0f} MW of new supply but the region's supply pool has "
                          f"{pool:,.0f} MW")
    for r, cap in params.ai_demand_mw.items():
        here = (region == r) & (must > 0)
        if must[here].sum() > cap + 1e-6:
            causes.append(f"must-serve AI in region {r} is {must[here].sum():,.0f} MW, above the region's "
                          f"AI demand of {cap:,.0f} MW")
    if params.max_capex_usd is not None:
        capex = float((must * f["capex_ai_usd_per_mw"].to_numpy(float)).sum())
        if capex > params.max_capex_usd + 1e-6:
            causes.append(f"must-serve AI costs ${capex:,.0f} of capex, above max_capex_usd = "
                          f"${params.max_capex_usd:,.0f}")
    for st in net.states:
        n0 = st.n0
        if n0.sens is None:  # redispatch: generators may relieve any branch; no quick test
            break
        load = np.bincount(cand.bus_of_site, weights=must * st.share["ai"], minlength=len(cand.buses))
        flow = n0.flows(load)
        over = np.flatnonzero(np.abs(flow) > n0.limit * (1 + 1e-6) + 1e-6)
        if len(over):
            worst = over[np.argmax(np.abs(flow[over]) / n0.limit[over])]
            causes.append(f"the must-serve AI loads alone overload {len(over)} branch(es) of the grid "
                          f"({st.name}); worst: branch {model.branch_ids[n0.branch[worst]]} at "
                          f"{abs(flow[worst]) / n0.limit[worst] * 100:,.0f} % of its limit")
            break
    if not causes:
        ids = ", ".join(names[must > 0]) or "none"
        causes.append(f"the must-serve AI sites ({ids}) cannot all be served within the supply pools, "
                      "budget and branch limits together")
    return "; ".join(causes) + ". Lower or drop must_serve, or raise the pool, budget or limits in conflict"


# --------------------------------------------------------------------------- duals


def _fix_and_price(built: mdl.Built, net: Network, params: Params) -> LazySolve:
    """Fix the binaries at the MILP's values and re-solve the LP for duals. It runs to its end, without
    the solver's time limit: a MILP stopped by the limit keeps its allocation (a run whose MILP used up
    the limit would otherwise lose it here, at its pricing step)."""
    relaxed = []
    for i, z in built.z.items():
        val = round(_value(z))
        z.lowBound = z.upBound = val
        z.cat = pulp.LpContinuous
        if val == 1:  # ai <= cap * z is then implied by the POI row: relax it so duals are not split
            con = built.aiup[i]
            con.constant = -2.0 * abs(con.get(z, 0.0)) - 1.0
            relaxed.append(con)
    path_binaries = [y for ys in built.paths.values() for y in ys.values()]
    for y in path_binaries:
        y.lowBound = y.upBound = round(_value(y))
        y.cat = pulp.LpContinuous
    if built.live:
        built.live.set_bounds([*built.z.values(), *path_binaries])
        built.live.update_rows(relaxed)
    info = _lazy_solve(built, net, params, mip=False, deadline=None)
    if info.status != "optimal":
        raise SolverError(f"the LP with fixed binaries did not solve ({info.status})")
    return info


# --------------------------------------------------------------------------- entry point


def _versions() -> dict:
    return dict(_installed_versions())


@functools.lru_cache(maxsize=1)
def _installed_versions() -> dict:
    out = {}
    for name in ("planner", "pandapower", "pulp", "highspy", "numpy", "scipy"):
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def begin(grid, sites, params: Params) -> tuple:
    """The start of a plan (single period or timeline): the sites mapped to buses unless they have a
    ``bus`` column, the timings dict (with ``map_sites``), the start time and the deadline that
    ``params.time_limit_s`` sets (None: no limit)."""
    from planner.sites import map_sites

    t0 = time.perf_counter()
    deadline = solver_deadline(params)
    if "bus" not in sites.columns:
        sites = map_sites(sites, grid)
    return sites, {"map_sites": time.perf_counter() - t0}, t0, deadline


def solver_deadline(params: Params) -> float | None:
    """When the solver's time limit (``params.time_limit_s``) runs out, counted from now (None: never)."""
    return None if params.time_limit_s is None else time.perf_counter() + params.time_limit_s


def plan(grid, sites, params: Params | None = None, *, model: sens.DCModel | None = None,
         scenario: str | None = None, warm: Warm | None = None) -> Result:
    """Allocate interconnect capacity among ``sites`` on ``grid``.

    ``sites`` is a GeoDataFrame as read by :func:`planner.read_sites`; it is
    mapped to buses with :func:`planner.map_sites` unless it already has a
    ``bus`` column. ``warm``: a :class:`Warm` kept across calls, so that a plan
    that changes only prices re-solves the last model warm. Progress goes to the
    ``planner.solve`` logger (INFO).
    """

    params = (params or Params()).validate()
    sites, timings, t0, deadline = begin(grid, sites, params)

    t = time.perf_counter()
    slack = fixed_slack(params.supply_response)
    cand = mdl.candidates(sites, params)
    if len(cand) == 0:
        raise InputError("no site maps to a bus of the grid with a MW figure", source="sites",
                         expected=f"sites inside grid '{grid.name}' with poi_mw, it_mw or operating_mw")
    repriced = warm is not None and _reprice(warm, grid, sites, cand, params)
    if repriced:
        model, net, built = warm.model, warm.net, warm.built
        redispatch_ref, existing = warm.reference, warm.existing
        timings["reprice"] = time.perf_counter() - t
        t = time.perf_counter()
        logger.info("only prices changed: the last model re-solves warm with its new coefficients")
    else:
        model = model if model is not None and model.slack == slack else sens.dc_model(grid, slack)
        net = build_network(model, grid, cand, params)
        timings["sensitivities"] = time.perf_counter() - t
        logger.info(f"{len(cand)} sites at {len(cand.buses)} buses; {len(net.screened)} of {len(net.mon)} "
                    "monitored branches could be overloaded")

        # the time limit is the solver's: it runs from here, after the network (e.g. an N-1 LODF pass)
        deadline = solver_deadline(params)
        t = time.perf_counter()
        built = mdl.build(cand, params)
        redispatch_ref = existing = None
        if params.supply_response == "redispatch":
            from planner import redispatch

            redispatch.add_dispatch(built, net, params)
        timings["build"] = time.perf_counter() - t
        if params.supply_response == "redispatch":
            t = time.perf_counter()
            redispatch_ref = _reference_dispatch(cand, net, params, deadline)
            timings["reference_dispatch"] = time.perf_counter() - t
        t = time.perf_counter()
    mip = _lazy_solve(built, net, params, mip=True, deadline=deadline)
    # "solve" is the solver's own time; handing the model to it (PuLP) is counted with the build
    timings["solve"] = mip.solver_s if np.isfinite(mip.solver_s) else mip.solve_s
    timings["pulp_to_solver"] = mip.solve_s - timings["solve"]
    timings["lazy_rows"] = time.perf_counter() - t - mip.solve_s
    if mip.status == "infeasible":
        raise InfeasibleError("the allocation is infeasible: " + _diagnose(cand, params, net, model))
    if mip.status not in STATUS_OK:
        raise SolverError(f"the solver stopped without a solution (status {mip.status}); "
                          "try a longer time_limit_s or a larger mip_gap")
    values = _collect(built, cand)
    xs = _state_loads(built)

    t = time.perf_counter()
    lp = _fix_and_price(built, net, params)
    timings["duals"] = time.perf_counter() - t

    if not repriced and params.check_existing_load and cand.frame["existing_mw"].sum() > 0:
        t = time.perf_counter()
        existing = _existing_capacity(cand, net, params)
        timings["existing_load_check"] = time.perf_counter() - t
    if warm is not None and not repriced:
        warm.keep(grid=grid, sites=sites, params=params, model=model, cand=cand, net=net, built=built,
                  reference=redispatch_ref, existing=existing)

    result = assemble(grid, sites, model, cand, built, net, values, mip, lp, existing, params,
                      scenario=scenario, xs=xs)
    result.summary["network"]["supply_response"] = params.supply_response
    if redispatch_ref is not None:
        from planner import redispatch

        block, table = redispatch.report(net, params, xs, redispatch_ref, values, cand)
        result.summary["redispatch"] = block
        result.summary["objective_usd"] = round(result.summary["objective_usd"] + block["supply_margin_npv_usd"], 0)
        result.dispatch_table = table
    timings["total"] = time.perf_counter() - t0
    result.summary["timings_s"] = {k: round(v, 4) for k, v in timings.items()}
    result.summary["versions"] = _versions()
    return result


def _collect(built: mdl.Built, cand: mdl.Candidates) -> pd.DataFrame:
    n = len(cand)
    out = pd.DataFrame({
        "keep_mw": [(_value(built.keep[i]) if i in built.keep else 0.0) for i in range(n)],
        "new_mining_mw": [(_value(built.new[i]) if i in built.new else 0.0) for i in range(n)],
        "ai_mw": [(_value(built.ai[i]) if i in built.ai else 0.0) for i in range(n)],
        "ai_cloud_mw": [(_value(built.cloud[i]) if i in built.cloud else 0.0) for i in range(n)],
    })
    mw = ["keep_mw", "new_mining_mw", "ai_mw", "ai_cloud_mw"]
    out[mw] = out[mw].where(out[mw].abs() > 1e-7, 0.0)  # solver round-off
    # a site with a binary converts when it is 1 (then ai >= its block > 0); one without, when it gets AI
    out["converted"] = [(round(_value(built.z[i])) == 1) if i in built.z else bool(out["ai_mw"].iat[i] > 0)
                        for i in range(n)]
    return out


def fixed_slack(supply_response: str) -> str:
    """The slack of the DC model a supply response starts from (regional and redispatch start from
    the headroom model: its loss-balanced base case)."""
    return supply_response if supply_response in sens.SLACKS else "headroom"


def _reference_dispatch(cand: mdl.Candidates, net, params: Params, deadline, built: mdl.Built | None = None) -> dict:
    """Redispatch reference: the economic dispatch of the grid without any new load (an LP).
    ``built``: the model without site variables whose load vectors name every state of ``net``
    (a timeline's years); default: :func:`planner.model.build` ``(objective="reference")``."""
    from planner import redispatch

    built = built if built is not None else mdl.build(cand, params, objective="reference")
    redispatch.add_dispatch(built, net, params, pay=False)
    info = _lazy_solve(built, net, params, mip=False, deadline=deadline, quiet=True)
    if info.status != "optimal":
        raise SolverError(f"the reference dispatch without new load did not solve ({info.status})")
    logger.info(f"reference dispatch without new load: {info.rounds} rounds, {info.rows_added} rows")
    return _state_loads(built)


def _existing_capacity(cand: mdl.Candidates, net: Network, params: Params) -> float:
    """Largest share of today's load the network can carry with no new load (an LP, run to its end
    like the pricing LP)."""
    built = mdl.build(cand, params, objective="existing")
    if params.supply_response == "redispatch":
        from planner import redispatch

        redispatch.add_dispatch(built, net, params, pay=False, cost=False)
    info = _lazy_solve(built, net, params, mip=False, deadline=None, quiet=True)
    if info.status != "optimal":
        raise SolverError(f"the existing-load check did not solve ({info.status})")
    return float(sum(_value(v) for v in built.keep.values()))
