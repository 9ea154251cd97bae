"""Hosting capacity with redispatch (``planner hosting --supply redispatch``): a three-bus case
solved by hand, brute force against an independent LP on pandapower's own PTDF of every outaged
network, ``planner solve`` serving exactly the hosting MW, pandapower's DC OPF bracketing the MW
on Texas, and the command line with its maps."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
import warnings

import numpy as np
import pandapower as pp
import pandas as pd
import pytest
from scipy.optimize import linprog

import planner
from planner.core.errors import InputError
from planner.data import examples as ex
from planner.network import sensitivity as sens
from planner.network.hosting import HEADROOM
from planner.network.supply import security_hosting

#: one state (every new MW firm, no off-peak state): the generators' limits are the peak's
ONE = {"mining_firm_share": 1.0, "offpeak_load_factor": 1.0, "check_existing_load": False, "mip_gap": 0.0}


# --------------------------------------------------------------------------- by hand


def test_three_bus_case_by_hand():
    """examples.redispatch_triangle: generator 1 at bus 1 (100 of 200 MW), generator 2 at bus 2 (0 of
    100 MW), 100 MW of load at bus 3, line 1-3 rated 80 MW; a MW from bus 1 to bus 3 puts 2/3 MW on
    line 1-3, from bus 2 to bus 3 1/3 MW. Flow 1-3 = 2/3 g1 + 1/3 g2 - (2/3, 1/3, 0) . new load.

    * bus 3: with g2 at its 100 MW, 2/3 g1 + 100/3 <= 80 gives g1 <= 70, so 70 MW (g1 turned down
      30 MW); headroom shares (1/2, 1/2) move 1/2 MW per MW onto line 1-3: (80 - 66.67) x 2 = 26.67.
    * bus 2: f13 = g1 / 3 + 100 / 3 <= 80 gives g1 <= 140 and g2 <= 100 gives x <= g1: 140 MW, nothing
      turned down; headroom shares move 1/6 MW per MW: 6 x 13.33 = 80 MW.
    * bus 1: the flow on line 1-3 falls; the 200 MW of headroom limit both: 200 MW."""
    g = ex.redispatch_triangle()
    f = security_hosting(g, slack="redispatch").set_index("bus")
    assert f["hosting_mw"].to_dict() == pytest.approx({1: 200.0, 2: 140.0, 3: 70.0}, abs=1e-6)
    assert f["fixed_hosting_mw"].to_dict() == pytest.approx({1: 200.0, 2: 80.0, 3: 80 / 3}, abs=1e-6)
    assert f["redispatch_ratio"].to_dict() == pytest.approx({1: 1.0, 2: 1.75, 3: 2.625}, abs=1e-6)
    assert f["redispatch_mw"].to_dict() == pytest.approx({1: 0.0, 2: 0.0, 3: 30.0}, abs=1e-5)
    # at 95 % of 70 MW: g1 + g2 = 166.5 and 2/3 g1 + 1/3 g2 <= 80 give g1 <= 73.5: 26.5 MW turned down
    assert f["redispatch_95_mw"].to_dict() == pytest.approx({1: 0.0, 2: 0.0, 3: 26.5}, abs=1e-5)
    assert f["limited_by"].to_dict() == {1: HEADROOM, 2: "branch", 3: "branch"}
    assert f.loc[2, "limiting_branch"] == 3 and f.loc[3, "limiting_branch"] == 3
    assert pd.isna(f.loc[1, "limiting_branch"]) and f["limiting_outage"].isna().all()
    assert set(f["supply"]) == {"redispatch"} and "n0_hosting_mw" not in f
    # the line's rating moves the answer as the hand formula says: x = 1.5 (L - 100/3) at bus 3
    f = security_hosting(ex.redispatch_triangle(90.0), slack="redispatch").set_index("bus")
    assert f.loc[3, "hosting_mw"] == pytest.approx(1.5 * (90.0 - 100 / 3), abs=1e-6)


def test_flexible_use_takes_the_smaller_of_peak_and_offpeak():
    """Mining with 10 % of it at peak: hosting = min(peak hosting / 0.1, off-peak hosting), each
    state with its own dispatch; at factor 1.0 both states are the same grid, so off-peak binds."""
    g = ex.redispatch_triangle()
    firm = security_hosting(g, slack="redispatch").set_index("bus")["hosting_mw"]
    flex = security_hosting(g, slack="redispatch", use="mining", offpeak_load_factor=1.0).set_index("bus")
    assert flex["hosting_mw"].to_dict() == pytest.approx(firm.to_dict(), abs=1e-6)
    assert set(flex["limiting_state"]) == {"offpeak"}


# --------------------------------------------------------------------------- brute force


def _outaged_ptdf(grid, drop: int | None):
    """(PTDF, base flows) of ``grid`` with line ``drop`` (pandapower index) out of service, from
    pandapower's own DC power flow only: each column is the change of every branch flow (grid branch
    order, from_bus to to_bus) when 1 MW more is injected at that bus and the slack takes it back."""
    from planner.analysis.validate import run_dc

    net = copy.deepcopy(grid.net)
    if drop is not None:
        net.line.loc[drop, "in_service"] = False
    f0 = run_dc(net, grid.branches).to_numpy()
    cols = {}
    for bus in net.bus.index:
        sgen = pp.create_sgen(net, bus, p_mw=1.0)
        cols[int(bus)] = run_dc(net, grid.branches).to_numpy() - f0
        net.sgen.drop(sgen, inplace=True)
    return cols, np.nan_to_num(f0)


def _brute_force(grid, bus: int, factor: float | None) -> float:
    """max x: new load x at ``bus``, generators free within [min(Pmin, Pg), max(Pmax, Pg)], every
    branch within max(rating, |base flow|); with ``factor``, after each line outage (none of
    examples.mesh islands a bus), every other branch within max(factor x rating, |flow of that
    outage without new load|). One LP (scipy linprog) on the PTDF of each outaged network."""
    net = grid.net
    gens = net.gen[net.gen["in_service"]]
    p0 = gens["p_mw"].to_numpy()
    lo = np.minimum(gens["min_p_mw"].fillna(0).to_numpy(), p0)
    hi = np.maximum(gens["max_p_mw"].to_numpy(), p0)
    rate = grid.branches["rate_mw"].to_numpy()
    cases = [(None, 1.0)] + ([(int(i), factor) for i in net.line.index] if factor is not None else [])
    a_rows, b_rows = [], []
    for drop, mult in cases:
        cols, f0 = _outaged_ptdf(grid, drop)
        limit = np.maximum(mult * rate, np.abs(f0))
        live = grid.branches["element_index"].to_numpy() != drop
        # columns: x, then each generator's change; flow = f0 + ptdf[:, gen buses] dg - ptdf[:, bus] x
        coef = np.c_[-cols[bus], np.column_stack([cols[int(b)] for b in gens["bus"]])][live]
        a_rows += [coef, -coef]
        b_rows += [(limit - f0)[live], (limit + f0)[live]]
    res = linprog(np.r_[-1.0, np.zeros(len(gens))], A_ub=np.vstack(a_rows), b_ub=np.concatenate(b_rows),
                  A_eq=np.r_[-1.0, np.ones(len(gens))][None, :], b_eq=[0.0],
                  bounds=[(0, None)] + list(zip(lo - p0, hi - p0)), method="highs")
    assert res.status == 0, res.message
    return float(res.x[0])


def _mesh(rate_mw: float):
    g = ex.mesh(rate_mw)
    g.net.poly_cost.drop(g.net.poly_cost.index, inplace=True)
    pp.create_poly_cost(g.net, 1, "gen", cp1_eur_per_mw=25.0)
    pp.create_poly_cost(g.net, 2, "gen", cp1_eur_per_mw=45.0)
    return g


@pytest.mark.parametrize("rate", [90.0, 120.0, 150.0])
@pytest.mark.parametrize("security", ["n-0", "n-1"])
def test_every_bus_equals_brute_force_on_the_mesh(rate, security):
    """Every bus of examples.mesh (six buses, eight lines, two generators) N-0 and N-1, against the
    independent LP of :func:`_brute_force` (every outaged network's own PTDF, no LODF): equal to
    1e-6 MW; never below the fixed-participation answer."""
    g = _mesh(rate)
    f = security_hosting(g, slack="redispatch", security=security, emergency_rating_factor=1.2).set_index("bus")
    for bus in f.index:
        want = _brute_force(g, int(bus), 1.2 if security == "n-1" else None)
        assert f.loc[bus, "hosting_mw"] == pytest.approx(want, abs=1e-6), bus
    assert (f["hosting_mw"] >= f["fixed_hosting_mw"] - 1e-6).all()
    if security == "n-1":
        n0 = security_hosting(g, slack="redispatch").set_index("bus")["hosting_mw"]
        assert (f["hosting_mw"] <= n0 + 1e-6).all()
        assert (f["limited_by"] == "branch after outage").any()


def test_threads_and_chunks_do_not_change_the_answer():
    """N-1 on examples.mesh one bus per task (tasks spread over the threads, each with its own LPs,
    N-1 rows shared through the pool as they are found) against all buses in one task: the same
    MW, limiting branch and outage, and redispatch."""
    from planner.network.hosting_redispatch import redispatch_hosting
    from planner.network.security import Contingencies

    g = _mesh(120.0)
    model = sens.dc_model(g, "headroom")
    cont = Contingencies(model, np.flatnonzero(model.monitored), 1.2)
    one = redispatch_hosting(g, [("peak", model)], model.bus_ids, cont, chunk=len(model.bus_ids))[0]
    many = redispatch_hosting(g, [("peak", model)], model.bus_ids, cont, chunk=1)[0]
    for a, b in zip(one, many):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-6)
    assert (one[2] >= 0).any()   # some bus is limited after an outage


def test_twin_rows_name_the_same_limit_whatever_their_order():
    """Bus 1 of examples.mesh feeds the grid through lines 1-2 and 1-3 only, so "1-2 after the loss
    of 1-3" and "1-3 after the loss of 1-2" are one constraint (LODF 1 both ways: bus 1's export).
    It limits bus 4 at 200 MW by hand (generator 2 rises 100 -> 300 MW; generator 1 cannot rise, its
    150 MW already above the 144 MW emergency rating). The LP prices whichever twin its basis
    holds; the name reported is the first, (0, 1), whichever order the rows arrived in."""
    from planner.network import hosting_redispatch as hr
    from planner.network.redispatch import generator_limits

    g = _mesh(120.0)
    model = sens.dc_model(g, "headroom")
    gl = generator_limits(g, [model])
    lp = hr.build(model, gl["bus_pos"].to_numpy(), model.positions(model.bus_ids))
    p0 = model.gens.set_index("gen").loc[gl["gen"].to_numpy(), "p_mw"].to_numpy(float)
    st = hr.RedispatchState(name="peak", model=model, p0=p0, lo=gl["lo_mw"].to_numpy(float),
                            hi=gl["hi_mw"].to_numpy(float))
    for order in ([0, 1], [1, 0]):
        s = hr.PairSolver(lp, st)
        l = np.array(order)
        s.add_pairs(l, l[::-1], np.ones(2), 1.2 * model.rate_mw[lp.mon][l])
        assert s.solve(3) == pytest.approx((200.0, 0, 1, 0.0, 0.0), abs=1e-6), order


# --------------------------------------------------------------------------- the solve serves it


def _one_site(g, bus: int, value: float):
    return ex.sites_at(g, [{"site_id": "ai", "bus": bus, "poi_mw": 1e5, "current_use": "development",
                            "ai_value_usd_per_mw": value, "min_block_mw": 0}])


def test_solve_with_redispatch_serves_the_hosting_capacity_by_hand():
    g = ex.redispatch_triangle()
    r = planner.plan(g, _one_site(g, 3, 1e9), planner.Params(**ONE, supply_response="redispatch",
                                                             redispatch_cost_segments=1))
    assert r.allocation["ai_mw"].iat[0] == pytest.approx(70.0, abs=1e-6)


def test_solve_with_redispatch_serves_the_hosting_capacity_on_texas(texas):
    """A single AI request, larger than anything the bus can take and worth far more than the
    redispatch it needs costs, at Texas buses of different voltage: planner solve serves exactly
    the bus's redispatch hosting capacity (to 1e-4 relative). "Far more" is the condition: where
    the last MW needs gigawatts of redispatch (bus 3006151: 16 GW for 197 MW) the solve rightly
    stops a little short, where that MW costs more than it is worth; so the sample is buses
    needing at most 1 GW of redispatch."""
    model = sens.dc_model(texas, "headroom")
    sample = security_hosting(texas, model, model.bus_ids[::97], slack="redispatch")
    cheap = sample[(sample["redispatch_mw"] <= 1000) & (sample["limited_by"] == "branch")]
    f = cheap.drop_duplicates("kv").set_index("bus")
    buses = f.index.to_numpy()
    assert len(buses) >= 4 and (f["redispatch_mw"] > 0).any()
    for bus in buses:
        r = planner.plan(texas, _one_site(texas, int(bus), 1e10), planner.Params(**ONE, supply_response="redispatch"))
        assert r.allocation["ai_mw"].iat[0] == pytest.approx(f.loc[bus, "hosting_mw"], rel=1e-4, abs=1e-3), bus


# --------------------------------------------------------------------------- pandapower's DC OPF


def test_texas_hosting_is_bracketed_by_pandapower_dc_opf(texas):
    """pandapower's own DC OPF (rundcopp) on the Texas case made ready for it as the solve's
    case.json is (generators within the model's limits, the reference bus at 0 MW, each branch's
    limit the model's), with a new load at the bus: feasible at 0.99 x the reported MW and
    infeasible at 1.01 x, on a sample of buses that branches limit."""
    from planner.analysis.validate import allocated_net

    model = sens.dc_model(texas, "headroom")
    buses = model.bus_ids[[17, 650, 1333]]
    f = security_hosting(texas, model, buses, slack="redispatch").set_index("bus")
    # a run with redispatch gives the OPF-ready base case (no new load)
    r = planner.plan(texas, _one_site(texas, int(buses[0]), 1e6), planner.Params(**ONE, supply_response="redispatch"))
    base = allocated_net(texas, r, new_load=False)

    def feasible(bus: int, mw: float) -> bool:
        net = copy.deepcopy(base)
        pp.create_load(net, bus, p_mw=mw)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                pp.rundcopp(net)
            except pp.optimal_powerflow.OPFNotConverged:
                return False
        return bool(net.OPF_converged)

    for bus in buses:
        h = float(f.loc[bus, "hosting_mw"])
        assert f.loc[bus, "limited_by"] == "branch" and h > 1.0
        assert feasible(int(bus), 0.99 * h), bus
        assert not feasible(int(bus), 1.01 * h), bus


# --------------------------------------------------------------------------- supply responses


def test_regional_hosting_equals_headroom_on_one_interconnect(texas):
    """Without supply regions a bus's region is its interconnect and so is every generator's: on
    Texas (one interconnect) the regional answer is the headroom answer."""
    model = sens.dc_model(texas, "headroom")
    buses = model.bus_ids[::25]
    a = security_hosting(texas, model, buses, slack="headroom")
    b = security_hosting(texas, model, buses, slack="regional")
    assert np.allclose(a["hosting_mw"], b["hosting_mw"], rtol=1e-9, atol=1e-9)
    assert set(b["supply"]) == {"regional"}


def _labelled_two_regions(bus2: str):
    g = ex.two_regions()
    g.buses["interconnect"] = pd.Series({1: "W", 2: bus2, 3: "E"})
    return g


@pytest.mark.parametrize(("bus2", "want"), [("W", 50.0), ("E", 100.0)])
def test_regional_hosting_uses_only_the_buses_region(bus2, want):
    """examples.two_regions (line 1-2 rated 50 MW to generator 1, line 2-3 rated 100 MW to generator
    2) with bus 1 in region W and bus 3 in region E: a load at bus 2 in region W comes over line 1-2
    alone (50 MW), in region E over line 2-3 alone (100 MW); with headroom half over each (100 MW).
    Bus 1 in W has generator 1 beside it: its 500 MW of headroom."""
    g = _labelled_two_regions(bus2)
    f = security_hosting(g, slack="regional").set_index("bus")
    assert f.loc[2, "hosting_mw"] == pytest.approx(want, abs=1e-9)
    assert f.loc[1, "hosting_mw"] == pytest.approx(500.0, abs=1e-9) and f.loc[1, "limited_by"] == HEADROOM
    assert security_hosting(g, slack="headroom").set_index("bus").loc[2, "hosting_mw"] == pytest.approx(100.0)
    # N-1 takes the same supply groups (no outage here leaves the grid whole: every line is radial)
    n1 = security_hosting(g, slack="regional", security="n-1").set_index("bus")
    assert n1.loc[2, "hosting_mw"] == pytest.approx(want, abs=1e-9)


def test_regional_hosting_with_scenario_regions_and_buses_outside_them():
    """Regions from a scenario's supply.regions: only interconnect W is a region, so bus 3 (E) and
    bus 2 (E) are in none and host nothing, said as such; bus 1 keeps generator 1's headroom."""
    from planner.config.scenario import Region

    g = _labelled_two_regions("E")
    f = security_hosting(g, slack="regional", regions={"West": Region(interconnects=["W"])}).set_index("bus")
    assert f["hosting_mw"].to_dict() == pytest.approx({1: 500.0, 2: 0.0, 3: 0.0})
    assert f["limited_by"].to_dict() == {1: HEADROOM, 2: "no supply region", 3: "no supply region"}
    assert list(security_hosting(g, slack="regional")["bus"]) == [1, 2, 3]  # the order of the buses


def test_unknown_supply_is_a_clear_error():
    with pytest.raises(InputError, match="unknown supply response"):
        security_hosting(ex.triangle(), slack="nodal")


# --------------------------------------------------------------------------- the command line


@pytest.fixture(scope="module")
def texas_redispatch(tmp_path_factory):
    """``planner hosting --grid case_illinois200 --supply redispatch --out DIR`` as a user runs it (the
    files and maps, not the grid's size, are the point: pandapower's 200-bus Illinois case, which has
    coordinates; Texas redispatch hosting is checked against pandapower's DC OPF above)."""
    out = tmp_path_factory.mktemp("hosting") / "run"
    run = subprocess.run([sys.executable, "-m", "planner", "hosting", "--grid", "case_illinois200", "--supply",
                          "redispatch",
                          "--out", str(out)], capture_output=True, text=True, check=False, timeout=900)
    return run, out


def test_cli_writes_buses_and_both_maps(texas_redispatch):
    run, out = texas_redispatch
    assert run.returncode == 0, run.stderr
    buses = pd.read_csv(out / "buses.csv")
    assert len(buses) == 200
    for col in ("hosting_mw", "fixed_hosting_mw", "redispatch_ratio", "redispatch_mw", "redispatch_95_mw",
                "limiting_branch",
                "limited_by", "supply"):
        assert col in buses, col
    assert (buses["hosting_mw"] >= buses["fixed_hosting_mw"] - 1e-6).all()
    assert (buses["redispatch_mw"] >= -1e-6).all() and buses["redispatch_mw"].notna().all()
    # the last MW are the dearest: never more redispatch at 95 % of the hosting MW than at all of it
    assert (buses["redispatch_95_mw"] <= buses["redispatch_mw"] + 1e-3).all()
    assert buses["redispatch_95_mw"].median() < 0.5 * buses["redispatch_mw"].median()
    ratio = buses["redispatch_ratio"].dropna()
    assert ratio.min() >= 1 - 1e-9 and ratio.max() > 1.5
    # the console: a table by voltage level with the fixed median and the ratio, and the totals line
    assert "fixed_median_mw" in run.stdout and "median_ratio" in run.stdout
    assert "redispatch hosts" in run.stdout and "x the fixed-participation MW in all" in run.stdout
    geo = json.loads((out / "buses.geojson").read_text())
    assert len(geo["features"]) == 200 and "redispatch_ratio" in geo["features"][0]["properties"]
    for name in ("hosting.png", "hosting_ratio.png", "hosting.html"):
        assert (out / name).stat().st_size > 10_000, name


def test_ratio_png_is_a_drawn_map(texas_redispatch):
    """hosting_ratio.png opened as a person would: a map with many colours, the bar panel drawn."""
    import matplotlib.image

    _, out = texas_redispatch
    pixels = matplotlib.image.imread(out / "hosting_ratio.png")[..., :3]
    colours = np.unique((pixels.reshape(-1, 3) * 255).astype(np.uint8), axis=0)
    assert pixels.std() > 0.05 and len(colours) > 200
    # the bars (redispatch purple, #6a00a8) are drawn in the right-hand panel
    purple = np.all(np.abs(pixels - np.array([0x6a, 0x00, 0xa8]) / 255) < 0.02, axis=2)
    assert purple[:, int(pixels.shape[1] * 0.7):].sum() > 200


def test_hosting_html_renders_offline_with_three_views(texas_redispatch, tmp_path):
    from test_maps import CHROMIUM, _browser_errors

    _, out = texas_redispatch
    page = (out / "hosting.html").read_text(encoding="utf-8")
    for view in ("hosting MW with redispatch", "fixed-participation MW", "ratio redispatch \\u002f fixed"):
        assert view in page
    if CHROMIUM is None:
        pytest.skip("headless Chromium is not installed")
    errors, dom = _browser_errors(out / "hosting.html", tmp_path)
    assert errors == []
    assert dom.count('class="main-svg"') >= 2 and "updatemenu" in dom


@pytest.mark.parametrize(("args", "message"), [
    (["--regions", "texas"], "--regions applies to --supply regional only"),
    (["--supply", "nodal"], "'nodal' is not one of"),
])
def test_cli_usage_errors_exit_2(args, message):
    run = subprocess.run([sys.executable, "-m", "planner", "hosting", "--grid", "texas", *args], capture_output=True,
                         text=True, check=False, timeout=300)
    assert run.returncode == 2 and message in run.stderr and "Traceback" not in run.stderr
