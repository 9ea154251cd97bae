"""``planner solve --write-lp``: the whole model in one LP file, which CBC (another solver, reading
the file on its own) solves to the run's optimum: its objective (million $, as the file's header
says) plus the header's offset equals ``objective_usd`` to 1e-6 million $ ($1; ``objective_usd`` is
rounded to the dollar)."""

from __future__ import annotations

import re
import subprocess
import sys
import warnings

import numpy as np
import pulp
import pytest

import planner
from planner.data import examples as ex
from planner.optimization.lpfile import write_lp


def cbc(path) -> float:
    """CBC's optimal objective of the LP file ``path`` (the binary PuLP ships, run on the file)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        binary = pulp.COIN_CMD().path if pulp.COIN_CMD().available() else pulp.PULP_CBC_CMD().path
    sol = f"{path}.sol"
    subprocess.run([binary, str(path), "solve", "solu", sol], check=True, capture_output=True, timeout=600)
    first = open(sol).readline()
    assert first.startswith("Optimal"), first
    return float(re.search(r"objective value\s+(\S+)", first).group(1))


def header(path) -> tuple[float, float]:
    text = open(path).read(2000)
    offset = float(re.search(r"offset_usd = (\S+)", text).group(1))
    assert "maximize the NPV in million USD" in text and "objective_usd = 1e6 * objective + offset_usd" in text
    return offset, float(re.search(r"the run's objective_usd = (\S+)", text).group(1))


@pytest.mark.parametrize("years", [None, [2026, 2027, 2028]], ids=["single", "timeline"])
@pytest.mark.parametrize("security", ["n-0", "n-1"])
@pytest.mark.parametrize("supply", ["headroom", "pmax", "single", "regional", "redispatch"])
def test_cbc_solves_the_file_to_the_runs_objective(tmp_path, supply, security, years):
    """On the 6-bus mesh (two generators, eight lines) with three sites that the network limits
    (binaries: 50 MW blocks), in every supply response, N-0 and N-1, one period and three."""
    g = ex.mesh(60.0)
    if supply == "redispatch":  # the mesh's generators get cost curves
        import pandapower as pp

        g.net.poly_cost.drop(g.net.poly_cost.index, inplace=True)
        for gen, (c1, c2) in zip(g.net.gen.index, [(20.0, 0.01), (35.0, 0.02)]):
            pp.create_poly_cost(g.net, gen, "gen", cp1_eur_per_mw=c1, cp2_eur_per_mw2=c2)
    sites = ex.sites_at(g, [
        {"site_id": "a", "bus": 4, "poi_mw": 120, "current_use": "development", "min_block_mw": 50},
        {"site_id": "b", "bus": 5, "poi_mw": 90, "operating_mw": 60, "current_use": "bitcoin"},
        {"site_id": "c", "bus": 6, "poi_mw": 150, "current_use": "development", "ai_value_usd_per_mw": 4e6,
         "min_block_mw": 50}])
    params = planner.Params(supply_response=supply, security=security, redispatch_cost_segments=2,
                            check_existing_load=False)
    if years is None:
        r = planner.plan(g, sites, params)
    else:
        r = planner.plan_timeline(g, sites, params, planner.Timeline(years=years, load_factor=np.array([1.0, 1.05, 1.1])))
    assert r.branches["binding"].any()  # the network shapes the answer
    path = write_lp(r.solved, tmp_path / "model.lp", r.summary.objective_usd)
    offset, shown = header(path)
    assert shown == r.summary.objective_usd
    assert cbc(path) * 1e6 + offset == pytest.approx(r.summary.objective_usd, abs=1.0)


@pytest.mark.xdist_group("texas")
def test_the_texas_model_from_the_command_line(tmp_path):
    lp = tmp_path / "texas.lp"
    res = subprocess.run([sys.executable, "-m", "planner", "solve", "texas", "--out", str(tmp_path / "run"),
                          "--write-lp", str(lp), "-q", "--set", "ac.check=false"],
                         capture_output=True, text=True, timeout=900)
    assert res.returncode == 0, res.stderr
    assert f"wrote {lp}" in res.stdout
    import json

    objective = json.loads((tmp_path / "run" / "summary.json").read_text())["objective_usd"]
    offset, shown = header(lp)
    assert shown == objective and offset == 0.0
    assert cbc(lp) * 1e6 + offset == pytest.approx(objective, abs=1.0)


def test_a_folder_that_does_not_exist_is_a_clear_error(tmp_path):
    res = subprocess.run([sys.executable, "-m", "planner", "solve", "texas", "--out", str(tmp_path / "run"),
                          "--write-lp", str(tmp_path / "missing" / "m.lp"), "-q", "--set", "ac.check=false"],
                         capture_output=True, text=True, timeout=900)
    assert res.returncode == 2 and "--write-lp" in res.stderr and "Traceback" not in res.stderr
