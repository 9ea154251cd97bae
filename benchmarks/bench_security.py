"""N-1 on the Texas scenario: `planner solve texas --n-1` end to end in a fresh process,
the lazy N-1 rows it needed against the full branch x outage count, and two peers
measured in the same run:

* brute-force N-1 of the written allocation with pandapower: take each outage out
  and run ``rundcpp`` (timed on a sample of outages, extrapolated to all of them);
* pandapower's own dense ``makePTDF`` + ``makeLODF`` on the same grid, against
  planner's LODF columns (``planner.network.security.Contingencies``, chunked solves of one LU).

* ``planner hosting --grid texas --n-1`` at the default emergency factor 1.2 and at 1.0
  (where every pair with a nonzero LODF could bind before an N-0 limit), each in a fresh
  process: wall time, peak RSS and the ratio of the two.

    python benchmarks/bench_security.py [--sample 20] [--hosting-only]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

BRUTE = """
import json, sys, time, warnings
warnings.simplefilter("ignore")
import numpy as np, pandapower as pp
net = pp.from_json(sys.argv[1])
outages = json.loads(sys.argv[2])
t = time.perf_counter()
for element, index in outages:
    net[element].at[index, "in_service"] = False
    pp.rundcpp(net, numba=False)
    net[element].at[index, "in_service"] = True
print((time.perf_counter() - t) / len(outages))
"""


def lodf_peer() -> tuple[float, float, float]:
    """Seconds for planner's LODF columns and for pandapower's dense makePTDF + makeLODF, and the
    largest difference between the two on the non-islanding outages (single slack)."""
    import numpy as np

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from pandapower.pypower.makeLODF import makeLODF
        from pandapower.pypower.makePTDF import makePTDF

    from planner.data.grid import load_grid
    from planner.network import sensitivity as sens
    from planner.network.security import Contingencies

    grid = load_grid("texas")
    model = sens.dc_model(grid, "single")
    mon = np.flatnonzero(model.monitored)
    t = time.perf_counter()
    cont = Contingencies(model, mon, 1.2)
    ours = time.perf_counter() - t
    from pandapower.auxiliary import _add_auxiliary_elements, _clean_up, _init_rundcpp_options
    from pandapower.pd2ppc import _pd2ppc

    net = grid.net
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _init_rundcpp_options(net, trafo_model="t", trafo_loading="current", recycle=None, check_connectivity=True,
                              switch_rx_ratio=2, trafo3w_losses="hv", numba=False)
        n_gen = len(net.gen)
        _add_auxiliary_elements(net)
        _, ppci = _pd2ppc(net)
        _clean_up(net, res=False)
        net.gen = net.gen.iloc[:n_gen]
        t = time.perf_counter()
        ptdf = makePTDF(ppci["baseMVA"], ppci["bus"], ppci["branch"], using_sparse_solver=True)
        lodf = makeLODF(ppci["branch"], ptdf)
        peer = time.perf_counter() - t
    k = mon[cont.outages]
    diff = np.nanmax(np.abs(lodf[np.ix_(mon, k)] - cont.cache)[np.arange(len(mon))[:, None] != cont.outages[None, :]])
    return ours, peer, float(diff)


def _run_measured(cmd: list[str]) -> tuple[float, float, str]:
    """Wall seconds, peak RSS (MB) of this one child process, and its stderr."""
    with tempfile.TemporaryFile("w+") as err:
        t = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=err, text=True)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t
        proc.returncode = os.waitstatus_to_exitcode(status)
        err.seek(0)
        text = err.read()
    if proc.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed: {text.strip()}")
    return wall, usage.ru_maxrss / 1024, text


def hosting_factors(grid: str = "texas") -> None:
    """planner hosting --n-1 at emergency factor 1.2 and 1.0 (each in a fresh process, with its
    map written): time, memory and the N-1 pairs kept, and the ratio 1.0 / 1.2."""
    runs = {}
    with tempfile.TemporaryDirectory() as tmp:
        for factor in ("1.2", "1.0"):
            cmd = [sys.executable, "-m", "planner", "-v", "hosting", "--grid", grid, "--n-1",
                   "--emergency-rating-factor", factor, "--out", str(Path(tmp) / factor)]
            wall, peak, err = _run_measured(cmd)
            kept = re.search(r"triples, ([\d,]+) evaluated first .*?then ([\d,]+) kept", err)
            pairs = f"{kept.group(1)} + {kept.group(2)} pair-bus evaluations" if kept else "pairs: ?"
            runs[factor] = (wall, peak)
            print(f"planner hosting --grid {grid} --n-1 --emergency-rating-factor {factor}: {wall:.1f} s wall, "
                  f"peak {peak:.0f} MB ({pairs})")
    (w12, m12), (w10, m10) = runs["1.2"], runs["1.0"]
    print(f"  factor 1.0 / 1.2: {w10 / w12:.2f}x time, {m10 / m12:.2f}x peak memory (target <= 3x each)")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sample", type=int, default=20, help="outages timed for the brute-force peer")
    ap.add_argument("--hosting-only", action="store_true", help="only the N-1 hosting runs at factor 1.2 and 1.0")
    args = ap.parse_args()
    hosting_factors()
    if args.hosting_only:
        return
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "run"
        # peak RSS of this child alone (RUSAGE_CHILDREN would be the largest of every child so far)
        wall, peak, _ = _run_measured([sys.executable, "-m", "planner", "solve", "texas", "--n-1", "--out", str(out),
                                       "-q"])
        s = json.loads((out / "summary.json").read_text())
        n1 = s["n_1"]
        rows = s["network"]["lazy_rows_by_kind"]
        n1_rows = sum(v for k, v in rows.items() if k.startswith("n-1"))
        print(f"planner solve texas --n-1: {wall:.1f} s wall, peak {peak:.0f} MB (target <= 60 s)")
        print(f"  contingencies {n1['contingencies_checked']:,} (+{n1['radial_branches_not_outaged']} radial "
              f"listed), branch x outage pairs checked per round {n1['branch_outage_pairs_checked']:,}")
        print(f"  lazy rows: {s['lazy_rows_added']:,} in all, {n1_rows:,} N-1 rows = "
              f"{n1_rows / n1['branch_outage_pairs_checked']:.2e} of the full branch x outage x state block")
        print("  timings: " + ", ".join(f"{k} {v:.2f}" for k, v in s["timings_s"].items()))
        # brute force: each outage out of the allocated peak case, one rundcpp each
        import pandas as pd

        from planner.data.grid import load_grid

        grid = load_grid("texas")
        branches = pd.read_csv(out / "branches.csv").set_index("branch_id")
        radial = set(n1["radial_branch_ids"])
        ids = [b for b in branches.index[branches["monitored"]] if b not in radial][:: max(1, 2756 // args.sample)]
        outages = [[grid.branches.loc[b, "element"], int(grid.branches.loc[b, "element_index"])]
                   for b in ids[: args.sample]]
        peer = subprocess.run([sys.executable, "-c", BRUTE, str(out / "case.json"), json.dumps(outages)],
                              capture_output=True, text=True, check=True)
        per = float(peer.stdout.strip().splitlines()[-1])
        total = per * n1["contingencies_checked"] * len(s["states"])
        print(f"  peer: brute-force N-1 check with rundcpp, {per:.3f} s per outage (timed on {len(outages)}), "
              f"~{total:.0f} s for all outages in {len(s['states'])} states, once; the whole N-1 solve is "
              f"{total / wall:.0f}x faster than one brute-force check of one allocation")
    ours, dense, diff = lodf_peer()
    print(f"LODF of Texas: planner {ours:.2f} s, pandapower makePTDF + makeLODF (dense) {dense:.2f} s, "
          f"ratio {dense / ours:.1f}x; largest difference {diff:.1e}")


if __name__ == "__main__":
    main()
