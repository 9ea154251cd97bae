"""The scale curve: `planner.plan` N-0 and N-1 on Texas, Western, Eastern and usa with 100, 500
and 2,000 synthetic candidate sites.

Each case runs in a fresh process, so its peak RSS (ru_maxrss of that process: imports, the
grid, the DC model, the LODF and the MILP) is its own. Candidates are drawn with a fixed seed
from buses at >= 115 kV (``bench_engine.synthetic_sites``; half bitcoin sites, half
development sites, 50-400 MW each, no regional demand cap), so the grid and the site count are
the only things that change along the curve. Reported per case: the time to load the grid,
the wall time of `planner.plan`, the part of it spent on sensitivities (the DC model and, for
N-1, the LODF pass), the lazy rows, the outages checked (N-1), the served AI MW, and the
peak RSS. A case that has not finished after ``--timeout`` seconds is reported as such.

    python benchmarks/bench_scale.py [--grids texas,western,eastern,usa] [--sites 100,500,2000]
                                     [--security n-0,n-1] [--timeout 1800] [--json FILE]
    python benchmarks/bench_scale.py --table FILE       # the table of rows written with --json
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
import warnings
from pathlib import Path

warnings.simplefilter("ignore")


def case(grid_name: str, n_sites: int, security: str) -> dict:
    sys.path.insert(0, str(Path(__file__).parent))
    from bench_engine import synthetic_sites

    import planner

    t = time.perf_counter()
    grid = planner.load_grid(grid_name)
    load_s = time.perf_counter() - t
    sites = synthetic_sites(grid, n_sites, seed=11)
    t = time.perf_counter()
    r = planner.plan(grid, sites, planner.Params(security=security))
    wall = time.perf_counter() - t
    s = r.summary
    n_1 = s.n_1 or {}
    return {
        "grid": grid_name, "sites": n_sites, "security": security, "buses": len(grid.buses),
        "status": r.status, "grid_load_s": round(load_s, 1), "plan_s": round(wall, 1),
        "sensitivities_s": round(s.timings_s.get("sensitivities", 0.0), 1),
        "solve_s": round(s.timings_s.get("solve", 0.0), 1),
        "lazy_rows": s.network["lazy_rows_added"],
        "outages_checked": n_1.get("contingencies_checked"),
        "served_ai_mw": round(s.served_ai_mw), "candidate_buses": int(sites["bus"].nunique()),
        "peak_rss_gb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 2),
    }


def planner_time_limit() -> float:
    from planner.config.scenario import setting_default

    return float(setting_default("time_limit_s"))


def failure(returncode: int, stderr: str) -> str:
    """What a case that ended without a result found: no solution in the time limit, killed by the
    kernel (SIGKILL: on Linux, the out-of-memory killer), or a failure."""
    last = stderr.strip().splitlines()[-1] if stderr.strip() else ""
    if "SolverError" in last and "without a solution" in last:
        return f"no solution within the {planner_time_limit():.0f} s time limit"
    if returncode == -9:
        mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
        return f"killed: out of memory ({mem:.0f} GB machine)"
    return "failed"


def run_case(grid_name: str, n_sites: int, security: str, timeout: float) -> dict:
    head = {"grid": grid_name, "sites": n_sites, "security": security}
    t = time.perf_counter()
    try:
        proc = subprocess.run([sys.executable, __file__, "--case", grid_name, str(n_sites), security],
                              capture_output=True, text=True, check=False, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {**head, "status": f"not finished after {timeout:.0f} s"}
    if proc.returncode != 0:
        return {**head, "status": failure(proc.returncode, proc.stderr), "returncode": proc.returncode,
                "error": proc.stderr[-2000:], "process_s": round(time.perf_counter() - t, 1)}
    return {**json.loads(proc.stdout.strip().splitlines()[-1]), "process_s": round(time.perf_counter() - t, 1)}


def table(rows: list[dict]) -> str:
    head = ("| grid | sites | security | status | plan s | of which sensitivities s | lazy rows | outages checked "
            "| served AI MW | peak RSS GB |\n|---|---|---|---|---|---|---|---|---|---|")
    lines = [head]
    for r in rows:
        if "plan_s" not in r:
            lines.append(f"| {r['grid']} | {r['sites']:,} | {r['security']} | {r['status']} | | | | | | |")
            continue
        out = f"{r['outages_checked']:,}" if r["outages_checked"] else ""
        status = r["status"].replace("_", " ")   # optimal, or time limit: the best allocation found then
        lines.append(f"| {r['grid']} | {r['sites']:,} | {r['security']} | {status} | {r['plan_s']:,.1f} | "
                     f"{r['sensitivities_s']:,.1f} | {r['lazy_rows']:,} | {out} | {r['served_ai_mw']:,} | "
                     f"{r['peak_rss_gb']:.2f} |")
    return "\n".join(lines)


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--case":
        print(json.dumps(case(sys.argv[2], int(sys.argv[3]), sys.argv[4])))
        return
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--grids", default="texas,western,eastern,usa")
    ap.add_argument("--sites", default="100,500,2000")
    ap.add_argument("--security", default="n-0,n-1")
    ap.add_argument("--timeout", type=float, default=1800.0, help="seconds per case")
    ap.add_argument("--json", type=Path, help="also write the rows to this file")
    ap.add_argument("--table", type=Path, help="print the table of rows written before with --json, and stop")
    args = ap.parse_args()
    if args.table:
        print(table(json.loads(args.table.read_text())))
        return
    rows = []
    for grid_name in args.grids.split(","):
        for security in args.security.split(","):
            for n in (int(x) for x in args.sites.split(",")):
                row = run_case(grid_name, n, security, args.timeout)
                rows.append(row)
                print(json.dumps(row), flush=True)
                if args.json:
                    args.json.write_text(json.dumps(rows, indent=1))
    print()
    print(table(rows))


if __name__ == "__main__":
    main()
