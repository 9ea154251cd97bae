"""The grid: the built net equals the raw TAMU tables (DC flows, AC admittances),
the data traps are handled, and every source (built-in, .m, .json, pandapower
case) loads."""


import numpy as np
import pandapower as pp
import pandas as pd
import pytest
from dc_reference import dc_flows, dc_flows_from_tables, raw_tables, ybus_from_tables

from planner.core.errors import InputError
from planner.data.datasets import grid_file
from planner.data.grid import load_grid
from planner.network.topology import summary, topology


def branch_flows_from_net(grid) -> np.ndarray:
    """Flow at each branch's from bus (MW) from pandapower's results."""
    net, br = grid.net, grid.branches
    line = net.res_line["p_from_mw"].reindex(br["element_index"]).to_numpy()
    hv = net.res_trafo["p_hv_mw"].reindex(br["element_index"]).to_numpy()
    lv = net.res_trafo["p_lv_mw"].reindex(br["element_index"]).to_numpy()
    hv_is_from = (net.trafo["hv_bus"].reindex(br["element_index"]).to_numpy() == br["from_bus"].to_numpy())
    trafo = np.where(hv_is_from, hv, lv)
    return np.where(br["element"] == "line", line, trafo)


def test_texas_is_activsg2000(texas):
    info = summary(texas)
    assert info["buses"] == 2000
    assert info["branches"] == 3206
    assert info["load_mw"] == pytest.approx(67109.21, abs=0.01)
    # ACTIVSg2000 numbers its buses 1001..8160; the TAMU grid adds 3,000,000
    ids = texas.buses.index.to_numpy() - 3_000_000
    assert ids.min() >= 1001 and ids.max() <= 8160
    assert info["islands"] == 1
    assert info["radial_branches"] == 450
    assert len(texas.net.ext_grid) == 1


@pytest.mark.parametrize("name,interconnect", [("texas", "Texas"), ("western", "Western")])
def test_dc_flows_equal_independent_solve(name, interconnect, request):
    grid = request.getfixturevalue(name)
    net = grid.net
    pp.rundcpp(net)
    ours = branch_flows_from_net(grid)
    ref = dc_flows(interconnect).reindex(grid.branches.index).to_numpy()
    assert np.isfinite(ours).all()
    assert np.max(np.abs(ours - ref)) < 0.01  # MW, every branch


@pytest.mark.parametrize("name,interconnect", [("texas", "Texas"), ("western", "Western")])
def test_ac_model_equals_matpower_ybus(name, interconnect, request):
    """pandapower's internal Ybus equals MATPOWER's makeYbus of the raw tables:
    off-nominal taps on either side, negative reactances, line charging, shunts."""
    grid = request.getfixturevalue(name)
    net = grid.net
    pp.runpp(net)
    assert net.converged
    ybus = net._ppc["internal"]["Ybus"]
    ids = net.bus.index.to_numpy()
    order = np.empty(len(ids), dtype=np.int64)
    order[net._pd2ppc_lookups["bus"][ids]] = ids
    t = raw_tables(interconnect)
    ref = ybus_from_tables(t["bus"], t["branch"], order)
    assert abs(ybus - ref).max() < 1e-8


@pytest.mark.parametrize("name", ["texas", "western"])
def test_ac_power_flow_converges(name, request):
    net = request.getfixturevalue(name).net
    pp.runpp(net)
    assert net.converged
    vm = net.res_bus["vm_pu"]
    assert 0.8 < vm.min() and vm.max() < 1.2


def test_unrated_branches_are_unmonitored_not_zero(western):
    br = western.branches
    raw = raw_tables("Western")["branch"].set_index("branch_id")
    zero = raw["rateA"] == 0
    assert zero.sum() > 0
    assert (~br.loc[zero[zero].index, "monitored"]).all()
    assert br.loc[zero[zero].index, "rate_mw"].isna().all()
    assert (br.loc[zero[~zero].index, "rate_mw"] == raw.loc[~zero, "rateA"]).all()


def test_negative_reactance_and_low_side_taps_are_transformers(usa):
    br = usa.branches
    raw = pd.read_csv(grid_file("branches.csv.gz")).set_index("branch_id")
    neg = raw.index[raw["x"] < 0]
    assert len(neg) == 1558
    assert (br.loc[neg, "kind"] == "transformer").all()
    assert (br.loc[neg, "x_pu"] < 0).all()
    net_x = usa.net.trafo.loc[neg, "vk_percent"]
    assert (net_x < 0).all()


@pytest.mark.slow
def test_usa_counts(usa):
    info = summary(usa)
    assert info["buses"] == 82071
    assert info["branches"] == 104192
    assert info["unmonitored_branches"] == 22052
    assert info["load_mw"] == pytest.approx(812684.74, abs=0.01)
    assert info["dc_lines"] == 17
    assert info["islands"] == 3
    assert set(info["interconnects"]) == {"Eastern", "Western", "Texas"}
    assert info["interconnects"]["Eastern"]["buses"] == 70047
    # one slack per interconnect
    slack_ic = usa.buses.loc[usa.net.ext_grid["bus"], "interconnect"]
    assert sorted(slack_ic) == ["Eastern", "Texas", "Western"]


def test_single_interconnect_keeps_dc_ties_as_injections(texas):
    ties = texas.net.sgen[texas.net.sgen["type"] == "dc tie"]
    assert sorted(ties["p_mw"]) == [200.0, 600.0]
    assert set(ties["bus"]) == {3002054, 3008126}


@pytest.mark.slow
def test_texas_inside_usa_has_the_same_flows(usa, texas):
    pp.rundcpp(usa.net)
    pp.rundcpp(texas.net)
    inside = texas.branches.index
    a = branch_flows_from_net(usa)[usa.branches.index.get_indexer(inside)]
    b = branch_flows_from_net(texas)
    assert np.max(np.abs(a - b)) < 1e-6


MATPOWER_CASE = """function mpc = tiny
% three buses: a 230/115 kV transformer with its tap on the 115 kV (from) side,
% a line, and a branch with negative reactance (a star leg)
mpc.version = '2';
mpc.baseMVA = 100;
mpc.bus = [
	1	3	0	0	0	0	1	1	0	230	1	1.1	0.9;
	2	1	150	30	0	10	1	1	0	115	1	1.1	0.9;
	3	1	80	20	0	0	1	1	0	115	1	1.1	0.9;
];
mpc.gen = [
	1	240	0	300	-300	1.02	100	1	400	0;
];
mpc.branch = [
	2	1	0.002	0.08	0	200	0	0	1.05	0	1	-360	360;
	2	3	0.01	0.05	0.02	100	0	0	0	0	1	-360	360;
	1	3	0.001	-0.01	0	0	0	0	0	0	1	-360	360;
	1	3	0.003	0.12	0	0	0	0	0.98	3	1	-360	360;
];
"""


def test_matpower_file_loads_and_matches_reference(tmp_path):
    path = tmp_path / "tiny.m"
    path.write_text(MATPOWER_CASE)
    grid = load_grid(path)
    assert len(grid.buses) == 3 and len(grid.branches) == 4
    assert list(grid.branches["kind"]) == ["transformer", "line", "transformer", "transformer"]
    assert grid.branches["monitored"].tolist() == [True, True, False, False]
    pp.rundcpp(grid.net)
    t = grid.tables
    ref = dc_flows_from_tables(t.bus, t.branch, t.gen, None).to_numpy()
    assert np.max(np.abs(branch_flows_from_net(grid) - ref)) < 1e-9
    # AC admittances too: tap on the low side (branch 0), a phase shifter (branch 3)
    pp.runpp(grid.net)
    ids = grid.net.bus.index.to_numpy()
    order = np.empty(3, dtype=np.int64)
    order[grid.net._pd2ppc_lookups["bus"][ids]] = ids
    ref_y = ybus_from_tables(t.bus, t.branch, order)
    assert abs(grid.net._ppc["internal"]["Ybus"] - ref_y).max() < 1e-9


def test_texas_net_carries_the_shipped_generator_costs(texas):
    net = texas.net
    cost = net.poly_cost
    # one polynomial cost per generator, out-of-service ones included; no piecewise-linear costs
    assert len(cost) == len(net.gen) == 598 and len(net.pwl_cost) == 0
    assert (cost["et"] == "gen").all() and cost["element"].is_unique
    assert set(cost["element"]) == set(net.gen.index)
    by_gen = cost.set_index("element")
    # plant_id: (c2 $/MW^2h, c1 $/MWh, c0 $/h) as in grids/tamu_usa/gencost.csv.gz
    shipped = {
        12889: (0.00109, 23.8296, 800.169),   # gas, in service
        12887: (0.00109, 25.4352, 1185.7),    # gas, out of service: keeps its cost
        13086: (0.0, 6.975, 1485.46),         # nuclear: linear (c2 = 0)
        12875: (0.0, 0.0, 0.0),               # wind: no cost at all
    }
    for plant, (c2, c1, c0) in shipped.items():
        row = by_gen.loc[plant]
        assert (row["cp2_eur_per_mw2"], row["cp1_eur_per_mw"], row["cp0_eur"]) == (c2, c1, c0)
        assert (row["cq0_eur"], row["cq1_eur_per_mvar"], row["cq2_eur_per_mvar2"]) == (0.0, 0.0, 0.0)
    assert not net.gen.loc[12887, "in_service"] and net.gen.loc[12889, "in_service"]
    assert (cost["cp2_eur_per_mw2"] >= 0).all()


def test_shipped_gencost_file_facts():
    """The facts grids/README.md states about gencost.csv.gz."""
    cost = pd.read_csv(grid_file("gencost.csv.gz"))
    plants = pd.read_csv(grid_file("plants.csv.gz"))
    assert list(cost.columns) == ["plant_id", "type", "n", "c2", "c1", "c0"]
    assert cost["plant_id"].tolist() == plants["plant_id"].tolist()  # 14,050, same order
    assert (cost["type"] == 2).all() and (cost["n"] == 3).all()
    assert (cost[["c2", "c1", "c0"]] >= 0).all().all()  # convex everywhere
    free = (cost[["c2", "c1", "c0"]] == 0).all(axis=1)
    assert free.sum() == 5448
    assert set(plants.loc[free, "type"]) == {"hydro", "solar", "wind", "wind_offshore", "geothermal", "other"}
    assert cost.loc[~free, "c1"].min() == 5.81327 and cost["c1"].max() == 132.047


MATPOWER_COST_CASE = MATPOWER_CASE.replace(
    "mpc.gen = [\n\t1\t240\t0\t300\t-300\t1.02\t100\t1\t400\t0;\n];",
    "mpc.gen = [\n\t1\t240\t0\t300\t-300\t1.02\t100\t1\t400\t0;\n"
    "\t2\t0\t0\t50\t-50\t1.0\t100\t0\t80\t0;\n"
    "\t3\t0\t0\t50\t-50\t1.0\t100\t1\t100\t0;\n];",
) + """mpc.gencost = [
	2	0	0	3	0.01	20	100	0	0	0;
	2	0	0	2	15	50	0	0	0	0;
	1	0	0	3	0	0	50	1000	100	3000;
];
"""


def test_matpower_gencost_polynomial_and_piecewise_linear(tmp_path):
    path = tmp_path / "costs.m"
    path.write_text(MATPOWER_COST_CASE)
    net = load_grid(path).net
    assert len(net.gen) == 3
    poly = net.poly_cost.set_index("element")
    assert sorted(poly.index) == [0, 1] and (poly["et"] == "gen").all()
    assert poly.loc[0, ["cp2_eur_per_mw2", "cp1_eur_per_mw", "cp0_eur"]].tolist() == [0.01, 20.0, 100.0]
    # n = 2: c1, c0 (out-of-service gen 1 keeps its cost)
    assert poly.loc[1, ["cp2_eur_per_mw2", "cp1_eur_per_mw", "cp0_eur"]].tolist() == [0.0, 15.0, 50.0]
    assert not net.gen.loc[1, "in_service"]
    # points (0, 0), (50, 1000), (100, 3000) MW, $/h: slopes 20 and 40 $/MWh
    assert len(net.pwl_cost) == 1
    pwl = net.pwl_cost.iloc[0]
    assert (pwl["element"], pwl["et"], pwl["power_type"]) == (2, "gen", "p")
    assert [list(seg) for seg in pwl["points"]] == [[0.0, 50.0, 20.0], [50.0, 100.0, 40.0]]
    # reactive power cost rows (ng + 1 .. 2 ng) are accepted and not kept
    with_q = MATPOWER_COST_CASE.replace("3000;\n];", "3000;\n" + "\t2\t0\t0\t2\t1\t0\t0\t0\t0\t0;\n" * 3 + "];")
    path.write_text(with_q)
    again = load_grid(path).net
    assert again.poly_cost[["cp1_eur_per_mw", "cq1_eur_per_mvar"]].to_numpy().tolist() == [[20.0, 0.0], [15.0, 0.0]]
    assert len(again.pwl_cost) == 1
    # the costs survive pandapower JSON, and a case without gencost has none
    pp.to_json(net, str(tmp_path / "costs.json"))
    back = load_grid(tmp_path / "costs.json").net
    assert len(back.poly_cost) == 2 and len(back.pwl_cost) == 1
    path.write_text(MATPOWER_CASE)
    plain = load_grid(path).net
    assert len(plain.poly_cost) == 0 and len(plain.pwl_cost) == 0


@pytest.mark.parametrize("rows,message", [
    (["3	0	0	3	0.01	20	100	0	0	0"],
     r"field 'mpc.gencost row 1 MODEL': unknown cost model; got 3\.0; expected 1 \(piecewise linear\) or 2"),
    (["2	0	0	4	1	0.01	20	100	0	0"], r"field 'mpc.gencost row 1 NCOST'.*got 4\.0.*1, 2 or 3 coefficients"),
    (["1	0	0	2	50	0	10	100	0	0"], r"field 'mpc.gencost row 1 COST'.*p \(MW\) strictly increasing"),
    (["1	0	0	4	0	0	50	1000	100	3000"], r"field 'mpc.gencost row 1 NCOST'.*got 4\.0"),
    (["2	0	0	2	10	0"] * 3, r"field 'mpc.gencost': 3 rows for 1 generators.*\(1 rows\), or two \(2 rows"),
], ids=["model 3", "cubic", "pwl decreasing p", "pwl too many points", "row count"])
def test_bad_matpower_gencost(tmp_path, rows, message):
    path = tmp_path / "bad_cost.m"
    path.write_text(MATPOWER_CASE + "mpc.gencost = [\n" + "".join(f"\t{r};\n" for r in rows) + "];\n")
    with pytest.raises(InputError, match=r"bad_cost\.m, " + message):
        load_grid(path)


def test_pandapower_case_and_json_load(tmp_path):
    grid = load_grid("case118")
    assert len(grid.buses) == 118
    assert len(grid.branches) == len(grid.net.line) + len(grid.net.trafo)
    path = tmp_path / "case118.json"
    pp.to_json(grid.net, str(path))
    again = load_grid(path)
    assert len(again.buses) == 118 and len(again.branches) == len(grid.branches)


@pytest.mark.parametrize("name,message", [
    ("nowhere", "unknown grid"),
    ("missing.json", "no such file"),
    ("missing.m", "no such file"),
])
def test_bad_grid_names(name, message):
    with pytest.raises(InputError, match=message):
        load_grid(name)


def test_bad_matpower_file(tmp_path):
    path = tmp_path / "bad.m"
    path.write_text("mpc.bus = [1 3 0 0 0 0 1 1 0 230 1 1.1 0.9];\n")
    with pytest.raises(InputError, match="mpc.gen"):
        load_grid(path)
    bad_ref = MATPOWER_CASE.replace("1	240	0	300", "7	240	0	300")
    path.write_text(bad_ref)
    with pytest.raises(InputError, match="mpc.gen column bus_id.*got 7"):
        load_grid(path)


def test_topology_counts_parallel_branches_as_not_radial(texas):
    """A hand-made 4-bus graph: 1-2 doubled, 2-3, 3-4 and 4-2 a ring; island of bus 5."""
    import geopandas as gpd

    buses = gpd.GeoDataFrame(index=pd.Index([1, 2, 3, 4, 5], name="bus_id"))
    branches = pd.DataFrame({
        "from_bus": [1, 1, 2, 3, 4], "to_bus": [2, 2, 3, 4, 2], "in_service": True,
    }, index=[10, 11, 12, 13, 14])
    topo = topology(buses, branches)
    assert topo.islands == 2
    assert list(topo.radial_branches) == []
    topo = topology(buses, branches.drop(index=11))
    assert list(topo.radial_branches) == [10]
    # on Texas, removing a radial branch really splits the grid
    import networkx as nx

    t = topology(texas.buses, texas.branches)
    br = texas.branches
    one = t.radial_branches[0]
    g = nx.MultiGraph()
    g.add_nodes_from(texas.buses.index)
    keep = br.drop(index=one)
    g.add_edges_from(zip(keep["from_bus"], keep["to_bus"]))
    assert nx.number_connected_components(g) == 2
