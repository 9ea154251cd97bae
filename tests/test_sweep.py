"""Sweeps (planner.sweep, `planner sweep`): specs, equality with `planner solve --set`, resume,
failed scenarios as rows, bad specs as one-line errors before anything runs."""

import json
import math
import os
import re
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import pytest
import yaml

from planner.core.errors import InputError
from planner.sweeps.sweep import case_id, parse_vary, plan_sweep, run_sweep

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
    import importlib

    importlib.import_module("planner.sweeps.sweep").clear_worker_cache()  # no model kept by an earlier sweep in this process
    out = tmp_path_factory.mktemp("sweeps") / "texas"
    # solved to optimality: a re-priced solve and a fresh one stopped at a 1e-4 gap may end that far apart
    sw = plan_sweep("texas", [f"{HASH}=30,50", f"{LEASE}=150,220"], sets=["solver.mip_gap=0"])
    return sw, out, run_sweep(sw, out)


def test_sweep_equals_planner_solve_with_the_same_values(texas_sweep):
    """Each scenario of the sweep is the run `planner solve texas --set ...` makes (AC check off):
    objective 1e-6 relative, MW per site 1e-3."""
    from planner.config.scenario import load_scenario
    from planner.run.prepare import run

    sw, out, results = texas_sweep
    assert len(results) == 4 and list(results["status"]) == ["optimal"] * 4
    assert results[HASH].tolist() == [30, 30, 50, 50] and results[LEASE].tolist() == [150, 220, 150, 220]
    sites = pd.read_parquet(out / "sites.parquet")
    for k in (0, 3):
        values = sw.cases[k]
        _, ref = run(load_scenario("texas", [f"{key}={v}" for key, v in values.items()]
                                   + ["ac.check=false", "solver.mip_gap=0"]))
        row = results.iloc[k]
        assert row["id"] == case_id(values)
        assert row["objective_usd"] == pytest.approx(ref.summary.objective_usd, rel=1e-6)
        assert row["served_ai_mw"] == pytest.approx(ref.summary.served_ai_mw, abs=1e-3)
        mine = sites[sites["id"] == row["id"]].set_index("site_id")
        theirs = ref.allocation.set_index("site_id")
        assert len(mine) == len(theirs)
        assert (mine["ai_mw"] - theirs.loc[mine.index, "ai_mw"]).abs().max() < 1e-3
    # a higher lease never serves less AI value
    assert results["objective_usd"].iloc[1] > results["objective_usd"].iloc[0]
    # one structure (only prices vary): the first scenario builds the model, the others re-price it
    assert results["warm"].tolist() == [False, True, True, True]
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


# ----------------------------------------------------------------------------- Monte Carlo

DIST = {HASH: {"uniform": {"low": 30, "high": 60}},
        LEASE: {"normal": {"mean": 160, "sd": 30, "low": 100, "high": 200}},
        "economics.discount_rate": {"triangular": {"low": 0.06, "mode": 0.08, "high": 0.14}},
        "constraints.emergency_rating_factor": {"choice": {"values": [1.0, 1.2], "weights": [3, 1]}}}


def test_draws_follow_their_distributions():
    """20,000 draws: means and bounds of each distribution within sampling error (5 standard
    errors), the same seed draws the same values, another seed other values."""
    import numpy as np

    from planner.sweeps.sweep import draw, read_distributions

    d = read_distributions(DIST)
    cases = draw(d, 20_000, seed=11)
    x = {k: np.array([c[k] for c in cases], dtype=float) for k in DIST}
    n = 20_000
    assert x[HASH].min() >= 30 and x[HASH].max() <= 60
    assert abs(x[HASH].mean() - 45) < 5 * (30 / 12 ** 0.5) / n ** 0.5
    assert x[LEASE].min() >= 100 and x[LEASE].max() <= 200
    # a normal cut to [100, 200]: its mean is mu + sd (phi(a) - phi(b)) / (Phi(b) - Phi(a)), a and b the
    # cuts in sds (-2 and 1.33): 156.39, below 160 as more is cut above than below
    a, b = (100 - 160) / 30, (200 - 160) / 30
    phi = [math.exp(-t * t / 2) / math.sqrt(2 * math.pi) for t in (a, b)]
    cdf = [0.5 * (1 + math.erf(t / math.sqrt(2))) for t in (a, b)]
    cut_mean = 160 + 30 * (phi[0] - phi[1]) / (cdf[1] - cdf[0])
    assert abs(x[LEASE].mean() - cut_mean) < 5 * 30 / n ** 0.5 and 20 < x[LEASE].std() < 30
    tri = x["economics.discount_rate"]
    assert tri.min() >= 0.06 and tri.max() <= 0.14
    assert abs(tri.mean() - (0.06 + 0.08 + 0.14) / 3) < 5 * 0.017 / n ** 0.5
    share = (x["constraints.emergency_rating_factor"] == 1.2).mean()
    assert set(x["constraints.emergency_rating_factor"]) == {1.0, 1.2}
    assert abs(share - 0.25) < 5 * (0.25 * 0.75 / n) ** 0.5
    assert draw(d, n, seed=11) == cases and draw(d, n, seed=12)[0] != cases[0]


@pytest.mark.parametrize("text,needle", [
    ("k.x: {gauss: {mean: 1}}", "not one distribution"),
    ("k.x: {uniform: {low: 5, high: 5}}", "must be below high"),
    ("k.x: {uniform: {low: 1}}", "takes low, high"),
    ("k.x: {normal: {mean: 1, sd: 0}}", "sd must be > 0"),
    ("k.x: {triangular: {low: 0, mode: 3, high: 2}}", "mode must lie between"),
    ("k.x: {choice: []}", "non-empty list"),
    ("k.x: {choice: {values: [1, 2], weights: [1]}}", "one weight per value"),
    ("k.x: {choice: {values: [1, 2], weights: [0, 0]}}", "not all 0"),
    ("k.x: {uniform: {low: a, high: 2}}", "not a finite number"),
    ("[1, 2]", "mapping of scenario keys"),
    ("k..x: {uniform: {low: 0, high: 1}}", "not a dotted key"),
])
def test_bad_distributions(tmp_path, text, needle):
    from planner.sweeps.sweep import read_distributions

    f = tmp_path / "d.yaml"
    f.write_text(text)
    with pytest.raises(InputError, match=needle) as info:
        read_distributions(f)
    assert str(f) in str(info.value)


def test_bad_monte_carlo_fails_before_anything_runs(tmp_path):
    """A draw the schema refuses, a missing file, --samples without distributions, --vary with
    --samples: exit 2, one line, no sweep directory."""
    out = tmp_path / "sw"
    wide = tmp_path / "wide.yaml"
    wide.write_text("economics.discount_rate: {normal: {mean: 0.05, sd: 0.05}}\n")
    for args, needle in ((["--samples", "50", "--distributions", str(wide)],
                          "economics.discount_rate, drawn value -"),
                         (["--samples", "5", "--distributions", str(tmp_path / "none.yaml")], "no such file"),
                         (["--samples", "5"], "--samples needs --distributions"),
                         (["--samples", "5", "--distributions", str(wide), "--vary", f"{HASH}=1,2"], "two kinds"),
                         (["--samples", "0", "--distributions", str(wide)], "--samples")):
        res = subprocess.run([PLANNER, "sweep", "texas", *args, "--out", str(out), "-q"], check=False,
                             capture_output=True, text=True, timeout=300)
        assert res.returncode == 2, res.stderr
        lines = res.stderr.strip().splitlines()
        assert len(lines) == 1 and needle in lines[0], res.stderr
        assert not out.exists()


def test_a_monte_carlo_sweep_runs_resumes_and_equals_its_solves(tmp_path):
    """12 draws on the CLI; the same command again solves nothing; a draw's row is the run
    `planner solve --set` makes with its values."""
    from planner.config.scenario import load_scenario
    from planner.run.prepare import run

    dist = tmp_path / "d.yaml"
    dist.write_text(yaml.safe_dump(DIST))
    out = tmp_path / "mc"
    cmd = [PLANNER, "sweep", "texas", "--samples", "12", "--seed", "5", "--distributions", str(dist),
           "--out", str(out), "-q", "--workers", "1"]
    res = subprocess.run(cmd, check=False, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr
    results = pd.read_parquet(out / "results.parquet")
    assert results["sample"].tolist() == list(range(12)) and results["id"].is_unique
    assert (results["status"] == "optimal").all()
    assert results[HASH].between(30, 60).all() and set(results["constraints.emergency_rating_factor"]) <= {1.0, 1.2}
    # two structures (the emergency factor): each built once, the rest re-priced
    n_structures = results["constraints.emergency_rating_factor"].nunique()
    assert (~results["warm"]).sum() == n_structures
    again = subprocess.run(cmd, check=False, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr
    summary = json.loads((out / "summary.json").read_text())
    assert summary["run_now"] == 0 and summary["finished_before"] == 12 and summary["seed"] == 5
    row = results.iloc[7]
    values = {k: row[k] for k in DIST}
    _, ref = run(load_scenario("texas", [f"{k}={json.dumps(float(v))}" for k, v in values.items()]
                               + ["ac.check=false"]))
    assert row["objective_usd"] == pytest.approx(ref.summary.objective_usd, rel=1e-6)
    assert row["served_ai_mw"] == pytest.approx(ref.summary.served_ai_mw, abs=1e-3)
    other = [*cmd[:cmd.index("--seed") + 1], "6", *cmd[cmd.index("--seed") + 2:]]
    refused = subprocess.run(other, check=False, capture_output=True, text=True, timeout=300)
    assert refused.returncode == 2 and "another sweep" in refused.stderr
    # the same command where the draws came out otherwise (another numpy): refused, not orphaned
    spec = json.loads((out / "sweep.json").read_text())
    (out / "sweep.json").write_text(json.dumps({**spec, "draws_sha1": "0" * 16}))
    changed = subprocess.run(cmd, check=False, capture_output=True, text=True, timeout=300)
    assert changed.returncode == 2 and "draw other values" in changed.stderr, changed.stderr


def test_progress_bar_on_a_terminal(tmp_path):
    """On a terminal (a pseudo-terminal here) the sweep shows count, rate and ETA."""
    import pty

    out = tmp_path / "sw"
    pid, fd = pty.fork()
    if pid == 0:  # the child: planner on the terminal
        os.environ["COLUMNS"] = "120"
        os.execv(PLANNER, [PLANNER, "sweep", "texas", "--vary", f"{HASH}=20:60:5", "--out", str(out),
                           "--workers", "1"])
    chunks = []
    while True:
        try:
            data = os.read(fd, 65536)
        except OSError:
            break
        if not data:
            break
        chunks.append(data)
    _, status = os.waitpid(pid, 0)
    text = b"".join(chunks).decode("utf-8", "replace")
    assert os.waitstatus_to_exitcode(status) == 0, text
    assert re.search(r"[1-9]/9", text), text  # count done / total
    assert re.search(r"[0-9.]+ scenarios/s", text), text  # rate
    assert "ETA" in text and re.search(r"\d+:\d\d:\d\d", text), text  # time left
    assert "sweep of 9 scenarios: 9 optimal" in text


# ----------------------------------------------------------------------------- reading a sweep


@pytest.fixture
def made_up_sweep(tmp_path):
    """A sweep directory written by hand: hashprice 30/40/50 x lease 100/200. Site A converts from
    hashprice 40 on at lease 100 and always at lease 200; site B mines up to hashprice 40, then stops."""
    out = tmp_path / "made"
    out.mkdir()
    (out / "sweep.json").write_text(json.dumps({"scenario": "texas", "sets": [],
                                                "vary": {HASH: [30, 40, 50], LEASE: [100, 200]}}))
    rows, sites = [], []
    for n, (hp, lease) in enumerate([(h, lease) for h in (30, 40, 50) for lease in (100, 200)]):
        cid = f"id{n}"
        conv = lease == 200 or hp >= 40
        rows.append({"id": cid, HASH: hp, LEASE: lease, "status": "optimal", "reason": "",
                     "objective_usd": 1e9 * hp + 1e6 * lease, "served_ai_mw": 100.0 * conv, "unmet_ai_mw": 0.0,
                     "served_mining_mw": 50.0 * (hp <= 40), "converted_sites": int(conv), "binding_branches": 1,
                     "time_s": 0.1, "warm": n > 0})
        sites.append({"id": cid, "site_id": "A", "ai_mw": 100.0 * conv, "mining_mw": 0.0, "converted": conv,
                      "value_usd": 1.0})
        sites.append({"id": cid, "site_id": "B", "ai_mw": 0.0, "mining_mw": 50.0 * (hp <= 40), "converted": False,
                      "value_usd": 1.0})
    rows.append({**rows[0], "id": "bad", HASH: 30, LEASE: 100, "status": "infeasible", "objective_usd": None})
    pd.DataFrame(rows).to_parquet(out / "results.parquet")
    pd.DataFrame(sites).to_parquet(out / "sites.parquet")
    return out


def test_tipping_points_on_a_made_up_sweep(made_up_sweep):
    import planner

    tips = planner.tipping_points(made_up_sweep, HASH)
    got = {(r.site_id, r[LEASE], r.change, r.from_value, r.to_value) for _, r in tips.iterrows()}
    assert got == {("A", 100, "converts", 30, 40), ("B", 100, "stops mining", 40, 50),
                   ("B", 200, "stops mining", 40, 50)}
    at = planner.tipping_points(made_up_sweep, LEASE, at={HASH: 30})
    assert at[["site_id", "change", "from_value", "to_value"]].values.tolist() == [["A", "converts", 100, 200]]
    with pytest.raises(InputError, match="not a varied key"):
        planner.tipping_points(made_up_sweep, "economics.discount_rate")


def test_tipping_points_report_path_switches(made_up_sweep):
    """With a path column (sweeps of the three paths), each change of a site's path is a row with
    the paths on both sides; the other changes keep empty paths."""
    import planner

    sites = pd.read_parquet(made_up_sweep / "sites.parquet")
    hp = sites["id"].map(pd.read_parquet(made_up_sweep / "results.parquet").set_index("id")[HASH])
    # site A: mining at 30, lease at 40, its own cloud at 50 (every lease rate); B keeps its flags
    sites["path"] = np.where(sites["site_id"] == "A", np.select([hp == 30, hp == 40], ["mining", "ai_lease"],
                                                                "ai_cloud"), "mining")
    # B takes the same two paths throughout, most MW first: no switch
    sites.loc[sites["site_id"] == "B", "path"] = np.where(hp[sites["site_id"] == "B"] < 40, "mining+ai_lease",
                                                          "ai_lease+mining")
    sites.to_parquet(made_up_sweep / "sites.parquet")
    tips = planner.tipping_points(made_up_sweep, HASH)
    path = tips[tips["change"] == "switches path"]
    got = {(r.site_id, r[LEASE], r.from_value, r.to_value, r.from_path, r.to_path) for _, r in path.iterrows()}
    assert got == {("A", lease, 30, 40, "mining", "ai_lease") for lease in (100, 200)} | {
        ("A", lease, 40, 50, "ai_lease", "ai_cloud") for lease in (100, 200)}
    assert (tips.loc[tips["change"] != "switches path", ["from_path", "to_path"]] == "").all().all()


def test_heatmap_table_and_png(made_up_sweep, tmp_path):
    """The table is the mean of the solved rows per cell (the infeasible row does not count); the
    PNG is an image of the expected size with more than one colour."""
    import matplotlib.image as mpimg

    import planner
    from planner.sweeps.analysis import heatmap_table

    table = heatmap_table(made_up_sweep, HASH, LEASE, "served_ai_mw")
    assert table.loc[100].tolist() == [0.0, 100.0, 100.0] and table.loc[200].tolist() == [100.0] * 3
    npv = heatmap_table(made_up_sweep, HASH, LEASE, "objective_usd")
    assert npv.loc[100, 30] == 30e9 + 100e6
    png = tmp_path / "h.png"
    planner.sweep_heatmap(made_up_sweep, HASH, LEASE, "served_mining_mw", path=png)
    image = mpimg.imread(png)
    assert image.shape[0] > 200 and image.shape[1] > 300
    assert len({tuple(px) for px in image.reshape(-1, image.shape[-1])[::97]}) > 10
    with pytest.raises(InputError, match="not an output"):
        heatmap_table(made_up_sweep, HASH, LEASE, "npv")
    with pytest.raises(InputError, match="same key"):
        heatmap_table(made_up_sweep, HASH, HASH)


def test_site_shares(made_up_sweep):
    import planner

    shares = planner.site_shares(made_up_sweep)
    assert shares.loc["A", "converts_share"] == pytest.approx(5 / 6)
    assert shares.loc["B", "mines_share"] == pytest.approx(4 / 6)
    assert shares.loc["A", "mean_ai_mw"] == pytest.approx(500 / 6) and (shares["scenarios"] == 6).all()


# ----------------------------------------------------------------------------- what a worker keeps


def test_ac_tightening_starts_each_scenario_afresh(tmp_path):
    """With ac.tighten each scenario derates the branches its own AC check finds; the next one must
    not start from them: hashprice 150 after 40 equals a run of hashprice 150 from scratch."""
    from planner.config.scenario import load_scenario
    from planner.run.prepare import run

    results = run_sweep(plan_sweep("texas", [f"{HASH}=40,150"], ["ac.tighten=true"]), tmp_path / "sw")
    _, ref = run(load_scenario("texas", [f"{HASH}=150", "ac.tighten=true"]))
    row = results.iloc[1]
    assert row["objective_usd"] == pytest.approx(ref.summary.objective_usd, rel=1e-6)
    assert row["served_ai_mw"] == pytest.approx(ref.summary.served_ai_mw, abs=1e-3)


def test_a_second_sweep_sees_a_changed_sites_file(tmp_path):
    """Two sweeps in one process (a notebook): the second does not re-price the models of the first,
    so an edited sites file counts."""
    import geopandas as gpd

    from planner.data.datasets import default_sites

    sites = gpd.read_file(default_sites())
    (tmp_path / "sites.geojson").write_text(sites.to_json())
    (tmp_path / "s.yaml").write_text("extends: texas\nname: mine\nsites: {files: [sites.geojson]}\n")
    first = run_sweep(plan_sweep(str(tmp_path / "s.yaml"), [f"{HASH}=30,40"]), tmp_path / "a")
    for col in ("poi_mw", "operating_mw", "it_mw"):
        if col in sites:
            sites[col] = sites[col] / 2
    (tmp_path / "sites.geojson").write_text(sites.to_json())
    second = run_sweep(plan_sweep(str(tmp_path / "s.yaml"), [f"{HASH}=30,40"]), tmp_path / "b")
    assert second["warm"].tolist() == [False, True]
    from planner.config.scenario import load_scenario
    from planner.run.prepare import run

    _, ref = run(load_scenario(str(tmp_path / "s.yaml"), [f"{HASH}=30", "ac.check=false"]))
    assert second["objective_usd"].iloc[0] == pytest.approx(ref.summary.objective_usd, rel=1e-6)
    assert abs(second["served_ai_mw"].iloc[0] - first["served_ai_mw"].iloc[0]) > 1


def test_two_threads_of_one_worker_give_the_sequential_results(texas_sweep):
    """A Dask worker with several threads: its scenarios run one at a time on the kept models, with
    the results of a single thread."""
    from concurrent.futures import ThreadPoolExecutor

    from planner.sweeps.sweep import Sweep, solve_on_worker

    sw, _, alone = texas_sweep
    task = Sweep(scenario=sw.scenario, axes=[], sets=("solver.threads=1",), token="threads")
    with ThreadPoolExecutor(2) as pool:
        rows = list(pool.map(lambda v: solve_on_worker(task, v)[0], sw.cases * 2))
    assert [r["status"] for r in rows] == ["optimal"] * 8
    for k, r in enumerate(rows):
        assert r["objective_usd"] == pytest.approx(alone["objective_usd"].iloc[k % 4], rel=1e-6)


def test_a_sweep_written_with_other_columns_is_not_resumed(tmp_path):
    """A results.csv with other columns (an older planner) is refused, not appended to."""
    sw = plan_sweep("texas", [f"{HASH}=30,40"])
    out = tmp_path / "sw"
    out.mkdir()
    (out / "sweep.json").write_text(json.dumps(sw.meta))
    (out / "results.csv").write_text(f"id,{HASH},status\nabc,30,optimal\n")
    with pytest.raises(InputError, match="columns are not the ones"):
        run_sweep(sw, out)
    assert (out / "results.csv").read_text() == f"id,{HASH},status\nabc,30,optimal\n"
    # a sites.csv of a planner before the three paths (no path column) too
    (out / "results.csv").unlink()
    old_sites = "id,site_id,ai_mw,mining_mw,converted,value_usd\n"
    (out / "sites.csv").write_text(old_sites)
    with pytest.raises(InputError, match="columns are not the ones") as err:
        run_sweep(sw, out)
    assert err.value.source == str(out / "sites.csv") and (out / "sites.csv").read_text() == old_sites


def test_draws_do_not_depend_on_the_order_of_the_keys():
    from planner.sweeps.sweep import draw, read_distributions

    forward = draw(read_distributions(DIST), 30, seed=3)
    backward = draw(read_distributions(dict(reversed(list(DIST.items())))), 30, seed=3)
    assert [{k: c[k] for k in DIST} for c in backward] == forward


@pytest.mark.parametrize("text,needle,not_in", [
    ("economics.nosuch: {uniform: {low: 0, high: 1}}", "unknown key", "keep the distribution"),
    ("grid.redispatch_cost_segments: {uniform: {low: 1, high: 5}}", "integer", "keep the distribution"),
    ("economics.discount_rate: {uniform: {low: 0.5, high: 2}}", "keep the distribution inside", "None"),
])
def test_monte_carlo_messages(tmp_path, text, needle, not_in):
    from planner.sweeps.sweep import plan_samples

    f = tmp_path / "d.yaml"
    f.write_text(text)
    with pytest.raises(InputError, match=needle) as info:
        plan_samples("texas", f, 20, 1)
    assert not_in not in str(info.value)


def test_varied_values_of_several_kinds(tmp_path):
    """A key varied over null and numbers (stored as JSON text): tipping points and heatmap rows in
    the key's order (none first, numbers rising), and ``at`` finds a number or none."""
    import planner
    from planner.sweeps.analysis import heatmap_table

    key = "constraints.max_capex_usd"
    out = tmp_path / "mixed"
    out.mkdir()
    values = [None, 5e9, 1e10, 2e10]
    (out / "sweep.json").write_text(json.dumps({"scenario": "texas", "sets": [], "vary": {key: values,
                                                                                         HASH: [30, 40]}}))
    rows, sites = [], []
    for n, (v, hp) in enumerate((v, hp) for v in values for hp in (30, 40)):
        built = v is None or v >= 1e10  # site A converts with a budget of 1e10 or more, or none
        rows.append({"id": f"i{n}", key: json.dumps(v), HASH: hp, "status": "optimal",
                     "served_ai_mw": 100.0 * built + hp})
        sites.append({"id": f"i{n}", "site_id": "A", "ai_mw": 100.0 * built, "mining_mw": 0.0, "converted": built,
                      "value_usd": 0.0})
    pd.DataFrame(rows).to_parquet(out / "results.parquet")
    pd.DataFrame(sites).to_parquet(out / "sites.parquet")
    tips = planner.tipping_points(out, key)
    got = [(c, None if pd.isna(a) else a, b, h)  # none is shown as NaN
           for c, a, b, h in zip(tips["change"], tips["from_value"], tips["to_value"], tips[HASH])]
    assert sorted(got, key=lambda r: (r[0], r[1] or 0, r[3])) == [
        ("converts", 5e9, 1e10, 30), ("converts", 5e9, 1e10, 40),
        ("stops converting", None, 5e9, 30), ("stops converting", None, 5e9, 40)]
    table = heatmap_table(out, HASH, key)
    assert list(table.index) == values and table.loc[5e9].tolist() == [30.0, 40.0]
    assert planner.tipping_points(out, HASH, at={key: None}).empty
    assert heatmap_table(out, HASH, key, at={key: 5e9}).dropna(how="all").index.tolist() == [5e9]


def test_the_appender_writes_one_header_rows_as_given_and_empty_cells_for_missing_numbers(tmp_path, monkeypatch):
    import planner.sweeps.sweep as sweep_mod

    synced = []
    monkeypatch.setattr(sweep_mod.os, "fsync", lambda fd: synced.append(fd))
    columns = ["id", "k", *sweep_mod.RESULT_COLUMNS]
    first = sweep_mod.Appender(tmp_path, columns)
    row = ["a1", "1.5", "optimal", None, 12.25, 3.0, float("nan"), 0.0, 2, 4, 0.05, True]
    first.add([["a1", "s1", 1.0, 0.0, 0.0, True, "ai_lease", 7.5], ["a1", "s2", 0.0, 0.0, 2.0, False, "mining", -1.0]],
              [sweep_mod.csv_cell(v) for v in row])
    first.close()
    assert len(synced) == 2  # both files forced to disk on close
    again = sweep_mod.Appender(tmp_path, columns)  # a resumed sweep appends, with no second header
    again.add([["b2", "s1", 0.5, 0.5, 0.0, True, "ai_cloud", 1.0]], [sweep_mod.csv_cell(v) for v in ["b2", "2", "infeasible", "no room, at all",
                                                                                 *[None] * 8]])
    again.close()
    lines = (tmp_path / "results.csv").read_text().splitlines()
    assert lines == [",".join(columns), "a1,1.5,optimal,,12.25,3.0,,0.0,2,4,0.05,True",
                     'b2,2,infeasible,"no room, at all",,,,,,,,']
    sites = pd.read_csv(tmp_path / "sites.csv")
    assert list(sites.columns) == sweep_mod.SITE_COLUMNS
    assert sites["ai_mw"].tolist() == [1.0, 0.0, 0.5] and sites["converted"].tolist() == [True, False, True]
    assert sites["path"].tolist() == ["ai_lease", "mining", "ai_cloud"] and sites["ai_cloud_mw"].tolist() == [0, 0, 0.5]
