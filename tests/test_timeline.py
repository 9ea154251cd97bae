"""Timeline: year-by-year plans (planner.optimization.timeline), against the single-period solve, hand cases
and brute-force enumeration of tiny multi-year cases."""

import dataclasses
import itertools

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pp_reference import single_slack_dc
from scipy.optimize import linprog

import planner
from planner import economics as E
from planner.data import examples as ex
from planner.optimization.periods import Timeline
from planner.optimization.solve import plan_timeline

FIRM = {"mining_firm_share": 1.0, "offpeak_load_factor": 1.0}
ECON = planner.Economics()
YEARS = [2026, 2027, 2028, 2029, 2030]
H = ECON.horizon_years * 12


def timeline(n: int = 5, **kw) -> Timeline:
    return Timeline(years=YEARS[:n], load_factor=np.ones(n), **kw)


def annuity(rate: float, start: float, end: float) -> float:
    """$1 a year paid monthly from month ``start`` to ``end``, discounted (by hand: a sum)."""
    m = (1 + rate) ** (1 / 12) - 1
    return sum((1 + m) ** -(k + 1) / 12 for k in range(int(start), int(end)))


def test_a_one_year_timeline_is_the_single_period_solve(tmp_path):
    from planner.config.scenario import load_scenario
    from planner.run.prepare import run

    path = tmp_path / "one.yaml"
    path.write_text("extends: texas\ntimeline:\n  years: [2026]\n")
    # both solved to optimality (two MILPs stopped at a 1e-4 gap may end that far apart)
    _, single = run(load_scenario("texas", ["ac.check=false", "solver.mip_gap=0"]))
    _, one = run(load_scenario(str(path), ["ac.check=false", "solver.mip_gap=0"]))
    assert one.summary.objective_usd == pytest.approx(single.summary.objective_usd, rel=1e-9)
    for col in ("ai_mw", "mining_mw", "value_usd"):
        assert one.allocation[col].fillna(0).to_numpy() == pytest.approx(
            single.allocation[col].fillna(0).to_numpy(), abs=1e-3)
    assert one.branches["flow_mw"].to_numpy() == pytest.approx(single.branches["flow_mw"].to_numpy(), abs=1e-3)
    row = one.timeline.iloc[0]
    # the one year is the end state: AI whose lead (greenfield, 36 months) runs past it is energized after it
    assert row["served_ai_mw"] + row["energized_after_mw"] == pytest.approx(single.summary.served_ai_mw, abs=0.01)
    assert one.summary.timeline["energized_after_last_year_began_mw"] > 0


# --------------------------------------------------------------------------- the three paths


#: mining, lease and cloud each win somewhere (cloud revenue $10.8M per IT MW-year: above the lease at
#: $150 and $60 per kW-month, below it at $250); the 250 MW lines of the mesh bind
PATH_ECON = planner.Economics(ai_cloud_revenue_usd_per_it_mw_year=10.8e6)
PATH_SITES = [
    # a mine whose AI capex ($20M/MW) makes both AI paths worth less than mining
    {"site_id": "mine", "bus": 3, "poi_mw": 80, "operating_mw": 50, "current_use": "bitcoin",
     "ai_capex_usd_per_mw": 20e6, "min_block_mw": 20},
    # a mine whose tenant pays $250/kW-month: the lease beats the cloud
    {"site_id": "lease", "bus": 4, "poi_mw": 120, "operating_mw": 60, "current_use": "bitcoin",
     "ai_lease_usd_per_kw_month": 250, "min_block_mw": 40},
    # a campus leasing at $60: the cloud beats the lease
    {"site_id": "cloud", "bus": 5, "poi_mw": 100, "current_use": "development", "ai_lease_usd_per_kw_month": 60,
     "ai_capex_usd_per_mw": 2e6, "ai_lead_months": 24, "min_block_mw": 0},
    # a mine of which at most 40 MW may go to AI: it splits its MW between paths when it may
    {"site_id": "mixed", "bus": 2, "poi_mw": 100, "operating_mw": 60, "current_use": "bitcoin", "ai_max_mw": 40,
     "min_block_mw": 0},
    # a greenfield campus at the defaults ($11M/MW, 36 months): worth nothing
    {"site_id": "green", "bus": 6, "poi_mw": 90, "current_use": "development", "min_block_mw": 30},
]


def _paths_mw(result) -> pd.DataFrame:
    """MW of each path at each site (the allocation's columns)."""
    return result.allocation.set_index("site_id")[["mining_mw", "ai_lease_mw", "ai_cloud_mw"]].astype(float)


def _same_plan(one, single):
    """A one-year timeline and the single period: the same NPV, the same MW of each path at each site
    and the same value per site."""
    assert one.summary.objective_usd == pytest.approx(single.summary.objective_usd, rel=1e-6)
    pd.testing.assert_frame_equal(_paths_mw(one), _paths_mw(single), check_exact=False, rtol=0, atol=1e-6)
    assert one.allocation["value_usd"].to_numpy() == pytest.approx(single.allocation["value_usd"].to_numpy(),
                                                                   rel=1e-6, abs=1.0)
    for path in ("mining", "ai_lease", "ai_cloud"):
        assert one.summary.paths[path]["mw"] == pytest.approx(single.summary.paths[path]["mw"], abs=1e-3)
        assert one.summary.paths[path]["sites"] == single.summary.paths[path]["sites"]


def test_a_one_year_timeline_equals_the_single_period_on_every_path():
    """Sites where mining, the lease and the cloud each win (each path has MW in the single period,
    so the test cannot pass with a path missing), the network binding: one year of a timeline is
    the single-period plan, path by path; the year's columns and timeline.csv report the cloud."""
    g = ex.mesh(rate_mw=250)
    sites = ex.sites_at(g, PATH_SITES)
    params = planner.Params(**FIRM, supply_response="single", mip_gap=0, check_existing_load=False,
                            economics=PATH_ECON)
    single = planner.plan(g, sites, params)
    mw = _paths_mw(single)
    for path in mw.columns:
        assert mw[path].max() > 1.0, path
    assert mw.loc["mine", "mining_mw"] > 0 and mw.loc["lease", "ai_lease_mw"] > 0
    assert mw.loc["cloud", "ai_cloud_mw"] > 0
    assert (single.allocation["limited_by"] == "network").any()
    one = plan_timeline(g, sites, params, timeline(1))
    _same_plan(one, single)
    a = one.allocation.set_index("site_id")
    assert a["ai_cloud_mw_2026"].to_numpy() == pytest.approx(a["ai_cloud_mw"].to_numpy(), abs=1e-6)
    assert a["ai_lease_mw_2026"].to_numpy() == pytest.approx(a["ai_lease_mw"].to_numpy(), abs=1e-6)
    # the cloud's shell (lead 24 months) is energized after the one year began: served in the end state
    row = one.timeline.iloc[0]
    assert row["served_ai_cloud_mw"] + row["energized_after_mw"] >= a["ai_cloud_mw"].sum() - 1e-6
    assert one.summary.timeline["served_ai_cloud_mw"]["2026"] == pytest.approx(row["served_ai_cloud_mw"])
    # the tie-break ranks the cloud columns too: one allocation, whatever the solver's path
    assert one.summary.tie_break["status"] == "optimal"


def test_a_one_year_timeline_keeps_the_cloud_of_the_single_period():
    """The report: one site on one bus, cloud revenue $20M per IT MW-year. The single period runs
    100 MW as a cloud; the one-year timeline did not offer the cloud (it gave the NPV of the single
    period with the cloud turned off). It now gives the cloud MW and the NPV of plan(); over three
    years the shell (lead 12 months) serves from the second year, as a cloud."""
    g = ex.triangle()
    sites = ex.sites_at(g, [{"site_id": "S", "bus": 2, "poi_mw": 100, "current_use": "development",
                             "ai_capex_usd_per_mw": 2e6, "ai_lead_months": 12, "ai_lease_usd_per_kw_month": 150}])
    params = planner.Params(**FIRM, supply_response="single", mip_gap=0, check_existing_load=False,
                            economics=planner.Economics(ai_cloud_revenue_usd_per_it_mw_year=20e6))
    single = planner.plan(g, sites, params)
    assert single.allocation["ai_cloud_mw"].sum() == pytest.approx(100)
    leased = planner.plan(g, sites, dataclasses.replace(params, allow_ai_cloud=False))
    assert leased.summary.objective_usd < 0.2 * single.summary.objective_usd  # what the timeline gave
    one = plan_timeline(g, sites, params, timeline(1))
    _same_plan(one, single)
    assert one.allocation["path"].tolist() == ["ai_cloud"]
    three = plan_timeline(g, sites, params, timeline(3))
    assert three.summary.objective_usd == pytest.approx(single.summary.objective_usd, rel=1e-9)
    a = three.allocation.set_index("site_id").loc["S"]
    assert [a[f"ai_cloud_mw_{y}"] for y in YEARS[:3]] == pytest.approx([0, 100, 100])
    assert three.summary.timeline["served_ai_cloud_mw"] == pytest.approx({"2026": 0, "2027": 100, "2028": 100})
    # the GPUs are capex (decided with the shell): a total budget of the shell alone buys a lease
    shell = dataclasses.replace(params, max_capex_usd=100 * 2e6)
    assert plan_timeline(g, sites, shell, timeline(2)).allocation["ai_cloud_mw"].sum() == 0
    assert planner.plan(g, sites, shell).allocation["ai_cloud_mw"].sum() == 0


def test_a_cloud_held_back_by_its_pool_is_valued_from_its_energization():
    """A campus (lead 0, shell $2M/MW) whose region has no supply until the second year: its cloud
    is energized at month 12, its shell paid then, GPUs bought 3 months later and every 5 years,
    compute revenue from month 15 (the month-by-month cash flows of test_three_paths). A yearly
    budget of the first GPUs and shells in the second year only lets 60 of the 100 MW be a cloud."""
    from test_three_paths import cloud_npv_by_hand

    e = planner.Economics(ai_cloud_revenue_usd_per_it_mw_year=20e6)
    g = ex.triangle(rate_mw=10_000)
    sites = ex.sites_at(g, [{"site_id": "c", "bus": 2, "poi_mw": 100, "current_use": "development", "region": "R",
                             "ai_capex_usd_per_mw": 2e6, "ai_lead_months": 0, "min_block_mw": 0}])
    params = planner.Params(**FIRM, supply_response="single", mip_gap=0, check_existing_load=False, economics=e)
    pools = {"R": np.array([0.0, 100.0, 100.0])}
    r = plan_timeline(g, sites, params, timeline(3, pools_mw=pools))
    assert r.timeline["served_ai_cloud_mw"].tolist() == pytest.approx([0, 100, 100])
    later = float(E.discount(e.discount_rate, 12))
    # by hand: the project of a shell ready at month 12, its capex paid then (discounted to today)
    by_hand = 100 * cloud_npv_by_hand(e, 20e6, 2e6 * later, 12)
    assert r.summary.objective_usd == pytest.approx(by_hand, rel=1e-9)
    gpu = e.ai_cloud_gpu_capex_usd_per_it_mw / e.ai_pue
    budget = np.array([np.inf, 100 * 2e6 + 60 * gpu, np.inf])
    capped = plan_timeline(g, sites, params, timeline(3, pools_mw=pools, budget_usd=budget))
    a = capped.allocation.set_index("site_id").loc["c"]
    assert a["ai_cloud_mw_2027"] == pytest.approx(60, abs=1e-6) and a["ai_mw_2027"] == pytest.approx(100, abs=1e-6)


def test_one_path_per_site_in_a_timeline_as_in_the_single_period():
    """split_paths false: the single period and a one-year timeline both give each site one path
    and agree; split, the mixed mine takes two (so the rule has work to do). Over three years
    each year's state holds at most one path per site."""
    g = ex.mesh(rate_mw=250)
    sites = ex.sites_at(g, PATH_SITES)
    base = {**FIRM, "supply_response": "single", "mip_gap": 0, "check_existing_load": False, "economics": PATH_ECON}
    split = planner.plan(g, sites, planner.Params(**base))
    assert (_paths_mw(split).loc["mixed"] > 1e-6).sum() == 2
    params = planner.Params(**base, split_paths=False)
    single = planner.plan(g, sites, params)
    one = plan_timeline(g, sites, params, timeline(1))
    for r in (single, one):
        assert ((_paths_mw(r) > 1e-6).sum(axis=1) <= 1).all()
    assert single.summary.objective_usd < split.summary.objective_usd
    _same_plan(one, single)
    mw = _paths_mw(single)
    assert all(mw[p].max() > 1.0 for p in mw.columns)
    three = plan_timeline(g, sites, params, timeline(3))
    a = three.allocation.set_index("site_id")
    for y in YEARS[:3]:
        lease, cloud = a[f"ai_lease_mw_{y}"], a[f"ai_cloud_mw_{y}"]
        paths = (a[f"mining_mw_{y}"] > 1e-6).astype(int) + (lease > 1e-6) + (cloud > 1e-6)
        assert (paths <= 1).all(), y
    # a mine mines until its conversion serves AI: one path a year, not one path for all years
    assert a.loc["lease", "mining_mw_2026"] > 0 and a.loc["lease", "ai_lease_mw_2028"] > 0


def _two_sites(pool: float, **kw):
    """A conversion (lead 12) and a greenfield campus (lead 36) of 100 MW each at bus 2 of a
    strong triangle, the same lease and capex, one block each; no network limit binds."""
    g = ex.triangle(rate_mw=10_000)
    rows = [{"site_id": "conv", "bus": 2, "poi_mw": 100, "operating_mw": 0, "current_use": "conversion", "region": "R",
             "min_block_mw": 100, "ai_capex_usd_per_mw": 2e6, "ai_lead_months": 12},
            {"site_id": "green", "bus": 2, "poi_mw": 100, "current_use": "development", "region": "R",
             "min_block_mw": 100, "ai_capex_usd_per_mw": 2e6, "ai_lead_months": 36}]
    sites = ex.sites_at(g, [r for r in rows if r["site_id"] in kw.get("only", ("conv", "green"))])
    params = planner.Params(**FIRM, supply_response="single", mip_gap=0, check_existing_load=False)
    return plan_timeline(g, sites, params, timeline(pools_mw={"R": np.full(5, pool)}))


def test_a_conversion_beats_a_greenfield_campus_by_two_years_of_lease():
    both = _two_sites(pool=100)
    a = both.allocation.set_index("site_id")
    assert a.loc["conv", "ai_mw"] == pytest.approx(100) and a.loc["green", "ai_mw"] == 0
    assert a.loc["conv", "first_year"] == 2027  # 12 months: in service from the start of the second year
    income = (ECON.ai_lease_usd_per_kw_month - ECON.ai_opex_usd_per_kw_month) * 1000 / ECON.ai_pue * 12  # $/MW-yr
    r = ECON.discount_rate
    conv = 100 * (income * annuity(r, 12, H) - 2e6)
    assert both.summary.objective_usd == pytest.approx(conv, rel=1e-9)
    green = _two_sites(pool=100, only=("green",))
    g = green.allocation.set_index("site_id")
    assert g.loc["green", "first_year"] == 2029  # 36 months: from the start of the fourth year
    assert green.timeline.set_index("year").loc[2028, "served_ai_mw"] == 0
    assert green.summary.objective_usd == pytest.approx(100 * (income * annuity(r, 36, H) - 2e6), rel=1e-9)
    # the difference: two years of lease income on 100 MW, from month 12 to 36
    diff = both.summary.objective_usd - green.summary.objective_usd
    assert diff == pytest.approx(100 * income * annuity(r, 12, 36), abs=1.0)  # objectives are rounded to $1


def test_no_site_serves_before_its_lead_time():
    g = ex.triangle(rate_mw=10_000)
    sites = ex.sites_at(g, [{"site_id": f"s{lead}", "bus": 2, "poi_mw": 50, "current_use": "development",
                             "min_block_mw": 0, "ai_capex_usd_per_mw": 1e6, "ai_lead_months": lead}
                            for lead in (0, 13, 24, 30, 50)])
    r = plan_timeline(g, sites, planner.Params(**FIRM, supply_response="single", check_existing_load=False),
                      timeline())
    a = r.allocation.set_index("site_id")
    # in a year's state when the lead ends by the year's start; the last year holds the rest
    expect = {"s0": 2026, "s13": 2028, "s24": 2028, "s30": 2029, "s50": 2030}
    for sid, first in expect.items():
        years = [y for y in YEARS if a.loc[sid, f"ai_mw_{y}"] > 0]
        assert years[0] == first, sid
        assert a.loc[sid, "first_year"] == first
    # 50 months: energized in February 2030, after the last year began
    assert r.summary.timeline["energized_after_last_year_began_mw"] == pytest.approx(50)
    assert r.timeline.set_index("year").loc[2030, "served_ai_mw"] == pytest.approx(200)
    late = plan_timeline(g, sites, planner.Params(**FIRM, supply_response="single", check_existing_load=False),
                         timeline(3))
    la = late.allocation.set_index("site_id")
    assert la.loc["s50", "first_year"] == 2030 and la.loc["s50", "ai_mw_2028"] == 50
    assert la.loc["s30", "first_year"] == 2028
    assert late.summary.timeline["energized_after_last_year_began_mw"] == pytest.approx(100)
    assert late.timeline.set_index("year").loc[2028, "served_ai_mw"] == pytest.approx(150)


def test_an_under_construction_pool_is_usable_from_its_online_year(tmp_path):
    from planner.config.scenario import load_scenario
    from planner.run.prepare import prepare

    path = tmp_path / "uc.yaml"
    path.write_text("extends: texas\nsupply:\n  regions:\n    ERCOT: {available_mw: 1000, under_construction_mw: 500,"
                    " online_year: 2028}\ntimeline:\n  years: [2026, 2027, 2028, 2029]\n")
    prep = prepare(load_scenario(str(path)))
    assert prep.timeline.pools_mw["ERCOT"].tolist() == [1000, 1000, 1500, 1500]
    # the engine: a pool of 100 MW, 200 more from the third year; one large conversion
    g = ex.triangle(rate_mw=10_000)
    sites = ex.sites_at(g, [{"site_id": "c", "bus": 3, "poi_mw": 500, "operating_mw": 0, "current_use": "conversion",
                             "region": "R", "min_block_mw": 0, "ai_lead_months": 0}])
    r = plan_timeline(g, sites, planner.Params(**FIRM, supply_response="single", check_existing_load=False),
                      timeline(pools_mw={"R": np.array([100, 100, 300, 300, 300.0])}))
    served = r.timeline.set_index("year")["served_ai_mw"]
    assert served.tolist() == pytest.approx([100, 100, 300, 300, 300])


def test_yearly_budget_and_demand_ramp():
    g = ex.triangle(rate_mw=10_000)
    sites = ex.sites_at(g, [{"site_id": "c", "bus": 3, "poi_mw": 500, "operating_mw": 0, "current_use": "conversion",
                             "region": "R", "min_block_mw": 0, "ai_capex_usd_per_mw": 2e6}])
    params = planner.Params(**FIRM, supply_response="single", check_existing_load=False)
    # what runs from year t (lead 12) is decided at the start of year t - 1: $200M a year buys 100 MW
    r = plan_timeline(g, sites, params, timeline(4, budget_usd=np.full(4, 2e8)))
    assert r.timeline["served_ai_mw"].tolist() == pytest.approx([0, 100, 200, 300])
    ramp = plan_timeline(g, sites, params, timeline(4, ai_demand_mw={"R": np.array([50, 150, 150, 400.0])},
                                                   requested_mw={"R": np.array([50, 150, 150, 400.0])}))
    t = ramp.timeline
    assert t["served_ai_mw"].tolist() == pytest.approx([0, 150, 150, 400])  # a conversion: from the second year
    assert t["unmet_ai_mw"].tolist() == pytest.approx([50, 0, 0, 0])


# --------------------------------------------------------------------------- brute force


def brute_force(grid, sites, params, T: int, pool: float | None):
    """Every pattern of first years of the binaries; for each, an LP (scipy linprog) over all
    years, on pandapower's single-slack PTDF and base flows, with the year values written out here
    from the module's formulas (economics' annuity and discount; a cloud MW: the single period's
    cloud NPV of a shell energized at the year's month, its capex paid at the decision). The AI MW
    of a site may be run as its own cloud: a part of them, that never decreases."""
    full, lookup, f0, limit = single_slack_dc(grid)
    s = -np.column_stack([full[:, lookup[b]] for b in sites["bus"]])
    m = len(sites)
    e = params.economics
    mine = sites["current_use"].isin(["bitcoin", "conversion"]).to_numpy()
    cap = sites["poi_mw"].to_numpy(float)
    existing = np.where(mine, sites["operating_mw"].fillna(0).to_numpy(float), 0)
    lease = sites["ai_lease_usd_per_kw_month"].to_numpy(float)
    lead = sites["ai_lead_months"].to_numpy(float)
    capex = sites["ai_capex_usd_per_mw"].to_numpy(float)
    block = np.minimum(sites["min_block_mw"].to_numpy(float), cap)
    income = (lease - e.ai_opex_usd_per_kw_month) * 1000 / e.ai_pue * 12
    r = e.discount_rate
    v_ai = np.zeros((m, T + 1))
    v_cloud = np.zeros((m, T + 1))
    allowed = np.zeros((m, T), bool)
    for i in range(m):
        for t in range(T):
            allowed[i, t] = t == T - 1 or lead[i] <= 12 * t
            en = max(12 * t, lead[i])
            v_ai[i, t] = income[i] * float(E.annuity_factor(r, en, H)) - capex[i] * float(E.discount(r, en - lead[i]))
            paid = capex[i] * float(E.discount(r, en - lead[i]))
            v_cloud[i, t] = float(E.ai_cloud_npv_per_mw(e, capex_usd_per_mw=paid, lead_months=en))
    up = v_cloud - v_ai  # a cloud MW on top of the lease (the last column: 0)
    v_new = np.r_[[float(E.new_mining_npv(e, max(12 * t, e.mining_lead_months))) for t in range(T)], 0.0]
    w = [float(E.existing_mining_value(e, 12 * t, 12 * (t + 1) if t < T - 1 else H)) for t in range(T)]
    # variables per year: keep, new, ai, draw, cloud (m each); year t at offset 5 m t
    nv = 5 * m * T
    K, N, A, D, C = (lambda t, k=k: slice(5 * m * t + k * m, 5 * m * t + (k + 1) * m) for k in range(5))
    c = np.zeros(nv)
    rows, rhs = [], []

    def row(parts, b):
        a = np.zeros(nv)
        for sl, coef in parts:
            a[sl] += coef
        rows.append(a)
        rhs.append(b)

    for t in range(T):
        c[K(t)] = -np.where(mine, w[t], 0)
        c[N(t)] = -(v_new[t] - v_new[t + 1])
        c[A(t)] = -(v_ai[:, t] - v_ai[:, t + 1])
        c[C(t)] = -(up[:, t] - up[:, t + 1])
        for i in range(m):
            one = np.zeros(m)
            one[i] = 1
            row([(K(t), one), (N(t), one), (A(t), one)], cap[i])
            row([(K(t), one), (N(t), one), (A(t), one), (D(t), -one)], existing[i])
            row([(C(t), one), (A(t), -one)], 0.0)  # the cloud is a part of the AI MW
            if t:
                row([(A(t - 1), one), (A(t), -one)], 0.0)
                row([(C(t - 1), one), (C(t), -one)], 0.0)
                row([(K(t), one), (K(t - 1), -one)], 0.0)  # today's mining does not restart
                row([(N(t - 1), one), (N(t), -one)], 0.0)
        for sign in (1, -1):
            for k in range(len(f0)):
                row([(K(t), sign * s[k]), (N(t), sign * s[k]), (A(t), sign * s[k])], limit[k] - sign * f0[k])
        if pool is not None:
            row([(D(t), np.ones(m))], pool)
    A_ub, b_ub = np.array(rows), np.array(rhs)
    new_ok = [t == T - 1 or e.mining_lead_months <= 12 * t for t in range(T)]
    best = -np.inf
    for firsts in itertools.product(range(T + 1), repeat=m):  # T: never built
        bounds = []
        for t in range(T):
            z = np.array([1.0 if firsts[i] <= t else 0.0 for i in range(m)])
            if any(z[i] and not allowed[i, t] for i in range(m)):
                break
            has_block = block > 0
            lo = np.where(has_block, block * z, 0)
            hi = np.where(has_block, cap * z, cap) * allowed[:, t]
            bounds += ([(0, x) for x in np.where(mine, existing, 0)]
                       + [(0, None if (mi and new_ok[t]) else 0) for mi in mine]
                       + list(zip(lo, hi)) + [(0, None)] * m + [(0, h) for h in hi])
        else:
            res = linprog(c / 1e6, A_ub=A_ub, b_ub=b_ub, bounds=bounds, method="highs")
            if res.status == 0:
                best = max(best, -res.fun * 1e6)
    return best


site_rows = st.lists(st.fixed_dictionaries({
    "bus": st.integers(2, 6),
    "poi_mw": st.floats(20, 200),
    "mine": st.booleans(),
    "operating_share": st.floats(0, 1),
    "lease": st.floats(60, 260),
    "capex": st.floats(1e6, 5e6),
    "lead": st.sampled_from([0.0, 12.0, 18.0, 36.0]),
    "min_block_mw": st.one_of(st.just(0.0), st.floats(0, 120)),
}), min_size=1, max_size=3)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=site_rows, years=st.integers(2, 3), pool=st.one_of(st.none(), st.floats(0, 300)),
       cloud_revenue=st.sampled_from([9.7e6, 11e6, 13e6]))
def test_timeline_equals_brute_force(rows, years, pool, cloud_revenue):
    g = ex.mesh()
    table = [{"site_id": f"s{i}", "bus": r["bus"], "poi_mw": r["poi_mw"], "region": "R",
              "current_use": "bitcoin" if r["mine"] else "development",
              "operating_mw": r["poi_mw"] * r["operating_share"] if r["mine"] else 0.0,
              "ai_lease_usd_per_kw_month": r["lease"], "ai_capex_usd_per_mw": r["capex"],
              "ai_lead_months": r["lead"], "min_block_mw": r["min_block_mw"]} for i, r in enumerate(rows)]
    sites = ex.sites_at(g, table)
    params = planner.Params(**FIRM, supply_response="single", mip_gap=0.0, check_existing_load=False,
                            economics=planner.Economics(ai_cloud_revenue_usd_per_it_mw_year=cloud_revenue))
    tl = timeline(years, pools_mw={"R": np.full(years, pool)} if pool is not None else {})
    expected = brute_force(g, sites, params, years, pool)
    got = plan_timeline(g, sites, params, tl).summary.objective_usd
    per_mw = max([float(E.ai_npv_per_mw(ECON, lease_usd_per_kw_month=r["lease"], capex_usd_per_mw=0, lead_months=0))
                  for r in rows] + [float(E.ai_cloud_npv_per_mw(params.economics, capex_usd_per_mw=0, lead_months=0))])
    assert got == pytest.approx(expected, rel=1e-6, abs=max(10.0, 1e-5 * per_mw * years))


# --------------------------------------------------------------------------- shipped scenarios


def _invariants(prep, result):
    """Every year: served AI within the year's pool plus its converted mines' mining supply; MW
    built never decrease; pandapower's rundcpp on the allocated case of the last year (its grown
    base load, both states) has no monitored branch over its limit and the model's flows."""
    from planner.analysis.validate import dc_check

    tl = prep.timeline
    t = result.timeline
    a = result.allocation
    existing = a["existing_mw"].fillna(0)
    conv = a["converted"].fillna(False)
    for k, y in enumerate(tl.years):
        for r, rows in t[t["year"] == y].groupby("region"):
            here = (a["region"] == r) & conv
            mining_supply = float(existing[here].sum())
            pool = float(tl.pools_mw[r][k]) if r in tl.pools_mw else np.inf
            assert rows["served_ai_mw"].sum() <= pool + mining_supply + 1e-3, (y, r)
            assert rows["pool_drawn_mw"].sum() <= pool + 1e-3, (y, r)
    for col in ("ai_mw", "mining_mw"):
        built = np.stack([a[f"{col}_{y}"].to_numpy() for y in tl.years], axis=1)
        if col == "ai_mw":
            assert (np.diff(built, axis=1) >= -1e-6).all()
    br = result.branches.set_index("branch_id")
    for state in result.states:
        check = dc_check(prep.grid, result, state=state)
        assert check["max_flow_diff_mw"] < 1e-3, state
        prefix = "" if state == "peak" else "offpeak_"
        flow = check["flows_mw"].reindex(br.index)
        over = br["monitored"] & (flow.abs() > br[f"{prefix}limit_mw"] * (1 + 1e-6))
        # only branches over their rating before any new load, which loads below the DFAX cut-off
        # (constraints.overload_dfax) may still touch, as in the single-period solve
        base = br[f"{prefix}base_flow_mw"] if f"{prefix}base_flow_mw" in br else br["base_flow_mw"]
        assert (base[over].abs() >= br.loc[over, "rate_mw"] * (1 - 1e-9)).all(), state


def test_the_us_2026_2030_scenario_holds_its_invariants():
    from planner.config.scenario import load_scenario
    from planner.run.prepare import run

    prep, r = run(load_scenario("us-2026-2030", ["ac.check=false"]))
    tl = r.summary.timeline
    assert tl["years"] == YEARS
    # the seed's picture: 65 GW asked for from 2028, 40 % and 70 % of it before
    assert [tl["requested_ai_mw"][str(y)] for y in YEARS] == pytest.approx([26_000, 45_500, 65_000, 65_000, 65_000])
    # 15 GW near-term from 2026, 6 GW more from 2027
    pools = {y: sum(float(v[k]) for v in prep.timeline.pools_mw.values()) for k, y in enumerate(YEARS)}
    assert pools[2026] == pytest.approx(15_000, abs=1) and pools[2027] == pytest.approx(21_000, abs=1)
    # conversions serve from 2027, greenfield campuses from 2029
    first = r.allocation.dropna(subset=["first_year"])
    ai_first = first[first["ai_mw"] > 0]
    assert ai_first.loc[ai_first["current_use"].isin(["bitcoin", "conversion"]), "first_year"].min() >= 2027
    assert ai_first.loc[~ai_first["current_use"].isin(["bitcoin", "conversion"]), "first_year"].min() >= 2029
    gap = [tl["gap_mw"][str(y)] for y in YEARS]
    assert gap[2] < 65_000 and all(g >= 0 for g in gap)
    _invariants(prep, r)


def test_base_load_growth_loads_each_year_more(tmp_path):
    from planner.config.scenario import load_scenario
    from planner.run.prepare import run

    path = tmp_path / "grow.yaml"
    path.write_text("extends: texas\ntimeline:\n  years: [2026, 2027, 2028]\n  base_load_growth_percent: {2027: 2, 2028: 3}\n")
    prep, r = run(load_scenario(str(path), ["ac.check=false"]))
    assert prep.timeline.load_factor.tolist() == pytest.approx([1.0, 1.02, 1.02 * 1.03])
    assert r.states["peak"]["load_factor"] == pytest.approx(1.02 * 1.03)
    _invariants(prep, r)


# --------------------------------------------------------------------------- bad input


@pytest.mark.parametrize("sets, needles", [
    (["timeline.years=[2026, 2028]"], ["field 'timeline.years'", "consecutive"]),
    (["timeline.years=[2026]", "timeline.ai_demand_mw={ERCOT: {}}"], ["ai_demand_mw.ERCOT", "at least one year"]),
    (["timeline.years=[]"], ["timeline.years"]),
    (["timeline.years=[1990]"], ["timeline.years", "2000"]),
    (["timeline.years=[2026, 2027]", "timeline.budget_usd={2031: 1e9}"], ["budget_usd", "2031", "2026-2027"]),
    (["timeline.years=[2026]", "timeline.base_load_growth_percent=500"], ["base_load_growth_percent", "500"]),
    # a number or {year: number}: the message is about the form given, with no "more problems"
    (["timeline.years=[2026]", "timeline.base_load_growth_percent={2026: abc}"],
     ["field 'timeline.base_load_growth_percent.2026'", "'abc'"]),
    (["timeline.years=[2026]", "timeline.ai_demand_mw={Nowhere: {2026: 5}}"], ["ai_demand_mw.Nowhere", "ERCOT"]),
    (["timeline.years=[2026]", "demand.requests.0.ramp={2027: 99999}"], ["ramp", "99999"]),
    (["timeline.years=[2026, 2027, 2028]", "economics.horizon_years=2"], ["timeline.years", "horizon", "2026-2028"]),
])
def test_bad_timelines_are_one_line_errors(monkeypatch, capsys, tmp_path, sets, needles):
    from planner.cli import main

    args = ["planner", "solve", "texas", "--out", str(tmp_path / "run"), "--set", "ac.check=false"]
    for s in sets:
        args += ["--set", s]
    monkeypatch.setattr("sys.argv", args)
    with pytest.raises(SystemExit) as exc:
        main()
    err = capsys.readouterr().err
    assert exc.value.code == 2, err
    assert err.startswith("error: ") and err.count("\n") == 1 and "Traceback" not in err, err
    for needle in needles:
        assert needle in err, (needle, err)
    assert "more problem" not in err and "function-after" not in err
    assert not (tmp_path / "run").exists()


def test_public_names_are_exported_once():
    """``__all__`` lists each public name once, and exactly the names a fresh ``import planner``
    offers (its lazy exports; ``dir(planner)`` before any submodule is loaded)."""
    import subprocess
    import sys

    import planner

    assert len(set(planner.__all__)) == len(planner.__all__)
    code = "import planner; print(*(n for n in dir(planner) if not n.startswith('_')))"
    fresh = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert sorted(set(fresh) - {"TYPE_CHECKING", "import_module"}) == sorted(planner.__all__)
    assert all(getattr(planner, name) is not None for name in planner.__all__)
    assert planner.plan_timeline is plan_timeline and planner.Timeline is Timeline


# --------------------------------------------------------------------------- what a user sees


def test_the_cli_writes_the_timeline_files_a_person_reads(tmp_path):
    """``planner solve`` of a timeline, as a subprocess: the gap per year on the console,
    timeline.csv, allocation.csv's first_year and MW per year, timeline.png (opened: its size and
    that it is not blank) and map.html (one layer per year and a slider, rendered in Chromium)."""
    import json
    import subprocess
    import sys

    import pandas as pd
    from PIL import Image

    path = tmp_path / "tl.yaml"
    path.write_text("extends: texas\nname: texas-tl\ntimeline:\n  years: [2026, 2027, 2028]\n")
    out = tmp_path / "run"
    run = subprocess.run([sys.executable, "-m", "planner", "solve", str(path), "--out", str(out), "--set",
                          "ac.check=false"], capture_output=True, text=True, timeout=600, check=False)
    assert run.returncode == 0, run.stderr
    summary = json.loads((out / "summary.json").read_text())
    gap = summary["timeline"]["gap_mw"]
    lines = run.stdout.splitlines()
    head = next(i for i, line in enumerate(lines) if line.startswith("year by year"))
    for k, y in enumerate((2026, 2027, 2028)):
        cells = lines[head + 2 + k].split()
        assert cells[0] == str(y) and cells[4] == f"{gap[str(y)]:,.0f}"
    table = pd.read_csv(out / "timeline.csv")
    assert table["year"].tolist() == [2026, 2027, 2028] and (table["region"] == "ERCOT").all()
    assert table["unmet_ai_mw"].round(3).tolist() == [gap[str(y)] for y in (2026, 2027, 2028)]
    alloc = pd.read_csv(out / "allocation.csv")
    assert {"first_year", "ai_mw_2026", "ai_mw_2027", "ai_mw_2028", "mining_mw_2028"} <= set(alloc.columns)
    assert alloc["ai_mw_2028"].to_numpy() == pytest.approx(alloc["ai_mw"].to_numpy(), abs=1e-3)
    with_ai = alloc[alloc["ai_mw"] > 0]
    assert with_ai["first_year"].notna().all()
    png = Image.open(out / "timeline.png").convert("L")
    assert png.size[0] >= 1000 and png.size[1] >= 500
    assert np.asarray(png).std() > 20  # drawn, not blank
    page = (out / "map.html").read_text(encoding="utf-8")
    for y in (2026, 2027, 2028):
        assert f'"label":"{y}"' in page and f"new load in {y}" in page
    from test_maps import CHROMIUM, _browser_errors

    if CHROMIUM is None:
        pytest.skip("headless Chromium is not installed (Debian package 'chromium')")
    errors, dom = _browser_errors(out / "map.html", tmp_path)
    assert not errors
    assert "slider" in dom


def test_n1_timeline_one_year_equals_the_single_period_n1_solve(tmp_path):
    """N-1 rows run through the timeline as through the single period: a one-year N-1 timeline is
    the N-1 solve, and a two-year one leaves no pair over its emergency rating in its end state."""
    from planner.config.scenario import load_scenario
    from planner.run.prepare import run

    sets = ["ac.check=false", "constraints.security=n-1", "solver.mip_gap=0"]
    path = tmp_path / "one.yaml"
    path.write_text("extends: texas\ntimeline:\n  years: [2026]\n")
    _, single = run(load_scenario("texas", sets))
    _, one = run(load_scenario(str(path), sets))
    assert one.summary.objective_usd == pytest.approx(single.summary.objective_usd, rel=1e-9)
    # the AI at each bus (riot-rockdale and bitdeer-rockdale share a bus and their prices: the MW
    # between the two is a tie either solve may break either way)
    def by_bus(r):
        return r.allocation.groupby("bus")["ai_mw"].sum().to_numpy()

    assert by_bus(one) == pytest.approx(by_bus(single), abs=1e-3)
    path.write_text("extends: texas\ntimeline:\n  years: [2026, 2027]\n  base_load_growth_percent: 2\n")
    _, two = run(load_scenario(str(path), sets))
    assert two.summary.n_1["pairs_over_emergency_rating"] == 0
    assert two.summary.n_1["contingencies_checked"] == single.summary.n_1["contingencies_checked"]


def test_removal_lets_ai_serve_early_and_go_when_demand_falls():
    """Demand 100, 100, then 50 MW at one site (lead 0, capex $1M/MW). What is built stays: 50 MW all
    three years. With removal: 100 MW for two years, 50 of them removed at the start of the third,
    worth 50 MW of two years' income less their capex."""
    g = ex.triangle(rate_mw=10_000)
    sites = ex.sites_at(g, [{"site_id": "c", "bus": 3, "poi_mw": 500, "operating_mw": 0, "current_use": "conversion",
                             "region": "R", "min_block_mw": 0, "ai_lead_months": 0, "ai_capex_usd_per_mw": 1e6,
                             "allow_mining": False}])
    params = planner.Params(**FIRM, supply_response="single", check_existing_load=False, mip_gap=0)
    demand = {"R": np.array([100, 100, 50.0])}
    stays = plan_timeline(g, sites, params, timeline(3, ai_demand_mw=demand, requested_mw=demand))
    goes = plan_timeline(g, sites, params, timeline(3, ai_demand_mw=demand, requested_mw=demand, allow_removal=True))
    assert stays.timeline["served_ai_mw"].tolist() == pytest.approx([50, 50, 50])
    assert goes.timeline["served_ai_mw"].tolist() == pytest.approx([100, 100, 50])
    assert goes.timeline["removed_ai_mw"].tolist() == pytest.approx([0, 0, 50])
    income = (ECON.ai_lease_usd_per_kw_month - ECON.ai_opex_usd_per_kw_month) * 1000 / ECON.ai_pue * 12
    diff = goes.summary.objective_usd - stays.summary.objective_usd
    assert diff == pytest.approx(50 * (income * annuity(ECON.discount_rate, 0, 24) - 1e6), abs=2.0)
    assert goes.allocation["value_usd"].sum() == pytest.approx(goes.summary.objective_usd, abs=2.0)


def _solve(path, out):
    """``planner solve PATH --out OUT`` (AC check off) as a subprocess."""
    import subprocess
    import sys

    return subprocess.run([sys.executable, "-m", "planner", "solve", str(path), "--out", str(out),
                           "--set", "ac.check=false"], capture_output=True, text=True, timeout=600, check=False)


def test_an_infeasible_timeline_exits_1_with_the_conflict(tmp_path):
    path = tmp_path / "must.yaml"
    path.write_text("extends: texas\ntimeline:\n  years: [2026, 2027]\ndemand:\n  requests:\n"
                    "    - {name: Big, lat: 32.78, lon: -96.80, mw: 9000, must_serve: true}\n")
    run = _solve(path, tmp_path / "run")
    assert run.returncode == 1, run.stderr
    assert "the timeline is infeasible" in run.stderr and "supply pool has 6,500 MW" in run.stderr
    assert not (tmp_path / "run").exists()


def test_todays_mining_stops_but_does_not_restart():
    """A mine that may not convert, six years: a year with a hardware refresh (month 48) is worth
    less than nothing, but standing still for it and restarting after would skip a refresh the
    fleet needs. It mines every year, worth the single-period NPV of a running mine."""
    g = ex.triangle(rate_mw=10_000)
    sites = ex.sites_at(g, [{"site_id": "m", "bus": 2, "poi_mw": 100, "operating_mw": 100, "current_use": "bitcoin",
                             "allow_ai": False}])
    params = planner.Params(**FIRM, supply_response="single", check_existing_load=False, mip_gap=0)
    from planner.optimization.periods import values

    assert min(values(pd.DataFrame({"ai_lead_months": [0.0], "ai_income_usd_per_mw_year": [0.0],
                                    "capex_ai_usd_per_mw": [0.0], "ai_value_override_usd_per_mw": [np.nan]}),
                      ECON, 6).w_keep) < 0
    six = Timeline(years=list(range(2026, 2032)), load_factor=np.ones(6))
    r = plan_timeline(g, sites, params, six)
    assert r.timeline["mining_mw"].tolist() == pytest.approx([100] * 6)
    assert r.summary.objective_usd == pytest.approx(100 * float(E.mining_npv_per_mw(ECON, existing=True)), abs=2.0)


def test_a_request_beyond_the_grid_counts_in_its_region_as_in_the_single_period(tmp_path):
    """A request that maps to no bus but names its region is requested there, in the timeline as in
    the single period (and the end state's AI demand cap is the same)."""
    from planner.config.scenario import load_scenario
    from planner.run.prepare import prepare

    path = tmp_path / "far.yaml"
    path.write_text("extends: texas\ntimeline:\n  years: [2026]\ndemand:\n  requests:\n"
                    "    - {name: Dallas, lat: 32.78, lon: -96.80, mw: 2000}\n"
                    "    - {name: Faraway, lat: 39.5, lon: -117.0, mw: 700, region: ERCOT}\n")
    prep = prepare(load_scenario(str(path)))
    assert prep.timeline.requested_mw["ERCOT"].tolist() == [2700]
    assert prep.timeline.ai_demand_mw["ERCOT"][-1] == prep.params.ai_demand_mw["ERCOT"] == 2700
    assert prep.regions["ERCOT"]["requested_ai_mw"] == 2700


def test_an_infeasible_timeline_blames_the_last_years_must_serve_mw(tmp_path):
    path = tmp_path / "ramp.yaml"
    path.write_text("extends: texas\ntimeline:\n  years: [2026, 2027]\ndemand:\n  requests:\n"
                    "    - {name: Big, lat: 32.78, lon: -96.80, mw: 9000, must_serve: true, ramp: {2027: 3000}}\n")
    run = _solve(path, tmp_path / "run")
    assert run.returncode == 1, run.stderr
    # the 3,000 MW asked for in 2027 fit the 6,500 MW pool: the network is the conflict, not the pool
    assert "infeasible" in run.stderr and "overload" in run.stderr and "9,000" not in run.stderr


def test_errors_of_a_field_of_two_forms_count_the_problems_once():
    from planner.config.scenario import load_scenario
    from planner.core.errors import InputError

    years = "timeline.years=[2026, 2027, 2028]"
    with pytest.raises(InputError) as two_years:
        load_scenario("texas", [years, "timeline.base_load_growth_percent={2027: 500, 2028: 600}"])
    assert "(and 1 more problem)" in str(two_years.value)
    with pytest.raises(InputError) as two_fields:
        load_scenario("texas", [years, "timeline.base_load_growth_percent={2027: 500}", "solver.mip_gap=5"])
    assert "(and 1 more problem)" in str(two_fields.value)
    with pytest.raises(InputError) as bracket:  # a key of the user's with brackets is a key
        load_scenario("texas", ['supply.regions={"ERCOT [tx]": {available_mw: -1}}'])
    assert "supply.regions.ERCOT [tx].available_mw" in str(bracket.value)


def test_the_gantt_chart_shows_the_largest_sites_in_energization_order():
    import types

    from planner.viz.plot import timeline_chart

    n = 30
    rng = np.random.default_rng(3)
    mw = rng.permutation(np.arange(1, n + 1) * 10.0)
    first = rng.choice([2026, 2027, 2028], n)
    alloc = pd.DataFrame({"site_id": [f"s{k}" for k in range(n)], "current_use": "development", "existing_mw": 0.0,
                          "first_year": first, "ai_mw_2028": mw, "mining_mw_2028": 0.0})
    table = pd.DataFrame({"year": [2026, 2027, 2028], "region": "R", "served_ai_mw": [1.0, 2, 3],
                          "ai_at_converted_mines_mw": 0.0, "unmet_ai_mw": [3.0, 2, 1]})
    result = types.SimpleNamespace(timeline=table, allocation=alloc, summary=types.SimpleNamespace(scenario="x"))
    fig = timeline_chart(result, most_sites=25)
    shown = [t.get_text().split()[0] for t in fig.axes[1].texts]
    expect = alloc.nlargest(25, "ai_mw_2028")
    assert set(shown) == set(expect["site_id"])
    assert list(alloc.set_index("site_id").loc[shown, "first_year"]) == sorted(expect["first_year"])
    assert "5 smaller left out" in fig.axes[1].get_title(loc="left")


# --------------------------------------------------------------------------- redispatch


def _hours(start: float, end: float) -> float:
    """NPV of $1 an hour from month ``start`` to ``end`` (by hand: a monthly sum)."""
    return 8760 * annuity(ECON.discount_rate, start, end)


@pytest.mark.parametrize("value", [3e5, 1e6])
def test_a_redispatch_timeline_by_hand(value):
    """Two years on the two-bus grid (cheap generator 1 across a 150 MW line, dear generator 2 at
    the load bus); the base load grows 20 % in the second year (100 -> 120 MW, generator 1 takes
    it). An AI site at bus 2 (lead 0, worth ``value`` per MW decided at once, that NPV discounted
    a year when decided a year later) pays $40/MWh: each year its MW up to the line's room (50,
    then 30 MW) come from generator 1 at $20, the rest from generator 2 at $50. Every pattern
    x0 <= x1 at the breakpoints is written out; the plan is the best of them, and its NPV the
    sites' value plus each year's payments less each year's generation cost above the dispatch
    without new load, each year over its own hours (the second to the horizon)."""
    g = ex.two_bus()
    sites = ex.sites_at(g, [{"site_id": "ai", "bus": 2, "poi_mw": 300, "current_use": "development",
                             "ai_value_usd_per_mw": value, "min_block_mw": 0, "ai_lead_months": 0}])
    params = planner.Params(**FIRM, supply_response="redispatch", redispatch_cost_segments=1,
                            check_existing_load=False, mip_gap=0)
    tl = Timeline(years=YEARS[:2], load_factor=np.array([1.0, 1.2]))
    r = plan_timeline(g, sites, params, tl)
    w = [_hours(0, 12), _hours(12, H)]
    price = ECON.power_price_usd_per_mwh
    later = float(E.discount(ECON.discount_rate, 12))

    def npv(x0, x1):
        total = value * x0 + value * later * (x1 - x0)
        for k, (x, room) in enumerate(((x0, 50.0), (x1, 30.0))):
            total += w[k] * (price * x - 20.0 * min(x, room) - 50.0 * max(x - room, 0.0))
        return total

    points = [0.0, 30.0, 50.0, 300.0]
    best = max((npv(a, b), a, b) for a in points for b in points if a <= b)
    assert r.summary.objective_usd == pytest.approx(best[0], rel=1e-7)
    a = r.allocation.set_index("site_id")
    assert [a.at["ai", "ai_mw_2026"], a.at["ai", "ai_mw_2027"]] == pytest.approx(list(best[1:]), abs=1e-6)
    red = r.summary.redispatch
    # each year's dispatch without new load: generator 1 serves the base load
    assert red["reference_generation_cost_usd_per_h"] == pytest.approx({"2026 peak": 2000.0, "peak": 2400.0})
    x1 = best[2]
    assert red["generation_cost_usd_per_h"]["peak"] == pytest.approx(
        20.0 * (120 + min(x1, 30.0)) + 50.0 * max(x1 - 30.0, 0.0))
    assert red["energy_payment_usd_per_mw"]["2027"]["ai"] == pytest.approx(price * w[1], rel=1e-6)
    # the end state's dispatch is the last year's; earlier years have columns of their own
    t = r.dispatch_table.set_index("gen")
    assert t["reference_mw"].to_dict() == pytest.approx({1: 120.0, 2: 0.0})
    assert t["2026_peak_reference_mw"].to_dict() == pytest.approx({1: 100.0, 2: 0.0})
    # the supply margin: each year's payments less its cost change, each over that year's hours
    x0 = best[1]
    change = w[0] * (20.0 * (100 + min(x0, 50.0)) + 50.0 * max(x0 - 50.0, 0.0) - 2000.0) + w[1] * (
        20.0 * (120 + min(x1, 30.0)) + 50.0 * max(x1 - 30.0, 0.0) - 2400.0)
    assert red["generation_cost_change_npv_usd"] == pytest.approx(change, rel=1e-7, abs=1.0)
    assert red["energy_payments_npv_usd"] == pytest.approx(price * (w[0] * x0 + w[1] * x1), rel=1e-7)


@pytest.mark.parametrize("cloud_revenue", [9.7e6, 20e6])
def test_a_one_year_redispatch_timeline_is_the_single_period_solve(cloud_revenue):
    """On the mesh (quadratic costs) with off-peak hours and a mine: one year of redispatch = today's
    redispatch plan (at $20M of cloud revenue both sites run a cloud)."""
    import pandapower as pp

    g = ex.mesh()
    g.net.poly_cost.drop(g.net.poly_cost.index, inplace=True)
    pp.create_poly_cost(g.net, 1, "gen", cp1_eur_per_mw=25.0, cp2_eur_per_mw2=0.02)
    pp.create_poly_cost(g.net, 2, "gen", cp1_eur_per_mw=45.0, cp2_eur_per_mw2=0.01)
    sites = ex.sites_at(g, [
        {"site_id": "m", "bus": 3, "poi_mw": 80, "operating_mw": 40, "current_use": "bitcoin", "min_block_mw": 30},
        {"site_id": "d", "bus": 5, "poi_mw": 120, "current_use": "development", "min_block_mw": 0,
         "ai_lead_months": 0}])
    params = planner.Params(supply_response="redispatch", check_existing_load=False, mip_gap=0,
                            economics=planner.Economics(ai_cloud_revenue_usd_per_it_mw_year=cloud_revenue))
    single = planner.plan(g, sites, params)
    one = plan_timeline(g, sites, params, timeline(1))
    assert one.summary.objective_usd == pytest.approx(single.summary.objective_usd, rel=1e-9, abs=1.0)
    assert (single.allocation["ai_cloud_mw"].sum() > 0) == (cloud_revenue > 1e7)
    for col in ("ai_mw", "ai_lease_mw", "ai_cloud_mw", "mining_mw", "value_usd"):
        assert one.allocation[col].to_numpy() == pytest.approx(single.allocation[col].to_numpy(), abs=1e-4)
    for key in ("generation_cost_usd_per_h", "reference_generation_cost_usd_per_h", "supply_margin_npv_usd"):
        assert one.summary.redispatch[key] == pytest.approx(single.summary.redispatch[key], abs=1.0)
    assert one.dispatch_table["p_mw"].to_numpy() == pytest.approx(single.dispatch_table["p_mw"].to_numpy(), abs=1e-4)


def test_new_mining_may_go_for_ai_when_removal_is_allowed():
    """One 100 MW site, no mine today, AI only from the fourth year (lead 36 months); a hashprice of
    $80/PH/day. New mining (lead 6 months) may run from the second year. What is built stays: the
    site either mines from the second year on or serves AI from the fourth. With removal: it mines
    in the second and third years and the MW go at the start of the fourth for AI, worth those two
    years of mining (margins less the build capex and the hardware, by hand) on top of the AI."""
    e = planner.Economics(hashprice_usd_per_ph_day=80.0)
    g = ex.triangle(rate_mw=10_000)
    sites = ex.sites_at(g, [{"site_id": "s", "bus": 2, "poi_mw": 100, "operating_mw": 0, "current_use": "conversion",
                             "region": "R", "min_block_mw": 0, "ai_lead_months": 36, "ai_capex_usd_per_mw": 1e6}])
    params = planner.Params(**FIRM, supply_response="single", check_existing_load=False, mip_gap=0, economics=e)
    stays = plan_timeline(g, sites, params, timeline(4))
    goes = plan_timeline(g, sites, params, timeline(4, allow_removal=True))
    assert goes.timeline["mining_mw"].tolist() == pytest.approx([0, 100, 100, 0])
    assert goes.timeline["served_ai_mw"].tolist() == pytest.approx([0, 0, 0, 100])
    assert goes.timeline["removed_mining_mw"].tolist() == pytest.approx([0, 0, 0, 100])
    assert stays.timeline["removed_mining_mw"].tolist() == pytest.approx([0, 0, 0, 0])
    # by hand: built at month 6 (decided today), hardware bought at 12, run to 36
    margin = float(E.mining_value_per_mw_year(e))
    hardware = float(E.mining_hardware_usd_per_mw(e))
    r = e.discount_rate
    two_years = (margin * annuity(r, 12, 36) - hardware * (1 + r) ** -1
                 - e.mining_build_capex_usd_per_mw * (1 + r) ** -0.5)
    assert two_years > 0
    income = (e.ai_lease_usd_per_kw_month - e.ai_opex_usd_per_kw_month) * 1000 / e.ai_pue * 12
    ai = income * annuity(r, 36, H) - 1e6
    mining = float(E.new_mining_npv(e, 12.0))
    assert ai > mining
    assert stays.summary.objective_usd == pytest.approx(100 * ai, rel=1e-6)
    assert goes.summary.objective_usd == pytest.approx(100 * (ai + two_years), rel=1e-6)
    assert goes.allocation["value_usd"].sum() == pytest.approx(goes.summary.objective_usd, abs=2.0)


def test_new_mining_value_from_today_is_its_npv_less_build_capex():
    e = ECON
    for energized in (6.0, 12.0, 30.0):
        decided = energized - e.mining_lead_months
        assert float(E.new_mining_value_from(e, energized, 0.0)) - e.mining_build_capex_usd_per_mw * float(
            E.discount(e.discount_rate, decided)) == pytest.approx(float(E.new_mining_npv(e, energized)), rel=1e-12)
    # removing at the horizon gives up nothing; later starts give up less
    assert float(E.new_mining_value_from(e, 12.0, H)) == pytest.approx(0.0, abs=1e-9)
    assert float(E.new_mining_value_from(e, 12.0, 24.0)) > float(E.new_mining_value_from(e, 12.0, 60.0))


def test_a_texas_redispatch_timeline_holds_its_invariants_and_pandapower_dc_opf_agrees(tmp_path):
    """Texas, three years, base load +2 %/year, redispatch: the timeline invariants (pools, MW
    that stay, rundcpp on the last year's allocated case within limits and equal to the model's
    flows), each year's dispatch without new load costing more as the base load grows, and
    pandapower's own DC OPF (rundcopp, the last year's new loads fixed) finding the model's
    generation cost in both states within 0.1 %."""
    import warnings

    import pandapower as pp

    from planner.analysis.validate import allocated_net
    from planner.config.scenario import load_scenario
    from planner.run.prepare import run

    path = tmp_path / "tl.yaml"
    path.write_text("extends: texas\ntimeline:\n  years: [2026, 2027, 2028]\n  base_load_growth_percent: 2\n")
    prep, r = run(load_scenario(str(path), ["ac.check=false", "grid.supply_response=redispatch"]))
    assert r.status == "optimal"
    _invariants(prep, r)
    red = r.summary.redispatch
    ref = red["reference_generation_cost_usd_per_h"]
    assert ref["2026 peak"] < ref["2027 peak"] < ref["peak"]
    assert ref["2026 offpeak"] < ref["2027 offpeak"] < ref["offpeak"]
    # the cost change: each state's $/h change over its year's hours (monthly sums), shared by its two states
    weight = {"2026": _hours(0, 12) / 2, "2027": _hours(12, 24) / 2, "": _hours(24, H) / 2}
    cost, ref = red["generation_cost_usd_per_h"], red["reference_generation_cost_usd_per_h"]
    change = sum(weight[s.split()[0] if " " in s else ""] * (cost[s] - ref[s]) for s in cost)
    assert len(cost) == 6
    assert red["generation_cost_change_npv_usd"] == pytest.approx(change, rel=1e-6)
    # payments: each year's MW x the power price x its hours, mining at its mean share of the two states
    p = planner.Params()
    a = r.allocation
    price = ECON.power_price_usd_per_mwh
    paid = sum(price * 2 * weight[k] * (a[f"ai_mw_{y}"].sum() * (p.ai_firm_share + 1.0) / 2
                                        + a[f"mining_mw_{y}"].sum() * (p.mining_firm_share + 1.0) / 2)
               for k, y in (("2026", 2026), ("2027", 2027), ("", 2028)))
    assert red["energy_payments_npv_usd"] == pytest.approx(paid, rel=1e-6)
    d = r.dispatch_table
    for state in ("peak", "offpeak"):
        pre = "" if state == "peak" else "offpeak_"
        net = allocated_net(prep.grid, r, state)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            pp.rundcopp(net)
        assert net.OPF_converged, state
        # pandapower prices a piecewise-linear curve from 0 MW at its first slope: add min_mw x slope_1
        model_cost = float((d[f"{pre}cost_usd_per_h"] - d["cost_at_min_usd_per_h"]
                            + d["min_mw"] * d["slope_1_usd_per_mwh"]).sum())
        assert net.res_cost == pytest.approx(model_cost, rel=1e-3), state
        assert abs(float(net.res_ext_grid["p_mw"].sum())) < 1e-3


def test_a_pool_of_the_params_holds_in_every_year_the_timeline_does_not_list():
    """planner.plan_timeline with Params(supply_pools_mw=...) and a Timeline without pools: the
    pool caps every year (it is not dropped), as a timeline pool of the same MW each year does."""
    g = ex.triangle(rate_mw=10_000)
    sites = ex.sites_at(g, [{"site_id": "c", "bus": 2, "poi_mw": 500, "operating_mw": 0, "current_use": "conversion",
                             "region": "R", "min_block_mw": 0, "ai_lead_months": 0, "allow_mining": False}])
    base = {**FIRM, "supply_response": "single", "check_existing_load": False, "mip_gap": 0}
    by_params = plan_timeline(g, sites, planner.Params(**base, supply_pools_mw={"R": 120.0}), timeline(2))
    by_timeline = plan_timeline(g, sites, planner.Params(**base), timeline(2, pools_mw={"R": np.full(2, 120.0)}))
    assert by_params.timeline["served_ai_mw"].tolist() == pytest.approx([120, 120])
    assert by_params.timeline["pool_mw"].tolist() == pytest.approx([120, 120])
    assert by_params.summary.objective_usd == pytest.approx(by_timeline.summary.objective_usd, rel=1e-12)
    capped = plan_timeline(g, sites, planner.Params(**base, ai_demand_mw={"R": 80.0}), timeline(2))
    assert capped.timeline["served_ai_mw"].tolist() == pytest.approx([80, 80])


def test_each_new_mining_vintage_is_removed_at_most_once_and_pays_its_own_capex():
    """A 100 MW site whose pool grows 0, 50, 100, 100, 100 MW: new mining of 50 MW in the second year
    and 50 more in the third (two vintages), both removed at the start of the fifth for AI (lead 48).
    The first vintage gives up less when removed (it is nearer its hardware refresh); each can only
    go once, so the NPV is each vintage's own years of mining (economics' formulas) plus the AI.
    A first-year budget of the AI's capex and 30 MW of new-mining capex (build and first hardware)
    caps the first vintage at 30 MW."""
    e = planner.Economics(hashprice_usd_per_ph_day=80.0)
    g = ex.triangle(rate_mw=10_000)
    sites = ex.sites_at(g, [{"site_id": "s", "bus": 2, "poi_mw": 100, "operating_mw": 0, "current_use": "conversion",
                             "region": "R", "min_block_mw": 0, "ai_lead_months": 48, "ai_capex_usd_per_mw": 1e6}])
    params = planner.Params(**FIRM, supply_response="single", check_existing_load=False, mip_gap=0, economics=e)
    pools = {"R": np.array([0.0, 50.0, 100.0, 100.0, 100.0])}
    r = plan_timeline(g, sites, params, timeline(5, pools_mw=pools, allow_removal=True))
    assert r.timeline["mining_mw"].tolist() == pytest.approx([0, 50, 100, 100, 0])
    assert r.timeline["served_ai_mw"].tolist() == pytest.approx([0, 0, 0, 0, 100])
    u = [float(E.new_mining_value_from(e, 12.0 * b, 48.0)) for b in (1, 2)]
    assert u[0] < u[1]  # without the once-only row the first vintage would be removed twice
    v = [float(E.new_mining_npv(e, 12.0 * b)) for b in (1, 2)]
    income = (e.ai_lease_usd_per_kw_month - e.ai_opex_usd_per_kw_month) * 1000 / e.ai_pue * 12
    ai = income * annuity(e.discount_rate, 48, H) - 1e6
    assert r.summary.objective_usd == pytest.approx(50 * (v[0] - u[0]) + 50 * (v[1] - u[1]) + 100 * ai, rel=1e-6)
    # the first year decides the first vintage and the AI (energized at 48 months, decided today)
    budget = np.array([30 * (e.mining_build_capex_usd_per_mw + float(E.mining_hardware_usd_per_mw(e))) + 100 * 1e6, np.inf, np.inf, np.inf, np.inf])
    capped = plan_timeline(g, sites, params, timeline(5, pools_mw=pools, allow_removal=True, budget_usd=budget))
    assert capped.timeline["mining_mw"].tolist()[1] == pytest.approx(30, abs=1e-6)
