"""Brute-force reference of the allocation (single period and timeline) for tests/test_matrix.py.

Independent of planner's MILP and of planner's DC model: the network is a PTDF computed here from
the grid's raw tables (``grid.tables``: bus, branch, gen; branch susceptance 1 / x), with an N-1
outage handled by *removing the branch and recomputing the PTDF* (no LODF). The base flows it gives
are checked against pandapower's ``rundcpp`` (:func:`check_against_pandapower`). Every discrete
choice (the block binaries of the sites; in a timeline the year each binary first is 1) is
enumerated; for each, one LP (scipy ``linprog``, HiGHS) over the continuous MW of every path of
every site in every year (and, with redispatch, every generator's piecewise-linear output).

What the reference writes out from the README / module docstrings (not from planner's code):

* site values: the single period's NPV per MW of each path (planner.economics' formulas:
  ``mining_npv_per_mw``, ``ai_npv_per_mw``, ``ai_cloud_npv_per_mw``, or a site's given
  ``ai_value_usd_per_mw`` / ``ai_cloud_value_usd_per_mw``); in a timeline the year values of
  planner/timeline.py's docstring (AI MW first in year t are energized at ``max(12 t, lead)``, their
  capex paid ``lead`` months before; today's mining valued year by year; new mining energized at
  ``max(12 t, mining lead)``), and the increments telescoped;
* supply responses: the new load at bus j is picked up by the reference bus (single), by every
  generator in proportion to its headroom ``Pmax - Pg`` (headroom) or ``Pmax`` (pmax), by the
  generators of the site's supply region in proportion to their headroom (regional), or by
  generator outputs chosen by the LP (redispatch: each generator within ``[min(Pmin, Pg), max(Pmax,
  Pg)]`` over the years, its quadratic cost as a convex piecewise-linear curve of equal segments
  exact at the breakpoints, new MW paying the power price, the NPV counting the change of
  generation cost against the LP dispatch without new load, each year weighted by its discounted
  hours);
* N-0: ``|f| <= max(rate, |f without new load|)``; N-1: for every branch whose removal leaves the
  grid connected, every other branch ``|f_post| <= max(factor x rate, |f_post without new load|)``
  (the instances set ``overload_dfax = 0``: no distribution-factor cut-off), one dispatch for all
  outages (preventive).

Load states (planner/security.py): ``peak`` counts each use's firm share of its new MW at the year's
base load; unless every share is 1 and ``offpeak_load_factor`` is 1, ``offpeak`` counts every new MW
with the base load (and the generators, in proportion to their output) scaled by that factor. With
redispatch each state has its own dispatch and stands for an equal share of its year's hours, and a
MW pays the power price times its use's share averaged over the states.

Scope (asserted): split paths, no pools, AI demand caps, budgets or requests; a base case whose generation equals its load (so the
loss balancing of a distributed slack changes nothing and a year's load growth scales every
generator with the load).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.optimize import linprog
from scipy.sparse import csgraph, csr_matrix

from planner import economics as E

MINING_USES = ("bitcoin", "conversion")


# --------------------------------------------------------------------------- the network, from the raw tables


class RefNet:
    """A lossless DC model from the grid's raw tables: PTDF with the reference (type 3) bus as slack."""

    def __init__(self, grid):
        t = grid.tables
        bus, branch, gen = t.bus, t.branch[t.branch["status"] == 1], t.gen[t.gen["status"] == 1]
        assert (branch["r"] == 0).all() and (branch["ratio"] == 0).all() and (branch["angle"] == 0).all()
        self.bus_ids = bus["bus_id"].to_numpy(int)
        self.pos = {int(b): k for k, b in enumerate(self.bus_ids)}
        self.nb = len(self.bus_ids)
        self.branch_ids = branch["branch_id"].to_numpy(int)
        self.f = np.array([self.pos[int(b)] for b in branch["from_bus_id"]])
        self.t = np.array([self.pos[int(b)] for b in branch["to_bus_id"]])
        self.b = 1.0 / branch["x"].to_numpy(float)
        self.rate = branch["rateA"].to_numpy(float)
        self.monitored = self.rate > 0
        self.ref = int(np.flatnonzero(bus["type"].to_numpy(int) == 3)[0])
        self.pd = bus["Pd"].to_numpy(float)
        self.gen_ids = gen["gen_id"].to_numpy(int)
        self.gen_pos = np.array([self.pos[int(b)] for b in gen["bus_id"]])
        self.pg = gen["Pg"].to_numpy(float)
        self.pmax = gen["Pmax"].to_numpy(float)
        self.pmin = gen["Pmin"].to_numpy(float)
        self._ptdf = {}

    @property
    def nl(self) -> int:
        return len(self.b)

    def ptdf(self, out: int | None = None) -> np.ndarray | None:
        """Branches x buses: flow per MW injected at a bus and taken at the reference bus, with
        branch ``out`` (a position) removed (its row 0); None when its removal splits the grid."""
        if out in self._ptdf:
            return self._ptdf[out]
        live = np.ones(self.nl, bool)
        if out is not None:
            live[out] = False
        graph = csr_matrix((np.ones(live.sum()), (self.f[live], self.t[live])), shape=(self.nb, self.nb))
        if csgraph.connected_components(graph, directed=False)[0] > 1:
            self._ptdf[out] = None
            return None
        inc = np.zeros((self.nl, self.nb))
        inc[np.arange(self.nl), self.f] = 1.0
        inc[np.arange(self.nl), self.t] = -1.0
        inc[~live] = 0.0
        bf = self.b[:, None] * inc
        bbus = inc.T @ bf
        keep = np.setdiff1d(np.arange(self.nb), [self.ref])
        x = np.zeros((self.nb, self.nb))
        x[np.ix_(keep, keep)] = np.linalg.inv(bbus[np.ix_(keep, keep)])
        p = bf @ x
        self._ptdf[out] = p
        return p

    def contingencies(self, security: str) -> list[int | None]:
        """None (the intact grid) and, for N-1, every monitored branch whose removal keeps the grid whole."""
        outs: list[int | None] = [None]
        if security == "n-1":
            outs += [k for k in range(self.nl) if self.monitored[k] and self.ptdf(k) is not None]
        return outs

    def injections(self, factor: float) -> np.ndarray:
        """Base-case bus injections with every load (and, the case being balanced, every generator) scaled."""
        inj = -self.pd * factor
        np.add.at(inj, self.gen_pos, self.pg * factor)
        return inj


def check_against_pandapower(grid, net: RefNet) -> float:
    """Largest difference (MW) between this model's flows and pandapower's rundcpp, over the intact
    grid and every single outage that keeps it whole, with and without a test injection."""
    import copy
    import warnings

    import pandapower as pp

    worst = 0.0
    pnet = grid.net
    for out in [None] + list(range(net.nl)):
        p = net.ptdf(out)
        if p is None:
            continue
        for extra_bus in (None, int(net.bus_ids[-1])):
            n = copy.deepcopy(pnet)
            inj = net.injections(1.0)
            if extra_bus is not None:
                pp.create_load(n, extra_bus, p_mw=37.0)
                inj[net.pos[extra_bus]] -= 37.0
            if out is not None:
                n.line.loc[int(net.branch_ids[out]), "in_service"] = False
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                pp.rundcpp(n)
            flow_pp = n.res_line["p_from_mw"].reindex(net.branch_ids).fillna(0.0).to_numpy()
            worst = max(worst, float(np.abs(flow_pp - p @ inj).max()))
    return worst


# --------------------------------------------------------------------------- sites


@dataclass
class SiteData:
    mine: np.ndarray
    cap: np.ndarray
    existing: np.ndarray
    ai_cap: np.ndarray
    block: np.ndarray
    allow_mining: np.ndarray
    allow_ai: np.ndarray
    allow_cloud: np.ndarray
    capex: np.ndarray
    lead: np.ndarray
    lease: np.ndarray
    ai_override: np.ndarray
    cloud_override: np.ndarray
    bus_pos: np.ndarray
    region: np.ndarray


def _col(sites, name, default):
    if name not in sites:
        return np.broadcast_to(np.asarray(default, float), len(sites)).astype(float)
    v = pd.to_numeric(sites[name], errors="coerce").to_numpy(float)
    return np.where(np.isfinite(v), v, default)


KNOWN = {"site_id", "bus", "poi_mw", "operating_mw", "current_use", "region", "ai_lease_usd_per_kw_month",
         "ai_capex_usd_per_mw", "ai_lead_months", "min_block_mw", "ai_value_usd_per_mw",
         "ai_cloud_value_usd_per_mw", "allow_ai_cloud", "ai_max_mw", "requested_mw", "status", "bus_interconnect", "bus_kv",
         "distance_km", "geometry"}


def site_data(sites, params, net: RefNet) -> SiteData:
    unknown = set(sites.columns) - KNOWN
    assert not unknown, f"the brute force does not model the site columns {unknown}"
    e = params.economics
    use = sites["current_use"].astype(str).str.lower().to_numpy()
    mine = np.isin(use, MINING_USES)
    cap = sites["poi_mw"].to_numpy(float)
    existing = np.where(mine, np.minimum(_col(sites, "operating_mw", 0.0), cap), 0.0)
    ai_cap = np.minimum(cap, _col(sites, "ai_max_mw", np.inf))
    block = np.minimum(_col(sites, "min_block_mw", params.min_block_mw), ai_cap)
    allow_ai = ~mine | bool(params.allow_conversion)
    if "allow_ai_cloud" in sites:
        flag = sites["allow_ai_cloud"]
        cloud = np.where(flag.notna(), flag.astype(str).str.lower().isin(["true", "1", "yes"]),
                         bool(params.allow_ai_cloud))
    else:
        cloud = np.full(len(sites), bool(params.allow_ai_cloud))
    cloud = cloud & ~(_col(sites, "requested_mw", 0.0) > 0)   # a tenant's request is a lease, never a cloud
    capex = _col(sites, "ai_capex_usd_per_mw", np.where(mine, e.ai_conversion_capex_usd_per_mw,
                                                        e.ai_greenfield_capex_usd_per_mw))
    lead = _col(sites, "ai_lead_months", np.where(mine, e.ai_conversion_lead_months, e.ai_greenfield_lead_months))
    region = (sites["region"].astype(str).to_numpy() if "region" in sites else np.full(len(sites), ""))
    return SiteData(mine=mine, cap=cap, existing=existing, ai_cap=ai_cap, block=block, allow_mining=mine,
                    allow_ai=allow_ai, allow_cloud=cloud & allow_ai, capex=capex, lead=lead,
                    lease=_col(sites, "ai_lease_usd_per_kw_month", e.ai_lease_usd_per_kw_month),
                    ai_override=_col(sites, "ai_value_usd_per_mw", np.nan),
                    cloud_override=_col(sites, "ai_cloud_value_usd_per_mw", np.nan),
                    bus_pos=np.array([net.pos[int(b)] for b in sites["bus"]]), region=region)


@dataclass
class YearValues:
    keep: np.ndarray      # (T): today's mining per MW during the year
    new: np.ndarray       # (T + 1): new mining MW first in year t (last entry 0)
    ai: np.ndarray        # (m, T + 1): lease MW first in year t
    cloud: np.ndarray     # (m, T + 1): cloud MW first in year t
    ai_ok: np.ndarray     # (m, T)
    new_ok: np.ndarray    # (T)


def year_values(s: SiteData, e, T: int | None) -> YearValues:
    """Per-MW values. ``T`` None: the single period (planner.plan); else a timeline of T years."""
    m = len(s.cap)
    if T is None:
        v_ai = np.where(np.isfinite(s.ai_override), s.ai_override,
                        E.ai_npv_per_mw(e, lease_usd_per_kw_month=s.lease, capex_usd_per_mw=s.capex,
                                        lead_months=s.lead))
        v_cloud = np.where(np.isfinite(s.cloud_override), s.cloud_override,
                           E.ai_cloud_npv_per_mw(e, capex_usd_per_mw=s.capex, lead_months=s.lead))
        return YearValues(keep=np.array([float(E.mining_npv_per_mw(e, existing=True))]),
                          new=np.array([float(E.mining_npv_per_mw(e, existing=False)), 0.0]),
                          ai=np.c_[v_ai, np.zeros(m)], cloud=np.c_[v_cloud, np.zeros(m)],
                          ai_ok=np.ones((m, 1), bool), new_ok=np.ones(1, bool))
    H = 12.0 * e.horizon_years
    r = e.discount_rate
    income = (s.lease - e.ai_opex_usd_per_kw_month) * 1000.0 / e.ai_pue * 12.0
    v_ai = np.zeros((m, T + 1))
    v_cloud = np.zeros((m, T + 1))
    ai_ok = np.zeros((m, T), bool)
    for i in range(m):
        for t in range(T):
            ai_ok[i, t] = t == T - 1 or s.lead[i] <= 12 * t
            en = max(12.0 * t, s.lead[i])
            paid = float(E.discount(r, en - s.lead[i]))
            v_ai[i, t] = (s.ai_override[i] * paid if np.isfinite(s.ai_override[i]) else
                          income[i] * float(E.annuity_factor(r, en, H)) - s.capex[i] * paid)
            v_cloud[i, t] = (s.cloud_override[i] * paid if np.isfinite(s.cloud_override[i]) else
                             float(E.ai_cloud_npv_per_mw(e, capex_usd_per_mw=s.capex[i] * paid, lead_months=en)))
    new_ok = np.array([t == T - 1 or e.mining_lead_months <= 12 * t for t in range(T)])
    v_new = np.r_[[float(E.new_mining_npv(e, max(12.0 * t, e.mining_lead_months))) for t in range(T)], 0.0]
    w = np.array([float(E.existing_mining_value(e, 12.0 * t, 12.0 * (t + 1) if t < T - 1 else H)) for t in range(T)])
    return YearValues(keep=w, new=v_new, ai=v_ai, cloud=v_cloud, ai_ok=ai_ok, new_ok=new_ok)


# --------------------------------------------------------------------------- the LP


class LP:
    """A maximization LP written row by row (dense; the instances are tiny)."""

    def __init__(self):
        self.lo, self.hi, self.c = [], [], []
        self.ub_rows, self.ub_rhs, self.eq_rows, self.eq_rhs = [], [], [], []
        self.constant = 0.0
        self.scale = 1e6   # the objective in million $ for the solver

    def var(self, lo=0.0, hi=None, c=0.0) -> int:
        self.lo.append(lo)
        self.hi.append(hi)
        self.c.append(c)
        return len(self.c) - 1

    def le(self, terms, rhs):
        self.ub_rows.append(dict(terms) if not isinstance(terms, dict) else terms)
        self.ub_rhs.append(rhs)

    def eq(self, terms, rhs):
        self.eq_rows.append(dict(terms) if not isinstance(terms, dict) else terms)
        self.eq_rhs.append(rhs)

    def _dense(self, rows):
        a = np.zeros((len(rows), len(self.c)))
        for k, row in enumerate(rows):
            for j, v in row.items():
                a[k, j] += v
        return a

    def freeze(self):
        self.A_ub, self.b_ub = self._dense(self.ub_rows), np.array(self.ub_rhs, float)
        self.A_eq = self._dense(self.eq_rows) if self.eq_rows else None
        self.b_eq = np.array(self.eq_rhs, float) if self.eq_rows else None

    def solve(self, lo=None, hi=None):
        """max c x + constant (in $); None when infeasible."""
        lo = self.lo if lo is None else lo
        hi = self.hi if hi is None else hi
        res = linprog(-np.array(self.c) / self.scale, A_ub=self.A_ub, b_ub=self.b_ub, A_eq=self.A_eq, b_eq=self.b_eq,
                      bounds=list(zip(lo, hi)), method="highs")
        if res.status != 0:
            return None
        return -res.fun * self.scale + self.constant, res.x


# --------------------------------------------------------------------------- the brute force


@dataclass
class Best:
    objective: float
    #: path -> MW (sites x years) at the best choice: keep, new, lease, cloud
    mw: dict
    n_lps: int


def _weights(net: RefNet, s: SiteData, supply: str, gen_regions: dict) -> np.ndarray:
    """Generators x sites: share of a site's new MW each generator picks up (fixed supply responses)."""
    head = np.clip(net.pmax - net.pg, 0.0, None)
    w = np.zeros((len(net.pg), len(s.cap)))
    for i in range(len(s.cap)):
        if supply == "single":
            continue
        if supply == "pmax":
            raw = net.pmax.copy()
        elif supply == "headroom":
            raw = head.copy()
        elif supply == "regional":
            raw = head * np.array([gen_regions.get(int(g)) == s.region[i] for g in net.gen_ids])
        else:
            raise ValueError(supply)
        w[:, i] = raw / raw.sum()
    return w


def _pwl(grid, net: RefNet, lo: np.ndarray, hi: np.ndarray, segments: int):
    """Per generator: cost at ``lo`` ($/h), segment width (MW) and the slope of each segment ($/MWh),
    from the quadratic cost of pandapower's poly_cost, exact at the breakpoints."""
    pc = grid.net.poly_cost.set_index("element")
    c0 = pc.loc[net.gen_ids, "cp0_eur"].to_numpy(float)
    c1 = pc.loc[net.gen_ids, "cp1_eur_per_mw"].to_numpy(float)
    c2 = pc.loc[net.gen_ids, "cp2_eur_per_mw2"].to_numpy(float)

    def cost(p):
        return c0 + c1 * p + c2 * p * p

    width = (hi - lo) / segments
    points = [lo + k * width for k in range(segments + 1)]
    slopes = np.column_stack([(cost(points[k + 1]) - cost(points[k])) / width for k in range(segments)])
    return cost(lo), width, slopes


def brute_force(grid, sites, params, load_factor=None, fixed: dict | None = None, slack_mw: float = 1e-5) -> Best:
    """The best NPV ($) of ``sites`` on ``grid`` with ``params``: the single period (``load_factor``
    None, as planner.plan) or a timeline with one year per entry of ``load_factor`` (as
    planner.plan_timeline).

    ``fixed``: MW a plan gives each site (sites x years): ``mining`` (kept + new), ``ai`` (lease +
    cloud) and ``cloud``, each held within ``slack_mw`` (the plan's MW are rounded): the value of that
    plan (with redispatch: with the best dispatch for its load), or -inf when it breaks a row."""
    assert params.split_paths and not params.supply_pools_mw and not params.ai_demand_mw
    assert params.max_capex_usd is None and not params.rating_derate and params.overload_dfax == 0.0
    e = params.economics
    net = RefNet(grid)
    assert abs(net.pg.sum() - net.pd.sum()) < 1e-9, "the brute force needs a balanced base case"
    s = site_data(sites, params, net)
    single = load_factor is None
    factors = np.array([1.0]) if single else np.asarray(load_factor, float)
    T, m = len(factors), len(s.cap)
    val = year_values(s, e, None if single else T)
    supply = params.supply_response
    redispatch = supply == "redispatch"
    outs = net.contingencies(params.security)
    # load states of every year: (share of mining MW, share of AI MW, base-load multiple); peak counts the
    # firm shares at the year's base load, off-peak every new MW at offpeak_load_factor x that load
    peak = (float(params.mining_firm_share), float(params.ai_firm_share), 1.0)
    states = [peak] if peak[:2] == (1.0, 1.0) and params.offpeak_load_factor == 1.0 else \
        [peak, (1.0, 1.0, float(params.offpeak_load_factor))]
    S = len(states)
    H = 12.0 * e.horizon_years
    # $ of NPV per $/h in year t (its discounted hours; the last year: to the horizon)
    hours = np.array([8760.0 * float(E.annuity_factor(e.discount_rate, 12.0 * t, 12.0 * (t + 1) if t < T - 1 else H))
                      for t in range(T)])
    price = float(e.power_price_usd_per_mwh)
    # redispatch: a MW pays the power price for the hours it runs (its share, averaged over the states)
    pay_mining = price * hours * np.mean([st[0] for st in states]) if redispatch else np.zeros(T)
    pay_ai = price * hours * np.mean([st[1] for st in states]) if redispatch else np.zeros(T)

    lp = LP()
    KEEP, NEW, AI, CLOUD = (np.zeros((m, T), int) for _ in range(4))
    for t in range(T):
        for i in range(m):
            has_keep = s.existing[i] > 0 and s.allow_mining[i]
            KEEP[i, t] = lp.var(0.0, s.existing[i] if has_keep else 0.0, val.keep[t] + pay_mining[t])
            has_new = s.allow_mining[i] and s.cap[i] > s.existing[i] and val.new_ok[t]
            NEW[i, t] = lp.var(0.0, None if has_new else 0.0, val.new[t] - val.new[t + 1] + pay_mining[t])
            has_ai = s.allow_ai[i] and s.ai_cap[i] > 0 and val.ai_ok[i, t]
            AI[i, t] = lp.var(0.0, s.ai_cap[i] if has_ai else 0.0, val.ai[i, t] - val.ai[i, t + 1] + pay_ai[t])
            up = val.cloud[:, t] - val.ai[:, t]
            up_next = val.cloud[:, t + 1] - val.ai[:, t + 1]
            CLOUD[i, t] = lp.var(0.0, s.ai_cap[i] if has_ai and s.allow_cloud[i] else 0.0, up[i] - up_next[i])
            lp.le({KEEP[i, t]: 1, NEW[i, t]: 1, AI[i, t]: 1}, s.cap[i])          # the POI
            lp.le({CLOUD[i, t]: 1, AI[i, t]: -1}, 0.0)                          # the cloud is AI MW
            if t:  # built MW stay; today's mining may stop and does not restart
                lp.le({AI[i, t - 1]: 1, AI[i, t]: -1}, 0.0)
                lp.le({CLOUD[i, t - 1]: 1, CLOUD[i, t]: -1}, 0.0)
                lp.le({NEW[i, t - 1]: 1, NEW[i, t]: -1}, 0.0)
                lp.le({KEEP[i, t]: 1, KEEP[i, t - 1]: -1}, 0.0)

    # generators (redispatch): limits over the years and states, piecewise-linear costs; each state's
    # cost weighted by an equal share of its year's hours
    n_g = len(net.pg)
    base_pg = {(t, k): net.pg * factors[t] * states[k][2] for t in range(T) for k in range(S)}
    if redispatch:
        all_pg = np.array(list(base_pg.values()))
        g_lo = np.minimum(net.pmin, all_pg.min(axis=0))
        g_hi = np.maximum(net.pmax, all_pg.max(axis=0))
        c_lo, width, slopes = _pwl(grid, net, g_lo, g_hi, int(params.redispatch_cost_segments))
        SEG = np.zeros((T, S, n_g, slopes.shape[1]), int)
        for t in range(T):
            for k in range(S):
                for g in range(n_g):
                    for j in range(slopes.shape[1]):
                        SEG[t, k, g, j] = lp.var(0.0, width[g], -hours[t] / S * slopes[g, j])
                lp.constant -= hours[t] / S * c_lo.sum()
    w = None if redispatch else _weights(net, s, supply, params.gen_regions)

    def network_rows(target: LP, t: int, k: int, site_terms: bool, seg: np.ndarray | None):
        share_m, share_a, mult = states[k]
        inj = net.injections(factors[t] * mult)
        for out in outs:
            p = net.ptdf(out)
            f0 = p @ inj
            limit = np.maximum(net.rate * (1.0 if out is None else params.emergency_rating_factor), np.abs(f0))
            if redispatch:
                # flow change: + p at each generator's bus per MW more output, - p at each site's bus per MW
                gcol = p[:, net.gen_pos]
                const = f0 + gcol @ (g_lo - base_pg[t, k])   # output = lo + segments
            else:
                scol = -p[:, s.bus_pos] + p[:, net.gen_pos] @ w
                const = f0
            for l in range(net.nl):
                if not net.monitored[l] or l == out:
                    continue
                row = {}
                if site_terms:
                    coef = -p[l, s.bus_pos] if redispatch else scol[l]
                    for i in range(m):
                        for var, share in ((KEEP[i, t], share_m), (NEW[i, t], share_m), (AI[i, t], share_a)):
                            row[var] = row.get(var, 0.0) + coef[i] * share
                if redispatch:
                    for g in range(n_g):
                        for j in range(seg.shape[-1]):
                            row[seg[t, k, g, j]] = gcol[l, g]
                target.le(row, limit[l] - const[l])
                target.le({j: -v for j, v in row.items()}, limit[l] + const[l])
        if redispatch:  # generation meets the base load and the state's new load
            row = {seg[t, k, g, j]: 1.0 for g in range(n_g) for j in range(seg.shape[-1])}
            if site_terms:
                for i in range(m):
                    for var, share in ((KEEP[i, t], share_m), (NEW[i, t], share_m), (AI[i, t], share_a)):
                        row[var] = -share
            target.eq(row, float(base_pg[t, k].sum() - g_lo.sum()))

    for t in range(T):
        for k in range(S):
            network_rows(lp, t, k, True, SEG if redispatch else None)
    if fixed is not None:
        for i in range(m):
            for t in range(T):
                for name, vars_ in (("mining", (KEEP, NEW)), ("ai", (AI,)), ("cloud", (CLOUD,))):
                    v = float(fixed[name][i, t])
                    lp.le({var[i, t]: 1.0 for var in vars_}, v + slack_mw)
                    lp.le({var[i, t]: -1.0 for var in vars_}, -(v - slack_mw))
    if redispatch:  # the reference: the same dispatch LP without new load, each year and state
        for t in range(T):
            for k in range(S):
                ref = LP()
                ref.scale = 1.0   # $/h
                seg = np.zeros((T, S, n_g, slopes.shape[1]), int)
                for g in range(n_g):
                    for j in range(slopes.shape[1]):
                        seg[t, k, g, j] = ref.var(0.0, width[g], -slopes[g, j])
                network_rows(ref, t, k, False, seg)
                ref.freeze()
                got = ref.solve()
                assert got is not None, "the reference dispatch is infeasible"
                # -(cost - reference cost) over the state's hours; got = -(reference cost - cost at lo)
                lp.constant += hours[t] / S * (c_lo.sum() - got[0])
    lp.freeze()

    # enumerate the block binaries: each blocked site's first year with the binary at 1 (T: never)
    blocked = [i for i in range(m) if s.block[i] > 0 and s.allow_ai[i] and s.ai_cap[i] > 0]
    best, best_x, n = -np.inf, None, 0
    for firsts in itertools.product(range(T + 1), repeat=len(blocked)):
        lo, hi = list(lp.lo), list(lp.hi)
        ok = True
        for i, first in zip(blocked, firsts):
            if first < T and not val.ai_ok[i, first]:
                ok = False
                break
            for t in range(T):
                on = t >= first
                lo[AI[i, t]] = s.block[i] if on else 0.0
                hi[AI[i, t]] = s.ai_cap[i] if on else 0.0
        if not ok:
            continue
        n += 1
        got = lp.solve(lo, hi)
        if got is not None and got[0] > best:
            best, best_x = got
    if best_x is None:
        return Best(objective=-np.inf, mw={}, n_lps=n)
    x = best_x
    mw = {"keep": x[KEEP], "new": x[NEW], "lease": x[AI] - x[CLOUD], "cloud": x[CLOUD]}
    return Best(objective=best, mw=mw, n_lps=n)


def preexisting_pairs(grid, params, factor: float) -> int:
    """Branch-outage pairs over their emergency rating without any new load, at a base-load factor."""
    net = RefNet(grid)
    inj = net.injections(factor)
    count = 0
    for out in net.contingencies("n-1")[1:]:
        post = net.ptdf(out) @ inj
        over = net.monitored & (np.arange(net.nl) != out) & (np.abs(post) > params.emergency_rating_factor * net.rate)
        count += int(over.sum())
    return count
