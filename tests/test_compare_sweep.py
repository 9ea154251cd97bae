"""`planner compare SWEEP_DIR ID_A ID_B`: two scenarios of a sweep side by side (varied values,
figures B - A, sites that changed, the `planner solve` commands that reproduce them), ids by
prefix or sample:N, and one-line errors for what is not a sweep, an id or a readable file."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from planner.sweeps.sweep import plan_samples, plan_sweep, run_sweep

PLANNER = shutil.which("planner", path=os.path.dirname(sys.executable)) or shutil.which("planner")
HASH = "economics.hashprice_usd_per_ph_day"
CAPEX = "constraints.max_capex_usd"
MUST = "demand.requests.4.must_serve=true"  # Childress must be served: with a budget of $0 it is infeasible


def planner(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([PLANNER, *map(str, args)], check=False, capture_output=True, text=True, cwd=cwd,
                          timeout=600)


def one_error(res: subprocess.CompletedProcess, *needles: str) -> str:
    """Exit 2 and one line on stderr, 'error: ...', with every needle; nothing on stdout."""
    assert res.returncode == 2, (res.returncode, res.stdout, res.stderr)
    lines = res.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), res.stderr
    assert "Traceback" not in res.stderr and res.stdout == ""
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
    return lines[0]


@pytest.fixture(scope="module")
def grid_sweep(tmp_path_factory):
    """hashprice 30, 60 x budget $0, $1e12 with Childress must-serve: the $0 budget is infeasible.
    Returns (directory, results by varied values)."""
    out = tmp_path_factory.mktemp("cmp") / "grid"
    run_sweep(plan_sweep("texas", [f"{HASH}=30,60", f"{CAPEX}=0,1e12"], [MUST]), out)
    results = pd.read_parquet(out / "results.parquet")
    assert results["status"].tolist() == ["infeasible", "optimal", "infeasible", "optimal"]
    rows = {(int(r[HASH]), float(r[CAPEX])): r for _, r in results.iterrows()}
    return out, rows


@pytest.fixture(scope="module")
def mc_sweep(tmp_path_factory):
    out = tmp_path_factory.mktemp("cmp") / "mc"
    run_sweep(plan_samples("texas", {HASH: {"uniform": {"low": 30, "high": 60}}}, 3, 1), out)
    return out, pd.read_parquet(out / "results.parquet")


def sweep_json(*args) -> dict:
    res = planner("compare", *args, "--json")
    assert res.returncode == 0 and res.stderr == "", res.stderr
    return json.loads(res.stdout)


def test_figures_values_and_sites_of_two_scenarios(grid_sweep):
    out, rows = grid_sweep
    a, b = rows[(30, 1e12)], rows[(60, 1e12)]
    diff = sweep_json(out, a["id"][:6], b["id"][:5].upper())  # unique prefixes, any case
    assert diff["a"]["id"] == a["id"] and diff["b"]["id"] == b["id"]
    assert diff["a"]["status"] == diff["b"]["status"] == "optimal"
    m = diff["metrics"]
    assert list(m) == ["objective_usd", "served_ai_mw", "unmet_ai_mw", "served_mining_mw", "converted_sites",
                       "binding_branches"]
    for key in m:
        assert m[key]["a"] == pytest.approx(float(a[key]), rel=1e-12)
        assert m[key]["b"] == pytest.approx(float(b[key]), rel=1e-12)
        assert m[key]["change"] == pytest.approx(float(b[key]) - float(a[key]), rel=1e-12, abs=1e-9)
    assert m["objective_usd"]["change"] != 0 and m["converted_sites"]["change"] == -1
    assert isinstance(m["converted_sites"]["a"], int)
    # the varied values as the sweep set them; only the hashprice differs
    assert diff["varied"] == [{"key": HASH, "a": 30, "b": 60, "differs": True},
                              {"key": CAPEX, "a": 1e12, "b": 1e12, "differs": False}]
    # sites: from sites.parquet, changed = use, conversion or 0.5 MW of AI or mining
    sites = pd.read_parquet(out / "sites.parquet")
    sa = sites[sites["id"] == a["id"]].set_index("site_id")
    sb = sites[sites["id"] == b["id"]].set_index("site_id").loc[sa.index]
    conv = set(sa.index[sa["converted"] != sb["converted"]])
    moved = set(sa.index[((sa["ai_mw"] - sb["ai_mw"]).abs() > 0.5) | ((sa["mining_mw"] - sb["mining_mw"]).abs() > 0.5)])
    assert conv, "the test needs a site that converts in one scenario and not in the other"
    listed = {r["site_id"]: r for r in diff["sites_changed"]}
    assert conv | moved <= set(listed)
    assert set(listed) - conv - moved <= set(sa.index[(sa["ai_mw"] > 0) != (sb["ai_mw"] > 0)]) | \
        set(sa.index[(sa["mining_mw"] > 0) != (sb["mining_mw"] > 0)])  # the rest changed use by < 0.5 MW
    for sid in conv:
        r = listed[sid]
        assert r["converted_a"] == bool(sa.loc[sid, "converted"]) and r["converted_b"] == bool(sb.loc[sid, "converted"])
        assert r["ai_mw_a"] == pytest.approx(sa.loc[sid, "ai_mw"]) and r["ai_mw_b"] == pytest.approx(sb.loc[sid, "ai_mw"])
    for r in listed.values():
        ai, mining = r["ai_mw_b"], r["mining_mw_b"]
        assert r["use_b"] == ("ai+mining" if ai > 0 and mining > 0 else "ai" if ai > 0 else "mining" if mining > 0
                              else "none")
    assert diff["sites_only_in_a"] == diff["sites_only_in_b"] == []
    # no branches are made up
    assert diff["branches_now_binding"] is None and diff["branches_now_free"] is None
    assert "a sweep does not store them" in diff["branches"]


def test_text_output_and_the_solve_commands_that_reproduce_a_scenario(grid_sweep, tmp_path):
    out, rows = grid_sweep
    a, b = rows[(30, 1e12)], rows[(60, 1e12)]
    res = planner("compare", out, a["id"], b["id"])
    assert res.returncode == 0 and res.stderr == "", res.stderr
    lines = res.stdout.splitlines()
    assert lines[0].startswith(f"sweep {out} of texas:") and a["id"] in lines[0] and b["id"] in lines[0]
    hash_line = next(line for line in lines if line.lstrip().startswith(HASH))
    capex_line = next(line for line in lines if line.lstrip().startswith(CAPEX))
    assert hash_line.split() == [HASH, "30", "60", "differs"]
    assert capex_line.split() == [CAPEX, "1000000000000.0", "1000000000000.0"]
    objective = next(line for line in lines if line.lstrip().startswith("objective_usd")).split()
    change = (float(b["objective_usd"]) - float(a["objective_usd"])) / 1e9
    assert objective[-2:] == [f"${change:,.2f}", "B"]
    assert any("sites changed" in line for line in lines)
    assert "branches are not compared: a sweep does not store them" in res.stdout
    assert "became binding" not in res.stdout
    commands = {line.split(":", 1)[0].strip(): line.split(":", 1)[1].strip() for line in lines
                if line.lstrip().startswith(("A: planner solve", "B: planner solve"))}
    assert set(commands) == {"A", "B"}
    argv = shlex.split(commands["B"])
    assert argv[:3] == ["planner", "solve", "texas"]
    assert argv[3:] == ["--set", MUST, "--set", f"{HASH}=60", "--set", f"{CAPEX}=1000000000000.0"]
    # the command, run, gives the sweep's objective
    run = tmp_path / "b"
    res = subprocess.run([PLANNER, *argv[1:], "--set", "ac.check=false", "--out", str(run), "-q"], check=False,
                         capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr
    summary = json.loads((run / "summary.json").read_text())
    assert summary["objective_usd"] == pytest.approx(float(b["objective_usd"]), rel=1e-6)
    assert summary["converted_sites"] == int(b["converted_sites"])


def test_a_scenario_that_is_not_optimal_is_compared_with_its_status_and_reason(grid_sweep):
    out, rows = grid_sweep
    a, b = rows[(30, 0.0)], rows[(30, 1e12)]
    diff = sweep_json(out, a["id"], b["id"])
    assert diff["a"]["status"] == "infeasible" and "must-serve" in diff["a"]["reason"]
    assert diff["a"]["reason"] == a["reason"]
    assert diff["metrics"]["objective_usd"] == {"a": None, "b": float(b["objective_usd"]), "change": None}
    assert diff["sites_compared"] is False and diff["sites_changed"] == []
    assert [v["differs"] for v in diff["varied"]] == [False, True]
    res = planner("compare", out, a["id"][:4], b["id"][:4])
    assert res.returncode == 0 and res.stderr == "", res.stderr
    assert f"note: A ({a['id']}) is infeasible: the allocation is infeasible: must-serve" in res.stdout
    assert "sites are not compared" in res.stdout
    objective = next(line for line in res.stdout.splitlines() if line.lstrip().startswith("objective_usd"))
    assert objective.split()[1] == "-" and objective.split()[-1] == "-"


def test_monte_carlo_scenarios_by_sample_number(mc_sweep):
    out, results = mc_sweep
    diff = sweep_json(out, "sample:2", "SAMPLE:0")
    r2, r0 = (results[results["sample"] == n].iloc[0] for n in (2, 0))
    assert (diff["a"]["sample"], diff["a"]["id"]) == (2, r2["id"])
    assert (diff["b"]["sample"], diff["b"]["id"]) == (0, r0["id"])
    # the drawn value, exactly: the command sets the very float the sweep solved with
    assert diff["varied"][0]["a"] == r2[HASH] and diff["varied"][0]["differs"]
    value = shlex.split(diff["a"]["command"])[-1].split("=", 1)[1]
    assert float(value) == r2[HASH] and value == json.dumps(float(r2[HASH]))
    assert diff["metrics"]["served_mining_mw"]["change"] == pytest.approx(r0["served_mining_mw"]
                                                                          - r2["served_mining_mw"])
    # an id prefix works too
    assert sweep_json(out, r2["id"][:8], "sample:1")["a"]["sample"] == 2
    one_error(planner("compare", out, "sample:7", "sample:0"), "results.parquet", "field 'sample'",
              "no scenario with this sample number", "'sample:7'", "sample:0 to sample:2")
    one_error(planner("compare", out, "sample:x", "sample:0"), "not a sample number", "'sample:x'")


def test_ids_that_name_no_scenario_or_more_than_one(grid_sweep, tmp_path):
    out, rows = grid_sweep
    good = rows[(30, 1e12)]["id"]
    typo = good[:-1] + ("0" if good[-1] != "0" else "1")
    one_error(planner("compare", out, good, typo), f"{out / 'results.parquet'}", "field 'id'",
              "no scenario with this id", f"got '{typo}'", f"did you mean '{good}'?")
    one_error(planner("compare", out, good[:3], good), "too short an id prefix", f"'{good[:3]}'",
              "4 or more characters")
    one_error(planner("compare", out, good, "sample:1"), "sample:N names a scenario of a Monte Carlo sweep")
    # two scenarios whose ids begin alike
    twin = tmp_path / "twin"
    shutil.copytree(out, twin)
    results = pd.read_parquet(twin / "results.parquet")
    results["id"] = ["abcd00000001", "abcd00000002", "ef0000000003", "ef0000000004"]
    results.to_parquet(twin / "results.parquet", index=False)
    one_error(planner("compare", twin, "abcd", "ef00000000"), "ambiguous id prefix: 2 scenarios start with it",
              "abcd00000001, abcd00000002", "'abcd'")


def test_directories_that_do_not_fit_the_arguments(grid_sweep, tmp_path):
    out, rows = grid_sweep
    good = rows[(30, 1e12)]["id"]
    one_error(planner("compare", out, good), str(out), "a sweep directory needs two scenario ids", f"'{good}'",
              "planner compare SWEEP_DIR ID_A ID_B")
    run = tmp_path / "run"
    run.mkdir()
    (run / "summary.json").write_text("{}")
    one_error(planner("compare", run, "abcd", "ef01"), str(run), "a run directory, not a sweep",
              "planner compare RUN_A RUN_B")
    one_error(planner("compare", run, out), str(out), "a sweep directory, not a run directory")
    empty = tmp_path / "empty"
    empty.mkdir()
    one_error(planner("compare", empty, "abcd", "ef01"), str(empty), "neither a run nor a sweep directory")
    one_error(planner("compare", tmp_path / "nowhere", "abcd", "ef01"), "no such sweep directory")
    # two runs: as before
    one_error(planner("compare", empty, empty), "summary.json is missing")


def _damaged(out: Path, tmp_path: Path, name: str, change) -> Path:
    copy = tmp_path / "damaged"
    shutil.copytree(out, copy)
    file = copy / name
    if name.endswith(".parquet"):
        frame = change(pd.read_parquet(file))
        if isinstance(frame, bytes):
            file.write_bytes(frame)
        elif frame is None:
            file.unlink()
        else:
            frame.to_parquet(file, index=False)
    else:
        file.write_text(change(file.read_text()))
    return copy


@pytest.mark.parametrize("name,change,needles", [
    ("results.parquet", lambda f: b"PAR1 not really", ("results.parquet", "not a readable Parquet file")),
    ("results.parquet", lambda f: None, ("results.parquet is missing", "the sweep has not finished")),
    ("results.parquet", lambda f: f.drop(columns="objective_usd"), ("field 'objective_usd'", "column missing")),
    ("results.parquet", lambda f: f.drop(columns=HASH), (f"field '{HASH}'", "column missing")),
    ("results.parquet", lambda f: f.assign(served_ai_mw=["1", "2", "lots", "4"]),
     ("results.parquet", "row 3", "field 'served_ai_mw'", "not a number", "'lots'")),
    ("results.parquet", lambda f: f.assign(id=[f["id"][1], *f["id"][1:]]),
     ("row 2", "field 'id'", "duplicated id (also on row 1)")),
    ("sites.parquet", lambda f: f.drop(columns="converted"), ("sites.parquet", "field 'converted'", "column missing")),
    ("sweep.json", lambda t: t[:-5], ("sweep.json", "not valid JSON")),
    ("sweep.json", lambda t: json.dumps({"scenario": "texas", "sets": []}),
     ("sweep.json", "neither 'vary' nor 'distributions'")),
])
def test_damaged_sweep_files_are_one_line(grid_sweep, tmp_path, name, change, needles):
    out, rows = grid_sweep
    copy = _damaged(out, tmp_path, name, change)
    one_error(planner("compare", copy, rows[(30, 1e12)]["id"], rows[(60, 1e12)]["id"], "--json"), *needles)


def test_a_damaged_site_row_is_named_by_its_row_in_the_file(grid_sweep, tmp_path):
    out, rows = grid_sweep
    b = rows[(60, 1e12)]["id"]
    sites = pd.read_parquet(out / "sites.parquet")
    i = int(np.flatnonzero((sites["id"] == b).to_numpy())[2])  # the third site of scenario B
    assert i > 2  # B's sites come after A's

    def damage(frame):
        frame["ai_mw"] = frame["ai_mw"].astype(str)
        frame.loc[i, "ai_mw"] = "x"
        return frame

    copy = _damaged(out, tmp_path, "sites.parquet", damage)
    one_error(planner("compare", copy, rows[(30, 1e12)]["id"], b), "sites.parquet", f"row {i + 1}",
              "field 'ai_mw'", "not a number", "'x'")
