"""From a validated scenario to a run: load the grid and sites, add the demand
requests as sites, assign regions, build :class:`planner.Params`, solve, and add
the scenario's summary blocks (regions, conversions).

:func:`prepare` stops before the solve; :func:`run` does everything
``planner solve`` does except writing files.
"""

from __future__ import annotations

import dataclasses
import difflib
import logging
import re
from dataclasses import dataclass
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from planner.config.scenario import PARAM_KEYS, Scenario
from planner.core.errors import InputError
from planner.economics import Economics
from planner.network import supply as supply_kinds
from planner.network.regions import bus_regions, match_regions

logger = logging.getLogger(__name__)

#: the row of the region table for requests that map to no bus of the grid
NOT_MODELLED = "not modelled"


@dataclass
class Prepared:
    scenario: Scenario
    grid: Any
    sites: gpd.GeoDataFrame      # sites of the files plus the demand requests, mapped to buses
    params: Any                  # planner.Params
    regions: dict[str, dict]     # region -> pool and demand figures
    timeline: Any = None         # planner.optimization.periods.Timeline of a scenario with a timeline section
    #: the sites of the site files that the scenario's filters leave out (their operators are listed)
    outside_sites: pd.DataFrame | None = None


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "request"


def read_scenario_sites(sc: Scenario) -> tuple[gpd.GeoDataFrame, pd.DataFrame]:
    """The sites of the scenario's files that its filters keep, and those they leave out."""
    from planner.data import datasets
    from planner.data.sites import read_sites

    files = sc.sites.files or [str(datasets.default_sites())]
    frames = []
    for f in files:
        frame = read_sites(f)
        frame["source_file"] = f
        frames.append(frame)
    sites = gpd.GeoDataFrame(pd.concat(frames, ignore_index=True), crs="EPSG:4326")
    dup = sites["site_id"].duplicated()
    if dup.any():
        raise InputError("the same site id is in two site files", source=", ".join(files), field="site_id",
                         value=sites["site_id"][dup].iloc[0], expected="unique ids across sites.files")
    s = sc.sites
    keep = np.ones(len(sites), bool)
    # each filter alone: what it removes, and whether the site files have its column at all
    removed: list[tuple[str, list[str], int, str]] = []
    for name, column, wanted in (("interconnects", "interconnect", s.interconnects), ("states", "state", s.states),
                                 ("countries", "country", s.countries), ("uses", "current_use", s.uses)):
        if wanted:
            have = sites[column].fillna("").astype(str) if column in sites else pd.Series("", index=sites.index)
            ok = have.str.strip().str.upper().isin([w.upper() for w in wanted]).to_numpy()
            keep &= ok
            lacking = [f for f, frame in zip(files, frames) if column not in frame]
            note = ""
            if len(lacking) == len(files):
                note = f"the site files have no '{column}' column"
            elif lacking:
                note = f"{', '.join(map(str, lacking))} {'has' if len(lacking) == 1 else 'have'} no '{column}' column"
                n = int(sites["source_file"].isin(lacking).sum())
                logger.warning(f"{sc.label}, field 'sites.{name}': {note}, so the filter leaves out "
                               f"{'its' if len(lacking) == 1 else 'their'} {n} site{'s' if n != 1 else ''}")
            removed.append((f"sites.{name}", list(wanted), int((~ok).sum()), note))
    unknown = sorted(set(s.exclude) - set(sites["site_id"]))
    if unknown:
        raise InputError("unknown site id", source=sc.label, field="sites.exclude", value=unknown[0],
                         expected=_close_ids(unknown[0], sites["site_id"]))
    excluded = sites["site_id"].isin(s.exclude).to_numpy()
    keep &= ~excluded
    if s.exclude:
        removed.append(("sites.exclude", list(s.exclude), int(excluded.sum()), ""))
    if not keep.any():
        each = "; ".join(f"{key} [{', '.join(map(str, wanted))}] removes {n} of them" + (f" ({note})" if note else "")
                         for key, wanted, n, note in removed)
        alone = [key for key, _, n, _ in removed if n == len(sites)]
        raise InputError(f"the filters leave none of the {len(sites)} sites: {each}", source=sc.label,
                         field=alone[0] if len(alone) == 1 else "sites",
                         expected="filters (interconnects, states, countries, uses, exclude) that keep some sites")
    return sites[keep].reset_index(drop=True), pd.DataFrame(sites[~keep].drop(columns="geometry"))


def _close_ids(value: str, ids) -> str:
    close = difflib.get_close_matches(value, list(map(str, ids)), n=3, cutoff=0.5)
    return ("a site id of the (filtered) sites; did you mean " + " or ".join(f"'{c}'" for c in close) + "?"
            if close else "a site id of the (filtered) sites")


TERM_COLUMNS = {"lease_usd_per_kw_month": "ai_lease_usd_per_kw_month", "capex_usd_per_mw": "ai_capex_usd_per_mw",
                "lead_months": "ai_lead_months", "value_usd_per_mw": "ai_value_usd_per_mw",
                "min_block_mw": "min_block_mw"}


def _add_requests(sc: Scenario, sites: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Requests at a site set that site's AI terms; requests at a location become new sites."""
    from planner.data.states import state_of

    sites = sites.copy()
    for col in (*TERM_COLUMNS.values(), "ai_max_mw", "ai_min_mw"):
        if col not in sites:
            sites[col] = np.nan
    sites["request"] = ""
    sites["requested_mw"] = 0.0
    if "region" not in sites:
        sites["region"] = ""
    defaults = sc.demand.defaults.model_dump()
    new_rows = []
    used_sites: dict[str, int] = {}
    for i, req in enumerate(sc.demand.requests):
        terms = {k: (getattr(req, k) if getattr(req, k) is not None else defaults[k]) for k in TERM_COLUMNS}
        values = {TERM_COLUMNS[k]: v for k, v in terms.items() if v is not None}
        values.update(ai_max_mw=req.mw, request=req.name, requested_mw=req.mw)
        if req.must_serve:
            values["ai_min_mw"] = req.mw
        if req.region:
            values["region"] = req.region
        if req.site is not None:
            hit = np.flatnonzero(sites["site_id"].to_numpy() == req.site)
            if len(hit) == 0:
                raise InputError("unknown site id", source=sc.label, field=f"demand.requests.{i}.site",
                                 value=req.site, expected=_close_ids(req.site, sites["site_id"]))
            if req.site in used_sites:
                raise InputError(f"site already has request {used_sites[req.site]}", source=sc.label,
                                 field=f"demand.requests.{i}.site", value=req.site,
                                 expected="one request per site")
            used_sites[req.site] = i
            for col, v in values.items():
                sites.loc[hit[0], col] = v
            continue
        state = req.state or state_of(req.lon, req.lat)[0]
        new_rows.append({"site_id": f"demand-{_slug(req.name)}", "name": req.name, "operator": "",
                         "state": state.upper(), "country": "US", "current_use": "development",
                         "status": "requested", "poi_mw": req.mw, "operating_mw": 0.0,
                         "lat": req.lat, "lon": req.lon, **values})
    if new_rows:
        frame = pd.DataFrame(new_rows)
        dup = frame["site_id"].duplicated() | frame["site_id"].isin(sites["site_id"])
        if dup.any():
            raise InputError("two requests have the same name (or the name of a site)", source=sc.label,
                             field="demand.requests", value=frame["name"][dup].iloc[0],
                             expected="distinct request names")
        extra = gpd.GeoDataFrame(frame, geometry=gpd.points_from_xy(frame["lon"], frame["lat"]), crs="EPSG:4326")
        sites = gpd.GeoDataFrame(pd.concat([sites, extra], ignore_index=True), crs="EPSG:4326")
    return sites


def _assign_regions(sc: Scenario, sites: gpd.GeoDataFrame) -> np.ndarray:
    regions = sc.supply.regions
    region = sites["region"].fillna("").astype(str).to_numpy(object)
    if not regions:
        return region
    for name in sorted(set(region) - {""}):
        if name not in regions:
            raise InputError("names a region that supply.regions does not define", source=sc.label,
                             field="region", value=name, expected="one of " + ", ".join(regions))
    state = sites["state"].fillna("").astype(str).str.upper().to_numpy() if "state" in sites else \
        np.full(len(sites), "")
    ic = np.where(sites["bus_interconnect"].fillna("").astype(str) != "",
                  sites["bus_interconnect"].fillna("").astype(str),
                  sites["interconnect"].fillna("").astype(str) if "interconnect" in sites else "")
    match_regions(regions, state, ic, region)
    mapped = (sites["status"] == "mapped").to_numpy()
    lost = np.flatnonzero(mapped & (region == ""))
    if len(lost):
        i = lost[0]
        raise InputError(f"site {sites['site_id'].iat[i]} (state {state[i] or '?'}, interconnect {ic[i] or '?'}) "
                         "is in no region of supply.regions", source=sc.label, field="supply.regions",
                         expected="a region whose states and interconnects include it, or a sites filter "
                                  "that leaves it out")
    return region


def _gen_regions(sc: Scenario, grid) -> dict[int, str]:
    """Supply region of each generator, placed as sites are: the first region of supply.regions
    whose states and interconnects include its bus; without supply.regions, its bus's interconnect.
    Generators in no region get none (they do not take part in the regional supply response)."""
    gen = grid.net.gen
    region = bus_regions(sc.supply.regions, grid.buses.reindex(gen["bus"].to_numpy()))
    if not sc.supply.regions:
        return dict(zip(gen.index.tolist(), region.tolist()))
    return {int(g): str(r) for g, r in zip(gen.index, region) if r}


def prepare(sc: Scenario, grid=None) -> Prepared:
    """Load the grid and sites of a scenario, add the demand, assign regions, build Params."""
    try:
        return _prepare(sc, grid)
    except InputError as exc:  # blame the --set that caused it, not the scenario file
        raise sc.blame(exc) from None


def _prepare(sc: Scenario, grid=None) -> Prepared:
    from planner.data.grid import load_grid
    from planner.data.sites import map_sites
    from planner.optimization.model import Params

    economics = Economics().with_overrides(**sc.economics_overrides()).validate(sc.label)
    if grid is None:
        logger.info(f"loading grid {sc.grid.name}")
        try:
            grid = load_grid(sc.grid.name)
        except InputError as exc:
            raise InputError(exc.message, source=sc.label, field="grid.name", value=exc.value,
                             expected=exc.expected) from None
    sites, outside = read_scenario_sites(sc)
    sites = _add_requests(sc, sites)
    logger.info(f"mapping {len(sites)} sites and requests to buses")
    sites = map_sites(sites, grid, min_kv=sc.sites.min_kv, max_km=sc.sites.max_km,
                      kv_by_mw=sorted(sc.sites.kv_by_mw.items()) or None)
    sites["region"] = _assign_regions(sc, sites)
    mapped = (sites["status"] == "mapped").to_numpy()
    # without supply regions a mapped site's region is its interconnect; a site on no bus has none
    fallback = sites["bus_interconnect"].fillna("").astype(str).to_numpy()
    sites["region"] = np.where((sites["region"] == "") & mapped, fallback, sites["region"])
    # sorted: the order of the regions' rows and summary blocks is the same in every process (a set's
    # order of strings changes with PYTHONHASHSEED)
    modelled_regions = sorted(set(sites.loc[mapped, "region"].astype(str)))

    regions: dict[str, dict] = {}
    for name, r in sc.supply.regions.items():
        pool = None if r.available_mw is None else r.available_mw + r.under_construction_mw
        regions[name] = {"available_mw": r.available_mw, "under_construction_mw": r.under_construction_mw,
                         "pool_mw": pool, "requested_ai_mw": 0.0}
    requested = sites.groupby("region")["requested_mw"].sum()
    for name, mw in requested.items():
        if mw <= 0 and (name == "" or name not in modelled_regions):
            continue
        label = name or NOT_MODELLED  # requests that map to no bus and name no region
        regions.setdefault(label, {"available_mw": None, "under_construction_mw": 0.0, "pool_mw": None})
        regions[label]["requested_ai_mw"] = float(mw)
    pools = {r: v["pool_mw"] for r, v in regions.items() if v["pool_mw"] is not None and r in modelled_regions}
    has_requests = len(sc.demand.requests) > 0
    demand = {}
    if has_requests:  # AI must serve a request: every modelled region gets a cap (0 without requests)
        demand = {r: float(requested.get(r, 0.0)) for r in modelled_regions}
    settings = {name: getattr(getattr(sc, key.split(".")[0]), key.split(".")[1]) for name, key in PARAM_KEYS.items()}
    params = Params(economics=economics, **settings,
                    gen_regions=_gen_regions(sc, grid) if supply_kinds.of(sc.grid.supply_response).per_region else {},
                    supply_pools_mw=pools, ai_demand_mw=demand,
                    requested_ai_mw=float(requested.sum()) if has_requests else 0.0)
    timeline = _timeline(sc, sites, modelled_regions) if sc.timeline is not None else None
    return Prepared(scenario=sc, grid=grid, sites=sites, params=params, regions=regions, timeline=timeline,
                    outside_sites=outside)


def _step(values: dict[int, float], years: list[int], before: float) -> np.ndarray:
    """A value per year from ``{year: value}`` held from each listed year on (``before`` until the
    first listed year)."""
    out = np.full(len(years), float(before))
    for k, y in enumerate(years):
        listed = [v for yr, v in sorted(values.items()) if yr <= y]
        if listed:
            out[k] = float(listed[-1])
    return out


def _timeline(sc: Scenario, sites: gpd.GeoDataFrame, modelled_regions: list[str]):
    """The :class:`planner.optimization.periods.Timeline` of a scenario's ``timeline`` section: base-load growth,
    pools (under-construction MW from their online year), each request's MW per year (its start
    year and ramp, else the timeline's demand share), AI demand per region and yearly budgets."""
    from planner.optimization.periods import Timeline

    tl = sc.timeline
    years = list(tl.years)
    growth = tl.base_load_growth_percent
    pct = _step(growth, years, 0.0) if isinstance(growth, dict) else np.full(len(years), float(growth))
    factor = np.cumprod(np.r_[1.0, 1.0 + pct[1:] / 100.0])
    pools = {}
    for name, r in sc.supply.regions.items():
        if r.available_mw is None or name not in modelled_regions:
            continue
        online = r.online_year if r.online_year is not None else years[0]
        pools[name] = r.available_mw + np.where(np.array(years) >= online, r.under_construction_mw, 0.0)
    share = _step(tl.demand_share, years, 1.0 if not tl.demand_share else 0.0)
    site_region = dict(zip(sites["site_id"].astype(str), sites["region"].fillna("").astype(str)))
    site_ai, site_must, requested = {}, {}, {}
    for req in sc.demand.requests:
        sid = req.site if req.site is not None else f"demand-{_slug(req.name)}"
        if req.ramp:
            asked = _step(req.ramp, years, 0.0)
        else:
            asked = np.full(len(years), float(req.mw)) if req.start_year is not None else req.mw * share
        if req.start_year is not None:
            asked = np.where(np.array(years) >= req.start_year, asked, 0.0)
        site_ai[sid] = asked
        if req.must_serve:
            site_must[sid] = asked
        # as the single period counts them: by region, mapped or not; no region: "not modelled"
        region = site_region.get(sid, "") or NOT_MODELLED
        requested[region] = requested.get(region, np.zeros(len(years))) + asked
    demand = {}
    if sc.demand.requests:  # AI must serve a request: every modelled region gets a cap
        demand = {r: requested.get(r, np.zeros(len(years))).copy() for r in modelled_regions}
    for r, by_year in tl.ai_demand_mw.items():
        if r not in modelled_regions:
            raise InputError("names a region no modelled site is in", source=sc.label, field=f"timeline.ai_demand_mw.{r}",
                             value=r, expected="one of " + ", ".join(sorted(modelled_regions)))
        base = demand.get(r, requested.get(r, np.zeros(len(years))))
        first = min(by_year)
        demand[r] = np.where(np.array(years) >= first, _step(by_year, years, 0.0), base)
    budget = None
    if tl.budget_usd:
        budget = np.array([float(tl.budget_usd.get(y, np.inf)) for y in years])
    return Timeline(years=years, load_factor=factor, pools_mw=pools, ai_demand_mw=demand, site_ai_mw=site_ai,
                    site_must_mw=site_must, budget_usd=budget, requested_mw=requested,
                    allow_removal=tl.allow_removal).validate()


def reprice(prep: Prepared, sc: Scenario) -> Prepared:
    """The prepared run of ``sc`` from ``prep``, that of a scenario that differs from ``sc`` only in
    its economics (the caller knows it does): the same grid, mapped sites and regions, the
    economics of ``sc``."""
    try:
        economics = Economics().with_overrides(**sc.economics_overrides()).validate(sc.label)
    except InputError as exc:
        raise sc.blame(exc) from None
    return Prepared(scenario=sc, grid=prep.grid, sites=prep.sites, regions=prep.regions, timeline=prep.timeline,
                    params=dataclasses.replace(prep.params, economics=economics), outside_sites=prep.outside_sites)


def add_scenario_blocks(prep: Prepared, result) -> None:
    """Set the scenario blocks of the summary: per region, what the miner sites add, the
    overrides and the scenario's description."""
    alloc = result.allocation
    region = alloc["region"].fillna("").astype(str).to_numpy()
    ai = alloc["ai_mw"].fillna(0).to_numpy(float)
    mining = (alloc["kept_mining_mw"].fillna(0) + alloc["new_mining_mw"].fillna(0)).to_numpy(float)
    existing = alloc["existing_mw"].fillna(0).to_numpy(float)
    miner = alloc["converted"].fillna(False).to_numpy(bool)
    draw = np.maximum(ai + mining - existing, 0.0)
    out = {}
    for name, r in prep.regions.items():
        here = region == ("" if name == NOT_MODELLED else name)
        out[name] = {**{k: _r(v) for k, v in r.items()},
                     "served_ai_mw": _r(ai[here].sum()),
                     "unmet_ai_mw": _r(max(r.get("requested_ai_mw", 0.0) - ai[here].sum(), 0.0)),
                     "ai_at_miner_sites_mw": _r(ai[here & miner].sum()),
                     "mining_mw": _r(mining[here].sum()),
                     "pool_drawn_mw": _r(draw[here].sum())}
    by_region = {name: v["ai_at_miner_sites_mw"] for name, v in out.items() if v["ai_at_miner_sites_mw"]}
    on_existing = np.minimum(ai, existing)
    conversions = {
        "ai_at_miner_sites_mw": _r(ai[miner].sum()),
        "on_existing_mining_supply_mw": _r(on_existing[miner].sum()),
        "by_region_mw": by_region,
        "sites": {sid: _r(mw) for sid, mw in zip(alloc["site_id"][miner], ai[miner])},
    }
    s = result.summary
    s.regions, s.conversions = out, conversions
    s.overrides, s.description = list(prep.scenario._sets), prep.scenario.description


def _r(v, digits: int = 3):
    if v is None:
        return None
    return round(float(v), digits)


def run(sc: Scenario, grid=None, models: dict | None = None, prepared: Prepared | None = None, warm=None):
    """Prepare and solve a scenario; return (Prepared, Result) with the scenario blocks in the summary.
    ``models``: a dict that keeps the grid's DC models (by slack) for later runs on the same grid
    (a sweep); their LODF and PTDF caches are then shared. ``prepared``: ``sc`` already prepared
    (:func:`reprice`); ``warm``: a :class:`planner.optimization.solve.Warm` kept across runs, so that one that
    changes only prices re-solves the last model warm."""
    import time

    t0 = time.perf_counter()
    prep = prepared if prepared is not None else prepare(sc, grid=grid)
    prepared_s = time.perf_counter() - t0
    result = _solve_and_check(prep, models, warm)
    add_scenario_blocks(prep, result)
    timings = result.summary.timings_s
    result.summary.timings_s = {"load_grid_and_sites": round(prepared_s, 4),
                                **{k: v for k, v in timings.items() if k != "total"},
                                "total": round(time.perf_counter() - t0, 4)}
    return prep, result


def _solve_and_check(prep: Prepared, models: dict | None = None, warm=None):
    """Solve; then the AC check (and, with ``ac.tighten``, the derate-and-resolve rounds)."""
    import time

    from planner.analysis import acpf
    from planner.optimization.solve import plan, plan_timeline

    sc = prep.scenario
    ac = sc.ac

    supply = prep.params.supply
    models = {} if models is None else models
    if (id(prep.grid), supply.slack) not in models:  # one DC model (and LODF) for every tightening round
        models[(id(prep.grid), supply.slack)] = supply.dc_model(prep.grid)
    model = models[(id(prep.grid), supply.slack)]

    def solve(params):
        if prep.timeline is not None:
            return plan_timeline(prep.grid, prep.sites, params, prep.timeline, model=model, scenario=sc.name,
                                 warm=warm)
        return plan(prep.grid, prep.sites, params, model=model, scenario=sc.name, warm=warm)

    if not ac.check and not ac.tighten:
        result = solve(prep.params)
        result.summary.ac_check = {"run": False, "skipped_reason": "ac.check is false in the scenario"}
        return result
    t_ac = time.perf_counter()
    if ac.tighten:
        # the derated params of the last round stay with the result, not on prep (a sweep re-prices prep)
        result, check, rounds, _ = acpf.solve_ac_tightened(solve, prep.params, prep.grid,
                                                                     rounds=ac.max_rounds, power_factor=ac.power_factor)
        check["tighten_rounds"] = rounds
    else:
        result = solve(prep.params)
        t_ac = time.perf_counter()
        logger.info("checking the allocation with pandapower's AC power flow")
        check = acpf.ac_check(prep.grid, result, power_factor=ac.power_factor)
    result.summary.ac_check = check
    result.summary.timings_s["ac_check"] = round(time.perf_counter() - t_ac, 4)
    return result
