"""Solve the allocation: lazy network rows, HiGHS (CBC fallback), duals, result.

:func:`plan` is the Python entry point::

    result = planner.plan(grid, sites, planner.Params())
    result.allocation     # GeoDataFrame, one row per site
    result.branches       # flows, ratings, loading, shadow prices
    result.buses          # candidate buses: new load, marginal value, hosting
    result.summary        # a Summary: result.summary.to_dict() is summary.json

Lazy rows: the problem is handed to HiGHS once (:class:`planner.optimization.live.LiveModel`)
and first solved without network rows, as an LP (the binaries relaxed). The flows
of every monitored branch are then computed with numpy (base flow plus
sensitivity times bus loads); the rows of violated branches — and of those above
``near_binding`` of their limit, which would likely be violated next — are added
to the live model (at most ``ROWS_PER_ROUND`` a round, the most violated first),
and the LP is re-solved warm, until no branch is violated.
Then the MILP is solved with the rows the relaxation holds within ``PARK_SLACK_MW``
of their limits (the others parked: left in the model with free bounds, which
HiGHS's presolve drops), and again only if its allocation is over a row it was
not handed. Screening
(:func:`planner.network.sensitivity.screen`) first removes the branches that no
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
import logging
import time
import warnings
from dataclasses import dataclass
from importlib import metadata

import numpy as np
import pandas as pd
import pulp

from planner.core.errors import InfeasibleError, InputError, SolverError
from planner.network import sensitivity as sens
from planner.network.security import Network
from planner.optimization import model as mdl
from planner.optimization import periods, tiebreak
from planner.optimization.live import LiveModel
from planner.optimization.model import Params
from planner.optimization.periods import Timeline
from planner.optimization.result import Result, assemble

logger = logging.getLogger(__name__)

#: MW below this (a watt) are the solver's round-off, reported as 0
ZERO_MW = 1e-6

#: stopped by a limit with an incumbent: the best allocation found, with its gap
STATUS_OK = ("optimal", "time_limit", "solution_limit")


@dataclass
class LazySolve:
    """How a lazy solve went (:func:`lazy_solve`)."""

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
    not depend on prices and are reused as they are. The last plan's allocation (every column of
    the live model) is handed to the next MILP as a start: prices change the objective and the
    budget row only, so the solver usually begins with an incumbent (HiGHS checks the start and
    drops one the new budget rules out). The answer does not depend on it: the MILP is solved to
    optimality and the tie-break decides among equal optima.
    """

    grid: object = None
    sites: object = None
    params: Params | None = None
    timeline: Timeline | None = None  # the periods of the kept plan (one for a single period)
    model: sens.DCModel | None = None
    cand: mdl.Candidates | None = None
    net: object = None
    built: mdl.Built | None = None
    reference: dict | None = None   # redispatch: the dispatch without new load
    existing: float | None = None   # the existing-load check
    repriced: int = 0               # plans solved warm with this object
    start: np.ndarray | None = None  # the last plan's value of every live-model column (HiGHS)

    def keep(self, **parts) -> None:
        for k, v in parts.items():
            setattr(self, k, v)


def _same_timeline(a: Timeline | None, b: Timeline) -> bool:
    if a is None or a.years != b.years or a.allow_removal != b.allow_removal:
        return False
    for name in ("load_factor", "budget_usd"):
        x, y = getattr(a, name), getattr(b, name)
        if (x is None) != (y is None) or (x is not None and not np.array_equal(x, y)):
            return False
    for name in ("pools_mw", "ai_demand_mw", "site_ai_mw", "site_must_mw", "requested_mw"):
        x, y = getattr(a, name), getattr(b, name)
        if x.keys() != y.keys() or any(not np.array_equal(x[k], y[k]) for k in x):
            return False
    return True


def _reprice(warm: Warm, grid, sites, cand: mdl.Candidates, params: Params, tl: Timeline,
             val: periods.Values) -> bool:
    """Put the prices of ``params`` on the plan kept in ``warm`` when only prices changed (see
    :class:`Warm`); return whether it did. The economic core is built again at the new prices (it is
    small: no network row) and its objective and budget coefficients are copied onto the kept model
    by name; a change of prices that changes the core's structure (e.g. a lead time that moves a
    timeline's first year of AI) builds from scratch."""
    if warm.built is None or warm.grid is not grid or warm.sites is not sites:
        return False
    if dataclasses.replace(params, economics=warm.params.economics) != warm.params:
        return False
    if not _same_timeline(warm.timeline, tl):
        return False
    old = warm.cand
    if not (np.array_equal(old.buses, cand.buses) and np.array_equal(old.bus_of_site, cand.bus_of_site)
            and (old.column_region is None) == (cand.column_region is None)
            and (old.column_region is None or np.array_equal(old.column_region, cand.column_region))
            and old.frame.drop(columns=PRICE_COLUMNS).equals(cand.frame.drop(columns=PRICE_COLUMNS))):
        return False
    built = warm.built
    fresh = mdl.build(cand, params, tl, val)
    mine = built.prob.variablesDict()
    theirs = fresh.prob.variablesDict()
    rows = {con.name: con for con in built.prob.constraints()}
    core = {con.name: con for con in fresh.prob.constraints()}
    if not theirs.keys() <= mine.keys() or not core.keys() <= rows.keys():
        return False
    if any({v.name for v in con.keys()} != {v.name for v in rows[name].keys()} for name, con in core.items()):
        return False
    live = built.live or None
    # free the binaries fixed for the last duals, and the ai <= cap * z rows relaxed with them
    binaries = [*built.z.items(), *((("path", t, k), y) for t, ys in built.paths.items() for k, y in ys.items())]
    for _, y in binaries:
        y.cat = pulp.LpInteger
        y.lowBound, y.upBound = theirs[y.name].lowBound, theirs[y.name].upBound
    for key, con in built.aiup.items():
        con.constant = fresh.aiup[key].constant
    costs = {v.name: [v, 0.0] for v, c in built.prob.objective.items()}
    for v, c in fresh.prob.objective.items():
        costs.setdefault(v.name, [mine[v.name], 0.0])[1] += float(c)
    for v, c in params.supply.objective_terms(built, warm.net, params):
        costs.setdefault(v.name, [v, 0.0])[1] += c
    for mine_year, fresh_year in zip(built.periods, fresh.periods):  # each site's terms, for its NPV
        mine_year.terms = [(i, mine[v.name], c) for i, v, c in fresh_year.terms]
    budgets = [(rows[name], [(mine[v.name], float(c)) for v, c in con.items()])
               for name, con in core.items() if name == "budget" or name.startswith("budget_")]
    if live is not None:
        live.set_bounds([y for _, y in binaries])
        live.update_rows(built.aiup.values())
        live.set_costs([v for v, _ in costs.values()], [c for _, c in costs.values()])
        for con, pairs in budgets:
            live.set_coefficients(con, pairs)
    else:  # CBC solves the PuLP problem itself
        built.prob.setObjective(pulp.LpAffineExpression([tuple(t) for t in costs.values()]))
        for con, pairs in budgets:
            for v, c in pairs:
                con.expr[v] = c
    built.values = val
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


def highs_options(params: Params) -> dict:
    """HiGHS options of every live model of a run (a test adds ``mip_max_improving_sols``)."""
    return {"threads": params.threads, "mip_rel_gap": params.mip_gap}


def _live(built: mdl.Built, params: Params) -> LiveModel | None:
    """The live HiGHS model of ``built`` (made on first use), or None when CBC solves it
    (``solver.name: cbc``)."""
    if params.solver != "highs":
        return None
    if built.live is None:
        built.live = LiveModel(built.prob, highs_options(params))
    return built.live


def run_once(built: mdl.Built, params: Params, mip: bool, deadline: float | None,
         start: np.ndarray | None = None) -> tuple[str, float | None, float]:
    """Solve once; return (status, mip_gap, solver seconds). HiGHS solves the live model (only the
    rows added since its last solve are handed over); CBC, when asked for, solves the PuLP problem
    from scratch. A solver that fails is an error (:class:`SolverError`): planner never switches
    to another solver on its own. ``start``: a feasible solution the MILP may start from (HiGHS)."""
    time_left = None if deadline is None else max(deadline - time.perf_counter(), 2.0 if mip else 1.0)
    live = _live(built, params)
    if live is not None:
        try:
            live.add_net_rows(built.pending)
            built.pending = []
            live.h.setOptionValue("mip_rel_gap", float(params.mip_gap))  # the tie-break stage solves to 0
            info = live.run(mip, time_left, start=start)
        except pulp.PulpSolverError as exc:
            raise SolverError(f"{exc} (model status {live.h.getModelStatus().name}); rerun with "
                              "--set solver.name=cbc to solve the same model with CBC") from None
        return info.status, info.gap, info.solver_s
    prob = built.prob
    for row in built.pending:  # CBC solves the PuLP problem: the network rows as PuLP copies
        built.twins[row.name] = row.to_pulp()
        prob += built.twins[row.name]
    built.pending = []
    for row in built.rows.values():  # limits and senses as the network row has them now
        twin = built.twins[row.name]
        twin.constant, twin.sense = row.constant, row.sense
    try:
        prob.solve(_cbc(params, mip, time_left))
    except pulp.PulpSolverError as exc:
        raise SolverError(f"CBC failed ({exc}); try solver.name=highs, a longer time limit or a smaller "
                          "scenario") from None
    for row in built.rows.values():
        row.pi = built.twins[row.name].pi
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


#: at most this many network rows are added in one lazy round: the most violated first (the first
#: round of a large case finds tens of thousands over their limit, of which a few hundred bind)
ROWS_PER_ROUND = 1000


#: a MILP is handed only the network rows its LP relaxation holds within this many MW of their
#: limit (:func:`_park`); the others, the most of them on a large grid, are parked: still checked
#: after every solve, and handed back the moment the MILP's allocation is over one
PARK_SLACK_MW = 20.0


def _park(built: mdl.Built, live: LiveModel) -> dict:
    """Park the network rows the last LP solution keeps more than :data:`PARK_SLACK_MW` from their
    limit (:meth:`LiveModel.relax_rows`); return them by key (:func:`_unpark` hands them back)."""
    live.add_net_rows(built.pending)
    built.pending = []
    rows = list(built.rows.values())
    far = live.row_slack(rows) > PARK_SLACK_MW if rows else np.zeros(0, bool)
    parked = {r.key: r for r, f in zip(rows, far) if f}
    live.relax_rows(parked.values())
    return parked


def _unpark(live: LiveModel, parked: dict, keys) -> int:
    """Hand the parked rows of ``keys`` back to the solver (all of them: ``keys`` None); return how many."""
    rows = [parked.pop(k) for k in (list(parked) if keys is None else keys) if k in parked]
    live.update_rows(rows)
    return len(rows)


def lazy_solve(built: mdl.Built, net: Network, params: Params, mip: bool, deadline,
                quiet: bool = False, start: np.ndarray | None = None, nudged: bool = False) -> LazySolve:
    """Solve with lazy network rows until no monitored branch (or branch-outage pair) is over its
    limit. A MILP on the live HiGHS model first converges its LP relaxation (warm re-solves after
    each batch of rows, at most :data:`ROWS_PER_ROUND` rows a round), then solves the MILP with the
    rows its relaxation holds near their limits (the others parked: :func:`_park`), and again only
    if the integer allocation is over a row not handed to it. ``start``: a solution the first MILP
    solve may start from (every column, in the live model's order; a solution that meets every row
    added so far). ``nudged``: the limits in the model are raised a hair (:func:`_fix_and_price`), so
    a row of the model may be over its true limit by that much; only rows not in the model yet are
    added."""
    rounds = lp_rounds = added = 0
    status, gap = "optimal", None
    solve_s = highs_s = check_s = 0.0
    live = _live(built, params)
    phases = [False, True] if mip and built.z and live is not None else [mip]
    parked: dict = {}
    try:
        for phase_mip in phases:
            if phase_mip and len(phases) == 2:
                parked = _park(built, live)
                if not quiet:
                    logger.info(f"MILP with {len(built.rows) - len(parked)} of {len(built.rows)} network rows "
                                f"(the others more than {PARK_SLACK_MW:g} MW from their limit: parked)")
            while True:
                rounds += 1
                lp_rounds += not phase_mip
                t = time.perf_counter()
                status, gap, run_s = run_once(built, params, phase_mip, deadline, start=start if phase_mip else None)
                start = None if phase_mip else start
                solve_s += time.perf_counter() - t
                highs_s += run_s
                if status not in STATUS_OK:
                    break
                t = time.perf_counter()
                # the rows not in the model yet, at most ROWS_PER_ROUND of them (the most violated), and
                # the keys of those in it already (parked ones come back)
                todo, n_over, seen = net.violations(_state_loads(built), params.near_binding, cap=ROWS_PER_ROUND,
                                                    known=built.rows) if net is not None else ([], 0, [])
                check_s += time.perf_counter() - t
                if n_over == 0:
                    break
                if rounds >= params.max_lazy_rounds:
                    raise SolverError(f"network rows still violated after {rounds} lazy rounds; "
                                      "raise max_lazy_rounds")
                back = _unpark(live, parked, seen) if parked else 0
                n = back + sum(mdl.add_rows(built, keys, coef, base, limit, state)
                               for keys, coef, base, limit, state in todo)
                added += n
                if not quiet:
                    logger.info(f"lazy round {rounds} ({'MILP' if phase_mip else 'LP'}): {n_over} rows or "
                                f"branch-outage pairs over their limit, {n} rows added" +
                                (f" ({back} of them parked before)" if back else ""))
                if n == 0 and nudged:
                    break
                if n == 0:
                    raise SolverError("a violated network row was already in the model: numerical trouble; "
                                      "try solver=cbc")
            if status == "infeasible" or (phase_mip == mip and status not in STATUS_OK):
                break
    finally:
        if parked:
            _unpark(live, parked, None)
    return LazySolve(status=status, gap=gap, rounds=rounds, lp_rounds=lp_rounds, rows_added=added,
                     solve_s=solve_s, solver_s=highs_s, check_s=check_s)


@dataclass
class TieBreak:
    """How the tie-break stage went (:func:`break_ties`, :mod:`planner.optimization.tiebreak`)."""

    status: str              # optimal: proven; time_limit: the best found; or the solver's status
    npv_usd: float           # the NPV of the first stage's allocation
    tolerance_usd: float     # allocations within this much NPV of it counted as equal
    solve: LazySolve | None  # the second stage's lazy solve
    polish: str = "not run"  # status of :func:`polish` (the continuous part, on the LP's optimal face)

    def block(self) -> dict:
        """summary.json's ``tie_break``."""
        return {"status": self.status, "polish": self.polish,
                "rule": "largest sum of weight x MW over the site columns among allocations of equal NPV "
                        "(planner.optimization.tiebreak)",
                "npv_tolerance_usd": round(self.tolerance_usd, 2),
                "rounds": self.solve.rounds if self.solve else 0,
                "rows_added": self.solve.rows_added if self.solve else 0}


def tie_columns(built: mdl.Built, cand: mdl.Candidates) -> list[tuple]:
    """The site MW columns of ``built`` and their tie-break keys (site id, path, year): one per
    site and path (and year of a timeline, whose dicts are keyed by (year, site))."""
    ids = cand.frame["site_id"].to_numpy()
    out = []
    for name in ("keep", "new", "ai", "cloud"):
        for key, var in getattr(built, name).items():
            t, i = key if isinstance(key, tuple) else (0, key)
            out.append((var, (str(ids[i]), tiebreak.PATH_ORDER[name], int(t))))
    return out


def _set_objective(built: mdl.Built, live: LiveModel | None, old: list[tuple], new: list[tuple]) -> None:
    """Replace the objective terms ``old`` (variable, coefficient) by ``new``."""
    if live is not None:
        live.set_costs([v for v, _ in old], 0.0)
        live.set_costs([v for v, _ in new], [c for _, c in new])
    else:
        built.prob.setObjective(pulp.LpAffineExpression(new))


def break_ties(built: mdl.Built, net: Network | None, params: Params, deadline, columns: list[tuple],
               extra: list[tuple] = ()) -> TieBreak:
    """The second stage of :mod:`planner.optimization.tiebreak`: keep the NPV within its tolerance of the
    allocation just solved and maximize the tie-break score over ``columns`` ((variable, key) of
    :func:`tie_columns`) plus the terms ``extra`` ((variable, score per unit): a score that comes
    before the order, e.g. a distance), network rows added lazily. The solution stays on the PuLP variables; the
    NPV objective is put back and the NPV row relaxed afterwards (the row stays, for a later stage
    of a sweep's repriced model)."""
    live = _live(built, params)
    objective = [(v, float(c)) for v, c in built.prob.objective.items() if c != 0]
    npv = sum(c * _value(v) for v, c in objective)
    tol = tiebreak.tolerance_musd(npv)
    start = np.array([_value(v) for v in live.vars]) if live is not None else None
    if built.tie is None:
        built.tie = pulp.LpConstraint(pulp.LpAffineExpression(objective), pulp.LpConstraintGE, "tie_npv", npv - tol)
        built.prob += built.tie
    else:
        in_objective = {v.name for v, _ in objective}
        pairs = objective + [(v, 0.0) for v in list(built.tie.keys()) if v.name not in in_objective]
        if live is not None and built.tie.name in live.row:
            live.set_coefficients(built.tie, pairs)
        else:
            for v, c in pairs:
                built.tie.expr[v] = c
        built.tie.constant = -(npv - tol)
        if live is not None:
            live.update_rows([built.tie])
    params = dataclasses.replace(params, mip_gap=0.0)  # the order is a total one: solved to its optimum
    weight = tiebreak.weights([k for _, k in columns])
    score = [(v, float(w)) for (v, _), w in zip(columns, weight)] + [(v, float(c)) for v, c in extra]
    _set_objective(built, live, objective, score)
    try:
        info = lazy_solve(built, net, params, mip=True, deadline=deadline, quiet=True, start=start)
    finally:
        _set_objective(built, live, score, objective)
        built.tie.constant = 1e30  # relaxed: expr >= -1e30
        if live is not None:
            live.update_rows([built.tie])
    if info.status not in STATUS_OK:  # keep the first stage's allocation (HiGHS; CBC keeps its own)
        logger.warning(f"the tie-break stage stopped without a solution ({info.status}); the allocation is "
                       "the first stage's, one of several of equal NPV")
        if start is not None:
            for v, x in zip(live.vars, start):
                v.varValue = x
    logger.info(f"tie-break among allocations within ${tol * mdl.SCALE:,.0f} of the optimal NPV: {info.status}, "
                f"{info.rounds} rounds, {info.rows_added} rows added")
    return TieBreak(status=info.status, npv_usd=npv * mdl.SCALE, tolerance_usd=tol * mdl.SCALE, solve=info)


def _with_tie_break(first: LazySolve, tie: TieBreak) -> LazySolve:
    """The first stage's lazy solve with the tie-break stage's rounds, rows and times added (the
    status and gap stay the first stage's: they are about the NPV)."""
    second = tie.solve
    if second is None:
        return first
    return dataclasses.replace(first, rounds=first.rounds + second.rounds, lp_rounds=first.lp_rounds + second.lp_rounds,
                               rows_added=first.rows_added + second.rows_added,
                               solve_s=first.solve_s + second.solve_s, solver_s=first.solver_s + second.solver_s,
                               check_s=first.check_s + second.check_s)


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


#: how far every limit of the pricing LP is raised (MW; million $ for a budget row) so that its
#: shadow prices are unique (see :func:`_fix_and_price`)
PRICE_NUDGE = 1e-4


def _nudge_weight(key) -> float:
    """A fixed weight in [1, 1.5) per row or column, from a hash of its name (the same on every machine)."""
    return 1.0 + 0.5 * tiebreak.jitter((str(key),))


def _nudge(built: mdl.Built, live: LiveModel | None) -> tuple[list, list]:
    """Raise every inequality limit of the (binaries-fixed) pricing LP by ``PRICE_NUDGE`` x a fixed
    weight: row bounds, and the finite bounds of the columns that are not fixed. Returns what to put
    back ((row, constant) and (column, lower, upper))."""
    rows = []
    network = {id(con): key for key, con in built.rows.items()}
    for con in mdl.all_rows(built):
        if con.sense == pulp.LpConstraintEQ or con is built.tie:
            continue
        step = PRICE_NUDGE * _nudge_weight(network.get(id(con), con.name))
        rows.append((con, con.constant))
        con.constant += -step if con.sense == pulp.LpConstraintLE else step  # expr + constant <= 0 / >= 0
    cols = []
    for v in (live.vars if live is not None else built.prob.variables()):
        lo, up = v.lowBound, v.upBound
        if lo is not None and up is not None and up - lo <= 1e-12:
            continue
        if lo is None and up is None:
            continue
        step = PRICE_NUDGE * _nudge_weight(v.name)
        cols.append((v, lo, up))
        v.lowBound = None if lo is None else lo - step
        v.upBound = None if up is None else up + step
    if live is not None:
        live.update_rows([c for c, _ in rows])
        if cols:
            live.set_bounds([v for v, _, _ in cols])
    return rows, cols


def _restore(live: LiveModel | None, rows: list, cols: list, attribute: str) -> None:
    """Put back what :func:`_nudge` (row ``constant``) or :func:`_hold_face` (row ``sense``) changed:
    ``rows`` as (row, old value), ``cols`` as (column, lower, upper); the live model too."""
    for con, old in rows:
        setattr(con, attribute, old)
    for v, lo, up in cols:
        v.lowBound, v.upBound = lo, up
    if live is not None:
        live.update_rows([c for c, _ in rows])
        if cols:
            live.set_bounds([v for v, _, _ in cols])


def _unnudge(live: LiveModel | None, rows: list, cols: list) -> None:
    _restore(live, rows, cols, "constant")


def fix_binaries(built: mdl.Built, live: LiveModel | None) -> None:
    """Fix the binaries at the MILP's values (the LPs that price and polish the allocation)."""
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
    if live is not None:
        live.set_bounds([*built.z.values(), *path_binaries])
        live.update_rows(relaxed)


def _fix_and_price(built: mdl.Built, net: Network, params: Params) -> LazySolve:
    """Fix the binaries at the MILP's values and solve the LP for duals. It runs to its end, without
    the solver's time limit: a MILP stopped by the limit keeps its allocation (a run whose MILP used up
    the limit would otherwise lose it here, at its pricing step).

    Shadow prices at a degenerate optimum (several limits meeting at the allocation, common when sites
    tie) are not unique: the solver would pick one set by its path. planner prices the optimum with
    every limit raised by :data:`PRICE_NUDGE` times a fixed weight per limit (1 to 1.5, a hash of its
    name), where the prices are unique: among the shadow prices of the optimum, those with the
    smallest weighted total. The duals stay on the rows (``pi``); the values on the variables are put
    back as they were (the allocation is the MILP's, or :func:`polish`'s)."""
    live = built.live or None
    fix_binaries(built, live)
    columns = live.vars if live is not None else built.prob.variables()
    saved = [_value(v) for v in columns]
    rows, cols = _nudge(built, live)
    try:
        info = lazy_solve(built, net, params, mip=False, deadline=None, nudged=True)
    finally:
        _unnudge(live, rows, cols)
        for v, x in zip(columns, saved):
            v.varValue = x
    if info.status != "optimal":
        raise SolverError(f"the LP with fixed binaries did not solve ({info.status})")
    return info


#: a shadow price or reduced cost (million $ per unit) below this counts as 0 where :func:`polish`
#: reads the optimal face off an LP's duals
FACE_TOL = 1e-9


def _hold_face(built: mdl.Built, live: LiveModel | None, held_rows: list, held_cols: list) -> None:
    """Restrict the LP to the optimal face of its last solution (complementary slackness): a row
    with a nonzero dual is held at its limit (made an equality), a column with a nonzero reduced
    cost at the bound it sits on. What is held is appended to ``held_rows`` ((row, sense)) and
    ``held_cols`` ((column, lower, upper)) so that :func:`_release_face` can undo it."""
    rows = [con for con in mdl.all_rows(built)
            if con.sense != pulp.LpConstraintEQ and con is not built.tie and con.pi is not None
            and abs(con.pi) > FACE_TOL]
    cols = []
    for v in (live.vars if live is not None else built.prob.variables()):
        dj, lo, up = getattr(v, "dj", None), v.lowBound, v.upBound
        if dj is None or abs(dj) <= FACE_TOL or (lo is not None and lo == up):
            continue
        x = _value(v)
        at = lo if up is None or (lo is not None and abs(x - lo) <= abs(x - up)) else up
        if at is not None:
            cols.append((v, lo, up))
            v.lowBound = v.upBound = at
    held_rows.extend((con, con.sense) for con in rows)
    held_cols.extend(cols)
    for con in rows:
        con.sense = pulp.LpConstraintEQ
    if live is not None:
        live.update_rows(rows)
        if cols:
            live.set_bounds([v for v, _, _ in cols])


def _release_face(built: mdl.Built, live: LiveModel | None, held_rows: list, held_cols: list) -> None:
    _restore(live, held_rows, held_cols, "sense")


def dispatch_scores(built: mdl.Built, net) -> list[tuple]:
    """Redispatch: the generator cost segments and their tie-break keys (state, generator id,
    segment), so that among dispatches of equal cost the one of :mod:`planner.optimization.tiebreak`'s order is
    taken (more output at the generator that comes first); none without redispatch."""
    if not built.segments:
        return []
    gens = net.costs.gens["gen"].to_numpy()
    return [(y, (state, int(gens[j]), s)) for state, per_gen in built.segments.items()
            for j, ys in enumerate(per_gen) for s, y in enumerate(ys)]


def polish(built: mdl.Built, net: Network | None, params: Params, columns: list[tuple],
           extra: list[tuple] = (), dispatch: list[tuple] = ()) -> str:
    """The allocation, with the binaries fixed (:func:`fix_binaries`): of the LP optimum's face, the
    point of largest tie-break score (:mod:`planner.optimization.tiebreak`; ``extra`` as in :func:`break_ties`),
    then, on that point's face, of the largest score of the generator segments ``dispatch``
    (:func:`dispatch_scores`). Each face is read off one optimal solution of the LP before it
    (:func:`_hold_face`, complementary slackness: every optimal solution holds the same rows and
    columns, and every feasible one that does is optimal), so no NPV is traded for a score however
    small, and the answer does not depend on the solver's path. Network rows are added lazily. The
    duals on the rows are put back as :func:`_fix_and_price` left them. Returns the status
    (``optimal``; else the NPV LP's allocation is kept, one of several)."""
    live = built.live or None
    prices = [(con, con.pi) for con in mdl.all_rows(built)]
    variables = live.vars if live is not None else built.prob.variables()
    objective = [(v, float(c)) for v, c in built.prob.objective.items() if c != 0]
    weight = tiebreak.weights([k for _, k in columns])
    stages = [[(v, float(w)) for (v, _), w in zip(columns, weight)] + [(v, float(c)) for v, c in extra]]
    stages = [st for st in stages if st]
    if dispatch:
        stages.append([(v, float(w)) for (v, _), w in zip(dispatch, tiebreak.weights([k for _, k in dispatch]))])
    held_rows, held_cols = [], []
    current = objective
    status = "optimal"
    try:
        info = lazy_solve(built, net, params, mip=False, deadline=None, quiet=True)
        if info.status != "optimal":
            raise SolverError(f"the LP with fixed binaries did not solve ({info.status})")
        keep = [_value(v) for v in variables]
        for score in stages:
            _hold_face(built, live, held_rows, held_cols)
            _set_objective(built, live, current, score)
            current = score
            status = lazy_solve(built, net, params, mip=False, deadline=None, quiet=True).status
            if status != "optimal":
                logger.warning(f"the tie-break's polish LP ended {status}; the allocation is one of several "
                               "of equal NPV")
                for v, x in zip(variables, keep):
                    v.varValue = x
                break
            keep = [_value(v) for v in variables]
    finally:
        _set_objective(built, live, current, objective)
        _release_face(built, live, held_rows, held_cols)
        for con, pi in prices:
            con.pi = pi
    return status


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
    from planner.data.sites import map_sites

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
    ``planner.optimization.solve`` logger (INFO). The same model as :func:`plan_timeline` with one period.
    """
    return _plan(grid, sites, params or Params(), None, model=model, scenario=scenario, warm=warm)


def plan_timeline(grid, sites, params: Params, tl: Timeline, *, model: sens.DCModel | None = None,
                  scenario: str | None = None, warm: Warm | None = None) -> Result:
    """Allocate interconnect capacity year by year (:mod:`planner.optimization.periods`); returns a
    :class:`planner.Result` of the end state (the last year), with ``result.timeline`` (one row per
    year and region), the allocation's ``first_year`` and per-year MW columns, and
    ``summary.timeline``. A supply pool or AI demand of ``params`` for a region the timeline does
    not list holds in every year."""
    return _plan(grid, sites, params, tl, model=model, scenario=scenario, warm=warm)


def _plan(grid, sites, params: Params, tl: Timeline | None, *, model, scenario, warm) -> Result:
    """The one pipeline of :func:`plan` (``tl`` None: one period) and :func:`plan_timeline`."""
    from planner.optimization import timeline as report

    params = params.validate()
    single = tl is None
    tl = periods.single(params) if single else periods.with_settings(tl, params)
    end_params = params if single else periods.end_settings(tl, params)
    sites, timings, t0, deadline = begin(grid, sites, params)
    t = time.perf_counter()
    supply = params.supply
    cand = mdl.candidates(sites, end_params)
    if len(cand) == 0:
        raise InputError("no site maps to a bus of the grid with a MW figure", source="sites",
                         expected=f"sites inside grid '{grid.name}' with poi_mw, it_mw or operating_mw")
    val = periods.values(cand.frame, params.economics, tl.n)
    repriced = warm is not None and _reprice(warm, grid, sites, cand, params, tl, val)
    if repriced:
        model, net, built = warm.model, warm.net, warm.built
        ref_xs, existing = warm.reference, warm.existing
        timings["reprice"] = time.perf_counter() - t
        logger.info("only prices changed: the last model re-solves warm with its new coefficients")
    else:
        model = model if supply.fits(model) else supply.dc_model(grid)
        net = supply.network(model, grid, cand, params,
                             periods=None if single else [(tl.name(k), float(tl.load_factor[k])) for k in range(tl.n)])
        timings["sensitivities"] = time.perf_counter() - t
        logger.info((f"timeline {tl.years[0]}-{tl.years[-1]}: " if not single else "")
                    + f"{len(cand)} sites at {len(cand.buses)} buses; {len(net.screened)} of {len(net.mon)} "
                    f"monitored branches could be overloaded; {len(net.states)} load states")
        # the time limit is the solver's: it runs from here, after the network (e.g. an N-1 LODF pass)
        deadline = solver_deadline(params)
        t = time.perf_counter()
        built = mdl.build(cand, params, tl, val)
        supply.block(built, net, params)
        timings["build"] = time.perf_counter() - t
        ref_xs = existing = None
        if supply.dispatches:  # the generation cost is counted against the dispatch without new load
            t = time.perf_counter()
            ref_xs = _reference_dispatch(cand, net, params, deadline, tl)
            timings["reference_dispatch"] = time.perf_counter() - t
    t = time.perf_counter()
    start = warm.start if repriced and built.live is not None and warm.start is not None \
        and len(warm.start) == len(built.live.vars) else None
    mip = lazy_solve(built, net, params, mip=True, deadline=deadline, start=start)
    # "solve" is the solver's own time; handing the model to it (PuLP) is counted with the build
    timings["solve"] = mip.solver_s if np.isfinite(mip.solver_s) else mip.solve_s
    timings["pulp_to_solver"] = mip.solve_s - timings["solve"]
    timings["lazy_rows"] = time.perf_counter() - t - mip.solve_s
    view, net_end = end_state(built, net)
    if mip.status == "infeasible":
        # the end state's conflict, with the must-serve MW of the last period (not the requests' full MW)
        last = dataclasses.replace(cand, frame=cand.frame.assign(
            ai_min_mw=periods.asked_and_must(cand.frame, tl, val)[1][:, -1]))
        raise InfeasibleError(("the allocation" if single else "the timeline") + " is infeasible: "
                              + _diagnose(last, end_params, net_end, model))
    if mip.status not in STATUS_OK:
        raise SolverError(f"the solver stopped without a solution (status {mip.status}); "
                          "try a longer time_limit_s or a larger mip_gap")
    t = time.perf_counter()
    columns = tie_columns(built, cand)
    tie = break_ties(built, net, params, deadline, columns)
    mip = _with_tie_break(mip, tie)
    timings["tie_break"] = time.perf_counter() - t
    t = time.perf_counter()
    lp = _fix_and_price(built, net, params)
    timings["duals"] = time.perf_counter() - t
    t = time.perf_counter()
    tie.polish = polish(built, net, params, columns, dispatch=dispatch_scores(built, net))
    timings["tie_break"] += time.perf_counter() - t
    view, net_end = end_state(built, net)  # with the rows pricing and polishing added
    values_end = allocation_mw(view, cand)
    xs = _state_loads(view)
    if not repriced and params.check_existing_load and cand.frame["existing_mw"].sum() > 0:
        t = time.perf_counter()
        existing = _existing_capacity(cand, net_end, end_params)
        timings["existing_load_check"] = time.perf_counter() - t
    if warm is not None and not repriced:
        warm.keep(grid=grid, sites=sites, params=params, timeline=tl, model=model, cand=cand,
                  net=net, built=built, reference=ref_xs, existing=existing)
    if warm is not None:
        warm.start = None if built.live is None else np.array([_value(v) for v in built.live.vars])
    if not single:
        requested = sum(float(v[-1]) for v in tl.requested_mw.values()) if tl.requested_mw else None
        end_params = dataclasses.replace(end_params, requested_ai_mw=requested
                                         if requested is not None else params.requested_ai_mw)
    # the DC model of the end state: the one given (a single period), else the last year's at peak
    result = assemble(grid, sites, model if single else net_end.states[0].model, cand, view, net_end, values_end,
                      mip, lp, existing, end_params, scenario=scenario, xs=xs)
    result.summary.tie_break = tie.block()
    site_npv = report.site_npv(built.periods, len(cand))
    npv = result.summary.objective_usd if single else float(site_npv.sum())
    offset = 0.0  # the NPV less the model's objective ($): the supply side's constants under redispatch
    margin = supply.report(built, net, params, _state_loads(built), ref_xs, cand, None if single else list(tl.years))
    if margin is not None:
        result.summary.redispatch, result.dispatch_table, modelled = margin
        npv += margin[0]["supply_margin_npv_usd"]
        offset = margin[0]["supply_margin_npv_usd"] - modelled
    result.summary.objective_usd = round(npv, 0)
    result.solved = Solved(built=built, net=net, cand=cand, params=params, timeline=tl, offset_usd=offset)
    if not single:
        report.attach(result, cand, tl, val, built.periods, site_npv)
    timings["total"] = time.perf_counter() - t0
    result.summary.timings_s = {k: round(v, 4) for k, v in timings.items()}
    result.summary.versions = _versions()
    return result


@dataclass
class Solved:
    """A plan's solved model, kept on its result (``result.solved``; not written to the run
    directory) for what is computed from it afterwards: the operator counterfactuals
    (:mod:`planner.analysis.operators`) and ``--write-lp``."""

    built: mdl.Built
    net: object                  # the network rows' source (:class:`planner.network.security.Network` or redispatch's)
    cand: mdl.Candidates
    params: Params
    timeline: Timeline           # the periods (one for a single period)
    #: the plan's NPV less the model's objective at the same allocation ($): 0 for a fixed supply
    #: response; under redispatch the generation cost of the reference dispatch and of each curve's
    #: lower limit, which no allocation changes
    offset_usd: float = 0.0


def end_state(built: mdl.Built, net) -> tuple[mdl.Built, Network]:
    """Views of the last period alone: its variables and rows as a one-period :class:`Built` (dicts
    keyed by site), and its states as a network (for :func:`planner.optimization.result.assemble`). The load
    vectors are the model's (with redispatch they end with the generators' output changes)."""
    end = built.periods[-1]
    names = set(end.loads)
    view = mdl.Built(prob=built.prob, keep=end.keep, new=end.new, ai=end.ai, z=end.z, cloud=end.cloud,
                     paths=end.paths, load=[], poi=end.poi, aiup=end.aiup, pools=end.pools, demand=end.demand,
                     budget=built.budget, loads={k: built.loads[k] for k in end.loads},
                     rows={k: c for k, c in built.rows.items() if k[1] in names}, live=built.live,
                     segments={k: v for k, v in built.segments.items() if k in names}, periods=[end])
    if net is None:
        return view, None
    states = [st for st in net.states if st.name in names]
    if len(states) == len(net.states):
        return view, net
    if isinstance(net, Network):
        return view, dataclasses.replace(net, states=states, screened=states[0].n0.screened)
    return view, dataclasses.replace(net, states=states)  # redispatch: every branch is screened in


def allocation_mw(built: mdl.Built, cand: mdl.Candidates) -> pd.DataFrame:
    """The MW of each path at each site of a one-period view (:func:`end_state`), round-off to 0."""
    n = len(cand)
    out = pd.DataFrame({
        "keep_mw": [(_value(built.keep[i]) if i in built.keep else 0.0) for i in range(n)],
        "new_mining_mw": [(_value(built.new[i]) if i in built.new else 0.0) for i in range(n)],
        "ai_mw": [(_value(built.ai[i]) if i in built.ai else 0.0) for i in range(n)],
        "ai_cloud_mw": [(_value(built.cloud[i]) if i in built.cloud else 0.0) for i in range(n)],
    })
    mw = ["keep_mw", "new_mining_mw", "ai_mw", "ai_cloud_mw"]
    out[mw] = out[mw].where(out[mw].abs() > ZERO_MW, 0.0)  # solver round-off
    # a site with a binary converts when it is 1 (then ai >= its block > 0); one without, when it gets AI
    out["converted"] = [(round(_value(built.z[i])) == 1) if i in built.z else bool(out["ai_mw"].iat[i] > 0)
                        for i in range(n)]
    return out


def _reference_dispatch(cand: mdl.Candidates, net, params: Params, deadline, tl: Timeline) -> dict:
    """Redispatch reference: the economic dispatch of the grid without any new load (an LP), in every
    state of every period of ``tl``."""

    built = mdl.build(cand, params, tl, objective="reference")
    params.supply.block(built, net, params, pay=False)
    info = lazy_solve(built, net, params, mip=False, deadline=deadline, quiet=True)
    if info.status != "optimal":
        raise SolverError(f"the reference dispatch without new load did not solve ({info.status})")
    polish(built, net, params, [], dispatch=dispatch_scores(built, net))  # ties of equal cost: the order
    logger.info(f"reference dispatch without new load: {info.rounds} rounds, {info.rows_added} rows")
    return _state_loads(built)


def _existing_capacity(cand: mdl.Candidates, net: Network, params: Params) -> float:
    """Largest share of today's load the network can carry with no new load (an LP, run to its end
    like the pricing LP)."""
    built = mdl.build(cand, params, objective="existing")
    params.supply.block(built, net, params, pay=False, cost=False)
    info = lazy_solve(built, net, params, mip=False, deadline=None, quiet=True)
    if info.status != "optimal":
        raise SolverError(f"the existing-load check did not solve ({info.status})")
    return float(sum(_value(v) for v in built.keep.values()))
