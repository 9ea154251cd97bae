"""The engine on real data: Texas sites, checked with pandapower's own DC power flow."""

import copy
import json
import subprocess
import sys
import warnings

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest

import planner
from planner.analysis.validate import dc_check, run_dc
from planner.network import sensitivity as sens
from planner.network.hosting import hosting_capacity

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    import pandapower as pp


@pytest.mark.parametrize("slack", ["headroom", "pmax", "single", "regional", "redispatch"])
def test_allocation_is_secure_in_pandapower_dc(texas, texas_sites, slack):
    r = planner.plan(texas, texas_sites, planner.Params(supply_response=slack))
    assert r.status == "optimal"
    assert r.summary.served_ai_mw > 1000  # the network binds, but not everything is stuck
    assert r.summary.binding_branches >= 1
    check = dc_check(texas, r)
    # pandapower's rundcpp on the allocated case gives the model's flows ...
    assert check["max_flow_diff_mw"] < 1e-6
    # ... and no monitored branch is above its rating (relative tolerance 1e-6)
    assert check["branches_over_limit"] == 0
    assert check["max_loading_percent"] <= 100 * (1 + 1e-6)
    if slack != "single":  # generation was re-dispatched exactly as assumed: the slack carries nothing
        assert check["slack_mw"] < 1e-6


def test_lazy_rows_match_a_model_with_every_screened_row(texas, texas_sites):
    lazy = planner.plan(texas, texas_sites, planner.Params(near_binding=1.0))
    assert lazy.summary.network["lazy_rows_added"] < lazy.summary.network["screened_branches"]
    eager = planner.plan(texas, texas_sites, planner.Params(near_binding=1e-9))  # every screened row
    assert lazy.summary.objective_usd == pytest.approx(eager.summary.objective_usd, rel=1e-6)


def test_operating_load_is_a_decision_and_reported(texas, texas_sites):
    r = planner.plan(texas, texas_sites, planner.Params())
    ex = r.summary.existing_load
    today = texas_sites.loc[texas_sites["status"] == "mapped"]
    mines = today["current_use"].isin(["bitcoin", "conversion"])
    assert ex["today_mw"] == pytest.approx(np.minimum(today.loc[mines, "operating_mw"].fillna(0),
                                                      today.loc[mines, "poi_mw"].fillna(np.inf)).sum())
    assert ex["kept_mw"] + ex["converted_to_ai_mw"] + ex["shed_mw"] == pytest.approx(ex["today_mw"], abs=1e-3)
    assert 0 <= ex["network_can_carry_mw"] <= ex["today_mw"]
    # with mining very profitable and nothing else possible (no AI, no room for new mining: poi =
    # today's load), the mines keep exactly what the network can carry
    only_mines = texas_sites.copy()
    only_mines.loc[~only_mines["current_use"].isin(["bitcoin", "conversion"]), "status"] = "excluded"
    only_mines["poi_mw"] = np.minimum(only_mines["operating_mw"], only_mines["poi_mw"])
    only_mines["allow_mining"] = only_mines["operating_mw"] > 0
    rich = planner.plan(texas, only_mines, planner.Params(
        allow_conversion=False, economics=planner.Economics(hashprice_usd_per_ph_day=80)))
    kept = rich.summary.existing_load["kept_mw"]
    assert kept == pytest.approx(ex["network_can_carry_mw"], abs=1e-3)


def test_marginal_values_follow_the_duals(texas, texas_sites):
    r = planner.plan(texas, texas_sites, planner.Params())
    a = r.allocation[r.allocation["use"] != "not_modelled"]
    part = a[((a["ai_mw"] + a["mining_mw"]) < a["cap_mw"] - 1e-3)]
    assert (part["marginal_value_usd_per_mw"].abs() < 1e-3).all()  # POI not full: more POI is worth nothing
    assert (a["marginal_value_usd_per_mw"] >= -1e-6).all()
    br = r.branches
    assert (br.loc[~br["binding"], "shadow_price_usd_per_mw"] == 0).all()
    assert (br.loc[br["binding"], "shadow_price_usd_per_mw"] >= 0).all()
    # one more MW of rating on the most valuable branch gains about its shadow price
    top = br.loc[br["shadow_price_usd_per_mw"].idxmax()]
    assert top["shadow_price_usd_per_mw"] > 0
    grid2 = copy.copy(texas)
    grid2.branches = texas.branches.copy()
    grid2.branches.loc[top["branch_id"], "rate_mw"] += 1.0
    r2 = planner.plan(grid2, texas_sites, planner.Params())
    gain = r2.summary.objective_usd - r.summary.objective_usd
    assert gain == pytest.approx(top["shadow_price_usd_per_mw"], rel=0.05)


def _bisect(net, bus, gens, weights, limit, lo=0.0, hi=5000.0, tol=0.01):
    load = pp.create_load(net, bus, p_mw=0.0)
    base_p = net.gen.loc[gens, "p_mw"].to_numpy().copy()
    mon = np.isfinite(limit)

    def ok(x):
        net.load.at[load, "p_mw"] = x
        net.gen.loc[gens, "p_mw"] = base_p + weights * x
        f = run_dc(net).to_numpy()
        return bool((np.abs(f[mon]) <= limit[mon] * (1 + 1e-9)).all())

    while hi - lo > tol:
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if ok(mid) else (lo, mid)
    net.load.drop(load, inplace=True)
    net.gen.loc[gens, "p_mw"] = base_p
    return lo


def test_hosting_capacity_equals_bisection_with_rundcpp(texas):
    m = sens.dc_model(texas, "headroom")
    buses = np.random.default_rng(3).choice(m.bus_ids, 6, replace=False)
    frame = hosting_capacity(texas, m, buses=buses)
    net = copy.deepcopy(texas.net)
    d = sens.dispatch(m, np.zeros(m.n_bus))
    net.gen.loc[d.index, "p_mw"] = d.to_numpy()
    g = m.gens[m.gens["gen"] >= 0]
    flows0 = run_dc(net)
    order = list(zip(texas.branches["element"], texas.branches["element_index"]))
    rate = pd.Series(texas.branches["rate_mw"].to_numpy(), index=pd.MultiIndex.from_tuples(order))
    rate = rate.reindex(flows0.index).to_numpy()
    limit = np.fmax(rate, np.where(np.isfinite(rate), np.abs(flows0.to_numpy()), np.nan))
    for bus, expected in zip(buses, frame["hosting_mw"]):
        found = _bisect(net, int(bus), g["gen"].to_numpy(), g["weight"].to_numpy(), limit)
        assert found == pytest.approx(expected, abs=0.1)


def test_hosting_cli_writes_buses_csv_and_map(tmp_path):
    res = subprocess.run([sys.executable, "-m", "planner", "--quiet", "hosting", "--grid", "texas",
                          "--out", str(tmp_path / "out")], check=False, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr
    tmp_path = tmp_path / "out"
    table = pd.read_csv(tmp_path / "buses.csv")
    assert len(table) == 2000
    assert list(table.columns[:6]) == ["bus", "lat", "lon", "kv", "hosting_mw", "limiting_branch"]
    med = table.groupby("kv")["hosting_mw"].median()
    # reference medians of an independent PTDF study of this grid (N-0, one bus at a time, new load
    # picked up in proportion to headroom): ~216 MW at 115 kV, ~380 MW at 161 kV
    assert med[115.0] == pytest.approx(216, rel=0.05) and med[161.0] == pytest.approx(380, rel=0.05)
    assert (tmp_path / "hosting.png").stat().st_size > 10_000
    points = gpd.read_file(tmp_path / "buses.geojson")   # the same rows as a GIS layer
    assert len(points) == 2000 and set(points.geom_type) == {"Point"}
    np.testing.assert_allclose(points["hosting_mw"], table["hosting_mw"])
    np.testing.assert_allclose(points.geometry.x, table["lon"])


def test_plan_summary_has_the_contract_keys(texas, texas_sites):
    s = planner.plan(texas, texas_sites, planner.Params(), scenario="test").summary
    d = s.to_dict()  # what summary.json holds
    for key in ("status", "objective_usd", "mip_gap", "requested_ai_mw", "served_ai_mw", "unmet_ai_mw",
                "served_mining_mw", "converted_sites", "max_branch_loading_percent", "timings_s", "scenario",
                "grid", "versions"):
        assert key in d
    json.dumps(d)  # serializable as summary.json
    for stage in ("sensitivities", "build", "solve", "duals", "total"):
        assert stage in s.timings_s


def test_time_limited_run_returns_best_solution_with_gap(texas):
    """A run stopped early keeps the best allocation found, reports its gap, and never
    overloads the network. Deterministic: the stop is a HiGHS solution limit (one improving
    solution per MIP, one thread), not the clock, so a busy machine gives the same answer."""
    import planner.optimization.solve as solve_mod

    sys.path.insert(0, str(__import__("pathlib").Path(__file__).parents[1] / "benchmarks"))
    from bench_engine import synthetic_sites

    sites = synthetic_sites(texas, 150, 5)
    make = solve_mod.highs_options

    def first_solution_only(params):
        return {**make(params), "mip_max_improving_sols": 1}

    results = []
    for _ in range(2):
        solve_mod.highs_options = first_solution_only
        try:
            results.append(planner.plan(texas, sites, planner.Params(threads=1)))
        finally:
            solve_mod.highs_options = make
    r = results[0]
    assert r.status == "solution_limit"
    assert 0 < r.summary.mip_gap < 1
    assert r.summary.served_ai_mw > 0
    assert results[1].summary.objective_usd == r.summary.objective_usd  # deterministic
    check = dc_check(texas, r)  # even an early stop never overloads the network
    assert check["branches_over_limit"] == 0
    optimal = planner.plan(texas, sites, planner.Params(threads=1))
    assert optimal.status == "optimal"
    assert optimal.summary.objective_usd >= r.summary.objective_usd * (1 - 1e-9)
    # the gap bounds the distance to the optimum (both measured against HiGHS's dual bound)
    assert optimal.summary.objective_usd <= r.summary.objective_usd / (1 - r.summary.mip_gap) * (1 + 1e-6)


def test_a_run_whose_milp_used_up_the_time_limit_still_prices_its_allocation(texas, texas_sites, monkeypatch):
    """The LP that prices the allocation (binaries fixed) and the existing-load check run without the
    solver's time limit: a MILP that used up the limit keeps its allocation. Simulated: once the MILP
    has returned, any LP handed a deadline stops without a solution, as a 2,000-site Texas run under
    load did at its pricing step (``SolverError: the LP with fixed binaries did not solve``)."""
    import time

    import planner.optimization.solve as solve_mod

    reference = planner.plan(texas, texas_sites, planner.Params())
    run, collect = solve_mod.run_once, solve_mod.allocation_mw
    milp_done = []

    def after_milp(*args, **kwargs):
        milp_done.append(True)
        return collect(*args, **kwargs)

    def limited(built, params, mip, deadline, start=None):
        if milp_done and deadline is not None and not mip:
            return "no_solution", None, 0.0
        return run(built, params, mip, deadline, start=start)

    monkeypatch.setattr(solve_mod, "allocation_mw", after_milp)
    monkeypatch.setattr(solve_mod, "run_once", limited)
    monkeypatch.setattr(solve_mod, "solver_deadline", lambda params: time.perf_counter() + 3600.0)
    r = planner.plan(texas, texas_sites, planner.Params())
    assert milp_done and r.status == reference.status
    assert r.summary.objective_usd == pytest.approx(reference.summary.objective_usd, rel=1e-9)
    assert r.summary.existing_load["network_can_carry_mw"] == reference.summary.existing_load["network_can_carry_mw"]
    assert r.summary.existing_load["network_can_carry_mw"] is not None
