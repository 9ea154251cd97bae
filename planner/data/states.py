"""US state outlines (Census 2016 cartographic boundaries, 1:500k), read offline from
the shapefile that the ``plotly-geo`` package ships. Used for map backgrounds and
to find the state of a point (regions of a scenario are lists of states)."""

from __future__ import annotations

from functools import lru_cache
from importlib import resources

import geopandas as gpd
import numpy as np
import pandas as pd

from planner.core.errors import InputError

#: the Census files carry no .prj; cartographic boundaries are NAD83 geographic
CENSUS_CRS = "EPSG:4269"
#: contiguous states and DC: the area of the TAMU synthetic grid
LOWER_48 = frozenset(
    ["AL", "AZ", "AR", "CA", "CO", "CT", "DE", "DC", "FL", "GA", "ID", "IL", "IN", "IA", "KS", "KY", "LA", "ME", "MD", "MA", "MI", "MN", "MS", "MO", "MT", "NE", "NV", "NH", "NJ", "NM", "NY", "NC", "ND", "OH", "OK", "OR", "PA", "RI", "SC", "SD", "TN", "TX", "UT", "VT", "VA", "WA", "WV", "WI", "WY"]
)


@lru_cache(maxsize=1)
def us_states() -> gpd.GeoDataFrame:
    """All states and territories: columns ``state`` (USPS code), ``name``, geometry (EPSG:4326)."""
    try:
        folder = resources.files("_plotly_geo") / "package_data"
    except ModuleNotFoundError:
        raise InputError("the US state outlines need the plotly-geo package",
                         expected="pip install plotly-geo") from None
    frame = gpd.read_file(str(folder / "cb_2016_us_state_500k.shp"))
    frame = frame.set_crs(CENSUS_CRS, allow_override=True).to_crs("EPSG:4326")
    return gpd.GeoDataFrame({"state": frame["STUSPS"].to_numpy(), "name": frame["NAME"].to_numpy()},
                            geometry=frame.geometry.to_numpy(), crs="EPSG:4326")


@lru_cache(maxsize=4)
def state_outlines(crs: str = "EPSG:5070", simplify_m: float = 1000.0) -> gpd.GeoDataFrame:
    """The lower 48 states and DC in a projected ``crs`` (metres), simplified to
    ``simplify_m`` (map backgrounds: a fraction of the vertices, same look)."""
    frame = us_states()
    frame = frame[frame["state"].isin(LOWER_48)].to_crs(crs)
    return frame.set_geometry(frame.geometry.simplify(simplify_m, preserve_topology=True))


def state_of(lon, lat) -> np.ndarray:
    """USPS code of the state containing each point ('' outside every state)."""
    lon, lat = np.atleast_1d(np.asarray(lon, float)), np.atleast_1d(np.asarray(lat, float))
    points = gpd.GeoDataFrame(geometry=gpd.points_from_xy(lon, lat), crs="EPSG:4326")
    hit = gpd.sjoin(points, us_states()[["state", "geometry"]], how="left", predicate="within")
    hit = hit[~hit.index.duplicated()]
    return pd.Series(hit["state"]).fillna("").to_numpy(str)
