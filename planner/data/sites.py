"""Sites: read, validate and map to grid buses.

A site table has one row per site with at least ``site_id`` and a point
location (a geometry in any CRS that converts to EPSG:4326, or ``lat`` /
``lon`` columns in a CSV). Optional columns are checked when present:
``poi_mw``, ``it_mw``, ``operating_mw`` (numbers >= 0, at most 5,000 MW: more
than any single interconnection carries, unless the row's ``allow_large_mw``
is true; below 1 MW a warning asks whether GW were meant), ``allow_large_mw``
(true/false), ``current_use`` (bitcoin, ai, conversion, development),
``country`` (ISO code; rows not in the US never map onto a US grid) and
``interconnect`` (the grid region the site is connected to; a site is only
mapped to buses of that interconnect). A latitude beyond ±90 whose longitude
would be one, or a US site whose lat and lon are only in the US the other way
round, is reported as "looks like lat and lon are swapped" (an error, a warning).

Mapping uses ``geopandas.sjoin_nearest`` in a metric CRS (EPSG:5070, CONUS
Albers, for US grids) among buses at or above a minimum voltage. A site whose
nearest eligible bus is beyond ``max_km`` is reported with status
``beyond_max_km`` and the distance, never snapped.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Sequence
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from planner.core.errors import (
    KM,
    KV,
    MW,
    SITE_MW,
    SITE_MW_LIMIT,
    InputError,
    lat_lon_swapped,
    one_line,
    read_csv,
)

logger = logging.getLogger(__name__)

CRS = "EPSG:4326"
METRIC_CRS = "EPSG:5070"
USES = ("bitcoin", "ai", "conversion", "development")
MW_COLUMNS = ("poi_mw", "it_mw", "operating_mw")
#: a true here lets the row's MW columns exceed SITE_MW_LIMIT (a campus of several GW, on purpose)
ALLOW_LARGE = "allow_large_mw"
SWAPPED = "it looks like lat and lon are swapped"
LAT_NAMES = ("lat", "latitude")
LON_NAMES = ("lon", "lng", "long", "longitude")
GEO_SUFFIXES = (".geojson", ".json", ".gpkg", ".shp", ".fgb")

#: mapping statuses
MAPPED = "mapped"
BEYOND = "beyond_max_km"
OUTSIDE = "outside_grid"


def _row_label(frame: pd.DataFrame, i: int) -> str:
    label = f"{i + 1}"
    if "site_id" in frame.columns:
        sid = frame["site_id"].iloc[i]
        if pd.notna(sid):
            label += f" (site_id '{sid}')"
    return label


def _find_column(frame: pd.DataFrame, names: Sequence[str]) -> str | None:
    lower = {str(c).lower(): c for c in frame.columns}
    for name in names:
        if name in lower:
            return lower[name]
    return None


def _numeric(frame: pd.DataFrame, column: str, source: str) -> pd.Series:
    raw = frame[column]
    values = pd.to_numeric(raw, errors="coerce")
    bad = values.isna() & raw.notna() & (raw.astype(str).str.strip() != "")
    if bad.any():
        i = int(np.flatnonzero(bad.to_numpy())[0])
        raise InputError("not a number", source=source, row=_row_label(frame, i), field=column,
                         value=raw.iloc[i], expected="a number (or an empty cell)")
    return values.astype(float)


def _read_csv(path: Path) -> gpd.GeoDataFrame:
    frame = read_csv(path, expected="a header line with site_id, lat and lon; one value per column on every row")
    lat_col = _find_column(frame, LAT_NAMES)
    lon_col = _find_column(frame, LON_NAMES)
    if lat_col is None or lon_col is None:
        raise InputError("missing coordinate column", source=path,
                         field="lat" if lat_col is None else "lon",
                         expected="columns 'lat' and 'lon' (WGS84 degrees)")
    lat = _numeric(frame, lat_col, str(path))
    lon = _numeric(frame, lon_col, str(path))
    for values, col, lo, hi in ((lat, lat_col, -90, 90), (lon, lon_col, -180, 180)):
        bad = values.isna() | (values < lo) | (values > hi)
        if bad.any():
            i = int(np.flatnonzero(bad.to_numpy())[0])
            swapped = lat_lon_swapped(lat.iloc[i], lon.iloc[i])
            raise InputError("coordinate out of range" + (f" ({SWAPPED}: {lat_col} {lon.iloc[i]:g}, {lon_col} "
                                                          f"{lat.iloc[i]:g}?)" if swapped else ""),
                             source=path, row=_row_label(frame, i), field=col, value=frame[col].iloc[i],
                             expected=f"a number in [{lo}, {hi}] (degrees, WGS84)")
    frame = frame.drop(columns=[lat_col, lon_col])
    # lat/lon columns are WGS84 degrees by definition: this is the CSV format's CRS
    return gpd.GeoDataFrame(frame, geometry=gpd.points_from_xy(lon, lat), crs=CRS)


def read_sites(source: str | Path | gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Read and validate sites from GeoJSON, GeoPackage, Shapefile, CSV (lat/lon) or a GeoDataFrame.

    Returns a GeoDataFrame in EPSG:4326 indexed by ``site_id``. Raises
    :class:`InputError` naming the file, the row, the field, the value and
    what was expected.
    """
    if isinstance(source, gpd.GeoDataFrame):
        frame, label = source.copy(), "sites GeoDataFrame"
    elif isinstance(source, pd.DataFrame):
        raise InputError("a plain DataFrame has no geometry", source="sites DataFrame",
                         expected="a GeoDataFrame with point geometries and a CRS")
    else:
        path = Path(source)
        label = str(path)
        expected = "a GeoJSON, GeoPackage, Shapefile or CSV file of sites"
        if "\0" in label:
            raise InputError("a path cannot contain a NUL byte", source=path, expected=expected)
        if path.is_dir():
            raise InputError("is a directory", source=path, expected=expected)
        if not path.is_file():
            raise InputError("no such file", source=path, expected=expected)
        suffix = path.suffix.lower()
        if suffix == ".csv":
            try:
                frame = _read_csv(path)
            except OSError as exc:  # permission denied, an I/O error
                raise InputError(f"cannot read the file ({exc.strerror or exc})", source=path) from None
        elif suffix in GEO_SUFFIXES:
            try:
                # pyogrio's and geopandas' warnings ("Could not parse column ...") must not leak beside
                # the answer: the checks of validate_sites say what is wrong, in planner's words
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    frame = gpd.read_file(path)
            except Exception as exc:  # noqa: BLE001 (pyogrio raises DataSourceError and friends)
                raise InputError(f"not a readable geospatial file ({one_line(exc)})", source=path) from None
        else:
            raise InputError("unknown file type", source=path, value=suffix,
                             expected="one of .csv, " + ", ".join(GEO_SUFFIXES))
    return validate_sites(frame, label)


def validate_sites(frame: gpd.GeoDataFrame, source: str = "sites") -> gpd.GeoDataFrame:
    """Check a site table (see the module doc) and return it in EPSG:4326, indexed by site_id."""
    if "site_id" not in frame.columns:
        raise InputError("required column missing", source=source, field="site_id",
                         expected="a 'site_id' column with a unique id per site")
    if len(frame) == 0:
        raise InputError("no sites", source=source, expected="at least one row")
    frame = frame.reset_index(drop=True)
    ids = frame["site_id"]
    blank = ids.isna() | (ids.astype(str).str.strip() == "")
    if blank.any():
        i = int(np.flatnonzero(blank.to_numpy())[0])
        raise InputError("empty site id", source=source, row=_row_label(frame, i), field="site_id",
                         expected="a non-empty id")
    frame["site_id"] = ids.astype(str).str.strip()
    dup = frame["site_id"].duplicated()
    if dup.any():
        i = int(np.flatnonzero(dup.to_numpy())[0])
        raise InputError("duplicated site id", source=source, row=_row_label(frame, i),
                         field="site_id", value=frame["site_id"].iloc[i], expected="unique ids")
    if frame.crs is None:
        raise InputError("the geometry has no coordinate reference system (CRS)", source=source,
                         field="geometry", expected="a CRS that converts to EPSG:4326 "
                         "(GeoJSON is always EPSG:4326; set one with GeoDataFrame.set_crs)")
    geom = frame.geometry
    empty = geom.isna() | geom.is_empty
    if empty.any():
        i = int(np.flatnonzero(empty.to_numpy())[0])
        raise InputError("no location", source=source, row=_row_label(frame, i), field="geometry",
                         expected="a point")
    kinds = geom.geom_type
    if (kinds != "Point").any():
        i = int(np.flatnonzero((kinds != "Point").to_numpy())[0])
        raise InputError("not a point", source=source, row=_row_label(frame, i), field="geometry",
                         value=kinds.iloc[i], expected="Point geometries (one location per site)")
    try:
        frame = frame.to_crs(CRS)
    except Exception as exc:  # noqa: BLE001 (pyproj errors vary)
        raise InputError(f"the CRS cannot be converted to EPSG:4326 ({exc})", source=source,
                         field="geometry", value=str(frame.crs)) from None
    x = shapely.get_x(frame.geometry.values)
    y = shapely.get_y(frame.geometry.values)
    for values, name, lo, hi in ((y, "lat", -90, 90), (x, "lon", -180, 180)):
        bad = ~np.isfinite(values) | (values < lo) | (values > hi)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            swapped = lat_lon_swapped(y[i], x[i])
            raise InputError("coordinate out of range" + (f" ({SWAPPED}: a point is [lon, lat], here "
                                                          f"[{y[i]:g}, {x[i]:g}]?)" if swapped else ""),
                             source=source, row=_row_label(frame, i), field=f"geometry ({name})",
                             value=float(values[i]), expected=f"a number in [{lo}, {hi}] degrees")
    allow_large = _flags(frame, ALLOW_LARGE, source)
    for column in MW_COLUMNS:
        if column in frame.columns:
            values = _numeric(frame, column, source)
            # empty cells (NaN) are allowed; anything else is finite, >= 0 and at most MW.hi
            bad = values.notna() & ~values.between(MW.lo, MW.hi)
            if bad.any():
                i = int(np.flatnonzero(bad.to_numpy())[0])
                value = float(values.iloc[i])
                raise InputError("negative power" if value < 0 else MW.problem(value), source=source,
                                 row=_row_label(frame, i), field=column, value=value, expected=MW.describe())
            large = (values > SITE_MW_LIMIT).to_numpy() & ~allow_large
            if large.any():
                i = int(np.flatnonzero(large)[0])
                raise InputError(f"more than any single interconnection carries ({SITE_MW.high})", source=source,
                                 row=_row_label(frame, i), field=column, value=float(values.iloc[i]),
                                 expected=f"at most {SITE_MW_LIMIT:,.0f} MW for one site (the largest campuses "
                                 f"announced are 1-5 GW), or the row's column {ALLOW_LARGE} set to true")
            _warn_rows(frame, values.to_numpy(float), column, source, allow_large)
            frame[column] = values
    if ALLOW_LARGE in frame.columns:
        frame[ALLOW_LARGE] = allow_large
    us = (frame["country"].fillna("").astype(str).str.strip().str.upper().isin(["US", ""]).to_numpy()
          if "country" in frame.columns else np.ones(len(frame), bool))
    swapped = us & lat_lon_swapped(y, x, us=True)
    if swapped.any():
        i = int(np.flatnonzero(swapped)[0])
        more = int(swapped.sum()) - 1
        logger.warning(one_line(f"{source}, row {_row_label(frame, i)}: lat {y[i]:g}, lon {x[i]:g} is outside the "
                                f"US; {SWAPPED} (lat {x[i]:g}, lon {y[i]:g} is in the US)"
                                + (f" (and {more} more row{'s' if more > 1 else ''})" if more else "")))
    if "current_use" in frame.columns:
        use = frame["current_use"].fillna("").astype(str).str.strip().str.lower()
        bad = (use != "") & ~use.isin(USES)
        if bad.any():
            i = int(np.flatnonzero(bad.to_numpy())[0])
            raise InputError("unknown use", source=source, row=_row_label(frame, i),
                             field="current_use", value=frame["current_use"].iloc[i],
                             expected="one of " + ", ".join(USES))
        frame["current_use"] = use
    if "country" in frame.columns:
        frame["country"] = frame["country"].fillna("").astype(str).str.strip().str.upper()
    frame["lat"] = y
    frame["lon"] = x
    return frame.set_index("site_id", drop=False).rename_axis(None)


def _flags(frame: pd.DataFrame, column: str, source: str) -> np.ndarray:
    """A true/false column (true, yes, 1 / false, no, 0, empty) as booleans; all false without it."""
    if column not in frame.columns:
        return np.zeros(len(frame), bool)
    raw = frame[column]
    text = raw.map(lambda v: "" if np.ndim(v) == 0 and pd.isna(v) else str(v))
    text = text.str.strip().str.lower()
    yes, no = text.isin(["true", "yes", "1", "1.0"]), text.isin(["false", "no", "0", "0.0", ""])
    bad = ~(yes | no)
    if bad.any():
        i = int(np.flatnonzero(bad.to_numpy())[0])
        raise InputError("not true or false", source=source, row=_row_label(frame, i), field=column,
                         value=raw.iloc[i], expected="true or false (or an empty cell: false)")
    return yes.to_numpy()


def _warn_rows(frame: pd.DataFrame, values: np.ndarray, column: str, source: str, allowed: np.ndarray) -> None:
    """One warning for the rows of ``column`` outside the plausible range of a site's MW (the first
    row, and how many more); rows that allow large MW are not warned above it."""
    odd = np.array([SITE_MW.warning(v) is not None and not (allowed[k] and v > SITE_MW.hi)
                    for k, v in enumerate(values)], bool)
    if not odd.any():
        return
    i = int(np.flatnonzero(odd)[0])
    more = int(odd.sum()) - 1
    logger.warning(SITE_MW.warning(values[i], "MW", source=source, row=_row_label(frame, i), field=column)
                   + (f" (and {more} more row{'s' if more > 1 else ''})" if more else ""))


def _required_kv(sites: gpd.GeoDataFrame, min_kv: float,
                 kv_by_mw: Sequence[tuple[float, float]] | None) -> np.ndarray:
    need = np.full(len(sites), float(min_kv))
    if kv_by_mw:
        mw = sites["poi_mw"].to_numpy(float) if "poi_mw" in sites else np.full(len(sites), np.nan)
        for threshold, kv in sorted(kv_by_mw):
            need = np.where(np.nan_to_num(mw, nan=0.0) >= threshold, np.maximum(need, kv), need)
    return need


def map_sites(
    sites: gpd.GeoDataFrame,
    grid,
    *,
    min_kv: float = 115.0,
    max_km: float = 50.0,
    kv_by_mw: Sequence[tuple[float, float]] | None = None,
    metric_crs: str = METRIC_CRS,
) -> gpd.GeoDataFrame:
    """Map each site to its nearest eligible bus of ``grid``.

    Eligible buses are in service, have coordinates, are at or above the
    site's required voltage (``min_kv``, raised to ``kv`` for sites whose
    ``poi_mw`` reaches a threshold of ``kv_by_mw``, e.g. ``[(300, 230)]``)
    and, when the site names its ``interconnect``, belong to it.

    Adds columns ``bus``, ``bus_kv``, ``bus_name``, ``bus_interconnect``,
    ``distance_km``, ``required_kv``, ``status`` (mapped, beyond_max_km,
    outside_grid) and ``reason``; ``bus`` is missing (<NA>) unless mapped.
    """
    KM.check(max_km, field="max_km")
    KV.check(min_kv, field="min_kv")
    for threshold, kv in kv_by_mw or ():
        MW.check(threshold, field="kv_by_mw (MW)")
        KV.check(kv, field="kv_by_mw (kV)")
    buses = grid.buses
    located = buses.geometry.notna() & ~buses.geometry.is_empty
    live = grid.net.bus["in_service"].reindex(buses.index).fillna(False).to_numpy(bool)
    buses = buses[located.to_numpy() & live]
    if len(buses) == 0:
        raise InputError(f"grid '{grid.name}' has no bus coordinates", source=grid.source, field="grid",
                         expected="a grid with bus locations (the built-in grids have them)")
    out = sites.copy()
    n = len(out)
    need = _required_kv(out, min_kv, kv_by_mw)
    bus = np.full(n, -1, dtype=np.int64)
    dist = np.full(n, np.nan)
    status = np.full(n, OUTSIDE, dtype=object)
    reason = np.full(n, "", dtype=object)

    # an empty country is the US: rows of a file without the column, or merged with rows that have it
    country = (out["country"].fillna("").astype(str).str.strip().str.upper().to_numpy() if "country" in out
               else np.full(n, "US"))
    ic = (out["interconnect"].fillna("").astype(str).to_numpy() if "interconnect" in out
          else np.full(n, ""))
    grid_ics = sorted(buses["interconnect"].unique())
    abroad = ~np.isin(country, ["US", ""])
    elsewhere = ~abroad & (ic != "") & ~np.isin(ic, grid_ics)
    eligible = ~(abroad | elsewhere)
    reason[abroad] = [f"outside the US (country {c}); not on a US grid" for c in country[abroad]]
    reason[elsewhere] = [f"in the {i} interconnect; grid '{grid.name}' covers {', '.join(grid_ics)}"
                         for i in ic[elsewhere]]

    points = out.to_crs(metric_crs)
    bus_points = buses[["kv", "interconnect", "geometry"]].to_crs(metric_crs)
    for (ic_i, kv_i), rows in pd.DataFrame({"ic": ic, "kv": need})[eligible].groupby(["ic", "kv"]):
        cand = bus_points[bus_points["kv"] >= kv_i]
        if ic_i:
            cand = cand[cand["interconnect"] == ic_i]
        idx = rows.index.to_numpy()
        if len(cand) == 0:
            reason[idx] = f"no bus of {kv_i:g} kV or more{' in ' + ic_i if ic_i else ''}"
            continue
        joined = gpd.sjoin_nearest(points.iloc[idx][["geometry"]], cand[["geometry"]],
                                   how="left", distance_col="distance_m")
        # ties: keep the lowest bus id, for a result that does not depend on row order
        joined = (joined.rename(columns={"index_right": "bus_id"})
                  .reset_index(names="pos").sort_values(["pos", "distance_m", "bus_id"])
                  .drop_duplicates("pos"))
        pos = out.index.get_indexer(joined["pos"])
        bus[pos] = joined["bus_id"].to_numpy(np.int64)
        dist[pos] = joined["distance_m"].to_numpy(float) / 1000.0
        near = dist[pos] <= max_km
        status[pos] = np.where(near, MAPPED, BEYOND)
        reason[pos] = np.where(
            near, "",
            [f"nearest bus of {kv_i:g} kV or more is {d:.1f} km away (limit {max_km:g} km)"
             for d in dist[pos]],
        )
    mapped = status == MAPPED
    out["required_kv"] = need
    out["bus"] = pd.array(np.where(mapped, bus, 0), dtype="Int64")
    out.loc[~mapped, "bus"] = pd.NA
    lookup = grid.buses.reindex(np.where(mapped, bus, -1))
    out["bus_kv"] = np.where(mapped, lookup["kv"].to_numpy(float), np.nan)
    out["bus_name"] = np.where(mapped, lookup["substation_name"].fillna("").astype(str), "")
    out["bus_interconnect"] = np.where(mapped, lookup["interconnect"].fillna("").astype(str), "")
    out["distance_km"] = dist
    out["status"] = status
    out["reason"] = reason
    return out


def parse_kv_by_mw(text: str | None) -> list[tuple[float, float]] | None:
    """Parse ``"300:230,1000:345"`` (site MW threshold : minimum kV) for the command line."""
    if not text:
        return None
    rules = []
    for part in text.split(","):
        try:
            mw, kv = (float(v) for v in part.split(":"))
        except ValueError:
            raise InputError("cannot read a size rule", field="--kv-by-mw", value=part,
                             expected="MW:kV pairs separated by commas, e.g. 300:230,1000:345") from None
        for value, bound in ((mw, MW), (kv, KV)):
            if bound.problem(value):
                raise InputError("size rule out of range", field="--kv-by-mw", value=part,
                                 expected=f"MW:kV with MW {bound.describe()}" if bound is MW
                                 else f"MW:kV with kV {bound.describe()}")
        rules.append((mw, kv))
    return rules
