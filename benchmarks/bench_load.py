"""Time and peak memory of loading the built-in grids, against a peer.

    python benchmarks/bench_load.py [--grids texas usa] [--repeat 3]

Each measurement runs in a fresh Python process, so its peak resident memory
(ru_maxrss, which includes the interpreter and imports) is its own. The peer
is pandapower's own route from the same tables to a net:
``pandapower.converter.from_ppc`` on the PYPOWER case built from the shipped
tables; both clocks include reading the shipped tables. The peer builds the
net only (and, as grids/README.md explains, a different one: it turns
unit-ratio transformers into impedance elements); planner also builds the bus
and branch GeoDataFrames. Targets (issue 2): usa <= 5 s and <= 2 GB,
texas <= 1 s.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys

OURS = r"""
import json, resource, time, warnings
warnings.simplefilter("ignore")
t0 = time.perf_counter()
from planner.data.grid import load_grid
t1 = time.perf_counter()
g = load_grid({name!r})
t2 = time.perf_counter()
print(json.dumps({{"import_s": t1 - t0, "load_s": t2 - t1, "buses": len(g.buses),
                   "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}}))
"""

PEER = r"""
import json, resource, time, warnings
warnings.simplefilter("ignore")
import numpy as np
from pandapower.converter.pypower import from_ppc
from planner.data.grid import BUILTIN_GRIDS, tamu_tables
t1 = time.perf_counter()
t = tamu_tables(BUILTIN_GRIDS[{name!r}][0])
bus, br, gen = t.bus, t.branch, t.gen
pos = {{b: i for i, b in enumerate(bus["bus_id"])}}
ppc = {{"version": "2", "baseMVA": 100.0}}
ppc["bus"] = np.c_[np.arange(len(bus)), bus["type"], bus["Pd"], bus["Qd"], bus["Gs"], bus["Bs"],
                   np.ones(len(bus)), np.ones(len(bus)), np.zeros(len(bus)), bus["baseKV"],
                   np.ones(len(bus)), bus["Vmax"], bus["Vmin"]].astype(float)
ppc["gen"] = np.c_[gen["bus_id"].map(pos), gen["Pg"], gen["Qg"], gen["Qmax"], gen["Qmin"], gen["Vg"],
                   np.full(len(gen), 100.0), gen["status"], gen["Pmax"], gen["Pmin"],
                   np.zeros((len(gen), 11))].astype(float)
ppc["branch"] = np.c_[br["from_bus_id"].map(pos), br["to_bus_id"].map(pos), br["r"], br["x"], br["b"],
                      br["rateA"], br["rateB"], br["rateC"], br["ratio"], br["angle"], br["status"],
                      np.full(len(br), -360.0), np.full(len(br), 360.0)].astype(float)
net = from_ppc(ppc, f_hz=60, validate_conversion=False)
t2 = time.perf_counter()
print(json.dumps({{"load_s": t2 - t1, "buses": len(net.bus),
                   "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}}))
"""


def measure(code: str, name: str, repeat: int) -> dict:
    runs = []
    for _ in range(repeat):
        res = subprocess.run([sys.executable, "-c", code.format(name=name)], capture_output=True,
                             text=True, check=True)
        runs.append(json.loads(res.stdout.strip().splitlines()[-1]))
    return {key: statistics.median(r[key] for r in runs) for key in runs[0]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--grids", nargs="+", default=["texas", "western", "usa"])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--no-peer", action="store_true", help="skip the from_ppc peer")
    args = parser.parse_args()
    print(f"{'grid':8} {'buses':>7} {'import_s':>9} {'load_s':>7} {'peak_MB':>8} "
          f"{'peer_load_s':>12} {'peer_peak_MB':>13} {'speedup':>8}")
    for name in args.grids:
        ours = measure(OURS, name, args.repeat)
        peer = None if args.no_peer else measure(PEER, name, 1 if name in ("usa", "eastern") else args.repeat)
        line = (f"{name:8} {int(ours['buses']):7d} {ours['import_s']:9.2f} {ours['load_s']:7.2f} "
                f"{ours['peak_mb']:8.0f}")
        if peer:
            line += (f" {peer['load_s']:12.2f} {peer['peak_mb']:13.0f} "
                     f"{peer['load_s'] / ours['load_s']:7.1f}x")
        print(line, flush=True)
    print("load_s: planner.load_grid (read shipped tables, build the pandapower net and the bus/branch "
          "GeoDataFrames); peer: read the same tables + pandapower from_ppc (net only). "
          "Medians of --repeat runs (peer: one run on usa/eastern).")


if __name__ == "__main__":
    main()
