"""Build sites/sites.geojson from the curated table sites/sites.csv.

    python sites/build_sites.py

The CSV is the file to edit (one row per site, numbers parsed by hand from
public reports, every interpretation written in ``notes``); the GeoJSON is
what planner ships and reads. Source keys are expanded to their addresses
from sites/sources.csv.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from planner.data.sites import read_sites

HERE = Path(__file__).resolve().parent


def build() -> Path:
    sites = read_sites(HERE / "sites.csv").reset_index(drop=True)
    urls = pd.read_csv(HERE / "sources.csv").set_index("key")["url"]
    urls["S42"] = urls["S36"]  # the reference lists S42 as the same report as S36
    sites["source_urls"] = [
        " ".join(urls[k.strip()] for k in keys.split(";")) for keys in sites["source"]
    ]
    sites["us"] = sites["country"] == "US"
    sites["location_basis"] = "town centroid (approximate)"
    out = HERE / "sites.geojson"
    tmp = out.with_suffix(".tmp")
    sites.drop(columns=["lat", "lon"]).to_file(tmp, driver="GeoJSON", COORDINATE_PRECISION=5)
    tmp.replace(out)
    return out


if __name__ == "__main__":
    path = build()
    print(f"wrote {path} ({len(read_sites(path))} sites)")
