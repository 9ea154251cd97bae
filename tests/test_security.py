"""N-1 security, flexible load and AC validation, checked against pandapower and by hand."""

import collections
import copy
import json
import warnings

import networkx as nx
import numpy as np
import pandas as pd
import pytest

import planner
from planner.analysis import acpf
from planner.analysis.validate import allocated_net, run_dc
from planner.data import examples as ex
from planner.data.grid import grid_from_tables, load_grid
from planner.network import sensitivity as sens
from planner.network.security import Contingencies
from planner.network.supply import security_hosting

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    import pandapower as pp


@pytest.fixture(scope="module")
def texas_sites(texas, shipped_sites):
    return planner.map_sites(shipped_sites, texas)


@pytest.fixture(scope="module")
def n1_plan(texas, texas_sites):
    # the strict rule: a pair over without new load may not grow at all (no DFAX cut-off)
    return planner.plan(texas, texas_sites, planner.Params(security="n-1", overload_dfax=0.0))


def _flows_by_id(grid, net) -> pd.Series:
    flow = run_dc(net)
    ids = grid.branches.set_index(["element", "element_index"])
    return pd.Series(flow.reindex(ids.index).to_numpy(), index=grid.branches.index)


def _outage(grid, net, branch_id):
    row = grid.branches.loc[branch_id]
    net[row["element"]].at[row["element_index"], "in_service"] = False


def test_lodf_equals_pandapower_outages(texas):
    """Post-outage flows f + LODF[:, k] f[k] against rundcpp with the branch out (single slack)."""
    model = sens.dc_model(texas, "single")
    mon = np.flatnonzero(model.monitored)
    cont = Contingencies(model, mon, 1.2)
    # radial: the outages that island buses, listed, not outaged. Referee: networkx's bridges of the
    # in-service graph (a bridge carried by one branch only; parallel branches are not radial)
    f, t = model.from_pos, model.to_pos
    ends = [tuple(sorted((int(f[k]), int(t[k])))) for k in range(len(f))]
    graph = nx.Graph([ends[k] for k in np.flatnonzero(model.in_service)])
    count = collections.Counter(ends[k] for k in np.flatnonzero(model.in_service))
    bridges = {tuple(sorted(e)) for e in nx.bridges(graph)}
    assert set(np.asarray(cont.radial).tolist()) == {int(k) for k in mon if ends[k] in bridges and count[ends[k]] == 1}
    assert len(cont.radial) == 450
    rng = np.random.default_rng(3)
    for k in rng.choice(cont.outages, 4, replace=False):
        col, island = sens.lodf(model, np.array([mon[k]]), mon)
        assert not island[0]
        predicted = model.flow_mw[mon] + col[:, 0] * model.flow_mw[mon[k]]
        predicted[k] = 0.0
        net = copy.deepcopy(texas.net)
        _outage(texas, net, int(model.branch_ids[mon[k]]))
        pp_flow = _flows_by_id(texas, net).reindex(model.branch_ids[mon]).to_numpy()
        assert np.max(np.abs(pp_flow - predicted)) < 1e-6


def test_n1_allocation_by_brute_force(texas, n1_plan):
    """For a sample of outages (the binding ones, the worst ones and random ones), remove the
    branch in pandapower and run rundcpp on the allocated case and on the same state
    without new load: no monitored branch is above its emergency rating unless it already
    was without new load, and then it is no worse."""
    r = n1_plan
    s = r.summary
    assert s.security == "n-1" and s.status == "optimal"
    assert s.contingencies_checked == 3206 - 450
    assert s.n_1["pairs_over_emergency_rating"] == 0
    assert s.served_ai_mw > 100
    br = r.branches.set_index("branch_id")
    rate = br["rate_mw"]
    worst = br["n1_worst_outage_branch_id"].dropna().astype(int)
    top = br["n1_loading_percent"].sort_values(ascending=False).index[:6]
    model = sens.dc_model(texas)
    cont = Contingencies(model, np.flatnonzero(model.monitored), 1.2)
    radial = set(model.branch_ids[cont.radial].tolist())
    rng = np.random.default_rng(7)
    sample = set(worst.loc[top].tolist()) | set(rng.choice(
        [b for b in br.index[br["monitored"]] if b not in radial], 8, replace=False).tolist())
    assert not sample & radial
    checked = 0
    for state in r.states:
        with_load = allocated_net(texas, r, state)
        without = allocated_net(texas, r, state, new_load=False)
        for k in sample:
            a, b = copy.deepcopy(with_load), copy.deepcopy(without)
            _outage(texas, a, k)
            _outage(texas, b, k)
            fa, fb = _flows_by_id(texas, a), _flows_by_id(texas, b)
            mon = br["monitored"].to_numpy() & (br.index != k)
            fa, fb, lim = fa.reindex(br.index)[mon], fb.reindex(br.index)[mon], 1.2 * rate[mon]
            over = np.abs(fa) > lim * (1 + 1e-6) + 1e-6
            was_over = np.abs(fb) > lim * (1 + 1e-9)
            assert not (over & ~was_over).any(), f"outage {k} ({state}): the new load causes an overload"
            assert np.all(np.abs(fa[over]) <= np.abs(fb[over]) + 1e-6), f"outage {k} ({state}): worse"
            checked += 1
    assert checked == len(sample) * len(r.states)
    # n1_loading_percent is the true worst pair of each branch: pandapower with that outage taken
    # out of the allocated case of that state gives the same loading (1e-6 relative)
    for b in br.index[br["monitored"]][np.argsort(-br.loc[br["monitored"], "n1_loading_percent"].to_numpy())][:4]:
        net = allocated_net(texas, r, br.loc[b, "n1_worst_state"])
        _outage(texas, net, int(br.loc[b, "n1_worst_outage_branch_id"]))
        loading = abs(_flows_by_id(texas, net).loc[b]) / rate.loc[b] * 100
        assert loading == pytest.approx(br.loc[b, "n1_loading_percent"], rel=1e-6)


def test_n1_rows_are_lazy_and_few(n1_plan):
    s = n1_plan.summary
    pairs = s.n_1["branch_outage_pairs_checked"]
    assert pairs == 2 * (3206 * 2756 - 2756)  # two states
    n1_rows = sum(v for k, v in s.network["lazy_rows_by_kind"].items() if k.startswith("n-1"))
    assert 0 < n1_rows < pairs / 1000


def test_preexisting_pairs_are_listed_and_not_worsened(n1_plan):
    pre = n1_plan.summary.n_1["preexisting_overloads"]["peak"]
    assert pre["count"] == 5 and pre["worsened"] == 0  # 7 with the single slack (brute force in the note)
    assert pre["rows"] == 5   # no DFAX cut-off: every listed pair is a row a new load could worsen
    w = pre["worst"]
    assert w["loading_percent_without_new_load"] > 120 and w["loading_percent"] <= w[
        "loading_percent_without_new_load"] + 1e-6


def test_n1_hosting_by_brute_force(texas):
    """N-1 hosting of two buses: at the hosting MW the limiting branch sits at its emergency
    rating after the limiting outage (rundcpp), and 1 % more overloads it."""
    model = sens.dc_model(texas)
    frame = security_hosting(texas, model, buses=[3001001, 3006107], security="n-1").set_index("bus")
    for bus, row in frame.iterrows():
        assert row["hosting_mw"] <= row["n0_hosting_mw"] + 1e-9
        if row["limited_by"] != "branch after outage":
            continue
        branch, outage = int(row["limiting_branch"]), int(row["limiting_outage"])
        rate = texas.branches.loc[branch, "rate_mw"]
        for x, inside in ((row["hosting_mw"], True), (row["hosting_mw"] * 1.01, False)):
            net = copy.deepcopy(texas.net)
            pos = np.zeros(model.n_bus)
            pos[model.positions([bus])] = x
            d = sens.dispatch(model, pos)
            net.gen.loc[d.index, "p_mw"] = d.to_numpy()
            pp.create_load(net, bus, p_mw=x)
            _outage(texas, net, outage)
            flow = abs(_flows_by_id(texas, net)[branch])
            assert (flow <= 1.2 * rate * (1 + 1e-6)) == inside
            if inside:
                assert flow == pytest.approx(1.2 * rate, rel=1e-6)


# --------------------------------------------------------------------------- flexible load


def _pair_grid():
    """Bus 1 (slack, generator) - line of 100 MW - bus 2 with 80 MW of base load."""
    return grid_from_tables(ex.tables(2, [(1, 2, 0.1, 100.0)], [(1, 80.0, 5000.0)], loads={2: 80.0}),
                            name="pair", source="test")


def test_flexible_mining_hosts_more_than_firm_ai_by_hand():
    """Peak: base flow 80, limit 100. Off-peak (x 0.5): base flow 40.
    Firm AI:           80 + x <= 100 -> 20 MW (off-peak 40 + x <= 100 is looser).
    Mining (10 % firm): 80 + 0.1 x <= 100 -> 200; off-peak 40 + x <= 100 -> 60 MW.
    Difference 40 MW = (1 - 0.5) x 80, the base load off-peak takes off the line."""
    g = _pair_grid()
    params = planner.Params(supply_response="single", mining_firm_share=0.1, offpeak_load_factor=0.5, mip_gap=0, min_block_mw=0)
    ai = planner.plan(g, ex.sites_at(g, [{"site_id": "A", "bus": 2, "poi_mw": 500, "current_use": "development",
                                          "ai_value_usd_per_mw": 1e6}]), params)
    mine = planner.plan(g, ex.sites_at(g, [{"site_id": "M", "bus": 2, "poi_mw": 500, "operating_mw": 500,
                                            "current_use": "bitcoin", "allow_ai": False}]), params)
    ai_mw = ai.summary.served_ai_mw
    mining_mw = mine.summary.served_mining_mw
    assert ai_mw == pytest.approx(20.0, abs=1e-6)
    assert mining_mw == pytest.approx(60.0, abs=1e-6)
    assert mining_mw - ai_mw == pytest.approx((1 - 0.5) * 80.0, abs=1e-6)
    # which state binds: peak for AI, off-peak for mining
    assert ai.branches.loc[0, "loading_percent"] == pytest.approx(100.0)
    assert mine.branches.loc[0, "offpeak_loading_percent"] == pytest.approx(100.0)
    assert mine.branches.loc[0, "loading_percent"] == pytest.approx(86.0)  # 80 + 0.1 x 60
    # the same numbers from the hosting map
    for use, mw in (("ai", 20.0), ("mining", 60.0)):
        h = security_hosting(g, sens.dc_model(g, "single"), buses=[2], use=use, offpeak_load_factor=0.5)
        assert h["hosting_mw"].iat[0] == pytest.approx(mw)


def test_flexible_mining_on_texas(texas):
    """One Texas bus, as firm AI and as flexible mining: the solve gives each the hosting the
    hosting map computes (the hand calculation of the two-state bound), and mining gets more."""
    model = sens.dc_model(texas)
    bus = 3001071  # Cipher Odessa's bus (115 kV)
    h = {use: security_hosting(texas, model, buses=[bus], use=use)["hosting_mw"].iat[0] for use in ("ai", "mining")}
    params = planner.Params(mip_gap=0)
    ai = planner.plan(texas, ex.sites_at(texas, [{"site_id": "A", "bus": bus, "poi_mw": 3000,
                                                  "current_use": "development", "ai_value_usd_per_mw": 1e6}]),
                      params, model=model)
    mine = planner.plan(texas, ex.sites_at(texas, [{"site_id": "M", "bus": bus, "poi_mw": 3000,
                                                    "operating_mw": 3000, "current_use": "bitcoin",
                                                    "allow_ai": False}]), params, model=model)
    assert ai.summary.served_ai_mw == pytest.approx(h["ai"], rel=1e-6)
    assert mine.summary.served_mining_mw == pytest.approx(h["mining"], rel=1e-6)
    assert h["mining"] > h["ai"] + 10


def test_curtailment_reduces_the_value_of_mining():
    g = _pair_grid()
    sites = ex.sites_at(g, [{"site_id": "M", "bus": 2, "poi_mw": 50, "operating_mw": 50, "current_use": "bitcoin",
                             "allow_ai": False}])
    values = []
    for hours in (0.0, 500.0):
        e = planner.Economics(mining_curtailed_hours_per_year=hours)
        values.append(planner.plan(g, sites, planner.Params(economics=e, supply_response="single")).summary.objective_usd)
    e0 = planner.Economics(mining_curtailed_hours_per_year=0.0)
    margin = 50 * 40 / 24 - 40  # $ per MWh of hash revenue less power, as in test_economics
    from planner.economics import annuity_factor

    expected = 50 * 500 * margin * float(annuity_factor(e0.discount_rate, 0.0, e0.horizon_years * 12))
    assert values[0] - values[1] == pytest.approx(expected, rel=1e-6)


# --------------------------------------------------------------------------- AC


def _ac_grid():
    """Bus 1 (slack) - a 100 MVA line with resistance - bus 2 with 50 MW + 40 Mvar of base load.
    DC lets 50 MW more load in (flow 100 MW); in AC the line then carries
    sqrt(100^2 + 40^2) MVA plus losses: over its rating."""
    t = ex.tables(2, [(1, 2, 0.05, 100.0)], [(1, 50.0, 5000.0)], loads={2: 50.0})
    t.branch["r"] = 0.01
    t.bus["Qd"] = [0.0, 40.0]
    return grid_from_tables(t, name="ac-pair", source="test")


def test_ac_check_catches_and_ac_tighten_removes_an_overload_dc_cannot_see():
    g = _ac_grid()
    sites = ex.sites_at(g, [{"site_id": "A", "bus": 2, "poi_mw": 500, "current_use": "development",
                             "ai_value_usd_per_mw": 1e6}])
    params = planner.Params(supply_response="single", mip_gap=0)
    r = planner.plan(g, sites, params)
    assert r.summary.served_ai_mw == pytest.approx(50.0)
    assert r.branches.loc[0, "loading_percent"] == pytest.approx(100.0)  # DC: exactly at the rating
    check = acpf.ac_check(g, r, power_factor=1.0)
    assert check["converged"] and check["caused_by_new_load"] == 1
    assert check["over_rating"][0]["loading_percent"] > 105  # sqrt(100^2 + 40^2) = 107.7 before losses
    assert check["over_rating"][0]["loading_percent_without_new_load"] < 100

    final, last, rounds, _ = acpf.solve_ac_tightened(lambda p: planner.plan(g, sites, p), params, g, rounds=5,
                                                  power_factor=1.0)
    assert 2 <= len(rounds) <= 6 and rounds[0]["ac_caused_by_new_load"] == 1
    assert last["converged"] and last["caused_by_new_load"] == 0
    assert last["max_loading_percent"] <= 100.1
    assert 0 < final.summary.served_ai_mw < 50.0


def _zone_balance(net, buses) -> float:
    """Generation + DC line ends - load - shunts - branch losses (MW) of the buses ``buses``:
    zero for a solved AC power flow of that zone."""
    inside = set(buses.tolist())

    def at(element, column):
        table = net[element]
        return float(net[f"res_{element}"].loc[table.index[table["bus"].isin(inside)], column].sum())

    dc = net.dcline[net.dcline["in_service"].astype(bool)]
    into = dc["to_bus"].isin(inside) & ~dc["from_bus"].isin(inside)
    out_of = dc["from_bus"].isin(inside) & ~dc["to_bus"].isin(inside)
    lines = net.line.index[net.line["from_bus"].isin(inside)]
    trafos = net.trafo.index[net.trafo["hv_bus"].isin(inside)]
    return (at("gen", "p_mw") + at("ext_grid", "p_mw") + float(dc.loc[into, "p_mw"].sum())
            - float(dc.loc[out_of, "p_mw"].sum()) - at("load", "p_mw") - at("shunt", "p_mw")
            - float(net.res_line.loc[lines, "pl_mw"].sum()) - float(net.res_trafo.loc[trafos, "pl_mw"].sum()))


def test_ac_power_flow_converges_on_eastern_with_generators_sharing_the_slack():
    """Eastern: the single slack (a 13.8 kV terminal behind one step-up transformer) diverges;
    generators sharing the imbalance by Pmax from a flat start converge. Checked with the
    zone's power balance (1e-3 MW) and the distributed-slack rule: each generator's change
    from its set point is proportional to its Pmax."""
    east = load_grid("eastern").net
    single = copy.deepcopy(east)
    assert acpf.run_zone(single, "single")[0] is False
    net = copy.deepcopy(east)
    ok, why, used = acpf.runpp_by_zone(net)
    assert ok, why
    assert used == ["distributed"]
    assert _zone_balance(net, net.bus.index.to_numpy()) == pytest.approx(0.0, abs=1e-3)
    vm = net.res_bus["vm_pu"]
    assert 0.9 < vm.min() < vm.max() < 1.1
    live = net.gen[net.gen["in_service"].astype(bool) & (net.gen["max_p_mw"] > 0)]
    change = net.res_gen.loc[live.index, "p_mw"] - live["p_mw"]
    np.testing.assert_allclose(change / live["max_p_mw"], (change / live["max_p_mw"]).iloc[0], rtol=1e-6, atol=1e-9)


def test_ac_power_flow_of_usa_solves_each_interconnect_with_its_dc_line_ends():
    usa = load_grid("usa")
    net = copy.deepcopy(usa.net)
    zones = acpf.zones(net)
    assert sorted(len(z) for z in zones) == [2000, 10024, 70047]
    ok, why, used = acpf.runpp_by_zone(net)
    assert ok, why
    by_size = dict(zip([len(z) for z in zones], used))
    assert by_size == {70047: "distributed", 10024: "single", 2000: "single"}
    assert net.res_bus["vm_pu"].notna().all() and net.res_line["p_from_mw"].notna().all()
    # 9 DC lines join the zones (e.g. 800 MW into Texas): each zone balances with their ends
    for z in zones:
        assert _zone_balance(net, z) == pytest.approx(0.0, abs=1e-3)


def test_solve_n1_ac_tighten_on_texas_cli(tmp_path):
    import subprocess
    import sys

    out = tmp_path / "run"
    res = subprocess.run([sys.executable, "-m", "planner", "solve", "texas", "--n-1", "--ac-tighten", "--out",
                          str(out), "-q"], check=False, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr
    s = json.loads((out / "summary.json").read_text())
    assert s["security"] == "n-1" and s["contingencies_checked"] == 2756 and s["lazy_rows_added"] > 0
    ac = s["ac_check"]
    assert ac["run"] and ac["tighten_rounds"][0]["round"] == 0
    assert len(ac["tighten_rounds"]) <= 6
    assert ac["caused_by_new_load"] == 0
    for key in ("converged", "max_loading_percent", "min_vm_pu", "max_vm_pu", "branches_over_rating"):
        assert key in ac
    assert s["n_1"]["radial_branches_not_outaged"] == 450
    branches = pd.read_csv(out / "branches.csv")
    assert {"n1_loading_percent", "n1_worst_outage_branch_id", "offpeak_flow_mw"} <= set(branches.columns)
    # the true worst pair of every branch is reported, pre-existing ones included (issue 11: branch
    # 101485 is at ~141 % after the outage of 101684 without any new load)
    new = ~branches["n1_worst_preexisting"].astype(bool)
    assert branches.loc[new, "n1_loading_percent"].max() <= 120.0 + 1e-3
    # (a pair over without new load may end below the emergency rating: the new load may relieve it)
    row = branches.set_index("branch_id").loc[101485]
    assert row["n1_worst_preexisting"] and row["n1_loading_percent"] > 120
    assert s["n_1"]["max_post_contingency_loading_percent"] == pytest.approx(branches["n1_loading_percent"].max(),
                                                                             abs=1e-2)


@pytest.mark.parametrize("setting", ["constraints.emergency_rating_factor=0.9", "constraints.mining_firm_share=1.5",
                                     "constraints.offpeak_load_factor=0", "constraints.security=n-2",
                                     "ac.power_factor=1.2"])
def test_bad_security_settings_exit_2(setting, tmp_path):
    import subprocess
    import sys

    res = subprocess.run([sys.executable, "-m", "planner", "solve", "texas", "--set", setting, "--out",
                          str(tmp_path / "run"), "-q"], check=False, capture_output=True, text=True, timeout=120)
    assert res.returncode == 2
    key = setting.split("=")[0]
    assert key in res.stderr and "Traceback" not in res.stderr
    assert not (tmp_path / "run").exists()


def test_ac_check_and_tightening_on_western(western):
    """Western: AC converges on the allocated case; tightening removes every overload the new
    MW cause, and names the ones no DC limit can remove (reactive)."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).parents[1] / "benchmarks"))
    from bench_engine import synthetic_sites

    sites = synthetic_sites(western, 30, 5)
    r = planner.plan(western, sites, planner.Params())
    check = acpf.ac_check(western, r)
    assert check["converged"] and check["share_of_new_load"] == 1.0
    assert check["min_vm_pu"] < 1.0 < check["max_vm_pu"]
    assert check["branches_over_rating"] == check["caused_by_new_load"] + len(check["preexisting_over_rating"])
    assert check["caused_by_new_load"] > 0
    final, last, rounds, _ = acpf.solve_ac_tightened(lambda p: planner.plan(western, sites, p), planner.Params(),
                                                  western)
    assert len(rounds) <= 6 and rounds[0]["ac_caused_by_new_load"] == check["caused_by_new_load"]
    stuck = last.get("not_removable_by_dc_derating", [])
    assert last["caused_by_new_load"] == len(stuck)
    for row in stuck:
        assert row["reason"]
    assert final.summary.served_ai_mw < r.summary.served_ai_mw


def test_n1_bus_hosting_in_the_allocation_matches_the_hosting_map(texas, n1_plan):
    """allocation.csv's bus_hosting_mw under N-1 is the N-1 hosting of the bus alone: the same number
    planner hosting --n-1 gives (firm load, same emergency factor and DFAX rule), to 1e-6 MW."""
    from planner.network.supply import security_hosting

    a = n1_plan.allocation
    a = a[a["use"] != "not_modelled"]
    buses = np.unique(a["bus"].astype(int))
    ref = security_hosting(texas, sens.dc_model(texas), buses=buses, security="n-1", use="ai",
                           emergency_rating_factor=1.2, dfax=0.0).set_index("bus")["hosting_mw"]
    got = a.groupby("bus")["bus_hosting_mw"].first()
    assert np.allclose(got.reindex(buses).to_numpy(), ref.reindex(buses).to_numpy(), rtol=0, atol=1e-6)
    n0 = n1_plan.buses.set_index("bus")["hosting_mw"]  # the N-0 figure of buses.csv is never lower
    assert (n0.reindex(buses).to_numpy() >= got.reindex(buses).to_numpy() - 1e-6).all()


# --------------------------------------------------------------------------- N-1 on large grids: the sparse LODF


def _assert_same_plan(dense, sparse):
    assert sparse.summary.objective_usd == pytest.approx(dense.summary.objective_usd, rel=1e-12)
    assert sparse.summary.network["lazy_rows_by_kind"] == dense.summary.network["lazy_rows_by_kind"]
    for col in ("ai_mw", "mining_mw", "kept_mining_mw", "shed_mw"):
        np.testing.assert_allclose(sparse.allocation[col], dense.allocation[col], atol=1e-9, rtol=0)
    a, b = dense.summary.n_1, sparse.summary.n_1
    for key in ("contingencies_checked", "radial_branch_ids", "pairs_over_emergency_rating", "preexisting_overloads",
                "max_post_contingency_loading_percent", "max_post_contingency_loading_percent_not_preexisting"):
        assert a[key] == b[key], key
    np.testing.assert_allclose(sparse.buses["hosting_mw"], dense.buses["hosting_mw"], rtol=1e-9)
    # the N-1 loading of every branch: exact where it reaches 90 %; below, within tol x max |f_k|
    da, db = dense.branches, sparse.branches
    high = da["n1_loading_percent"] >= 90
    np.testing.assert_allclose(db.loc[high, "n1_loading_percent"], da.loc[high, "n1_loading_percent"], rtol=1e-9)
    assert (db.loc[high, "n1_worst_outage_branch_id"] == da.loc[high, "n1_worst_outage_branch_id"]).all()
    mon = da["monitored"]
    bound = 1e-3 * np.abs(da.loc[mon, "flow_mw"]).max() / (1.2 * da.loc[mon, "rate_mw"]) * 100
    assert (np.abs(db.loc[mon, "n1_loading_percent"] - da.loc[mon, "n1_loading_percent"]) <= bound + 1e-9).all()


def test_sparse_lodf_gives_the_same_n1_plan_on_texas(texas, texas_sites):
    """The N-1 path of Eastern and usa (a sparse LODF and exact rows) gives the same rows,
    allocation, objective and N-1 report as the dense LODF on Texas, both with the strict rule
    for pairs over without new load and with the DFAX cut-off (offpeak and peak states)."""
    for dfax in (0.0, 0.05):
        p = planner.Params(security="n-1", overload_dfax=dfax)
        dense = planner.plan(texas, texas_sites, p)
        sparse = planner.plan(texas, texas_sites, planner.Params(security="n-1", overload_dfax=dfax, lodf_cache_mb=0.0))
        assert dense.summary.n_1["contingencies_checked"] == 2756
        _assert_same_plan(dense, sparse)


def test_sparse_lodf_candidates_are_exact(texas):
    """Contingencies.candidates from the sparse LODF equals brute force over the dense LODF: every
    (branch, outage) pair whose bound can reach the threshold, with its exact LODF, in the order
    the dense chunks list them; the entries left out are below the tolerance."""
    model = sens.dc_model(texas)
    mon = np.flatnonzero(model.monitored)
    dense = Contingencies(model, mon, 1.2)
    sparse = Contingencies(model, mon, 1.2, cache_mb=0.0)
    assert sparse.cache is None and dense.sparse is None
    np.testing.assert_array_equal(sparse.outages, dense.outages)
    m = sparse.sparse.matrix
    kept = dense.cache.copy()
    kept[dense.outages, np.arange(len(dense.outages))] = 0.0
    np.testing.assert_allclose(m.toarray(), np.where(np.abs(kept) >= 1e-3, kept, 0.0), atol=1e-12)
    rng = np.random.default_rng(5)
    a = np.abs(model.flow_mw[mon]) * rng.uniform(0.5, 1.5, len(mon))
    for share in (0.6, 0.9, 1.0):
        thr = share * dense.emergency
        got = sparse.candidates(a, a, thr)
        want = dense.candidates(a, a, thr)
        assert len(want[0]) > 0
        for g, w in zip(got, want):
            np.testing.assert_allclose(g, w, rtol=1e-12, atol=1e-12)
    # the rows taken exactly are those the tolerance could push over
    lines = np.array([0, 7, 300, 2000])
    np.testing.assert_allclose(sparse.rows(lines), dense.rows(lines), atol=1e-12)


@pytest.mark.slow
def test_sparse_lodf_gives_the_same_n1_checks_on_western(western):
    """On Western (dense LODF 8,491 outages) the sparse path finds the same N-1 rows for a heavy
    load at 40 buses, the same pairs over without new load and the same worst pairs."""
    model = sens.dc_model(western)
    mon = np.flatnonzero(model.monitored)
    dense = Contingencies(model, mon, 1.2)
    sparse = Contingencies(model, mon, 1.2, cache_mb=0.0)
    base = model.flow_mw[mon]
    for got, want in zip(sparse.preexisting_pairs(base), dense.preexisting_pairs(base)):
        np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-9)
    rng = np.random.default_rng(1)
    buses = rng.choice(model.bus_ids, 40, replace=False)
    s = -sens.ptdf(model, buses, rows=mon)
    flow = base + s @ rng.uniform(50, 400, len(buses))
    from planner.network.security import State
    st = State(name="peak", model=model, share={})
    st.pre_pairs = dense.preexisting_pairs(base)[:2]
    got, want = sparse.violations(st, flow, 0.98), dense.violations(st, flow, 0.98)
    assert len(want[0]) > 10 and got[4] == want[4]
    np.testing.assert_array_equal(got[0], want[0])                      # the same branches
    np.testing.assert_allclose(got[3], want[3], rtol=1e-9)               # at the same worst flow
    np.testing.assert_allclose(got[2], want[2], atol=1e-9)               # with the same LODF
    # the same outage, except between outages that move the branch by nothing (|LODF| < 1e-9:
    # a branch over its rating before any outage, where rounding picks one of thousands)
    unique = np.abs(want[2]) > 1e-9
    assert unique.sum() > 10 and (got[1][unique] == want[1][unique]).all()
    wd, _, pd_ = dense.worst_pairs(flow, base)
    ws, ks, ps = sparse.worst_pairs(flow, base)
    high = np.flatnonzero(wd >= 0.9)
    np.testing.assert_allclose(ws[high], wd[high], rtol=1e-9)
    # each outage the sparse path names is a worst one: the dense LODF gives it the same loading
    j = np.searchsorted(dense.outages, ks[high])
    post = flow[high] + dense.cache[high, j] * flow[ks[high]]
    np.testing.assert_allclose(np.abs(post) / dense.emergency[high], wd[high], rtol=1e-9)
    assert (ps[high] == pd_[high]).all()


@pytest.mark.parametrize("block", [(4096, 64), (97, 5)])
def test_sparse_violations_reduced_by_block_equal_the_pairs_taken_at_once(texas, block, monkeypatch):
    """Contingencies.violations on the sparse LODF reduces the candidate pairs a block at a time
    (on usa with 2,000 sites, the pairs taken at once outgrew 14 GB): the same branches, worst
    outages (ties to the first outage), flows, LODFs and count of pairs over as reducing every
    pair of :meth:`candidates` at once, with pairs over without new load left out. Small blocks
    make each branch's worst pair a merge over many blocks."""
    from planner.network import security
    from planner.network.security import TOL, State

    monkeypatch.setattr(security, "VIOLATION_BLOCK", block)

    model = sens.dc_model(texas)
    mon = np.flatnonzero(model.monitored)
    sparse = Contingencies(model, mon, 1.2, cache_mb=0.0)
    base = model.flow_mw[mon]
    rng = np.random.default_rng(3)
    buses = rng.choice(model.bus_ids, 60, replace=False)
    flow = base + -sens.ptdf(model, buses, rows=mon) @ rng.uniform(100, 600, len(buses))
    st = State(name="peak", model=model, share={})
    st.pre_pairs = sparse.preexisting_pairs(base)[:2]
    for near in (0.9, 0.98):
        got = sparse.violations(st, flow, near)
        thr = np.minimum(min(near, 1.0) * sparse.emergency, sparse.emergency * (1 + TOL) + TOL) * (1 - 1e-9)
        exact = sparse.exact_lines(np.abs(flow), np.abs(flow), thr)  # both kinds of block are exercised
        assert len(exact) > 5
        if near == 0.9:  # pairs left out on branches of exact rows too, their worst outage among them
            before = dict(zip(got[0].tolist(), got[1].tolist()))
            extra = [(ln, o) for ln in exact[::3].tolist()
                     for o in [*sparse.outages[:40].tolist(), before.get(ln, -1)] if o not in (ln, -1)]
            st.pre_pairs = tuple(np.r_[p, np.array(e, np.int64)] for p, e in zip(st.pre_pairs, zip(*extra)))
            got = sparse.violations(st, flow, near)
        l, k, lo = sparse.candidates(np.abs(flow), np.abs(flow), thr)
        m = len(mon)
        keep = ~np.isin(l * m + k, st.pre_pairs[0] * m + st.pre_pairs[1])
        l, k, lo = l[keep], k[keep], lo[keep]
        post = flow[l] + lo * flow[k]
        ratio = np.abs(post) / sparse.emergency[l]
        order = np.lexsort((k, -ratio, l))
        first = order[np.r_[True, l[order][1:] != l[order][:-1]]]
        worst = np.zeros(m)
        worst[l[first]] = ratio[first]
        pick = np.flatnonzero((worst > 1 + TOL + TOL / sparse.emergency) | (worst >= near))
        at = first[np.searchsorted(l[first], pick)]
        assert len(pick) > 20 and got[4] == int(np.count_nonzero(ratio > 1 + TOL + TOL / sparse.emergency[l]))
        np.testing.assert_array_equal(got[0], pick)
        np.testing.assert_array_equal(got[1], k[at])
        np.testing.assert_array_equal(got[2], lo[at])
        np.testing.assert_array_equal(got[3], post[at])
        np.testing.assert_array_equal(got[5], worst)
