"""buses.csv's ``hosting_mw`` (and the allocation's ``bus_hosting_mw``) under every supply response,
N-0 and N-1: the answer of ``planner hosting`` (:func:`planner.network.hosting.security_hosting`) with the
plan's settings, to 1e-6 MW; and checked independently on pandapower's own DC power flow
(``rundcpp`` of the grid with the new load and the dispatch rule, every line outage for N-1) or,
with redispatch, an LP on pandapower's PTDF of every outaged network."""

from __future__ import annotations

import copy

import numpy as np
import pandapower as pp
import pandas as pd
import pytest
from scipy.optimize import linprog

import planner
from planner.analysis.validate import run_dc
from planner.data import examples as ex
from planner.network import sensitivity as sens
from planner.network.supply import security_hosting

#: one load state, every new MW firm; no pre-existing-overload cut-off (a branch or pair already over
#: may not get worse at all: the pandapower check below states that rule exactly)
ONE = {"mining_firm_share": 1.0, "offpeak_load_factor": 1.0, "check_existing_load": False, "mip_gap": 0.0,
       "overload_dfax": 0.0}
#: a non-default emergency factor, so that the plan's own value is seen to reach the hosting
FACTOR = 1.25
FIXED = ("headroom", "pmax", "single")
SECURITY = ("n-0", "n-1")
EPS = 1e-4   # MW below the hosting that must be feasible
TOL = 1e-6   # MW of rundcpp round-off over a limit


_GRIDS: dict = {}


def _grid(name: str):
    """A fresh copy of an example grid of planner.data.examples (each built once: building a net is slow)."""
    if name not in _GRIDS:
        _GRIDS[name] = getattr(ex, name)()
    return copy.deepcopy(_GRIDS[name])


def _sites(g, rows: list[tuple[int, str | None]]):
    """Small AI sites (20 MW) at buses, each with its supply region (None: none given)."""
    return ex.sites_at(g, [{"site_id": f"s{i}", "bus": b, "poi_mw": 20, "current_use": "development",
                            "ai_value_usd_per_mw": 1e6, "min_block_mw": 0, **({"region": r} if r else {})}
                           for i, (b, r) in enumerate(rows)])


def _plan(g, sites, supply: str, security: str, **params):
    kw = {**ONE, "emergency_rating_factor": FACTOR, **params}
    return planner.plan(g, sites, planner.Params(supply_response=supply, security=security, **kw))


def _reference(g, buses, supply: str, security: str, params: dict | None = None, **kw):
    """security_hosting with the settings a plan with ``params`` (default ONE, FACTOR) runs with."""
    p = {**ONE, "emergency_rating_factor": FACTOR, **(params or {})}
    model = sens.dc_model(g, supply if supply in sens.SLACKS else "headroom")
    return security_hosting(g, model, np.asarray(buses), slack=supply, security=security, use="ai",
                            emergency_rating_factor=p["emergency_rating_factor"],
                            offpeak_load_factor=p["offpeak_load_factor"], dfax=p["overload_dfax"], **kw)


def _assert_allocation_carries_the_bus_value(r):
    """bus_hosting_mw of each modelled site is its column's hosting_mw."""
    a = r.allocation
    a = a[a["use"] != "not_modelled"]
    key = ["bus", "region"] if "region" in r.buses else ["bus"]
    want = r.buses.set_index(key)["hosting_mw"]
    got = a.set_index(key)["bus_hosting_mw"]
    np.testing.assert_allclose(got.to_numpy(float), want.reindex(got.index).to_numpy(float), rtol=0, atol=0)


# --------------------------------------------------------------------------- pandapower's DC power flow


def _weights(g, supply: str, gens=None) -> pd.Series:
    """Share of the new load each generator (pandapower gen index) picks up: ``headroom`` in
    proportion to max(Pmax - Pg, 0), ``pmax`` to Pmax, ``single`` none (the reference bus's
    ext_grid takes it all); ``gens`` limits the headroom rule to some generators (a supply region)."""
    gen = g.net.gen[g.net.gen["in_service"].astype(bool)]
    if gens is not None:
        gen = gen.loc[list(gens)]
    raw = {"headroom": (gen["max_p_mw"] - gen["p_mw"]).clip(lower=0.0), "pmax": gen["max_p_mw"],
           "single": gen["max_p_mw"] * 0.0}[supply]
    return raw / raw.sum() if raw.sum() > 0 else raw


#: (grid name, outage) -> pandapower's PTDF columns and base flows (every grid of a name here has the
#: same topology, loads and dispatch: the labelled and costed copies of examples.mesh)
_PTDF: dict = {}


def _ptdf(g, drop: int | None):
    """(PTDF columns by bus, base flows) of ``g`` with line ``drop`` out, from rundcpp alone: each
    column is the change of every branch flow (grid branch order, from_bus to to_bus) when 1 MW more
    is injected at that bus and the ext_grid takes it back. None when the outage islands a bus (not a
    contingency the plan studies: radial branches are not outaged)."""
    key = (g.name, drop)
    if key not in _PTDF:
        net = copy.deepcopy(g.net)
        if drop is not None:
            net.line.loc[drop, "in_service"] = False
        f0 = run_dc(net, g.branches).to_numpy()
        if np.isnan(net.res_bus["va_degree"].to_numpy(float)).any():
            _PTDF[key] = None
        else:
            cols = {}
            for bus in net.bus.index:
                sgen = pp.create_sgen(net, bus, p_mw=1.0)
                cols[int(bus)] = run_dc(net, g.branches).to_numpy() - f0
                net.sgen.drop(sgen, inplace=True)
            _PTDF[key] = (cols, np.nan_to_num(f0))
    return _PTDF[key]


class _PP:
    """A new load at a bus with the generators dispatched by a rule (``weights``), on pandapower's DC
    power flow: every case (no outage; each line outage) by superposition of rundcpp's own PTDF
    columns (:func:`_ptdf`), and a case directly by ``rundcpp`` of the net with the load added and
    the generators redispatched (:meth:`rundcpp_over`)."""

    def __init__(self, g, weights: pd.Series, derate: dict | None = None):
        self.g, self.w = g, weights
        rate = g.branches["rate_mw"].to_numpy(float)
        self.rate = rate * np.array([(derate or {}).get(int(b), 1.0) for b in g.branches["branch_id"]])
        self.gen_bus = g.net.gen.loc[weights.index, "bus"].to_numpy()
        self.net = None

    def cases(self, factor: float | None) -> list:
        """(line outaged or None, multiple of the rating that limits)."""
        return [(None, 1.0)] + ([(int(i), factor) for i in self.g.net.line.index] if factor else [])

    def _bad(self, f0, f, drop, mult) -> list:
        live = self.g.branches["element_index"].to_numpy() != drop
        limit = np.maximum(mult * self.rate, np.abs(f0))   # a branch already over may not get worse
        return [("branch", int(self.g.branches["branch_id"].iat[i]), drop, mult)
                for i in np.flatnonzero(live & (np.abs(f) > limit + TOL))]

    def over(self, bus: int, x: float, factor: float | None) -> list:
        """What is over its limit with ``x`` MW at ``bus``: branches (``("branch", id, outage,
        multiple)``; limit: rating, or the flow without new load where that is higher) with no outage
        and, with ``factor``, after each line outage (factor x rating); generators above Pmax
        (``("gen", index, None, None)``). Empty: the load fits."""
        out = []
        for drop, mult in self.cases(factor):
            got = _ptdf(self.g, drop)
            if got is None:
                continue
            cols, f0 = got
            f = f0 + x * (sum(w * cols[int(b)] for w, b in zip(self.w.to_numpy(), self.gen_bus)) - cols[int(bus)])
            out += self._bad(f0, f, drop, mult)
        gen = self.g.net.gen.loc[self.w.index]
        p = gen["p_mw"].to_numpy() + self.w.to_numpy() * x
        out += [("gen", int(i), None, None) for i in gen.index[p > gen["max_p_mw"].to_numpy() + TOL]]
        return out

    def rundcpp_over(self, bus: int, x: float, drop: int | None, mult: float) -> list:
        """The branches over their limit in one case, by rundcpp of the net with ``x`` MW of load at
        ``bus`` and the generators' outputs raised by the rule (line ``drop`` out of service)."""
        if self.net is None:   # one copy of the net with a load to move: changed in place for each run
            self.net = copy.deepcopy(self.g.net)
            self.load = pp.create_load(self.net, bus, p_mw=0.0, name="new load")
            self.p0 = self.net.gen["p_mw"].to_numpy(float).copy()
            self.live = self.net.line["in_service"].to_numpy(bool).copy()
        net = self.net
        net.load.loc[self.load, "bus"] = bus
        net.load.loc[self.load, "p_mw"] = x
        net.gen["p_mw"] = self.p0
        net.gen.loc[self.w.index, "p_mw"] += self.w.to_numpy() * x
        net.line["in_service"] = self.live
        if drop is not None:
            net.line.loc[drop, "in_service"] = False
        f = np.nan_to_num(run_dc(net, self.g.branches).to_numpy())
        return self._bad(_ptdf(self.g, drop)[1], f, drop, mult)


def _bracket(check: _PP, bus: int, h: float, factor: float | None):
    """``h`` MW at ``bus`` fits (less EPS) in every case, 1 % more does not; the case 1 % more
    overloads (and the base case) confirmed by rundcpp directly."""
    assert np.isfinite(h) and h > 0, (bus, h)
    lo, hi = max(h - EPS, 0.0), 1.01 * h
    assert check.over(bus, lo, factor) == [], (bus, h)
    bad = check.over(bus, hi, factor)
    assert bad != [], (bus, h)
    assert check.rundcpp_over(bus, lo, None, 1.0) == [], (bus, h)
    kind, _, drop, mult = bad[0]
    if kind == "branch":
        assert check.rundcpp_over(bus, lo, drop, mult) == [], (bus, h, drop)
        assert check.rundcpp_over(bus, hi, drop, mult) != [], (bus, h, drop)


# --------------------------------------------------------------------------- fixed participation


MESH_BUSES = [2, 3, 5, 6]


@pytest.mark.parametrize("security", SECURITY)
@pytest.mark.parametrize("supply", FIXED)
def test_fixed_participation_is_planner_hosting_and_pandapower_agrees(supply, security):
    """examples.mesh, an AI site at each load bus: hosting_mw is finite at every candidate bus, equal
    to security_hosting (firm AI, the plan's emergency factor and DFAX cut-off) to 1e-6 MW, and that
    load (less 1e-4 MW) run through rundcpp with the dispatch rule leaves every branch within its
    rating, and with N-1 within FACTOR x rating after every line outage; 1 % more overloads one."""
    g = _grid("mesh")
    r = _plan(g, _sites(g, [(b, None) for b in MESH_BUSES]), supply, security)
    got = r.buses.set_index("bus")["hosting_mw"]
    assert list(got.index) == MESH_BUSES and np.isfinite(got).all()
    ref = _reference(g, MESH_BUSES, supply, security).set_index("bus")["hosting_mw"]
    np.testing.assert_allclose(got.to_numpy(), ref.reindex(got.index).to_numpy(), rtol=0, atol=1e-6)
    _assert_allocation_carries_the_bus_value(r)
    check = _PP(g, _weights(g, supply))
    for bus in MESH_BUSES:
        _bracket(check, bus, float(got[bus]), FACTOR if security == "n-1" else None)
    if security == "n-1":   # the N-0 answer of the same plan settings is never lower
        n0 = _plan(g, _sites(g, [(b, None) for b in MESH_BUSES]), supply, "n-0").buses["hosting_mw"].to_numpy()
        assert (n0 >= got.to_numpy() - 1e-9).all() and (n0 > got.to_numpy() + 1e-3).any()


def test_fixed_participation_n0_is_the_bus_alone_before_any_generation_cap():
    """The N-0 figure of fixed participation is what it always was (the smallest room over the
    monitored branches of the plan's peak state, firm load; to 1e-12 relative) wherever the island's
    generation headroom does not bind first. Where it does (bus 1 of examples.triangle, the slack bus
    with the 5,000 MW generator: no branch limits a load there) it is that headroom, as planner hosting
    says, where it was infinite before."""
    from planner.network.hosting import limits_from_sensitivity

    g = _grid("mesh")
    model = sens.dc_model(g, "headroom")
    r = _plan(g, _sites(g, [(b, None) for b in MESH_BUSES]), "headroom", "n-0")
    mon = np.flatnonzero(model.monitored)
    s = -sens.ptdf(model, MESH_BUSES, rows=mon)
    old, _ = limits_from_sensitivity(model.flow_mw[mon], model.limit_mw[mon], s)
    np.testing.assert_allclose(r.buses["hosting_mw"].to_numpy(), old, rtol=1e-12, atol=0)
    # triangle: the slack bus 1 moves no flow (no branch limits it): 5,000 MW of generator headroom
    t = _grid("triangle")
    r = _plan(t, _sites(t, [(1, None), (2, None)]), "headroom", "n-0")
    assert r.buses.set_index("bus")["hosting_mw"].to_dict() == pytest.approx({1: 5000.0, 2: 150.0}, abs=1e-9)
    _bracket(_PP(t, _weights(t, "headroom")), 1, 5000.0, None)


@pytest.mark.parametrize("security", SECURITY)
def test_plan_settings_reach_the_hosting(security):
    """The plan's defaults (a second, off-peak state; 10 % of mining firm; DFAX cut-off 0.05) leave
    hosting_mw the firm-AI answer of security_hosting with the same emergency factor, off-peak
    factor and cut-off; a rating derate (planner solve --ac-tighten) lowers it to the derated
    ratings, which rundcpp confirms."""
    g = _grid("mesh")
    sites = _sites(g, [(b, None) for b in MESH_BUSES])
    defaults = {"check_existing_load": False, "mip_gap": 0.0, "emergency_rating_factor": FACTOR}
    r = planner.plan(g, sites, planner.Params(supply_response="headroom", security=security, **defaults))
    assert set(r.states) == {"peak", "offpeak"}
    p = planner.Params()
    ref = _reference(g, MESH_BUSES, "headroom", security, {"offpeak_load_factor": p.offpeak_load_factor,
                                                          "overload_dfax": p.overload_dfax})
    np.testing.assert_allclose(r.buses["hosting_mw"].to_numpy(), ref["hosting_mw"].to_numpy(), rtol=0, atol=1e-6)
    derate = {1: 0.9, 5: 0.85, 8: 0.95}
    d = _plan(g, sites, "headroom", security, rating_derate=derate)
    got = d.buses.set_index("bus")["hosting_mw"]
    plain = _plan(g, sites, "headroom", security).buses.set_index("bus")["hosting_mw"]
    assert (got <= plain + 1e-9).all() and (got < plain - 1e-3).any()
    check = _PP(g, _weights(g, "headroom"), derate)
    for bus in MESH_BUSES:
        _bracket(check, bus, float(got[bus]), FACTOR if security == "n-1" else None)


# --------------------------------------------------------------------------- regional


def _labelled(g, labels: dict[int, str]):
    """``g`` with bus interconnects relabelled (a bus's and a generator's default supply region)."""
    g = copy.deepcopy(g)
    g.buses["interconnect"] = g.buses["interconnect"].astype(object)
    for bus, name in labels.items():
        g.buses.loc[bus, "interconnect"] = name
    return g


@pytest.mark.parametrize("security", SECURITY)
def test_regional_two_regions_by_hand(security):
    """examples.two_regions (generator 1 at bus 1 in region W behind line 1-2 of 50 MW, generator 2 at
    bus 3 in region E behind line 2-3 of 100 MW; Params.gen_regions places them), an east and a west
    site at bus 2: bus 2 hosts 100 MW for region E, 50 MW for region W (every line is radial: no
    outage is studied, N-1 is N-0). Each row equals security_hosting with the bus placed in that
    region (its interconnect relabelled), and rundcpp with the region's generator taking the load."""
    g = _grid("two_regions")
    r = _plan(g, _sites(g, [(2, "E"), (2, "W")]), "regional", security, gen_regions={1: "W", 2: "E"})
    got = r.buses.set_index("region")["hosting_mw"]
    assert got.to_dict() == pytest.approx({"E": 100.0, "W": 50.0}, abs=1e-9)
    assert r.allocation.set_index("site_id")["bus_hosting_mw"].to_dict() == pytest.approx({"s0": 100.0, "s1": 50.0})
    for region, gen in (("E", 2), ("W", 1)):
        lab = _labelled(g, {1: "W", 2: region, 3: "E"})
        ref = _reference(lab, [2], "regional", security)
        assert ref["hosting_mw"].iat[0] == pytest.approx(got[region], abs=1e-6)
        _bracket(_PP(g, _weights(g, "headroom", gens=[gen])), 2, float(got[region]), None)


@pytest.mark.parametrize("security", SECURITY)
def test_regional_mesh_is_planner_hosting_and_pandapower_agrees(security):
    """examples.mesh in two regions (buses 1-3: A, with generator 1; buses 4-6: B, with generator 2;
    no Params.gen_regions: a generator's region is its bus's interconnect), sites at buses 2, 3 (A),
    5 (B) and 6 (one of each region): each (bus, region) row of buses.csv is finite and equals
    security_hosting(slack="regional") with the bus placed in that region, to 1e-6 MW; rundcpp with
    the region's generator taking the load brackets it (every line outage for N-1)."""
    labels = {1: "A", 2: "A", 3: "A", 4: "B", 5: "B", 6: "B"}
    g = _labelled(_grid("mesh"), labels)
    rows = [(2, "A"), (3, "A"), (5, "B"), (6, "A"), (6, "B")]
    r = _plan(g, _sites(g, rows), "regional", security)
    got = r.buses.set_index(["bus", "region"])["hosting_mw"]
    assert sorted(got.index) == sorted(rows) and np.isfinite(got).all()
    _assert_allocation_carries_the_bus_value(r)
    gen_of = {"A": 1, "B": 2}
    for bus, region in rows:
        h = float(got[(bus, region)])
        ref = _reference(_labelled(g, {bus: region}), [bus], "regional", security)
        assert ref["hosting_mw"].iat[0] == pytest.approx(h, abs=1e-6), (bus, region)
        _bracket(_PP(g, _weights(g, "headroom", gens=[gen_of[region]])), bus, h,
                 FACTOR if security == "n-1" else None)
    # the two rows of bus 6 differ: the supply region is part of the answer
    assert abs(got[(6, "A")] - got[(6, "B")]) > 1.0


# --------------------------------------------------------------------------- redispatch


def _costed_mesh():
    g = _grid("mesh")
    g.net.poly_cost.drop(g.net.poly_cost.index, inplace=True)
    pp.create_poly_cost(g.net, 1, "gen", cp1_eur_per_mw=25.0)
    pp.create_poly_cost(g.net, 2, "gen", cp1_eur_per_mw=45.0)
    return g


def _redispatch_referee(g, buses, factor: float | None) -> dict[int, float]:
    """Per bus: max x, new load x at the bus, the generators free within [min(Pmin, Pg), max(Pmax, Pg)]
    (one dispatch for every case), every branch within max(rating, |flow without new load|) and, with
    ``factor``, after each line outage within max(factor x rating, |that outage's flow without new
    load|). One scipy LP on the PTDF of each outaged network."""
    net = g.net
    gens = net.gen[net.gen["in_service"].astype(bool)]
    p0 = gens["p_mw"].to_numpy()
    lo = np.minimum(gens["min_p_mw"].fillna(0).to_numpy(), p0)
    hi = np.maximum(gens["max_p_mw"].to_numpy(), p0)
    rate = g.branches["rate_mw"].to_numpy()
    cases = [(None, 1.0)] + ([(int(i), factor) for i in net.line.index] if factor is not None else [])
    ptdfs = [(drop, mult, _ptdf(g, drop)) for drop, mult in cases]
    out = {}
    for bus in buses:
        a_rows, b_rows = [], []
        for drop, mult, got in ptdfs:
            if got is None:
                continue
            cols, f0 = got
            limit = np.maximum(mult * rate, np.abs(f0))
            live = g.branches["element_index"].to_numpy() != drop
            coef = np.c_[-cols[bus], np.column_stack([cols[int(b)] for b in gens["bus"]])][live]
            a_rows += [coef, -coef]
            b_rows += [(limit - f0)[live], (limit + f0)[live]]
        res = linprog(np.r_[-1.0, np.zeros(len(gens))], A_ub=np.vstack(a_rows), b_ub=np.concatenate(b_rows),
                      A_eq=np.r_[-1.0, np.ones(len(gens))][None, :], b_eq=[0.0],
                      bounds=[(0, None)] + list(zip(lo - p0, hi - p0)), method="highs")
        assert res.status == 0, res.message
        out[int(bus)] = float(res.x[0])
    return out


@pytest.mark.parametrize("security", SECURITY)
def test_redispatch_triangle_by_hand(security):
    """examples.redispatch_triangle (tests/test_hosting_redispatch.py works N-0 by hand): bus 2 hosts
    140 MW, bus 3 70 MW. N-1 (emergency 1.25 x 80 = 100 MW on line 1-3): without line 2-3 the whole
    100 MW load of bus 3 already comes over line 1-3, at that limit, so bus 3 takes nothing; bus 2 is
    limited by generator 2 reaching its 100 MW without line 1-2 (line 1-3 then carries generator 1's
    output to bus 3): 100 MW. The plan's figures equal security_hosting and the referee LP."""
    g = _grid("redispatch_triangle")
    r = _plan(g, _sites(g, [(2, None), (3, None)]), "redispatch", security, redispatch_cost_segments=1)
    got = r.buses.set_index("bus")["hosting_mw"].to_dict()
    want = {2: 140.0, 3: 70.0} if security == "n-0" else {2: 100.0, 3: 0.0}
    assert got == pytest.approx(want, abs=1e-6)
    ref = _reference(g, [2, 3], "redispatch", security).set_index("bus")["hosting_mw"].to_dict()
    assert got == pytest.approx(ref, abs=1e-6)
    assert got == pytest.approx(_redispatch_referee(g, [2, 3], FACTOR if security == "n-1" else None), abs=1e-6)
    _assert_allocation_carries_the_bus_value(r)


@pytest.mark.parametrize("security", SECURITY)
def test_redispatch_mesh_is_planner_hosting_and_the_referee_agrees(security):
    """examples.mesh with linear costs: every candidate bus's hosting_mw is finite, equal to
    security_hosting(slack="redispatch") and to the referee LP (pandapower's PTDF of every outaged
    network, no LODF) to 1e-6 MW, and never below the fixed-participation (headroom) plan's."""
    g = _costed_mesh()
    sites = _sites(g, [(b, None) for b in MESH_BUSES])
    r = _plan(g, sites, "redispatch", security, redispatch_cost_segments=1)
    got = r.buses.set_index("bus")["hosting_mw"]
    assert list(got.index) == MESH_BUSES and np.isfinite(got).all() and (got > 0).all()
    ref = _reference(g, MESH_BUSES, "redispatch", security).set_index("bus")["hosting_mw"]
    np.testing.assert_allclose(got.to_numpy(), ref.reindex(got.index).to_numpy(), rtol=0, atol=1e-6)
    referee = _redispatch_referee(g, MESH_BUSES, FACTOR if security == "n-1" else None)
    np.testing.assert_allclose(got.to_numpy(), [referee[b] for b in got.index], rtol=0, atol=1e-6)
    fixed = _plan(g, sites, "headroom", security).buses.set_index("bus")["hosting_mw"]
    assert (got >= fixed - 1e-6).all() and (got > fixed + 1.0).any()
    _assert_allocation_carries_the_bus_value(r)


def test_a_warm_repriced_plan_keeps_the_hosting(monkeypatch):
    """A plan that changes only prices (planner.optimization.solve.Warm) re-solves the same network: its hosting
    (with redispatch an LP per bus) is kept, not computed again, and is the same."""
    import dataclasses

    from planner.network import supply
    from planner.optimization.solve import Warm

    g = _costed_mesh()
    sites = _sites(g, [(b, None) for b in MESH_BUSES])
    params = planner.Params(**ONE, supply_response="redispatch", security="n-1", emergency_rating_factor=FACTOR,
                            redispatch_cost_segments=1)
    warm = Warm()
    first = planner.plan(g, sites, params, warm=warm)
    monkeypatch.setattr(supply.Redispatch, "hosting", lambda *a, **k: pytest.fail("hosting computed again"))
    e = dataclasses.replace(params.economics, ai_lease_usd_per_kw_month=params.economics.ai_lease_usd_per_kw_month * 1.1)
    again = planner.plan(g, sites, dataclasses.replace(params, economics=e), warm=warm)
    assert warm.repriced == 1
    np.testing.assert_array_equal(again.buses["hosting_mw"].to_numpy(), first.buses["hosting_mw"].to_numpy())


def test_bus_hosting_can_be_left_out():
    """``solver.bus_hosting: false`` (Params.bus_hosting): no hosting LPs, hosting_mw empty, the
    allocation the same."""
    import numpy as np

    import planner
    from planner.data import examples as ex

    g = ex.two_bus(150.0)
    sites = ex.sites_at(g, [{"site_id": "ai", "bus": 2, "poi_mw": 300, "current_use": "development",
                             "ai_value_usd_per_mw": 5e5, "min_block_mw": 0}])
    kw = dict(supply_response="redispatch", redispatch_cost_segments=1, check_existing_load=False)
    on = planner.plan(g, sites, planner.Params(**kw))
    off = planner.plan(g, sites, planner.Params(**kw, bus_hosting=False))
    assert np.isfinite(on.buses["hosting_mw"]).all() and off.buses["hosting_mw"].isna().all()
    assert off.summary.objective_usd == on.summary.objective_usd
    assert off.allocation["ai_mw"].tolist() == on.allocation["ai_mw"].tolist()
