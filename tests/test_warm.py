"""Re-pricing (planner.optimization.solve.Warm): a plan that changes only economics re-solves the last live
model with new objective and budget coefficients, and must give what a plan built from scratch
gives (objective 1e-6 relative, MW 1e-3); anything else builds from scratch."""

import dataclasses

import numpy as np
import pytest

from planner.config.scenario import load_scenario
from planner.optimization.solve import Warm, plan
from planner.run.prepare import prepare

PRICES = [  # hashprice, lease, discount rate, conversion capex
    (45.0, 150.0, 0.10, 2.0e6),
    (30.0, 120.0, 0.08, 1.5e6),
    (60.0, 200.0, 0.12, 3.0e6),
    (25.0, 260.0, 0.14, 2.5e6),
    (45.0, 150.0, 0.10, 2.0e6),  # back to the first: the same answer again
]


def _priced(params, hp, lease, rate, capex):
    e = dataclasses.replace(params.economics, hashprice_usd_per_ph_day=hp, ai_lease_usd_per_kw_month=lease,
                            discount_rate=rate, ai_conversion_capex_usd_per_mw=capex)
    return dataclasses.replace(params, economics=e)


def _same(warm_result, cold_result, mw: bool = True):
    """Equal objectives; equal MW per site when ``mw`` (where the optimum is unique), else equal
    totals."""
    a, b = warm_result.summary, cold_result.summary
    assert a.status == b.status == "optimal"
    assert a.objective_usd == pytest.approx(b.objective_usd, rel=1e-6)
    for key in ("served_ai_mw", "served_mining_mw"):
        assert getattr(a, key) == pytest.approx(getattr(b, key), abs=1e-3)
    if mw:
        x = warm_result.allocation.set_index("site_id")
        y = cold_result.allocation.set_index("site_id").loc[x.index]
        for col in ("ai_mw", "mining_mw"):
            assert np.abs(x[col].fillna(0).to_numpy() - y[col].fillna(0).to_numpy()).max() < 1e-3, col


@pytest.fixture(scope="module")
def texas_prepared(texas):
    return prepare(load_scenario("texas", ["ac.check=false"]), grid=texas)


@pytest.mark.parametrize("budget", [None, 3e9])
def test_repriced_plans_equal_plans_from_scratch(texas_prepared, budget):
    """Five price sets in a row on one Warm, each against a fresh plan; with a capex budget the
    budget row's coefficients change too (conversion capex varies), and the budget binds. With a
    binding budget every AI MW is worth the same per dollar of capex, so the optimum is not unique
    (the same MW at another mine of equal value): the totals are compared there."""
    prep = texas_prepared
    # solved to optimality: two MILP solves stopped at a 1e-4 gap may end that far apart
    base = dataclasses.replace(prep.params, max_capex_usd=budget, mip_gap=0.0)
    warm = Warm()
    for n, prices in enumerate(PRICES):
        params = _priced(base, *prices)
        again = plan(prep.grid, prep.sites, params, warm=warm)
        fresh = plan(prep.grid, prep.sites, dataclasses.replace(params))
        assert warm.repriced == n and ("reprice" in again.summary.timings_s) == (n > 0)
        _same(again, fresh, mw=budget is None)
        if budget is not None:
            assert again.summary.capex_usd <= budget * (1 + 1e-9)
            assert again.summary.budget_shadow_usd_per_usd > 0  # the budget binds
    # the rows found by earlier solves stay: the last solve needed none
    assert again.summary.lazy_rows_added == 0 < len(warm.built.rows)


def test_repriced_redispatch_equals_a_plan_from_scratch(texas):
    """Redispatch: the generation-cost weight and the energy payments follow the discount rate and
    the power price. Objectives equal; the allocation may differ where the optimum is not unique."""
    prep = prepare(load_scenario("texas", ["ac.check=false", "grid.supply_response=redispatch"]), grid=texas)
    warm = Warm()
    for prices, power in zip(PRICES[:3], (40.0, 55.0, 30.0)):
        params = _priced(prep.params, *prices)
        params.economics = dataclasses.replace(params.economics, power_price_usd_per_mwh=power)
        again = plan(prep.grid, prep.sites, params, warm=warm)
        fresh = plan(prep.grid, prep.sites, dataclasses.replace(params))
        _same(again, fresh, mw=False)
        assert again.summary.redispatch["supply_margin_npv_usd"] == pytest.approx(
            fresh.summary.redispatch["supply_margin_npv_usd"], rel=1e-6, abs=1.0)
    assert warm.repriced == 2


def test_anything_but_prices_builds_from_scratch(texas_prepared):
    """A setting that is not economics, a site whose size follows the PUE (a size in IT MW), other
    sites: built anew (and kept as the Warm's plan from then on)."""
    prep = texas_prepared
    warm = Warm()
    plan(prep.grid, prep.sites, prep.params, warm=warm)
    first = warm.built
    plan(prep.grid, prep.sites, dataclasses.replace(prep.params, min_block_mw=50.0), warm=warm)
    assert warm.repriced == 0 and warm.built is not first
    second = warm.built
    cheaper = dataclasses.replace(prep.params, min_block_mw=50.0,
                                  economics=dataclasses.replace(prep.params.economics, hashprice_usd_per_ph_day=20))
    plan(prep.grid, prep.sites, cheaper, warm=warm)
    assert warm.repriced == 1 and warm.built is second
    sized = prep.sites.copy()  # a site sized in IT MW: its grid MW is it_mw x PUE
    mapped = sized.index[sized["status"] == "mapped"][0]
    sized.loc[mapped, ["poi_mw", "it_mw"]] = [float("nan"), 100.0]
    plan(prep.grid, sized, cheaper, warm=warm)
    assert warm.repriced == 1 and warm.built is not second  # other sites: built anew
    third = warm.built
    pue = dataclasses.replace(cheaper, economics=dataclasses.replace(cheaper.economics, ai_pue=1.5))
    plan(prep.grid, sized, pue, warm=warm)
    assert warm.repriced == 1 and warm.built is not third


def test_repricing_through_cbc(texas_prepared):
    """Without the live HiGHS model (CBC solves the PuLP problem) the new coefficients are put on
    the PuLP objective and budget row."""
    prep = texas_prepared
    base = dataclasses.replace(prep.params, solver="cbc", max_capex_usd=3e9)
    warm = Warm()
    for prices in PRICES[:2]:
        params = _priced(base, *prices)
        again = plan(prep.grid, prep.sites, params, warm=warm)
        fresh = plan(prep.grid, prep.sites, dataclasses.replace(params))
        _same(again, fresh, mw=False)
    assert warm.repriced == 1


def test_a_timeline_is_repriced_too(texas):
    """A timeline's plan (three years, base load growing) is re-priced warm like a single period: the
    per-year values and each site's NPV follow the new prices; the lead times stay (a lead time moves
    a year's first AI MW: that builds anew). Against plans from scratch: objectives, served MW per
    year and each site's value."""
    from planner.optimization.solve import plan_timeline

    prep = prepare(load_scenario("texas", ["ac.check=false", "timeline.years=[2026, 2027, 2028]",
                                           "timeline.base_load_growth_percent=2"]), grid=texas)
    warm = Warm()
    for n, prices in enumerate(PRICES[:2]):
        params = dataclasses.replace(_priced(prep.params, *prices), mip_gap=0.0)
        again = plan_timeline(prep.grid, prep.sites, params, prep.timeline, warm=warm)
        fresh = plan_timeline(prep.grid, prep.sites, dataclasses.replace(params), prep.timeline)
        assert warm.repriced == n and ("reprice" in again.summary.timings_s) == (n > 0)
        _same(again, fresh, mw=False)
        assert again.summary.timeline["served_ai_mw"] == pytest.approx(fresh.summary.timeline["served_ai_mw"],
                                                                          abs=1e-3)
        assert again.allocation["value_usd"].sum() == pytest.approx(fresh.allocation["value_usd"].sum(), rel=1e-6)


def test_a_redispatch_timeline_is_repriced_too():
    """The same on the two-bus grid under redispatch: the generation-cost weights and each year's
    energy payments follow the discount rate and the power price."""
    import planner
    from planner.data import examples as ex
    from planner.optimization.solve import plan_timeline

    g = ex.two_bus()
    sites = ex.sites_at(g, [{"site_id": "ai", "bus": 2, "poi_mw": 300, "current_use": "development",
                             "min_block_mw": 0},
                            {"site_id": "mine", "bus": 1, "poi_mw": 80, "operating_mw": 50, "current_use": "bitcoin"}])
    tl = planner.Timeline(years=[2026, 2027, 2028], load_factor=np.array([1.0, 1.1, 1.2]))
    base = planner.Params(supply_response="redispatch", redispatch_cost_segments=2, check_existing_load=False)
    warm = Warm()
    for n, (prices, power) in enumerate(zip(PRICES[:3], (40.0, 55.0, 30.0))):
        params = _priced(base, *prices)
        params.economics = dataclasses.replace(params.economics, power_price_usd_per_mwh=power)
        again = plan_timeline(g, sites, params, tl, warm=warm)
        fresh = plan_timeline(g, sites, dataclasses.replace(params), tl)
        assert warm.repriced == n
        _same(again, fresh)
        assert again.summary.redispatch["supply_margin_npv_usd"] == pytest.approx(
            fresh.summary.redispatch["supply_margin_npv_usd"], rel=1e-6, abs=1.0)
