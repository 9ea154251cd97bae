"""Solve the allocation: lazy network rows, HiGHS (CBC fallback), duals, result.

:func:`plan` is the Python entry point::

    result = planner.plan(grid, sites, planner.Params())
    result.allocation     # GeoDataFrame, one row per site
    result.branches       # flows, ratings, loading, shadow prices
    result.buses          # candidate buses: new load, marginal value, hosting
    result.summary        # the dict written as summary.json

Lazy rows: the MILP is first solved without network rows. The flows of every
monitored branch are then computed with numpy (base flow plus sensitivity
times bus loads); the rows of violated branches — and of those above
``near_binding`` of their limit, which would likely be violated next — are
added, and the MILP is solved again, until no branch is violated. Screening
(:func:`planner.sensitivity.screen`) first removes the branches that no
allocation could overload, so only those can ever get a row.

Duals: with the binaries fixed at their MILP values the problem is an LP; its
duals give the shadow price of every binding branch, pool, demand cap and
budget, and the marginal value of one more MW of interconnection at each
site (the dual of its POI row).
"""

from __future__ import annotations

import importlib.util
import logging
import time
import warnings
from dataclasses import dataclass, field
from importlib import metadata

import geopandas as gpd
import numpy as np
import pandas as pd
import pulp

from planner import model as mdl
from planner import sensitivity as sens
from planner.errors import InfeasibleError, InputError, SolverError
from planner.model import SCALE, Params
from planner.security import Network, build_network

logger = logging.getLogger(__name__)

#: stopped by a limit with an incumbent: the best allocation found, with its gap
STATUS_OK = ("optimal", "time_limit", "solution_limit")


@dataclass
class Result:
    status: str
    summary: dict
    allocation: gpd.GeoDataFrame
    branches: pd.DataFrame
    buses: gpd.GeoDataFrame
    model: sens.DCModel = field(repr=False)
    new_load_mw: pd.Series = field(repr=False)     # bus id -> MW of new load
    dispatch_mw: pd.Series = field(repr=False)     # pandapower gen index -> MW (peak state)
    #: state name -> {"load_mw": bus -> MW counted in that state, "dispatch_mw", "load_factor", "share"}
    states: dict = field(default_factory=dict, repr=False)
    #: redispatch: one row per dispatchable generator (limits, base, reference and new output, cost)
    dispatch_table: pd.DataFrame | None = field(default=None, repr=False)


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


class _HiGHS(pulp.HiGHS):
    """PuLP's HiGHS interface, also for a MIP stopped by a node or solution limit: PuLP 3.3 has no
    status for HiGHS's ``kSolutionLimit`` (a KeyError after it has read the solution values);
    the incumbent is then kept like a time-limited one. Covered by a test that sets such a limit."""

    def findSolutionValues(self, lp):
        try:
            return super().findSolutionValues(lp)
        except KeyError:
            import highspy

            if lp.solverModel.getModelStatus() != highspy.HighsModelStatus.kSolutionLimit:
                raise
            found = np.isfinite(lp.solverModel.getInfo().objective_function_value) and \
                lp.solverModel.getInfo().primal_solution_status == 2  # kSolutionStatusFeasible
            if found:
                return pulp.constants.LpStatusOptimal, pulp.constants.LpSolutionIntegerFeasible
            return pulp.constants.LpStatusNotSolved, pulp.constants.LpSolutionNoSolutionFound


def _solver(params: Params, mip: bool, time_left: float | None, **options):
    """The solver for one solve; ``options`` go to HiGHS as they are (e.g. ``mip_max_improving_sols``)."""
    if params.solver == "highs" and importlib.util.find_spec("highspy") is not None:
        return _HiGHS(mip=mip, msg=False, timeLimit=time_left, gapRel=params.mip_gap,
                      threads=params.threads, **options)
    return _cbc(params, mip, time_left)  # asked for, or highspy is missing


def _run(prob: pulp.LpProblem, params: Params, mip: bool, deadline: float | None) -> tuple[str, float | None, float]:
    """Solve; return (status, mip_gap, solver seconds). Falls back on CBC when HiGHS fails."""
    time_left = None if deadline is None else max(deadline - time.perf_counter(), 2.0 if mip else 1.0)
    solver = _solver(params, mip, time_left)
    try:
        prob.solve(solver)
    except pulp.PulpSolverError as exc:
        if isinstance(solver, pulp.HiGHS):
            solver = _cbc(params, mip, time_left)
            try:
                prob.solve(solver)
            except pulp.PulpSolverError as exc2:
                raise SolverError(f"HiGHS and CBC both failed ({exc}; {exc2}); try another solver "
                                  "setting, a longer time limit or a smaller scenario") from None
        else:
            raise SolverError(f"CBC failed ({exc}); try solver=highs or a longer time limit") from None
    gap = None
    status = pulp.LpStatus[prob.status].lower()
    solver_s = float("nan")
    if isinstance(solver, pulp.HiGHS):
        import highspy

        solver_s = float(prob.solverModel.getRunTime())
        hs = prob.solverModel.getModelStatus()
        info = prob.solverModel.getInfo()
        if mip:
            gap = float(info.mip_gap) if np.isfinite(info.mip_gap) else None
            if gap is None and np.isfinite(info.mip_dual_bound) and np.isfinite(info.objective_function_value):
                obj, bound = info.objective_function_value, info.mip_dual_bound
                # HiGHS leaves the gap undefined when the incumbent is worth 0: report 100 % then
                gap = abs(bound - obj) / abs(obj) if abs(obj) > 1e-9 else (1.0 if abs(bound) > 1e-9 else 0.0)
        if hs == highspy.HighsModelStatus.kTimeLimit:
            status = "time_limit" if prob.sol_status == pulp.LpSolutionIntegerFeasible else "no_solution"
        elif hs == highspy.HighsModelStatus.kSolutionLimit:
            status = "solution_limit" if prob.sol_status == pulp.LpSolutionIntegerFeasible else "no_solution"
        elif hs == highspy.HighsModelStatus.kOptimal:
            status = "optimal"
    elif status == "optimal" and prob.sol_status == pulp.LpSolutionIntegerFeasible:
        status = "time_limit"
    if status == "optimal" and gap is None and mip:
        gap = 0.0
    return status, gap, solver_s


def _value(var) -> float:
    v = var.varValue if var is not None else 0.0
    return float(v) if v is not None else 0.0


# --------------------------------------------------------------------------- lazy loop


def _state_loads(built: mdl.Built) -> dict[str, np.ndarray]:
    return {state: np.array([_value(v) for v in vec]) for state, vec in built.loads.items()}


def _lazy_solve(built: mdl.Built, net: Network, params: Params, mip: bool, deadline, quiet: bool = False) -> dict:
    rounds, added, status, gap = 0, 0, "optimal", None
    solve_s = highs_s = check_s = 0.0
    while True:
        rounds += 1
        t = time.perf_counter()
        status, gap, run_s = _run(built.prob, params, mip, deadline)
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
            logger.info(f"lazy round {rounds}: {n_over} rows or branch-outage pairs over their limit, {n} rows added")
        if n == 0:
            raise SolverError("a violated network row was already in the model: numerical trouble; "
                              "try solver=cbc")
    return {"status": status, "gap": gap, "rounds": rounds, "rows_added": added, "solve_s": solve_s,
            "solver_s": highs_s, "check_s": check_s}


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


def _shadow(con) -> float:
    """Objective gain ($) per unit increase of a constraint's right-hand side (maximization)."""
    if con is None or con.pi is None:
        return 0.0
    return -float(con.pi) * SCALE


def _fix_and_price(built: mdl.Built, net: Network, params: Params, deadline) -> dict:
    for i, z in built.z.items():
        val = round(_value(z))
        z.lowBound = z.upBound = val
        z.cat = pulp.LpContinuous
        if val == 1:  # ai <= cap * z is then implied by the POI row: relax it so duals are not split
            con = built.aiup[i]
            con.constant = -2.0 * abs(con.get(z, 0.0)) - 1.0
    info = _lazy_solve(built, net, params, mip=False, deadline=deadline)
    if info["status"] != "optimal":
        raise SolverError(f"the LP with fixed binaries did not solve ({info['status']})")
    return info


# --------------------------------------------------------------------------- entry point


def _versions() -> dict:
    out = {}
    for name in ("planner", "pandapower", "pulp", "highspy", "numpy", "scipy"):
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def plan(grid, sites, params: Params | None = None, *, model: sens.DCModel | None = None,
         scenario: str | None = None) -> Result:
    """Allocate interconnect capacity among ``sites`` on ``grid``.

    ``sites`` is a GeoDataFrame as read by :func:`planner.read_sites`; it is
    mapped to buses with :func:`planner.map_sites` unless it already has a
    ``bus`` column. Progress goes to the ``planner.solve`` logger (INFO).
    """
    from planner.sites import map_sites

    params = (params or Params()).validate()
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    deadline = None if params.time_limit_s is None else t0 + params.time_limit_s
    if "bus" not in sites.columns:
        sites = map_sites(sites, grid)
    timings["map_sites"] = time.perf_counter() - t0

    t = time.perf_counter()
    slack = fixed_slack(params.supply_response)
    model = model if model is not None and model.slack == slack else sens.dc_model(grid, slack)
    cand = mdl.candidates(sites, params)
    if len(cand) == 0:
        raise InputError("no site maps to a bus of the grid with a MW figure", source="sites",
                         expected=f"sites inside grid '{grid.name}' with poi_mw, it_mw or operating_mw")
    net = build_network(model, grid, cand, params)
    screened = net.screened
    timings["sensitivities"] = time.perf_counter() - t
    logger.info(f"{len(cand)} sites at {len(cand.buses)} buses; {len(screened)} of {len(net.mon)} monitored "
                "branches could be overloaded")

    t = time.perf_counter()
    built = mdl.build(cand, params)
    redispatch_ref = None
    if params.supply_response == "redispatch":
        from planner import redispatch

        redispatch.add_dispatch(built, net, params)
    timings["build"] = time.perf_counter() - t
    if params.supply_response == "redispatch":
        t = time.perf_counter()
        redispatch_ref = _reference_dispatch(cand, net, params, deadline)
        timings["reference_dispatch"] = time.perf_counter() - t
        t = time.perf_counter() - timings["build"]
    mip = _lazy_solve(built, net, params, mip=True, deadline=deadline)
    # "solve" is the solver's own time; handing the model to it (PuLP) is counted with the build
    timings["solve"] = mip["solver_s"] if np.isfinite(mip["solver_s"]) else mip["solve_s"]
    timings["pulp_to_solver"] = mip["solve_s"] - timings["solve"]
    timings["lazy_rows"] = time.perf_counter() - t - timings["build"] - mip["solve_s"]
    if mip["status"] == "infeasible":
        raise InfeasibleError("the allocation is infeasible: " + _diagnose(cand, params, net, model))
    if mip["status"] not in STATUS_OK:
        raise SolverError(f"the solver stopped without a solution (status {mip['status']}); "
                          "try a longer time_limit_s or a larger mip_gap")
    values = _collect(built, cand)
    xs = _state_loads(built)

    t = time.perf_counter()
    lp = _fix_and_price(built, net, params, deadline)
    timings["duals"] = time.perf_counter() - t

    existing = None
    if params.check_existing_load and cand.frame["existing_mw"].sum() > 0:
        t = time.perf_counter()
        existing = _existing_capacity(cand, net, params, deadline)
        timings["existing_load_check"] = time.perf_counter() - t

    from planner.result import assemble

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
        "converted": [(round(_value(built.z[i])) == 1 if i in built.z else False) for i in range(n)],
    })
    mw = ["keep_mw", "new_mining_mw", "ai_mw"]
    out[mw] = out[mw].where(out[mw].abs() > 1e-7, 0.0)  # solver round-off
    return out


def fixed_slack(supply_response: str) -> str:
    """The slack of the DC model a supply response starts from (regional and redispatch start from
    the headroom model: its loss-balanced base case)."""
    return supply_response if supply_response in sens.SLACKS else "headroom"


def _reference_dispatch(cand: mdl.Candidates, net, params: Params, deadline) -> dict:
    """Redispatch reference: the economic dispatch of the grid without any new load (an LP)."""
    from planner import redispatch

    built = mdl.build(cand, params, objective="reference")
    redispatch.add_dispatch(built, net, params, pay=False)
    info = _lazy_solve(built, net, params, mip=False, deadline=deadline, quiet=True)
    if info["status"] != "optimal":
        raise SolverError(f"the reference dispatch without new load did not solve ({info['status']})")
    logger.info(f"reference dispatch without new load: {info['rounds']} rounds, {info['rows_added']} rows")
    return _state_loads(built)


def _existing_capacity(cand: mdl.Candidates, net: Network, params: Params, deadline) -> float:
    """Largest share of today's load the network can carry with no new load (an LP)."""
    built = mdl.build(cand, params, objective="existing")
    if params.supply_response == "redispatch":
        from planner import redispatch

        redispatch.add_dispatch(built, net, params, pay=False, cost=False)
    info = _lazy_solve(built, net, params, mip=False, deadline=deadline, quiet=True)
    if info["status"] != "optimal":
        raise SolverError(f"the existing-load check did not solve ({info['status']})")
    return float(sum(_value(v) for v in built.keep.values()))
