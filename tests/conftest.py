import sys
import warnings
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))  # for the dc_reference helpers

warnings.filterwarnings("ignore", message="numba cannot be imported")


@pytest.fixture(scope="session")
def texas():
    from planner.data.grid import load_grid

    return load_grid("texas")


@pytest.fixture(scope="session")
def western():
    from planner.data.grid import load_grid

    return load_grid("western")


@pytest.fixture(scope="session")
def usa():
    from planner.data.grid import load_grid

    return load_grid("usa")


@pytest.fixture(scope="session")
def shipped_sites():
    from planner.data.datasets import default_sites
    from planner.data.sites import read_sites

    return read_sites(default_sites())


@pytest.fixture(scope="session")
def texas_sites(texas, shipped_sites):
    """The shipped sites mapped to the Texas grid."""
    from planner.data.sites import map_sites

    return map_sites(shipped_sites, texas)


@pytest.fixture(scope="session")
def texas_run(tmp_path_factory):
    """`planner solve scenarios/texas.yaml --quiet` in a subprocess: (run directory, CompletedProcess)."""
    import subprocess

    out = tmp_path_factory.mktemp("runs") / "texas"
    res = subprocess.run([sys.executable, "-m", "planner", "solve", str(Path(__file__).resolve().parent.parent
                                                                          / "scenarios" / "texas.yaml"),
                          "--out", str(out), "--quiet"], check=False, capture_output=True, text=True, timeout=900)
    assert res.returncode == 0, res.stderr
    return out, res
