"""planner's redispatch supply response against PyPSA's own ``optimize()`` on the same Texas network,
candidate loads, generator limits and cost curves (tests/pypsa_reference.py builds the PyPSA network):
the objective is equal to 1e-6 relative.

PyPSA is in the test extras (``pypsa>=1.2.4,<1.3``: 1.3 needs pandas 3, which pandapower 3.5 does
not support); where it cannot be installed the test is skipped with that reason."""

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("pypsa", reason="PyPSA is not installed (pip install 'pypsa>=1.2.4,<1.3'; "
                                    "PyPSA 1.3 needs pandas 3, which pandapower 3.5 does not support)")

from pypsa_reference import solve_redispatch

import planner
from planner.network import sensitivity as sens
from planner.network.redispatch import energy_payment_usd_per_mw
from planner.optimization import model as mdl


def _candidates(grid, k: int, seed: int) -> pd.DataFrame:
    """``k`` greenfield AI campuses at distinct buses of >= 115 kV (no minimum block: the problem is
    an LP, which is what PyPSA's native redispatch solves)."""
    rng = np.random.default_rng(seed)
    b = grid.buses[(grid.buses["kv"] >= 115) & grid.buses.geometry.notna()]
    pick = b.sample(k, random_state=seed)
    return pd.DataFrame({
        "site_id": [f"c{i}" for i in range(k)], "bus": pick.index.to_numpy(), "status": "mapped",
        "bus_interconnect": pick["interconnect"].to_numpy(), "poi_mw": rng.uniform(100, 800, k).round(),
        "operating_mw": 0.0, "current_use": "development",
        "ai_lease_usd_per_kw_month": rng.uniform(80, 260, k).round(),
        "ai_capex_usd_per_mw": rng.uniform(2e6, 11e6, k), "min_block_mw": 0.0,
    })


def test_redispatch_objective_equals_pypsa_optimize_on_texas(texas):
    sites = _candidates(texas, 60, 11)
    # one state (every MW firm, no off-peak hour), N-0, no pools: the problem PyPSA states natively
    params = planner.Params(supply_response="redispatch", min_block_mw=0, allow_ai_cloud=False, mining_firm_share=1.0,
                            ai_firm_share=1.0, offpeak_load_factor=1.0, mip_gap=0.0,
                            check_existing_load=False).validate()
    model = sens.dc_model(texas, "headroom")
    result = planner.plan(texas, sites, params, model=model)
    assert result.status == "optimal"

    cand = mdl.candidates(sites, params)
    net = params.supply.network(model, texas, cand, params)
    costs = net.costs
    n_seg = costs.slopes.shape[1]
    curves = pd.DataFrame({"gen": np.repeat(costs.gens["gen"].to_numpy(), n_seg),
                           "segment": np.tile(np.arange(n_seg), len(costs.gens)),
                           "width_mw": np.repeat(costs.width, n_seg),
                           "cost_usd_per_mwh": costs.slopes.ravel()})
    # the value of a MW to planner's objective: its NPV plus the energy payment (README "Supply response")
    pay = energy_payment_usd_per_mw(params, [{"mining": 1.0, "ai": 1.0}])["ai"]
    f = cand.frame
    value = f["v_ai_usd_per_mw"].to_numpy() + pay
    table = pd.DataFrame({"name": f["site_id"].to_numpy(), "bus": np.asarray(cand.buses)[cand.bus_of_site],
                          "cap_mw": f["ai_cap_mw"].to_numpy(), "value_usd_per_mw": value})
    ref = solve_redispatch(model, texas, table, curves, cost_factor=net.weights["peak"], post_processing=False)
    assert ref["info"]["condition"] == "optimal"

    lo_cost = costs.cost_at(costs.gens["lo_mw"].to_numpy()).sum()

    def objective(served_mw: np.ndarray, gen_mw: np.ndarray) -> float:
        """Value of the served MW less the NPV of generation cost above the generators' lower limits."""
        return float(value @ served_mw - net.weights["peak"] * (costs.cost_at(gen_mw).sum() - lo_cost))

    alloc = result.allocation.set_index("site_id").loc[f["site_id"], "ai_mw"].to_numpy(float)
    disp = result.dispatch_table.set_index("gen").loc[costs.gens["gen"], "p_mw"].to_numpy(float)
    ours = objective(alloc, disp)
    theirs = objective(ref["served_mw"].reindex(f["site_id"]).fillna(0.0).to_numpy(float),
                       ref["generator_mw"].reindex(costs.gens["gen"]).to_numpy(float))
    assert ours == pytest.approx(theirs, rel=1e-6)
    assert ours == pytest.approx(-ref["objective"], rel=1e-6)  # PyPSA's own objective, sign flipped
    assert 0 < alloc.sum() < f["ai_cap_mw"].sum()  # a case where the network binds: not all or nothing
