"""Sweep benchmark: an economics-only Texas sweep (hashprice x lease x discount rate) against a
fresh ``planner solve`` of one of its scenarios, measured in the same run.

    python benchmarks/bench_sweep.py [--n 1000] [--workers 1,2]

``--n`` is rounded to a cube: n^(1/3) values per key. Each sweep runs in a fresh ``planner sweep``
process (from its import to summary.json), in a fresh directory. The peer is ``planner solve texas
--set ...`` of the first scenario in a fresh process (AC check off, as in sweeps). Printed: wall
time per sweep, per-scenario time, the ratio to the fresh solve, and the speed-up of N workers
over one.
"""

from __future__ import annotations

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


def _planner() -> str:
    exe = Path(sys.executable).with_name("planner")
    return str(exe) if exe.exists() else shutil.which("planner")


def main(argv: list[str]) -> int:
    n = int(argv[argv.index("--n") + 1]) if "--n" in argv else 1000
    workers = [int(w) for w in (argv[argv.index("--workers") + 1] if "--workers" in argv else "1,2").split(",")]
    per = max(2, round(n ** (1 / 3)))
    vary = []
    for key, (lo, hi) in KEYS.items():
        values = np.round(np.linspace(lo, hi, per), 4)
        vary += ["--vary", f"{key}={','.join(f'{v:g}' for v in values)}"]
    total = per ** 3
    planner = _planner()
    scratch = Path(tempfile.mkdtemp(prefix="bench-sweep-"))
    try:
        first = [f"{k}={np.round(lo, 4):g}" for k, (lo, _) in KEYS.items()]
        t = time.perf_counter()
        res = subprocess.run([planner, "solve", "texas", "--out", str(scratch / "solve"), "-q",
                              "--set", "ac.check=false", *[a for s in first for a in ("--set", s)]],
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


if __name__ == "__main__":
    sys.exit(main(sys.argv))
