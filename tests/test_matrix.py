"""The matrix: every supply response x single period / three-year timeline x N-0 / N-1 x each path
(mining kept, new mining, AI lease, AI cloud) winning at a site, against brute force
(tests/matrix_brute.py: every block binary enumerated, each an LP in scipy, on a PTDF computed
from the grid's raw tables with each N-1 outage a removed branch; checked against pandapower's
rundcpp below). And: a one-year timeline is the single period, for every supply response and N-0/N-1.
Besides: planner's default load states (peak with firm shares, off-peak) and a timeline whose last
year overloads an N-1 pair before any new load, each against the same brute force.

Every cell also re-values planner's own allocation (every year's MW of every site) in the brute
force: it must be feasible in the independent network model and worth planner's objective.

Tolerances. Objectives: ``rel=1e-7, abs=$10``. planner reports objective_usd rounded to $1; HiGHS
(planner's and scipy's) works to feasibility/optimality tolerances of ~1e-7 in models whose objective
is in million $ (a few $ here); every cell so far agrees within $1. A plan re-valued by the brute
force: ``rel=1e-6`` (its MW are held within 1e-5 MW of the allocation's, rounded to 1e-6 MW; 1e-5 MW
at up to ~$2e7 per MW over a few sites and years is < $20, under 1e-6 of these objectives).
"""

from __future__ import annotations

import copy
import functools

import matrix_brute as mb  # tests/matrix_brute.py (tests/ is on sys.path: conftest.py)
import numpy as np
import pandapower as pp
import pytest

import planner
from planner.data import examples as ex

SUPPLY = ["headroom", "pmax", "single", "regional", "redispatch"]
SECURITY = ["n-0", "n-1"]
HORIZON = ["single", "timeline"]
PATHS = ["keep", "new", "lease", "cloud"]
YEARS = [2026, 2027, 2028]
#: base load of each year of the timeline (the grid's base flows grow with it)
GROWTH = np.array([1.0, 1.1, 1.2])
#: one load state (every new MW firm, no off-peak state; test_default_load_states_equal_brute_force
#: covers planner's default two states), the MILP solved to optimality, no DFAX cut-off (a branch over its limit without new load may not get worse at all);
#: redispatch: 5 cost segments (on the mesh, generator 1's breakpoints every 120 MW: its output moves
#: across them between the reference dispatch and the plan's, so the piecewise-linear curve matters)
BASE = {"mining_firm_share": 1.0, "offpeak_load_factor": 1.0, "check_existing_load": False, "mip_gap": 0.0,
        "overload_dfax": 0.0, "gen_regions": {1: "A", 2: "B"}, "redispatch_cost_segments": 5}
#: allocation column of each path (the end state of a timeline)
COLUMN = {"keep": "kept_mining_mw", "new": "new_mining_mw", "lease": "ai_lease_mw", "cloud": "ai_cloud_mw"}


@functools.cache
def _built(make, *args):
    return make(*args)


def fresh(make, *args):
    """A grid of its own for each test: a copy of one built once per worker (building takes ~0.3 s)."""
    return copy.deepcopy(_built(make, *args))


def mesh(rate_mw: float = 200.0):
    """The 6-bus mesh with cost curves: generator 1 (bus 1, region A, 0-600 MW) $20/MWh + $0.03/MW^2 per
    h (a quadratic: $26 to $56 per MWh on its segments, against the $40 power price), generator 2
    (bus 4, region B, 0-300 MW) $45/MWh."""
    g = ex.mesh(rate_mw)
    g.net.poly_cost.drop(g.net.poly_cost.index, inplace=True)
    pp.create_poly_cost(g.net, 1, "gen", cp1_eur_per_mw=20.0, cp2_eur_per_mw2=0.03)
    pp.create_poly_cost(g.net, 2, "gen", cp1_eur_per_mw=45.0)
    return g


def triangle():
    """Buses 1-2-3, line 1-3 rated 150 MW (others 1,000); generator 1 (bus 1, region A, $20) and
    generator 2 (bus 2, region B, $50); 100 MW of load at bus 3."""
    return ex.redispatch_triangle(150.0)


DEV = {"current_use": "development"}
#: a mine whose AI would cost $30M per MW: it only mines
MINER = {"current_use": "bitcoin", "ai_capex_usd_per_mw": 30e6, "min_block_mw": 0}

#: path -> (grid, economics, site where the path must win, sites). In each, the target site's path is
#: worth the most per MW, and other sites on other paths (with minimum blocks: binaries) compete for
#: the same branches.
INSTANCES = {
    # today's mining at bus 2 ($3.0M per MW at $50/PH-day) against an AI lease (block 50) and a cloud
    "keep": (mesh, {"hashprice_usd_per_ph_day": 50.0}, "K", [
        {"site_id": "K", "bus": 2, "poi_mw": 120, "operating_mw": 120, **MINER, "region": "B"},
        {"site_id": "L", "bus": 5, "poi_mw": 200, **DEV, "ai_value_usd_per_mw": 1.2e6, "ai_lead_months": 12,
         "allow_ai_cloud": False, "min_block_mw": 50, "region": "A"},
        {"site_id": "G", "bus": 3, "poi_mw": 100, **DEV, "ai_value_usd_per_mw": 0.5e6,
         "ai_cloud_value_usd_per_mw": 1.0e6, "ai_lead_months": 0, "min_block_mw": 0, "region": "A"},
    ]),
    # new mining (a 20 MW mine with a 120 MW connection; $1.7M per new MW) on the triangle
    "new": (triangle, {"hashprice_usd_per_ph_day": 50.0}, "N", [
        {"site_id": "N", "bus": 2, "poi_mw": 120, "operating_mw": 20, **MINER, "region": "B"},
        {"site_id": "L", "bus": 3, "poi_mw": 150, **DEV, "ai_value_usd_per_mw": 1.2e6, "ai_lead_months": 12,
         "allow_ai_cloud": False, "min_block_mw": 30, "region": "A"},
        {"site_id": "G", "bus": 3, "poi_mw": 100, **DEV, "ai_value_usd_per_mw": 0.5e6,
         "ai_cloud_value_usd_per_mw": 1.0e6, "ai_lead_months": 0, "min_block_mw": 0, "region": "A"},
    ]),
    # a mine converted to a leased shell ($150/kW-month, block 30; the cloud at $9.7M is worth less); at
    # most 100 MW of AI there (ai_max_mw): with the network free it leases 100 MW and keeps 40 MW mining
    "lease": (mesh, {}, "C", [
        {"site_id": "C", "bus": 5, "poi_mw": 150, "operating_mw": 40, "current_use": "bitcoin", "min_block_mw": 30,
         "ai_max_mw": 100, "region": "A"},
        {"site_id": "K", "bus": 6, "poi_mw": 80, "operating_mw": 80, **MINER, "region": "B"},
        {"site_id": "G", "bus": 3, "poi_mw": 100, **DEV, "ai_value_usd_per_mw": 0.5e6,
         "ai_cloud_value_usd_per_mw": 3e6, "ai_lead_months": 0, "min_block_mw": 0, "region": "A"},
    ]),
    # a campus running its own cloud ($12M per IT MW-year: $17.8M per MW against $7.8M leased; block 40)
    "cloud": (mesh, {"ai_cloud_revenue_usd_per_it_mw_year": 12e6}, "D", [
        {"site_id": "D", "bus": 6, "poi_mw": 150, **DEV, "ai_capex_usd_per_mw": 2e6, "ai_lead_months": 12,
         "min_block_mw": 40, "region": "B"},
        # a tenant's request (requested_mw): a lease, not a cloud (as a cloud it would be worth ~$9.5M per MW)
        {"site_id": "L", "bus": 5, "poi_mw": 150, **DEV, "ai_value_usd_per_mw": 3e6, "ai_lead_months": 0,
         "requested_mw": 150, "min_block_mw": 0, "region": "A"},
        {"site_id": "K", "bus": 3, "poi_mw": 80, "operating_mw": 80, **MINER, "region": "A"},
    ]),
}


def params(supply: str, security: str, **economics) -> planner.Params:
    return planner.Params(**BASE, supply_response=supply, security=security,
                          economics=planner.Economics(**economics))


def timeline(n: int = 3, growth=GROWTH) -> planner.Timeline:
    return planner.Timeline(years=YEARS[:n], load_factor=np.asarray(growth, float)[:n])


def solve(horizon: str, g, sites, p, growth=GROWTH):
    if horizon == "single":
        return planner.plan(g, sites, p)
    return planner.plan_timeline(g, sites, p, timeline(len(growth), growth))


def plan_mw(result, horizon: str, n_years: int) -> dict:
    """The plan's MW (sites x years) for the brute force to re-value: mining, AI and cloud."""
    a = result.allocation
    if horizon == "single":
        return {"mining": (a["kept_mining_mw"] + a["new_mining_mw"]).to_numpy(float)[:, None],
                "ai": a["ai_mw"].to_numpy(float)[:, None], "cloud": a["ai_cloud_mw"].to_numpy(float)[:, None]}
    years = YEARS[:n_years]
    return {name: np.column_stack([a[f"{col}_{y}"].to_numpy(float) for y in years])
            for name, col in (("mining", "mining_mw"), ("ai", "ai_mw"), ("cloud", "ai_cloud_mw"))}


def test_reference_network_matches_pandapower():
    """The brute force's PTDF (from the raw tables, an outage a removed branch) gives pandapower's
    rundcpp flows, intact and after every single outage, with and without an extra load."""
    for g in (fresh(mesh), fresh(triangle)):
        assert mb.check_against_pandapower(g, mb.RefNet(g)) < 1e-9


@pytest.mark.parametrize("security", SECURITY)
@pytest.mark.parametrize("horizon", HORIZON)
@pytest.mark.parametrize("supply", SUPPLY)
@pytest.mark.parametrize("path", PATHS)
def test_matrix_equals_brute_force(path, supply, horizon, security):
    make, economics, target, rows = INSTANCES[path]
    g = fresh(make)
    sites = ex.sites_at(g, rows)
    p = params(supply, security, **economics)
    growth = None if horizon == "single" else GROWTH
    best = mb.brute_force(g, sites, p, growth)
    k = rows.index(next(r for r in rows if r["site_id"] == target))
    # the instance exercises the path: it wins at the target site in the brute force's optimum (end state)
    assert best.mw[path][k, -1] >= 1.0, (path, {q: v[:, -1].round(3).tolist() for q, v in best.mw.items()})

    result = solve(horizon, g, sites, p)
    got = result.summary.objective_usd
    assert got == pytest.approx(best.objective, rel=1e-7, abs=10.0), f"planner {got:,.2f} brute force {best.objective:,.2f}"
    a = result.allocation.set_index("site_id")
    assert a.loc[target, COLUMN[path]] >= 1.0, a[list(COLUMN.values())]
    # the plan itself (every year's MW of every site) is feasible in the brute force's network and worth
    # what planner says
    n_years = 1 if growth is None else len(growth)
    again = mb.brute_force(g, sites, p, growth, fixed=plan_mw(result, horizon, n_years))
    assert np.isfinite(again.objective), "planner's allocation breaks a network row of the brute force"
    assert again.objective == pytest.approx(got, rel=1e-6)


#: every path wins at one site: today's mining (K), new mining (N), an AI lease (C), an AI cloud (D);
#: F, an AI lease worth little, takes what the network has left (so the network binds)
ALL_PATHS = [
    {"site_id": "K", "bus": 2, "poi_mw": 50, "operating_mw": 50, **MINER, "region": "B"},
    {"site_id": "N", "bus": 3, "poi_mw": 60, "operating_mw": 10, **MINER, "region": "A"},
    {"site_id": "C", "bus": 5, "poi_mw": 50, "operating_mw": 40, "current_use": "bitcoin", "min_block_mw": 30,
     "allow_ai_cloud": False, "region": "A"},
    {"site_id": "D", "bus": 6, "poi_mw": 50, **DEV, "ai_capex_usd_per_mw": 2e6, "ai_lead_months": 12,
     "min_block_mw": 40, "region": "B"},
    {"site_id": "F", "bus": 6, "poi_mw": 1000, **DEV, "ai_value_usd_per_mw": 1.0e6, "ai_lead_months": 12,
     "allow_ai_cloud": False, "min_block_mw": 0, "region": "B"},
]
ALL_ECON = {"hashprice_usd_per_ph_day": 50.0, "ai_cloud_revenue_usd_per_it_mw_year": 12e6}


@pytest.mark.parametrize("security", SECURITY)
@pytest.mark.parametrize("supply", SUPPLY)
def test_one_year_timeline_is_the_single_period(supply, security):
    """plan_timeline with one year (base load factor 1) is plan: the same objective (to $1, both
    rounded to $1) and the same MW of each path at each site (to 1e-6 MW); both equal the brute force."""
    g = fresh(mesh, 300.0)
    sites = ex.sites_at(g, ALL_PATHS)
    p = params(supply, security, **ALL_ECON)
    single = planner.plan(g, sites, p)
    one = planner.plan_timeline(g, sites, p, timeline(1, [1.0]))
    a = single.allocation.set_index("site_id")
    for path, site in zip(PATHS, ["K", "N", "C", "D"]):  # every path is exercised
        assert a.loc[site, COLUMN[path]] >= 1.0, (path, a[list(COLUMN.values())])
    assert (a["limited_by"] == "network").any(), a["limited_by"]
    assert one.summary.objective_usd == pytest.approx(single.summary.objective_usd, abs=1.0)
    b = one.allocation.set_index("site_id")
    for col in COLUMN.values():
        assert b[col].to_numpy(float) == pytest.approx(a[col].to_numpy(float), abs=1e-6), col
    best = mb.brute_force(g, sites, p)
    assert single.summary.objective_usd == pytest.approx(best.objective, rel=1e-7, abs=10.0)


#: a grid whose base load of the last year overloads an N-1 pair before any new load (rating 160 MW,
#: emergency 192 MW; the worst post-contingency flow grows from 150 MW to 195 MW)
PRE_GROWTH = np.array([1.0, 1.15, 1.3])


@pytest.mark.parametrize("supply", SUPPLY)
def test_timeline_with_a_preexisting_n1_overload_equals_brute_force(supply):
    """N-1 pairs over their emergency rating without new load in the last year only: such a pair may
    not get worse (overload_dfax 0) while the earlier years are checked against the emergency rating."""
    g = fresh(mesh, 160.0)
    _, economics, _, rows = INSTANCES["keep"]
    sites = ex.sites_at(g, rows)
    p = params(supply, "n-1", **economics)
    assert mb.preexisting_pairs(g, p, PRE_GROWTH[-1]) > 0 and mb.preexisting_pairs(g, p, PRE_GROWTH[-2]) == 0
    best = mb.brute_force(g, sites, p, PRE_GROWTH)
    result = solve("timeline", g, sites, p, PRE_GROWTH)
    assert result.summary.objective_usd == pytest.approx(best.objective, rel=1e-7, abs=10.0)
    again = mb.brute_force(g, sites, p, PRE_GROWTH, fixed=plan_mw(result, "timeline", len(PRE_GROWTH)))
    assert again.objective == pytest.approx(result.summary.objective_usd, rel=1e-6)


@pytest.mark.parametrize("security", SECURITY)
@pytest.mark.parametrize("horizon", HORIZON)
@pytest.mark.parametrize("supply", SUPPLY)
def test_default_load_states_equal_brute_force(supply, horizon, security):
    """The shipped load states (planner's defaults): at peak 10 % of new mining MW run, every AI MW;
    off-peak every new MW with the base load at 60 %. Every path wins at its site, the network binds."""
    g = fresh(mesh, 300.0)
    sites = ex.sites_at(g, ALL_PATHS)
    p = planner.Params(**{**BASE, "mining_firm_share": 0.1, "offpeak_load_factor": 0.6}, supply_response=supply,
                       security=security, economics=planner.Economics(**ALL_ECON))
    growth = None if horizon == "single" else GROWTH
    best = mb.brute_force(g, sites, p, growth)
    result = solve(horizon, g, sites, p)
    assert len(result.states) == 2
    got = result.summary.objective_usd
    assert got == pytest.approx(best.objective, rel=1e-7, abs=10.0), f"planner {got:,.2f} brute force {best.objective:,.2f}"
    a = result.allocation.set_index("site_id")
    for k, (path, site) in enumerate(zip(PATHS, ["K", "N", "C", "D"])):
        assert best.mw[path][k, -1] >= 1.0 and a.loc[site, COLUMN[path]] >= 1.0, path
    assert (a["limited_by"] == "network").any(), a["limited_by"]
    again = mb.brute_force(g, sites, p, growth, fixed=plan_mw(result, horizon, 1 if growth is None else len(growth)))
    assert again.objective == pytest.approx(got, rel=1e-6)
