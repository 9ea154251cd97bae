"""Time `planner solve` on the shipped scenarios, end to end, each in a fresh process.

Peer, measured in the same run: one pandapower ``rundcpp`` of the allocated case the
solve wrote (``case.json``), i.e. what a single power-flow check of one candidate
allocation costs. The ratio says how many such checks the whole optimized run
(load, map, sensitivities, MILP with lazy rows, duals, validation, maps, files)
is worth.

    python benchmarks/bench_scenarios.py [texas us-2028 ...]
"""

from __future__ import annotations

import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PEER = """
import sys, time, warnings
warnings.simplefilter("ignore")
import pandapower as pp
net = pp.from_json(sys.argv[1])
t = time.perf_counter(); pp.rundcpp(net, numba=False); print(time.perf_counter() - t)
"""


def main(names: list[str]) -> None:
    print(f"{'scenario':<10} {'solve wall s':>12} {'peak MB':>9} {'rundcpp s':>10} {'ratio':>7}")
    for name in names:
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "run"
            before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
            t = time.perf_counter()
            res = subprocess.run([sys.executable, "-m", "planner", "solve", name, "--out", str(out), "-q"],
                                 capture_output=True, text=True, check=False)
            wall = time.perf_counter() - t
            peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
            if res.returncode != 0:
                print(f"{name}: failed: {res.stderr.strip()}")
                continue
            peer = subprocess.run([sys.executable, "-c", PEER, str(out / "case.json")], capture_output=True,
                                  text=True, check=True)
            dc = float(peer.stdout.strip().splitlines()[-1])
            mb = max(peak, before) / 1024
            print(f"{name:<10} {wall:12.1f} {mb:9.0f} {dc:10.2f} {wall / dc:7.0f}")


if __name__ == "__main__":
    main(sys.argv[1:] or ["texas", "us-2028"])
