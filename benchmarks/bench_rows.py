"""Memory and time per network coefficient: network rows as arrays against PuLP rows.

    python benchmarks/bench_rows.py [--grid texas] [--candidates 2000] [--rows 2000]

The network rows of a plan are ``base + S[l] @ x`` within the branch limit, one per branch (and
outage, state, side) that the lazy loop adds, with a coefficient per candidate bus. planner holds
them as :class:`planner.model.NetRow` arrays and hands them to HiGHS with one ``addRows``; the
engine before held each coefficient in a PuLP expression, handed over from it. Both are measured
here in the same run, each in a fresh process (its own peak memory), on the same rows: the
sensitivities of ``--rows`` monitored branches of the grid to ``--candidates`` candidate buses
(the first buses of 115 kV and above, greenfield sites of 100 MW; Texas has 1,551), the rows' two
sides.

Printed per engine: seconds to build the rows, seconds to hand them to HiGHS, bytes per
coefficient held in Python (tracemalloc, after the hand-over) and the process's resident memory
growth per coefficient (Python and HiGHS's own copy).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

CHILD = r"""
import json, resource, time, tracemalloc, warnings
warnings.simplefilter("ignore")
import numpy as np, pandas as pd, pulp
import planner
from planner.optimization import model as mdl
from planner.network import sensitivity as sens
from planner.optimization.live import LiveModel

def rss_mb():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096 / 2**20

g = planner.load_grid({grid!r})
model = sens.dc_model(g, "headroom")
buses = g.buses[g.buses["kv"] >= 115].index.to_numpy()[:{candidates}]
sites = pd.DataFrame({{"site_id": [f"s{{b}}" for b in buses], "bus": buses, "poi_mw": 100.0, "status": "mapped",
                       "current_use": "development", "bus_interconnect": "grid"}})
params = planner.Params(mining_firm_share=1.0, ai_firm_share=1.0, offpeak_load_factor=1.0)
cand = mdl.candidates(sites, params)
mon = np.flatnonzero(model.monitored)[:{rows}]
S = -sens.ptdf(model, cand.buses, rows=mon)       # rows x candidates
base = model.flow_mw[mon]
limit = np.maximum(model.rate_mw[mon], np.abs(base))
built = mdl.build(cand, params)
live = LiveModel(built.prob, {{"threads": 1}})
n_coef = 2 * S.shape[0] * S.shape[1]
keys = [[("n-0", "peak", int(i), side) for i in range(len(mon))] for side in (1, -1)]
tracemalloc.start()
m0, r0 = tracemalloc.get_traced_memory()[0], rss_mb()
t = time.perf_counter()
if {engine!r} == "arrays":
    for k in keys:
        mdl.add_rows(built, k, S, base, limit, "peak")
    build_s = time.perf_counter() - t
    t = time.perf_counter()
    live.add_net_rows(built.pending)
    built.pending = []
else:  # the engine before: a PuLP expression per row, handed over from PuLP
    load = built.loads["peak"]
    for k in keys:
        for i, key in enumerate(k):
            c = S[i]
            nz = np.flatnonzero(np.abs(c) > 1e-12)
            expr = pulp.LpAffineExpression(list(zip([load[j] for j in nz], c[nz].tolist())))
            rhs = float(limit[i] - base[i]) if key[-1] > 0 else float(-limit[i] - base[i])
            con = pulp.LpConstraint(expr, pulp.LpConstraintLE if key[-1] > 0 else pulp.LpConstraintGE,
                                    f"net_{{len(built.rows)}}", rhs)
            built.prob += con
            built.rows[key] = con
    build_s = time.perf_counter() - t
    t = time.perf_counter()
    live.sync()
hand_s = time.perf_counter() - t
held = tracemalloc.get_traced_memory()[0] - m0
tracemalloc.stop()
print(json.dumps({{"engine": {engine!r}, "coefficients": n_coef, "rows": int(S.shape[0]), "candidates": int(S.shape[1]), "build_s": build_s, "hand_over_s": hand_s,
                   "python_bytes_per_coef": held / n_coef, "rss_bytes_per_coef": (rss_mb() - r0) * 2**20 / n_coef,
                   "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}}))
"""


def run(engine: str, args) -> dict:
    code = CHILD.format(engine=engine, grid=args.grid, candidates=args.candidates, rows=args.rows)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--grid", default="texas")
    ap.add_argument("--candidates", type=int, default=2000)
    ap.add_argument("--rows", type=int, default=2000)
    args = ap.parse_args()
    ours, peer = run("arrays", args), run("pulp", args)
    print(f"{args.grid}: {ours['coefficients']:,} coefficients ({ours['rows']:,} branches x 2 sides x "
          f"{ours['candidates']:,} candidate buses)")
    print(f"{'engine':<22}{'build s':>9}{'hand-over s':>13}{'B/coef (Python)':>17}{'B/coef (RSS)':>14}{'peak MB':>9}")
    for r, name in ((ours, "arrays (planner)"), (peer, "PuLP rows (before)")):
        print(f"{name:<22}{r['build_s']:>9.2f}{r['hand_over_s']:>13.2f}{r['python_bytes_per_coef']:>17.1f}"
              f"{r['rss_bytes_per_coef']:>14.1f}{r['peak_mb']:>9,.0f}")
    print(f"ratio (before / planner): build {peer['build_s'] / ours['build_s']:.1f}x, "
          f"Python memory {peer['python_bytes_per_coef'] / ours['python_bytes_per_coef']:.1f}x")


if __name__ == "__main__":
    main()
