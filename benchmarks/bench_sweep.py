"""Sweep benchmark: an economics-only sweep (hashprice x lease x discount rate) against a fresh
``planner solve`` of one of its scenarios, measured in the same run.

    python benchmarks/bench_sweep.py [--n 1000] [--workers 1,2]
    python benchmarks/bench_sweep.py --case us-2028 [--runs 10,50] [--workers 2]

``--case texas`` (the default): a Texas sweep of ``--n`` scenarios, rounded to a cube (n^(1/3)
values per key). Each sweep runs in a fresh ``planner sweep`` process (from its import to
summary.json), in a fresh directory. The peer is ``planner solve texas --set ...`` of the first
scenario in a fresh process (AC check off, as in sweeps). Printed: wall time per sweep,
per-scenario time, the ratio to the fresh solve, and the speed-up of N workers over one.

``--case us-2028``: us-2028 sweeps of each size in ``--runs`` (10: 5 hashprices x 2 lease rates
x 1 discount rate; 25: 5 x 5 x 1; 50: 5 x 5 x 2; 100: 5 x 5 x 4), each in a fresh ``planner
sweep`` process with ``--workers`` (default 2), against a fresh ``planner solve us-2028 --set
ac.check=false`` of the first scenario. While each process runs, its process tree is polled with
psutil every 0.2 s: the peak RSS of the ``planner`` process and of each worker process (its
children running ``multiprocessing.spawn``), and each worker's RSS when 10, 25 and 50 scenarios
have finished (rows of results.csv), so the table shows whether a worker's memory grows with the
number of scenarios. Printed: wall time, per-scenario time, the ratio to the fresh solve, status
counts, and those memory figures. A 0.2 s poll can miss a shorter peak.
"""

from __future__ import annotations

import csv
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

KEYS = {"economics.hashprice_usd_per_ph_day": (25.0, 60.0), "economics.ai_lease_usd_per_kw_month": (100.0, 260.0),
        "economics.discount_rate": (0.06, 0.14)}
#: us-2028: scenarios of a run -> values per key (in the order of KEYS)
US_SHAPES = {10: (5, 2, 1), 25: (5, 5, 1), 50: (5, 5, 2), 100: (5, 5, 4)}
#: finished scenarios at which each worker's RSS is sampled
US_MARKS = (10, 25, 50)
POLL_S = 0.2


def _planner() -> str:
    exe = Path(sys.executable).with_name("planner")
    return str(exe) if exe.exists() else shutil.which("planner")


def _vary(counts: tuple[int, ...]) -> list[str]:
    vary = []
    for (key, (lo, hi)), per in zip(KEYS.items(), counts):
        values = np.round(np.linspace(lo, hi, per), 4)
        vary += ["--vary", f"{key}={','.join(f'{v:g}' for v in values)}"]
    return vary


def _first() -> list[str]:
    """``--set`` of the first scenario of every sweep here (the low end of each key)."""
    return [a for k, (lo, _) in KEYS.items() for a in ("--set", f"{k}={np.round(lo, 4):g}")]


def main(argv: list[str]) -> int:
    case = argv[argv.index("--case") + 1] if "--case" in argv else "texas"
    if case == "texas":
        return _texas(argv)
    if case == "us-2028":
        return _us_2028(argv)
    raise SystemExit(f"--case {case}: expected texas or us-2028")


def _texas(argv: list[str]) -> int:
    n = int(argv[argv.index("--n") + 1]) if "--n" in argv else 1000
    workers = [int(w) for w in (argv[argv.index("--workers") + 1] if "--workers" in argv else "1,2").split(",")]
    per = max(2, round(n ** (1 / 3)))
    vary = _vary((per,) * len(KEYS))
    total = per ** 3
    planner = _planner()
    scratch = Path(tempfile.mkdtemp(prefix="bench-sweep-"))
    try:
        t = time.perf_counter()
        res = subprocess.run([planner, "solve", "texas", "--out", str(scratch / "solve"), "-q",
                              "--set", "ac.check=false", *_first()],
                             capture_output=True, text=True, check=False)
        solve_s = time.perf_counter() - t
        if res.returncode != 0:
            raise SystemExit(res.stderr)
        rows = []
        for w in workers:
            out = scratch / f"sweep-{w}"
            t = time.perf_counter()
            res = subprocess.run([planner, "sweep", "texas", *vary, "--out", str(out), "-q", "--workers", str(w)],
                                 capture_output=True, text=True, check=False)
            wall = time.perf_counter() - t
            if res.returncode != 0:
                raise SystemExit(res.stderr)
            summary = json.loads((out / "summary.json").read_text())
            rows.append((w, wall, summary))
        print(f"\nTexas, economics-only sweep of {total} scenarios ({per} values each of {', '.join(KEYS)})\n")
        print("| workers | sweep wall | per scenario (wall / n) | mean solve inside | vs a fresh `planner solve` "
              f"({solve_s:.2f} s) | speed-up over 1 worker |")
        print("|---|---|---|---|---|---|")
        base = next((wall for w, wall, _ in rows if w == 1), None)
        for w, wall, s in rows:
            speed = f"{base / wall:.2f}x" if base else "-"
            print(f"| {w} | {wall:.1f} s | {wall / total:.3f} s | {s['mean_time_per_scenario_s']:.3f} s | "
                  f"{solve_s / (wall / total):.1f}x faster | {speed} |")
            print(f"  status: {s['status_counts']}")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return 0


# ----------------------------------------------------------------------------- us-2028


def _finished(results: Path | None) -> int:
    """Rows of results.csv (a quoted reason may hold a newline: read as CSV, not as lines)."""
    if results is None or not results.exists():
        return 0
    try:
        with results.open(newline="", encoding="utf-8") as f:
            return max(0, sum(1 for _ in csv.reader(f)) - 1)
    except (OSError, csv.Error, UnicodeDecodeError):  # a row being written: counted at the next poll
        return 0


def _is_worker(proc) -> bool:
    import psutil

    try:
        return any("multiprocessing.spawn" in a for a in proc.cmdline())
    except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
        return False


def _run_polled(cmd: list[str], log: Path, results: Path | None = None, marks: tuple[int, ...] = ()) -> dict:
    """Run ``cmd`` to its end, polling its process tree every POLL_S seconds: wall time, return
    code, the peak RSS of the process and of each worker (by pid, in the order they appeared),
    and each live worker's RSS when ``results`` first has at least m rows, for m in ``marks``."""
    import psutil

    with log.open("w") as err:
        t = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=err, stderr=subprocess.STDOUT)
        main = psutil.Process(proc.pid)
        peak_main = 0
        peak: dict[int, int] = {}  # worker pid -> peak RSS
        last: dict[int, int] = {}  # worker pid -> last RSS seen
        at: dict[int, dict[int, int]] = {}  # mark -> {worker pid: RSS}
        at_main: dict[int, int] = {}  # mark -> RSS of the process
        rss_main = 0
        late: set[int] = set()  # marks taken from the last RSS seen (no worker alive when reached)
        polls = 0
        while True:
            running = proc.poll() is None
            live: dict[int, int] = {}
            if running:
                try:
                    rss_main = main.memory_info().rss
                    peak_main = max(peak_main, rss_main)
                    children = main.children(recursive=True)
                except (psutil.NoSuchProcess, psutil.ZombieProcess):
                    children = []
                for c in children:
                    if c.pid not in peak and not _is_worker(c):
                        continue
                    try:
                        rss = c.memory_info().rss
                    except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
                        continue
                    live[c.pid] = rss
                    peak[c.pid] = max(peak.get(c.pid, 0), rss)
                    last[c.pid] = rss
                polls += 1
            done = _finished(results)
            for m in marks:
                if m not in at and done >= m:
                    at[m] = dict(live) if live else dict(last)
                    at_main[m] = rss_main
                    if not live:
                        late.add(m)
            if not running:
                break
            time.sleep(POLL_S)
        wall = time.perf_counter() - t
    return {"wall": wall, "rc": proc.returncode, "peak_main": peak_main, "peak": peak, "at": at, "at_main": at_main, "late": late,
            "polls": polls, "finished": done}


def _gb(b: int | None) -> str:
    return "-" if b is None else f"{b / 1e9:.2f} GB"


def _us_2028(argv: list[str]) -> int:
    runs = [int(n) for n in (argv[argv.index("--runs") + 1] if "--runs" in argv else "10,50").split(",")]
    workers = [int(w) for w in (argv[argv.index("--workers") + 1] if "--workers" in argv else "2").split(",")]
    bad = [n for n in runs if n not in US_SHAPES]
    if bad:
        raise SystemExit(f"--runs {bad}: expected some of {', '.join(map(str, US_SHAPES))}")
    planner = _planner()
    scratch = Path(tempfile.mkdtemp(prefix="bench-sweep-us-"))
    try:
        solve = _run_polled([planner, "solve", "us-2028", "--out", str(scratch / "solve"), "-q",
                             "--set", "ac.check=false", *_first()], scratch / "solve.log")
        if solve["rc"] != 0:
            raise SystemExit((scratch / "solve.log").read_text())
        rows = []
        for w in workers:
            for n in runs:
                out = scratch / f"sweep-{w}-{n}"
                r = _run_polled([planner, "sweep", "us-2028", *_vary(US_SHAPES[n]), "--out", str(out), "-q",
                                 "--workers", str(w)], scratch / f"sweep-{w}-{n}.log", out / "results.csv",
                                tuple(m for m in US_MARKS if m <= n))
                if r["rc"] != 0:
                    raise SystemExit((scratch / f"sweep-{w}-{n}.log").read_text())
                r["summary"] = json.loads((out / "summary.json").read_text())
                rows.append((w, n, r))
        solve_s = solve["wall"]
        shapes = "; ".join(f"{n}: {' x '.join(map(str, US_SHAPES[n]))}" for n in runs)
        print(f"\nus-2028, economics-only sweeps ({', '.join(KEYS)}; values per key: {shapes}), "
              f"each a fresh `planner sweep` process; a fresh `planner solve us-2028 --set ac.check=false`: "
              f"{solve_s:.1f} s, peak RSS {_gb(solve['peak_main'])}\n")
        print(f"| scenarios | workers | sweep wall | per scenario (wall / n) | mean solve inside | "
              f"vs a fresh `planner solve` ({solve_s:.1f} s) | status |")
        print("|---|---|---|---|---|---|---|")
        for w, n, r in rows:
            s = r["summary"]
            status = ", ".join(f"{k} {v}" for k, v in s["status_counts"].items())
            print(f"| {n} | {w} | {r['wall']:.1f} s | {r['wall'] / n:.3f} s | {s['mean_time_per_scenario_s']:.3f} s | "
                  f"{solve_s / (r['wall'] / n):.1f}x faster | {status} |")
        marks = [m for m in US_MARKS if m <= max(runs)]
        print("\nPeak RSS (polled every 0.2 s) and RSS after m finished scenarios (rows of results.csv)\n")
        print("| scenarios | workers | process | peak RSS | " + " | ".join(f"RSS after {m}" for m in marks) + " |")
        print("|---|---|---|---|" + "---|" * len(marks))
        for w, n, r in rows:
            cells = ["-" if m > n else _gb(r["at_main"][m]) if m in r["at_main"] else "not sampled" for m in marks]
            print(f"| {n} | {w} | main (`planner sweep`) | {_gb(r['peak_main'])} | " + " | ".join(cells) + " |")
            for k, pid in enumerate(r["peak"], 1):
                cells = []
                for m in marks:
                    if m > n:
                        cells.append("-")
                    elif m not in r["at"]:
                        cells.append("not sampled")
                    elif pid not in r["at"][m]:
                        cells.append("(not alive)")
                    else:
                        cells.append(_gb(r["at"][m][pid]) + (" (last seen)" if m in r["late"] else ""))
                print(f"| {n} | {w} | worker {k} (pid {pid}) | {_gb(r['peak'][pid])} | " + " | ".join(cells) + " |")
        for w, n, r in rows:
            notes = [f"{r['polls']} polls"]
            if len(r["peak"]) > w > 1:
                notes.append(f"{len(r['peak'])} worker processes seen for {w} workers: a worker was restarted")
            if r["finished"] != n:
                notes.append(f"{r['finished']} rows in results.csv for {n} scenarios")
            print(f"  {n} scenarios, {w} workers: " + "; ".join(notes))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
