"""Scenario files: YAML, validated by a typed schema (pydantic), turned into a run.

A scenario has the sections ``grid``, ``sites``, ``demand``, ``supply``,
``economics``, ``constraints``, ``solver`` and ``output`` (every field is
listed in the README). Unknown keys are an error that suggests the nearest
known key. A scenario may ``extends:`` another file (a path relative to the
file) and change a few fields: mappings merge key by key, lists and values
are replaced. ``--set a.b.c=VALUE`` overrides any field after that; the value
is read as YAML (``false``, ``35``, ``[TX, OK]``) and type-checked with the
rest.

:func:`load_scenario` reads and validates; :func:`prepare` loads the grid and
sites, adds the demand requests as sites, assigns regions and builds the
:class:`planner.Params`; :func:`run` also solves and adds the scenario's
summary blocks (regions, conversions).
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Annotated, Any, Literal

import geopandas as gpd
import numpy as np
import pandas as pd
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model, model_validator

from planner.economics import Economics
from planner.errors import InputError

SECTIONS = ("grid", "sites", "demand", "supply", "economics", "constraints", "solver", "output")
NonNeg = Annotated[float, Field(ge=0)]
Pos = Annotated[float, Field(gt=0)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class GridSection(_Strict):
    #: built-in grid (texas, western, eastern, usa), pandapower case, or a .json / .m file
    name: str = "texas"
    #: who picks up new load: headroom, pmax or single (see planner.sensitivity)
    slack: Literal["headroom", "pmax", "single"] = "headroom"


class SitesSection(_Strict):
    #: site files (GeoJSON, GeoPackage, Shapefile, CSV); empty: the shipped sites
    files: list[str] = Field(default_factory=list)
    #: keep only sites of these interconnects / states / countries / current uses (empty: all)
    interconnects: list[str] = Field(default_factory=list)
    states: list[str] = Field(default_factory=list)
    countries: list[str] = Field(default_factory=list)
    uses: list[Literal["bitcoin", "ai", "conversion", "development"]] = Field(default_factory=list)
    exclude: list[str] = Field(default_factory=list)
    #: site -> bus mapping (see planner.map_sites)
    min_kv: Pos = 115.0
    max_km: Pos = 50.0
    kv_by_mw: dict[float, float] = Field(default_factory=dict)


class RequestTerms(_Strict):
    #: what the tenant pays, $ per kW-month of critical IT load (default: economics)
    lease_usd_per_kw_month: NonNeg | None = None
    #: $ per MW to build (default: economics greenfield capex; a request at a mine: conversion)
    capex_usd_per_mw: NonNeg | None = None
    lead_months: NonNeg | None = None
    #: NPV of one MW served there, $; replaces the lease arithmetic
    value_usd_per_mw: float | None = None
    min_block_mw: NonNeg | None = None


class Request(RequestTerms):
    name: str
    #: MW of grid power asked for
    mw: Pos
    #: an id of the sites files (the request is served there) ...
    site: str | None = None
    #: ... or a location: a new campus mapped to its nearest bus
    lat: Annotated[float, Field(ge=-90, le=90)] | None = None
    lon: Annotated[float, Field(ge=-180, le=180)] | None = None
    #: USPS code; default: the state containing lat/lon
    state: str | None = None
    #: region of supply.regions; default: by state and interconnect
    region: str | None = None
    #: must be served in full (the scenario is infeasible otherwise)
    must_serve: bool = False

    @model_validator(mode="after")
    def _where(self) -> Request:
        located = self.lat is not None and self.lon is not None
        if (self.site is None) == (not located):
            raise ValueError("give either 'site' (an id of the sites files) or both 'lat' and 'lon'")
        return self


class DemandSection(_Strict):
    #: terms applied to every request that does not set its own
    defaults: RequestTerms = Field(default_factory=RequestTerms)
    requests: list[Request] = Field(default_factory=list)


class Region(_Strict):
    #: a site is in the first region whose states and interconnects (when given) both match
    states: list[str] = Field(default_factory=list)
    interconnects: list[str] = Field(default_factory=list)
    #: MW of new supply that can be connected near-term; none: no pool (unlimited)
    available_mw: NonNeg | None = None
    #: MW under construction, added to the pool
    under_construction_mw: NonNeg = 0.0
    #: where the numbers come from
    basis: str = ""


class SupplySection(_Strict):
    regions: dict[str, Region] = Field(default_factory=dict)


EconomicsSection = create_model(
    "EconomicsSection", __config__=ConfigDict(extra="forbid"),
    **{f.name: (float | None, None) for f in fields(Economics)},
)


class ConstraintsSection(_Strict):
    security: Literal["n-0", "n-1"] = "n-0"
    allow_conversion: bool = True
    max_capex_usd: NonNeg | None = None
    #: smallest AI block, MW, when a site converts or builds
    min_block_mw: NonNeg = 25.0
    #: a branch overloaded before any new load may not get worse; a load worsens it only where
    #: its distribution factor reaches this cut-off (0: any amount)
    overload_dfax: Annotated[float, Field(ge=0, lt=1)] = 0.05


class SolverSection(_Strict):
    name: Literal["highs", "cbc"] = "highs"
    time_limit_s: Pos | None = 300.0
    mip_gap: Annotated[float, Field(ge=0, lt=1)] = 1e-4
    threads: Annotated[int, Field(gt=0)] | None = None
    max_lazy_rounds: Annotated[int, Field(gt=0)] = 50
    near_binding: Annotated[float, Field(gt=0, le=1)] = 0.98
    #: also find how much of today's mining load the network can carry (one more LP)
    existing_load_check: bool = True


class OutputSection(_Strict):
    #: default run directory; the command line's --out wins; default runs/<name>-<timestamp>
    dir: str | None = None
    map_png: bool = True
    #: map.html, when folium is installed
    map_html: bool = True
    case_json: bool = True


class Scenario(_Strict):
    name: str | None = None
    description: str = ""
    extends: str | None = None
    grid: GridSection = Field(default_factory=GridSection)
    sites: SitesSection = Field(default_factory=SitesSection)
    demand: DemandSection = Field(default_factory=DemandSection)
    supply: SupplySection = Field(default_factory=SupplySection)
    economics: EconomicsSection = Field(default_factory=EconomicsSection)  # type: ignore[valid-type]
    constraints: ConstraintsSection = Field(default_factory=ConstraintsSection)
    solver: SolverSection = Field(default_factory=SolverSection)
    output: OutputSection = Field(default_factory=OutputSection)
    #: the file read (not a YAML key)
    _path: Path | None = None
    _sets: tuple[str, ...] = ()

    @property
    def path(self) -> Path | None:
        return self._path

    @property
    def label(self) -> str:
        """How errors name this scenario: its file (and the --set overrides, if any)."""
        where = str(self._path) if self._path else f"scenario {self.name}"
        return where + (f" (with {len(self._sets)} --set)" if self._sets else "")

    def economics_overrides(self) -> dict[str, float]:
        return {k: v for k, v in self.economics.model_dump().items() if v is not None}


# --------------------------------------------------------------------------- reading


def resolve_path(name: str | Path) -> Path:
    """A scenario file: a path, or the name of a shipped scenario (``texas``, ``us-2028``)."""
    from planner import datasets

    path = Path(name)
    if path.is_file():
        return path
    if path.suffix == "" and path.parent == Path("."):
        shipped = datasets.data_dir("scenarios") / f"{path.name}.yaml"
        if shipped.is_file():
            return shipped
    try:
        names = sorted(p.stem for p in datasets.data_dir("scenarios").glob("*.yaml"))
    except FileNotFoundError:
        names = []
    raise InputError("no such scenario file", source=path,
                     expected="a YAML file" + (f" or a shipped scenario: {', '.join(names)}" if names else ""))


def _read_yaml(path: Path) -> dict:
    try:
        text = path.read_text()
    except OSError as exc:
        raise InputError(f"cannot read the file ({exc.strerror})", source=path) from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise InputError(f"not valid YAML{where}: {problem}", source=path) from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise InputError("a scenario file is a mapping of sections", source=path, value=type(data).__name__,
                         expected="keys " + ", ".join(SECTIONS))
    return data


def _absolute_files(data: dict, base: Path) -> None:
    """Make the paths a file names (sites files, a grid file) relative to that file absolute."""
    sites = data.get("sites")
    if isinstance(sites, dict) and isinstance(sites.get("files"), list):
        sites["files"] = [str((base / f).resolve()) if isinstance(f, str) and not Path(f).is_absolute() else f
                          for f in sites["files"]]
    grid = data.get("grid")
    if isinstance(grid, dict) and isinstance(grid.get("name"), str):
        candidate = base / grid["name"]
        if Path(grid["name"]).suffix in (".json", ".m") and candidate.is_file():
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
    if not isinstance(parent, str):
        raise InputError("must be a file path", source=path, field="extends", value=parent)
    parent_path = (path.parent / parent)
    if not parent_path.is_file():
        raise InputError("the scenario it extends does not exist", source=path, field="extends",
                         value=parent, expected=f"a file relative to {path.parent}")
    base = _load_raw(parent_path, origin, (*seen, path))
    return _merge(base, data, origin, str(path))


def parse_set(item: str) -> tuple[list[str | int], Any]:
    """``a.b.c=VALUE`` -> (["a", "b", "c"], value read as YAML)."""
    if "=" not in item:
        raise InputError("expected KEY=VALUE", source="--set", value=item,
                         expected="e.g. economics.hashprice_usd_per_ph_day=35")
    key, text = item.split("=", 1)
    key = key.strip()
    if not re.fullmatch(r"[A-Za-z_][\w-]*(\.[\w-]+)*", key):
        raise InputError("not a dotted key", source="--set", field=key or "(empty)",
                         expected="section.field, e.g. constraints.allow_conversion")
    try:
        value = yaml.safe_load(text) if text.strip() else None
    except yaml.YAMLError:
        value = text
    parts: list[str | int] = [int(p) if p.isdigit() else p for p in key.split(".")]
    return parts, value


def _apply_set(data: dict, parts: list, value: Any, item: str) -> None:
    node: Any = data
    for i, part in enumerate(parts[:-1]):
        nxt = parts[i + 1]
        if isinstance(part, int):
            if not isinstance(node, list) or part >= len(node):
                raise InputError("no such list item", source="--set", field=".".join(map(str, parts[:i + 1])),
                                 value=part, expected=f"an index below {len(node) if isinstance(node, list) else 0}")
            node = node[part]
            continue
        if not isinstance(node, dict):
            raise InputError("is not a section", source="--set", field=".".join(map(str, parts[:i])))
        if node.get(part) is None:
            node[part] = [] if isinstance(nxt, int) else {}
        node = node[part]
    last = parts[-1]
    if isinstance(last, int):
        if not isinstance(node, list) or last >= len(node):
            raise InputError("no such list item", source="--set", field=item.split("=")[0], value=last)
        node[last] = value
    elif isinstance(node, dict):
        node[last] = value
    else:
        raise InputError("is not a section", source="--set", field=".".join(map(str, parts[:-1])))


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
        model = _inner_model(field.annotation)
    return list(model.model_fields) if model is not None and hasattr(model, "model_fields") else []


def _inner_model(annotation):
    import typing

    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in typing.get_args(annotation):
        found = _inner_model(arg)
        if found is not None:
            return found
    return None


def _error(exc: ValidationError, origin: dict, path: Path | None) -> InputError:
    errors = exc.errors()
    err = errors[0]
    loc = tuple(err["loc"])
    # pydantic adds the class name of a model validator's failure to loc; drop non-field parts
    dotted = ".".join(str(p) for p in loc)
    source = None
    for n in range(len(loc), 0, -1):
        key = ".".join(str(p) for p in loc[:n])
        if key in origin:
            source = origin[key]
            break
    source = source or (str(path) if path else "scenario")
    more = f" (and {len(errors) - 1} more problem{'s' if len(errors) > 2 else ''})" if len(errors) > 1 else ""
    if err["type"] == "extra_forbidden":
        known = _known_keys(loc[:-1])
        close = difflib.get_close_matches(str(loc[-1]), known, n=1, cutoff=0.5)
        hint = f"did you mean '{'.'.join(str(p) for p in loc[:-1] + (close[0],))}'?" if close else \
            ("known keys: " + ", ".join(known) if known else None)
        return InputError("unknown key" + (f"; {hint}" if hint else "") + more, source=source, field=dotted)
    message = err["msg"]
    if message.startswith("Value error, "):
        message = message[len("Value error, "):]
    value = err.get("input")
    if isinstance(value, dict | list):
        value = None
    return InputError(message + more, source=source, field=dotted, value=value)


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
    scenario.name = scenario.name or path.stem
    scenario._path = path.resolve()
    scenario._sets = tuple(sets)
    return scenario


# --------------------------------------------------------------------------- preparing a run


@dataclass
class Prepared:
    scenario: Scenario
    grid: Any
    sites: gpd.GeoDataFrame      # sites of the files plus the demand requests, mapped to buses
    params: Any                  # planner.Params
    regions: dict[str, dict]     # region -> pool and demand figures


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "request"


def _read_all_sites(sc: Scenario) -> gpd.GeoDataFrame:
    from planner import datasets
    from planner.sites import read_sites

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
    for column, wanted in (("interconnect", s.interconnects), ("state", s.states), ("country", s.countries),
                           ("current_use", s.uses)):
        if wanted:
            have = sites[column].fillna("").astype(str) if column in sites else pd.Series("", index=sites.index)
            keep &= have.str.upper().isin([w.upper() for w in wanted]).to_numpy()
    unknown = sorted(set(s.exclude) - set(sites["site_id"]))
    if unknown:
        raise InputError("unknown site id", source=sc.label, field="sites.exclude", value=unknown[0],
                         expected=_close_ids(unknown[0], sites["site_id"]))
    keep &= ~sites["site_id"].isin(s.exclude).to_numpy()
    if not keep.any():
        raise InputError("the filters leave no site", source=sc.label, field="sites",
                         expected="filters (interconnects, states, countries, uses, exclude) that keep some sites")
    return sites[keep].reset_index(drop=True)


def _close_ids(value: str, ids) -> str:
    close = difflib.get_close_matches(value, list(map(str, ids)), n=3, cutoff=0.5)
    return ("a site id of the (filtered) sites; did you mean " + " or ".join(f"'{c}'" for c in close) + "?"
            if close else "a site id of the (filtered) sites")


TERM_COLUMNS = {"lease_usd_per_kw_month": "ai_lease_usd_per_kw_month", "capex_usd_per_mw": "ai_capex_usd_per_mw",
                "lead_months": "ai_lead_months", "value_usd_per_mw": "ai_value_usd_per_mw",
                "min_block_mw": "min_block_mw"}


def _add_requests(sc: Scenario, sites: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Requests at a site set that site's AI terms; requests at a location become new sites."""
    from planner.states import state_of

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
    for name in set(region) - {""}:
        if name not in regions:
            raise InputError("names a region that supply.regions does not define", source=sc.label,
                             field="region", value=name, expected="one of " + ", ".join(regions))
    state = sites["state"].fillna("").astype(str).str.upper().to_numpy() if "state" in sites else \
        np.full(len(sites), "")
    ic = np.where(sites["bus_interconnect"].fillna("").astype(str) != "",
                  sites["bus_interconnect"].fillna("").astype(str),
                  sites["interconnect"].fillna("").astype(str) if "interconnect" in sites else "")
    open_ = region == ""
    for name, r in regions.items():
        match = open_.copy()
        if r.states:
            match &= np.isin(state, [s.upper() for s in r.states])
        if r.interconnects:
            match &= np.isin(np.char.lower(ic.astype(str)), [i.lower() for i in r.interconnects])
        region[match] = name
        open_ &= ~match
    mapped = (sites["status"] == "mapped").to_numpy()
    lost = np.flatnonzero(mapped & (region == ""))
    if len(lost):
        i = lost[0]
        raise InputError(f"site {sites['site_id'].iat[i]} (state {state[i] or '?'}, interconnect {ic[i] or '?'}) "
                         "is in no region of supply.regions", source=sc.label, field="supply.regions",
                         expected="a region whose states and interconnects include it, or a sites filter "
                                  "that leaves it out")
    return region


def prepare(sc: Scenario, grid=None, log=None) -> Prepared:
    """Load the grid and sites of a scenario, add the demand, assign regions, build Params."""
    from planner.grid import load_grid
    from planner.model import Params
    from planner.sites import map_sites

    if sc.constraints.security != "n-0":
        raise InputError("N-1 security is not available in this version", source=sc.label,
                         field="constraints.security", value=sc.constraints.security, expected="n-0")
    economics = Economics().with_overrides(**sc.economics_overrides()).validate(sc.label)
    if grid is None:
        if log:
            log(f"loading grid {sc.grid.name}")
        try:
            grid = load_grid(sc.grid.name)
        except InputError as exc:
            raise InputError(exc.message, source=sc.label, field="grid.name", value=exc.value,
                             expected=exc.expected) from None
    sites = _add_requests(sc, _read_all_sites(sc))
    if log:
        log(f"mapping {len(sites)} sites and requests to buses")
    sites = map_sites(sites, grid, min_kv=sc.sites.min_kv, max_km=sc.sites.max_km,
                      kv_by_mw=sorted(sc.sites.kv_by_mw.items()) or None)
    sites["region"] = _assign_regions(sc, sites)
    fallback = sites["bus_interconnect"].fillna("").astype(str).replace("", "grid")
    sites["region"] = np.where(sites["region"] == "", fallback, sites["region"])
    modelled_regions = set(sites.loc[sites["status"] == "mapped", "region"])

    regions: dict[str, dict] = {}
    for name, r in sc.supply.regions.items():
        pool = None if r.available_mw is None else r.available_mw + r.under_construction_mw
        regions[name] = {"available_mw": r.available_mw, "under_construction_mw": r.under_construction_mw,
                         "pool_mw": pool, "requested_ai_mw": 0.0}
    requested = sites.groupby("region")["requested_mw"].sum()
    for name, mw in requested.items():
        regions.setdefault(name, {"available_mw": None, "under_construction_mw": 0.0, "pool_mw": None})
        regions[name]["requested_ai_mw"] = float(mw)
    pools = {r: v["pool_mw"] for r, v in regions.items() if v["pool_mw"] is not None and r in modelled_regions}
    has_requests = len(sc.demand.requests) > 0
    demand = {}
    if has_requests:  # AI must serve a request: every modelled region gets a cap (0 without requests)
        demand = {r: float(requested.get(r, 0.0)) for r in modelled_regions}
    c, s = sc.constraints, sc.solver
    params = Params(economics=economics, slack=sc.grid.slack, allow_conversion=c.allow_conversion,
                    min_block_mw=c.min_block_mw, supply_pools_mw=pools, ai_demand_mw=demand,
                    max_capex_usd=c.max_capex_usd, overload_dfax=c.overload_dfax,
                    requested_ai_mw=float(requested.sum()) if has_requests else None,
                    solver=s.name, time_limit_s=s.time_limit_s, mip_gap=s.mip_gap, threads=s.threads,
                    max_lazy_rounds=s.max_lazy_rounds, near_binding=s.near_binding,
                    check_existing_load=s.existing_load_check)
    return Prepared(scenario=sc, grid=grid, sites=sites, params=params, regions=regions)


def scenario_summary(prep: Prepared, result) -> dict:
    """Scenario blocks of summary.json: per region and what the miner sites add."""
    alloc = result.allocation
    region = alloc["region"].fillna("").astype(str).to_numpy()
    ai = alloc["ai_mw"].fillna(0).to_numpy(float)
    mining = (alloc["kept_mining_mw"].fillna(0) + alloc["new_mining_mw"].fillna(0)).to_numpy(float)
    existing = alloc["existing_mw"].fillna(0).to_numpy(float)
    miner = alloc["converted"].fillna(False).to_numpy(bool)
    draw = np.maximum(ai + mining - existing, 0.0)
    out = {}
    for name, r in prep.regions.items():
        here = region == name
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
    return {"regions": out, "conversions": conversions,
            "overrides": list(prep.scenario._sets), "description": prep.scenario.description}


def _r(v, digits: int = 3):
    if v is None:
        return None
    return round(float(v), digits)


def run(sc: Scenario, grid=None, log=None):
    """Prepare and solve a scenario; return (Prepared, Result) with the scenario blocks in the summary."""
    import time

    from planner.solve import plan

    t0 = time.perf_counter()
    prep = prepare(sc, grid=grid, log=log)
    prepared_s = time.perf_counter() - t0
    result = plan(prep.grid, prep.sites, prep.params, log=log, scenario=sc.name)
    result.summary.update(scenario_summary(prep, result))
    timings = result.summary["timings_s"]
    result.summary["timings_s"] = {"load_grid_and_sites": round(prepared_s, 4),
                                   **{k: v for k, v in timings.items() if k != "total"},
                                   "total": round(time.perf_counter() - t0, 4)}
    return prep, result
