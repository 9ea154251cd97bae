"""Timeline: who gets power when, year by year.

A timeline has years ``y0 .. y0+T-1``. Today is the start of ``y0``; month ``m`` is ``m`` months
from then. The state of year ``t`` is what runs during that year: each site's kept mining, new
mining and AI MW, whether it is converted or built. Every year's state meets that year's site,
pool, demand and network rows (the network with that year's base load). The last year is also the
*end state*: it holds what the plan builds and keeps to the horizon, including MW whose lead time
ends after the last year began.

Lead times decide the first year. AI MW at site *i* (lead ``L_i``) may be in year *t*'s state when
``L_i <= 12 t`` (energized by the start of the year, decided ``L_i`` months before), or in the last
year whatever its lead. MW that first appear in year *t* are energized at month
``e = max(12 t, L_i)`` and valued from then::

    v_ai[i, t]  = income_i * annuity(e, horizon) - capex_i * discount(e - L_i)
                  (a site's given NPV per MW, ai_value_usd_per_mw: that NPV * discount(e - L_i))
    v_cloud[i, t] = the single period's cloud NPV (:func:`planner.economics.ai_cloud_npv_per_mw`) of a
                  shell energized at e, its capex paid at e - L_i (a given ai_cloud_value_usd_per_mw:
                  that NPV * discount(e - L_i))
    v_new[t]    = NPV of a new mining MW energized at e (build capex at e - lead)
    w[t]        = today's mining during year t (the last: to the horizon), less the refreshes due then

A mine keeps mining until the year its conversion serves AI (revenue during construction counts).
What is built stays: AI and new-mining MW and the binaries never decrease; today's mining may stop
(a conversion takes its MW), and does not start again. The objective is the NPV:
``sum_t v[t] * (x[t] - x[t-1])`` for what is built and ``sum_t w[t] * keep[t]`` for today's
mining. With one year every formula is the single-period one (:mod:`planner.model`), so a
one-year timeline is today's solve.

Every path of the single period is open in every year: mining (kept and new), leasing the shell
(``ai``) and running the site's own AI cloud (``cloud``, a part of the site's ``ai`` MW, valued
``v_cloud - v_ai`` on top of the lease, as in :func:`planner.model.site_objective`; its first GPUs
are capex decided with the shell). With ``split_paths: false`` each year's state holds at most one
path per site (:func:`planner.model._one_path`, one set of binaries per year): a mine may mine
until its conversion serves AI, then lease or run a cloud.

With ``allow_removal`` AI and new-mining MW may be removed in a later year. AI: each MW built in
year t is valued ``v_ai[i, t]``, each removed at the start of year t loses its income from then on
(``u_ai[i, t] = income_i * annuity(12 t, horizon)``; capex is not returned). New mining: each
year's MW are a vintage of their own (built ``v_new[b]``); a MW of vintage b removed at the start
of year t gives up ``u_new[b, t]``, its margins from then on less the hardware it would still buy
(:func:`planner.economics.new_mining_value_from`), so what it earned is counted exactly. Cloud MW
are not removed (their GPUs are bought for a contract to the horizon): a site's AI MW stay at
least its cloud MW; the shell's lease MW above them may go.

With redispatch (:mod:`planner.redispatch`) every year's states have their own generator
variables; each year's MW pay the power price for that year's hours (the last year's: to the
horizon) and each state's generation cost is weighted by its share of the same discounted hours
(:func:`planner.redispatch.state_weights`). The reference dispatch without new load is solved for
every year's states, and the NPV is the sites' value plus the supply margin over all years.

Budgets: capex is spent at decision time; ``budget_usd`` of a year caps what is decided in it, and
``max_capex_usd`` the total.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pulp

from planner import economics as econ
from planner import model as mdl
from planner import sensitivity as sens
from planner.errors import InfeasibleError, InputError, SolverError
from planner.model import SCALE, Built, Candidates, Params, _expr
from planner.security import Network, build_network

logger = logging.getLogger(__name__)

TOL_MW = 1e-6


@dataclass
class Timeline:
    """The year-by-year inputs of a plan (per year arrays of length ``len(years)``)."""

    years: list[int]
    #: the grid's base load in each year, as a multiple of the case's (1 in the first year)
    load_factor: np.ndarray
    #: region -> MW of new supply available in each year
    pools_mw: dict[str, np.ndarray] = field(default_factory=dict)
    #: region -> MW of AI demand in each year (regions not listed: no cap)
    ai_demand_mw: dict[str, np.ndarray] = field(default_factory=dict)
    #: site id -> most AI MW it may take in each year (a request's MW asked for)
    site_ai_mw: dict[str, np.ndarray] = field(default_factory=dict)
    #: site id -> AI MW it must serve in each year (a must-serve request)
    site_must_mw: dict[str, np.ndarray] = field(default_factory=dict)
    #: capex that may be decided in each year ($; inf: no limit); None: no yearly budget
    budget_usd: np.ndarray | None = None
    #: region -> AI MW requested in each year (requests that map to no bus included)
    requested_mw: dict[str, np.ndarray] = field(default_factory=dict)
    #: AI and new-mining MW may be removed in a later year (their income stops; capex is not returned)
    allow_removal: bool = False

    @property
    def n(self) -> int:
        return len(self.years)

    def name(self, t: int) -> str:
        """Prefix of year ``t``'s load states ("" for the last year, whose states are the plan's)."""
        return "" if t == self.n - 1 else str(self.years[t])

    def validate(self) -> Timeline:
        n = self.n
        if n == 0:
            raise InputError("a timeline needs at least one year", field="timeline.years", value=self.years)
        arrays = {"load_factor": {"": self.load_factor}, "pools_mw": self.pools_mw, "ai_demand_mw": self.ai_demand_mw,
                  "site_ai_mw": self.site_ai_mw, "site_must_mw": self.site_must_mw, "requested_mw": self.requested_mw}
        if self.budget_usd is not None:
            arrays["budget_usd"] = {"": self.budget_usd}
        for name, by in arrays.items():
            for key, a in by.items():
                a = np.asarray(a, float)
                if a.shape != (n,) or np.isnan(a).any() or (a < 0).any():
                    raise InputError(f"must hold one number >= 0 per year ({n})", field=f"timeline.{name}"
                                     + (f".{key}" if key else ""), value=a.tolist())
        if (np.asarray(self.load_factor) <= 0).any():
            raise InputError("the base load must stay above 0", field="timeline.load_factor",
                             value=np.asarray(self.load_factor).tolist())
        return self


# --------------------------------------------------------------------------- values per year


@dataclass
class Values:
    """Objective and budget coefficients of each year (sites x years unless said)."""

    ai_allowed: np.ndarray     # bool: AI MW may be in the year's state
    ai_energized: np.ndarray   # month AI MW first in that year's state are energized
    v_ai: np.ndarray           # $ per MW first in that year's state
    v_cloud: np.ndarray        # $ per MW first in that year's state run as the site's own cloud
    ai_decided: np.ndarray     # year index its capex is spent in
    new_allowed: np.ndarray    # years (T): new mining MW may be in the state
    new_energized: np.ndarray  # (T)
    v_new: np.ndarray          # (T)
    new_decided: np.ndarray    # (T)
    w_keep: np.ndarray         # (T): today's mining during the year ($ per MW)
    u_ai: np.ndarray           # $ per AI MW removed at the start of the year: its income from then on
    #: (T x T) $ per new-mining MW first in year b's state (row) removed at the start of year t
    #: (column): its margins from then on, less the hardware it would buy from then on
    u_new: np.ndarray


def values(f: pd.DataFrame, e: econ.Economics, n_years: int) -> Values:
    """The :class:`Values` of the candidates ``f`` over ``n_years`` (see the module's formulas)."""
    T = n_years
    t = np.arange(T, dtype=float)
    start = 12.0 * t
    last = np.arange(T) == T - 1
    lead = f["ai_lead_months"].to_numpy(float)[:, None]
    ai_allowed = last[None, :] | (lead <= 12.0 * t[None, :] + 1e-9)
    energized = np.maximum(start[None, :], lead)
    decided = energized - lead
    horizon = float(e.horizon_years) * 12.0
    income = f["ai_income_usd_per_mw_year"].to_numpy(float)[:, None]
    capex = f["capex_ai_usd_per_mw"].to_numpy(float)[:, None]
    override = f["ai_value_override_usd_per_mw"].to_numpy(float)[:, None]
    paid = econ.discount(e.discount_rate, decided)
    v_ai = np.where(np.isfinite(override), override * paid,
                    income * econ.annuity_factor(e.discount_rate, energized, horizon) - capex * paid)
    lead_new = float(e.mining_lead_months)
    new_allowed = last | (lead_new <= 12.0 * t + 1e-9)
    new_energized = np.maximum(start, lead_new)
    v_new = econ.new_mining_npv(e, new_energized)
    end = np.where(last, horizon, start + 12.0)
    w_keep = econ.existing_mining_value(e, start, end)
    # the cloud: the single period's NPV of a shell energized at e whose capex is paid at e - L
    # (ai_cloud_npv_per_mw pays the capex it is given today and counts from the lead it is given)
    capex_paid = capex * paid
    cloud = econ.ai_cloud_npv_per_mw(e, capex_usd_per_mw=capex_paid, lead_months=energized)
    cloud_override = (f["ai_cloud_value_override_usd_per_mw"].to_numpy(float)[:, None]
                      if "ai_cloud_value_override_usd_per_mw" in f else np.full_like(override, np.nan))
    v_cloud = np.where(np.isfinite(cloud_override), cloud_override * paid, cloud)
    u_ai = np.where(np.isfinite(override), np.inf, income * econ.annuity_factor(e.discount_rate, start[None, :], horizon))
    u_new = econ.new_mining_value_from(e, new_energized[:, None], start[None, :])
    return Values(ai_allowed=ai_allowed, ai_energized=energized, v_ai=v_ai, v_cloud=np.asarray(v_cloud, float),
                  u_ai=u_ai, u_new=np.asarray(u_new, float),
                  ai_decided=np.minimum(np.floor(decided / 12.0 + 1e-9), T - 1).astype(int),
                  new_allowed=new_allowed, new_energized=new_energized, v_new=np.asarray(v_new, float),
                  new_decided=np.minimum(np.floor((new_energized - lead_new) / 12.0 + 1e-9), T - 1).astype(int),
                  w_keep=np.asarray(w_keep, float))


# --------------------------------------------------------------------------- the model


@dataclass
class Year:
    """Handles on one year's variables and rows (dicts by site position)."""

    keep: dict = field(default_factory=dict)
    new: dict = field(default_factory=dict)
    ai: dict = field(default_factory=dict)
    cloud: dict = field(default_factory=dict)  # the part of ai run as the site's own cloud
    z: dict = field(default_factory=dict)
    paths: dict = field(default_factory=dict)  # split_paths false: site -> path -> binary
    built: dict = field(default_factory=dict)    # AI MW built this year (removable sites)
    removed: dict = field(default_factory=dict)  # AI MW removed this year (removable sites)
    built_new: dict = field(default_factory=dict)  # new-mining MW built this year (allow_removal)
    retired: dict = field(default_factory=dict)    # (vintage year, site) -> new-mining MW removed this year
    #: the year's objective terms of each site: (site, variable, $ per unit / SCALE)
    terms: list = field(default_factory=list)
    poi: dict = field(default_factory=dict)
    aiup: dict = field(default_factory=dict)
    pools: dict = field(default_factory=dict)
    demand: dict = field(default_factory=dict)
    loads: dict = field(default_factory=dict)


def _per_site(f: pd.DataFrame, by_id: dict[str, np.ndarray], default: np.ndarray, T: int) -> np.ndarray:
    out = np.repeat(np.asarray(default, float)[:, None], T, axis=1)
    ids = f["site_id"].to_numpy()
    for i, sid in enumerate(ids):
        if sid in by_id:
            out[i] = by_id[sid]
    return out


def asked_and_must(f: pd.DataFrame, tl: Timeline, val: Values) -> tuple[np.ndarray, np.ndarray]:
    """Most AI MW each site may take in each year (its request's ask, within its size) and the AI
    MW it must serve (a must-serve request, in the years its lead time allows): sites x years."""
    T = tl.n
    ai_cap = f["ai_cap_mw"].to_numpy(float)
    asked = np.minimum(_per_site(f, tl.site_ai_mw, ai_cap, T), ai_cap[:, None])
    must_end = f["ai_min_mw"].to_numpy(float)
    must = np.where(must_end[:, None] > 0, np.minimum(_per_site(f, tl.site_must_mw, must_end, T), asked), 0.0)
    return asked, np.where(val.ai_allowed, must, 0.0)


def _year_loads(prob, cand: Candidates, params: Params, tl: Timeline, t: int, keep: dict, new: dict, ai: dict
                ) -> dict[str, list]:
    """Year ``t``'s load vectors, by state name ("peak" for the last year, "2027 peak" before)."""
    prefix = tl.name(t)
    loads = mdl.load_vectors(prob, cand, params, keep, new, ai, prefix=f"y{tl.years[t]}_" if prefix else "")
    return {f"{prefix} {s}".strip(): v for s, v in loads.items()}


def build(cand: Candidates, params: Params, tl: Timeline, val: Values) -> tuple[Built, list[Year]]:
    """The multi-year MILP (no network rows: :func:`planner.solve._lazy_solve` adds them), and each
    year's handles. The returned :class:`Built` holds every year (its dicts keyed by (year, site))."""
    f = cand.frame
    T, n = tl.n, len(f)
    prob = pulp.LpProblem("planner_timeline", pulp.LpMaximize)
    cap = f["cap_mw"].to_numpy(float)
    existing = f["existing_mw"].to_numpy(float)
    ai_cap = f["ai_cap_mw"].to_numpy(float)
    asked, must = asked_and_must(f, tl, val)
    block = f["min_block_mw"].to_numpy(float)
    allow_mining, allow_ai = f["allow_mining"].to_numpy(bool), f["allow_ai"].to_numpy(bool)
    allow_cloud = f["allow_ai_cloud"].to_numpy(bool)
    region = f["region"].to_numpy()
    capex_ai = f["capex_ai_usd_per_mw"].to_numpy(float)
    capex_gpu = f["capex_cloud_usd_per_mw"].to_numpy(float) - capex_ai  # a cloud MW's first GPUs
    capex_new = f["capex_new_usd_per_mw"].to_numpy(float)
    years = [Year() for _ in range(T)]
    # AI MW that may be removed: at sites valued by lease income (a given NPV cannot be split by year)
    removable = np.isfinite(val.u_ai[:, -1]) & bool(tl.allow_removal)
    v_ai_next = np.c_[val.v_ai[:, 1:], np.zeros(n)]
    # a cloud MW is an ai MW worth this much more (model.site_objective); cloud MW stay once built
    v_up = val.v_cloud - val.v_ai
    v_up_next = np.c_[v_up[:, 1:], np.zeros(n)]
    v_new_next = np.r_[val.v_new[1:], 0.0]
    for t, yr in enumerate(years):
        tag = f"{t}_"
        before = years[t - 1] if t else Year()

        def value(i, var, usd, yr=yr):
            yr.terms.append((i, var, usd / SCALE))

        for i in range(n):
            if existing[i] > 0 and allow_mining[i]:
                yr.keep[i] = prob.add_variable(f"keep_{tag}{i}", 0, float(existing[i]))
                value(i, yr.keep[i], val.w_keep[t])
            if allow_mining[i] and cap[i] > existing[i] and val.new_allowed[t]:
                yr.new[i] = prob.add_variable(f"new_{tag}{i}", 0)
                if tl.allow_removal:  # each year's MW a vintage of its own, removable in any later year
                    yr.built_new[i] = prob.add_variable(f"built_new_{tag}{i}", 0)
                    value(i, yr.built_new[i], val.v_new[t])
                    for b in range(t):
                        if i in years[b].built_new:
                            yr.retired[b, i] = prob.add_variable(f"retired_{b}_{tag}{i}", 0)
                            value(i, yr.retired[b, i], -val.u_new[b, t])
                    prob += pulp.LpConstraint(_expr([(yr.new[i], 1.0), (yr.built_new[i], -1.0)]
                                                    + ([(before.new[i], -1.0)] if i in before.new else [])
                                                    + [(v, 1.0) for (b, k), v in yr.retired.items() if k == i]),
                                              pulp.LpConstraintEQ, f"change_new_{tag}{i}", 0.0)
                else:
                    value(i, yr.new[i], val.v_new[t] - v_new_next[t])
            if allow_ai[i] and ai_cap[i] > 0 and val.ai_allowed[i, t]:
                yr.ai[i] = prob.add_variable(f"ai_{tag}{i}", float(must[i, t]), float(asked[i, t]))
                if removable[i]:  # built and removed MW (below): each valued on its own
                    yr.built[i] = prob.add_variable(f"built_{tag}{i}", 0)
                    value(i, yr.built[i], val.v_ai[i, t])
                    if t and i in years[t - 1].ai:
                        yr.removed[i] = prob.add_variable(f"removed_{tag}{i}", 0)
                        value(i, yr.removed[i], -val.u_ai[i, t])
                    prev = [(years[t - 1].ai[i], -1.0)] if t and i in years[t - 1].ai else []
                    prob += pulp.LpConstraint(_expr([(yr.ai[i], 1.0), (yr.built[i], -1.0)] + prev
                                                    + ([(yr.removed[i], 1.0)] if i in yr.removed else [])),
                                              pulp.LpConstraintEQ, f"change_{tag}{i}", 0.0)
                else:
                    value(i, yr.ai[i], val.v_ai[i, t] - v_ai_next[i, t])
                if block[i] > 0:
                    yr.z[i] = prob.add_variable(f"z_{tag}{i}", 1 if must[i, t] > 0 else 0, 1, cat=pulp.LpBinary)
                if allow_cloud[i]:  # the part of the AI MW the site runs as its own cloud (model.build)
                    yr.cloud[i] = prob.add_variable(f"cloud_{tag}{i}", 0, float(ai_cap[i]))
                    prob += pulp.LpConstraint(_expr([(yr.cloud[i], 1.0), (yr.ai[i], -1.0)]), pulp.LpConstraintLE,
                                              f"cloud_{tag}{i}", 0.0)
                    value(i, yr.cloud[i], v_up[i, t] - v_up_next[i, t])
        if not params.split_paths:  # one path per site in each year's state
            yr.paths = mdl._one_path(prob, f, yr.keep, yr.new, yr.ai, yr.cloud, tag=tag)
        for i in range(n):
            pairs = [(v[i], 1.0) for v in (yr.keep, yr.new, yr.ai) if i in v]
            if pairs:
                yr.poi[i] = pulp.LpConstraint(_expr(pairs), pulp.LpConstraintLE, f"poi_{tag}{i}", float(cap[i]))
                prob += yr.poi[i]
        for i, z in yr.z.items():
            a = yr.ai[i]
            yr.aiup[i] = pulp.LpConstraint(_expr([(a, 1.0), (z, -float(ai_cap[i]))]), pulp.LpConstraintLE,
                                           f"aiup_{tag}{i}", 0.0)
            prob += yr.aiup[i]
            # a year asked for less than a block builds what it is asked for
            lo = min(float(block[i]), float(asked[i, t])) if asked[i, t] > 0 else float(block[i])
            prob += pulp.LpConstraint(_expr([(a, 1.0), (z, -lo)]), pulp.LpConstraintGE, f"ailo_{tag}{i}", 0.0)
        if t:  # what is built stays; today's mining may stop, and once stopped stays stopped (a restart
            # would skip the hardware refresh of the years it stood still)
            for i, v in yr.keep.items():
                if i in before.keep:
                    prob += pulp.LpConstraint(_expr([(v, 1.0), (before.keep[i], -1.0)]), pulp.LpConstraintLE,
                                              f"stop_keep_{tag}{i}", 0.0)
            for name in ("ai", "new", "z", "cloud"):
                now, prev = getattr(yr, name), getattr(before, name)
                for i, v in prev.items():
                    if i in now and ((name in ("ai", "z") and removable[i]) or (name == "new" and tl.allow_removal)):
                        continue  # may be removed
                    if i in now:
                        prob += pulp.LpConstraint(_expr([(now[i], 1.0), (v, -1.0)]), pulp.LpConstraintGE,
                                                  f"stay_{name}_{tag}{i}", 0.0)
                    else:  # not allowed this year (a cap of 0): nothing before either
                        prob += pulp.LpConstraint(_expr([(v, 1.0)]), pulp.LpConstraintEQ, f"none_{name}_{tag}{i}", 0.0)
        yr.loads = _year_loads(prob, cand, params, tl, t, yr.keep, yr.new, yr.ai)
        for r, pool in tl.pools_mw.items():
            terms = []
            for i in np.flatnonzero(region == r):
                pairs = [(v[i], -1.0) for v in (yr.keep, yr.new, yr.ai) if i in v]
                if not pairs:
                    continue
                draw = prob.add_variable(f"draw_{tag}{i}", 0)
                prob += pulp.LpConstraint(_expr([(draw, 1.0)] + pairs), pulp.LpConstraintGE, f"draw_{tag}{i}",
                                          -float(existing[i]))
                terms.append((draw, 1.0))
            yr.pools[r] = pulp.LpConstraint(_expr(terms), pulp.LpConstraintLE, f"pool_{tag}{r}", float(pool[t]))
            prob += yr.pools[r]
        for r, mw in tl.ai_demand_mw.items():
            terms = [(yr.ai[i], 1.0) for i in np.flatnonzero(region == r) if i in yr.ai]
            yr.demand[r] = pulp.LpConstraint(_expr(terms), pulp.LpConstraintLE, f"demand_{tag}{r}", float(mw[t]))
            prob += yr.demand[r]
    by_vintage: dict[tuple, list] = {}  # a new-mining vintage is removed at most once in all
    for yr in years:
        for (b, i), v in yr.retired.items():
            by_vintage.setdefault((b, i), []).append((v, 1.0))
    for (b, i), retired in by_vintage.items():
        prob += pulp.LpConstraint(_expr(retired + [(years[b].built_new[i], -1.0)]), pulp.LpConstraintLE,
                                  f"retire_{b}_{i}", 0.0)
    prob += _expr([(v, c) for yr in years for _, v, c in yr.terms])

    # capex is spent when an increment is decided
    spent: list[list] = [[] for _ in range(T)]
    for t, yr in enumerate(years):
        prev = years[t - 1] if t else Year()
        for i, v in yr.ai.items():
            c = capex_ai[i] / SCALE
            if i in yr.built:
                spent[val.ai_decided[i, t]] += [(yr.built[i], c)]
            else:
                spent[val.ai_decided[i, t]] += [(v, c)] + ([(prev.ai[i], -c)] if i in prev.ai else [])
        for i, v in yr.cloud.items():  # the first GPUs, decided with the shell
            c = capex_gpu[i] / SCALE
            spent[val.ai_decided[i, t]] += [(v, c)] + ([(prev.cloud[i], -c)] if i in prev.cloud else [])
        for i, v in yr.new.items():
            c = capex_new[i] / SCALE
            if i in yr.built_new:
                spent[val.new_decided[t]] += [(yr.built_new[i], c)]
            else:
                spent[val.new_decided[t]] += [(v, c)] + ([(prev.new[i], -c)] if i in prev.new else [])
    if tl.budget_usd is not None:
        for t, limit in enumerate(tl.budget_usd):
            if np.isfinite(limit) and spent[t]:
                prob += pulp.LpConstraint(_expr(spent[t]), pulp.LpConstraintLE, f"budget_{t}", float(limit) / SCALE)
    budget = None
    if params.max_capex_usd is not None:  # in all: the capex of the last year's state (increments telescope)
        end = years[-1]
        terms = mdl.capex_terms(f, {} if tl.allow_removal else end.new,
                                {i: v for i, v in end.ai.items() if not removable[i]}, end.cloud)
        terms += [(v, capex_ai[i] / SCALE) for yr in years for i, v in yr.built.items()]  # every MW built
        terms += [(v, capex_new[i] / SCALE) for yr in years for i, v in yr.built_new.items()]
        budget = pulp.LpConstraint(_expr(terms), pulp.LpConstraintLE, "budget", params.max_capex_usd / SCALE)
        prob += budget

    def every(name):
        return {(t, i): v for t, yr in enumerate(years) for i, v in getattr(yr, name).items()}

    all_loads = {k: v for yr in years for k, v in yr.loads.items()}
    built = Built(prob=prob, keep=every("keep"), new=every("new"), ai=every("ai"), z=every("z"),
                  cloud=every("cloud"), paths=every("paths"), load=[], poi=every("poi"), aiup=every("aiup"),
                  pools={(t, r): c for t, yr in enumerate(years) for r, c in yr.pools.items()},
                  demand={(t, r): c for t, yr in enumerate(years) for r, c in yr.demand.items()},
                  budget=budget, loads=all_loads)
    return built, years


def end_state(built: Built, years: list[Year], net: Network) -> tuple[Built, Network]:
    """Views of the last year alone: its variables and rows as a single-period :class:`Built`, and
    its states as a :class:`Network` (for :func:`planner.result.assemble`). The load vectors are
    the model's (with redispatch they end with the generators' output changes)."""
    end = years[-1]
    names = set(end.loads)
    view = Built(prob=built.prob, keep=end.keep, new=end.new, ai=end.ai, z=end.z, cloud=end.cloud,
                 paths=end.paths, load=[], poi=end.poi, aiup=end.aiup, pools=end.pools, demand=end.demand,
                 budget=built.budget,
                 loads={k: built.loads[k] for k in end.loads},
                 rows={k: c for k, c in built.rows.items() if k[1] in names}, live=built.live,
                 segments={k: v for k, v in built.segments.items() if k in names})
    states = [st for st in net.states if st.name in names]
    if isinstance(net, Network):
        return view, dataclasses.replace(net, states=states, screened=states[0].n0.screened)
    return view, dataclasses.replace(net, states=states)  # redispatch: every branch is screened in


def _reference(cand: Candidates, params: Params, tl: Timeline) -> Built:
    """The redispatch reference of a timeline: no site variable, a zero load vector per state of
    every year (:func:`planner.solve._reference_dispatch` adds the dispatch)."""
    prob = pulp.LpProblem("planner_timeline_reference", pulp.LpMaximize)
    loads = {}
    for t in range(tl.n):
        loads.update(_year_loads(prob, cand, params, tl, t, {}, {}, {}))
    prob += _expr([])
    return Built(prob=prob, keep={}, new={}, ai={}, z={}, load=[], poi={}, aiup={}, pools={}, demand={},
                 budget=None, loads=loads)


def _energy_payments(years: list[Year], net, params: Params) -> tuple[list[tuple], list[dict]]:
    """Redispatch: each year's energy payments on its MW (objective terms, million $) and the
    payment of one MW of each use in each year ($): the power price over the hours of the year's
    window (the last year's: to the horizon), each use's share of its states averaged."""
    from planner import redispatch

    terms, per_mw = [], []
    for t, yr in enumerate(years):
        shares = [st.share for st in net.states if net.period_of[st.name] == t]
        pay = redispatch.energy_payment_usd_per_mw(params, shares, redispatch.period_window(params, t, len(years)))
        per_mw.append(pay)
        for var_set, use in ((yr.keep, "mining"), (yr.new, "mining"), (yr.ai, "ai")):
            terms.extend((v, pay[use] / SCALE) for v in var_set.values())
    return terms, per_mw


# --------------------------------------------------------------------------- solve


def plan_timeline(grid, sites, params: Params, tl: Timeline, *, model: sens.DCModel | None = None,
                  scenario: str | None = None):
    """Allocate interconnect capacity year by year; returns a :class:`planner.Result` of the end
    state (the last year), with ``result.timeline`` (one row per year and region), the
    allocation's ``first_year`` and per-year MW columns, and ``summary["timeline"]``. A supply pool
    or AI demand of ``params`` for a region the timeline does not list holds in every year."""
    from planner import solve as slv
    from planner.result import assemble

    params = params.validate()
    tl = tl.validate()
    held = {mine: {**{r: np.full(tl.n, float(v)) for r, v in getattr(params, theirs).items()}, **getattr(tl, mine)}
            for mine, theirs in (("pools_mw", "supply_pools_mw"), ("ai_demand_mw", "ai_demand_mw"))}
    tl = dataclasses.replace(tl, **held).validate()
    if 12 * (tl.n - 1) >= 12.0 * float(params.economics.horizon_years):
        raise InputError(f"the last year starts after the economics' horizon of {params.economics.horizon_years:g} "
                         "years from the first", field="timeline.years", value=f"{tl.years[0]}-{tl.years[-1]}",
                         expected=f"at most {int(np.ceil(params.economics.horizon_years))} years, or a longer "
                                  "economics.horizon_years")
    redispatching = params.supply_response == "redispatch"
    sites, timings, t0, _ = slv.begin(grid, sites, params)
    t = time.perf_counter()
    slack = slv.fixed_slack(params.supply_response)
    end_params = dataclasses.replace(params, supply_pools_mw={r: float(v[-1]) for r, v in tl.pools_mw.items()},
                                     ai_demand_mw={r: float(v[-1]) for r, v in tl.ai_demand_mw.items()})
    cand = mdl.candidates(sites, end_params)
    if len(cand) == 0:
        raise InputError("no site maps to a bus of the grid with a MW figure", source="sites",
                         expected=f"sites inside grid '{grid.name}' with poi_mw, it_mw or operating_mw")
    model = model if model is not None and model.slack == slack else sens.dc_model(grid, slack)
    periods = [(tl.name(k), float(tl.load_factor[k])) for k in range(tl.n)]
    net = build_network(model, grid, cand, params, periods=periods)
    timings["sensitivities"] = time.perf_counter() - t
    logger.info(f"timeline {tl.years[0]}-{tl.years[-1]}: {len(cand)} sites at {len(cand.buses)} buses, "
                f"{len(net.states)} load states")
    deadline = slv.solver_deadline(params)   # the solver's time limit runs from here (after the network)
    t = time.perf_counter()
    val = values(cand.frame, params.economics, tl.n)
    built, years = build(cand, params, tl, val)
    paid_per_mw = ref_xs = None
    if redispatching:
        from planner import redispatch

        redispatch.add_dispatch(built, net, params, pay=False)
        pay, paid_per_mw = _energy_payments(years, net, params)
        built.prob.setObjective(built.prob.objective + _expr(pay))
    timings["build"] = time.perf_counter() - t
    if redispatching:
        t = time.perf_counter()
        ref_xs = slv._reference_dispatch(cand, net, params, deadline, built=_reference(cand, params, tl))
        timings["reference_dispatch"] = time.perf_counter() - t
    t = time.perf_counter()
    mip = slv._lazy_solve(built, net, params, mip=True, deadline=deadline)
    timings["solve"] = mip.solver_s if np.isfinite(mip.solver_s) else mip.solve_s
    timings["pulp_to_solver"] = mip.solve_s - timings["solve"]
    timings["lazy_rows"] = time.perf_counter() - t - mip.solve_s
    view, net_end = end_state(built, years, net)
    end_model = net_end.states[0].model
    if mip.status == "infeasible":
        # the end state's conflict, with the must-serve MW of the last year (not the requests' full MW)
        last = dataclasses.replace(cand, frame=cand.frame.assign(ai_min_mw=asked_and_must(cand.frame, tl, val)[1][:, -1]))
        raise InfeasibleError("the timeline is infeasible: " + slv._diagnose(last, end_params, net_end, model))
    if mip.status not in slv.STATUS_OK:
        raise SolverError(f"the solver stopped without a solution (status {mip.status}); "
                          "try a longer time_limit_s or a larger mip_gap")
    t = time.perf_counter()
    tie = slv.break_ties(built, net, params, deadline, slv.tie_columns(built, cand))
    mip = slv._with_tie_break(mip, tie)
    timings["tie_break"] = time.perf_counter() - t
    t = time.perf_counter()
    lp = slv._fix_and_price(built, net, params)
    view.rows = {k: c for k, c in built.rows.items() if k[1] in view.loads}  # with the rows pricing added
    timings["duals"] = time.perf_counter() - t
    t = time.perf_counter()
    tie.polish = slv.polish(built, net, params, slv.tie_columns(built, cand), dispatch=slv.dispatch_scores(built, net))
    view.rows = {k: c for k, c in built.rows.items() if k[1] in view.loads}
    timings["tie_break"] += time.perf_counter() - t
    mw = _year_values(years, len(cand))
    site_npv = _site_npv(years, len(cand))
    npv = float(site_npv.sum())
    values_end = slv._collect(view, cand)
    xs = slv._state_loads(view)
    if redispatching:
        xs_all = slv._state_loads(built)
        paid = sum(float(v.varValue or 0.0) * c for v, c in pay) * SCALE
    existing = None
    if params.check_existing_load and cand.frame["existing_mw"].sum() > 0:
        t = time.perf_counter()
        existing = slv._existing_capacity(cand, net_end, end_params)
        timings["existing_load_check"] = time.perf_counter() - t
    requested_end = sum(float(v[-1]) for v in tl.requested_mw.values()) if tl.requested_mw else None
    end_params = dataclasses.replace(end_params, requested_ai_mw=requested_end
                                     if requested_end is not None else params.requested_ai_mw)
    result = assemble(grid, sites, end_model, cand, view, net_end, values_end, mip, lp, existing, end_params,
                      scenario=scenario, xs=xs)
    result.summary["network"]["supply_response"] = params.supply_response
    result.summary["tie_break"] = tie.block()
    if redispatching:
        shown = {str(y): {u: round(float(x), 0) for u, x in p.items()} for y, p in zip(tl.years, paid_per_mw)}
        block, result.dispatch_table = redispatch.report(net, params, xs_all, ref_xs, None, cand,
                                                         payments=(paid, shown))
        block["energy_payment_basis"] = ("each year's MW pay for the hours of that year (the last year's: to the "
                                         "horizon); generation cost likewise, against each year's dispatch "
                                         "without new load")
        result.summary["redispatch"] = block
        npv += block["supply_margin_npv_usd"]
    result.summary["objective_usd"] = round(npv, 0)
    rows = cand.frame["row"].to_numpy()
    value = result.allocation["value_usd"].to_numpy(float).copy()
    value[rows] = site_npv
    result.allocation["value_usd"] = value
    table, first = _table(cand, tl, val, mw)
    _add_year_columns(result.allocation, rows, tl, mw, first)
    result.timeline = table
    result.summary["timeline"] = _summary_block(table, tl, mw, val, cand)
    timings["total"] = time.perf_counter() - t0
    result.summary["timings_s"] = {k: round(v, 4) for k, v in timings.items()}
    result.summary["versions"] = slv._versions()
    return result


def _year_values(years: list[Year], n: int) -> dict[str, np.ndarray]:
    """MW of each use (sites x years; ``cloud`` a part of ``ai``) and the binaries."""
    out = {}
    for name in ("keep", "new", "ai", "cloud", "z"):
        a = np.zeros((n, len(years)))
        for t, yr in enumerate(years):
            for i, v in getattr(yr, name).items():
                a[i, t] = v.varValue or 0.0
        a[np.abs(a) < 1e-7] = 0.0
        out[name] = a
    out["cloud"] = np.minimum(out["cloud"], out["ai"])  # solver round-off: never more cloud than AI
    out["z"] = np.round(out["z"])
    return out


def _site_npv(years: list[Year], n: int) -> np.ndarray:
    """Each site's NPV over the timeline ($): its objective terms at the solution (what it builds
    valued from its energization, what it removes, today's mining it keeps)."""
    out = np.zeros(n)
    for yr in years:
        if yr.terms:
            site, var, coef = zip(*yr.terms)
            np.add.at(out, np.array(site), np.array(coef) * np.array([v.varValue or 0.0 for v in var]))
    return out * SCALE


def _table(cand: Candidates, tl: Timeline, val: Values, mw: dict) -> tuple[pd.DataFrame, np.ndarray]:
    """timeline.csv (one row per year and region) and each site's first year of new load."""
    f = cand.frame
    T, n = tl.n, len(f)
    years = np.array(tl.years)
    removed_ai = np.clip(-np.diff(mw["ai"], axis=1, prepend=0.0), 0.0, None)
    removed_new = np.clip(-np.diff(mw["new"], axis=1, prepend=0.0), 0.0, None)
    inc_ai = np.clip(np.diff(mw["ai"], axis=1, prepend=0.0), 0.0, None)
    inc_new = np.clip(np.diff(mw["new"], axis=1, prepend=0.0), 0.0, None)
    # energized after the last year began: MW of the end state whose lead runs past its start
    start_last = 12.0 * (T - 1) + 1e-9
    ai_later = np.where(val.ai_energized[:, -1] > start_last, inc_ai[:, -1], 0.0)
    new_later = inc_new[:, -1] if val.new_energized[-1] > start_last else np.zeros(n)
    in_service_ai = mw["ai"].copy()
    in_service_ai[:, -1] -= ai_later
    # of which run as the site's own cloud (its shell energized with the AI MW it is part of)
    inc_cloud = np.clip(np.diff(mw["cloud"], axis=1, prepend=0.0), 0.0, None)
    in_service_cloud = mw["cloud"].copy()
    in_service_cloud[:, -1] -= np.where(val.ai_energized[:, -1] > start_last, inc_cloud[:, -1], 0.0)
    in_service_cloud = np.clip(np.minimum(in_service_cloud, in_service_ai), 0.0, None)
    mining = mw["keep"] + mw["new"]
    mining_in_service = mining.copy()
    mining_in_service[:, -1] -= new_later
    conversion = (f["kind"].to_numpy() == "conversion")
    # each site's first year of new load: the earlier of its first AI and first new-mining MW
    first = np.full(n, np.iinfo(np.int64).max)
    for inc, months in ((inc_ai, val.ai_energized), (inc_new, np.broadcast_to(val.new_energized, inc_new.shape))):
        hit = inc > TOL_MW
        t0 = hit.argmax(axis=1)
        month = np.take_along_axis(months, t0[:, None], axis=1)[:, 0]
        year = tl.years[0] + np.maximum(t0, np.floor(month / 12.0 + 1e-9).astype(np.int64))
        first = np.where(hit.any(axis=1), np.minimum(first, year), first)
    first = np.where(first == np.iinfo(np.int64).max, -1, first)
    region = f["region"].to_numpy()
    existing = f["existing_mw"].to_numpy(float)
    draw = np.clip(mw["keep"] + mw["new"] + mw["ai"] - existing[:, None], 0.0, None)
    names = sorted(set(region) | set(tl.requested_mw) | set(tl.pools_mw))
    records = []
    for t in range(T):
        for r in names:
            here = region == r
            requested = float(tl.requested_mw[r][t]) if r in tl.requested_mw else 0.0
            served = float(in_service_ai[here, t].sum())
            records.append({
                "year": int(years[t]), "region": r,
                "pool_mw": float(tl.pools_mw[r][t]) if r in tl.pools_mw else np.nan,
                "pool_drawn_mw": float(draw[here, t].sum()),
                "requested_ai_mw": requested,
                "served_ai_mw": served,
                "served_ai_cloud_mw": float(in_service_cloud[here, t].sum()),
                "ai_at_converted_mines_mw": float(in_service_ai[here & conversion, t].sum()),
                "unmet_ai_mw": max(requested - served, 0.0),
                "mining_mw": float(mining_in_service[here, t].sum()),
                "new_mw_energized": float((inc_ai[here, t] - (ai_later[here] if t == T - 1 else 0)).sum()
                                          + (inc_new[here, t] - (new_later[here] if t == T - 1 else 0)).sum()),
                "energized_after_mw": float((ai_later[here] + new_later[here]).sum()) if t == T - 1 else 0.0,
                "removed_ai_mw": float(removed_ai[here, t].sum()),
                "removed_mining_mw": float(removed_new[here, t].sum()),
            })
    table = pd.DataFrame.from_records(records)
    num = table.columns.difference(["year", "region"])
    table[num] = table[num].round(3)
    return table, first


def _add_year_columns(alloc: pd.DataFrame, rows: np.ndarray, tl: Timeline, mw: dict, first: np.ndarray) -> None:
    col = pd.array([pd.NA] * len(alloc), dtype="Int64")
    col[rows] = pd.array(np.where(first >= 0, first, 0), dtype="Int64")
    col[rows[first < 0]] = pd.NA
    alloc["first_year"] = col
    for t, y in enumerate(tl.years):
        for name, data in (("ai_mw", mw["ai"][:, t]), ("ai_lease_mw", mw["ai"][:, t] - mw["cloud"][:, t]),
                           ("ai_cloud_mw", mw["cloud"][:, t]), ("mining_mw", mw["keep"][:, t] + mw["new"][:, t])):
            c = np.zeros(len(alloc))
            c[rows] = np.round(data, 6)
            alloc[f"{name}_{y}"] = c


def _summary_block(table: pd.DataFrame, tl: Timeline, mw: dict, val: Values, cand: Candidates) -> dict:
    by_year = table.groupby("year")[["requested_ai_mw", "served_ai_mw", "served_ai_cloud_mw", "unmet_ai_mw",
                                      "ai_at_converted_mines_mw", "mining_mw", "new_mw_energized",
                                      "energized_after_mw"]].sum()

    def per_year(col):
        return {str(y): round(float(v), 3) for y, v in by_year[col].items()}

    regions = {}
    for r, g in table.groupby("region"):
        regions[str(r)] = {str(y): round(float(v), 3) for y, v in zip(g["year"], g["unmet_ai_mw"])}
    return {
        "years": list(tl.years),
        "base_load_factor": {str(y): round(float(f), 6) for y, f in zip(tl.years, tl.load_factor)},
        "requested_ai_mw": per_year("requested_ai_mw"),
        "served_ai_mw": per_year("served_ai_mw"),
        "served_ai_cloud_mw": per_year("served_ai_cloud_mw"),
        "gap_mw": per_year("unmet_ai_mw"),
        "gap_by_region_mw": regions,
        "ai_at_converted_mines_mw": per_year("ai_at_converted_mines_mw"),
        "mining_mw": per_year("mining_mw"),
        "new_mw_energized": per_year("new_mw_energized"),
        "energized_after_last_year_began_mw": round(float(by_year["energized_after_mw"].iloc[-1]), 3),
    }
