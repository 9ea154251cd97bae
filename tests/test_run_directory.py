"""Run directories: nothing lost, nothing clobbered (two runs racing for one --out, a run
killed while writing, an --out that cannot be written, the user's umask)."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from planner import io
from planner.core.errors import InputError
from planner.run import prepare as prepare_module

REPO = Path(__file__).resolve().parent.parent
# the Texas scenario without the slow extras: a few seconds per run
FAST = ["--set", "output.map_png=false", "--set", "output.map_html=false", "--set", "output.case_json=false",
        "--set", "ac.check=false", "--set", "solver.existing_load_check=false"]


def solve(out: Path, *extra, umask: int | None = None, wait: bool = True):
    cmd = [sys.executable, "-m", "planner", "solve", "texas", "--out", str(out), "-q", *FAST, *extra]
    kw = {"preexec_fn": (lambda: os.umask(umask))} if umask is not None else {}
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)
    if not wait:
        return proc
    out_text, err = proc.communicate(timeout=600)
    return proc.returncode, out_text, err


def leftovers(parent: Path) -> list[str]:
    return sorted(p.name for p in parent.iterdir() if p.name.startswith("."))


def test_second_claim_of_a_directory_is_refused_while_the_first_runs(tmp_path):
    first = io.claim_run(tmp_path / "run")
    try:
        with pytest.raises(InputError, match="another planner run .* is writing this directory"):
            io.claim_run(tmp_path / "run")
    finally:
        io.release_run(first)
    assert leftovers(tmp_path) == []
    second = io.claim_run(tmp_path / "run")  # free again once the first is done
    io.release_run(second)


def test_two_solves_racing_for_one_out_exactly_one_wins(tmp_path):
    out = tmp_path / "same"
    procs = [solve(out, wait=False) for _ in range(2)]
    results = [(p.wait(timeout=600), p.stdout.read(), p.stderr.read()) for p in procs]
    codes = sorted(code for code, _, _ in results)
    assert codes == [0, 2], results
    loser = next(err for code, _, err in results if code == 2)
    assert loser.startswith("error: ") and len(loser.strip().splitlines()) == 1
    assert "another planner run" in loser or "already exists" in loser
    files = {p.name for p in out.iterdir()}
    assert {"summary.json", "allocation.csv", "branches.csv", "buses.csv", "scenario.yaml"} <= files
    assert json.loads((out / "summary.json").read_text())["status"] == "optimal"
    assert leftovers(tmp_path) == []


def test_killed_run_leaves_a_partial_directory_that_the_next_run_removes(tmp_path):
    proc = solve(tmp_path / "killed", wait=False)
    deadline = time.monotonic() + 120
    partial = []
    while time.monotonic() < deadline and not partial:
        partial = [p for p in tmp_path.iterdir() if p.name.endswith(".partial")]
        time.sleep(0.05)
    assert partial, "the run never created its temporary directory"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=60)
    left = leftovers(tmp_path)
    assert any(n.endswith(".partial") for n in left) and any(n.endswith(".lock") for n in left)
    assert not (tmp_path / "killed").exists()
    # a later run into the same parent (here: the same --out) cleans up after the dead one
    code, _, err = solve(tmp_path / "killed")
    assert code == 0, err
    assert leftovers(tmp_path) == []
    assert (tmp_path / "killed" / "summary.json").is_file()


def test_leftovers_of_a_live_run_are_kept(tmp_path):
    live = tmp_path / f".run.{io.host_name()}-{os.getpid()}.partial"
    dead_pid = 2**22 + 12345  # above the default pid_max: no such process
    dead = tmp_path / f".run.{io.host_name()}-{dead_pid}.partial"
    other_host = tmp_path / f".run.some-other-host-{dead_pid}.partial"
    for p in (live, dead, other_host):
        p.mkdir()
    removed = io.clean_leftovers(tmp_path)
    assert removed == [dead]
    assert live.is_dir() and other_host.is_dir() and not dead.exists()


def test_unwritable_out_fails_before_the_solve(tmp_path, monkeypatch, capsys):
    """A --out that cannot be created exits 2 before any grid is loaded."""
    def no_solve(*args, **kwargs):
        raise AssertionError("the scenario was solved before --out was checked")

    monkeypatch.setattr(prepare_module, "run", no_solve)
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    from planner.cli import main

    for out in (blocker / "run", Path("/proc/planner-cannot-write-here/run")):
        monkeypatch.setattr(sys, "argv", ["planner", "solve", "texas", "--out", str(out), "-q"])
        with pytest.raises(SystemExit) as exc:
            main()
        err = capsys.readouterr().err
        assert exc.value.code == 2, err
        assert err.startswith("error: ") and len(err.strip().splitlines()) == 1 and "--out" in err


def test_run_directory_gets_the_users_umask(tmp_path):
    code, _, err = solve(tmp_path / "shared", umask=0o002)
    assert code == 0, err
    assert (tmp_path / "shared").stat().st_mode & 0o777 == 0o775
    code, _, err = solve(tmp_path / "private", umask=0o077)
    assert code == 0, err
    assert (tmp_path / "private").stat().st_mode & 0o777 == 0o700


def test_resolved_scenario_reproduces_the_run(tmp_path):
    """scenario.yaml holds every field with its origin; solving it gives the same numbers."""
    import yaml

    first = tmp_path / "first"
    code, _, err = solve(first, "--set", "economics.hashprice_usd_per_ph_day=30", "--set",
                         "demand.requests.2.mw=500")
    assert code == 0, err
    text = (first / "scenario.yaml").read_text()
    data = yaml.safe_load(text)
    assert data["economics"]["hashprice_usd_per_ph_day"] == 30
    assert data["economics"]["discount_rate"] == 0.08  # a default, written out
    assert data["demand"]["requests"][2]["mw"] == 500 and data["extends"] is None
    lines = {line.split(":")[0].strip(): line for line in text.splitlines()}
    assert lines["hashprice_usd_per_ph_day"].endswith("# --set economics.hashprice_usd_per_ph_day=30")
    assert lines["discount_rate"].endswith("# default (planner.Economics)")
    assert lines["available_mw"].endswith("texas.yaml")
    assert lines["power_factor"].endswith("# default")
    second = tmp_path / "second"
    code, _, err = solve_file(first / "scenario.yaml", second)
    assert code == 0, err
    a, b = (json.loads((d / "summary.json").read_text()) for d in (first, second))
    for key in ("objective_usd", "requested_ai_mw", "served_ai_mw", "unmet_ai_mw", "served_mining_mw",
                "converted_sites", "binding_branches", "max_branch_loading_percent", "lazy_rows_added"):
        assert a[key] == b[key], key
    assert a["regions"] == b["regions"]


def solve_file(scenario: Path, out: Path):
    proc = subprocess.run([sys.executable, "-m", "planner", "solve", str(scenario), "--out", str(out), "-q"],
                          capture_output=True, text=True, timeout=600, check=False)
    return proc.returncode, proc.stdout, proc.stderr


# --------------------------------------------------------------------------- hosting and sites check: the same rules

# the smallest grid: pandapower's case9 (a second or two per run in this process)
WRITERS = {
    "hosting": (["hosting", "--grid", "case9"], {"buses.csv", "buses.geojson", "hosting.png", "hosting.html"}),
    "sites-check": (["sites", "check", "--grid", "case9"], {"mapped_sites.csv", "mapped_sites.geojson"}),
}


def planner_main(monkeypatch, capsys, *argv) -> tuple[int, str, str]:
    from planner.cli import main

    monkeypatch.setattr(sys, "argv", ["planner", "--quiet", *argv])
    try:
        main()
        code = 0
    except SystemExit as exc:
        code = exc.code
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def existing_out(parent: Path) -> Path:
    out = parent / "out"
    out.mkdir()
    (out / "sentinel.txt").write_text("keep me")
    return out


@pytest.mark.parametrize("command", WRITERS)
def test_existing_out_is_refused_before_the_work_and_kept(command, tmp_path, monkeypatch, capsys):
    import planner.cli

    def no_grid(*args, **kwargs):
        raise AssertionError("the grid was loaded before --out was checked")

    monkeypatch.setattr(planner.cli, "load_grid_with_progress", no_grid)
    out = existing_out(tmp_path)
    argv, _ = WRITERS[command]
    code, _, err = planner_main(monkeypatch, capsys, *argv, "--out", str(out))
    assert code == 2, err
    assert err.startswith("error: ") and len(err.strip().splitlines()) == 1
    assert str(out) in err and "already exists" in err and "--force" in err
    assert sorted(p.name for p in out.iterdir()) == ["sentinel.txt"]
    assert (out / "sentinel.txt").read_text() == "keep me"
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize("command", WRITERS)
def test_force_replaces_an_existing_out(command, tmp_path, monkeypatch, capsys):
    out = existing_out(tmp_path)
    argv, files = WRITERS[command]
    code, stdout, err = planner_main(monkeypatch, capsys, *argv, "--out", str(out), "--force")
    assert code == 0, err
    assert {p.name for p in out.iterdir()} == files  # the sentinel is gone: replaced, not merged
    assert f"wrote {out / sorted(files)[0]}" in stdout
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize("failure", [OSError(28, "No space left on device"), KeyboardInterrupt()],
                         ids=["disk-full", "ctrl-c"])
@pytest.mark.parametrize("command", WRITERS)
def test_failure_while_writing_leaves_no_partial_directory(command, failure, tmp_path, monkeypatch, capsys):
    """The CSV is written, then the GeoJSON fails: neither a new --out nor a --force'd one is touched."""
    import planner.io

    def broken(*args, **kwargs):
        raise failure

    monkeypatch.setattr(planner.io, "write_geojson", broken)
    argv, _ = WRITERS[command]
    fresh = tmp_path / "fresh"
    code, _, err = planner_main(monkeypatch, capsys, *argv, "--out", str(fresh))
    assert (code, err.strip()) == ((1, "error: [Errno 28] No space left on device") if isinstance(failure, OSError)
                                   else (130, "aborted"))
    assert not fresh.exists()
    out = existing_out(tmp_path)
    code, _, err = planner_main(monkeypatch, capsys, *argv, "--out", str(out), "--force")
    assert code in (1, 130), err
    assert sorted(p.name for p in out.iterdir()) == ["sentinel.txt"]  # the old directory, as it was
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]  # no temporary directory or lock left behind
