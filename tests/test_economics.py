"""Economics: hand arithmetic, discounting, vectorization and the seed article's $5-8 per W."""

import numpy as np
import pytest

from planner import economics as E
from planner.core.errors import InputError
from planner.economics import Economics


def test_mining_margin_by_hand():
    e = Economics()
    # 20 J/TH -> 50 PH/s per MW; 50 x $40 x 365 x 0.95 = $693,500 of hash revenue a year,
    # power 8760 x 0.95 x $40 = $332,880, opex $40,000
    assert E.hashrate_ph_per_mw(e) == pytest.approx(50.0)
    # less 177 curtailed hours: 8,322 - 177 = 8,145 running hours; revenue 50 x $40 x 8,145 / 24 = $678,750,
    # power 8,145 x $40 = $325,800
    assert E.mining_value_per_mw_year(e) == pytest.approx(678_750 - 325_800 - 40_000)
    uncurtailed = Economics(mining_curtailed_hours_per_year=0)
    assert E.mining_value_per_mw_year(uncurtailed) == pytest.approx(693_500 - 332_880 - 40_000)
    # each curtailed hour costs the hour's margin: 50 x $40 / 24 - $40 = $43.33
    assert (E.mining_value_per_mw_year(uncurtailed) - E.mining_value_per_mw_year(e)) / 177 == pytest.approx(
        50 * 40 / 24 - 40)
    # hardware: 50,000 TH/s x $15
    assert E.mining_hardware_usd_per_mw(e) == pytest.approx(750_000)


def test_ai_lease_by_hand():
    e = Economics(ai_lease_usd_per_kw_month=150, ai_opex_usd_per_kw_month=10, ai_pue=1.4)
    # 1 MW of grid = 1000/1.4 kW of IT at $140 net per kW-month
    assert E.ai_value_per_mw_year(e) == pytest.approx(1000 / 1.4 * 140 * 12)
    assert E.ai_it_mw(140, e) == pytest.approx(100)


def test_annuity_factor_equals_explicit_sum():
    rate, start, end = 0.08, 12, 180
    months = np.arange(start + 1, end + 1)
    explicit = (1 / 12 * (1 + rate) ** (-months / 12)).sum()
    assert E.annuity_factor(rate, start, end) == pytest.approx(explicit, rel=1e-12)
    assert E.annuity_factor(0.0, 0, 120) == pytest.approx(10.0)
    assert E.annuity_factor(0.08, 200, 180) == 0.0  # lead time beyond the horizon: no income


def test_npv_by_explicit_cash_flows():
    e = Economics()
    months = np.arange(1, 181)
    disc = (1 + e.discount_rate) ** (-months / 12)
    margin = E.mining_value_per_mw_year(e) / 12
    refresh = sum(750_000 * (1 + e.discount_rate) ** (-y) for y in (4, 8, 12))
    assert E.mining_npv_per_mw(e) == pytest.approx((margin * disc).sum() - refresh, rel=1e-10)
    lease = E.ai_value_per_mw_year(e) / 12
    conv = (lease * disc[months > 12]).sum() - 2_000_000
    assert E.ai_npv_per_mw(e, "conversion") == pytest.approx(conv, rel=1e-10)


@pytest.mark.parametrize("lease", [150.0, 170.0])
def test_conversion_creates_five_to_eight_dollars_per_watt(lease):
    """The seed article (Morgan Stanley): converting a 100 MW mine to a leased powered shell
    creates $5.19-7.81 per W. With the defaults (8 % discount rate, 15-year horizon, PUE 1.35,
    $10/kW-month landlord opex, $2M/MW conversion capex, 12 months to revenue, a $40/PH/s/day
    hashprice mine at 20 J/TH) and a lease of $150-170 per kW-month of IT load — inside the
    CoreWeave ($121) to CBRE ($184) range — the value is $6.3-7.7 per W."""
    e = Economics(ai_lease_usd_per_kw_month=lease)
    value_per_w = E.conversion_value_per_w(e)
    assert 5.0 <= value_per_w <= 8.0
    # for the 100 MW mine: the same, in dollars
    total = 100 * (E.ai_npv_per_mw(e) - E.mining_npv_per_mw(e))
    assert total / 100e6 == pytest.approx(value_per_w)


def test_directions():
    e = Economics()
    assert E.mining_value_per_mw_year(Economics(hashprice_usd_per_ph_day=35)) < E.mining_value_per_mw_year(e)
    assert E.mining_value_per_mw_year(Economics(mining_efficiency_j_per_th=15)) > E.mining_value_per_mw_year(e)
    assert E.ai_npv_per_mw(Economics(ai_lease_usd_per_kw_month=180)) > E.ai_npv_per_mw(e)
    assert E.ai_npv_per_mw(Economics(ai_conversion_lead_months=24)) < E.ai_npv_per_mw(e)
    assert E.ai_npv_per_mw(e, "greenfield") < E.ai_npv_per_mw(e, "conversion")


def test_vectorized_equals_scalar_loop():
    hp = np.array([30.0, 40.0, 55.0])
    lease = np.array([120.0, 150.0, 190.0])
    vec = E.conversion_value_per_w(Economics(hashprice_usd_per_ph_day=hp, ai_lease_usd_per_kw_month=lease))
    loop = [E.conversion_value_per_w(Economics(hashprice_usd_per_ph_day=h, ai_lease_usd_per_kw_month=l))
            for h, l in zip(hp, lease)]
    assert np.allclose(vec, loop, rtol=1e-12)


def test_bad_values_are_input_errors():
    with pytest.raises(InputError, match="mining_uptime"):
        Economics(mining_uptime=1.5).validate()
    with pytest.raises(InputError, match="ai_pue"):
        Economics(ai_pue=0).validate()
    with pytest.raises(InputError, match="hashprice"):
        Economics().with_overrides(hashprice=3)
