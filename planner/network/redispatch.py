"""Economic redispatch: every generator's output is a decision, priced by its cost curve.

With ``supply_response="redispatch"`` no fixed rule says who supplies new load. In each load
state the output of every in-service generator is a variable within its limits, and the
network rows are written over *injections*: the new load of each candidate column (``-1`` at
its bus) and each generator's change of output (``+1`` at its bus). Row ``l`` of a state is

    f0[l] + rho_l @ (E x)  within  +- limit[l]

where ``rho_l`` is row ``l`` of the single-slack PTDF (:func:`planner.network.sensitivity.ptdf_rows`:
one transposed solve per branch that gets a row, cached on the grid's DC model for every later
solve), ``E`` maps the injection variables
``x`` to buses, and the injections of every island balance (one row per island and state). N-1
rows are ``(rho_l + LODF[l, k] rho_k) @ E x``, one dispatch for every outage (preventive).
Rows are added lazily: each check is one full DC solve of the state's injections, then the
numpy N-0 and N-1 checks of :mod:`planner.network.security`.

Costs: each generator's quadratic cost ``c2 p^2 + c1 p + c0`` ($/h; pandapower's ``poly_cost``
of the TAMU data) becomes a piecewise-linear curve of ``redispatch_cost_segments`` equal-width
segments between its lower and upper limit (exact at the breakpoints, convex). Limits:
``[min(Pmin, Pg), max(Pmax, Pg)]`` over the states, so the shipped dispatch is always feasible.

Who pays for energy (each dollar counted once): a new MW pays the economics' power price for
its energy, as in the fixed modes (a mine in its value, an AI tenant on top of its lease). The
supply side receives that payment and bears the change of generation cost, valued over the
horizon with the discount rate; each state stands for an equal share of the year's hours (in a
timeline, of the hours of its own year: :func:`state_weights`). The
objective is the sites' value plus the supply side's margin: payments minus the change of
generation cost against the economic dispatch of the grid without new load (a reference LP), so
re-optimizing today's dispatch is not counted as value of the new load.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pulp
import scipy.sparse as sp

from planner import economics as econ
from planner.core.errors import InputError
from planner.network import sensitivity as sens
from planner.network.security import Contingencies, Found, Rows, State, most_violated, over_limit, state_specs

logger = logging.getLogger(__name__)

SCALE = 1e6


@dataclass
class GenCosts:
    """Dispatchable generators and their piecewise-linear cost curves."""

    gens: pd.DataFrame       # gen, bus_pos, island, lo_mw, hi_mw, c0, c1, c2 (one row per dispatchable gen)
    slopes: np.ndarray       # gens x segments, $/MWh
    width: np.ndarray        # MW per segment of each gen

    def cost_at(self, p: np.ndarray) -> np.ndarray:
        """$/h of each generator on its piecewise-linear curve at output ``p``."""
        g = self.gens
        base = g["c0"].to_numpy() + g["c1"].to_numpy() * g["lo_mw"].to_numpy() + \
            g["c2"].to_numpy() * g["lo_mw"].to_numpy() ** 2
        above = np.clip(p - g["lo_mw"].to_numpy(), 0.0, None)
        n = self.slopes.shape[1]
        fill = np.clip(above[:, None] - self.width[:, None] * np.arange(n)[None, :], 0.0, self.width[:, None])
        return base + (fill * self.slopes).sum(axis=1)


def generator_limits(grid, models: list[sens.DCModel]) -> pd.DataFrame:
    """The dispatchable (in-service) generators of the states' models and their limits over all
    states: gen, bus_pos, island, lo_mw = min(Pmin, Pg), hi_mw = max(Pmax, Pg) (so that every
    state's shipped dispatch is within them)."""
    net = grid.net
    g = models[0].gens
    g = g[g["gen"].to_numpy() >= 0]
    ids = g["gen"].to_numpy()
    p_all = np.vstack([m.gens.loc[g.index, "p_mw"].to_numpy() for m in models])
    pmin = net.gen["min_p_mw"].reindex(ids).fillna(0.0).to_numpy(float)
    return pd.DataFrame({"gen": ids, "bus_pos": g["bus_pos"].to_numpy(), "island": g["island"].to_numpy(),
                         "lo_mw": np.minimum(pmin, p_all.min(axis=0)),
                         "hi_mw": np.maximum(g["max_p_mw"].to_numpy(float), p_all.max(axis=0))})


def generator_costs(grid, models: list[sens.DCModel], segments: int) -> GenCosts:
    """The cost curves of the in-service generators of the states' models (limits:
    :func:`generator_limits`)."""
    net = grid.net
    pc = net.poly_cost[net.poly_cost["et"] == "gen"] if len(net.poly_cost) else net.poly_cost
    if not len(pc):
        raise InputError("redispatch needs each generator's cost curve and this grid has none",
                         source=grid.name, field="supply_response", value="redispatch",
                         expected="a grid with generator costs (pandapower poly_cost, MATPOWER gencost; "
                                  "the built-in TAMU grids have them) or a fixed supply response")
    pc = pc.drop_duplicates("element", keep="last").set_index("element")
    lim = generator_limits(grid, models)
    ids = lim["gen"].to_numpy()
    missing = ~np.isin(ids, pc.index.to_numpy())
    if missing.any():
        raise InputError("a generator has no cost curve", source=grid.name, field="poly_cost",
                         value=int(ids[missing][0]), expected="a poly_cost row for every in-service generator")
    lo, hi = lim["lo_mw"].to_numpy(), lim["hi_mw"].to_numpy()
    c = pc.reindex(ids)
    c2 = c["cp2_eur_per_mw2"].to_numpy(float)
    if (c2 < -1e-12).any():
        raise InputError("a generator's cost curve is not convex", source=grid.name, field="poly_cost.cp2_eur_per_mw2",
                         value=float(c2.min()), expected="a quadratic term >= 0")
    gens = lim.assign(c0=c["cp0_eur"].to_numpy(float), c1=c["cp1_eur_per_mw"].to_numpy(float), c2=c2)
    width = (hi - lo) / segments
    a = lo[:, None] + width[:, None] * np.arange(segments)[None, :]
    slopes = gens["c1"].to_numpy()[:, None] + c2[:, None] * (2 * a + width[:, None])
    return GenCosts(gens=gens, slopes=slopes, width=width)


@dataclass
class RedispatchNetwork:
    """The network rows of a plan with redispatch (the interface of :class:`planner.network.security.Network`)."""

    mon: np.ndarray
    states: list[State]
    contingencies: Contingencies | None
    buses: np.ndarray                # candidate bus id of each load column
    costs: GenCosts
    #: state -> $ of NPV per $/h of generation cost in that state (:func:`state_weights`)
    weights: dict[str, float]
    E: sp.csr_matrix = field(repr=False)          # injection buses x variables
    inj_pos: np.ndarray = field(repr=False)       # bus positions of the injections
    model: sens.DCModel = field(repr=False)
    pre_lodf: dict = field(default_factory=dict, repr=False)   # state -> LODF of its pre-existing pairs
    #: MB of full single-slack PTDF rows kept on the grid's DC model for later solves
    cache_mb: float = 2048.0
    #: state -> index of its period (a timeline's year; 0 without one) and the number of periods
    period_of: dict = field(default_factory=dict)
    n_periods: int = 1
    _rho: dict = field(default_factory=dict, repr=False)
    #: results computed from the network and kept with it (e.g. the candidate buses' hosting capacity)
    cache: dict = field(default_factory=dict, repr=False)

    sens = None

    @property
    def screened(self) -> np.ndarray:
        return np.arange(len(self.mon))  # no screening: generators can move every flow

    @property
    def n_cols(self) -> int:
        return len(self.buses)

    def families(self) -> list[Rows]:
        return [f for s in self.states for f in (s.n0, s.pre) if f is not None]

    def state(self, name: str) -> State:
        return next(s for s in self.states if s.name == name)

    def screened_rows(self) -> list:
        """No row is ruled out in advance (generators can move every flow): none (see
        :meth:`planner.network.security.Network.screened_rows`)."""
        return []

    def reweight(self, params) -> None:
        """Set :attr:`weights` from the economics of ``params`` (see :func:`state_weights`)."""
        self.weights = state_weights(params, {s.name: self.period_of.get(s.name, 0) for s in self.states},
                                     self.n_periods)

    def rho(self, ids: np.ndarray) -> np.ndarray:
        """Single-slack PTDF rows of monitored branches ``ids`` at the injection buses (cached)."""
        ids = np.asarray(ids, dtype=np.int64)
        todo = np.unique([i for i in ids.tolist() if i not in self._rho])
        if len(todo):
            # full rows depend on the topology only: kept on the grid's model for every later solve
            # (up to cache_mb; beyond it rows are formed at this network's injection buses only)
            grid_rows = self.model.cache.setdefault("single_slack_ptdf_rows", {})
            need = [b for b in self.mon[todo].tolist() if b not in grid_rows]
            room = int(self.cache_mb * 2**20 / (8 * self.model.n_bus)) - len(grid_rows)
            keep, direct = need[:max(room, 0)], need[max(room, 0):]
            if keep:
                for b, r in zip(keep, sens.ptdf_rows(self.model, np.array(keep), distributed=False)):
                    grid_rows[b] = r
            if direct:
                rows = sens.ptdf_rows(self.model, np.array(direct), buses=self.model.bus_ids[self.inj_pos],
                                      distributed=False)
                by_branch = dict(zip(direct, rows))
            for i in todo.tolist():
                b = int(self.mon[i])
                self._rho[i] = grid_rows[b][self.inj_pos] if b in grid_rows else by_branch[b]
        if not len(ids):
            return np.zeros((0, len(self.inj_pos)))
        return np.vstack([self._rho[i] for i in ids.tolist()])

    def coef(self, ids: np.ndarray, outage: np.ndarray | None = None, lodf: np.ndarray | None = None) -> np.ndarray:
        r = self.rho(ids)
        if outage is not None:
            r = r + lodf[:, None] * self.rho(outage)
        return np.asarray(self.E.T @ r.T).T

    def injection(self, x: np.ndarray) -> np.ndarray:
        out = np.zeros(self.model.n_bus)
        np.add.at(out, self.inj_pos, self.E @ x)
        return out

    def flows(self, state: str, x: np.ndarray) -> np.ndarray:
        st = self.state(state)
        return sens.injection_flows(st.model, st.model.injection_mw + self.injection(x))

    def flows_mon(self, state: str, x: np.ndarray) -> np.ndarray:
        return self.flows(state, x)[self.mon]

    def dispatch(self, state: str, x: np.ndarray | None = None) -> pd.Series:
        st = self.state(state)
        g = st.model.gens
        g = g[g["gen"].to_numpy() >= 0]
        p = pd.Series(g["p_mw"].to_numpy(), index=g["gen"].to_numpy(), name="p_mw")
        if x is not None:
            p.loc[self.costs.gens["gen"].to_numpy()] += x[self.n_cols:]
        return p

    def pre_flows(self, state: str, x: np.ndarray) -> np.ndarray:
        st = self.state(state)
        f = self.flows_mon(state, x)
        l, k = st.pre_pairs
        return f[l] + self.pre_lodf[state] * f[k]

    def violations(self, xs: dict[str, np.ndarray], near: float, cap: int | None = None, known=None):
        """As :meth:`planner.network.security.Network.violations`."""
        found, n_over = [], 0
        for st in self.states:
            x = xs[st.name]
            f = self.flows_mon(st.name, x)
            base = st.n0.base
            over = over_limit(f, st.n0.limit)
            moved = np.abs(f - base) > 1e-6
            pick = np.flatnonzero(over | ((np.abs(f) >= near * st.n0.limit) & moved))
            n_over += int(over.sum())
            if len(pick):
                sides = np.where(f[pick] >= 0, 1, -1)
                keys = [("n-0", st.name, int(i), int(sd)) for i, sd in zip(pick, sides)]
                found.append(Found.of(keys, f[pick], st.n0.limit[pick], st.name,
                                      lambda at, p=pick, st=st: (self.coef(p[at]), st.n0.base[p[at]],
                                                                 st.n0.limit[p[at]])))
            l0, k0 = st.pre_pairs
            if len(l0):
                lo = self.pre_lodf[st.name]
                post = f[l0] + lo * f[k0]
                over = over_limit(post, st.pre.limit)
                pick = np.flatnonzero(over)   # the limit is the flow without new load: no "near" rows
                n_over += int(over.sum())
                if len(pick):
                    sides = np.where(post[pick] >= 0, 1, -1)
                    keys = [("n-1 pre-existing", st.name, int(i), int(sd)) for i, sd in zip(pick, sides)]
                    found.append(Found.of(keys, post[pick], st.pre.limit[pick], st.name,
                                          lambda at, p=pick, st=st, l0=l0, k0=k0, lo=lo: (
                                              self.coef(l0[p[at]], k0[p[at]], lo[p[at]]),
                                              st.pre.base[p[at]], st.pre.limit[p[at]])))
            if self.contingencies is not None:
                c = self.contingencies
                l, k, lo, post, n, _, _ = c.violations(st, f, near)
                n_over += n
                if len(l):
                    base0 = st.model.flow_mw[self.mon]
                    sides = np.where(post >= 0, 1, -1)
                    keys = [("n-1", st.name, (int(a), int(b)), int(sd)) for a, b, sd in zip(l, k, sides)]
                    found.append(Found.of(keys, post, c.emergency[l], st.name,
                                          lambda at, l=l, k=k, lo=lo, base0=base0: (
                                              self.coef(l[at], k[at], lo[at]), base0[l[at]] + lo[at] * base0[k[at]],
                                              c.emergency[l[at]])))
        out, seen = most_violated(found, cap, known)
        return out, n_over, seen


def build_network(model: sens.DCModel, grid, cand, params, contingencies: Contingencies | None,
                  derate: np.ndarray, periods: list[tuple[str, float]] | None = None) -> RedispatchNetwork:
    """The redispatch network of a plan: states, generator costs, injection map, pre-existing pairs.
    ``periods``: a timeline's years, each (prefix, base-load factor), as in
    :func:`planner.network.security.build_network` (default: one period, ("", 1))."""
    mon = np.flatnonzero(model.monitored)
    states, period_of = [], {}
    for full, share, factor, k in state_specs(params, periods):
        m = sens.scaled_loads(model, grid.net, factor)  # the model itself at factor 1
        base = m.flow_mw[mon]
        limit = sens.row_limit(model.rate_mw[mon] * derate, base)
        st = State(name=full, model=m, share=share, load_factor=factor)
        st.n0 = Rows(kind="n-0", state=full, branch=mon, outage=np.full(len(mon), -1), sens=None, base=base,
                     limit=limit, screened=np.arange(len(mon)))
        states.append(st)
        period_of[full] = k
    costs = generator_costs(grid, [st.model for st in states], int(params.redispatch_cost_segments))
    cols = model.positions(cand.buses)
    n_cols, n_gen = len(cols), len(costs.gens)
    bus_of_var = np.r_[cols, costs.gens["bus_pos"].to_numpy()]
    inj_pos, row = np.unique(bus_of_var, return_inverse=True)
    E = sp.csr_matrix((np.r_[-np.ones(n_cols), np.ones(n_gen)], (row, np.arange(n_cols + n_gen))),
                      shape=(len(inj_pos), n_cols + n_gen))
    net = RedispatchNetwork(mon=mon, states=states, contingencies=contingencies, buses=np.asarray(cand.buses),
                            cache_mb=float(params.lodf_cache_mb) / 4, costs=costs, weights={}, E=E,
                            inj_pos=inj_pos, model=model, period_of=period_of, n_periods=max(period_of.values()) + 1)
    net.reweight(params)
    if contingencies is not None:
        for st in states:
            l, k, lo, post0 = contingencies.preexisting_pairs(st.model.flow_mw[mon])
            st.pre_pairs, st.pre_values = (l, k), (lo, post0)
            net.pre_lodf[st.name] = lo
            st.pre = Rows(kind="n-1 pre-existing", state=st.name, branch=mon[l], outage=mon[k], sens=None,
                          base=post0, limit=np.abs(post0), screened=np.arange(len(l)))
    logger.info(f"redispatch: {n_gen:,} dispatchable generators, {params.redispatch_cost_segments} cost segments "
                f"each, {len(states)} state(s)")
    return net


def period_window(params, k: int, n_periods: int) -> tuple[float, float]:
    """Months (start, end) that period ``k`` of ``n_periods`` stands for: year ``k`` of a timeline,
    the last to the horizon (one period: the whole horizon)."""
    horizon = 12.0 * float(params.economics.horizon_years)
    start = 12.0 * k
    end = horizon if k == n_periods - 1 else 12.0 * (k + 1)
    return start, max(min(end, horizon), start)


def npv_of_one_usd_per_h(params, start_months: float = 0.0, end_months: float | None = None) -> float:
    """NPV ($) of one dollar per hour, every hour from ``start_months`` to ``end_months`` (default:
    the horizon), at the economics' discount rate."""
    e = params.economics
    end = 12.0 * e.horizon_years if end_months is None else end_months
    return econ.HOURS_PER_YEAR * float(econ.annuity_factor(e.discount_rate, start_months, end))


def state_weights(params, period_of: dict[str, int], n_periods: int = 1) -> dict[str, float]:
    """$ of NPV per $/h of generation cost in each state: the hours of its period's window
    (:func:`period_window`), discounted, shared equally by the period's states."""
    count = np.bincount(list(period_of.values()), minlength=n_periods)
    return {name: npv_of_one_usd_per_h(params, *period_window(params, k, n_periods)) / count[k]
            for name, k in period_of.items()}


def energy_payment_usd_per_mw(params, shares: list[dict], window: tuple[float, float] | None = None
                              ) -> dict[str, float]:
    """NPV of the energy payment of one MW of each use (power price x the hours the dispatch serves
    it) over ``window`` (months; default the whole horizon), the states' ``shares`` averaged."""
    price = float(params.economics.power_price_usd_per_mwh)
    hours = npv_of_one_usd_per_h(params, *(window or (0.0, None)))
    return {use: price * hours * np.mean([s[use] for s in shares]) for use in ("mining", "ai")}


def add_dispatch(built, net: RedispatchNetwork, params, pay: bool = True, cost: bool = True) -> dict:
    """Add each state's generator variables, cost segments and island balance rows to ``built``;
    extend ``built.loads[state]`` with the generators' output changes. ``pay``: add each use's
    energy payment to its objective coefficient; ``cost``: add the generation cost (see
    :func:`dispatch_objective`). Returns the handles of the segment variables (also kept as
    ``built.segments``)."""
    prob = built.prob
    g = net.costs.gens
    n_seg = net.costs.slopes.shape[1]
    islands = g["island"].to_numpy()
    handles = {}
    for st in net.states:
        p0 = st.model.gens.set_index("gen").loc[g["gen"].to_numpy(), "p_mw"].to_numpy()
        loads = built.loads[st.name][:net.n_cols]
        d_vars, seg_vars = [], []
        for j in range(len(g)):
            d = prob.add_variable(f"d_{st.name}_{j}", None, None)
            ys = [prob.add_variable(f"y_{st.name}_{j}_{s}", 0, float(net.costs.width[j])) for s in range(n_seg)]
            # output = lo + sum of segments; change = output - p0
            prob += pulp.LpConstraint(pulp.LpAffineExpression([(d, 1.0)] + [(y, -1.0) for y in ys]),
                                      pulp.LpConstraintEQ, f"dgen_{st.name}_{j}",
                                      float(g["lo_mw"].iat[j] - p0[j]))
            d_vars.append(d)
            seg_vars.append(ys)
        col_island = st.model.island[st.model.positions(net.buses)]
        for isl in np.unique(islands):
            terms = [(d_vars[j], 1.0) for j in np.flatnonzero(islands == isl)]
            terms += [(loads[k], -1.0) for k in np.flatnonzero(col_island == isl)]
            prob += pulp.LpConstraint(pulp.LpAffineExpression(terms), pulp.LpConstraintEQ,
                                      f"balance_{st.name}_{isl}", 0.0)
        built.loads[st.name] = list(loads) + d_vars
        handles[st.name] = seg_vars
    built.segments = handles
    prob.setObjective(prob.objective + pulp.LpAffineExpression(dispatch_objective(built, net, params, pay, cost)))
    return handles


def dispatch_objective(built, net: RedispatchNetwork, params, pay: bool = True, cost: bool = True) -> list[tuple]:
    """Objective terms (variable, million $) of redispatch: each cost segment's generation cost over
    its period's hours (``cost``), and each use's energy payment on the site variables of each
    period (``pay``; added to their site values: :func:`payment_terms`)."""
    obj = []
    if cost:
        for state, seg_vars in built.segments.items():
            w = net.weights[state]
            for j, ys in enumerate(seg_vars):
                obj.extend((y, -w * float(net.costs.slopes[j, s]) / SCALE) for s, y in enumerate(ys))
    if pay:
        obj.extend(payment_terms(built, period_payments(net, params, max(len(built.periods), 1))))
    return obj


def period_payments(net: RedispatchNetwork, params, n_periods: int) -> list[dict]:
    """The energy payment of one MW of each use ($) in each period: the power price over the hours of
    the period's window (:func:`period_window`; one period: the whole horizon), the shares of the
    period's states averaged."""
    out = []
    for k in range(n_periods):
        shares = [st.share for st in net.states if net.period_of.get(st.name, 0) == k]
        out.append(energy_payment_usd_per_mw(params, shares, period_window(params, k, n_periods)))
    return out


def payment_terms(built, per_mw: list[dict]) -> list[tuple]:
    """Objective terms (variable, million $) of each period's energy payments on its MW."""
    terms = []
    for yr, pay in zip(built.periods, per_mw):
        for var_set, use in ((yr.keep, "mining"), (yr.new, "mining"), (yr.ai, "ai")):
            terms.extend((v, pay[use] / SCALE) for v in var_set.values())
    return terms


def generation_cost(net: RedispatchNetwork, xs: dict[str, np.ndarray]) -> dict[str, float]:
    """$/h of generation in each state at the injection values ``xs``."""
    out = {}
    g = net.costs.gens
    for st in net.states:
        p0 = st.model.gens.set_index("gen").loc[g["gen"].to_numpy(), "p_mw"].to_numpy()
        out[st.name] = float(net.costs.cost_at(p0 + xs[st.name][net.n_cols:]).sum())
    return out


def report(net: RedispatchNetwork, params, xs: dict, ref_xs: dict, cand, payments: tuple[float, dict]
           ) -> tuple[dict, pd.DataFrame]:
    """The summary block and the dispatch table of a redispatch plan. ``payments``: the NPV of the
    energy payments ($) and the payment per MW shown (:func:`period_payments`)."""
    cost = generation_cost(net, xs)
    ref = generation_cost(net, ref_xs)
    change_npv = sum(net.weights[s] * (cost[s] - ref[s]) for s in cost)
    paid, shown = payments
    g = net.costs.gens
    table = pd.DataFrame({"gen": g["gen"].to_numpy(), "bus": net.model.bus_ids[g["bus_pos"].to_numpy()],
                          "min_mw": g["lo_mw"].to_numpy(), "max_mw": g["hi_mw"].to_numpy(),
                          "cost_at_min_usd_per_h": net.costs.cost_at(g["lo_mw"].to_numpy()),
                          "segment_mw": net.costs.width})
    for k in range(net.costs.slopes.shape[1]):  # the cost curve the model used: equal segments from min_mw
        table[f"slope_{k + 1}_usd_per_mwh"] = net.costs.slopes[:, k]
    for st in net.states:
        p0 = st.model.gens.set_index("gen").loc[g["gen"].to_numpy(), "p_mw"].to_numpy()
        prefix = column_prefix(st.name)
        table[f"{prefix}base_mw"] = p0
        table[f"{prefix}reference_mw"] = p0 + ref_xs[st.name][net.n_cols:]
        table[f"{prefix}p_mw"] = p0 + xs[st.name][net.n_cols:]
        table[f"{prefix}change_mw"] = table[f"{prefix}p_mw"] - table[f"{prefix}reference_mw"]
        table[f"{prefix}cost_usd_per_h"] = net.costs.cost_at(table[f"{prefix}p_mw"].to_numpy())
    block = {
        "cost_basis": f"TAMU quadratic cost curves as {net.costs.slopes.shape[1]}-segment piecewise-linear curves "
                      "between each generator's limits",
        "generators": len(g),
        "generation_cost_usd_per_h": {s: round(v, 2) for s, v in cost.items()},
        "reference_generation_cost_usd_per_h": {s: round(v, 2) for s, v in ref.items()},
        "generation_cost_change_npv_usd": round(float(change_npv), 0),
        "energy_payments_npv_usd": round(float(paid), 0),
        "supply_margin_npv_usd": round(float(paid - change_npv), 0),
        "energy_payment_usd_per_mw": shown,
        "moved_mw": {st.name: round(float(np.abs(table[column_prefix(st.name) + "change_mw"])
                                         .sum()) / 2, 3) for st in net.states},
    }
    return block, table


def column_prefix(state: str) -> str:
    """Prefix of a state's columns in the dispatch table ("" at peak, "offpeak_", "2027_peak_" ...)."""
    return "" if state == "peak" else state.replace(" ", "_") + "_"
