"""One answer for one input: the allocation does not depend on HiGHS's thread count, the order
the rows reach it or the order of the input rows (planner.optimization.tiebreak); HiGHS's thread pool is
chosen once per process (planner.core.highs); a solver failure is an error, never a quiet switch to
another solver; stdout carries the answer only."""

import itertools
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pulp
import pytest

import planner
from planner.core.errors import SolverError
from planner.data import examples as ex
from planner.optimization import solve as slv
from planner.optimization import tiebreak

HERE = Path(__file__).parent
FIRM = {"mining_firm_share": 1.0, "offpeak_load_factor": 1.0, "supply_response": "single"}


def _tied_sites():
    """Six equal 100 MW AI sites, two at each of buses 2, 3 and 5 of the mesh: the network takes
    150 MW among them in many ways of equal NPV."""
    g = ex.mesh()
    rows = [{"site_id": f"S{k}", "bus": b, "poi_mw": 100, "current_use": "development",
             "ai_capex_usd_per_mw": 2e6, "ai_lead_months": 12, "ai_lease_usd_per_kw_month": 150}
            for k, b in enumerate([2, 2, 3, 3, 5, 5])]
    return g, rows


ORDERS = list(itertools.permutations(range(6)))[::97][:8]


def _served(g, rows, order) -> pd.Series:
    result = planner.plan(g, ex.sites_at(g, [rows[i] for i in order]), planner.Params(**FIRM))
    return result.allocation.set_index("site_id")["ai_mw"].sort_index().round(6), result


def test_tied_sites_get_one_answer_whatever_the_input_order():
    g, rows = _tied_sites()
    first, result = _served(g, rows, ORDERS[0])
    assert first.sum() == pytest.approx(150.0, abs=1e-6)  # the tie is real: 150 MW for 600 asked
    for order in ORDERS[1:]:
        pd.testing.assert_series_equal(_served(g, rows, order)[0], first)
    # the documented rule: at one bus (equal sensitivities) the site whose id comes first is served first
    for a, b in (("S0", "S1"), ("S2", "S3"), ("S4", "S5")):
        assert first[a] >= first[b] - 1e-6
    assert first["S1"] == 0 or first["S0"] == 100  # S1 only once S0 is full
    tie = result.summary.tie_break
    assert tie["status"] == "optimal" and tie["polish"] == "optimal"


def test_without_the_tie_break_the_input_order_decides(monkeypatch):
    """The control: the same runs with the tie-break stages taken out give different allocations,
    so the test above can fail."""
    monkeypatch.setattr(slv, "break_ties", lambda *a, **k: slv.TieBreak("off", 0.0, 0.0, None))
    monkeypatch.setattr(slv, "polish", lambda *a, **k: "off")
    g, rows = _tied_sites()
    answers = {tuple(_served(g, rows, order)[0]) for order in ORDERS}
    assert len(answers) > 1


def test_weights_rank_columns_by_site_path_and_year():
    keys = [("b", 2, 0), ("a", 3, 0), ("a", 0, 1), ("a", 0, 0)]
    w = tiebreak.weights(keys)
    assert list(np.argsort(-w)) == [3, 2, 1, 0]  # (a,0,0) > (a,0,1) > (a,3,0) > (b,2,0)
    assert w.max() <= 2.0 and w.min() > 1.0
    assert np.array_equal(w, tiebreak.weights(keys))  # the jitter is a fixed hash, not random
    assert tiebreak.tolerance_musd(26_000.0) == pytest.approx(2.6e-7)  # 1e-11 of $26 B: $0.26
    assert tiebreak.tolerance_musd(1.0) == pytest.approx(1e-8)        # at least a cent


def _solve(tmp_path: Path, name: str, seed: int, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(HERE / "shuffled_rows.py"), str(seed), "-q", "solve", "texas",
                           "--out", str(tmp_path / name), "--set", "ac.check=false", *args],
                          capture_output=True, text=True, timeout=900, check=False)


def test_threads_and_row_order_do_not_change_the_texas_answer(tmp_path):
    """The user's first command, twice: HiGHS on 1 thread with planner's row order, and on 2 threads
    with the network rows shuffled. allocation.csv, branches.csv and buses.csv are identical, byte
    for byte; so is the console answer but for the time line."""
    one = _solve(tmp_path, "one", -1, "--set", "solver.threads=1")
    two = _solve(tmp_path, "two", 11, "--set", "solver.threads=2")
    for run in (one, two):
        assert run.returncode == 0, run.stderr
    for name in ("allocation.csv", "branches.csv", "buses.csv", "operators.csv"):
        assert (tmp_path / "one" / name).read_bytes() == (tmp_path / "two" / name).read_bytes(), name

    def answer(run):
        return [line for line in run.stdout.splitlines() if not line.lstrip().startswith(("time ", "wrote "))]

    assert answer(one) == answer(two)
    # stdout is the answer: no solver banner, no trailing spaces, no colour codes when not a terminal
    for run in (one, two):
        assert "HiGHS" not in run.stdout and "Copyright" not in run.stdout
        assert all(line == line.rstrip() for line in run.stdout.splitlines())
        assert "\x1b[" not in run.stdout


def test_an_infeasible_scenario_prints_one_line_and_no_banner(tmp_path):
    """Must-serve AI beyond the supply pool: exit 1, nothing on stdout, one line on stderr."""
    run = subprocess.run([sys.executable, "-m", "planner", "solve", "texas", "--out", str(tmp_path / "x"),
                          "--set", "supply.regions.ERCOT.available_mw=10", "--set", "demand.requests.0.must_serve=true",
                          "--set", "ac.check=false"], capture_output=True, text=True, timeout=900, check=False)
    assert run.returncode == 1, (run.stdout, run.stderr)
    assert run.stdout == ""
    assert len(run.stderr.strip().splitlines()) == 1 and run.stderr.startswith("error:")
    assert not (tmp_path / "x").exists()


_POOL = """
import logging, sys
import planner
from planner.data import examples as ex
from planner.core import highs
logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(name)s: %(message)s")
g = ex.triangle()
sites = ex.sites_at(g, [{"site_id": "S", "bus": 2, "poi_mw": 100, "current_use": "development"}])
FIRM = dict(mining_firm_share=1.0, offpeak_load_factor=1.0, supply_response="single")
values = []
for threads in (2, 1, None, 3):
    r = planner.plan(g, sites, planner.Params(threads=threads, **FIRM))
    values.append(round(r.summary.objective_usd, 2))
print(highs.chosen_threads(), len(set(values)))
"""


def test_one_thread_count_per_process():
    """HiGHS's thread pool is made once per process: the first solve's thread count is kept, a
    later request for another is logged (once per count) and solves on the pool (a HiGHS failure
    would end the script: planner does not switch solvers)."""
    run = subprocess.run([sys.executable, "-c", _POOL], capture_output=True, text=True, timeout=300, check=False)
    assert run.returncode == 0, run.stderr
    assert run.stdout.split() == ["2", "1"]
    told = [line for line in run.stderr.splitlines() if "takes effect in a new process" in line]
    assert len(told) == 2  # 1 and 3 asked for; None (HiGHS's default) asks for nothing


def test_a_failed_highs_run_is_an_error_not_a_switch_to_cbc(monkeypatch):
    def fail(self, mip, time_limit=None, start=None):
        raise pulp.PulpSolverError("HiGHS run failed")

    monkeypatch.setattr(slv.LiveModel, "run", fail)
    g = ex.triangle()
    sites = ex.sites_at(g, [{"site_id": "S", "bus": 2, "poi_mw": 100, "current_use": "development"}])
    with pytest.raises(SolverError, match="solver.name=cbc"):
        planner.plan(g, sites, planner.Params(**FIRM))


def test_the_order_of_regions_does_not_depend_on_the_hash_seed():
    """The regions of a scenario reach the model and summary.json in one order in every process
    (sorted), not in a set's order, which changes with PYTHONHASHSEED."""
    code = ("import json, warnings; warnings.simplefilter('ignore'); import planner; "
            "p = planner.prepare(planner.load_scenario('us-2026-2030')); "
            "print(json.dumps([list(p.params.ai_demand_mw), list(p.timeline.ai_demand_mw), list(p.params.supply_pools_mw)]))")
    seen = set()
    for seed in ("1", "2", "3"):
        res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600, check=False,
                             env={**os.environ, "PYTHONHASHSEED": seed})
        assert res.returncode == 0, res.stderr
        seen.add(res.stdout.strip())
    assert len(seen) == 1
    demand, timeline_demand, _ = json.loads(seen.pop())
    assert len(demand) >= 5 and demand == sorted(demand) and timeline_demand == sorted(timeline_demand)
