"""The lazy loop's bounds on work (planner.optimization.solve): a round adds at most ``ROWS_PER_ROUND``
network rows, the most violated first, and a MILP is handed only the rows its LP relaxation holds
within ``PARK_SLACK_MW`` of their limits (the others parked, and handed back when the MILP's
allocation is over one). Neither changes the answer: the allocation, the NPV and the prices are those
of the loop without either bound."""

import logging
import re
import warnings

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest

import planner
from planner.optimization import solve

UNBOUNDED = {"ROWS_PER_ROUND": 10**9, "PARK_SLACK_MW": np.inf}


@pytest.fixture(scope="module")
def sites(texas):
    """80 candidates at Texas buses of 115 kV or more: half mines (with a binary AI block each), half
    development sites, so the network binds at many buses and the MILP has binaries."""
    rng = np.random.default_rng(3)
    b = texas.buses[(texas.buses["kv"] >= 115) & texas.buses.geometry.notna()]
    pick = b.sample(80, random_state=3)
    mine = rng.random(80) < 0.5
    cap = rng.uniform(50, 400, 80).round()
    frame = pd.DataFrame({
        "site_id": [f"s{i}" for i in range(80)], "bus": pick.index.to_numpy(), "status": "mapped",
        "bus_interconnect": pick["interconnect"].to_numpy(), "poi_mw": cap,
        "operating_mw": np.where(mine, (cap * rng.uniform(0.3, 1.0, 80)).round(), 0.0),
        "current_use": np.where(mine, "bitcoin", "development"),
        "ai_lease_usd_per_kw_month": rng.uniform(120, 260, 80).round(),
        "ai_capex_usd_per_mw": np.where(mine, 2e6, rng.uniform(2e6, 11e6, 80)),
    })
    return gpd.GeoDataFrame(frame, geometry=pick.geometry.to_numpy(), crs="EPSG:4326")


def _plan(texas, sites, monkeypatch, caplog, **consts):
    for name, value in {**UNBOUNDED, **consts}.items():
        monkeypatch.setattr(solve, name, value)
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="planner.optimization.solve"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = planner.plan(texas, sites, planner.Params())
    return result, [r.getMessage() for r in caplog.records]


def _assert_same_answer(a, b):
    assert a.status == b.status == "optimal"
    assert a.summary.tie_break["status"] == b.summary.tie_break["status"] == "optimal"
    assert a.summary.objective_usd == b.summary.objective_usd
    for col in ("ai_mw", "ai_cloud_mw", "kept_mining_mw", "new_mining_mw", "marginal_value_usd_per_mw"):
        np.testing.assert_allclose(a.allocation[col].to_numpy(float), b.allocation[col].to_numpy(float),
                                   atol=1e-6, rtol=0, err_msg=col)
    ka, kb = (r.branches.set_index("branch_id")["shadow_price_usd_per_mw"] for r in (a, b))
    np.testing.assert_allclose(ka.to_numpy(float), kb.reindex(ka.index).to_numpy(float), atol=1e-3, rtol=1e-9)


def _added_per_round(log: list[str]) -> list[int]:
    return [int(m.group(1)) for line in log if (m := re.search(r"lazy round \d+ \(\w+\): .*?, (\d+) rows added", line))]


def test_a_round_adds_at_most_the_cap_and_the_answer_does_not_change(texas, sites, monkeypatch, caplog):
    free, free_log = _plan(texas, sites, monkeypatch, caplog)
    assert max(_added_per_round(free_log)) > 5  # without the cap, a round adds more than 5 rows
    capped, log = _plan(texas, sites, monkeypatch, caplog, ROWS_PER_ROUND=5)
    assert 0 < max(_added_per_round(log)) <= 5
    assert capped.summary.network["lazy_rounds"] > free.summary.network["lazy_rounds"]
    _assert_same_answer(capped, free)


def test_a_milp_gets_the_rows_near_their_limits_and_parked_rows_come_back(texas, sites, monkeypatch, caplog):
    free, _ = _plan(texas, sites, monkeypatch, caplog)
    parked, log = _plan(texas, sites, monkeypatch, caplog, PARK_SLACK_MW=20.0)
    kept = [re.search(r"MILP with (\d+) of (\d+) network rows", line) for line in log]
    kept = [(int(m.group(1)), int(m.group(2))) for m in kept if m]
    assert kept and kept[0][0] < kept[0][1]  # some rows were parked
    _assert_same_answer(parked, free)
    # every row parked (a slack of more than -1 MW: all of them): the MILP's first allocation is over
    # some, which are handed back, and the pricing LP after it has every row again
    everything, log = _plan(texas, sites, monkeypatch, caplog, PARK_SLACK_MW=-1.0)
    assert any(re.search(r"lazy round \d+ \(MILP\): .*\((\d+) of them parked before\)", line) for line in log)
    _assert_same_answer(everything, free)


def test_n1_waits_while_n0_rows_fill_the_round_and_the_answer_does_not_change(texas, sites, monkeypatch):
    """A capped round that the N-0 rows fill does not check the outages (the first round of usa
    N-1 with 2,000 sites found 983 million pairs over); a round that does not check them always
    has rows over (so the loop goes on), and the N-1 answer is that of the uncapped loop."""
    from planner.network.security import Contingencies, Network

    calls, outages = [], []
    real_net, real_c = Network.violations, Contingencies.violations

    def c_spy(self, *a, **k):
        outages.append(1)
        return real_c(self, *a, **k)

    def net_spy(self, loads, near, cap=None, known=None):
        outages.clear()
        out = real_net(self, loads, near, cap, known)
        calls.append((cap, bool(outages), out[1]))
        return out

    monkeypatch.setattr(Contingencies, "violations", c_spy)
    monkeypatch.setattr(Network, "violations", net_spy)

    def n1(**consts):
        for name, value in {**UNBOUNDED, **consts}.items():
            monkeypatch.setattr(solve, name, value)
        calls.clear()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return planner.plan(texas, sites, planner.Params(security="n-1")), list(calls)

    free, free_calls = n1()
    capped, capped_calls = n1(ROWS_PER_ROUND=3)
    assert all(checked for _, checked, _ in free_calls)
    waited = [(cap, n_over) for cap, checked, n_over in capped_calls if not checked]
    assert waited and all(n_over >= cap for cap, n_over in waited)
    assert capped.summary.network["lazy_rows_by_kind"].get("n-1 peak", 0) > 0  # N-1 rows bind
    _assert_same_answer(capped, free)
