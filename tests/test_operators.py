"""Per operator: the AI MW the network and the supply pools stop (counterfactual solves, checked on
a chain solved by hand), the operator table as a group-by of allocation.csv, the operators with no
site on the modelled grid, and the files and console of `planner solve`."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from matplotlib.image import imread

import planner
from planner.analysis import operators as ops
from planner.data import examples as ex

FIRM = {"mining_firm_share": 1.0, "offpeak_load_factor": 1.0, "supply_response": "single", "mip_gap": 0.0,
        "allow_ai_cloud": False, "min_block_mw": 1.0}


def chain_case():
    """Chain 1-2-3-4-5 (lines rated 1000, 500, 400, 200 MW), the generator at bus 1. Alpha: 300 MW at
    bus 5 worth $5M/MW (line 4-5 lets 200 through); Beta: 300 MW at bus 3 worth $4M/MW; a 400 MW
    supply pool for both; Delta: a site with no MW figure.

    Plan: Alpha 200 (line 4-5), Beta 200 (the pool). Without the network: Alpha 300, Beta 100
    (the pool goes to the dearer MW first). Without network or pool: 300 and 300. So the network
    stops 100 MW at Alpha and nothing at Beta (it would get less), the pool stops 0 at Alpha and
    200 at Beta."""
    g = ex.chain()
    rows = [{"site_id": "A", "operator": "Alpha", "bus": 5, "poi_mw": 300, "current_use": "development",
             "ai_value_usd_per_mw": 5e6, "region": "R"},
            {"site_id": "B", "operator": "Beta", "bus": 3, "poi_mw": 300, "current_use": "development",
             "ai_value_usd_per_mw": 4e6, "region": "R"},
            {"site_id": "D", "operator": "Delta", "bus": 2, "poi_mw": np.nan, "current_use": "development",
             "region": "R"}]
    sites = ex.sites_at(g, rows)
    params = planner.Params(**FIRM, supply_pools_mw={"R": 400.0})
    return g, sites, params


def test_network_and_pool_stops_match_the_hand_case():
    g, sites, params = chain_case()
    r = planner.plan(g, sites, params)
    a = r.allocation.set_index("site_id")
    assert a.loc["A", "ai_mw"] == pytest.approx(200, abs=1e-6) and a.loc["B", "ai_mw"] == pytest.approx(200, abs=1e-6)
    cf, totals = ops.counterfactual(r.solved, r.allocation["ai_mw"].to_numpy(float))
    assert totals["ai_mw"] == pytest.approx(400) and totals["ai_mw_without_network"] == pytest.approx(400)
    assert totals["ai_mw_without_network_or_pools"] == pytest.approx(600)
    assert totals["objective_usd_without_network"] == pytest.approx(300 * 5e6 + 100 * 4e6)
    ops.add_counterfactual(r.allocation, cf)
    a = r.allocation.set_index("site_id")
    assert a["ai_mw_without_network"].to_dict() == pytest.approx({"A": 300, "B": 100, "D": 0}, abs=1e-6)
    assert a["ai_mw_without_network_or_pools"].to_dict() == pytest.approx({"A": 300, "B": 300, "D": 0}, abs=1e-6)
    assert a["ai_blocked_by_network_mw"].to_dict() == pytest.approx({"A": 100, "B": 0, "D": 0}, abs=1e-6)
    assert a["ai_blocked_by_pool_mw"].to_dict() == pytest.approx({"A": 0, "B": 200, "D": 0}, abs=1e-6)

    outside = pd.DataFrame({"operator": ["Gamma", "Alpha", None], "poi_mw": [50.0, 20.0, 10.0]})
    t = ops.table(r.allocation, outside).set_index("operator")
    assert list(t.index) == ["Alpha", "Beta", "Delta", "Gamma", ops.NO_OPERATOR]
    assert t.loc["Alpha", "value_usd"] == pytest.approx(200 * 5e6) and t.loc["Alpha", "usd_per_w"] == pytest.approx(5.0)
    assert t.loc["Alpha", "ai_lease_mw"] == pytest.approx(200) and t.loc["Alpha", "sites_outside_scenario"] == 1
    assert t.loc["Alpha", "poi_mw_outside_scenario"] == 20 and t.loc["Alpha", "status"] == "modelled"
    assert t.loc["Beta", "ai_blocked_by_pool_mw"] == pytest.approx(200)
    # Delta's one site is not modelled (no MW figure); Gamma has sites only outside the scenario
    assert t.loc["Delta", "status"] == ops.NOT_ON_GRID and t.loc["Delta", "sites"] == 1
    assert t.loc["Gamma", "status"] == ops.NOT_ON_GRID and t.loc["Gamma", "sites"] == 0
    block = ops.summary_block(t.reset_index())
    assert set(block["by_operator"]) == {"Alpha", "Beta"}
    assert block["not_on_modelled_grid"] == ["Delta", "Gamma", ops.NO_OPERATOR]


def test_a_tie_between_sites_is_not_charged_to_the_network():
    """Three 100 MW sites of one price at three buses of a triangle that carries them all, one
    100 MW pool: the plan serves 100 MW at one of them. Without the network the same MW are
    optimal (nothing is charged to the network, whichever site a solver would pick); without the
    pool all 300 MW: the pool stops 200 MW, at the two sites the plan left out."""
    g = ex.triangle(rate_mw=10_000.0)
    rows = [{"site_id": s, "operator": s.upper(), "bus": b, "poi_mw": 100, "current_use": "development",
             "ai_value_usd_per_mw": 3e6, "region": "R"} for s, b in (("a", 1), ("b", 2), ("c", 3))]
    sites = ex.sites_at(g, rows)
    params = planner.Params(**FIRM, supply_pools_mw={"R": 100.0})
    r = planner.plan(g, sites, params)
    ai = r.allocation["ai_mw"].to_numpy(float)
    assert ai.sum() == pytest.approx(100, abs=1e-6)
    cf, totals = ops.counterfactual(r.solved, ai)
    ops.add_counterfactual(r.allocation, cf)
    a = r.allocation
    assert a["ai_mw_without_network"].to_numpy() == pytest.approx(ai, abs=1e-6)
    assert a["ai_blocked_by_network_mw"].sum() == pytest.approx(0, abs=1e-6)
    assert a["ai_blocked_by_pool_mw"].to_numpy() == pytest.approx(100 - ai, abs=1e-6)
    assert totals["ai_mw_without_network_or_pools"] - totals["ai_mw_without_network"] == pytest.approx(200)


def test_no_counterfactual_when_it_fails_or_is_not_asked_for(monkeypatch):
    """A counterfactual solve that fails leaves the run and its table, with the reason; so does a
    run that does not ask for the solves."""
    from types import SimpleNamespace

    g, sites, params = chain_case()
    r = planner.plan(g, sites, params)
    t = ops.attach(SimpleNamespace(sites=sites, params=params, outside_sites=None), r, counterfactual_solves=False)
    assert "ai_blocked_by_network_mw" not in t and "ai_blocked_by_network_mw" not in r.allocation
    assert r.summary.operators["counterfactual"] == {"run": False, "reason": "not asked for"}

    def fail(*args, **kwargs):
        raise planner.SolverError("no solution (status time_limit)")

    monkeypatch.setattr(ops, "closest", fail)
    r = planner.plan(g, sites, params)
    t = ops.attach(SimpleNamespace(sites=sites, params=params, outside_sites=None), r)
    assert t.set_index("operator").loc["Alpha", "ai_mw"] == pytest.approx(200)
    assert r.summary.operators["counterfactual"] == {"run": False,
                                                        "reason": "failed: no solution (status time_limit)"}


def test_console_table_prints_operator_names_as_written(capsys):
    from planner.cli import print_operators

    g, sites, params = chain_case()
    sites["operator"] = ["Acme [/old]", "[red]Beta", None]
    r = planner.plan(g, sites, params)
    print_operators(ops.table(r.allocation))
    out = capsys.readouterr().out
    assert "Acme [/old]" in out and "[red]Beta" in out and "stopped" not in out


def test_solve_writes_operators_that_sum_the_allocation(texas_run):
    out, res = texas_run
    alloc = pd.read_csv(out / "allocation.csv")
    table = pd.read_csv(out / "operators.csv").set_index("operator")
    alloc["operator"] = alloc["operator"].fillna(ops.NO_OPERATOR)
    sums = alloc.groupby("operator")[["mining_mw", "ai_lease_mw", "ai_cloud_mw", "ai_mw", "value_usd", "capex_usd",
                                      "poi_mw", "ai_blocked_by_network_mw", "ai_blocked_by_pool_mw"]].sum()
    row_count = alloc.groupby("operator").size()
    for name, row in sums.iterrows():
        for col, v in row.items():
            # both files are rounded by unit (MW to 0.001, $ to 1): a sum of n rounded values is within
            # n half-units of the rounded sum
            unit = 1.0 if col.endswith("_usd") else 1e-3
            assert table.loc[name, col] == pytest.approx(v, rel=1e-9, abs=unit * (0.5 * row_count[name] + 0.5)), \
                (name, col)
    assert (table.loc[sums.index, "sites"] == alloc.groupby("operator").size()).all()
    summary = json.loads((out / "summary.json").read_text())
    # the counterfactual's totals are those of its columns, and they add up to at least the change
    cf = summary["operators"]["counterfactual"]
    tol = 5e-4 * (len(alloc) + 1)  # a sum of MW each rounded to 0.001 against the rounded total
    assert cf["run"] and cf["ai_mw"] == pytest.approx(alloc["ai_mw"].sum(), abs=tol)
    assert cf["ai_mw_without_network"] == pytest.approx(alloc["ai_mw_without_network"].sum(), abs=tol)
    assert alloc["ai_blocked_by_network_mw"].sum() >= cf["ai_mw_without_network"] - cf["ai_mw"] - 3 * tol
    # no more AI than the requests without the network, and the pool of 6.5 GW binds then
    assert cf["ai_mw"] < cf["ai_mw_without_network"] < cf["ai_mw_without_network_or_pools"] <= 9310 + 1e-3
    # the README's figures are these
    readme = " ".join((Path(__file__).resolve().parent.parent / "README.md").read_text().split())
    net, pool = (cf["ai_mw_without_network"] - cf["ai_mw"], cf["ai_mw_without_network_or_pools"]
                 - cf["ai_mw_without_network"])
    assert (f"the network stops {net:,.0f} MW ({cf['ai_mw_without_network']:,.0f} without it against "
            f"{cf['ai_mw']:,.0f}) and the pool {pool:,.0f} more ({cf['ai_mw_without_network_or_pools']:,.0f}: "
            "every request)") in readme
    lease = summary["paths"]["ai_lease"]
    assert f"ai_lease {lease['mw']:,.0f} ({lease['sites']})" in res.stdout  # the console's paths line
    assert lease["mw"] == pytest.approx(alloc["ai_lease_mw"].sum(), abs=tol)
    assert lease["sites"] == int((alloc["ai_lease_mw"] > 1e-6).sum())
    s = summary["operators"]
    modelled = table[table["status"] == "modelled"]
    assert set(s["by_operator"]) == set(modelled.index)
    assert s["by_operator"]["Riot"]["ai_mw"] == pytest.approx(table.loc["Riot", "ai_mw"], abs=1e-3)
    # the shipped sites of operators that have none in Texas are listed, by the console too
    for name in ("Hut 8", "HIVE", "Applied Digital"):
        assert name in s["not_on_modelled_grid"] and table.loc[name, "status"] == ops.NOT_ON_GRID
        assert table.loc[name, "sites_outside_scenario"] > 0
    assert "per operator" in res.stdout and "no site on the modelled grid: " in res.stdout
    assert "Riot" in res.stdout
    # the pools and the network between them stop AI in Texas (the regional table's unmet MW)
    assert table["ai_blocked_by_network_mw"].sum() > 0 and table["ai_blocked_by_pool_mw"].sum() > 0
    png = imread(out / "operators.png")
    assert png.shape[0] > 400 and png.shape[1] > 900 and png[..., :3].std() > 0.05  # drawn, not blank


def test_a_timeline_gets_the_stopped_mw_too(tmp_path):
    from planner.config.scenario import load_scenario
    from planner.run.prepare import run

    path = tmp_path / "tl.yaml"
    path.write_text("extends: texas\ntimeline:\n  years: [2026, 2027]\n")
    prep, result = run(load_scenario(str(path), ["ac.check=false"]))
    t = ops.attach(prep, result).set_index("operator")
    block = result.summary.operators["counterfactual"]
    assert block["run"] and block["ai_mw_without_network"] >= block["ai_mw"] - 1e-6
    assert block["objective_usd_without_network"] >= result.summary.objective_usd - 1
    assert t["ai_blocked_by_network_mw"].sum() >= 0
    name = result.allocation["operator"].fillna("").astype(str)
    alloc = result.allocation.assign(operator=name.where(name != "", ops.NO_OPERATOR))
    assert t["ai_mw"].to_dict() == pytest.approx(alloc.groupby("operator")["ai_mw"].sum().reindex(t.index)
                                                 .fillna(0).to_dict())


@pytest.mark.parametrize("years", [None, [2026, 2027, 2028]], ids=["single", "timeline"])
@pytest.mark.parametrize("supply", ["headroom", "single", "regional", "redispatch"])
def test_the_counterfactual_is_the_plan_on_a_grid_without_limits(supply, years):
    """The counterfactual without network rows, under any supply response and in a timeline, is the
    plan on the same grid with its line rated out of reach (solved on its own): the same AI MW and the
    same NPV (to $1 in $ hundreds of millions). On the two-bus grid the 150 MW line stops AI at bus 2
    (under redispatch the dear generator at bus 2 could serve it, but not at the site's value)."""
    import numpy as np

    from planner.data import examples as ex

    def solve(rate):
        g = ex.two_bus(rate)
        sites = ex.sites_at(g, [{"site_id": "ai", "bus": 2, "poi_mw": 300, "current_use": "development",
                                 "ai_value_usd_per_mw": 5e5, "min_block_mw": 0}])
        params = planner.Params(supply_response=supply, redispatch_cost_segments=1, check_existing_load=False)
        if years is None:
            return planner.plan(g, sites, params)
        return planner.plan_timeline(g, sites, params, planner.Timeline(years=years, load_factor=np.ones(len(years))))

    tight, loose = solve(150.0), solve(1.5e6)
    cf, totals = ops.counterfactual(tight.solved, tight.allocation["ai_mw"].to_numpy(float))
    assert loose.allocation["ai_mw"].sum() > tight.allocation["ai_mw"].sum() + 1  # the line binds
    assert totals["ai_mw_without_network"] == pytest.approx(loose.allocation["ai_mw"].sum(), abs=1e-6)
    assert totals["objective_usd_without_network"] == pytest.approx(loose.summary.objective_usd, abs=1.0)
    assert cf["ai_mw_without_network"].to_numpy() == pytest.approx(loose.allocation["ai_mw"].to_numpy(), abs=1e-6)


