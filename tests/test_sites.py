"""Sites: reading from every format, validation errors that name the problem,
and mapping to buses that respects voltage, interconnect and distance."""

from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from shapely.geometry import Point, box

from planner.core.errors import InputError
from planner.data.datasets import data_dir
from planner.data.sites import map_sites, parse_kv_by_mw, read_sites, validate_sites


def test_every_texas_site_maps_to_a_texas_bus_within_50_km(shipped_sites, texas):
    mapped = map_sites(shipped_sites, texas)
    ercot = mapped[mapped["interconnect"] == "Texas"]
    assert len(ercot) >= 15
    assert (ercot["status"] == "mapped").all()
    assert (ercot["distance_km"] <= 50).all()
    assert ercot["bus"].isin(texas.buses.index).all()
    assert (ercot["bus_kv"] >= 115).all()
    # distances are real: recompute one in EPSG:5070 with shapely
    row = ercot.iloc[0]
    site = gpd.GeoSeries([row.geometry], crs=4326).to_crs(5070).iloc[0]
    bus = texas.buses.loc[[row["bus"]]].to_crs(5070).geometry.iloc[0]
    assert site.distance(bus) / 1000 == pytest.approx(row["distance_km"], rel=1e-9)


def test_non_us_and_other_interconnect_sites_are_never_snapped(shipped_sites, texas):
    mapped = map_sites(shipped_sites, texas)
    abroad = mapped[mapped["country"] != "US"]
    assert len(abroad) == 7  # BC x3, Toronto, Norway, Bhutan, Paraguay
    assert (abroad["status"] == "outside_grid").all() and abroad["bus"].isna().all()
    assert abroad["reason"].str.contains("outside the US").all()
    eastern = mapped[mapped["interconnect"] == "Eastern"]
    assert (eastern["status"] == "outside_grid").all()
    # the panhandle mines are in SPP: not mapped onto ERCOT even though they are in Texas
    assert mapped.loc["hut8-vega", "state"] == "TX"
    assert mapped.loc["hut8-vega", "status"] == "outside_grid"


def test_beyond_max_km_reports_the_distance(texas):
    # a point in the Gulf of Mexico, ~150 km off Corpus Christi
    sites = validate_sites(gpd.GeoDataFrame({"site_id": ["gulf"]}, geometry=[Point(-95.8, 26.6)], crs=4326))
    mapped = map_sites(sites, texas)
    assert mapped.loc["gulf", "status"] == "beyond_max_km"
    assert pd.isna(mapped.loc["gulf", "bus"])
    assert mapped.loc["gulf", "distance_km"] > 50
    assert f"{mapped.loc['gulf', 'distance_km']:.1f} km away" in mapped.loc["gulf", "reason"]
    relaxed = map_sites(sites, texas, max_km=1000)
    assert relaxed.loc["gulf", "status"] == "mapped"
    assert relaxed.loc["gulf", "distance_km"] == pytest.approx(mapped.loc["gulf", "distance_km"])


def test_voltage_rules(shipped_sites, texas):
    plain = map_sites(shipped_sites, texas)
    ruled = map_sites(shipped_sites, texas, kv_by_mw=[(1000, 500), (300, 230)])
    big = ruled[(ruled["poi_mw"] >= 1000) & (ruled["status"] == "mapped")]
    mid = ruled[(ruled["poi_mw"] >= 300) & (ruled["poi_mw"] < 1000) & (ruled["status"] == "mapped")]
    assert len(big) >= 2 and (big["bus_kv"] >= 500).all()
    assert len(mid) >= 3 and (mid["bus_kv"] >= 230).all()
    # a higher voltage never brings a site closer
    both = plain.join(ruled[["distance_km"]], rsuffix="_ruled").dropna(subset=["distance_km"])
    assert (both["distance_km_ruled"] >= both["distance_km"] - 1e-9).all()
    assert parse_kv_by_mw("300:230,1000:345") == [(300.0, 230.0), (1000.0, 345.0)]
    with pytest.raises(InputError, match="--kv-by-mw"):
        parse_kv_by_mw("300-230")


def test_min_kv_is_respected(shipped_sites, texas):
    mapped = map_sites(shipped_sites, texas, min_kv=230)
    ok = mapped[mapped["status"] == "mapped"]
    assert (ok["bus_kv"] >= 230).all()


def test_formats_agree(tmp_path, shipped_sites):
    base = shipped_sites[["site_id", "name", "poi_mw", "geometry"]].head(5)
    csv = tmp_path / "s.csv"
    pd.DataFrame({"site_id": base["site_id"], "name": base["name"], "poi_mw": base["poi_mw"],
                  "latitude": base.geometry.y, "longitude": base.geometry.x}).to_csv(csv, index=False)
    gpkg = tmp_path / "s.gpkg"
    base.reset_index(drop=True).to_file(gpkg)
    projected = base.to_crs(3857)  # any convertible CRS is accepted
    for src in (csv, gpkg, projected):
        got = read_sites(src)
        assert list(got.index) == list(base["site_id"])
        assert np.allclose(got["lat"], base.geometry.y) and np.allclose(got["lon"], base.geometry.x)
        assert got.crs.to_epsg() == 4326


def test_shipped_geojson_is_built_from_the_curated_csv():
    """sites/sites.geojson is what sites/build_sites.py makes of sites/sites.csv."""
    repo_sites = Path(__file__).resolve().parents[1] / "sites"
    curated = read_sites(repo_sites / "sites.csv")
    shipped = read_sites(data_dir("sites") / "sites.geojson")  # the installed copy
    assert list(shipped.index) == list(curated.index)
    for col in ("poi_mw", "it_mw", "operating_mw"):
        assert shipped[col].equals(curated[col]), col
    assert np.allclose(shipped["lat"], curated["lat"]) and np.allclose(shipped["lon"], curated["lon"])
    assert shipped["source_urls"].str.startswith("http").all()


def write_csv(tmp_path, rows, name="sites.csv"):
    path = tmp_path / name
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


GOOD = {"site_id": "a", "lat": 31.0, "lon": -97.0, "poi_mw": 100}


@pytest.mark.parametrize("rows,match", [
    ([{**GOOD, "lat": 200}], r"sites\.csv, row 1 \(site_id 'a'\), field 'lat': coordinate out of range; got 200"),
    ([{**GOOD, "lon": -500}], r"field 'lon'.*expected a number in \[-180, 180\]"),
    ([{**GOOD, "poi_mw": "lots"}], r"field 'poi_mw': not a number; got 'lots'"),
    ([{**GOOD, "poi_mw": -5}], r"field 'poi_mw': negative power; got -5"),
    ([GOOD, {**GOOD}], r"row 2 \(site_id 'a'\), field 'site_id': duplicated site id"),
    ([{k: v for k, v in GOOD.items() if k != "site_id"}], r"field 'site_id': required column missing"),
    ([{k: v for k, v in GOOD.items() if k != "lat"}], r"field 'lat': missing coordinate column"),
    ([{**GOOD, "current_use": "gold"}], r"field 'current_use': unknown use; got 'gold'"),
])
def test_bad_csv_rows(tmp_path, rows, match):
    with pytest.raises(InputError, match=match):
        read_sites(write_csv(tmp_path, rows))


def test_no_crs_and_bad_geometry():
    frame = gpd.GeoDataFrame({"site_id": ["a"]}, geometry=[Point(-97, 31)])
    with pytest.raises(InputError, match="no coordinate reference system"):
        read_sites(frame)
    poly = gpd.GeoDataFrame({"site_id": ["a"]}, geometry=[box(-97, 31, -96, 32)], crs=4326)
    with pytest.raises(InputError, match="not a point; got 'Polygon'"):
        read_sites(poly)


def test_missing_and_unknown_files(tmp_path):
    with pytest.raises(InputError, match="no such file"):
        read_sites(tmp_path / "nope.geojson")
    other = tmp_path / "sites.xlsx"
    other.write_text("x")
    with pytest.raises(InputError, match="unknown file type"):
        read_sites(other)


# --------------------------------------------------------------------------- implausible sites


def _warnings(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelname == "WARNING" and r.name.startswith("planner")]


@pytest.mark.parametrize("column", ["poi_mw", "it_mw", "operating_mw"])
def test_a_site_above_what_one_interconnection_carries_is_an_error(tmp_path, column):
    """300,000 kW typed as MW once mapped to a 500 kV bus with no word."""
    path = write_csv(tmp_path, [{**GOOD, column: 300_000}])
    with pytest.raises(InputError) as err:
        read_sites(path)
    msg = str(err.value)
    assert msg.startswith(f"{path}, row 1 (site_id 'a'), field '{column}': more than any single interconnection "
                          "carries (was it typed in kW?); got 300000.0; expected at most 5,000 MW for one site"), msg
    assert "allow_large_mw set to true" in msg


def test_allow_large_mw_lets_a_site_exceed_5000_mw_on_purpose(tmp_path, caplog):
    path = write_csv(tmp_path, [{**GOOD, "poi_mw": 6000, "allow_large_mw": "true"},
                                {**GOOD, "site_id": "b", "poi_mw": 100, "allow_large_mw": ""}])
    sites = read_sites(path)
    assert sites["poi_mw"].tolist() == [6000.0, 100.0] and sites["allow_large_mw"].tolist() == [True, False]
    assert _warnings(caplog) == []
    # the flag is per row: another row of the file may not
    path = write_csv(tmp_path, [{**GOOD, "poi_mw": 6000, "allow_large_mw": "yes"},
                                {**GOOD, "site_id": "b", "poi_mw": 7000, "allow_large_mw": "no"}])
    with pytest.raises(InputError, match=r"row 2 \(site_id 'b'\), field 'poi_mw': more than any single"):
        read_sites(path)
    with pytest.raises(InputError, match=r"field 'allow_large_mw': not true or false; got 'maybe'"):
        read_sites(write_csv(tmp_path, [{**GOOD, "allow_large_mw": "maybe"}]))


def test_a_site_below_1_mw_warns_once_for_the_file(tmp_path, caplog):
    path = write_csv(tmp_path, [{**GOOD, "poi_mw": 0.3}, {**GOOD, "site_id": "b", "poi_mw": 0.5},
                                {**GOOD, "site_id": "c", "poi_mw": 0}, {**GOOD, "site_id": "d", "poi_mw": 100}])
    read_sites(path)
    assert _warnings(caplog) == [f"{path}, row 1 (site_id 'a'), field 'poi_mw': 0.3 MW is outside the plausible "
                                 "1–5,000: was it typed in GW? (and 1 more row)"]


def test_lat_and_lon_swapped_say_so(tmp_path, caplog):
    path = write_csv(tmp_path, [{**GOOD, "lat": -97.0, "lon": 31.0}])
    with pytest.raises(InputError) as err:
        read_sites(path)
    assert "field 'lat': coordinate out of range (it looks like lat and lon are swapped: lat 31, lon -97?)" \
        in str(err.value)
    # GeoJSON points are [lon, lat]: [lat, lon] puts the latitude beyond 90
    geo = gpd.GeoDataFrame({"site_id": ["a"]}, geometry=[Point(31.0, -97.0)], crs=4326)
    with pytest.raises(InputError, match=r"coordinate out of range \(it looks like lat and lon are swapped: a "
                                         r"point is \[lon, lat\], here \[-97, 31\]\?\)"):
        read_sites(geo)
    # a US site that is in the US only the other way round: a warning
    read_sites(write_csv(tmp_path, [{**GOOD, "lat": -75.0, "lon": 45.0}]))
    (line,) = _warnings(caplog)
    assert "row 1 (site_id 'a'): lat -75, lon 45 is outside the US; it looks like lat and lon are swapped" in line
    # ... unless the row says it is abroad
    caplog.clear()
    read_sites(write_csv(tmp_path, [{**GOOD, "lat": -75.0, "lon": 45.0, "country": "AQ"}]))
    assert _warnings(caplog) == []
