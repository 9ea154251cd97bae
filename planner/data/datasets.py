"""Where the shipped data lives.

In a wheel (non-editable install) the repository's ``grids/``, ``sites/`` and
``scenarios/`` folders are packaged as ``planner/_data/<folder>``; in a source
checkout or an editable install they are read from the repository itself.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

_REPO = Path(__file__).resolve().parents[2]


def data_dir(folder: str) -> Path:
    """The directory of a shipped data folder: ``grids``, ``sites`` or ``scenarios``."""
    packaged = Path(str(resources.files("planner"))) / "_data" / folder
    if packaged.is_dir():
        return packaged
    local = _REPO / folder
    if local.is_dir():
        return local
    raise FileNotFoundError(
        f"planner's shipped '{folder}' data was not found (looked in {packaged} and {local}); "
        "reinstall planner"
    )


def grid_file(name: str) -> Path:
    """A file of the shipped TAMU grid tables (``grids/tamu_usa/<name>``)."""
    return data_dir("grids") / "tamu_usa" / name


def default_sites() -> Path:
    """The shipped GeoJSON of publicly reported mining and AI sites."""
    return data_dir("sites") / "sites.geojson"
