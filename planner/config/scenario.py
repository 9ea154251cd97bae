"""Scenario files: YAML, validated by a typed schema (pydantic), turned into a run.

A scenario has the sections ``grid``, ``sites``, ``demand``, ``supply``,
``economics``, ``constraints``, ``solver`` and ``output`` (every field is
listed in the README). Unknown keys are an error that suggests the nearest
known key. A scenario may ``extends:`` another file (a path relative to the
file) and change a few fields: mappings merge key by key, lists and values
are replaced. ``--set a.b.c=VALUE`` overrides any field after that; the value
is read as YAML (``false``, ``35``, ``[TX, OK]``) and type-checked with the
rest.

:func:`load_scenario` reads and validates; :func:`planner.run.prepare.prepare` loads the grid and
sites, adds the demand requests as sites, assigns regions and builds the
:class:`planner.Params` (both in :mod:`planner.run.prepare`, with :func:`run`,
which also solves).
"""

from __future__ import annotations

import copy
import difflib
import functools
import itertools
import logging
import re
import types
import typing
from dataclasses import fields, replace
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    create_model,
    field_validator,
    model_validator,
)

from planner.core.errors import (
    BUDGET_USD,
    KM,
    KV,
    LEAD_MONTHS,
    MW,
    SITE_MW,
    SUPPLY_RESPONSES,
    USD_PER_MW,
    Bound,
    InputError,
    Plausible,
    lat_lon_swapped,
)
from planner.economics import BOUNDS as ECONOMICS_BOUNDS
from planner.economics import Economics

logger = logging.getLogger(__name__)

SECTIONS = ("grid", "sites", "demand", "supply", "economics", "constraints", "solver", "ac", "output", "timeline")

# ----------------------------------------------------------------------------- plausibility bounds
# Every number of a scenario is finite and inside a bound that says why (planner.core.errors.Bound);
# the MW, $ per MW, budget and lead-time bounds are shared with the site columns and Economics.

#: a request, block or pool of MW: > 0 where it must be (a request of 0 MW asks for nothing)
POSITIVE_MW = replace(MW, lo_open=True)
#: NPV of one MW of a request, $ (may be negative): an AI MW is worth ~$8M over 15 years
VALUE_USD_PER_MW = Bound(-1e9, 1e9, "$ per MW", "about 100 times the NPV of a leased AI MW (~$8M)")
LAT = Bound(-90.0, 90.0, "degrees", "a WGS84 latitude")
LON = Bound(-180.0, 180.0, "degrees", "a WGS84 longitude")
SHARE = Bound(0.0, 1.0, "", "a share")
DFAX = Bound(0.0, 1.0, "", "a distribution factor cut-off", hi_open=True)
EMERGENCY_FACTOR = Bound(1.0, 10.0, "x rateA", "an emergency rating is not below the normal one; "
                         "1.1-1.5 in practice")
LOAD_FACTOR = Bound(0.0, 1.0, "", "a share of the case's base load", lo_open=True)
TIME_LIMIT_S = Bound(0.0, 1e6, "s", "11.6 days; null for no limit", lo_open=True)
MIP_GAP = Bound(0.0, 1.0, "", "a relative gap", hi_open=True)
NEAR_BINDING = Bound(0.0, 1.0, "", "a share of the rating", lo_open=True)
POWER_FACTOR = Bound(0.0, 1.0, "", "a power factor", lo_open=True)
LODF_CACHE_MB = Bound(0.0, 1e7, "MB", "10 TB", lo_open=False)
GROWTH_PERCENT = Bound(-50.0, 100.0, "% per year", "the base load halving or doubling within a year")
#: a calendar year of a timeline
Year = Annotated[int, Field(ge=2000, le=2100, description="a calendar year, 2000-2100")]

# ----------------------------------------------------------------------------- plausible ranges
# Inside its bound a number may still be implausible: most often a unit typed wrongly (kW as MW, $/TH
# as $/PH). Fields where such a mistake is likely also have a planner.core.errors.Plausible range, given
# beside the bound (bounded(BOUND, PLAUSIBLE)); outside it the scenario loads with a one-line warning
# naming the likely mistake. Each range cites its order of magnitude (the field's help quotes it).

_IN_MILLIONS = "was it typed in $M per MW, or in $ per kW?"
#: a bus voltage: US transmission runs at 69-765 kV
PLAUSIBLE_KV = Plausible(30.0, 800.0, "US transmission runs at 69-765 kV", low="was it typed in MV?",
                         high="no US line runs above 765 kV")
#: a site's tie to its bus
PLAUSIBLE_KM = Plausible(0.0, 500.0, "a site's tie line to its bus runs a few to ~100 km",
                         high="was it typed in m?")
#: MW of one request: a campus, or a metro cluster standing for many
PLAUSIBLE_REQUEST_MW = Plausible(1.0, 20_000.0, "a campus asks for 10-5,000 MW; Northern Virginia's whole "
                                 "data-center cluster for ~10-20 GW", low="was it typed in GW?",
                                 high="was it typed in kW?")
#: $ of capex in all (a budget): a MW of AI costs ~$11M
PLAUSIBLE_BUDGET_USD = Plausible(1e6, 1e12, "a MW of AI costs ~$11M; $1 trillion is years of all US "
                                 "data-center spending (~$400B in 2025)", low="was it typed in $M or $B?",
                                 high="more than years of all US data-center spending", zero_ok=True)
PLAUSIBLE_LEASE = Plausible(30.0, 600.0, "2025 colocation leases: $120-195 per kW-month",
                            low="was it typed in $ per W-month?", high="was it typed per kW-year?")
PLAUSIBLE_CAPEX_USD_PER_MW = Plausible(1e5, 5e7, "a mine costs ~$0.4M per MW to build, a conversion ~$2M, "
                                       "an AI data center ~$11M", low=_IN_MILLIONS,
                                       high="more than 4 times an AI data center: are the GPUs in it?")

#: the economics fields with a plausible range (their bounds: planner.economics.BOUNDS)
ECONOMICS_PLAUSIBLE: dict[str, Plausible] = {
    "hashprice_usd_per_ph_day": Plausible(10.0, 500.0, "late 2025: $35-42; the 2021 peak ~$400",
                                          low="was it typed in $ per TH/s per day?",
                                          high="was it typed in $ per EH/s per day?"),
    "mining_efficiency_j_per_th": Plausible(5.0, 150.0, "new machines run at 10-20 J/TH, the old Antminer S9 "
                                            "at ~100", low="was it typed in J/GH?",
                                            high="less efficient than any machine still mining"),
    "power_price_usd_per_mwh": Plausible(5.0, 500.0, "mines pay $25-60; US industrial power ~$80",
                                         low="was it typed in $ per kWh or cents per kWh?",
                                         high="more than 6 times US industrial power: was it typed per GWh?"),
    "mining_opex_usd_per_mw_year": Plausible(5e3, 5e5, "mines spend ~$20-60k per MW-year on staff and upkeep",
                                             low="was it typed in $k, or per kW-year?",
                                             high="more than 10 times what mines spend"),
    "mining_hardware_usd_per_th": Plausible(2.0, 200.0, "late 2025 ~$15, the 2021 peak ~$100",
                                            low="was it typed in $ per GH/s?", high="was it typed in $ per PH/s?"),
    "mining_hardware_life_years": Plausible(1.0, 15.0, "ASICs are refreshed every 3-5 years",
                                            low="was it typed in decades?", high="was it typed in months?"),
    "mining_build_capex_usd_per_mw": Plausible(5e4, 5e6, "a mine costs $0.35-0.40M per MW to build",
                                               low=_IN_MILLIONS, high="more than 10 times what a mine costs: "
                                               "is it an AI data center's capex?"),
    "ai_lease_usd_per_kw_month": PLAUSIBLE_LEASE,
    "ai_conversion_capex_usd_per_mw": Plausible(2e5, 2e7, "a conversion to a powered shell ~$2M per MW, a "
                                                "new AI data center ~$11M", low=_IN_MILLIONS,
                                                high="more than a new AI data center: are the GPUs in it?"),
    "ai_greenfield_capex_usd_per_mw": Plausible(1e6, 5e7, "an AI data center costs ~$11M per MW",
                                                low=_IN_MILLIONS, high="are the GPUs in it (~$29M per MW of IT: "
                                                "ai_cloud_gpu_capex_usd_per_it_mw)?"),
    "ai_conversion_lead_months": Plausible(3.0, 60.0, "a retrofit takes ~12 months", low="was it typed in years?",
                                           high="longer than a new campus takes"),
    "ai_greenfield_lead_months": Plausible(6.0, 120.0, "a new large-load connection takes 2-4 years",
                                           low="was it typed in years?", high="more than ten years"),
    "ai_cloud_revenue_usd_per_it_mw_year": Plausible(1e6, 5e7, "IREN-Microsoft: $9.7M per MW of IT a year",
                                                     low="was it typed in $M?",
                                                     high="5 times the IREN-Microsoft contract"),
    "ai_cloud_gpu_capex_usd_per_it_mw": Plausible(5e6, 1e8, "IREN's GPUs: ~$29M per MW of IT load",
                                                  low="was it typed in $M?", high="3 times IREN's GPUs"),
    "ai_cloud_opex_usd_per_it_mw_year": Plausible(1e5, 1e7, "~$1M, a tenth of the contract revenue",
                                                  low="was it typed in $M?", high="the whole contract revenue"),
    "ai_cloud_gpu_life_years": Plausible(1.0, 15.0, "GPUs are replaced every 4-6 years",
                                         low="was it typed in decades?", high="was it typed in months?"),
    "ai_cloud_it_kw_per_gpu": Plausible(0.2, 20.0, "a GPU with its share of the rack draws 1-2 kW",
                                        low="was it typed in MW?", high="was it typed in W?"),
    "discount_rate": Plausible(0.0, 0.3, "a real rate: 5-12 % for long infrastructure leases",
                               high="it is a share (0.08 is 8 % a year): was a percentage typed?"),
}

#: a scenario name names its run directory (runs/<name>-<time>): a plain file name, never a path
NAME_PATTERN = r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}"


class Ranges:
    """Marks a float of the schema (in its Annotated metadata) with its bound and plausible range,
    for :func:`plausibility_warnings`."""

    def __init__(self, bound: Bound, plausible: Plausible) -> None:
        self.bound = bound
        self.plausible = plausible


class BoundError(ValueError):
    """A number outside its :class:`Bound` (pydantic passes it on in the error's context)."""

    def __init__(self, problem: str, bound: Bound) -> None:
        super().__init__(f"{problem}; expected {bound.describe()}")
        self.problem = problem
        self.bound = bound


def bounded(bound: Bound, plausible: Plausible | None = None, help: str = "") -> Any:  # noqa: A002
    """A float field that is finite and inside ``bound``; with ``plausible``, a value outside that range
    (inside the bound) loads with a warning (:func:`plausibility_warnings`). The field's help is
    ``help``, then the bound and the plausible range with their reasons."""

    def check(value: float) -> float:
        problem = bound.problem(value)
        if problem:
            raise BoundError(problem, bound)
        return value

    ranges = bound.describe() + (f"; {plausible.describe(bound.unit)}" if plausible else "")
    text = f"{help} {ranges[0].upper()}{ranges[1:]}." if help else ranges
    if plausible is None:
        return Annotated[float, AfterValidator(check), Field(description=text)]
    return Annotated[float, AfterValidator(check), Field(description=text), Ranges(bound, plausible)]


def _path_text(value: str) -> str:
    if "\0" in value:
        raise ValueError("a path cannot contain a NUL byte")
    return value


def _safe_name(value: str) -> str:
    if not re.fullmatch(NAME_PATTERN, value):
        raise ValueError("not a safe file name: it names the run directory runs/<name>-<time>; expected "
                         "1-100 letters, digits, '.', '_' or '-', starting with a letter or digit "
                         "(no '/', no '..')")
    return value


#: a file path (or a grid name): text without NUL bytes
PathText = Annotated[str, AfterValidator(_path_text)]

#: USPS codes of the states, DC and the territories (planner.data.states.us_states has their outlines)
USPS_CODES = frozenset(
    "AL AK AZ AR CA CO CT DE DC FL GA HI ID IL IN IA KS KY LA ME MD MA MI MN MS MO MT NE NV NH NJ NM NY NC ND "
    "OH OK OR PA RI SC SD TN TX UT VT VA WA WV WI WY PR VI GU AS MP".split())


def usps_codes(states: list[str]) -> list[str]:
    """``states`` as upper-case USPS codes; a ValueError naming the first that is none."""
    out = []
    for state in states:
        code = state.strip().upper()
        if code not in USPS_CODES:
            hint = _usps_of_name(state)
            raise ValueError(f"{state!r} is not a USPS state code; expected USPS codes like TX"
                             + (f" ({state.strip()} is {hint})" if hint else ""))
        out.append(code)
    return out


def _usps_of_name(name: str) -> str | None:
    """The USPS code of a state's name ('texas' -> 'TX'), when the state outlines can be read."""
    try:
        from planner.data.states import us_states

        names = us_states()
    except Exception:  # noqa: BLE001 (only a hint: without plotly-geo there is none)
        return None
    hit = names.loc[names["name"].str.lower() == " ".join(name.split()).lower(), "state"]
    return str(hit.iloc[0]) if len(hit) else None


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class GridSection(_Strict):
    #: built-in grid (texas, western, eastern, usa), pandapower case, or a .json / .m file
    name: PathText = "texas"
    #: who supplies new load: headroom, pmax, single, regional or redispatch (README "Supply response")
    supply_response: Literal[SUPPLY_RESPONSES] = "headroom"
    #: redispatch: segments of each generator's piecewise-linear cost curve
    redispatch_cost_segments: int = Field(3, ge=1, le=50)

    @model_validator(mode="before")
    @classmethod
    def _renamed(cls, data):
        if isinstance(data, dict) and "slack" in data:
            raise ValueError("grid.slack was renamed grid.supply_response (same values: headroom, pmax, "
                             "single; and regional, redispatch)")
        return data


class SitesSection(_Strict):
    #: site files (GeoJSON, GeoPackage, Shapefile, CSV); empty: the shipped sites
    files: list[PathText] = Field(default_factory=list)
    #: keep only sites of these interconnects / states / countries / current uses (empty: all)
    interconnects: list[str] = Field(default_factory=list)
    states: list[str] = Field(default_factory=list)
    countries: list[str] = Field(default_factory=list)
    uses: list[Literal["bitcoin", "ai", "conversion", "development"]] = Field(default_factory=list)
    exclude: list[str] = Field(default_factory=list)
    #: site -> bus mapping (see planner.map_sites)
    min_kv: bounded(KV, PLAUSIBLE_KV, help="Lowest bus voltage a site may connect to.") = 115.0
    max_km: bounded(KM, PLAUSIBLE_KM, help="Farthest a site may be from its bus.") = 50.0
    #: site MW threshold -> lowest kV for sites of that size or more
    kv_by_mw: dict[bounded(MW, SITE_MW), bounded(KV, PLAUSIBLE_KV)] = Field(default_factory=dict)

    @field_validator("states")
    @classmethod
    def _usps(cls, states: list[str]) -> list[str]:
        return usps_codes(states)


class RequestTerms(_Strict):
    #: what the tenant pays, $ per kW-month of critical IT load (default: economics)
    lease_usd_per_kw_month: bounded(ECONOMICS_BOUNDS["ai_lease_usd_per_kw_month"], PLAUSIBLE_LEASE) | None = None
    #: $ per MW to build (default: economics greenfield capex; a request at a mine: conversion)
    capex_usd_per_mw: bounded(USD_PER_MW, PLAUSIBLE_CAPEX_USD_PER_MW) | None = None
    lead_months: bounded(LEAD_MONTHS) | None = None
    #: NPV of one MW served there, $; replaces the lease arithmetic
    value_usd_per_mw: bounded(VALUE_USD_PER_MW) | None = None
    min_block_mw: bounded(MW) | None = None


class Request(RequestTerms):
    name: str
    #: MW of grid power asked for
    mw: bounded(POSITIVE_MW, PLAUSIBLE_REQUEST_MW)
    #: an id of the sites files (the request is served there) ...
    site: str | None = None
    #: ... or a location: a new campus mapped to its nearest bus
    lat: bounded(LAT) | None = None
    lon: bounded(LON) | None = None
    #: USPS code; default: the state containing lat/lon
    state: str | None = None
    #: region of supply.regions; default: by state and interconnect
    region: str | None = None
    #: must be served in full (the scenario is infeasible otherwise; with a timeline, in every
    #: year it asks for MW and its lead time allows)
    must_serve: bool = False
    #: timeline: the first year the request asks for power (default: the timeline's first year)
    start_year: Year | None = None
    #: timeline: MW asked for from each listed year on, e.g. {2027: 300, 2028: 600} (at most mw;
    #: nothing before the first listed year); default: mw from start_year on
    ramp: dict[Year, bounded(MW)] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _swapped(cls, data):
        if isinstance(data, dict):
            lat, lon = data.get("lat"), data.get("lon")
            if lat_lon_swapped(lat, lon):
                raise ValueError(f"lat {lat} is not a latitude (one in [-90, 90]); it looks like lat and lon are "
                                 f"swapped: lat {lon}, lon {lat}?")
        return data

    @model_validator(mode="after")
    def _where(self) -> Request:
        located = self.lat is not None and self.lon is not None
        if (self.site is None) == (not located):
            raise ValueError("give either 'site' (an id of the sites files) or both 'lat' and 'lon'")
        for year, mw in self.ramp.items():
            if mw > self.mw + 1e-9:
                raise ValueError(f"ramp: {mw:g} MW in {year} is more than the request's mw ({self.mw:g})")
        return self


class DemandSection(_Strict):
    #: terms applied to every request that does not set its own
    defaults: RequestTerms = Field(default_factory=RequestTerms)
    requests: list[Request] = Field(default_factory=list)


class Region(_Strict):
    #: a site is in the first region whose states and interconnects (when given) both match
    states: list[str] = Field(default_factory=list)
    interconnects: list[str] = Field(default_factory=list)

    @field_validator("states")
    @classmethod
    def _usps(cls, states: list[str]) -> list[str]:
        return usps_codes(states)
    #: MW of new supply that can be connected near-term; none: no pool (unlimited)
    available_mw: bounded(MW) | None = None
    #: MW under construction, added to the pool
    under_construction_mw: bounded(MW) = 0.0
    #: timeline: the year the MW under construction come online (default: the timeline's first year)
    online_year: Year | None = None
    #: where the numbers come from
    basis: str = ""


class SupplySection(_Strict):
    regions: dict[str, Region] = Field(default_factory=dict)


EconomicsSection = create_model(
    "EconomicsSection", __config__=ConfigDict(extra="forbid"),
    **{f.name: (bounded(ECONOMICS_BOUNDS[f.name], ECONOMICS_PLAUSIBLE.get(f.name)) | None, None)
       for f in fields(Economics)},
)


class ConstraintsSection(_Strict):
    security: Literal["n-0", "n-1"] = "n-0"
    allow_conversion: bool = True
    allow_ai_cloud: Annotated[bool, Field(
        description="A site that may host AI may also run its own AI cloud (buy the GPUs, sell compute) "
                    "instead of leasing a powered shell.")] = True
    split_paths: Annotated[bool, Field(
        description="A site may split its MW between mining, an AI lease and an AI cloud; false: each site "
                    "takes one path (a binary per path).")] = True
    max_capex_usd: bounded(BUDGET_USD, PLAUSIBLE_BUDGET_USD) | None = None
    #: smallest AI block, MW, when a site converts or builds
    min_block_mw: bounded(MW) = 25.0
    overload_dfax: Annotated[bounded(DFAX), Field(
        description="A branch over its limit before any new load may not get worse; a load worsens it only "
                    "where its distribution factor on it reaches this cut-off (0: any amount).")] = 0.05
    emergency_rating_factor: Annotated[bounded(EMERGENCY_FACTOR), Field(
        description="N-1 limit = factor x rateA (the data has no emergency ratings).")] = 1.2
    #: share of new mining MW still running at peak (mines curtail)
    mining_firm_share: bounded(SHARE) = 0.1
    #: share of new AI MW running at peak
    ai_firm_share: bounded(SHARE) = 1.0
    offpeak_load_factor: Annotated[bounded(LOAD_FACTOR), Field(
        description="Off-peak base load as a share of the case's load (all new load running).")] = 0.6


class SolverSection(_Strict):
    name: Literal["highs", "cbc"] = "highs"
    time_limit_s: bounded(TIME_LIMIT_S) | None = 300.0
    mip_gap: bounded(MIP_GAP) = 0.0
    threads: Annotated[int, Field(gt=0, le=1024)] | None = None
    max_lazy_rounds: Annotated[int, Field(gt=0, le=10_000)] = 50
    near_binding: bounded(NEAR_BINDING) = 0.98
    #: also find how much of today's mining load the network can carry (one more LP)
    existing_load_check: bool = True
    #: also find the hosting capacity of every candidate bus (buses.csv hosting_mw; under redispatch
    #: an LP per candidate bus, the longest part of a plan with many candidates)
    bus_hosting: bool = True
    #: keep the N-1 LODF columns in memory when the branch x outage matrix is at most this size (else
    #: a sparse LODF: entries >= 0.001 and exact rows where needed, as on Eastern and usa); a quarter
    #: of it is the budget of the PTDF rows redispatch keeps on the grid's DC model for later solves
    lodf_cache_mb: bounded(LODF_CACHE_MB) = 2048.0


class AcSection(_Strict):
    #: run pandapower's AC power flow on the allocated case (Texas and Western; skipped with a reason on Eastern)
    check: bool = True
    #: power factor (lagging) of the new loads in the AC case
    power_factor: bounded(POWER_FACTOR) = 0.98
    #: derate the DC limits of branches AC shows overloaded by the new load and solve again
    tighten: bool = False
    #: most re-solves when tightening
    max_rounds: Annotated[int, Field(ge=1, le=20)] = 5


class OutputSection(_Strict):
    #: default run directory; the command line's --out wins; default runs/<name>-<timestamp>
    dir: PathText | None = None
    map_png: bool = True
    #: map.html: a self-contained interactive page (plotly, works offline)
    map_html: bool = True
    case_json: bool = True
    #: GIS layers of sites, branches and buses: geojson (allocation/branches/buses.geojson) or gpkg
    #: (one GeoPackage, run.gpkg, with layers sites, branches and buses)
    gis_format: Literal["geojson", "gpkg"] = "geojson"


class TimelineSection(_Strict):
    """Who gets power when, year by year (README "Timeline"). Values given per year hold from
    that year on, until the next year listed."""

    #: the years of the plan, one apart (e.g. [2026, 2027, 2028, 2029, 2030]); lead times run from
    #: the start of the first; the last is the end state, which also holds what is energized later
    years: list[Year] = Field(min_length=1, max_length=50)
    #: growth of the grid's base load, % per year: one figure, or {year: %} from that year on
    base_load_growth_percent: bounded(GROWTH_PERCENT) | dict[Year, bounded(GROWTH_PERCENT)] = 0.0
    #: share of each request's MW asked for, {year: share} from that year on (default: all of it
    #: from the first year); a request's own start_year or ramp takes precedence
    demand_share: dict[Year, bounded(SHARE)] = Field(default_factory=dict)
    #: AI demand of a region, {region: {year: MW}} from that year on, in place of its requests' sum
    ai_demand_mw: dict[str, dict[Year, bounded(MW)]] = Field(default_factory=dict)
    #: capex that may be spent in a year (by decision date), {year: $}; years not listed: no limit
    budget_usd: dict[Year, bounded(BUDGET_USD, PLAUSIBLE_BUDGET_USD)] = Field(default_factory=dict)
    #: AI and new-mining MW may be removed in a later year (their income stops from then; capex is
    #: not returned); default: what is built stays
    allow_removal: bool = False

    @field_validator("years")
    @classmethod
    def _consecutive(cls, y: list[int]) -> list[int]:
        if any(b != a + 1 for a, b in itertools.pairwise(y)):
            raise ValueError(f"years must be consecutive and increasing (one year apart), got {y}")
        return y

    @model_validator(mode="after")
    def _years(self) -> TimelineSection:
        y = self.years
        for r, by_year in self.ai_demand_mw.items():
            if not by_year:
                raise ValueError(f"ai_demand_mw.{r}: give the MW of at least one year, e.g. {{{y[0]}: 500}}")
        maps = [("base_load_growth_percent", self.base_load_growth_percent
                 if isinstance(self.base_load_growth_percent, dict) else {}),
                ("demand_share", self.demand_share), ("budget_usd", self.budget_usd),
                *((f"ai_demand_mw.{r}", m) for r, m in self.ai_demand_mw.items())]
        for name, values in maps:
            bad = [k for k in values if not y[0] <= k <= y[-1]]
            if bad:
                raise ValueError(f"{name}: year {bad[0]} is outside the timeline's years {y[0]}-{y[-1]}")
        return self


class Scenario(_Strict):
    #: names the run directory (runs/<name>-<time>): letters, digits, '.', '_', '-'; default: the file's name
    name: Annotated[str, AfterValidator(_safe_name)] | None = None
    description: str = ""
    #: a scenario file (relative to this one) or a shipped scenario's name (texas, us-2028)
    extends: PathText | None = None
    grid: GridSection = Field(default_factory=GridSection)
    sites: SitesSection = Field(default_factory=SitesSection)
    demand: DemandSection = Field(default_factory=DemandSection)
    supply: SupplySection = Field(default_factory=SupplySection)
    economics: EconomicsSection = Field(default_factory=EconomicsSection)  # type: ignore[valid-type]
    constraints: ConstraintsSection = Field(default_factory=ConstraintsSection)
    solver: SolverSection = Field(default_factory=SolverSection)
    ac: AcSection = Field(default_factory=AcSection)
    output: OutputSection = Field(default_factory=OutputSection)
    #: year by year (absent: one period, the end state)
    timeline: TimelineSection | None = None
    #: the file read (not a YAML key)
    _path: Path | None = None
    _sets: tuple[str, ...] = ()
    #: dotted key -> what set it (a file, or "--set KEY=VALUE")
    _origin: dict[str, str] = {}

    @property
    def path(self) -> Path | None:
        return self._path

    @property
    def label(self) -> str:
        """How errors name this scenario: its file (and the --set overrides, if any)."""
        where = str(self._path) if self._path else f"scenario {self.name}"
        return where + (f" (with {len(self._sets)} --set)" if self._sets else "")

    def source_of(self, field: str) -> str | None:
        """The ``--set`` that caused a problem at the dotted ``field`` (one that set the field, a field
        inside it or a section around it), else the file that set it; None when nothing did."""
        return _source_of(field, self._origin)

    def blame(self, exc: InputError) -> InputError:
        """``exc`` (raised with :attr:`label` as its source) re-sourced to what set its field: the
        ``--set`` that caused it, or the file it ``extends`` when the field came from there."""
        if not exc.field or exc.source != self.label:
            return exc
        source = self.source_of(exc.field)
        if source is None or source == str(self._path):
            return exc
        return InputError(exc.message, source=source, field=exc.field, row=exc.row, value=exc.value,
                          expected=exc.expected)

    def economics_overrides(self) -> dict[str, float]:
        return {k: v for k, v in self.economics.model_dump().items() if v is not None}


# --------------------------------------------------------------------------- settings

#: each engine parameter (a :class:`planner.Params` field) that a scenario sets, and its key: the
#: schema above is the one definition of its default, bounds and help; Params, the command line
#: and ``planner hosting`` take them from here
PARAM_KEYS = {
    "supply_response": "grid.supply_response",
    "redispatch_cost_segments": "grid.redispatch_cost_segments",
    "allow_conversion": "constraints.allow_conversion",
    "allow_ai_cloud": "constraints.allow_ai_cloud",
    "split_paths": "constraints.split_paths",
    "min_block_mw": "constraints.min_block_mw",
    "max_capex_usd": "constraints.max_capex_usd",
    "overload_dfax": "constraints.overload_dfax",
    "security": "constraints.security",
    "emergency_rating_factor": "constraints.emergency_rating_factor",
    "mining_firm_share": "constraints.mining_firm_share",
    "ai_firm_share": "constraints.ai_firm_share",
    "offpeak_load_factor": "constraints.offpeak_load_factor",
    "solver": "solver.name",
    "time_limit_s": "solver.time_limit_s",
    "mip_gap": "solver.mip_gap",
    "threads": "solver.threads",
    "max_lazy_rounds": "solver.max_lazy_rounds",
    "near_binding": "solver.near_binding",
    "lodf_cache_mb": "solver.lodf_cache_mb",
    "check_existing_load": "solver.existing_load_check",
    "bus_hosting": "solver.bus_hosting",
}


def _field(key: str):
    section, name = key.split(".")
    return Scenario.model_fields[section].annotation.model_fields[name]


def setting_default(key: str):
    """Default of a setting, by scenario key (``constraints.min_block_mw``) or Params name."""
    return _field(PARAM_KEYS.get(key, key)).get_default(call_default_factory=True)


def setting_help(key: str) -> str:
    """Help text of a setting (its schema description)."""
    return _field(PARAM_KEYS.get(key, key)).description or ""


_ADAPTERS: dict[str, Any] = {}


def check_setting(name: str, value):
    """``value`` checked against the schema of Params field ``name`` (or scenario key); an
    :class:`InputError` naming
    the field, the value and what was expected otherwise. Returns the value as the schema reads it."""
    from pydantic import TypeAdapter

    if name not in _ADAPTERS:
        f = _field(PARAM_KEYS.get(name, name))
        _ADAPTERS[name] = TypeAdapter(Annotated[(f.annotation, *f.metadata)] if f.metadata else f.annotation)
    try:
        return _ADAPTERS[name].validate_python(value, strict=False)
    except ValidationError as exc:
        err = exc.errors()[0]
        cause = (err.get("ctx") or {}).get("error")
        if isinstance(cause, BoundError):
            raise InputError(cause.problem, field=name, value=value, expected=cause.bound.describe()) from None
        raise InputError(err["msg"].removeprefix("Value error, "), field=name, value=value) from None


# --------------------------------------------------------------------------- reading


def _path_problem(path: Path) -> str | None:
    """Why ``path`` cannot be read as a file (None when it can, or may not exist)."""
    if "\0" in str(path):
        return "a path cannot contain a NUL byte"
    if path.is_dir():
        return "is a directory"
    return None


def _shipped_scenarios() -> list[str]:
    from planner.data import datasets

    try:
        return sorted(p.stem for p in datasets.data_dir("scenarios").glob("*.yaml"))
    except FileNotFoundError:
        return []


def _shipped(name: str) -> Path | None:
    """The shipped scenario file called ``name`` (``texas``), if ``name`` is a bare name."""
    from planner.data import datasets

    path = Path(name)
    if path.suffix or path.parent != Path(".") or not re.fullmatch(NAME_PATTERN, name):
        return None
    try:
        shipped = datasets.data_dir("scenarios") / f"{path.name}.yaml"
    except FileNotFoundError:
        return None
    return shipped if shipped.is_file() else None


def resolve_path(name: str | Path) -> Path:
    """A scenario file: a path, or the name of a shipped scenario (``texas``, ``us-2028``)."""
    path = Path(name)
    problem = _path_problem(path)
    if problem:
        raise InputError(problem, source=path, expected="a scenario file (YAML)")
    if path.is_file():
        return path
    shipped = _shipped(str(name))
    if shipped is not None:
        return shipped
    names = _shipped_scenarios()
    raise InputError("no such scenario file", source=path,
                     expected="a YAML file" + (f" or a shipped scenario: {', '.join(names)}" if names else ""))


class DuplicateKeyError(yaml.constructor.ConstructorError):
    """A key given twice in one mapping (YAML keeps the last silently; planner refuses)."""


class _Loader(yaml.SafeLoader):
    """yaml.SafeLoader that refuses duplicate keys: the first block would otherwise be lost."""

    def construct_mapping(self, node, deep=False):
        seen: dict = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self.construct_object(key_node, deep=True)
            try:
                first = seen.setdefault(key, key_node.start_mark)
            except TypeError:  # an unhashable key: SafeLoader's own error says so
                break
            if first is not key_node.start_mark:
                raise DuplicateKeyError(
                    None, None, f"duplicate key {key!r} (first at line {first.line + 1}); "
                    "a key may appear once in a mapping", key_node.start_mark)
        return super().construct_mapping(node, deep=deep)


def safe_load(text: str) -> Any:
    """``yaml.safe_load`` that refuses duplicate keys."""
    return yaml.load(text, Loader=_Loader)


@functools.lru_cache(maxsize=16)
def _parse(text: str) -> Any:
    """A scenario file's text parsed once per process (a sweep reads the same file for every
    scenario); callers get a deep copy."""
    return safe_load(text)


def _yaml_problem(exc: yaml.YAMLError) -> str:
    mark = getattr(exc, "problem_mark", None)
    where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
    problem = getattr(exc, "problem", None) or str(exc)
    return f"not valid YAML{where}: {problem}"


def _read_yaml(path: Path) -> dict:
    problem = _path_problem(path)
    if problem:
        raise InputError(problem, source=path, expected="a scenario file (YAML)")
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read the file ({exc.strerror or exc})", source=path) from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        utf16 = raw[:2] in (b"\xff\xfe", b"\xfe\xff")
        raise InputError(f"not UTF-8 text (byte 0x{raw[exc.start]:02x} at offset {exc.start})"
                         + ("; it looks like UTF-16" if utf16 else ""), source=path,
                         expected="a YAML file saved as UTF-8") from None
    try:
        data = copy.deepcopy(_parse(text))
    except yaml.YAMLError as exc:
        raise InputError(_yaml_problem(exc), source=path) from None
    except RecursionError:
        raise InputError("not a scenario: nested too deeply", source=path) from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise InputError("a scenario file is a mapping of sections", source=path, value=type(data).__name__,
                         expected="keys " + ", ".join(SECTIONS))
    return data


def _absolute_files(data: dict, base: Path) -> None:
    """Make the paths a file names (sites files, a grid file) relative to that file absolute."""

    def usable(f: Any) -> bool:  # anything else is left to the schema's error
        return isinstance(f, str) and "\0" not in f

    sites = data.get("sites")
    if isinstance(sites, dict) and isinstance(sites.get("files"), list):
        sites["files"] = [str((base / f).resolve()) if usable(f) and not Path(f).is_absolute() else f
                          for f in sites["files"]]
    grid = data.get("grid")
    if isinstance(grid, dict) and usable(grid.get("name")):
        candidate = base / grid["name"]
        if Path(grid["name"]).suffix in (".json", ".m") and candidate.exists():
            grid["name"] = str(candidate.resolve())


def _merge(base: dict, top: dict, origin: dict, source: str, prefix: str = "") -> dict:
    """Deep merge (mappings key by key, other values replaced); record where each key came from."""
    out = dict(base)
    for key, value in top.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value, origin, source, dotted + ".")
        else:
            out[key] = value
        origin[dotted] = source
    return out


def _extends_target(path: Path, parent: str) -> Path:
    """The file ``extends: parent`` of ``path`` names: relative to ``path``, else a shipped scenario."""
    target = path.parent / parent
    problem = _path_problem(Path(parent)) or (_path_problem(target) if not target.is_file() else None)
    if problem:
        raise InputError(problem, source=path, field="extends", value=parent,
                         expected="a scenario file (YAML)")
    if target.is_file():
        return target
    shipped = _shipped(parent)
    if shipped is not None:
        return shipped
    names = _shipped_scenarios()
    raise InputError("the scenario it extends does not exist", source=path, field="extends", value=parent,
                     expected=f"a file relative to {path.parent}"
                     + (f" or a shipped scenario: {', '.join(names)}" if names else ""))


def _load_raw(path: Path, origin: dict, seen: tuple[Path, ...] = ()) -> dict:
    path = path.resolve()
    if path in seen:
        chain = " -> ".join(str(p) for p in (*seen, path))
        raise InputError("'extends' forms a cycle", source=path, field="extends", value=chain)
    data = _read_yaml(path)
    _absolute_files(data, path.parent)
    parent = data.get("extends")
    if parent is None:
        return _merge({}, data, origin, str(path))
    if not isinstance(parent, str) or not parent.strip():
        raise InputError("must be a file path or a shipped scenario's name", source=path, field="extends",
                         value=parent)
    base = _load_raw(_extends_target(path, parent), origin, (*seen, path))
    return _merge(base, data, origin, str(path))


def parse_set(item: str) -> tuple[list[str | int], Any]:
    """``a.b.c=VALUE`` -> (["a", "b", "c"], value read as YAML)."""
    if "=" not in item:
        raise InputError("expected KEY=VALUE", source="--set", value=item,
                         expected="e.g. economics.hashprice_usd_per_ph_day=35")
    key, text = item.split("=", 1)
    key = key.strip()
    if not re.fullmatch(r"[A-Za-z_][\w-]*(\.[\w-]+)*", key, flags=re.ASCII):
        raise InputError("not a dotted key", source="--set", field=key or "(empty)",
                         expected="section.field, e.g. constraints.allow_conversion")
    try:
        value = safe_load(text) if text.strip() else None
    except DuplicateKeyError as exc:
        raise InputError(_yaml_problem(exc), source=f"--set {item}") from None
    except (yaml.YAMLError, RecursionError):
        value = text  # not YAML: the text itself (the schema says whether text may go there)
    parts: list[str | int] = [int(p) if p.isdigit() else p for p in key.split(".")]
    return parts, value


def _apply_set(data: dict, parts: list, value: Any, item: str) -> None:
    """Set ``data[parts[0]][parts[1]]... = value``; missing sections are created,
    list items must exist."""
    node: Any = data
    for i, part in enumerate(parts):
        where = ".".join(map(str, parts[:i + 1]))
        if isinstance(part, int):
            if not isinstance(node, list) or part >= len(node):
                raise InputError("no such list item", source=f"--set {item}", field=where, value=part,
                                 expected=f"an index below {len(node) if isinstance(node, list) else 0}")
        elif not isinstance(node, dict):
            raise InputError("is not a section", source=f"--set {item}", field=".".join(map(str, parts[:i])))
        if i == len(parts) - 1:
            node[part] = value
        else:
            if isinstance(node, dict) and node.get(part) is None:
                node[part] = [] if isinstance(parts[i + 1], int) else {}
            node = node[part]


def _known_keys(loc: tuple) -> list[str]:
    """Field names of the schema model at ``loc`` (for "did you mean")."""
    model: Any = Scenario
    for part in loc:
        if isinstance(part, int) or model is None:
            continue
        field = model.model_fields.get(part) if hasattr(model, "model_fields") else None
        if field is None:
            # a key of a dict[str, Model] (a region name)
            model = model if not hasattr(model, "model_fields") else None
            continue
        model = inner_model(field.annotation)
    return list(model.model_fields) if model is not None and hasattr(model, "model_fields") else []


def inner_model(annotation):
    import typing

    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in typing.get_args(annotation):
        found = inner_model(arg)
        if found is not None:
            return found
    return None


def _source_of(dotted: str, origin: dict[str, str]) -> str | None:
    """What caused a problem at ``dotted``: a ``--set`` of that key, of a key inside it or of a section
    around it (the last one given wins); else the file that set the key or its nearest section."""
    sets = [src for key, src in origin.items() if src.startswith("--set ")
            and (key == dotted or key.startswith(dotted + ".") or dotted.startswith(key + "."))]
    if sets:
        return sets[-1]
    parts = dotted.split(".")
    for n in range(len(parts), 0, -1):
        key = ".".join(parts[:n])
        if key in origin:
            return origin[key]
    return None


#: pydantic's name for one type of a field of several types, as it puts it in an error's location
_UNION_TAG = re.compile(r"[a-z][a-z0-9_-]*\[.*\]")


def _error(exc: ValidationError, origin: dict, path: Path | None) -> InputError:
    # a field of several types (a number or {year: number}) reports each type it tried under a tag of
    # that type (e.g. "function-after[check(), float]"): the field is the same
    def tag(p) -> bool:
        return isinstance(p, str) and p != "[key]" and bool(_UNION_TAG.fullmatch(p))

    def place(e) -> tuple:
        return tuple(p for p in e["loc"] if not tag(p))

    def root(e) -> tuple:  # the field, up to its first union
        loc = tuple(e["loc"])
        cut = next((k for k, p in enumerate(loc) if tag(p)), None)
        return place(e) if cut is None else loc[:cut]

    def branch(e) -> tuple:  # the field and the type tried
        loc = tuple(e["loc"])
        cut = next((k for k, p in enumerate(loc) if tag(p)), None)
        return loc if cut is None else loc[:cut + 1]

    errors = exc.errors()
    first = root(errors[0])
    # of the types of one field, the one that went deepest into the value given is what was meant
    same = [e for e in errors if root(e) == first]
    err = max(same, key=lambda e: len(place(e)))
    loc = place(err)
    is_key = "[key]" in loc  # pydantic marks a bad mapping key with a "[key]" part
    loc = tuple(p for p in loc if p != "[key]")
    dotted = ".".join(str(p) for p in loc)
    source = _source_of(dotted, origin) or (str(path) if path else "scenario")
    # more problems: others in the type that was meant, and other fields (not the other types tried)
    others = (len({place(e) for e in same if branch(e) == branch(err) and place(e) != loc})
              + len({root(e) for e in errors if root(e) != first}))
    more = f" (and {others} more problem{'s' if others > 1 else ''})" if others else ""
    if err["type"] == "extra_forbidden":
        known = _known_keys(loc[:-1])
        close = difflib.get_close_matches(str(loc[-1]), known, n=1, cutoff=0.5)
        hint = f"did you mean '{'.'.join(str(p) for p in loc[:-1] + (close[0],))}'?" if close else \
            ("known keys: " + ", ".join(known) if known else None)
        return InputError("unknown key" + (f"; {hint}" if hint else "") + more, source=source, field=dotted)
    value = err.get("input")
    if isinstance(value, dict | list):
        value = None
    cause = (err.get("ctx") or {}).get("error")
    if isinstance(cause, BoundError):  # the bound and its reason go in "expected"
        return InputError(("a key: " if is_key else "") + cause.problem + more, source=source, field=dotted,
                          value=value, expected=cause.bound.describe())
    message = ("a key: " if is_key else "") + err["msg"].removeprefix("Value error, ")
    return InputError(message + more, source=source, field=dotted, value=value)


def _implausible(value: Any, annotation: Any, path: tuple) -> typing.Iterator[tuple[tuple, Any, Ranges]]:
    """(dotted path, value, ranges) of each number of ``value`` (validated against ``annotation``)
    outside its plausible range; dict keys are checked too."""
    origin = typing.get_origin(annotation)
    if origin is Annotated:
        base, *meta = typing.get_args(annotation)
        if isinstance(value, int | float) and not isinstance(value, bool):
            for m in meta:
                if isinstance(m, Ranges) and m.plausible.warning(value) is not None:
                    yield path, value, m
        yield from _implausible(value, base, path)
    elif origin in (typing.Union, types.UnionType):
        for arm in typing.get_args(annotation):
            yield from _implausible(value, arm, path)
    elif origin is dict and isinstance(value, dict):
        key_type, value_type = typing.get_args(annotation)
        for k, v in value.items():
            yield from _implausible(k, key_type, (*path, k))
            yield from _implausible(v, value_type, (*path, k))
    elif origin is list and isinstance(value, list):
        (item_type,) = typing.get_args(annotation)
        for i, v in enumerate(value):
            yield from _implausible(v, item_type, (*path, i))
    elif isinstance(annotation, type) and issubclass(annotation, BaseModel) and isinstance(value, BaseModel):
        for name, f in type(value).model_fields.items():
            yield from _implausible(getattr(value, name), field_annotation(f), (*path, name))


def field_annotation(f) -> Any:
    """A model field's type with its metadata (validators, markers), as one Annotated type."""
    return Annotated[(f.annotation, *f.metadata)] if f.metadata else f.annotation


def plausibility_warnings(scenario: Scenario, path: Path | None = None) -> list[str]:
    """One line for each number of ``scenario`` that is inside its bound but outside its plausible
    range (the field, what set it, the value, the range and the likely mistake), and for each request
    whose lat and lon look swapped."""
    origin = scenario._origin
    out = []
    for loc, value, ranges in _implausible(scenario, Scenario, ()):
        dotted = ".".join(map(str, loc))
        source = _source_of(dotted, origin) or (str(path) if path else "scenario")
        out.append(ranges.plausible.warning(value, ranges.bound.unit, source=source, field=dotted))
    for i, req in enumerate(scenario.demand.requests):
        if req.lat is not None and req.lon is not None and lat_lon_swapped(req.lat, req.lon, us=True):
            dotted = f"demand.requests.{i}"
            source = _source_of(dotted, origin) or (str(path) if path else "scenario")
            out.append(f"{source}, field '{dotted}': lat {req.lat:g}, lon {req.lon:g} is outside the US; it looks "
                       f"like lat and lon are swapped (lat {req.lon:g}, lon {req.lat:g} is in the US)")
    return out


def setting_warnings(key: str, value: Any, source: str | None = None) -> list[str]:
    """:func:`plausibility_warnings` of one setting (a scenario key or a Params name), e.g. a command
    line option's value; ``source`` names it (the option) in place of the field."""
    f = _field(PARAM_KEYS.get(key, key))
    return [ranges.plausible.warning(v, ranges.bound.unit, source=source, field=None if source else key)
            for _, v, ranges in _implausible(value, field_annotation(f), ())]


def load_scenario(name: str | Path, sets: list[str] | tuple[str, ...] = ()) -> Scenario:
    """Read a scenario file (following ``extends``), apply ``--set`` overrides, validate."""
    path = resolve_path(name)
    origin: dict[str, str] = {}
    data = _load_raw(path, origin)
    for item in sets:
        parts, value = parse_set(item)
        _apply_set(data, parts, value, item)
        origin[".".join(str(p) for p in parts)] = f"--set {item}"
    try:
        scenario = Scenario.model_validate(data)
    except ValidationError as exc:
        raise _error(exc, origin, path) from None
    # the file's name names the run when the scenario does not: made safe the same way
    scenario.name = scenario.name or (re.sub(r"[^A-Za-z0-9._-]+", "-", path.stem).strip(".-_")[:100] or "scenario")
    scenario._path = path.resolve()
    scenario._sets = tuple(sets)
    scenario._origin = origin
    for line in plausibility_warnings(scenario, path):
        logger.warning(line)
    return scenario
