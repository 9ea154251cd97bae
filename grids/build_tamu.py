"""Regenerate the shipped TAMU synthetic US grid tables from the powersimdata wheel.

Usage (from the repository root)::

    python grids/build_tamu.py                  # downloads powersimdata==0.5.5 with pip
    python grids/build_tamu.py --wheel PATH.whl # uses a wheel you already have

The wheel is read as a zip file; powersimdata is never imported or installed.
Only the columns planner needs are kept, as gzip-compressed CSV files in
``grids/tamu_usa/``. Values are copied verbatim (no rounding, no repair):
the data traps listed in grids/README.md are handled by ``planner.data.grid``.
"""

from __future__ import annotations

import argparse
import hashlib
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import pandas as pd

WHEEL = "powersimdata==0.5.5"
PREFIX = "powersimdata/network/usa_tamu/data/"
OUT = Path(__file__).resolve().parent / "tamu_usa"

# table in the wheel -> (shipped file, columns kept)
TABLES: dict[str, tuple[str, list[str]]] = {
    "bus.csv": (
        "buses.csv.gz",
        ["bus_id", "type", "Pd", "Qd", "Gs", "Bs", "zone_id", "baseKV", "Vmax", "Vmin",
         "interconnect"],
    ),
    "bus2sub.csv": ("bus2sub.csv.gz", ["bus_id", "sub_id"]),
    "sub.csv": ("substations.csv.gz", ["sub_id", "name", "lat", "lon"]),
    "branch.csv": (
        "branches.csv.gz",
        ["branch_id", "from_bus_id", "to_bus_id", "r", "x", "b", "rateA", "rateB", "rateC",
         "ratio", "angle", "status", "branch_device_type"],
    ),
    "plant.csv": (
        "plants.csv.gz",
        ["plant_id", "bus_id", "Pg", "Qg", "Qmax", "Qmin", "Vg", "status", "Pmax", "Pmin",
         "type"],
    ),
    "dcline.csv": (
        "dclines.csv",
        ["dcline_id", "from_bus_id", "to_bus_id", "status", "Pf", "Pt", "Pmin", "Pmax",
         "loss0", "loss1"],
    ),
    "zone.csv": ("zones.csv", ["zone_id", "zone_name", "state", "interconnect"]),
    # MATPOWER gencost, one row per plant: type 2 = polynomial with n coefficients,
    # $/h = c2 * P**2 + c1 * P + c0 with P in MW (startup/shutdown are 0 everywhere: not kept)
    "gencost.csv": ("gencost.csv.gz", ["plant_id", "type", "n", "c2", "c1", "c0"]),
}


def download_wheel(dest: Path) -> Path:
    subprocess.run(
        [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", WHEEL, "-d", str(dest)],
        check=True,
    )
    (wheel,) = dest.glob("powersimdata-*.whl")
    return wheel


def build(wheel: Path, out: Path = OUT) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    written = []
    with zipfile.ZipFile(wheel) as zf:
        for name, (target, columns) in TABLES.items():
            with zf.open(PREFIX + name) as fh:
                table = pd.read_csv(fh, usecols=columns)[columns]
            path = out / target
            # mtime=0 keeps the gzip bytes reproducible run to run
            compression = {"method": "gzip", "mtime": 0} if target.endswith(".gz") else None
            table.to_csv(path, index=False, compression=compression)
            written.append(path)
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--wheel", type=Path, help="a local powersimdata-0.5.5 wheel")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        wheel = args.wheel or download_wheel(Path(tmp))
        for path in build(wheel):
            digest = hashlib.sha256(path.read_bytes()).hexdigest()[:16]
            print(f"{path.relative_to(OUT.parent)}  {path.stat().st_size / 1e6:6.2f} MB  sha256:{digest}")


if __name__ == "__main__":
    main()
