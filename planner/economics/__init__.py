"""Economics of a megawatt: what one MW of grid connection is worth as a bitcoin
mine or as a leased AI data center.

Every function is pure and vectorized: any field of :class:`Economics` may be
a number or a numpy array (one value per site, per scenario, ...), and the
results broadcast. Money is in US dollars, power in MW of *grid* connection
unless a name says otherwise (AI leases are priced per kW of critical IT load,
which is grid power divided by the PUE).

Cash flows are monthly and level in real terms, discounted at
``discount_rate`` per year, from today to ``horizon_years``. A lead time delays
the first revenue month; it does not extend the horizon.

The figures behind the defaults are public reports of late 2025 (operators' filings and
announcements, market surveys, a Morgan Stanley note on mine conversions); each field says where
its default comes from, and the README's table of defaults lists them.
Fields marked *assumption* are not among those figures: they are the
planner's judgement, stated so that a user can change them.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace

import numpy as np

from planner.core.errors import LEAD_MONTHS, USD_PER_MW, Bound, InputError

HOURS_PER_YEAR = 8760.0
DAYS_PER_YEAR = 365.0


@dataclass(frozen=True)
class Economics:
    """Economic assumptions. Each default names its source."""

    #: $ per PH/s per day. Late-2025 hashprice: $41.6 (4 Nov 2025), $38.2, ~$34.5 (23 Nov 2025).
    hashprice_usd_per_ph_day: float = 40.0
    #: J/TH of the fleet. S19 ~29.5, S21 ~17.5, S21 Pro 15 J/TH; a common worked example of mine economics uses 20.
    mining_efficiency_j_per_th: float = 20.0
    #: $/MWh paid for power by a mine; $40/MWh is a common worked example (late 2025).
    power_price_usd_per_mwh: float = 40.0
    #: share of hours a mine runs. Assumption (curtailment is modelled separately).
    mining_uptime: float = 0.95
    #: hours per year a mine is curtailed at peak (its flexible share off): 177 h, the average curtailment
    #: of Duke's "Rethinking Load Growth" at 0.5 % of annual energy. Curtailed hours earn nothing.
    mining_curtailed_hours_per_year: float = 177.0
    #: $ per MW-year of mine staff and maintenance. Assumption.
    mining_opex_usd_per_mw_year: float = 40_000.0
    #: $ per TH/s of ASIC hardware. Assumption: late-2025 price of current-generation machines.
    mining_hardware_usd_per_th: float = 15.0
    #: years between hardware refreshes. Assumption.
    mining_hardware_life_years: float = 4.0
    #: $ per MW to build a mine (infrastructure, no ASICs): $0.35-0.40M per MW (seed interview, Bitdeer).
    mining_build_capex_usd_per_mw: float = 375_000.0
    #: months to energize new mining MW at a site. Assumption.
    mining_lead_months: float = 6.0
    #: $ per kW-month of critical IT load. Core Scientific-CoreWeave ~$121, TeraWulf-Fluidstack
    #: ~$154, CBRE H2-2024 colocation $184.06: the middle of that range.
    ai_lease_usd_per_kw_month: float = 150.0
    #: grid power per IT power. Barber Lake 244/168, Abernathy 240/168, Muskogee 100/70, River Bend 330/245.
    ai_pue: float = 1.35
    #: landlord's cost per kW-month of IT load under a powered-shell (triple-net) lease. Assumption.
    ai_opex_usd_per_kw_month: float = 10.0
    #: $ per MW of grid power to convert a mine into a powered shell. Assumption: shell, cooling and
    #: substation work by the landlord; the tenant funds the IT fit-out (as CoreWeave did at Core Scientific).
    ai_conversion_capex_usd_per_mw: float = 2_000_000.0
    #: $ per MW to build an AI data center from scratch: ~$11M per MW (seed interview, Bitdeer).
    ai_greenfield_capex_usd_per_mw: float = 11_000_000.0
    #: months from decision to revenue for a conversion: retrofit of an existing campus ~12 months.
    ai_conversion_lead_months: float = 12.0
    #: months for a new site: a new large-load connection takes 2-4 years; 36 months.
    ai_greenfield_lead_months: float = 36.0
    #: AI cloud (the operator owns the GPUs and sells compute): $ of revenue per MW of critical IT load
    #: per year. IREN-Microsoft: $9.7B over 5 years for ~200 MW of IT load at Childress = $9.7M.
    ai_cloud_revenue_usd_per_it_mw_year: float = 9_700_000.0
    #: share of that revenue earned: 1 for a take-or-pay contract like IREN's; a cloud selling by the
    #: hour earns less (the same share scales its power bill). Assumption.
    ai_cloud_utilisation: float = 1.0
    #: $ of GPUs and their racks, network and ancillary equipment per MW of IT load. IREN's purchase from
    #: Dell for the Microsoft contract: ~$5.8B for ~200 MW of IT load = $29M.
    ai_cloud_gpu_capex_usd_per_it_mw: float = 29_000_000.0
    #: years between GPU purchases: the 5-year term of the IREN-Microsoft contract the GPUs were bought
    #: for. No resale value is counted.
    ai_cloud_gpu_life_years: float = 5.0
    #: $ per MW of IT load per year to run the cloud, power excluded (staff, hardware support, network,
    #: software, insurance). Assumption: about 10 % of the contract revenue.
    ai_cloud_opex_usd_per_it_mw_year: float = 1_000_000.0
    #: months after the site's AI lead time (the shell) before compute revenue: GPU delivery, install and
    #: burn-in. Assumption: IREN's GB300s for a November 2025 contract are delivered in phases through 2026.
    ai_cloud_extra_lead_months: float = 3.0
    #: kW of IT load per GPU, only to express cloud revenue as a GPU-hour price. Assumption: a 72-GPU
    #: rack-scale system with its share of network and storage, about 2 kW per GPU.
    ai_cloud_it_kw_per_gpu: float = 2.0
    #: years of cash flow valued: the term of the Cipher-AWS and Hut 8 River Bend leases (15 years).
    horizon_years: float = 15.0
    #: per year, real. Assumption: a long lease to an investment-grade tenant.
    discount_rate: float = 0.08

    def with_overrides(self, **changes) -> Economics:
        """A copy with some fields changed; unknown names are an error."""
        known = {f.name for f in fields(self)}
        for key in changes:
            if key not in known:
                raise InputError("unknown economics field", field=f"economics.{key}", value=key,
                                 expected="one of " + ", ".join(sorted(known)))
        return replace(self, **changes)

    def as_dict(self) -> dict:
        return {k: (v.tolist() if isinstance(v, np.ndarray) else v) for k, v in asdict(self).items()}

    def validate(self, source: str = "economics") -> Economics:
        """Check every field (a number or an array) against its bound in :data:`BOUNDS`."""
        for f in fields(self):
            BOUNDS[f.name].check(getattr(self, f.name), source=source, field=f.name)
        return self


_PER_KW_MONTH = Bound(0.0, 1e4, "$ per kW-month", "about 50 times the colocation rates of 2025 ($120-195)")

#: Plausibility bound of each field: the one definition, read by :meth:`Economics.validate` and by
#: the scenario schema (``economics:`` section). Each says why; values outside are input errors.
BOUNDS: dict[str, Bound] = {
    "hashprice_usd_per_ph_day": Bound(0.0, 1e5, "$ per PH/s per day",
                                      "far above any hashprice ever paid; late 2025: $35-42"),
    "mining_efficiency_j_per_th": Bound(1.0, 1e4, "J/TH", "today's fleet runs at 15-30 J/TH; "
                                        "below 1 is no machine, above 10,000 no miner would run"),
    "power_price_usd_per_mwh": Bound(0.0, 1e4, "$ per MWh",
                                     "an average price twice ERCOT's $5,000/MWh price cap"),
    "mining_uptime": Bound(0.0, 1.0, "", "a share of the hours of a year"),
    "mining_curtailed_hours_per_year": Bound(0.0, HOURS_PER_YEAR, "hours", "the hours of a year"),
    "mining_opex_usd_per_mw_year": Bound(0.0, 1e9, "$ per MW-year", "25,000 times what a mine spends on staff "
                                         "and maintenance"),
    "mining_hardware_usd_per_th": Bound(0.0, 1e4, "$ per TH/s", "hundreds of times the late-2025 price, ~$15"),
    "mining_hardware_life_years": Bound(0.1, 100.0, "years",
                                        "hardware lasts at least about a month and is refreshed within a century"),
    "mining_build_capex_usd_per_mw": USD_PER_MW,
    "mining_lead_months": LEAD_MONTHS,
    "ai_lease_usd_per_kw_month": _PER_KW_MONTH,
    "ai_pue": Bound(1.0, 10.0, "", "grid power / IT power: at least 1 by definition, 1.1-1.6 in practice"),
    "ai_opex_usd_per_kw_month": _PER_KW_MONTH,
    "ai_conversion_capex_usd_per_mw": USD_PER_MW,
    "ai_greenfield_capex_usd_per_mw": USD_PER_MW,
    "ai_conversion_lead_months": LEAD_MONTHS,
    "ai_greenfield_lead_months": LEAD_MONTHS,
    "ai_cloud_revenue_usd_per_it_mw_year": Bound(0.0, 1e9, "$ per MW-year of IT load",
                                                 "100 times the IREN-Microsoft contract's $9.7M"),
    "ai_cloud_utilisation": Bound(0.0, 1.0, "", "a share of the revenue at full sale"),
    "ai_cloud_gpu_capex_usd_per_it_mw": Bound(0.0, 1e10, "$ per MW of IT load",
                                              "about 300 times IREN's $29M per MW of GPUs"),
    "ai_cloud_gpu_life_years": Bound(0.1, 100.0, "years",
                                     "GPUs last at least about a month and are replaced within a century"),
    "ai_cloud_opex_usd_per_it_mw_year": Bound(0.0, 1e9, "$ per MW-year of IT load",
                                              "100 times the contract revenue of a MW of IT load"),
    "ai_cloud_extra_lead_months": LEAD_MONTHS,
    "ai_cloud_it_kw_per_gpu": Bound(0.01, 1000.0, "kW", "10 W to 1 MW of IT load per GPU"),
    "horizon_years": Bound(1.0, 100.0, "years", "cash flows of one year to a century"),
    "discount_rate": Bound(0.0, 1.0, "per year", "a real yearly rate; at 100 % or more nothing after the "
                           "first years counts", hi_open=True),
}


# --------------------------------------------------------------------------- discounting


def annuity_factor(rate, start_months, end_months):
    """Present value of $1 per year paid monthly (1/12 at the end of each month)
    from ``start_months`` to ``end_months`` after today, at a yearly ``rate``."""
    rate = np.asarray(rate, float)
    start = np.clip(np.asarray(start_months, float), 0.0, None)
    end = np.maximum(np.asarray(end_months, float), start)
    monthly = np.power(1.0 + rate, 1.0 / 12.0) - 1.0
    small = np.abs(monthly) < 1e-12
    safe = np.where(small, 1.0, monthly)
    v = 1.0 / (1.0 + safe)
    factor = (np.power(v, start) - np.power(v, end)) / safe / 12.0
    return np.where(small, (end - start) / 12.0, factor)


def discount(rate, months):
    """Present value of $1 paid ``months`` from today."""
    return np.power(1.0 + np.asarray(rate, float), -np.asarray(months, float) / 12.0)


# --------------------------------------------------------------------------- mining


def hashrate_ph_per_mw(e: Economics):
    """PH/s that one MW of miners produces: 1e6 W / (J/TH) TH/s = 1000 / (J/TH) PH/s."""
    return 1000.0 / np.asarray(e.mining_efficiency_j_per_th, float)


def mining_value_per_mw_year(e: Economics):
    """Operating margin of one MW of mining per year: hash revenue - power - opex."""
    hours = mining_hours_per_year(e)
    revenue = hashrate_ph_per_mw(e) * e.hashprice_usd_per_ph_day * hours / 24.0
    return revenue - hours * e.power_price_usd_per_mwh - e.mining_opex_usd_per_mw_year


def mining_hours_per_year(e: Economics):
    """Hours a MW of mining runs in a year: uptime less the curtailed hours (never below 0)."""
    return np.clip(HOURS_PER_YEAR * np.asarray(e.mining_uptime, float)
                   - np.asarray(e.mining_curtailed_hours_per_year, float), 0.0, None)


def mining_hardware_usd_per_mw(e: Economics):
    """ASIC cost of one MW of miners: TH/s per MW times $/TH."""
    return hashrate_ph_per_mw(e) * 1000.0 * e.mining_hardware_usd_per_th


def purchases_pv(e: Economics, first_months, life_years):
    """PV of $1 paid at ``first_months`` and every ``life_years`` after, within the horizon (a
    hardware fleet bought and refreshed; nothing is resold at the horizon)."""
    life = np.asarray(life_years, float) * 12.0
    horizon = np.asarray(e.horizon_years, float) * 12.0
    first = np.asarray(first_months, float)
    n_max = int(np.ceil(np.max(horizon / life))) + 1
    total = np.zeros(np.broadcast(first, life, horizon, np.asarray(e.discount_rate)).shape)
    for n in range(n_max):
        t = first + n * life
        total = total + np.where(t < horizon, discount(e.discount_rate, t), 0.0)
    return total


def residual_pv(e: Economics, first_months, life_years):
    """PV at today of what the fleet of :func:`purchases_pv` is still worth at the horizon, per $1 of
    purchase: the last purchase's unused share of its life (straight line), paid at the horizon."""
    life = np.asarray(life_years, float) * 12.0
    horizon = np.asarray(e.horizon_years, float) * 12.0
    first = np.asarray(first_months, float)
    n_last = np.floor(np.maximum(horizon - first, 0.0) / life - 1e-12)
    last = first + np.maximum(n_last, 0.0) * life
    unused = np.where(first < horizon, np.clip((last + life - horizon) / life, 0.0, 1.0), 0.0)
    return unused * discount(e.discount_rate, horizon)


def _refresh_pv(e: Economics, first_months):
    """PV of buying the mining hardware at ``first_months`` and every life after, within the horizon."""
    return mining_hardware_usd_per_mw(e) * purchases_pv(e, first_months, e.mining_hardware_life_years)


def existing_mining_value(e: Economics, start_months, end_months):
    """Value of one MW of today's mining fleet run from ``start_months`` to ``end_months``: its
    margins, less the hardware refreshes that fall in that window (every
    ``mining_hardware_life_years`` from today). Windows that tile [0, horizon) sum to
    :func:`mining_npv_per_mw` ``(existing=True)``."""
    horizon = float(np.max(np.asarray(e.horizon_years, float))) * 12.0
    start = np.asarray(start_months, float)
    end = np.minimum(np.asarray(end_months, float), horizon)
    life = np.asarray(e.mining_hardware_life_years, float) * 12.0
    margin = mining_value_per_mw_year(e) * annuity_factor(e.discount_rate, start, np.maximum(end, start))
    refresh = np.zeros(np.broadcast(start, end, life).shape)
    for n in range(1, int(np.ceil(horizon / np.min(life))) + 1):
        t = n * life
        refresh = refresh + np.where((t >= start) & (t < end), discount(e.discount_rate, t), 0.0)
    return margin - mining_hardware_usd_per_mw(e) * refresh


def new_mining_npv(e: Economics, energized_months):
    """NPV of one MW of new mining energized ``energized_months`` from today: built (build capex
    paid) ``mining_lead_months`` before, hardware bought at energization and refreshed every life
    after, margins from energization to the horizon. At the lead time itself this is
    :func:`mining_npv_per_mw` ``(existing=False)``."""
    energized = np.asarray(energized_months, float)
    horizon = np.asarray(e.horizon_years, float) * 12.0
    decided = np.maximum(energized - np.asarray(e.mining_lead_months, float), 0.0)
    margin = mining_value_per_mw_year(e) * annuity_factor(e.discount_rate, energized, horizon)
    return (margin - _refresh_pv(e, energized)
            - np.asarray(e.mining_build_capex_usd_per_mw, float) * discount(e.discount_rate, decided))


def new_mining_value_from(e: Economics, energized_months, start_months):
    """Value, from ``start_months`` on, of one MW of new mining energized at ``energized_months``:
    its margins from the later of the two to the horizon, less the hardware it buys from
    ``start_months`` on (at energization and every life after). From today, plus the build capex,
    this is :func:`new_mining_npv`; from a later month it is what removing the MW then gives up."""
    energized = np.asarray(energized_months, float)
    start = np.asarray(start_months, float)
    horizon = float(np.max(np.asarray(e.horizon_years, float))) * 12.0
    life = np.asarray(e.mining_hardware_life_years, float) * 12.0
    begin = np.maximum(energized, start)
    margin = mining_value_per_mw_year(e) * annuity_factor(e.discount_rate, begin, np.maximum(horizon, begin))
    bought = np.zeros(np.broadcast(energized, start, life).shape)
    for n in range(int(np.ceil(horizon / np.min(life))) + 1):
        t = energized + n * life
        bought = bought + np.where((t >= start) & (t < horizon), discount(e.discount_rate, t), 0.0)
    return margin - mining_hardware_usd_per_mw(e) * bought


def mining_npv_per_mw(e: Economics, existing: bool = True):
    """NPV of one MW of mining over the horizon.

    ``existing=True``: a running mine: margins from today, hardware refreshed
    every ``mining_hardware_life_years`` (first refresh one life from now), no
    build cost. ``existing=False``: new mining MW: build capex today, hardware
    bought at energization after ``mining_lead_months``, margins from then.
    """
    horizon = np.asarray(e.horizon_years, float) * 12.0
    if existing:
        margin = mining_value_per_mw_year(e) * annuity_factor(e.discount_rate, 0.0, horizon)
        return margin - _refresh_pv(e, np.asarray(e.mining_hardware_life_years, float) * 12.0)
    lead = np.asarray(e.mining_lead_months, float)
    margin = mining_value_per_mw_year(e) * annuity_factor(e.discount_rate, lead, horizon)
    return margin - _refresh_pv(e, lead) - np.asarray(e.mining_build_capex_usd_per_mw, float)


# --------------------------------------------------------------------------- AI


def ai_it_mw(grid_mw, e: Economics):
    """Critical IT MW of a data center drawing ``grid_mw`` from the grid (grid MW / PUE)."""
    return np.asarray(grid_mw, float) / np.asarray(e.ai_pue, float)


def ai_value_per_mw_year(e: Economics, lease_usd_per_kw_month=None):
    """Net lease income per MW of grid power per year: (lease - opex) x IT kW x 12."""
    lease = e.ai_lease_usd_per_kw_month if lease_usd_per_kw_month is None else lease_usd_per_kw_month
    return (np.asarray(lease, float) - e.ai_opex_usd_per_kw_month) * 1000.0 / e.ai_pue * 12.0


def ai_npv_per_mw(e: Economics, kind: str = "conversion", *, lease_usd_per_kw_month=None,
                  capex_usd_per_mw=None, lead_months=None):
    """NPV of one MW of grid power leased to an AI tenant.

    ``kind`` is ``conversion`` (an existing mine: conversion capex and lead) or
    ``greenfield`` (a new data center). Capex is spent today; income starts
    after the lead time and runs to the horizon. Per-site values may be passed
    for the lease rate, capex and lead time (arrays broadcast).
    """
    if kind not in ("conversion", "greenfield"):
        raise InputError("unknown AI project kind", field="kind", value=kind,
                         expected="conversion or greenfield")
    if capex_usd_per_mw is None:
        capex_usd_per_mw = (e.ai_conversion_capex_usd_per_mw if kind == "conversion"
                            else e.ai_greenfield_capex_usd_per_mw)
    if lead_months is None:
        lead_months = e.ai_conversion_lead_months if kind == "conversion" else e.ai_greenfield_lead_months
    horizon = np.asarray(e.horizon_years, float) * 12.0
    income = ai_value_per_mw_year(e, lease_usd_per_kw_month) * annuity_factor(
        e.discount_rate, lead_months, horizon)
    return income - np.asarray(capex_usd_per_mw, float)


def conversion_value_per_w(e: Economics):
    """Value created by converting a running mine into a leased powered shell, $ per W
    of grid connection: NPV as an AI lease minus NPV of continuing to mine."""
    return (ai_npv_per_mw(e, "conversion") - mining_npv_per_mw(e, existing=True)) / 1e6


# --------------------------------------------------------------------------- AI cloud (the third path)


def ai_cloud_value_per_mw_year(e: Economics, revenue_usd_per_it_mw_year=None):
    """Operating margin of one MW of grid power run as an AI cloud, per year: compute revenue and
    opex per MW of IT load (grid MW / PUE), less the power bill of the grid MW (the operator pays
    for its power, unlike a powered-shell landlord), both at ``ai_cloud_utilisation``."""
    revenue = e.ai_cloud_revenue_usd_per_it_mw_year if revenue_usd_per_it_mw_year is None \
        else revenue_usd_per_it_mw_year
    u = np.asarray(e.ai_cloud_utilisation, float)
    per_it = np.asarray(revenue, float) * u - np.asarray(e.ai_cloud_opex_usd_per_it_mw_year, float)
    return per_it / np.asarray(e.ai_pue, float) - HOURS_PER_YEAR * u * np.asarray(e.power_price_usd_per_mwh, float)


def ai_cloud_gpu_usd_per_mw(e: Economics):
    """GPU capex of one MW of grid power: GPU capex per MW of IT load / PUE."""
    return np.asarray(e.ai_cloud_gpu_capex_usd_per_it_mw, float) / np.asarray(e.ai_pue, float)


def ai_cloud_npv_per_mw(e: Economics, *, capex_usd_per_mw=None, lead_months=None,
                        revenue_usd_per_it_mw_year=None):
    """NPV of one MW of grid power run as an AI cloud by the site's owner.

    The shell is built as for a lease (``capex_usd_per_mw``, default the conversion capex, paid
    today; ``lead_months``, default the conversion lead). Compute revenue starts
    ``ai_cloud_extra_lead_months`` after the shell is ready, when the GPUs are bought; they are
    bought again every ``ai_cloud_gpu_life_years`` within the horizon; the GPUs in service at the
    horizon count at their straight-line remaining value (:func:`residual_pv`: a GPU fleet refreshed every
    5 years would otherwise carry most of a last purchase that the 15-year horizon cuts short). Per-site
    values broadcast."""
    capex = e.ai_conversion_capex_usd_per_mw if capex_usd_per_mw is None else capex_usd_per_mw
    lead = e.ai_conversion_lead_months if lead_months is None else lead_months
    start = np.asarray(lead, float) + np.asarray(e.ai_cloud_extra_lead_months, float)
    horizon = np.asarray(e.horizon_years, float) * 12.0
    income = ai_cloud_value_per_mw_year(e, revenue_usd_per_it_mw_year) * annuity_factor(
        e.discount_rate, start, horizon)
    life = e.ai_cloud_gpu_life_years
    gpus = ai_cloud_gpu_usd_per_mw(e) * (purchases_pv(e, start, life) - residual_pv(e, start, life))
    return income - gpus - np.asarray(capex, float)


def ai_cloud_breakeven_revenue(e: Economics, value_usd_per_mw, *, capex_usd_per_mw=None, lead_months=None):
    """Cloud revenue per MW of IT load per year at which the cloud's NPV per grid MW equals
    ``value_usd_per_mw`` (e.g. the lease's NPV at the same site): the NPV is linear in the revenue."""
    kw = {"capex_usd_per_mw": capex_usd_per_mw, "lead_months": lead_months}
    step = 1e7  # a step of the size of the revenues: a $1 step would lose digits to cancellation
    at_zero = ai_cloud_npv_per_mw(e, revenue_usd_per_it_mw_year=0.0, **kw)
    slope = (ai_cloud_npv_per_mw(e, revenue_usd_per_it_mw_year=step, **kw) - at_zero) / step
    return (np.asarray(value_usd_per_mw, float) - at_zero) / slope


def usd_per_gpu_hour(e: Economics, revenue_usd_per_it_mw_year):
    """A cloud revenue per MW of IT load per year as a price per GPU-hour sold
    (``ai_cloud_it_kw_per_gpu``, every hour of the year)."""
    gpus_per_it_mw = 1000.0 / np.asarray(e.ai_cloud_it_kw_per_gpu, float)
    return np.asarray(revenue_usd_per_it_mw_year, float) / (gpus_per_it_mw * HOURS_PER_YEAR)


#: the three paths of a site's MW, in the order the outputs list them
PATHS = ("mining", "ai_lease", "ai_cloud")


def path_values_per_mw(e: Economics, *, existing_mine: bool = True, lease_usd_per_kw_month=None,
                       capex_usd_per_mw=None, lead_months=None) -> dict:
    """NPV per MW of grid power of each path, for one site (or arrays of sites): mining (a running
    mine's MW when ``existing_mine``, else new mining MW), leasing a powered shell, and running an AI cloud."""
    kw = {"capex_usd_per_mw": capex_usd_per_mw, "lead_months": lead_months}
    return {"mining": mining_npv_per_mw(e, existing=existing_mine),
            "ai_lease": ai_npv_per_mw(e, "conversion", lease_usd_per_kw_month=lease_usd_per_kw_month, **kw),
            "ai_cloud": ai_cloud_npv_per_mw(e, **kw)}


#: Morgan Stanley's range for the equity value of converting a 100 MW mine into a leased powered
#: shell, $ per W (Morgan Stanley research, late 2025, as reported in the press)
MORGAN_STANLEY_USD_PER_W = (5.19, 7.81)

#: the inputs whose one-at-a-time change :func:`conversion_drivers` reports
DRIVERS = ("ai_lease_usd_per_kw_month", "discount_rate", "ai_conversion_capex_usd_per_mw",
           "ai_conversion_lead_months", "ai_pue", "hashprice_usd_per_ph_day", "power_price_usd_per_mwh")


def conversion_drivers(e: Economics, targets=MORGAN_STANLEY_USD_PER_W, names=DRIVERS) -> list[dict]:
    """For each input in ``names``, the value at which :func:`conversion_value_per_w` reaches each of
    ``targets`` with every other input as in ``e`` (a root within the input's bound, by Brent's method;
    None where the value cannot reach the target inside the bound)."""
    from scipy.optimize import brentq

    out = []
    for name in names:
        bound = BOUNDS[name]
        lo = bound.lo + (1e-9 * max(1.0, abs(bound.lo)) if bound.lo_open else 0.0)
        hi = bound.hi - (1e-9 * max(1.0, abs(bound.hi)) if bound.hi_open else 0.0)
        hi = min(hi, 100.0 * max(float(getattr(e, name)), 1.0))  # far enough; keeps the search well scaled

        def gap(x, target, name=name):
            return float(conversion_value_per_w(replace(e, **{name: x}))) - target

        at = []
        for target in targets:
            grid = np.linspace(lo, hi, 401)
            values = np.array([gap(x, target) for x in grid])
            cross = np.flatnonzero(np.sign(values[:-1]) != np.sign(values[1:]))
            if not len(cross):
                at.append(None)
                continue
            now = float(getattr(e, name))
            k = cross[np.argmin(np.abs(grid[cross] - now))]  # the crossing nearest today's value
            at.append(float(brentq(gap, grid[k], grid[k + 1], args=(target,), xtol=1e-10 * max(1.0, hi))))
        out.append({"input": name, "now": float(getattr(e, name)), "at": at})
    return out
