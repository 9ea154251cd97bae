"""The miner's three paths: keep mining, lease a powered shell, run an AI cloud. Hand cases whose
values come from monthly cash flows written out here (not from planner.economics), the
cloud-versus-lease threshold, one path per site, and the per-site path report."""

import json
import subprocess
import sys

import numpy as np
import pytest

import planner
from planner import economics as E
from planner.data import examples as ex

FIRM = {"mining_firm_share": 1.0, "offpeak_load_factor": 1.0, "supply_response": "single", "mip_gap": 0.0}


def cloud_npv_by_hand(e: planner.Economics, revenue: float, capex: float, lead: float) -> float:
    """One grid MW run as a cloud, month by month: shell capex today; from month lead + extra on,
    (revenue x u - opex) / PUE - power x u each month (paid at its end); GPUs (capex per IT MW / PUE)
    bought at that month and every life after, before the horizon; the last fleet's unused life
    (straight line) back at the horizon."""
    monthly = (1 + e.discount_rate) ** (1 / 12) - 1
    horizon = int(e.horizon_years * 12)
    start = lead + e.ai_cloud_extra_lead_months
    u = e.ai_cloud_utilisation
    per_month = ((revenue * u - e.ai_cloud_opex_usd_per_it_mw_year) / e.ai_pue
                 - 8760 * u * e.power_price_usd_per_mwh) / 12
    value = -capex
    for m in range(1, horizon + 1):
        if m > start:
            value += per_month / (1 + monthly) ** m
    gpu = e.ai_cloud_gpu_capex_usd_per_it_mw / e.ai_pue
    life = e.ai_cloud_gpu_life_years * 12
    t = start
    while t < horizon:
        value -= gpu / (1 + monthly) ** t
        last = t
        t += life
    value += gpu * max(last + life - horizon, 0) / life / (1 + monthly) ** horizon
    return value


def lease_npv_by_hand(e: planner.Economics, lease: float, capex: float, lead: float) -> float:
    monthly = (1 + e.discount_rate) ** (1 / 12) - 1
    per_month = (lease - e.ai_opex_usd_per_kw_month) * 1000 / e.ai_pue
    return -capex + sum(per_month / (1 + monthly) ** m for m in range(1, int(e.horizon_years * 12) + 1) if m > lead)


def one_site(revenue: float, **site):
    g = ex.triangle()  # bus 2 alone hosts 150 MW: the 100 MW site is never limited by the network
    row = {"site_id": "S", "bus": 2, "poi_mw": 100, "current_use": "development", "ai_capex_usd_per_mw": 2e6,
           "ai_lead_months": 12, "ai_lease_usd_per_kw_month": 150, **site}
    econ = planner.Economics(ai_cloud_revenue_usd_per_it_mw_year=revenue)
    return planner.plan(g, ex.sites_at(g, [row]), planner.Params(**FIRM, economics=econ)), econ


def test_cloud_npv_matches_monthly_cash_flows():
    e = planner.Economics()
    for revenue, capex, lead in ((9.7e6, 2e6, 12), (14e6, 11e6, 36), (5e6, 0.0, 0)):
        got = float(E.ai_cloud_npv_per_mw(e, capex_usd_per_mw=capex, lead_months=lead,
                                          revenue_usd_per_it_mw_year=revenue))
        assert got == pytest.approx(cloud_npv_by_hand(e, revenue, capex, lead), rel=1e-10)
    assert float(E.ai_npv_per_mw(e, lease_usd_per_kw_month=150, capex_usd_per_mw=2e6, lead_months=12)) == \
        pytest.approx(lease_npv_by_hand(e, 150, 2e6, 12), rel=1e-10)


def test_cloud_wins_above_the_hand_threshold_and_the_lease_below_it():
    """The revenue at which the cloud and the lease are worth the same, solved from the hand cash
    flows (both linear in the revenue); 1 % above it the site runs a cloud, 1 % below it leases."""
    e = planner.Economics()
    lease = lease_npv_by_hand(e, 150, 2e6, 12)
    a, b = cloud_npv_by_hand(e, 0.0, 2e6, 12), cloud_npv_by_hand(e, 1e7, 2e6, 12)
    threshold = (lease - a) / (b - a) * 1e7
    assert float(E.ai_cloud_breakeven_revenue(e, lease, capex_usd_per_mw=2e6, lead_months=12)) == \
        pytest.approx(threshold, rel=1e-9)
    above, econ = one_site(threshold * 1.01)
    s = above.allocation.set_index("site_id").loc["S"]
    assert s["path"] == "ai_cloud" and s["ai_cloud_mw"] == pytest.approx(100) and s["ai_lease_mw"] == 0
    assert above.summary.objective_usd == pytest.approx(100 * cloud_npv_by_hand(econ, threshold * 1.01, 2e6, 12),
                                                           rel=1e-9)
    assert s["best_other_path"] == "ai_lease"
    assert s["margin_usd_per_w"] == pytest.approx((cloud_npv_by_hand(econ, threshold * 1.01, 2e6, 12) - lease) / 1e6,
                                                  rel=1e-6)
    assert above.summary.paths["ai_cloud"] == {"mw": 100.0, "sites": 1, "value_usd": pytest.approx(
        above.summary.objective_usd, rel=1e-9)}
    # the cloud is AI load: it is served AI, and its GPUs are capex
    assert above.summary.served_ai_mw == pytest.approx(100)
    assert above.summary.capex_usd == pytest.approx(100 * (2e6 + e.ai_cloud_gpu_capex_usd_per_it_mw / e.ai_pue))
    below, _ = one_site(threshold * 0.99)
    s = below.allocation.set_index("site_id").loc["S"]
    assert s["path"] == "ai_lease" and s["ai_lease_mw"] == pytest.approx(100) and s["ai_cloud_mw"] == 0
    assert below.summary.objective_usd == pytest.approx(100 * lease, rel=1e-9)
    assert s["best_other_path"] == "ai_cloud" and s["margin_usd_per_w"] > 0


def test_a_site_that_may_not_run_a_cloud_leases():
    r, _ = one_site(30e6, allow_ai_cloud=False)
    s = r.allocation.set_index("site_id").loc["S"]
    assert s["path"] == "ai_lease" and np.isnan(s["ai_cloud_usd_per_w"]) and s["best_other_path"] == ""
    g = ex.triangle()
    sites = ex.sites_at(g, [{"site_id": "S", "bus": 2, "poi_mw": 100, "current_use": "development",
                             "ai_capex_usd_per_mw": 2e6, "ai_lead_months": 12}])
    econ = planner.Economics(ai_cloud_revenue_usd_per_it_mw_year=30e6)
    assert planner.plan(g, sites, planner.Params(**FIRM, economics=econ)).allocation["ai_cloud_mw"].sum() == 100
    r = planner.plan(g, sites, planner.Params(**FIRM, economics=econ, allow_ai_cloud=False))
    assert r.allocation["ai_cloud_mw"].sum() == 0 and r.allocation["ai_lease_mw"].sum() == 100


def test_one_path_per_site():
    """A running 100 MW mine with 300 MW of connection at bus 2, where the network takes 150 MW,
    and at most 120 MW of AI. Split: 120 MW of AI and 30 MW of the mine kept (AI is worth more per MW).
    One path per site: the better of 120 MW of AI alone and 150 MW of mining (100 kept, 50 new)."""
    g = ex.triangle()
    row = {"site_id": "M", "bus": 2, "poi_mw": 300, "operating_mw": 100, "current_use": "bitcoin",
           "ai_max_mw": 120, "min_block_mw": 0}
    sites = ex.sites_at(g, [row])
    e = planner.Economics()
    v_keep, v_new = float(E.mining_npv_per_mw(e)), float(E.mining_npv_per_mw(e, existing=False))
    v_lease = float(E.ai_npv_per_mw(e))
    split = planner.plan(g, sites, planner.Params(**FIRM)).allocation.set_index("site_id").loc["M"]
    assert split["ai_mw"] == pytest.approx(120) and split["mining_mw"] == pytest.approx(30)
    assert split["path"] == "ai_lease+mining"
    one = planner.plan(g, sites, planner.Params(**FIRM, split_paths=False))
    m = one.allocation.set_index("site_id").loc["M"]
    best = max(120 * v_lease, 100 * v_keep + 50 * max(v_new, 0.0))
    assert one.summary.objective_usd == pytest.approx(best, rel=1e-9)
    assert m["path"] == ("ai_lease" if 120 * v_lease >= best else "mining")
    assert (m["ai_mw"] > 0) + (m["mining_mw"] > 0) == 1
    # the value of the path not taken, per W, is what the economics give
    assert m["mining_usd_per_w"] == pytest.approx(v_keep / 1e6)
    assert m["ai_lease_usd_per_w"] == pytest.approx(v_lease / 1e6)


def test_economics_command_reproduces_morgan_stanley():
    """`planner economics`: a 100 MW mine converted to a leased powered shell at the defaults lies
    inside Morgan Stanley's $5.19-7.81 per W, and each input value it names moves the conversion
    value to that end of the range."""
    proc = subprocess.run([sys.executable, "-m", "planner", "economics", "--json"], capture_output=True, text=True,
                          check=True)
    report = json.loads(proc.stdout)
    lo, hi = report["morgan_stanley_usd_per_w"]
    assert (lo, hi) == (5.19, 7.81)
    assert lo < report["conversion_value_usd_per_w"] < hi
    e = planner.Economics()
    assert report["conversion_value_usd"] == pytest.approx(100e6 * float(E.conversion_value_per_w(e)))
    assert report["conversion_value_usd"] == pytest.approx(
        100 * (lease_npv_by_hand(e, 150, 2e6, 12) - float(E.mining_npv_per_mw(e))), rel=1e-9)
    lease = next(d for d in report["drivers"] if d["input"] == "ai_lease_usd_per_kw_month")
    assert lease["at"][0] < 150 < lease["at"][1]
    for d in report["drivers"]:
        for target, at in zip((lo, hi), d["at"]):
            if at is not None:
                moved = e.with_overrides(**{d["input"]: at})
                assert float(E.conversion_value_per_w(moved)) == pytest.approx(target, abs=1e-6)
    even = report["cloud_breakeven_revenue_usd_per_it_mw_year"]
    assert float(E.ai_cloud_npv_per_mw(e, revenue_usd_per_it_mw_year=even)) == pytest.approx(
        report["npv_usd_per_mw"]["ai_lease"], rel=1e-9)
    bad = subprocess.run([sys.executable, "-m", "planner", "economics", "--set", "economics.ai_pue=0.5"],
                         capture_output=True, text=True, check=False)
    assert bad.returncode == 2 and "economics.ai_pue" in bad.stderr and "Traceback" not in bad.stderr
