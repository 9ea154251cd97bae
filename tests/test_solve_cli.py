"""`planner solve` and `planner compare` as a user meets them, and the scenario levers."""

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import planner
from planner.config.scenario import load_scenario
from planner.run.prepare import run

REPO = Path(__file__).resolve().parent.parent
TEXAS = str(REPO / "scenarios" / "texas.yaml")
RUN_FILES = {"summary.json", "allocation.csv", "allocation.geojson", "branches.csv", "buses.csv", "map.png",
             "map.html", "case.json", "case_offpeak.json", "scenario.yaml", "branches.geojson", "buses.geojson",
             "operators.csv", "operators.png"}


def cli(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "planner", *args], check=False, capture_output=True, text=True,
                          cwd=cwd, timeout=900)


def main_in_process(monkeypatch, capsys, *args) -> tuple[int, str, str]:
    from planner.cli import main

    monkeypatch.setattr(sys, "argv", ["planner", *args])
    try:
        main()
        code = 0
    except SystemExit as exc:
        code = exc.code
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_solve_texas_writes_every_file(texas_run):
    out, res = texas_run
    assert {p.name for p in out.iterdir()} == RUN_FILES
    s = json.loads((out / "summary.json").read_text())
    for key in ("status", "objective_usd", "mip_gap", "requested_ai_mw", "served_ai_mw", "unmet_ai_mw",
                "served_mining_mw", "converted_sites", "max_branch_loading_percent", "timings_s", "scenario",
                "grid", "versions", "regions", "conversions", "validation"):
        assert key in s
    # every block of a solve run, in the order of planner.Summary's fields (no redispatch, no timeline)
    assert list(s) == [f.name for f in dataclasses.fields(planner.Summary) if f.name not in ("redispatch", "timeline")]
    assert s["status"] == "optimal" and s["scenario"] == "texas" and s["grid"] == "texas"
    assert s["requested_ai_mw"] == 9310
    assert s["served_ai_mw"] + s["unmet_ai_mw"] == pytest.approx(9310, abs=1e-3)
    alloc = pd.read_csv(out / "allocation.csv")
    for col in ("site_id", "name", "bus", "lat", "lon", "use", "ai_mw", "mining_mw", "converted", "value_usd"):
        assert col in alloc
    assert alloc["ai_mw"].sum() == pytest.approx(s["served_ai_mw"], abs=1e-2)
    assert int(alloc["converted"].sum()) == s["converted_sites"]
    branches = pd.read_csv(out / "branches.csv")
    for col in ("branch_id", "from_bus", "to_bus", "flow_mw", "rate_mw", "loading_percent", "binding",
                "shadow_price_usd_per_mw"):
        assert col in branches
    buses = pd.read_csv(out / "buses.csv")
    assert {"marginal_value_usd_per_mw", "hosting_mw"} <= set(buses.columns)
    assert (out / "map.png").read_bytes()[:4] == b"\x89PNG"
    page = (out / "map.html").read_text()
    assert "plotly" in page[:20000].lower() and '<script src="http' not in page  # self-contained (tests/test_maps.py)
    assert "AI served" in res.stdout and "wrote" in res.stdout


def _pandapower_flows_from_to(net, table: pd.DataFrame, grid) -> np.ndarray:
    """MW flowing from each row's ``from_bus`` to its ``to_bus`` in pandapower's results,
    read from the element's own ends (a line's from/to bus, a transformer's hv/lv bus)."""
    elements = grid.branches.reindex(table.index)
    out = np.full(len(table), np.nan)
    for element, (a, b, pa, pb) in {"line": ("from_bus", "to_bus", "p_from_mw", "p_to_mw"),
                                    "trafo": ("hv_bus", "lv_bus", "p_hv_mw", "p_lv_mw")}.items():
        rows = np.flatnonzero(elements["element"].to_numpy() == element)
        idx = elements["element_index"].to_numpy()[rows]
        end_a = net[element].loc[idx, a].to_numpy()
        end_b = net[element].loc[idx, b].to_numpy()
        fb = table["from_bus"].to_numpy()[rows]
        tb = table["to_bus"].to_numpy()[rows]
        assert np.all(((end_a == fb) & (end_b == tb)) | ((end_a == tb) & (end_b == fb)))
        res = net[f"res_{element}"]
        out[rows] = np.where(end_a == fb, res.loc[idx, pa].to_numpy(), res.loc[idx, pb].to_numpy())
    return out


def test_case_json_reproduces_branch_flows_with_rundcpp(texas_run):
    """Independent check: pandapower's own DC power flow on the written case, every branch,
    flow positive from ``from_bus`` to ``to_bus`` for lines and transformers alike."""
    import warnings

    import pandapower as pp

    from planner.data.grid import load_grid

    out, _ = texas_run
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        net = pp.from_json(str(out / "case.json"))
        pp.rundcpp(net, numba=False)
    grid = load_grid("texas")
    table = pd.read_csv(out / "branches.csv").set_index("branch_id")
    pp_flow = _pandapower_flows_from_to(net, table, grid)
    assert np.isfinite(pp_flow).all()
    diff = np.abs(pp_flow - table["flow_mw"].to_numpy())
    # branches.csv holds MW to 0.001 (planner.io.DECIMALS): within half of that (before rounding ~1e-9 MW)
    assert diff.max() <= 5e-4 + 1e-9
    # the example: 1,305 MW from 3007099 into 3007095 through transformer 103364
    row = table.loc[103364]
    assert (row["from_bus"], row["to_bus"]) == (3007099, 3007095) and row["flow_mw"] > 1000
    assert (table["kind"] == "transformer").sum() > 800
    mon = table["monitored"].to_numpy(bool) & ~table["preexisting_overload"].to_numpy(bool)
    rating = table["rate_mw"].to_numpy()
    assert np.all(np.abs(pp_flow[mon]) <= rating[mon] * (1 + 1e-6) + 5e-4 + 1e-6)  # rate_mw rounded to 0.001


def test_gis_layers_carry_the_tables_on_real_geometry(texas_run, tmp_path):
    """branches.geojson: one LineString per located branch from its from_bus to its to_bus with the
    columns of branches.csv; buses.geojson: the candidate buses; --format gpkg: one GeoPackage with
    the layers sites, branches and buses holding the same rows."""
    import geopandas as gpd
    import pyogrio
    import shapely

    from planner.data.grid import load_grid

    out, _ = texas_run
    table = pd.read_csv(out / "branches.csv").set_index("branch_id")
    lines = gpd.read_file(out / "branches.geojson").set_index("branch_id")
    assert lines.crs.to_epsg() == 4326 and set(lines.geom_type) == {"LineString"}
    assert len(lines) == len(table)  # every Texas branch has both ends located
    for col in ("flow_mw", "loading_percent", "shadow_price_usd_per_mw", "rate_mw"):
        assert np.allclose(lines[col].reindex(table.index), table[col], equal_nan=True)
    assert (lines["binding"].reindex(table.index) == table["binding"]).all()
    grid = load_grid("texas")
    start = shapely.get_coordinates(lines.geometry.values)[::2]
    bus_xy = shapely.get_coordinates(grid.buses.geometry.reindex(lines["from_bus"]).values)
    assert np.allclose(start, bus_xy)
    buses = gpd.read_file(out / "buses.geojson")
    assert len(buses) == len(pd.read_csv(out / "buses.csv")) and set(buses.geom_type) == {"Point"}
    gpkg_run = tmp_path / "gpkg"
    res = cli("solve", TEXAS, "--out", str(gpkg_run), "--format", "gpkg", "-q", "--set", "output.map_html=false",
              "--set", "output.map_png=false", "--set", "output.case_json=false")
    assert res.returncode == 0, res.stderr
    assert not (gpkg_run / "branches.geojson").exists()
    assert sorted(name for name, _ in pyogrio.list_layers(gpkg_run / "run.gpkg")) == ["branches", "buses", "sites"]
    assert len(gpd.read_file(gpkg_run / "run.gpkg", layer="branches")) == len(table)
    sites = gpd.read_file(gpkg_run / "run.gpkg", layer="sites")
    assert len(sites) == len(pd.read_csv(out / "allocation.csv"))


def test_offpeak_case_reproduces_offpeak_flows_with_rundcpp(texas_run):
    """The off-peak case: base load x 0.6 (DC-tie exports unchanged), all new load."""
    import warnings

    import pandapower as pp

    from planner.data.grid import load_grid

    out, _ = texas_run
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        net = pp.from_json(str(out / "case_offpeak.json"))
        pp.rundcpp(net, numba=False)
    grid = load_grid("texas")
    table = pd.read_csv(out / "branches.csv").set_index("branch_id")
    pp_flow = _pandapower_flows_from_to(net, table, grid)
    # MW to 0.001 in branches.csv: within half of that
    assert np.nanmax(np.abs(pp_flow - table["offpeak_flow_mw"].to_numpy())) <= 5e-4 + 1e-9
    assert np.all(np.abs(pp_flow) <= table["offpeak_limit_mw"].to_numpy() * (1 + 1e-6) + 5e-4 + 1e-6)
    base = grid.net.load
    tie = base["name"].fillna("").str.startswith("dc tie")
    alloc = pd.read_csv(out / "allocation.csv")
    expected = 0.6 * base.loc[~tie, "p_mw"].sum() + base.loc[tie, "p_mw"].sum() + alloc["ai_mw"].sum() \
        + alloc["mining_mw"].sum()
    assert net.load["p_mw"].sum() == pytest.approx(expected, abs=1e-3)
    assert float(net.res_ext_grid["p_mw"].abs().sum()) < 1e-6  # generators re-dispatched as the model assumed


def test_existing_out_dir_is_never_overwritten_without_force(texas_run, monkeypatch, capsys):
    out, _ = texas_run
    before = (out / "summary.json").read_text()
    code, _, err = main_in_process(monkeypatch, capsys, "solve", TEXAS, "--out", str(out), "--quiet")
    assert code == 2 and "already exists" in err and "--force" in err
    assert (out / "summary.json").read_text() == before


def test_force_replaces_and_a_failed_run_leaves_nothing(tmp_path, monkeypatch, capsys):
    target = tmp_path / "run"
    target.mkdir()
    (target / "old.txt").write_text("old")
    code, _, err = main_in_process(monkeypatch, capsys, "solve", TEXAS, "--out", str(target), "--force", "-q",
                                   "--set", "output.map_html=false", "--set", "output.case_json=false")
    assert code == 0, err
    assert {p.name for p in target.iterdir()} == RUN_FILES - {"map.html", "case.json", "case_offpeak.json"}

    import planner.io

    def broken(*a, **k):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(planner.io, "write_case", broken)
    fresh = tmp_path / "fresh"
    code, _, err = main_in_process(monkeypatch, capsys, "solve", TEXAS, "--out", str(fresh), "-q")
    assert code == 1 and "No space left" in err
    assert not fresh.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]  # no temporary directory left behind


def test_bad_input_exits_2_with_one_line(monkeypatch, capsys, tmp_path):
    cases = [
        (("solve", TEXAS, "--set", "constraints.allow_conversoin=false"), "did you mean 'constraints.allow_conversion'"),
        (("solve", TEXAS, "--set", "economics.hashprice_usd_per_ph_day=cheap"), "economics.hashprice_usd_per_ph_day"),
        (("solve", str(tmp_path / "missing.yaml")), "no such scenario file"),
        (("solve", TEXAS, "--set", "grid.name=nogrid"), "grid.name"),
        (("solve", TEXAS, "--set", "economics.discount_rate=-2"), "discount_rate"),
        (("compare", str(tmp_path), str(tmp_path)), "summary.json is missing"),
    ]
    for args, needle in cases:
        code, _, err = main_in_process(monkeypatch, capsys, *args, "-q") if args[0] == "solve" else \
            main_in_process(monkeypatch, capsys, *args)
        assert code == 2, (args, err)
        assert needle in err, (args, err)
        assert err.startswith("error: ") and err.count("\n") == 1 and "Traceback" not in err


def test_infeasible_scenario_exits_1_naming_the_conflict(monkeypatch, capsys, tmp_path):
    path = tmp_path / "must.yaml"
    path.write_text(f"extends: {TEXAS}\nname: must\nsupply: {{regions: {{ERCOT: {{available_mw: 100}}}}}}\n"
                    "demand:\n  requests:\n    - {name: Big campus, lat: 32.78, lon: -96.8, mw: 300, must_serve: true}\n")
    code, _, err = main_in_process(monkeypatch, capsys, "solve", str(path), "--out", str(tmp_path / "o"), "-q")
    assert code == 1
    assert "infeasible" in err and "must-serve AI in region ERCOT" in err
    assert "300 MW of new supply" in err and "100 MW" in err
    assert not (tmp_path / "o").exists()


def test_solver_failure_exits_1_and_says_what_to_try(monkeypatch, capsys, tmp_path):
    import pulp

    from planner.optimization.live import LiveModel

    def fail(self, *args, **kw):
        raise pulp.PulpSolverError("simulated crash")

    monkeypatch.setattr(LiveModel, "run", fail)  # HiGHS on the live model
    called = []
    monkeypatch.setattr(pulp.LpProblem, "solve", lambda *a, **k: called.append(1))  # CBC through PuLP
    code, out, err = main_in_process(monkeypatch, capsys, "solve", TEXAS, "--out", str(tmp_path / "o"), "-q")
    assert code == 1 and out == ""
    # one line that says what failed and what to try; no quiet switch to CBC
    assert err.startswith("error: simulated crash") and "--set solver.name=cbc" in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert called == [] and not (tmp_path / "o").exists()


def test_compare_reports_what_changed(texas_run, tmp_path):
    out_a, _ = texas_run
    out_b = tmp_path / "noconv"
    res = cli("solve", TEXAS, "--out", str(out_b), "-q", "--set", "constraints.allow_conversion=false")
    assert res.returncode == 0, res.stderr
    res = cli("compare", str(out_a), str(out_b), "--json")
    assert res.returncode == 0, res.stderr
    diff = json.loads(res.stdout)
    sa = json.loads((out_a / "summary.json").read_text())
    sb = json.loads((out_b / "summary.json").read_text())
    m = diff["metrics"]
    assert m["served_ai_mw"]["change"] == pytest.approx(sb["served_ai_mw"] - sa["served_ai_mw"])
    assert m["converted_sites"]["b"] == 0 and m["converted_sites"]["a"] == sa["converted_sites"]
    changed = {r["site_id"] for r in diff["sites_changed"]}
    assert set(sa["converted_site_ids"]) <= changed
    text = cli("compare", str(out_a), str(out_b)).stdout
    assert "sites changed" in text and "became binding" in text


# --------------------------------------------------------------------------- levers (a test per lever)


@pytest.fixture(scope="module")
def texas_solve():
    from planner.data.grid import load_grid

    grid = load_grid("texas")

    def solve(*sets):
        return run(load_scenario(TEXAS, list(sets)), grid=grid)[1].summary

    base = solve()
    return solve, base


def test_lever_hashprice_up_keeps_more_mining(texas_solve):
    solve, base = texas_solve
    high = solve("economics.hashprice_usd_per_ph_day=90")
    assert high.served_mining_mw > base.served_mining_mw + 100
    assert high.converted_sites < base.converted_sites


def test_lever_lease_down_converts_fewer_mines(texas_solve):
    solve, base = texas_solve
    low = solve("economics.ai_lease_usd_per_kw_month=60")
    assert low.converted_sites < base.converted_sites
    assert low.conversions["ai_at_miner_sites_mw"] < base.conversions["ai_at_miner_sites_mw"]
    assert low.objective_usd < base.objective_usd


def test_lever_smaller_pool_serves_less(texas_solve):
    solve, base = texas_solve
    small = solve("supply.regions.ERCOT.available_mw=300")
    assert small.regions["ERCOT"]["pool_drawn_mw"] <= 300 + 1e-6
    assert small.served_ai_mw < base.served_ai_mw
    assert small.supply_pools["ERCOT"]["shadow_price_usd_per_mw"] > 0  # the pool binds


def test_lever_no_conversion(texas_solve):
    solve, base = texas_solve
    none = solve("constraints.allow_conversion=false")
    assert none.converted_sites == 0 and none.conversions["ai_at_miner_sites_mw"] == 0
    assert none.served_ai_mw < base.served_ai_mw
    assert none.served_mining_mw > base.served_mining_mw


@pytest.mark.slow
def test_us_2028_power_gap(usa):
    # the power gap, not the AC check (the README's us-2028 examples run that)
    sc = load_scenario("us-2028", ["constraints.allow_conversion=false", "ac.check=false"])
    _, res = run(sc, grid=usa)
    s = res.summary
    assert s.requested_ai_mw == 65_000
    assert s.served_ai_mw <= 21_000 + 1e-6     # 15 GW available + 6 GW under construction
    assert s.unmet_ai_mw >= 44_000 - 1e-6
    _, res2 = run(load_scenario("us-2028", ["ac.check=false"]), grid=usa)
    s2 = res2.summary
    assert s2.requested_ai_mw == 65_000
    assert s2.conversions["ai_at_miner_sites_mw"] > 1_000
    assert s2.served_ai_mw > s.served_ai_mw
    assert sum(s2.conversions["by_region_mw"].values()) == pytest.approx(
        s2.conversions["ai_at_miner_sites_mw"], abs=1e-2)


def test_redispatch_case_json_solves_to_the_same_cost_in_pandapower_dc_opf(tmp_path):
    """Independent check of --supply redispatch: case.json (and case_offpeak.json) carry the
    generators' limits and piecewise-linear costs and the branch limits the model used, so that
    pandapower's own DC OPF (rundcopp, the new loads fixed as allocated) finds the dispatch cost of
    dispatch.csv (within 0.1 %; measured ~2e-9) and no monitored branch over the model's limit.
    (The dispatch itself may differ: many generators share one cost curve, so the optimum is not
    unique; its cost is.)"""
    import warnings

    import pandapower as pp

    from planner.data.grid import load_grid

    out = tmp_path / "redispatch"
    res = cli("solve", TEXAS, "--supply", "redispatch", "--out", str(out), "--quiet", "--set", "ac.check=false")
    assert res.returncode == 0, res.stderr
    d = pd.read_csv(out / "dispatch.csv")
    table = pd.read_csv(out / "branches.csv").set_index("branch_id")
    grid = load_grid("texas")
    mon = table["monitored"].to_numpy(bool)
    for state, case in (("peak", "case.json"), ("offpeak", "case_offpeak.json")):
        pre = "" if state == "peak" else "offpeak_"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            net = pp.from_json(str(out / case))
            pp.rundcopp(net)
        assert net.OPF_converged
        # pandapower prices a piecewise-linear curve from 0 MW at its first slope: add min_mw x slope_1
        model_cost = float((d[f"{pre}cost_usd_per_h"] - d["cost_at_min_usd_per_h"]
                            + d["min_mw"] * d["slope_1_usd_per_mwh"]).sum())
        assert net.res_cost == pytest.approx(model_cost, rel=1e-3)
        flow = _pandapower_flows_from_to(net, table, grid)
        limit = table[f"{pre}limit_mw"].to_numpy()
        assert np.all(np.abs(flow[mon]) <= limit[mon] * (1 + 1e-6) + 1e-3)
        assert abs(float(net.res_ext_grid["p_mw"].sum())) < 1e-3  # the reference bus stays at 0 MW
        p = net.res_gen.loc[d["gen"], "p_mw"].to_numpy()
        assert np.all((p >= d["min_mw"].to_numpy() - 1e-3) & (p <= d["max_mw"].to_numpy() + 1e-3))  # dispatch.csv MW to 0.001
