"""Sweeps (planner.sweep, `planner sweep`): specs, equality with `planner solve --set`, resume,
failed scenarios as rows, bad specs as one-line errors before anything runs."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time

import pandas as pd
import pytest

from planner.errors import InputError
from planner.sweep import case_id, parse_vary, plan_sweep, run_sweep

PLANNER = shutil.which("planner", path=os.path.dirname(sys.executable)) or shutil.which("planner")
HASH = "economics.hashprice_usd_per_ph_day"
LEASE = "economics.ai_lease_usd_per_kw_month"


@pytest.mark.parametrize("spec,values", [
    ("30:60:10", [30, 40, 50, 60]),
    ("30:55:10", [30, 40, 50]),
    ("0.1:0.3:0.1", [0.1, 0.2, 0.3]),
    ("60:30:-15", [60, 45, 30]),
    ("120,150,180", [120, 150, 180]),
    ("0,1e12", [0, 1e12]),
    ("true,false", [True, False]),
    ("n-0,n-1", ["n-0", "n-1"]),
])
def test_specs(spec, values):
    assert parse_vary(f"k.x={spec}").values == values


@pytest.mark.parametrize("item,needle", [
    ("k.x=30:60:0", "step is 0"), ("k.x=60:30:5", "range is empty"), ("k.x=", "no values"),
    ("k.x=1,,2", "empty item"), ("k.x=a:1:1", "not a number"), ("k.x=0:1e9:1", "values"),
    ("k.x=1,2,1", "appears twice"), ("nokey", "expected KEY=SPEC"), ("k..x=1", "not a dotted key"),
])
def test_bad_specs(item, needle):
    with pytest.raises(InputError, match=needle):
        parse_vary(item)


def test_bad_values_fail_before_anything_runs(tmp_path):
    """A value the schema refuses, an unknown key, a key varied twice: exit 2, one line naming the
    --vary, and no sweep directory."""
    out = tmp_path / "sw"
    for args, needle in ((["--vary", f"{HASH}=-5,10"], f"--vary {HASH}, value -5"),
                         (["--vary", "economics.hashprice=1,2"], "did you mean"),
                         (["--vary", f"{HASH}=1,2", "--vary", f"{HASH}=3"], "varied twice")):
        res = subprocess.run([PLANNER, "sweep", "texas", *args, "--out", str(out), "-q"], check=False,
                             capture_output=True,
                             text=True, timeout=300)
        assert res.returncode == 2, res.stderr
        lines = res.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: ") and needle in lines[0], res.stderr
        assert not out.exists()


@pytest.fixture(scope="module")
def texas_sweep(tmp_path_factory):
    out = tmp_path_factory.mktemp("sweeps") / "texas"
    sw = plan_sweep("texas", [f"{HASH}=30,50", f"{LEASE}=150,220"])
    return sw, out, run_sweep(sw, out)


def test_sweep_equals_planner_solve_with_the_same_values(texas_sweep):
    """Each scenario of the sweep is the run `planner solve texas --set ...` makes (AC check off):
    objective 1e-6 relative, MW per site 1e-3."""
    from planner.prepare import run
    from planner.scenario import load_scenario

    sw, out, results = texas_sweep
    assert len(results) == 4 and list(results["status"]) == ["optimal"] * 4
    assert results[HASH].tolist() == [30, 30, 50, 50] and results[LEASE].tolist() == [150, 220, 150, 220]
    sites = pd.read_parquet(out / "sites.parquet")
    for k in (0, 3):
        values = sw.cases[k]
        _, ref = run(load_scenario("texas", [f"{key}={v}" for key, v in values.items()] + ["ac.check=false"]))
        row = results.iloc[k]
        assert row["id"] == case_id(values)
        assert row["objective_usd"] == pytest.approx(ref.summary["objective_usd"], rel=1e-6)
        assert row["served_ai_mw"] == pytest.approx(ref.summary["served_ai_mw"], abs=1e-3)
        mine = sites[sites["id"] == row["id"]].set_index("site_id")
        theirs = ref.allocation.set_index("site_id")
        assert len(mine) == len(theirs)
        assert (mine["ai_mw"] - theirs.loc[mine.index, "ai_mw"]).abs().max() < 1e-3
    # a higher lease never serves less AI value
    assert results["objective_usd"].iloc[1] > results["objective_usd"].iloc[0]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["scenarios"] == 4 and summary["status_counts"] == {"optimal": 4}


def test_another_sweep_in_the_same_directory_is_refused(texas_sweep):
    _, out, _ = texas_sweep
    with pytest.raises(InputError, match="another sweep"):
        run_sweep(plan_sweep("texas", [f"{HASH}=30,40"]), out)


def test_an_infeasible_scenario_is_a_row_not_a_crash(tmp_path):
    """Must-serve Childress (270 MW of AI, which needs capex) with a budget of $0 is infeasible; with a
    large budget it is served. The sweep records both."""
    sw = plan_sweep("texas", ["constraints.max_capex_usd=0,1e12"], ["demand.requests.4.must_serve=true"])
    results = run_sweep(sw, tmp_path / "sw")
    assert results["status"].tolist() == ["infeasible", "optimal"]
    assert "must-serve" in results["reason"].iloc[0] and pd.isna(results["objective_usd"].iloc[0])
    sites = pd.read_parquet(tmp_path / "sw" / "sites.parquet")
    served = sites[(sites["id"] == results["id"].iloc[1]) & (sites["site_id"] == "iren-childress")]
    assert served["ai_mw"].iloc[0] == pytest.approx(270)


def test_a_killed_sweep_resumes_without_solving_twice(tmp_path):
    """Kill the sweep after its first scenarios are written, run the same command again: every
    scenario exactly once, and the ones finished before were not solved again."""
    out = tmp_path / "sw"
    cmd = [PLANNER, "sweep", "texas", "--vary", f"{HASH}=20:60:5", "--out", str(out), "-q", "--workers", "1"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.time() + 240
    results = out / "results.csv"
    while time.time() < deadline and proc.poll() is None:
        if results.exists() and len(results.read_text().splitlines()) >= 3:  # header + 2 scenarios
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=60)
    first = pd.read_csv(results, dtype={"id": str})
    assert 2 <= len(first) < 9
    res = subprocess.run(cmd, check=False, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr
    final = pd.read_csv(results, dtype={"id": str})
    assert len(final) == 9 and final["id"].is_unique
    # rows written before the kill are unchanged: those scenarios were not solved again
    again = final.set_index("id").loc[first["id"]]
    assert (again["time_s"].to_numpy() == first["time_s"].to_numpy()).all()
    summary = json.loads((out / "summary.json").read_text())
    assert summary["finished_before"] == len(first) and summary["run_now"] == 9 - len(first)
    assert pd.read_parquet(out / "results.parquet")[HASH].tolist() == list(range(20, 61, 5))


def _same_results(a: pd.DataFrame, b: pd.DataFrame) -> None:
    assert a["id"].tolist() == b["id"].tolist() and a["status"].tolist() == b["status"].tolist()
    assert (a["objective_usd"] - b["objective_usd"]).abs().max() <= 1e-6 * a["objective_usd"].abs().max()
    assert (a["served_ai_mw"] - b["served_ai_mw"]).abs().max() < 1e-3


def test_a_local_dask_cluster_gives_the_in_process_results(texas_sweep, tmp_path):
    sw, _, alone = texas_sweep
    on_dask = run_sweep(sw, tmp_path / "dask", workers=2)
    _same_results(alone, on_dask)
    assert json.loads((tmp_path / "dask" / "summary.json").read_text())["workers"] == 2


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_an_existing_dask_cluster_gives_the_in_process_results(texas_sweep, tmp_path):
    """A real cluster: `dask scheduler` and two `dask worker` processes on 127.0.0.1, the sweep sent
    there with --scheduler."""
    sw, _, alone = texas_sweep
    dask = shutil.which("dask", path=os.path.dirname(sys.executable))
    assert dask, "the dask command is not installed"
    address = f"tcp://127.0.0.1:{_free_port()}"
    port = address.rsplit(":", 1)[1]
    procs = [subprocess.Popen([dask, "scheduler", "--host", "127.0.0.1", "--port", port, "--no-dashboard"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)]
    try:
        for _ in range(2):
            procs.append(subprocess.Popen([dask, "worker", address, "--nthreads", "1", "--no-dashboard"],
                                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        from dask.distributed import Client

        with Client(address, timeout="60s") as client:
            client.wait_for_workers(2, timeout=120)
        args = [PLANNER, "sweep", "texas", "--out", str(tmp_path / "remote"), "-q", "--scheduler", address]
        for a in sw.axes:
            args += ["--vary", f"{a.key}={','.join(map(str, a.values))}"]
        res = subprocess.run(args, check=False, capture_output=True, text=True, timeout=600)
        assert res.returncode == 0, res.stderr
        _same_results(alone, pd.read_parquet(tmp_path / "remote" / "results.parquet"))
    finally:
        for p in reversed(procs):
            p.terminate()
        for p in procs:
            p.wait(timeout=60)


def test_no_scheduler_at_the_address_is_one_line(tmp_path):
    address = f"tcp://127.0.0.1:{_free_port()}"
    res = subprocess.run([PLANNER, "sweep", "texas", "--vary", f"{HASH}=30,40", "--out", str(tmp_path / "x"),
                          "-q", "--scheduler", address], check=False, capture_output=True, text=True, timeout=300)
    assert res.returncode == 2, res.stderr
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and "--scheduler" in lines[0] and "no Dask scheduler answers" in lines[0], res.stderr
    assert not (tmp_path / "x").exists()
