"""Whole-US N-1: `planner solve us-2028 --n-1` end to end in a fresh process, and a brute-force
check of the allocation it writes with pandapower.

1. The solve: wall time and peak RSS of the process, the LODF pass, the lazy rounds (rows
   added and time per check round, from the ``-v`` log), outages and pairs checked, and the
   N-0 answer of the same scenario next to it (served, unmet, binding rows by region).
2. The brute force (``--outages N``, default 200; 0 skips it): a random sample of
   non-islanding monitored branches, each taken out of the allocated case (``case.json``,
   ``case_offpeak.json``) and of the same state without new load, ``pandapower.rundcpp`` on
   both. No monitored branch may be over its emergency rating with the new load unless it
   already was without it; one that was may be worse only by what the DFAX cut-off lets
   through (loads whose distribution factor on it is below the cut-off: at most
   cut-off x the state's new MW).

    python benchmarks/bench_n1_usa.py [--outages 200] [--states peak,offpeak] [--run DIR]

``--run DIR`` reuses a run directory written by an earlier solve (skips step 1).
"""

from __future__ import annotations

import argparse
import copy
import itertools
import json
import re
import resource
import subprocess
import sys
import time
import warnings
from pathlib import Path

ROUND = re.compile(r"^\s*([\d.]+) s\s+lazy round (\d+) \((LP|MILP)\): (\d+) rows or branch-outage pairs over "
                   r"their limit, (\d+) rows added")
PASS = re.compile(r"N-1: ([\d,]+) outages .* \(([\d.]+) s\)$", re.MULTILINE)


def solve(out: Path, extra: list[str]) -> dict:
    """`planner solve us-2028` in a fresh process: wall, peak RSS of the child, the -v log."""
    t = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "planner", "solve", "us-2028", "-v", "--out", str(out), "--force",
                           *extra], check=False, capture_output=True, text=True)
    wall = time.perf_counter() - t
    if proc.returncode != 0:
        sys.exit(f"planner solve failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 2**20   # GB (the largest child so far)
    return {"wall_s": wall, "peak_rss_gb": rss, "log": proc.stdout + proc.stderr,
            "summary": json.loads((out / "summary.json").read_text())}


def rounds(log: str) -> list[tuple[float, int, str, int, int]]:
    return [(float(m[1]), int(m[2]), m[3], int(m[4]), int(m[5]))
            for m in (ROUND.match(line) for line in log.splitlines()) if m]


def region_table(summary: dict) -> dict:
    return {r: (v["served_ai_mw"], v["unmet_ai_mw"]) for r, v in summary["regions"].items()}


def brute_force(run: Path, n_outages: int, states: list[str], seed: int = 11) -> None:
    import numpy as np

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import pandapower as pp

    from planner.analysis.validate import run_dc
    from planner.data.grid import load_grid
    from planner.network import sensitivity as sens

    summary = json.loads((run / "summary.json").read_text())
    grid = load_grid("usa")
    model = sens.dc_model(grid)
    br = grid.branches
    mon_ids = model.branch_ids[model.monitored]
    radial = set(summary["n_1"]["radial_branch_ids"])
    rate = br["rate_mw"].reindex(mon_ids).to_numpy()
    factor = summary["n_1"]["emergency_rating_factor"]
    dfax = summary["network"].get("overload_dfax_cutoff", 0.05) or 0.0
    rng = np.random.default_rng(seed)
    sample = rng.choice([b for b in mon_ids.tolist() if b not in radial], n_outages, replace=False)
    print(f"\nbrute force: {n_outages} random outages of {len(mon_ids) - len(radial):,} non-islanding monitored "
          f"branches, pandapower rundcpp with and without the new load, states {', '.join(states)}")
    for state in states:
        name = "case.json" if state == "peak" else f"case_{state}.json"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            alloc = pp.from_json(str(run / name))
        info = summary["states"][state]
        # the same state without new load: the grid's loads x the state's factor, the model's base dispatch
        base = sens.scaled_loads(model, grid.net, info["base_load_factor"])
        without = copy.deepcopy(grid.net)
        if info["base_load_factor"] != 1.0:
            scaled = ~without.load["name"].fillna("").astype(str).str.startswith("dc tie")
            without.load.loc[scaled, ["p_mw", "q_mvar"]] *= info["base_load_factor"]
        g = base.gens[base.gens["gen"] >= 0]
        without.gen.loc[g["gen"].to_numpy(), "p_mw"] = g["p_mw"].to_numpy()
        new_mw = float(alloc.load.loc[alloc.load["name"].fillna("").str.startswith("planner new load"), "p_mw"].sum())
        t0 = time.perf_counter()
        new_over = worse = 0
        worst_gain = 0.0
        for i, k in enumerate(sample):
            row = br.loc[int(k)]
            flows = []
            for net in (alloc, without):
                net[row["element"]].at[row["element_index"], "in_service"] = False
                flows.append(run_dc(net, br).to_numpy())
                net[row["element"]].at[row["element_index"], "in_service"] = True
            fa, fb = (pd_flows[np.searchsorted(br.index.to_numpy(), mon_ids)] for pd_flows in flows)
            keep = mon_ids != k
            lim = factor * rate
            over = (np.abs(fa) > lim * (1 + 1e-6) + 1e-6) & keep
            was = np.abs(fb) > lim * (1 + 1e-9)
            new_over += int((over & ~was).sum())
            gain = (np.abs(fa) - np.abs(fb))[over & was]
            worse += int((gain > 1e-6).sum())
            worst_gain = max(worst_gain, float(gain.max(initial=0.0)))
            if (i + 1) % 50 == 0:
                print(f"  {state}: {i + 1} outages ({time.perf_counter() - t0:.0f} s)", flush=True)
        allowed = dfax * new_mw
        print(f"  {state}: {n_outages} outages x {len(mon_ids) - 1:,} monitored branches in "
              f"{time.perf_counter() - t0:.0f} s: {new_over} branch-outage pairs over their emergency rating "
              f"that were not without the new load; {worse} pairs already over got worse, by at most "
              f"{worst_gain:.3f} MW (the DFAX cut-off {dfax:g} x {new_mw:,.0f} MW of new load allows "
              f"{allowed:,.0f} MW)")
        if new_over or worst_gain > allowed:
            sys.exit(f"brute force ({state}): the allocation is not N-1 secure")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--outages", type=int, default=200)
    ap.add_argument("--states", default="peak,offpeak")
    ap.add_argument("--run", type=Path, help="a run directory of `planner solve us-2028 --n-1` to check")
    ap.add_argument("--out", type=Path, default=Path("runs/bench-n1-usa"))
    args = ap.parse_args()
    run = args.run
    if run is None:
        n0 = solve(args.out.with_name(args.out.name + "-n0"), [])
        n1 = solve(args.out, ["--n-1"])
        s0, s1 = n0["summary"], n1["summary"]
        lodf = PASS.search(n1["log"])
        r = rounds(n1["log"])
        print(f"planner solve us-2028 --n-1: {n1['wall_s']:.0f} s wall, peak RSS {n1['peak_rss_gb']:.2f} GB "
              f"(N-0: {n0['wall_s']:.0f} s)")
        n_1 = s1["n_1"]
        print(f"  outages checked {n_1['contingencies_checked']:,}, branch x outage pairs checked per round "
              f"{n_1['branch_outage_pairs_checked']:,} (both states), radial branches listed "
              f"{n_1['radial_branches_not_outaged']:,}, LODF pass {lodf[2] if lodf else '?'} s")
        print(f"  lazy rounds {len(r)}, rows added {s1['lazy_rows_added']:,} "
              f"({', '.join(f'{k} {v}' for k, v in s1['network']['lazy_rows_by_kind'].items())})")
        steps = [b[0] - a[0] for a, b in itertools.pairwise(r)]
        if steps:
            print(f"  time per lazy round (solve + check of every pair in both states): "
                  f"median {sorted(steps)[len(steps) // 2]:.1f} s, max {max(steps):.1f} s")
        for k, v in n_1["preexisting_overloads"].items():
            print(f"  {k}: {v['count']:,} pairs over their emergency rating without new load ({v['branches']:,} "
                  f"branches), {v['rows']:,} of them rows (a candidate's distribution factor >= the DFAX cut-off), "
                  f"{v['worsened']} worsened")
        print(f"\n{'region':<10} {'N-0 served':>11} {'N-1 served':>11} {'N-0 unmet':>10} {'N-1 unmet':>10}")
        a, b = region_table(s0), region_table(s1)
        for reg in a:
            print(f"{reg:<10} {a[reg][0]:>11,.0f} {b[reg][0]:>11,.0f} {a[reg][1]:>10,.0f} {b[reg][1]:>10,.0f}")
        print(f"{'total':<10} {s0['served_ai_mw']:>11,.0f} {s1['served_ai_mw']:>11,.0f} "
              f"{s0['unmet_ai_mw']:>10,.0f} {s1['unmet_ai_mw']:>10,.0f}")
        print(f"binding rows: N-0 {s0['network'].get('binding_rows')}; N-1 {s1['network'].get('binding_rows')}")
        run = args.out
    if args.outages:
        brute_force(run, args.outages, args.states.split(","))


if __name__ == "__main__":
    main()
