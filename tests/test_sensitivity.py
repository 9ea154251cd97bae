"""DC sensitivities against pandapower's own makePTDF and rundcpp."""

import copy
import warnings

import numpy as np
import pytest

from planner.analysis.validate import run_dc
from planner.core.errors import InputError
from planner.network import sensitivity as sens

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from pandapower.pd2ppc import (
        _pd2ppc,  # pandapower's internal case, as planner.network.sensitivity builds it
    )
    from pandapower.pypower.makePTDF import makePTDF


@pytest.fixture(scope="module")
def texas_single(texas):
    return sens.dc_model(texas, "single")


@pytest.fixture(scope="module")
def texas_headroom(texas):
    return sens.dc_model(texas, "headroom")


def test_single_slack_ptdf_equals_makeptdf(texas, texas_single):
    m = texas_single
    _, ppci = _pd2ppc(texas.net)
    full = makePTDF(ppci["baseMVA"], ppci["bus"], ppci["branch"], slack=int(m.refs[0]))
    buses = np.random.default_rng(1).choice(m.bus_ids, 60, replace=False)
    cols = sens.ptdf(m, buses, chunk=17)  # several chunks
    assert np.abs(full[:, m.positions(buses)] - cols).max() < 1e-9


def test_single_slack_base_flows_equal_rundcpp(texas, texas_single):
    flows = run_dc(texas.net)
    keys = list(zip(texas.branches["element"].reindex(texas_single.branch_ids),
                    texas.branches["element_index"].reindex(texas_single.branch_ids)))
    assert np.abs(flows.reindex(keys).to_numpy() - texas_single.flow_mw).max() < 1e-6


def test_distributed_base_case_is_balanced_and_matches_rundcpp(texas, texas_headroom):
    m = texas_headroom
    # the lossless base case is balanced: the slack carries nothing
    assert abs(m.injection_mw.sum()) < 1e-6
    net = copy.deepcopy(texas.net)
    d = sens.dispatch(m, np.zeros(m.n_bus))
    net.gen.loc[d.index, "p_mw"] = d.to_numpy()
    flows = run_dc(net)
    keys = list(zip(texas.branches["element"].reindex(m.branch_ids),
                    texas.branches["element_index"].reindex(m.branch_ids)))
    assert np.abs(flows.reindex(keys).to_numpy() - m.flow_mw).max() < 1e-6
    assert abs(net.res_ext_grid["p_mw"].sum()) < 1e-6


@pytest.mark.parametrize("slack", ["headroom", "pmax"])
def test_distributed_column_equals_finite_difference(texas, slack):
    m = sens.dc_model(texas, slack)
    buses = m.bus_ids[[5, 500, 1500]]
    cols = sens.ptdf(m, buses)
    for j, b in enumerate(buses):
        load = np.zeros(m.n_bus)
        load[m.positions([b])] = 100.0
        change = sens.flows(m, load) - m.flow_mw  # 100 MW of load = -100 MW of injection
        assert np.abs(change + 100.0 * cols[:, j]).max() < 1e-8


def test_distributed_weights_sum_to_one_per_island(usa):
    m = sens.dc_model(usa, "headroom")
    w = m.gens.groupby("island")["weight"].sum()
    assert len(w) == 3 and np.allclose(w.to_numpy(), 1.0)
    assert (m.gens["weight"] >= 0).all()
    # headroom weights follow Pmax - Pg, clipped at 0
    real = m.gens[m.gens["gen"] >= 0]
    over = real["max_p_mw"] < real["p_mw"]
    assert (real.loc[over, "weight"] == 0).all()


def test_screen_never_drops_a_branch_that_could_overload(texas, texas_headroom):
    m = texas_headroom
    rng = np.random.default_rng(7)
    buses = rng.choice(m.bus_ids, 40, replace=False)
    s = -sens.ptdf(m, buses)
    cap = rng.uniform(50, 600, len(buses))
    mon = np.flatnonzero(m.monitored)
    kept = mon[sens.screen(m.flow_mw[mon], m.limit_mw[mon], s[mon], cap)]
    dropped = np.setdiff1d(mon, kept)
    assert 0 < len(kept) < m.monitored.sum()
    for _ in range(200):  # random allocations, including the box corners
        x = cap * rng.integers(0, 2, len(cap)) * rng.uniform(0.5, 1.0, len(cap))
        f = m.flow_mw + s @ x
        assert (np.abs(f[dropped]) <= m.limit_mw[dropped] + 1e-9).all()


def test_unknown_bus_and_slack_are_input_errors(texas, texas_headroom):
    with pytest.raises(InputError, match="bus"):
        sens.ptdf(texas_headroom, [123])
    with pytest.raises(InputError, match="slack"):
        sens.dc_model(texas, "nearest")
