"""Scenario files: YAML, validated by a typed schema (pydantic), turned into a run.

A scenario has the sections ``grid``, ``sites``, ``demand``, ``supply``,
``economics``, ``constraints``, ``solver`` and ``output`` (every field is
listed in the README). Unknown keys are an error that suggests the nearest
known key. A scenario may ``extends:`` another file (a path relative to the
file) and change a few fields: mappings merge key by key, lists and values
are replaced. ``--set a.b.c=VALUE`` overrides any field after that; the value
is read as YAML (``false``, ``35``, ``[TX, OK]``) and type-checked with the
rest.

:func:`load_scenario` reads and validates; :func:`planner.prepare.prepare` loads the grid and
sites, adds the demand requests as sites, assigns regions and builds the
:class:`planner.Params` (both in :mod:`planner.prepare`, with :func:`run`,
which also solves).
"""

from __future__ import annotations

import difflib
import re
from dataclasses import fields
from pathlib import Path
from typing import Annotated, Any, Literal

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


Share = Annotated[float, Field(ge=0, le=1)]


class ConstraintsSection(_Strict):
    security: Literal["n-0", "n-1"] = "n-0"
    allow_conversion: bool = True
    max_capex_usd: NonNeg | None = None
    #: smallest AI block, MW, when a site converts or builds
    min_block_mw: NonNeg = 25.0
    #: a branch overloaded before any new load may not get worse; a load worsens it only where
    #: its distribution factor reaches this cut-off (0: any amount)
    overload_dfax: Annotated[float, Field(ge=0, lt=1)] = 0.05
    #: N-1: emergency rating = factor x rateA (the data has no emergency ratings)
    emergency_rating_factor: Annotated[float, Field(ge=1)] = 1.2
    #: share of new mining MW still running at peak (mines curtail)
    mining_firm_share: Share = 0.1
    #: share of new AI MW running at peak
    ai_firm_share: Share = 1.0
    #: off-peak hour: base load x this factor, all new load running
    offpeak_load_factor: Annotated[float, Field(gt=0, le=1)] = 0.6


class SolverSection(_Strict):
    name: Literal["highs", "cbc"] = "highs"
    time_limit_s: Pos | None = 300.0
    mip_gap: Annotated[float, Field(ge=0, lt=1)] = 1e-4
    threads: Annotated[int, Field(gt=0)] | None = None
    max_lazy_rounds: Annotated[int, Field(gt=0)] = 50
    near_binding: Annotated[float, Field(gt=0, le=1)] = 0.98
    #: also find how much of today's mining load the network can carry (one more LP)
    existing_load_check: bool = True


class AcSection(_Strict):
    #: run pandapower's AC power flow on the allocated case (Texas and Western; skipped with a reason on Eastern)
    check: bool = True
    #: power factor (lagging) of the new loads in the AC case
    power_factor: Annotated[float, Field(gt=0, le=1)] = 0.98
    #: derate the DC limits of branches AC shows overloaded by the new load and solve again
    tighten: bool = False
    #: most re-solves when tightening
    max_rounds: Annotated[int, Field(ge=1, le=20)] = 5


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
    ac: AcSection = Field(default_factory=AcSection)
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
    message = message.removeprefix("Value error, ")
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
