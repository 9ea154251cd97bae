"""Writing results. This is the only module of planner that writes files.

Every file is written to a temporary name in its target directory and moved
into place when complete, so an interrupted or failed run never leaves a
half-written file behind.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

import geopandas as gpd
import pandas as pd

from planner.errors import InputError


def ensure_dir(path: str | Path) -> Path:
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise InputError("exists and is not a directory", source=path, field="--out",
                         expected="a directory path")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"cannot create the directory ({exc.strerror})", source=path,
                         field="--out") from None
    return path


def _atomic(path: Path, write: Callable[[Path], None]) -> Path:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=path.suffix, dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        tmp_path.unlink()  # some writers (GDAL) refuse to overwrite
        write(tmp_path)
        os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()
    return path


def write_json(data: dict, path: str | Path) -> Path:
    path = Path(path)
    return _atomic(path, lambda p: p.write_text(json.dumps(data, indent=2, default=str) + "\n"))


def write_csv(frame: pd.DataFrame, path: str | Path) -> Path:
    path = Path(path)
    table = pd.DataFrame(frame.drop(columns="geometry", errors="ignore"))
    return _atomic(path, lambda p: table.to_csv(p, index=False))


def write_geojson(frame: gpd.GeoDataFrame, path: str | Path) -> Path:
    path = Path(path)
    out = frame.to_crs("EPSG:4326")
    return _atomic(path, lambda p: out.to_file(p, driver="GeoJSON"))


def write_figure(fig, path: str | Path) -> Path:
    path = Path(path)
    import matplotlib.pyplot as plt

    try:
        return _atomic(path, lambda p: fig.savefig(p, format=path.suffix.lstrip(".") or "png"))
    finally:
        plt.close(fig)


HOSTING_COLUMNS = ["bus", "lat", "lon", "kv", "hosting_mw", "limiting_branch", "limited_by",
                   "substation_name", "interconnect"]


def write_hosting(frame: gpd.GeoDataFrame, fig, out_dir: str | Path) -> list[Path]:
    """Write ``buses.csv`` (one row per bus) and ``hosting.png`` into ``out_dir``."""
    out_dir = ensure_dir(out_dir)
    return [write_csv(frame[HOSTING_COLUMNS], out_dir / "buses.csv"), write_figure(fig, out_dir / "hosting.png")]


SITE_COLUMNS = ["site_id", "name", "operator", "state", "interconnect", "current_use", "poi_mw",
                "it_mw", "operating_mw", "lat", "lon", "required_kv", "bus", "bus_kv", "bus_name",
                "bus_interconnect", "distance_km", "status", "reason"]


def write_mapped_sites(mapped: gpd.GeoDataFrame, out_dir: str | Path) -> list[Path]:
    """Write ``mapped_sites.csv`` and ``mapped_sites.geojson`` into ``out_dir``."""
    out_dir = ensure_dir(out_dir)
    front = [c for c in SITE_COLUMNS if c in mapped.columns]
    rest = [c for c in mapped.columns if c not in front and c != "geometry"]
    frame = mapped[front + rest + ["geometry"]].reset_index(drop=True)
    return [write_csv(frame, out_dir / "mapped_sites.csv"),
            write_geojson(frame, out_dir / "mapped_sites.geojson")]
