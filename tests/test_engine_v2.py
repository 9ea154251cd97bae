"""Engine v2 foundations: PTDF rows by transposed solves, a DC model that pickles, LODF columns
shared by solves with other emergency factors."""

import pickle

import numpy as np
import pytest

import planner
from planner.network import sensitivity as sens


@pytest.mark.parametrize("slack", ["single", "headroom"])
def test_ptdf_rows_equal_the_columns(texas, slack):
    """Rows of Bf B^-1 (one transposed solve per branch) against columns (one solve per bus), 1e-10."""
    model = sens.dc_model(texas, slack)
    rng = np.random.default_rng(3)
    rows = np.sort(rng.choice(np.flatnonzero(model.monitored), 40, replace=False))
    buses = rng.choice(model.bus_ids, 60, replace=False)
    by_rows = sens.ptdf_rows(model, rows, buses)
    by_cols = sens.ptdf(model, buses, rows=rows)
    assert by_rows.shape == (40, 60)
    assert np.max(np.abs(by_rows - by_cols)) < 1e-10
    full = sens.ptdf_rows(model, rows[:3])  # every bus
    assert full.shape == (3, model.n_bus)
    assert np.max(np.abs(full[:, model.positions(buses)] - by_cols[:3])) < 1e-10


def test_dc_model_pickles_and_solves_the_same(texas):
    model = sens.dc_model(texas)
    back = pickle.loads(pickle.dumps(model))
    assert back.lu is not None
    load = np.zeros(model.n_bus)
    load[model.positions([3001071])] = 500.0
    assert np.max(np.abs(sens.flows(back, load) - sens.flows(model, load))) < 1e-9
    buses = model.bus_ids[:25]
    assert np.max(np.abs(sens.ptdf(back, buses) - sens.ptdf(model, buses))) < 1e-12


def test_lodf_columns_are_shared_across_emergency_factors(texas, texas_sites):
    """Two N-1 solves with other emergency factors on one model compute the LODF columns once; each
    uses its own emergency rating."""
    model = sens.dc_model(texas)
    a = planner.plan(texas, texas_sites, planner.Params(security="n-1"), model=model)
    cached = [k for k in model.cache if k[0] == "contingencies"]
    assert len(cached) == 1
    b = planner.plan(texas, texas_sites, planner.Params(security="n-1", emergency_rating_factor=1.5), model=model)
    assert [k for k in model.cache if k[0] == "contingencies"] == cached
    assert a.summary.n_1["emergency_rating_factor"] == 1.2
    assert b.summary.n_1["emergency_rating_factor"] == 1.5
    assert b.summary.n_1["pairs_over_emergency_rating"] == 0
    # a looser emergency rating never serves less
    assert b.summary.objective_usd >= a.summary.objective_usd * (1 - 1e-6)
    fresh = planner.plan(texas, texas_sites, planner.Params(security="n-1", emergency_rating_factor=1.5))
    assert fresh.summary.objective_usd == pytest.approx(b.summary.objective_usd, rel=1e-9)


def test_pandapower_internals_planner_relies_on():
    """planner.network.sensitivity builds its DC model from pandapower's internal case (the ppci rundcpp
    solves). pyproject pins pandapower below its next major version; this test fails loudly, naming
    what changed, if a release moves or changes any of it."""
    import inspect

    import pandapower
    from pandapower import auxiliary, pd2ppc
    from pandapower.pypower import idx_brch, idx_bus, idx_gen, makeBdc

    assert int(pandapower.__version__.split(".")[0]) == 3, pandapower.__version__
    for module, name in ((auxiliary, "_add_auxiliary_elements"), (auxiliary, "_clean_up"),
                         (auxiliary, "_init_rundcpp_options"), (pd2ppc, "_pd2ppc"), (makeBdc, "makeBdc")):
        assert callable(getattr(module, name, None)), f"pandapower moved or removed {module.__name__}.{name}"
    assert list(inspect.signature(makeBdc.makeBdc).parameters)[:2] == ["bus", "branch"]
    assert (idx_brch.F_BUS, idx_brch.T_BUS, idx_bus.BUS_TYPE, idx_bus.PD, idx_gen.GEN_BUS, idx_gen.PG) == \
        (0, 1, 1, 2, 0, 1)
    for option in ("trafo_model", "trafo_loading", "check_connectivity", "switch_rx_ratio", "trafo3w_losses"):
        assert option in inspect.signature(auxiliary._init_rundcpp_options).parameters, option
    # and the model built from them still reproduces rundcpp on a pandapower case
    net = pandapower.networks.case9()
    from planner.data.grid import grid_from_net

    model = sens.dc_model(grid_from_net(net, name="case9", source="pandapower.networks.case9"), "single")
    pandapower.rundcpp(net)
    assert set(net._pd2ppc_lookups) >= {"bus", "branch"}
    assert np.allclose(np.sort(np.abs(model.flow_mw)), np.sort(np.abs(net.res_line["p_from_mw"].to_numpy())),
                       atol=1e-6)


def test_import_planner_loads_no_heavy_library():
    """`import planner` (and the CLI module) leave pandapower, geopandas and matplotlib unloaded."""
    import subprocess
    import sys

    code = ("import sys, planner, planner.cli; heavy = [m for m in ('pandapower', 'geopandas', 'matplotlib', "
            "'pulp', 'scipy') if m in sys.modules]; print(','.join(heavy))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == ""


def test_python_api_rejects_an_infinite_budget(texas, texas_sites):
    with pytest.raises(planner.InputError, match="max_capex_usd"):
        planner.plan(texas, texas_sites, planner.Params(max_capex_usd=float("inf")))


def test_redispatch_ptdf_rows_are_computed_once_per_grid(texas, texas_sites, monkeypatch):
    """The single-slack PTDF rows redispatch needs depend on the topology only: a second solve on
    the same DC model (other economics, here an emergency factor and a security level) computes
    no row that the first one computed."""
    model = sens.dc_model(texas)
    calls = []
    real = sens.ptdf_rows

    def counting(m, rows, *args, **kwargs):
        calls.append(len(rows))
        return real(m, rows, *args, **kwargs)

    monkeypatch.setattr(sens, "ptdf_rows", counting)
    params = {"supply_response": "redispatch", "check_existing_load": False}
    first = planner.plan(texas, texas_sites, planner.Params(**params), model=model)
    n_first = sum(calls)
    assert n_first > 0 and len(model.cache["single_slack_ptdf_rows"]) == n_first
    calls.clear()
    again = planner.plan(texas, texas_sites, planner.Params(**params), model=model)
    assert sum(calls) == 0
    assert again.summary.objective_usd == pytest.approx(first.summary.objective_usd, rel=1e-9)


def test_ptdf_columns_are_computed_once_for_solves_on_the_same_buses(texas, texas_sites, monkeypatch):
    """A second plan on the same model and sites (another economics, as in a sweep) reuses the PTDF
    columns of the first; the kept matrix is read-only, so no caller can change it for the next."""
    model = sens.dc_model(texas)
    calls = []
    real = sens.solve_flows

    def counting(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(sens, "solve_flows", counting)
    first = planner.plan(texas, texas_sites, planner.Params(check_existing_load=False), model=model)
    assert calls
    calls.clear()
    e = planner.Economics(hashprice_usd_per_ph_day=55.0)
    again = planner.plan(texas, texas_sites, planner.Params(economics=e, check_existing_load=False), model=model)
    assert not calls
    kept = model.cache["ptdf_columns"][1]
    assert not kept.flags.writeable
    assert again.summary.objective_usd != first.summary.objective_usd
