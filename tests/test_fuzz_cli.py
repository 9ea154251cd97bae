"""Fuzzing the command line with hypothesis (issue 11, item 28).

Generated inputs (scenario files: valid and broken YAML, ``extends``, unknown keys, wrong types,
huge and NaN values, bad requests; ``--set`` overrides; site tables in CSV and GeoJSON, valid and
broken; grid files; damaged run directories for ``compare``; ``hosting`` options) go through
``planner.cli.main`` in this process. Whatever the input:

* the exit status is 0, 1 or 2;
* stderr never holds a traceback;
* on exit 2, stderr is exactly one line, starting with ``error:``;
* no ``.NAME.HOST-PID.partial`` (``.old``, ``.lock``) entry is left behind, and a command that
  fails writes no file at all (no partial run directory).

300 examples by default, derandomized (every run tries the same 300); more with
``PLANNER_FUZZ_EXAMPLES=5000``. Solvable scenarios run on planner.data.examples.mesh (6 buses), written
as a pandapower JSON file, so a solve takes well under a second; most examples fail validation.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import math
import os
import re
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

EXAMPLES = int(os.environ.get("PLANNER_FUZZ_EXAMPLES", "300"))
LEFTOVER = re.compile(r"^\..+\.(partial|old|lock)$")
#: names that would load a large grid or scenario (seconds to minutes): never generated on their own
HEAVY = re.compile(r"^(texas|western|eastern|usa|us-2028|case\d+\w*)$", re.IGNORECASE)

# the buses of planner.data.examples.mesh: bus k at lat 31.0 + 0.1 k, lon -100.0 + 0.1 k (Texas)
LAT = (31.0, 31.7)
LON = (-100.0, -99.3)

# --------------------------------------------------------------------------- building blocks

BAD_VALUES = [None, "", "abc", "a\x00b", "../../x", "a/b", "..", -1, 0, 1e308, -1e308, math.inf, -math.inf,
              math.nan, True, 10**400, [], {}, [1, 2], {"a": 1}, {"a": {"b": [1, {}]}}, "1e400", "2025-01-01",
              "é中🙂", " ", "\t", "nope"]
bad_value = st.one_of(st.sampled_from(BAD_VALUES), st.floats(), st.integers(-10**20, 10**20),
                      st.text(max_size=6).filter(lambda t: not HEAVY.match(t.strip())))

SET_VALUES = ["35", ".inf", "-.inf", ".nan", "1e400", "1e308", "-1", "0", "0.5", "null", "", "[a, b]", "{a: 1}",
              "{a: 1, a: 2}", "true", "maybe", "'unterminated", "[", "n-1", "highs", "cbc", "mesh.json",
              "missing.json", "geo_text.json", "no_branch.json", "kv_nan.json", "x_zero.json", "no_slack.json",
              "../x", "a/b", "1" + "0" * 400, "[m1]", "[]", "{}", "é", "m1", "r1", "XX", "TX",
              "[main]", "{main: {available_mw: 10}}", "[{name: z, mw: 5, lat: 31.3, lon: -99.6}]"]
SET_KEYS = ["", "x", "a..b", "1abc", "grid", "grid.name", "name", "extends", "output.dir", "economics.hashprice",
            "demand.requests.9.mw", "demand.requests.0", "demand.requests.0.site", "demand.requests.0.name",
            "demand.requests.-1.mw", "sites.files", "sites.files.0", "sites.exclude", "sites.kv_by_mw",
            "sites.uses", "supply.regions", "supply.regions.main.available_mw", "constraints.security",
            "constraints.max_capex_usd", "constraints.min_block_mw", "solver.name", "solver.threads",
            "solver.mip_gap", "ac.check", "ac.max_rounds", "economics.discount_rate", "economics.horizon_years",
            "economics.ai_pue", "demand.defaults.lease_usd_per_kw_month", "name.x", "demand.requests.0.mw.x"]

#: overrides that keep a good scenario good (and solvable in well under a second)
VALID_SETS = ["economics.hashprice_usd_per_ph_day=35", "economics.discount_rate=0", "economics.horizon_years=1",
              "economics.ai_pue=10", "economics.mining_efficiency_j_per_th=1",
              "economics.ai_lease_usd_per_kw_month=1e4",
              "constraints.security=n-1", "constraints.allow_conversion=false", "constraints.max_capex_usd=0",
              "constraints.mining_firm_share=0", "ac.check=true", "solver.existing_load_check=true",
              "grid.supply_response=single", "sites.kv_by_mw={100: 230}", "solver.mip_gap=0.5", "solver.name=cbc",
              "demand.defaults.lead_months=240", "demand.defaults.min_block_mw=1e6", "sites.max_km=20040"]

SITE_COLUMNS = ["site_id", "lat", "lon", "current_use", "operating_mw", "poi_mw", "it_mw", "country",
                "interconnect", "name"]
BAD_CELLS = ["", "abc", "nan", "inf", "-inf", "-1", "1e308", "1e400", "é", '"', ",", "a\nb", "0x10", "1,5",
             " 3 ", "None", "TRUE", "9" * 400]


def _good_cell(draw, column: str, i: int):
    if column == "site_id":
        return draw(st.sampled_from([f"m{i + 1}", f"m{i + 1}", "m1", " m2 ", "é-1", "7"]))
    if column == "lat":
        return draw(st.floats(*LAT))
    if column == "lon":
        return draw(st.floats(*LON))
    if column == "current_use":
        return draw(st.sampled_from(["bitcoin", "ai", "conversion", "development", "", "BITCOIN"]))
    if column.endswith("_mw"):
        return draw(st.floats(0, 300))
    if column == "country":
        return draw(st.sampled_from(["US", "us", "", "CA"]))
    if column == "interconnect":
        return draw(st.sampled_from(["", "main", "example", "Texas"]))
    return draw(st.text(max_size=5))


@st.composite
def site_table(draw, clean: bool) -> tuple[list[str], list[list]]:
    """Columns and rows; ``clean``: the required columns, distinct ids, good cells (most of them map)."""
    if clean:
        columns = ["site_id", "lat", "lon", "current_use", "operating_mw", "poi_mw"]
        rows = [[f"m{i + 1}", draw(st.floats(*LAT)), draw(st.floats(*LON)), "bitcoin", draw(st.floats(0, 100)),
                 draw(st.sampled_from([150.0, 300.0, 1e6, 0.0]))] for i in range(draw(st.integers(1, 3)))]
        return columns, rows
    columns = [c for c in SITE_COLUMNS if draw(st.integers(0, 9)) > (0 if c in ("site_id", "lat", "lon") else 5)]
    rows = []
    for i in range(draw(st.integers(0, 4))):
        rows.append([draw(st.sampled_from(BAD_CELLS)) if draw(st.integers(0, 9)) == 0 else _good_cell(draw, c, i)
                     for c in columns])
    return columns, rows


def _corrupt(draw, data: bytes) -> bytes:
    """Text-level damage: truncate, insert junk, repeat a line, change the encoding, or random bytes."""
    kind = draw(st.sampled_from(["truncate", "insert", "repeat", "utf16", "bom", "binary", "empty"]))
    if kind == "truncate":
        return data[: draw(st.integers(0, max(len(data) - 1, 0)))]
    if kind == "insert":
        at = draw(st.integers(0, len(data)))
        junk = draw(st.sampled_from([b"\x00", b"\t", b"\xff", b"{", b"]", b":", b"- ", b"\n  x: 1\n", b'"',
                                     b",,,"]))
        return data[:at] + junk + data[at:]
    if kind == "repeat":
        lines = data.splitlines(keepends=True) or [b""]
        i = draw(st.integers(0, len(lines) - 1))
        return b"".join(lines[: i + 1] + [lines[i]] + lines[i + 1:])
    if kind == "utf16":
        return data.decode("utf-8", "replace").encode("utf-16")
    if kind == "bom":
        return b"\xef\xbb\xbf" + data
    if kind == "binary":
        return draw(st.binary(max_size=40))
    return b""


@st.composite
def site_file(draw, clean: bool = False) -> tuple[str, bytes]:
    """(file name, content): a CSV or GeoJSON table of sites near the mesh grid, often broken
    (``clean``: a good table in a good file)."""
    columns, rows = draw(site_table(clean))
    kinds = ["csv", "geojson"] if clean else ["csv", "csv", "geojson", "geojson", "json", "txt"]
    kind = draw(st.sampled_from(kinds))
    if kind in ("csv", "txt"):
        buf = io.StringIO()
        writer = csv.writer(buf)
        writer.writerow(columns)
        for row in rows:
            ragged = not clean and draw(st.integers(0, 19)) == 0
            writer.writerow(row + ([draw(st.sampled_from(["x", ""]))] if ragged else []))
        data = buf.getvalue().encode()
    else:
        features = []
        for row in rows:
            props = {c: v for c, v in zip(columns, row) if c not in ("lat", "lon")}
            lat = row[columns.index("lat")] if "lat" in columns else 31.3
            lon = row[columns.index("lon")] if "lon" in columns else -99.6
            geometry = {"type": "Point", "coordinates": [lon, lat]} if clean else draw(st.sampled_from([
                {"type": "Point", "coordinates": [lon, lat]}, {"type": "Point", "coordinates": [lon, lat]},
                {"type": "Point", "coordinates": [200, 100]}, {"type": "Point", "coordinates": []}, None,
                {"type": "LineString", "coordinates": [[lon, lat], [-99.0, 31.0]]},
                {"type": "MultiPoint", "coordinates": [[lon, lat]]},
                {"type": "Polygon", "coordinates": [[[-99, 31], [-99.1, 31], [-99.1, 31.1], [-99, 31]]]}]))
            if draw(st.integers(0, 9)) == 0:  # pyogrio warns it 'Could not parse column' of mixed JSON
                props["tags"] = draw(st.sampled_from([[1, 2], "{bad", {"a": 1}, None]))
            features.append({"type": "Feature", "properties": props, "geometry": geometry})
        doc = {"type": "FeatureCollection", "features": features}
        if not clean and draw(st.integers(0, 9)) == 0:
            doc = draw(st.sampled_from([[], "x", 5, {"type": "Feature"}, {"features": None}]))
        data = json.dumps(doc, default=str).encode()
    if not clean and draw(st.integers(0, 5)) == 0:
        data = _corrupt(draw, data)
    return f"sites.{kind}", data


def _paths(node, prefix=()):
    """Every path into a nested dict/list (for mutations)."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield (*prefix, key)
            yield from _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield (*prefix, i)
            yield from _paths(value, (*prefix, i))


def _mutate(draw, doc: dict) -> None:
    paths = list(_paths(doc))
    if not paths:
        return
    path = draw(st.sampled_from(paths))
    parent = doc
    for part in path[:-1]:
        parent = parent[part]
    key = path[-1]
    op = draw(st.sampled_from(["bad", "bad", "bad", "delete", "typo", "unknown"]))
    if op == "bad":
        parent[key] = draw(bad_value)
    elif op == "delete":
        del parent[key]
    elif op == "typo" and isinstance(parent, dict) and isinstance(key, str):
        parent[key[:-1] + "x" if key else "x"] = parent.pop(key)
    elif op == "unknown" and isinstance(parent, dict):
        parent[draw(st.sampled_from(["zzz", "colour", "slak", "reqests", "mw_", 5, None]))] = 1


@st.composite
def scenario_doc(draw, site_ids: list[str], valid: bool) -> dict:
    """A scenario on the mesh grid; ``valid``: one that loads and prepares (it may still be infeasible)."""
    requests = []
    free_sites = list(site_ids)
    for i in range(draw(st.integers(0, 3))):
        names = [f"r{i + 1}"] if valid else [f"r{i + 1}", f"r{i + 1}", "r1", "Campus é", ""]
        req: dict = {"name": draw(st.sampled_from(names)), "mw": draw(st.floats(1, 400))}
        if free_sites and draw(st.booleans()):
            req["site"] = draw(st.sampled_from(free_sites if valid else [*free_sites, "nope"]))
            if valid:
                free_sites.remove(req["site"])
        else:
            req["lat"], req["lon"] = draw(st.floats(*LAT)), draw(st.floats(*LON))
            if draw(st.booleans()):
                req["state"] = draw(st.sampled_from(["TX", "XX", "tx"]))
        if draw(st.integers(0, 5)) == 0:
            req["must_serve"] = True
        if draw(st.integers(0, 3)) == 0:
            req["lease_usd_per_kw_month"] = draw(st.floats(0, 400))
        requests.append(req)
    doc: dict = {
        "name": draw(st.sampled_from(["fz", "fz-1", "a.b"])),
        "grid": {"name": "mesh.json", "supply_response": draw(st.sampled_from(["headroom", "pmax", "single"]))},
        "sites": {"files": ["sites.csv"], "max_km": draw(st.floats(60 if valid else 1, 300)), "min_kv": 100},
        "demand": {"requests": requests},
        "constraints": {"security": draw(st.sampled_from(["n-0", "n-0", "n-1"])),
                        "allow_conversion": draw(st.booleans()), "min_block_mw": draw(st.floats(0, 50))},
        "ac": {"check": draw(st.integers(0, 9)) == 0},
        "output": {"map_png": False, "map_html": False, "case_json": False},
        "solver": {"existing_load_check": False, "time_limit_s": 30},
    }
    if draw(st.booleans()):
        doc["economics"] = {"hashprice_usd_per_ph_day": draw(st.floats(0, 200)),
                            "discount_rate": draw(st.floats(0, 0.5)),
                            "ai_greenfield_lead_months": draw(st.floats(0, 240))}
    if draw(st.integers(0, 3)) == 0:  # anything inside the plausibility bounds must solve or be diagnosed
        from planner.economics import BOUNDS

        names = draw(st.lists(st.sampled_from(sorted(BOUNDS)), max_size=6, unique=True))
        doc["economics"] = {n: draw(st.floats(BOUNDS[n].lo, BOUNDS[n].hi, exclude_max=BOUNDS[n].hi_open))
                            for n in names}
        for req in requests:
            req["mw"] = draw(st.sampled_from([req["mw"], 1e-6, 1e6, 999_999.9]))
    if draw(st.integers(0, 3)) == 0:
        doc["constraints"]["max_capex_usd"] = draw(st.sampled_from([0.0, 1e13, draw(st.floats(0, 1e9))]))
    if draw(st.integers(0, 5)) == 0:
        doc["constraints"]["min_block_mw"] = draw(st.sampled_from([1e6, 0.0, 1e-9]))
    if draw(st.integers(0, 3)) == 0:
        doc["supply"] = {"regions": {"main": {"interconnects": [draw(st.sampled_from(["main", "example"]))],
                                              "available_mw": draw(st.sampled_from([0.0, 1e6, 500.0])),
                                              "under_construction_mw": draw(st.sampled_from([0.0, 1e6]))}}}
    return doc


# --------------------------------------------------------------------------- cases


@dataclass
class Case:
    """One command: files to write (relative to the working directory) and the argv."""

    argv: list[str]
    files: dict[str, bytes] = field(default_factory=dict)
    dirs: list[str] = field(default_factory=list)
    #: copy the solved run to these names, then apply the damage (file, kind, detail)
    runs: list[str] = field(default_factory=list)
    damage: list[tuple] = field(default_factory=list)


def _dump(doc) -> bytes:
    return yaml.safe_dump(doc, allow_unicode=True, sort_keys=False).encode()


@st.composite
def solve_case(draw) -> Case:
    valid = draw(st.integers(0, 4)) == 0  # a good scenario and sites file (most of them solve)
    clean = valid or draw(st.booleans())
    name, sites = draw(site_file(clean=clean))
    site_ids = sorted(set(re.findall(rb"\bm\d\b", sites)), key=len)
    doc = draw(scenario_doc([i.decode() for i in site_ids] if clean else ["m1", "m2", "m3"], valid))
    doc["sites"]["files"] = [name if valid else draw(st.sampled_from([name, name, name, "missing.csv", "folder"]))]
    if not valid:
        for _ in range(draw(st.integers(1, 3))):
            _mutate(draw, doc)
    files = {name: sites}
    scenario_name = "s.yaml"
    forced_failure = False
    hows = ["plain", "plain", "extends"] if valid else \
        ["plain", "plain", "plain", "extends", "extends_shipped", "extends_bad", "shipped"]
    how = draw(st.sampled_from(hows))
    if how == "extends":
        child: dict = {"extends": "parent.yaml", "name": "child"}
        if draw(st.booleans()):
            child["economics"] = {"hashprice_usd_per_ph_day": draw(st.one_of(st.floats(0, 100), bad_value))}
        files["parent.yaml"] = _dump(doc)
        doc = child
    elif how == "extends_shipped":  # a shipped scenario by name: always with a key it rejects (no big solve)
        doc = {"extends": draw(st.sampled_from(["texas", "us-2028"])), "zzz": 1,
               **draw(st.sampled_from([{}, doc]))}
        forced_failure = True
    elif how == "extends_bad":
        doc = {**doc, "extends": draw(st.sampled_from(["nope.yaml", "folder", "s.yaml", 5, "", "texass", "a\x00b",
                                                       "../../../nope"]))}
    text = _dump(doc)
    if not valid and draw(st.integers(0, 4)) == 0:
        text = _corrupt(draw, text)
    files[scenario_name] = text
    argv = ["solve", scenario_name]
    if how == "shipped":
        argv = ["solve", draw(st.sampled_from(["texas", "us-2028"]))]
        forced_failure = True
    # a scenario that lost its grid (an empty or truncated file, a deleted key) would load the default,
    # the 2,000-bus Texas grid: keep the mesh unless a generated --set (after this one) changes it
    sets = [] if valid else ["--set", "grid.name=mesh.json"]
    for _ in range(draw(st.integers(0, 2 if valid else 3))):
        if valid:
            sets += ["--set", draw(st.sampled_from(VALID_SETS))]
            continue
        key = draw(st.sampled_from(SET_KEYS + [".".join(map(str, p)) for p in _paths(doc)][:30]))
        value = draw(st.sampled_from(SET_VALUES))
        sets += ["--set", key if draw(st.integers(0, 19)) == 0 else f"{key}={value}"]
    if forced_failure:
        sets += ["--set", "zzz=1"]
    argv += sets
    out = draw(st.sampled_from(["out/run", "out/run", "out/run", None, "existing", "afile", "deep/er/run"]))
    if out is not None:
        argv += ["--out", out]
    if draw(st.integers(0, 3)) == 0:
        argv.append("--force")
    if draw(st.integers(0, 9)) == 0:
        argv.append("--n-1")
    argv.append("-q")
    return Case(argv=argv, files={**files, "existing/keep.txt": b"x", "afile": b"x"}, dirs=["folder"])


@st.composite
def sites_case(draw) -> Case:
    name, data = draw(site_file(clean=draw(st.integers(0, 2)) == 0))
    argv = ["sites", "check", draw(st.sampled_from([name, name, name, "missing.csv", "folder"])),
            "--grid", draw(st.sampled_from(["mesh.json", "mesh.json", "nogrid", "folder.json"]))]
    for option, values in (("--min-kv", ["100", "0", "-1", "nan", "inf", "1e9", "x"]),
                           ("--max-km", ["200", "0", "-5", "nan", "inf", "1e300"]),
                           ("--kv-by-mw", ["300:230", "nan:1", "1:inf", "a:b", "1:2:3", ":", "-1:5", "1e400:1"])):
        if draw(st.integers(0, 3)) == 0:
            argv += [option, draw(st.sampled_from(values))]
    if draw(st.integers(0, 4)) == 0:
        argv += ["--out", draw(st.sampled_from(["out/sites", "afile"]))]
    return Case(argv=argv, files={name: data, "afile": b"x"}, dirs=["folder", "folder.json"])


@st.composite
def grids_case(draw) -> Case:
    kind = draw(st.sampled_from(["mesh", "json", "m", "name", "damaged"]))
    files: dict[str, bytes] = {}
    if kind == "mesh":
        name = "mesh.json"
    elif kind == "damaged":  # a pandapower net that reads as JSON but is not a usable grid
        name = draw(st.sampled_from(sorted(DAMAGED_NETS)))
    elif kind == "json":
        name = "g.json"
        files[name] = draw(st.sampled_from([b"", b"{}", b"[1]", b"\xff\xfe", b'{"_module": "x"}', b"null"]))
    elif kind == "m":
        name = "g.m"
        body = draw(st.sampled_from([
            ("mpc.baseMVA = 100;\nmpc.bus = [1 3 0 0 0 0 1 1 0 230 1 1.1 0.9;];\n"
             "mpc.gen = [1 0 0 0 0 1 100 1 100 0;];\nmpc.branch = [1 2 0 0.1 0 100 0 0 0 0 1;];\n"),
            "mpc.bus = [1 2 3; 4 5];\n", "mpc.bus = [a b c];\n", "nothing", "mpc.baseMVA = x;\n"]))
        files[name] = _corrupt(draw, body.encode()) if draw(st.booleans()) else body.encode()
    else:
        name = draw(st.sampled_from(["nogrid", "folder.json", "missing.m", "a\x00b.json", "", "case_x"]))
    argv = ["grids", "show", name] + (["--json"] if draw(st.booleans()) else [])
    return Case(argv=argv, files=files, dirs=["folder.json"])


@st.composite
def hosting_case(draw) -> Case:
    files: dict[str, bytes] = {}
    name = draw(st.sampled_from(["mesh.json", "mesh.json", "g.m", "nogrid", *sorted(DAMAGED_NETS)]))
    if name == "g.m":
        files[name] = draw(st.sampled_from([
            (b"mpc.bus = [1 3 0 0 0 0 1 1 0 230 1 1.1 0.9; 2 1 50 0 0 0 1 1 0 230 1 1.1 0.9;];\n"
            b"mpc.gen = [1 0 0 0 0 1 100 1 300 0;];\nmpc.branch = [1 2 0 0 0 100 0 0 0 0 1;];\n"),
            (b"mpc.bus = [1 3 0 0 0 0 1 1 0 230 1 1.1 0.9; 2 1 50 0 0 0 1 1 0 230 1 1.1 0.9;];\n"
            b"mpc.gen = [1 0 0 0 0 1 100 1 300 0;];\nmpc.branch = [1 2 0 0.1 0 0 0 0 0 0 1;];\n")]))
    argv = ["hosting", "--grid", name]
    options = (("--n-1", None), ("--use", ["ai", "mining", "gold"]), ("--firm-share", ["0", "1", "2", "x"]),
               ("--slack", ["single", "pmax", "none"]), ("--emergency-rating-factor", ["1", "0.5", "inf"]),
               ("--out", ["out/h", "afile"]))
    for option, values in options:
        if draw(st.integers(0, 3)) == 0:
            argv += [option] if values is None else [option, draw(st.sampled_from(values))]
    return Case(argv=argv, files={**files, "afile": b"x"})


RUN_FILES = ["summary.json", "allocation.csv", "branches.csv"]


@st.composite
def compare_case(draw) -> Case:
    damage = []
    for _ in range(draw(st.integers(0, 3))):
        file = draw(st.sampled_from(RUN_FILES))
        kind = draw(st.sampled_from(["delete", "bytes", "directory", "json", "metric", "row", "cell", "drop"]))
        detail = None
        if kind == "bytes":
            detail = draw(st.sampled_from([b"", b"\xff\xfe\x00", b"[", b"a,b\n1,2,3\n", b"{}", b"[1]", b'"x"']))
        elif kind == "json":
            detail = draw(st.sampled_from([[], "x", 5, None, {"a": [1]}, [{"status": "optimal"}]]))
        elif kind == "metric":
            key = draw(st.sampled_from(["objective_usd", "served_ai_mw", "converted_sites", "grid", "status"]))
            detail = (key, draw(bad_value))
        elif kind == "cell":
            column = draw(st.sampled_from(["site_id", "ai_mw", "mining_mw", "use", "branch_id", "binding",
                                           "flow_mw", "shadow_price_usd_per_mw"]))
            detail = (column, draw(st.integers(0, 50)), draw(st.sampled_from(BAD_CELLS)))
        elif kind == "drop":
            detail = draw(st.sampled_from(["site_id", "ai_mw", "use", "branch_id", "binding", "flow_mw"]))
        elif kind == "row":
            detail = draw(st.integers(0, 50))
        damage.append((file, kind, detail))
    a, b = "runA", "runB"
    first, second = draw(st.sampled_from([(a, b), (b, a), (b, b), (a, "missing"), (a, "afile")]))
    argv = ["compare", first, second] + (["--json"] if draw(st.booleans()) else [])
    return Case(argv=argv, files={"afile": b"x"}, runs=[a, b], damage=damage)


@st.composite
def cases(draw) -> Case:
    kind = draw(st.sampled_from(["solve"] * 8 + ["sites"] * 4 + ["grids"] * 2 + ["compare"] * 4 + ["hosting"]))
    return draw({"solve": solve_case(), "sites": sites_case(), "grids": grids_case(), "compare": compare_case(),
                 "hosting": hosting_case()}[kind])


# --------------------------------------------------------------------------- running


#: pandapower nets (JSON files next to mesh.json) that read but are no usable grid
DAMAGED_NETS = {"geo_text.json": ("geo", "not json"), "geo_line.json": ("geo", '{"type": "LineString"}'),
                "geo_empty.json": ("geo", "{}"), "no_branch.json": ("branches", None),
                "kv_nan.json": ("vn_kv", math.nan), "x_zero.json": ("length_km", 0.0),
                "no_slack.json": ("ext_grid", None), "all_off.json": ("in_service", False)}


def _mesh_json(path: Path) -> None:
    """planner.data.examples.mesh as a pandapower JSON file with bus coordinates, and the DAMAGED_NETS."""
    import copy

    import pandapower as pp

    from planner.data import examples

    grid = examples.mesh()
    net = grid.net
    points = grid.buses.geometry.reindex(net.bus.index)
    net.bus["geo"] = [json.dumps({"type": "Point", "coordinates": [p.x, p.y]}) for p in points]
    pp.to_json(net, str(path))
    for name, (what, value) in DAMAGED_NETS.items():
        bad = copy.deepcopy(net)
        if what == "branches":
            bad.line, bad.trafo = bad.line.iloc[0:0], bad.trafo.iloc[0:0]
        elif what == "ext_grid":
            bad.ext_grid = bad.ext_grid.iloc[0:0]
        elif what in ("length_km", "in_service"):
            bad.line[what] = value
        else:
            bad.bus.loc[bad.bus.index[0], what] = value
        pp.to_json(bad, str(path.parent / name))


@pytest.fixture(scope="module")
def assets(tmp_path_factory):
    """The mesh grid as pandapower JSON and one solved run directory to damage for compare."""
    root = tmp_path_factory.mktemp("fuzz_assets")
    _mesh_json(root / "mesh.json")
    (root / "sites.csv").write_text("site_id,lat,lon,current_use,operating_mw,poi_mw\n"
                                    "m1,31.2,-99.8,bitcoin,30,60\nm2,31.5,-99.5,bitcoin,20,40\n")
    (root / "s.yaml").write_text(
        "name: base\ngrid: {name: mesh.json}\nsites: {files: [sites.csv], max_km: 200, min_kv: 100}\n"
        "demand: {requests: [{name: r1, lat: 31.3, lon: -99.6, mw: 50}, {name: r2, site: m1, mw: 40}]}\n"
        "ac: {check: false}\noutput: {map_png: false, map_html: false, case_json: false}\n"
        "solver: {existing_load_check: false}\n")
    code, err = _run(["solve", str(root / "s.yaml"), "--out", str(root / "run"), "-q"])
    assert code == 0, err
    return root


def _run(argv: list[str]) -> tuple[int, str]:
    from planner.cli import main

    old = sys.argv
    sys.argv = ["planner", *argv]
    out, err = io.StringIO(), io.StringIO()
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                main()
                code = 0
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    finally:
        sys.argv = old
    return code, err.getvalue()


def _apply_damage(run: Path, damage: list[tuple]) -> None:
    import pandas as pd

    for file, kind, detail in damage:
        path = run / file
        if not path.is_file():
            continue
        if kind == "delete":
            path.unlink()
        elif kind == "bytes":
            path.write_bytes(detail)
        elif kind == "directory":
            path.unlink()
            path.mkdir()
        elif kind == "json" and file.endswith(".json"):
            path.write_text(json.dumps(detail))
        elif kind == "metric" and file.endswith(".json"):
            try:
                data = json.loads(path.read_text())
                data[detail[0]] = detail[1]
                path.write_text(json.dumps(data, default=str))
            except (ValueError, TypeError):
                pass
        elif file.endswith(".csv") and kind in ("row", "cell", "drop"):
            try:
                frame = pd.read_csv(path, dtype=str, keep_default_na=False)
            except Exception:  # noqa: BLE001, S112 (already damaged: leave it so)
                continue
            if len(frame) == 0:
                continue
            if kind == "row":
                frame = pd.concat([frame, frame.iloc[[detail % len(frame)]]])
            elif kind == "cell" and detail[0] in frame:
                frame.iloc[detail[1] % len(frame), frame.columns.get_loc(detail[0])] = detail[2]
            elif kind == "drop" and detail in frame:
                frame = frame.drop(columns=detail)
            frame.to_csv(path, index=False)


def _files(root: Path) -> set[Path]:
    return {p for p in root.rglob("*") if p.is_file()}


@settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None, print_blob=False,
          suppress_health_check=list(HealthCheck))
@given(case=cases())
def test_cli_bad_input_never_tracebacks(assets, case: Case):
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        cwd = root / "a" / "b" / "c"  # '../../x' stays inside the temporary directory
        cwd.mkdir(parents=True)
        for name in ("mesh.json", *DAMAGED_NETS):
            shutil.copy(assets / name, cwd / name)
        for name in case.dirs:
            (cwd / name).mkdir(exist_ok=True)
        for name, data in case.files.items():
            (cwd / name).parent.mkdir(parents=True, exist_ok=True)
            (cwd / name).write_bytes(data)
        for name in case.runs:
            shutil.copytree(assets / "run", cwd / name)
        if case.runs:
            _apply_damage(cwd / case.runs[-1], case.damage)
        before = _files(root)
        old_cwd = os.getcwd()
        os.chdir(cwd)
        t0 = time.perf_counter()
        try:
            code, err = _run(case.argv)
        finally:
            os.chdir(old_cwd)
        seconds = time.perf_counter() - t0
        # pytest --hypothesis-show-statistics: what the examples did and how long they took
        event(f"{case.argv[0]} exit {code}")
        event(f"{case.argv[0]} {'< 0.1 s' if seconds < 0.1 else '< 1 s' if seconds < 1 else '>= 1 s'}")
        if os.environ.get("PLANNER_FUZZ_LOG"):  # one line per example, to see what the fuzzer tries
            with open(os.environ["PLANNER_FUZZ_LOG"], "a") as log:
                log.write(json.dumps({"argv": case.argv, "exit": code, "s": round(seconds, 3),
                                      "stderr": err[-300:]}) + "\n")
        where = f"planner {' '.join(map(repr, case.argv))} -> exit {code}\n{err[-3000:]}"
        assert code in (0, 1, 2), where
        assert "Traceback" not in err, where
        if code == 2:
            assert err.startswith("error: ") and err.count("\n") == 1, where
        leftovers = [p for p in root.rglob(".*") if LEFTOVER.match(p.name)]
        assert not leftovers, f"{where}\nleft behind: {leftovers}"
        if code != 0:
            new = _files(root) - before
            assert not new, f"{where}\na failed command wrote: {sorted(map(str, new))}"
