"""The command line as a user meets it: real processes, exit statuses, one-line errors."""

import json
import subprocess
import sys

import geopandas as gpd
import pandas as pd
import pytest
from shapely.geometry import Point


def run(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "planner", *args], check=False, capture_output=True, text=True,
                          cwd=cwd, timeout=600)


def test_grids_list():
    res = run("grids", "list")
    assert res.returncode == 0
    for name in ("texas", "western", "eastern", "usa"):
        assert name in res.stdout


def test_grids_show_texas_json():
    res = run("--quiet", "grids", "show", "texas", "--json")
    assert res.returncode == 0, res.stderr
    info = json.loads(res.stdout)
    assert info["buses"] == 2000 and info["branches"] == 3206
    assert info["load_mw"] == pytest.approx(67109.21, abs=0.01)
    for key in ("monitored_branches", "generators", "generation_capacity_mw", "interconnects",
                "islands", "radial_branches"):
        assert key in info
    assert info["radial_branches"] == 450


@pytest.mark.slow
def test_grids_show_usa_json():
    res = run("grids", "show", "usa", "--json")
    assert res.returncode == 0, res.stderr
    info = json.loads(res.stdout)
    assert info["buses"] == 82071 and info["branches"] == 104192


def test_sites_check_writes_csv_and_geojson(tmp_path):
    res = run("sites", "check", "--grid", "texas", "--out", str(tmp_path / "out"))
    assert res.returncode == 0, res.stderr
    assert "iren-childress" in res.stdout and "mapped" in res.stdout
    table = pd.read_csv(tmp_path / "out" / "mapped_sites.csv")
    geo = gpd.read_file(tmp_path / "out" / "mapped_sites.geojson")
    assert len(table) == len(geo) == 40
    ercot = table[table["interconnect"] == "Texas"]
    assert (ercot["status"] == "mapped").all() and (ercot["distance_km"] <= 50).all()
    assert geo.crs.to_epsg() == 4326
    assert not list((tmp_path / "out").glob(".*"))  # no temporary files left behind


def one_line_error(res, *needles):
    assert res.returncode == 2, (res.stdout, res.stderr)
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1, res.stderr
    assert "Traceback" not in res.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]


@pytest.mark.filterwarnings("ignore:.crs. was not provided")
def test_errors_exit_2_with_one_line(tmp_path):
    one_line_error(run("sites", "check", str(tmp_path / "none.geojson"), "--grid", "texas"),
                   "none.geojson", "no such file")
    bad = tmp_path / "bad.csv"
    pd.DataFrame({"site_id": ["a", "b"], "lat": [31.0, 200.0], "lon": [-97.0, -97.0]}).to_csv(bad, index=False)
    one_line_error(run("sites", "check", str(bad), "--grid", "texas"),
                   "bad.csv", "row 2", "'lat'", "200", "[-90, 90]")
    pd.DataFrame({"site_id": ["a"], "lat": [31.0], "lon": [-97.0], "poi_mw": ["big"]}).to_csv(bad, index=False)
    one_line_error(run("sites", "check", str(bad), "--grid", "texas"), "bad.csv", "'poi_mw'", "'big'")
    pd.DataFrame({"site_id": ["a", "a"], "lat": [31.0, 31.0], "lon": [-97.0, -97.0]}).to_csv(bad, index=False)
    one_line_error(run("sites", "check", str(bad), "--grid", "texas"), "duplicated site id", "'a'")
    pd.DataFrame({"id": ["a"], "lat": [31.0], "lon": [-97.0]}).to_csv(bad, index=False)
    one_line_error(run("sites", "check", str(bad), "--grid", "texas"), "'site_id'", "required column missing")
    nocrs = tmp_path / "nocrs.gpkg"
    gpd.GeoDataFrame({"site_id": ["a"]}, geometry=[Point(-97, 31)]).to_file(nocrs)
    one_line_error(run("sites", "check", str(nocrs), "--grid", "texas"), "nocrs.gpkg",
                   "no coordinate reference system")
    one_line_error(run("grids", "show", "atlantis"), "unknown grid", "'atlantis'")
    one_line_error(run("sites", "check", "--grid", "texas", "--kv-by-mw", "x"), "--kv-by-mw")


def test_out_path_that_is_a_file(tmp_path):
    clash = tmp_path / "file"
    clash.write_text("keep me")
    one_line_error(run("sites", "check", "--grid", "texas", "--out", str(clash)), "not a directory")
    assert clash.read_text() == "keep me"


def test_hosting_unknown_grid_is_one_line_exit_2():
    res = run("hosting", "--grid", "atlantis")
    assert res.returncode == 2
    assert res.stderr.startswith("error:") and "atlantis" in res.stderr
    assert "Traceback" not in res.stderr and len(res.stderr.strip().splitlines()) == 1
