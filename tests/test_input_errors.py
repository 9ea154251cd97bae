"""Bad input: exit status 2 and exactly one line on stderr, starting with ``error:``, that names
the file or ``--set``, the field and what was expected; never a traceback (issue 11).

A few cases run the command as a user does (a subprocess); the many others call
``planner.cli.main`` in the test process. Solvable cases use pandapower's 9-bus case.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import typing
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from planner.config.scenario import Scenario, inner_model, load_scenario
from planner.core.errors import MW, InputError
from planner.economics import BOUNDS, Economics

REPO = Path(__file__).resolve().parent.parent
TEXAS = str(REPO / "scenarios" / "texas.yaml")

# ------------------------------------------------------------------------------------ helpers


def run_subprocess(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "planner", *args], capture_output=True, text=True, cwd=cwd,
                          timeout=600, check=False)


def run_main(monkeypatch, capsys, *args: str) -> tuple[int, str, str]:
    from planner.cli import main

    monkeypatch.setattr(sys, "argv", ["planner", *args])
    try:
        main()
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def assert_one_error(code: int, err: str, *needles: str) -> None:
    """Exit 2, one line on stderr starting with 'error: ', no traceback, every needle in the line."""
    assert code == 2, err
    assert err.startswith("error: ") and err.count("\n") == 1, err
    assert "Traceback" not in err
    for needle in needles:
        assert needle in err, (needle, err)


@pytest.fixture()
def tiny(tmp_path) -> Path:
    """A scenario on pandapower's case9 (buses at about lon -3..0, lat -1..1): two mines, two requests."""
    (tmp_path / "sites.csv").write_text("site_id,lat,lon,current_use,operating_mw,poi_mw\n"
                                        "m1,-0.5,-2.0,bitcoin,30,60\nm2,0.2,-1.0,bitcoin,20,40\n")
    path = tmp_path / "tiny.yaml"
    path.write_text("name: tiny\ngrid: {name: case9}\nsites: {files: [sites.csv], max_km: 500, min_kv: 100}\n"
                    "demand:\n  requests:\n"
                    "    - {name: r1, lat: 0.0, lon: -1.5, mw: 50, state: XX}\n"
                    "    - {name: r2, site: m1, mw: 40}\n"
                    "ac: {check: false}\noutput: {map_png: false, map_html: false, case_json: false}\n"
                    "solver: {existing_load_check: false}\n")
    return path


def write(path: Path, text: str | bytes) -> Path:
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text)
    return path


# --------------------------------------------------------------- as a user meets them (subprocess)


def test_cli_subprocess_bad_inputs_are_one_line(tmp_path):
    (tmp_path / "b.yaml").write_bytes(b"\xff\xfe")
    (tmp_path / "ragged.csv").write_text("site_id,lat,lon\n\"a,32,-97\n")
    run = tmp_path / "run"
    run.mkdir()
    (run / "summary.json").write_text("[1, 2]")
    cases = [
        (("solve", TEXAS, "--set", "constraints.max_capex_usd=.inf"),
         ("--set constraints.max_capex_usd=.inf", "field 'constraints.max_capex_usd'", "not a finite number",
          "1e13")),
        (("solve", "b.yaml"), ("b.yaml", "not UTF-8 text", "byte 0xff")),
        (("compare", "run", "run"), ("summary.json", "not a JSON object", "'list'")),
        (("sites", "check", "ragged.csv", "--grid", "case9"), ("ragged.csv", "not a readable CSV file", "EOF")),
    ]
    for args, needles in cases:
        res = run_subprocess(*args, cwd=tmp_path)
        assert_one_error(res.returncode, res.stderr, *needles)


# ------------------------------------------------------------------ numbers: finite and bounded (14, 15)


@pytest.mark.parametrize("item,needles", [
    ("constraints.max_capex_usd=.inf", ("not a finite number", "$10 trillion")),
    ("constraints.max_capex_usd=1e400", ("not a finite number", "'1e400'")),
    ("constraints.max_capex_usd=2e13", ("too large", "[0, 1e13] $")),
    ("demand.requests.5.mw=1e308", ("too large", "(0, 1,000,000] MW", "peak load of the whole US")),
    ("demand.requests.5.mw=0", ("too small", "(0, 1,000,000] MW")),
    ("demand.requests.5.mw=.nan", ("not a finite number",)),
    ("economics.discount_rate=1", ("too large", "[0, 1) per year")),
    ("economics.discount_rate=-0.1", ("too small",)),
    ("economics.horizon_years=0", ("too small", "[1, 100] years")),
    ("economics.horizon_years=101", ("too large",)),
    ("economics.ai_greenfield_lead_months=241", ("too large", "[0, 240] months", "interconnection queue")),
    ("economics.ai_greenfield_capex_usd_per_mw=2e9", ("too large", "[0, 1e9] $ per MW")),
    ("economics.ai_pue=0.9", ("too small", "at least 1 by definition")),
    ("economics.hashprice_usd_per_ph_day=-.inf", ("not a finite number",)),
    ("economics.mining_hardware_life_years=0", ("too small",)),
    ("demand.defaults.lease_usd_per_kw_month=1e5", ("too large", "$ per kW-month")),
    ("demand.requests.0.capex_usd_per_mw=1e10", ("too large",)),
    ("demand.requests.0.lead_months=1000", ("too large",)),
    ("demand.requests.0.value_usd_per_mw=-1e10", ("too small",)),
    ("demand.requests.5.lat=91", ("too large", "latitude")),
    ("supply.regions.ERCOT.available_mw=1e7", ("too large", "MW")),
    ("sites.max_km=.inf", ("not a finite number", "km")),
    ("sites.min_kv=0", ("too small", "kV")),
    ("solver.time_limit_s=.inf", ("not a finite number",)),
    ("constraints.emergency_rating_factor=.nan", ("not a finite number",)),
    ("ac.power_factor=0", ("too small",)),
])
def test_numbers_outside_their_bound_exit_2_naming_field_value_and_bound(monkeypatch, capsys, item, needles):
    field, _value = item.split("=", 1)
    code, _, err = run_main(monkeypatch, capsys, "solve", TEXAS, "--set", item, "-q")
    assert_one_error(code, err, f"--set {item}", f"field '{field}'", "got ", "expected a finite number in",
                     *needles)


def test_a_bad_key_of_kv_by_mw_is_named():
    with pytest.raises(InputError) as err:
        load_scenario(TEXAS, ["sites.kv_by_mw={1e7: 230}"])
    assert "field 'sites.kv_by_mw.1e7': a key: too large" in str(err.value)
    with pytest.raises(InputError, match=r"sites\.kv_by_mw\.abc'?: a key: Input should be a valid number"):
        load_scenario(TEXAS, ["sites.kv_by_mw={abc: 230}"])


def _float_fields(model, prefix: str = ""):
    """Dotted paths of every float field of the schema (list items: .0, regions: .ERCOT)."""
    def has_float(annotation) -> bool:
        return annotation is float or any(has_float(a) for a in typing.get_args(annotation))

    for name, field in model.model_fields.items():
        inner = inner_model(field.annotation)
        if inner is not None:
            origin = typing.get_origin(field.annotation)
            step = ".0." if origin is list else ".ERCOT." if origin is dict else "."
            yield from _float_fields(inner, f"{prefix}{name}{step}")
        elif has_float(field.annotation) and typing.get_origin(field.annotation) is not dict:
            yield f"{prefix}{name}"


FLOAT_FIELDS = sorted(set(_float_fields(Scenario)))


def test_the_schema_has_float_fields_everywhere_expected():
    assert len(FLOAT_FIELDS) > 40
    assert {"demand.requests.0.mw", "constraints.max_capex_usd", "economics.discount_rate",
            "supply.regions.ERCOT.available_mw", "sites.min_kv"} <= set(FLOAT_FIELDS)


@pytest.mark.parametrize("field", FLOAT_FIELDS)
def test_every_float_field_is_finite_and_bounded(field):
    for value, problem in ((".inf", "not a finite number"), (".nan", "not a finite number"),
                           ("1e300", "too large"), ("-1e300", "too small")):
        # a timeline's fields need its years (required) beside them
        context = ["timeline.years=[2026]"] if field.startswith("timeline.") else []
        with pytest.raises(InputError) as err:
            load_scenario(TEXAS, [*context, f"{field}={value}"])
        msg = str(err.value)
        assert f"field '{field}'" in msg and problem in msg and "expected a finite number in" in msg, msg


@pytest.mark.parametrize("name", sorted(BOUNDS))
def test_economics_bounds_are_defined_once_and_checked_from_python(name):
    # Economics.validate and the scenario schema quote the same bound
    default = getattr(Economics(), name)
    assert BOUNDS[name].problem(default) is None, "the default is inside its bound"
    for bad in (np.inf, np.nan, BOUNDS[name].hi * 2 + 1, BOUNDS[name].lo - 1):
        with pytest.raises(InputError) as err:
            Economics(**{name: bad}).validate()
        assert f"field '{name}'" in str(err.value) and BOUNDS[name].describe() in str(err.value)
    with pytest.raises(InputError) as err:
        load_scenario(TEXAS, [f"economics.{name}=.inf"])
    assert BOUNDS[name].describe() in str(err.value)


def test_economics_arrays_name_the_first_bad_element():
    with pytest.raises(InputError) as err:
        Economics(discount_rate=np.array([0.05, 0.08, 1.5])).validate()
    assert "discount_rate" in str(err.value) and "element 2" in str(err.value) and "got 1.5" in str(err.value)


def test_plan_from_python_validates_economics():
    from planner.data import examples
    from planner.optimization.model import Params
    from planner.optimization.solve import plan

    grid = examples.triangle()
    sites = examples.sites_at(grid, [{"site_id": "a", "bus": 2, "poi_mw": 50.0, "operating_mw": 0.0}])
    with pytest.raises(InputError, match="horizon_years"):
        plan(grid, sites, Params(economics=Economics(horizon_years=np.inf)))


# --------------------------------------------------------------------------- scenario files (11, 16, 20)


def test_extends_a_shipped_scenario_by_name(tmp_path):
    child = write(tmp_path / "child.yaml",
                  "extends: texas\nname: child\neconomics: {hashprice_usd_per_ph_day: 30}\n")
    sc = load_scenario(child)
    assert sc.name == "child" and sc.grid.name == "texas"
    assert len(sc.demand.requests) == 10 and sc.economics.hashprice_usd_per_ph_day == 30


def test_extends_an_unknown_name_lists_the_shipped_ones(monkeypatch, capsys, tmp_path):
    write(tmp_path / "c.yaml", "extends: texass\n")
    code, _, err = run_main(monkeypatch, capsys, "solve", str(tmp_path / "c.yaml"))
    assert_one_error(code, err, "field 'extends'", "'texass'", "texas, us-2026-2030, us-2028")


@pytest.mark.parametrize("content,needles", [
    (b"\xff\xfe", ("not UTF-8 text", "byte 0xff at offset 0", "UTF-16")),
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00", ("not UTF-8 text", "byte 0x89")),
    (b"grid: {name: texas}\x00\n", ("not valid YAML", "#x0000")),
    (b"grid:\n  name: texas\n solver: [\n", ("not valid YAML at line",)),
    (b"grid:\n  name: texas\ngrid:\n  slack: single\n", ("duplicate key 'grid'", "first at line 1", "line 3")),
    (b"economics: {discount_rate: 0.1, discount_rate: 0.2}\n", ("duplicate key 'discount_rate'",)),
    (b"- a\n- b\n", ("mapping of sections",)),
    (b"a: " + b"[" * 20000 + b"\n", ("nested too deeply",)),
    (b"sites:\n  files: [\"a\\0b.csv\"]\n", ("field 'sites.files.0'", "NUL byte")),
    (b"grid: {name: \"a\\0b.json\"}\n", ("field 'grid.name'", "NUL byte")),
    (b"name: ../../etc\n", ("field 'name'", "not a safe file name", "'../../etc'")),
    (b"name: a/b\n", ("field 'name'", "not a safe file name")),
    (b"name: ..\n", ("field 'name'",)),
    (b"extends: 5\n", ("field 'extends'", "got 5")),
    (b"grid: 5\n", ("field 'grid'",)),
    (b"demand: {requests: {name: x}}\n", ("field 'demand.requests'", "valid list")),
    (b"demand: {requests: [{name: x, mw: 10, lat: 1}]}\n", ("field 'demand.requests.0'", "'lat' and 'lon'")),
    (b"solver: {threads: 1e400}\n", ("field 'solver.threads'",)),
    (b"demand: {requests: [{name: x, mw: 1" + b"0" * 400 + b", lat: 1, lon: 1}]}\n",
     ("field 'demand.requests.0.mw'", "characters)")),
])
def test_bad_scenario_files(monkeypatch, capsys, tmp_path, content, needles):
    path = write(tmp_path / "bad.yaml", content)
    code, _, err = run_main(monkeypatch, capsys, "solve", str(path), "-q")
    assert_one_error(code, err, str(path), *needles)


def test_a_file_name_that_is_no_safe_name_gives_a_safe_default_name(tmp_path):
    sc = load_scenario(write(tmp_path / "my what if (v2).yaml", "grid: {name: texas}\n"))
    assert sc.name == "my-what-if-v2"


def test_directories_given_as_files(monkeypatch, capsys, tmp_path, tiny):
    folder = tmp_path / "folder.yaml"
    folder.mkdir()
    code, _, err = run_main(monkeypatch, capsys, "solve", str(folder))
    assert_one_error(code, err, "folder.yaml", "is a directory")
    write(tmp_path / "ext.yaml", "extends: folder.yaml\n")
    code, _, err = run_main(monkeypatch, capsys, "solve", str(tmp_path / "ext.yaml"))
    assert_one_error(code, err, "field 'extends'", "is a directory")
    sites_dir = tmp_path / "sites_dir.csv"
    sites_dir.mkdir()
    code, _, err = run_main(monkeypatch, capsys, "solve", str(tiny), "--set", f"sites.files=[{sites_dir}]", "-q",
                            "--out", str(tmp_path / "o"))
    assert_one_error(code, err, "sites_dir.csv", "is a directory")
    grid_dir = tmp_path / "grid.json"
    grid_dir.mkdir()
    code, _, err = run_main(monkeypatch, capsys, "solve", str(tiny), "--set", f"grid.name={grid_dir}", "-q",
                            "--out", str(tmp_path / "o"))
    assert_one_error(code, err, f"--set grid.name={grid_dir}", "field 'grid.name'", "is a directory")
    code, _, err = run_main(monkeypatch, capsys, "grids", "show", str(grid_dir))
    assert_one_error(code, err, "grid.json", "is a directory")
    code, _, err = run_main(monkeypatch, capsys, "sites", "check", str(sites_dir), "--grid", "case9")
    assert_one_error(code, err, "sites_dir.csv", "is a directory")
    assert not (tmp_path / "o").exists()


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root reads any file")
def test_unreadable_files(monkeypatch, capsys, tmp_path):
    path = write(tmp_path / "locked.yaml", "grid: {name: texas}\n")
    sites = write(tmp_path / "locked.csv", "site_id,lat,lon\na,0,-1\n")
    path.chmod(0)
    sites.chmod(0)
    try:
        code, _, err = run_main(monkeypatch, capsys, "solve", str(path))
        assert_one_error(code, err, "locked.yaml", "cannot read the file")
        code, _, err = run_main(monkeypatch, capsys, "sites", "check", str(sites), "--grid", "case9")
        assert_one_error(code, err, "locked.csv", "cannot read the file")
    finally:
        path.chmod(0o644)
        sites.chmod(0o644)


# --------------------------------------------------------------------------- who is blamed (20)


@pytest.mark.parametrize("sets,source,field,needle", [
    # a value inside a list
    (["demand.requests.0.mw=-1"], "--set demand.requests.0.mw=-1", "demand.requests.0.mw", "too small"),
    # a key the schema does not know
    (["demand.requests.0.colour=red"], "--set demand.requests.0.colour=red", "demand.requests.0.colour",
     "unknown key"),
    # a field inside the failing item (the item's own check fails)
    (["demand.requests.5.lat=null"], "--set demand.requests.5.lat=null", "demand.requests.5", "'lat' and 'lon'"),
    # a whole section replaced
    (["grid={nme: texas}"], "--set grid={nme: texas}", "grid.nme", "did you mean 'grid.name'"),
    # the last --set of the field wins
    (["economics.discount_rate=0.1", "economics.discount_rate=7"], "--set economics.discount_rate=7",
     "economics.discount_rate", "too large"),
    # a duplicate key in a --set value
    (["grid={name: a, name: b}"], "--set grid={name: a, name: b}", None, "duplicate key 'name'"),
])
def test_the_set_that_caused_it_is_blamed(sets, source, field, needle):
    with pytest.raises(InputError) as err:
        load_scenario(TEXAS, ["economics.hashprice_usd_per_ph_day=30", *sets])
    msg = str(err.value)
    assert msg.startswith(source + (", " if field else ":")), msg
    assert (field is None or f"field '{field}'" in msg) and needle in msg


def test_the_file_is_blamed_when_no_set_touched_the_field(tmp_path):
    path = write(tmp_path / "s.yaml", "economics: {discount_rate: 3}\n")
    with pytest.raises(InputError) as err:
        load_scenario(path, ["economics.hashprice_usd_per_ph_day=30"])
    assert str(err.value).startswith(f"{path.resolve()}, field 'economics.discount_rate'")


def test_the_extended_file_is_blamed_for_its_own_fields(tmp_path, tiny):
    parent = write(tmp_path / "parent.yaml", f"extends: {tiny}\neconomics: {{horizon_years: 500}}\n")
    child = write(tmp_path / "child.yaml", "extends: parent.yaml\nname: child\n")
    with pytest.raises(InputError) as err:
        load_scenario(child)
    assert str(err.value).startswith(f"{parent.resolve()}, field 'economics.horizon_years'")


def test_errors_found_while_preparing_blame_the_set(monkeypatch, capsys, tmp_path, tiny):
    out = str(tmp_path / "o")
    code, _, err = run_main(monkeypatch, capsys, "solve", str(tiny), "--set", "demand.requests.1.site=m3", "-q",
                            "--out", out)
    assert_one_error(code, err, "--set demand.requests.1.site=m3", "field 'demand.requests.1.site'",
                     "unknown site id", "did you mean", "'m1'")
    code, _, err = run_main(monkeypatch, capsys, "solve", str(tiny), "--set", "demand.requests.1.name=r1", "-q",
                            "--set", "demand.requests.1.lat=1", "--set", "demand.requests.1.lon=-1",
                            "--set", "demand.requests.1.site=null", "--out", out)
    assert_one_error(code, err, "--set demand.requests", "field 'demand.requests'", "same name")
    code, _, err = run_main(monkeypatch, capsys, "solve", str(tiny), "--set", "sites.exclude=[m1, m2]", "-q",
                            "--out", out)
    assert_one_error(code, err, "--set sites.exclude=[m1, m2]")
    code, _, err = run_main(monkeypatch, capsys, "solve", str(tiny), "--set", "grid.name=case_nine", "-q",
                            "--out", out)
    assert_one_error(code, err, "--set grid.name=case_nine", "field 'grid.name'", "unknown grid")


def test_errors_found_while_preparing_blame_the_extended_file(tmp_path, tiny):
    from planner.run.prepare import prepare

    parent = write(tmp_path / "parent.yaml", f"extends: {tiny}\nsites: {{exclude: [m7]}}\n")
    child = write(tmp_path / "child.yaml", "extends: parent.yaml\nname: child\n")
    with pytest.raises(InputError) as err:
        prepare(load_scenario(child))
    assert str(err.value).startswith(f"{parent.resolve()}, field 'sites.exclude'")


# --------------------------------------------------------------------------- sites and grid files


@pytest.mark.parametrize("name,content,needles", [
    ("s.csv", "site_id,lat,lon,poi_mw\na,0,-1,1e308\n", ("row 1 (site_id 'a')", "field 'poi_mw'", "too large",
                                                         "1,000,000] MW")),
    ("s.csv", "site_id,lat,lon,poi_mw\na,0,-1,inf\n", ("field 'poi_mw'", "not a finite number")),
    ("s.csv", "site_id,lat,lon,operating_mw\na,0,-1,-3\n", ("field 'operating_mw'", "negative power")),
    ("s.csv", "site_id,lat,lon\na,0,-1,5\n", ("a row has more fields than the header",)),
    ("s.csv", "site_id,lat,lon\n\"a,0,-1\n", ("not a readable CSV file",)),
    ("s.csv", "", ("empty file",)),
    ("s.csv", b"\xff\xfe\x00\x01", ("not UTF-8 text", "byte 0xff")),
    ("s.csv", "site_id,lat,lon\na,x,-1\n", ("field 'lat'", "not a number", "'x'")),
    ("s.csv", "site_id,lat,lon\na,0,-1\na,0,-1\n", ("row 2 (site_id 'a')", "duplicated site id")),
    ("s.csv", "site_id,lon\na,-1\n", ("field 'lat'", "missing coordinate column")),
    ("s.csv", "site_id,lat,lon\na,95,-1\n", ("field 'lat'", "out of range")),
    ("s.geojson", ('{"type":"FeatureCollection","features":[{"type":"Feature","properties":{"site_id":"a"},'
                  '"geometry":{"type":"LineString","coordinates":[[-1,0],[-2,1]]}}]}'),
     ("field 'geometry'", "not a point", "'LineString'")),
    ("s.geojson", ('{"type":"FeatureCollection","features":[{"type":"Feature","properties":{"site_id":"a"},'
                  '"geometry":null}]}'), ("field 'geometry'", "no location")),
    ("s.geojson", "", ("not a readable geospatial file",)),
    ("s.geojson", "[1, 2]", ("not a readable geospatial file",)),
    # pyogrio warns "Could not parse column 'tags' as JSON": the warning stays inside the reading call
    ("s.geojson", ('{"type":"FeatureCollection","features":[{"type":"Feature","properties":{"id":"a","tags":[1,2]},'
                  '"geometry":{"type":"Point","coordinates":[-1,0]}},{"type":"Feature","properties":{"id":"b",'
                  '"tags":"{bad"},"geometry":{"type":"Point","coordinates":[-2,0]}}]}'),
     ("field 'site_id'", "required column missing")),
    ("s.xlsx", "x", ("unknown file type",)),
])
def test_bad_site_files(monkeypatch, capsys, tmp_path, name, content, needles):
    path = write(tmp_path / name, content)
    code, _, err = run_main(monkeypatch, capsys, "sites", "check", str(path), "--grid", "case9")
    assert_one_error(code, err, name, *needles)


def test_library_warnings_do_not_leak_from_a_good_site_file(monkeypatch, capsys, tmp_path):
    path = write(tmp_path / "s.geojson",
                 '{"type":"FeatureCollection","features":[{"type":"Feature","properties":{"site_id":"a",'
                 '"tags":[1,2]},"geometry":{"type":"Point","coordinates":[-1,0]}},{"type":"Feature","properties":'
                 '{"site_id":"b","tags":"{bad"},"geometry":{"type":"Point","coordinates":[-2,0]}}]}')
    code, out, err = run_main(monkeypatch, capsys, "sites", "check", str(path), "--grid", "case9", "--max-km", "500",
                              "--min-kv", "100")
    assert code == 0 and err == "" and "2 mapped" in out


@pytest.mark.parametrize("args,needles", [
    (("--kv-by-mw", "nan:230"), ("--kv-by-mw", "'nan:230'", "finite number")),
    (("--kv-by-mw", "100:5000"), ("--kv-by-mw", "kV")),
    (("--max-km", "inf"), ("'--max-km'", "not a finite number", "got inf", "km")),
    (("--min-kv", "-3"), ("'--min-kv'", "too small", "got -3.0", "kV")),
])
def test_bad_mapping_options(monkeypatch, capsys, tmp_path, args, needles):
    path = write(tmp_path / "s.csv", "site_id,lat,lon\na,0,-1\n")
    code, _, err = run_main(monkeypatch, capsys, "sites", "check", str(path), "--grid", "case9", *args)
    assert_one_error(code, err, *needles)


@pytest.mark.parametrize("name,content,needles", [
    ("g.json", b"\xff\xfe", ("not a pandapower JSON net",)),
    ("g.json", "[1]", ("not a pandapower JSON net",)),
    ("g.json", "", ("not a pandapower JSON net",)),
    ("g.m", b"\xff\xfe", ("not UTF-8 text", "byte 0xff")),
    ("g.m", "nothing here", ("field 'mpc.bus'", "matrix missing")),
    ("g.m", ("mpc.bus = [1 3 0 0 0 0 1 1 0 230 1 1.1 0.9; 2 1 50 0 0 0 1 1 0 230 1 1.1 0.9;];\n"
            "mpc.gen = [1 0 0 0 0 1 100 1 300 0;];\nmpc.branch = [1 2 0 0 0 100 0 0 0 0 1;];\n"),
     ("field 'mpc.branch row 1'", "impedance not usable", "non-zero reactance")),
    ("g.m", ("mpc.bus = [1 1 0 0 0 0 1 1 0 230 1 1.1 0.9; 2 1 50 0 0 0 1 1 0 230 1 1.1 0.9;];\n"
            "mpc.gen = [1 0 0 0 0 1 100 1 300 0;];\nmpc.branch = [1 2 0 0.1 0 100 0 0 0 0 1;];\n"),
     ("no reference bus",)),
    ("g.m", ("mpc.bus = [1 3 0 0 0 0 1 1 0 0 1 1.1 0.9;];\n"
            "mpc.gen = [1 0 0 0 0 1 100 1 300 0;];\nmpc.branch = [1 1 0 0.1 0 100 0 0 0 0 1;];\n"),
     ("baseKV of bus 1", "not a voltage")),
])
def test_bad_grid_files(monkeypatch, capsys, tmp_path, name, content, needles):
    path = write(tmp_path / name, content)
    code, _, err = run_main(monkeypatch, capsys, "grids", "show", str(path))
    assert_one_error(code, err, name, *needles)


def test_located_request_keeps_sites_of_a_file_without_country_in_the_us(tiny):
    """A site file without a 'country' column and a request at a location: the file's sites stay US
    sites (they were once silently 'outside the US (country nan)')."""
    from planner.run.prepare import prepare

    sites = prepare(load_scenario(tiny)).sites.set_index("site_id")
    assert list(sites.loc[["m1", "m2", "demand-r1"], "status"]) == ["mapped"] * 3


# --------------------------------------------------------------------------- damaged run directories (17)


def _run_dir(path: Path) -> Path:
    path.mkdir()
    summary = {"status": "optimal", "objective_usd": 1e9, "requested_ai_mw": 90, "served_ai_mw": 50,
               "unmet_ai_mw": 40, "served_mining_mw": 10, "capex_usd": 1e8, "converted_sites": 1,
               "binding_branches": 1, "max_branch_loading_percent": 99.0, "grid": "case9"}
    (path / "summary.json").write_text(json.dumps(summary))
    pd.DataFrame({"site_id": ["m1", "m2"], "use": ["ai", "mining"], "ai_mw": [50.0, 0.0],
                  "mining_mw": [0.0, 10.0]}).to_csv(path / "allocation.csv", index=False)
    pd.DataFrame({"branch_id": [0, 1], "binding": [True, False], "flow_mw": [250.0, 10.0],
                  "shadow_price_usd_per_mw": [1000.0, 0.0]}).to_csv(path / "branches.csv", index=False)
    return path


def _damage(path: Path, name: str, change) -> None:
    file = path / name
    if name.endswith(".json"):
        file.write_text(change(file.read_text()))
    else:
        frame = pd.read_csv(file)
        out = change(frame)
        if isinstance(out, str | bytes):
            write(file, out)
        else:
            out.to_csv(file, index=False)


@pytest.mark.parametrize("name,change,needles", [
    ("allocation.csv", lambda f: pd.concat([f, f.iloc[:1]]),
     ("allocation.csv", "row 3", "field 'site_id'", "duplicated site_id (also on row 1)", "'m1'")),
    ("allocation.csv", lambda f: f.assign(ai_mw=["fifty", 0]),
     ("allocation.csv", "row 1", "field 'ai_mw'", "not a number", "'fifty'")),
    ("summary.json", lambda t: "[1, 2]", ("summary.json", "not a JSON object", "'list'")),
    ("branches.csv", lambda f: pd.concat([f, f.iloc[1:]]),
     ("branches.csv", "row 3", "field 'branch_id'", "duplicated branch_id (also on row 2)")),
    ("branches.csv", lambda f: f.assign(binding=["False", "maybe"]),
     ("branches.csv", "row 2", "field 'binding'", "not True or False")),
    ("branches.csv", lambda f: f.assign(branch_id=["a", 1]), ("field 'branch_id'", "not an integer id")),
    ("branches.csv", lambda f: f.assign(flow_mw=["x", 1]), ("field 'flow_mw'", "not a number")),
    ("branches.csv", lambda f: f.drop(columns="binding"), ("field 'binding'", "column missing")),
    ("allocation.csv", lambda f: f.assign(site_id=[None, "m2"]), ("field 'site_id'", "empty id")),
    ("allocation.csv", lambda f: "", ("allocation.csv", "empty file")),
    ("allocation.csv", lambda f: b"\xff\xfe", ("allocation.csv", "not UTF-8 text")),
    ("allocation.csv", lambda f: "site_id,use\na,b,c\n", ("a row has more fields than the header",)),
    ("summary.json", lambda t: t.replace('"objective_usd": 1000000000.0', '"objective_usd": "lots"'),
     ("summary.json", "field 'objective_usd'", "not a number", "'lots'")),
    ("summary.json", lambda t: t.replace('"objective_usd": 1000000000.0', '"objective_usd": 1' + "0" * 400),
     ("summary.json", "field 'objective_usd'", "too large a number")),
    ("summary.json", lambda t: "{", ("summary.json", "not valid JSON at line 1")),
    ("summary.json", lambda t: "[" * 100000, ("summary.json", "not")),
])
def test_compare_damaged_run_directories(monkeypatch, capsys, tmp_path, name, change, needles):
    a = _run_dir(tmp_path / "a")
    b = _run_dir(tmp_path / "b")
    _damage(b, name, change)
    for args in ((str(a), str(b)), (str(b), str(a), "--json")):
        code, _, err = run_main(monkeypatch, capsys, "compare", *args)
        assert_one_error(code, err, *needles)


def test_compare_of_good_run_directories(monkeypatch, capsys, tmp_path):
    a = _run_dir(tmp_path / "a")
    b = _run_dir(tmp_path / "b")
    _damage(b, "branches.csv", lambda f: f.assign(binding=[False, True]))
    # a figure that is NaN (no monitored branch) is a number, not damage
    _damage(b, "summary.json", lambda t: t.replace('"max_branch_loading_percent": 99.0',
                                                   '"max_branch_loading_percent": NaN'))
    code, out, err = run_main(monkeypatch, capsys, "compare", str(a), str(b), "--json")
    assert code == 0 and err == ""
    diff = json.loads(out)
    assert [r["branch_id"] for r in diff["branches_now_binding"]] == [1]
    assert [r["branch_id"] for r in diff["branches_now_free"]] == [0]


def test_bounds_describe_themselves():
    assert MW.describe() == ("a finite number in [0, 1,000,000] MW "
                             "(1,000 GW: more than the peak load of the whole US)")
    assert MW.problem(5.0) is None and MW.problem(float("nan")) == "not a finite number"
    with pytest.raises(InputError, match=r"^x, row 3, field 'mw': too large; got 2000000.0; expected"):
        MW.check(2e6, source="x", row=3, field="mw")


def test_a_csv_with_a_byte_order_mark_reads(monkeypatch, capsys, tmp_path):
    """Excel's "CSV UTF-8" starts with a BOM: the first column is still 'site_id'."""
    path = write(tmp_path / "s.csv", b"\xef\xbb\xbfsite_id,lat,lon,poi_mw\na,0.2,-1.0,10\n")
    code, out, err = run_main(monkeypatch, capsys, "sites", "check", str(path), "--grid", "case9", "--max-km", "500",
                              "--min-kv", "100")
    assert code == 0 and err == "" and "1 mapped" in out


def _ends(end: str) -> list[str]:
    """--set of every economics field at its low or high end (just inside an open end)."""
    out = []
    for name, b in sorted(BOUNDS.items()):
        value = (b.lo + 1e-9 if b.lo_open else b.lo) if end == "lo" else (b.hi - 1e-9 if b.hi_open else b.hi)
        out.append(f"economics.{name}={value!r}")
    return out


@pytest.mark.parametrize("sets", [
    _ends("lo"),
    _ends("hi"),
    ["demand.requests.0.mw=1e6", "demand.requests.1.mw=1e-6", "constraints.max_capex_usd=1e13",
     "constraints.min_block_mw=1e6", "supply.regions={main: {available_mw: 1e6, under_construction_mw: 1e6}}"],
    ["demand.requests.0.value_usd_per_mw=1e9", "demand.defaults.lease_usd_per_kw_month=1e4",
     "demand.defaults.capex_usd_per_mw=1e9", "demand.defaults.lead_months=240", "sites.max_km=20040",
     "sites.kv_by_mw={1e6: 2000}"],
], ids=["economics-low", "economics-high", "mw-and-budget", "request-terms"])
def test_numbers_at_their_bounds_solve_or_are_diagnosed(monkeypatch, capsys, tmp_path, tiny, sets):
    """Inside the bounds the solver gets numbers it can represent: a solution or a diagnosis, no crash."""
    args = [a for s in sets for a in ("--set", s)]
    code, _, err = run_main(monkeypatch, capsys, "solve", str(tiny), *args, "--out", str(tmp_path / "o"), "-q")
    assert code in (0, 1) and "Traceback" not in err, err
    assert (tmp_path / "o" / "summary.json").is_file() == (code == 0)


@pytest.mark.parametrize("tag,needles", [
    ("not json", ("field 'bus.geo of bus 0'", "not a point", "'not json'")),
    ('{"type": "Point"}', ("field 'bus.geo of bus 0'", "not a point")),
    ('{"type": "LineString", "coordinates": [[1, 2], [3, 4]]}', ("not a point",)),
    ("no branches", ("the net has no lines or transformers",)),
    ("zero length", ("field 'line 0'", "impedance not usable", "length_km > 0")),
    ("all out of service", ("no line or transformer is in service",)),
    ("no slack", ("the net has no slack", "ext_grid")),
    ("kV nan", ("field 'bus.vn_kv of bus 0'", "not a voltage", "got nan")),
])
def test_bad_pandapower_nets(monkeypatch, capsys, tmp_path, tag, needles):
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import pandapower as pp
        import pandapower.networks as pn

        net = pn.case9()
        if tag == "no branches":
            net.line = net.line.iloc[0:0]
            net.trafo = net.trafo.iloc[0:0]
        elif tag == "zero length":
            net.line["length_km"] = 0.0
        elif tag == "all out of service":
            net.line["in_service"] = False
            net.trafo["in_service"] = False
        elif tag == "no slack":
            net.ext_grid = net.ext_grid.iloc[0:0]
        elif tag == "kV nan":
            net.bus.loc[0, "vn_kv"] = float("nan")
        else:
            net.bus["geo"] = tag
        pp.to_json(net, str(tmp_path / "net.json"))
    code, _, err = run_main(monkeypatch, capsys, "grids", "show", str(tmp_path / "net.json"))
    assert_one_error(code, err, "net.json", *needles)


# ------------------------------------------------------- NaN and infinities on the command line (f)


def _float_options():
    """(command path, option) of every option of the command line that reads a number."""
    import click

    from planner.cli import cli

    def walk(command, path):
        for param in command.params:
            if isinstance(param, click.Option) and isinstance(param.type, click.types.FloatParamType | click.FloatRange):
                yield path, param.opts[0]
        for name, sub in getattr(command, "commands", {}).items():
            yield from walk(sub, f"{path} {name}")

    return list(walk(cli, "planner"))


def test_no_option_reads_a_float_that_may_be_nan():
    """click's float and FloatRange take 'nan' (NaN compares false with both ends of a range): every
    number option uses planner.cli.options.FiniteFloat instead."""
    assert _float_options() == []


@pytest.mark.parametrize("args,needles", [
    (("hosting", "--grid", "case9", "--use", "mining", "--firm-share", "nan"),
     ("'--firm-share'", "not a finite number", "got 'nan'", "[0, 1]")),
    (("hosting", "--grid", "case9", "--firm-share", "-inf"), ("'--firm-share'", "not a finite number")),
    (("hosting", "--grid", "case9", "--firm-share", "2"), ("'--firm-share'", "too large")),
    (("hosting", "--grid", "case9", "--offpeak-load-factor", "inf"), ("'--offpeak-load-factor'", "not a finite")),
    (("hosting", "--grid", "case9", "--emergency-rating-factor", "nan"), ("'--emergency-rating-factor'", "finite")),
    (("economics", "--mw", "nan"), ("'--mw'", "not a finite number", "(0, 1,000,000]")),
    (("economics", "--mw", "inf"), ("'--mw'", "not a finite number")),
    (("sites", "check", "--grid", "case9", "--min-kv", "nan"), ("'--min-kv'", "not a finite number")),
    (("sites", "check", "--grid", "case9", "--max-km", "-inf"), ("'--max-km'", "not a finite number")),
    (("solve", TEXAS, "--set", "constraints.mining_firm_share=nan"),
     ("--set constraints.mining_firm_share=nan", "not a finite number")),
    (("solve", TEXAS, "--set", "economics.hashprice_usd_per_ph_day=-.inf"), ("not a finite number",)),
    (("economics", TEXAS, "--set", "economics.discount_rate=.nan"), ("field 'economics.discount_rate'", "finite")),
    (("sweep", TEXAS, "--vary", "economics.hashprice_usd_per_ph_day=nan,30", "--out", "sw"),
     ("--vary economics.hashprice_usd_per_ph_day, value \"nan\"", "not a finite number")),
    (("sweep", TEXAS, "--vary", "economics.hashprice_usd_per_ph_day=30:inf:5", "--out", "sw"),
     ("--vary", "not finite")),
])
def test_nan_and_infinities_on_the_command_line_are_one_line(monkeypatch, capsys, tmp_path, args, needles):
    monkeypatch.chdir(tmp_path)
    code, _, err = run_main(monkeypatch, capsys, *args)
    assert_one_error(code, err, *needles)
    assert not (tmp_path / "sw").exists()


@pytest.mark.parametrize("value", [".nan", ".inf", "-.inf", ".NaN"])
def test_nan_and_infinities_in_a_scenario_file_are_one_line(monkeypatch, capsys, tmp_path, value):
    path = write(tmp_path / "s.yaml", f"extends: texas\nconstraints: {{ai_firm_share: {value}}}\n")
    code, _, err = run_main(monkeypatch, capsys, "solve", str(path), "--out", str(tmp_path / "o"))
    assert_one_error(code, err, "s.yaml", "field 'constraints.ai_firm_share'", "not a finite number")


# ----------------------------------------------------------------- implausible inputs (a-e)


def test_an_implausible_value_solves_with_one_warning_line(monkeypatch, capsys, tmp_path, tiny):
    """hashprice in $/TH/day typed as $/PH/day: it solves (mining at 0 MW), and says what looks wrong."""
    code, out, err = run_main(monkeypatch, capsys, "solve", str(tiny), "--set", "economics.hashprice_usd_per_ph_day=0.04",
                              "--out", str(tmp_path / "o"), "-q")
    assert code == 0, err
    assert err == ("--set economics.hashprice_usd_per_ph_day=0.04, field 'economics.hashprice_usd_per_ph_day': 0.04 "
                   "$ per PH/s per day is outside the plausible 10–500: was it typed in $ per TH/s per day?\n")


def test_warnings_give_way_to_the_error_of_bad_input(monkeypatch, capsys, tmp_path, tiny):
    """A warning, then bad input found later: stderr holds the error alone, on one line."""
    small = write(tmp_path / "small.csv", "site_id,lat,lon,poi_mw\na,0.2,-1.0,0.3\n")
    code, _, err = run_main(monkeypatch, capsys, "sites", "check", str(small), "--grid", "nogrid")
    assert_one_error(code, err, "unknown grid")
    code, _, err = run_main(monkeypatch, capsys, "solve", str(tiny), "--set", "economics.hashprice_usd_per_ph_day=0.04",
                            "--set", "sites.exclude=[m7]", "--out", str(tmp_path / "o"), "-q")
    assert_one_error(code, err, "field 'sites.exclude'", "unknown site id")
    # the same file on a grid that loads: mapped, with the warning (once)
    code, out, err = run_main(monkeypatch, capsys, "sites", "check", str(small), "--grid", "case9", "--max-km", "500",
                              "--min-kv", "100")
    assert code == 0 and "1 mapped" in out
    assert err == (f"{small}, row 1 (site_id 'a'), field 'poi_mw': 0.3 MW is outside the plausible 1–5,000: "
                   "was it typed in GW?\n")


def test_an_option_outside_its_plausible_range_warns(monkeypatch, capsys, tmp_path):
    path = write(tmp_path / "s.csv", "site_id,lat,lon\na,0.2,-1.0\n")
    code, out, err = run_main(monkeypatch, capsys, "sites", "check", str(path), "--grid", "case9", "--max-km", "5000",
                              "--min-kv", "100")
    assert code == 0 and "1 mapped" in out
    assert err == "--max-km: 5,000 km is outside the plausible 0–500: was it typed in m?\n"


@pytest.mark.parametrize("content,needles", [
    ("site_id,lat,lon,poi_mw\na,31.5,-97.1,300000\n",
     ("row 1 (site_id 'a')", "field 'poi_mw'", "more than any single interconnection carries", "typed in kW",
      "got 300000.0", "at most 5,000 MW", "allow_large_mw")),
    ("site_id,lat,lon,poi_mw\na,-97.1,31.5,300\n",
     ("field 'lat'", "coordinate out of range", "it looks like lat and lon are swapped")),
])
def test_implausible_sites_are_errors_on_one_line(monkeypatch, capsys, tmp_path, content, needles):
    path = write(tmp_path / "s.csv", content)
    code, _, err = run_main(monkeypatch, capsys, "sites", "check", str(path), "--grid", "case9")
    assert_one_error(code, err, "s.csv", *needles)


def test_a_site_of_300000_mw_as_a_user_meets_it(tmp_path):
    """kW typed as MW once mapped to a 500 kV bus of the Texas grid with exit 0."""
    (tmp_path / "big.csv").write_text("site_id,lat,lon,poi_mw\nbig,31.5,-97.1,300000\n")
    res = run_subprocess("sites", "check", "big.csv", "--grid", "case9", cwd=tmp_path)
    assert_one_error(res.returncode, res.stderr, "big.csv", "field 'poi_mw'", "5,000 MW", "was it typed in kW?")


def test_state_names_are_not_usps_codes(monkeypatch, capsys, tmp_path, tiny):
    code, _, err = run_main(monkeypatch, capsys, "solve", str(tiny), "--set", "sites.states=[Texas]",
                            "--out", str(tmp_path / "o"))
    assert_one_error(code, err, "--set sites.states=[Texas]", "field 'sites.states'", "'Texas'",
                     "expected USPS codes like TX", "(Texas is TX)")


@pytest.mark.parametrize("sets,needles", [
    (("sites.interconnects=[Texas]",),
     ("--set sites.interconnects=[Texas], field 'sites.interconnects'", "the filters leave none of the 2 sites",
      "sites.interconnects [Texas] removes 2 of them (the site files have no 'interconnect' column)")),
    (("sites.uses=[ai]",), ("field 'sites.uses'", "sites.uses [ai] removes 2 of them")),
    (("sites.files=[mixed.csv]", "sites.uses=[ai]", "sites.exclude=[m2]"),  # together, not alone
     ("field 'sites'", "the filters leave none of the 2 sites", "sites.uses [ai] removes 1 of them",
      "sites.exclude [m2] removes 1 of them")),
])
def test_filters_that_leave_no_site_say_what_each_removed(monkeypatch, capsys, tmp_path, tiny, sets, needles):
    mixed = write(tmp_path / "mixed.csv", "site_id,lat,lon,current_use\nm1,-0.5,-2.0,bitcoin\nm2,0.2,-1.0,ai\n")
    args = [a for s in sets for a in ("--set", s.replace("mixed.csv", str(mixed)))]
    code, _, err = run_main(monkeypatch, capsys, "solve", str(tiny), *args, "--out", str(tmp_path / "o"))
    assert_one_error(code, err, *needles)


def test_a_site_file_without_the_filtered_column_is_named(tmp_path, tiny, caplog):
    """Of two site files, one without an 'interconnect' column: the filter keeps the other's sites and
    says that it left out all of the first file's."""
    from planner.run.prepare import read_scenario_sites

    write(tmp_path / "ic.csv", "site_id,lat,lon,interconnect\nk1,0.1,-1.0,main\n")
    sc = load_scenario(tiny, [f"sites.files=[{tiny.parent / 'sites.csv'}, {tmp_path / 'ic.csv'}]",
                              "sites.interconnects=[main]"])
    kept, _ = read_scenario_sites(sc)
    assert kept["site_id"].tolist() == ["k1"]
    (line,) = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert "field 'sites.interconnects'" in line and "sites.csv has no 'interconnect' column" in line \
        and "leaves out its 2 sites" in line


def test_held_warnings_print_once_each_at_most_ten_and_give_way_to_bad_input(capsys):
    import logging

    from planner.core.errors import held_warnings

    log = logging.getLogger("planner.test")
    with held_warnings():
        for i in range(12):
            log.warning(f"odd value {i}")
            log.warning(f"odd value {i}")  # a sweep loads its scenario again: once
        assert capsys.readouterr().err == ""  # not yet: when the command ends
    lines = capsys.readouterr().err.splitlines()
    assert lines == [f"odd value {i}" for i in range(10)] + ["(and 2 more warnings)"]
    with pytest.raises(InputError), held_warnings():
        log.warning("odd value")
        raise InputError("bad", field="x")
    assert capsys.readouterr().err == ""
    with pytest.raises(RuntimeError), held_warnings():  # a failure that is no bad input: they stay
        log.warning("odd value")
        raise RuntimeError("solver failed")
    assert capsys.readouterr().err == "odd value\n"
