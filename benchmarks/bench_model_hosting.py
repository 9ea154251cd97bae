"""Hosting capacity: the allocation model solved one bus at a time against its fast paths.

``planner.optimization.hosting.model_hosting`` is the definition (the plan's model, one firm AI
site per bus, its MW as the objective, warm re-solves on one live HiGHS model); the fast paths
are the closed form of a fixed participation and the redispatch hosting LP
(``planner.network.supply.security_hosting``). Measured in the same run on the same sample of
buses (every ``--step``-th bus of the grid's DC model): seconds per bus of each, their ratio, and
the largest difference in MW where a branch limits the bus.

    python benchmarks/bench_model_hosting.py [--grid texas] [--step 40] [--supply headroom,redispatch]
                                             [--security n-0,n-1]
"""

from __future__ import annotations

import argparse
import platform
import time
import warnings

import numpy as np

warnings.simplefilter("ignore")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--grid", default="texas")
    ap.add_argument("--step", type=int, default=40)
    ap.add_argument("--supply", default="headroom,redispatch")
    ap.add_argument("--security", default="n-0,n-1")
    args = ap.parse_args()

    import planner
    from planner.network.hosting import HEADROOM
    from planner.network.supply import security_hosting
    from planner.optimization.hosting import model_hosting

    grid = planner.load_grid(args.grid)
    print(f"{args.grid}; {platform.processor() or platform.machine()}, python {platform.python_version()}, "
          f"planner {planner.__version__}")
    print("| supply | security | buses | model s/bus | fast path s/bus | model / fast | max diff MW (branch-limited) |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for supply in args.supply.split(","):
        for security in args.security.split(","):
            params = planner.Params(supply_response=supply, security=security, mining_firm_share=1.0,
                                    offpeak_load_factor=1.0)
            model = params.supply.dc_model(grid)
            buses = model.bus_ids[::args.step]
            t = time.perf_counter()
            fast = security_hosting(grid, model, buses, slack=supply, security=security,
                                    emergency_rating_factor=params.emergency_rating_factor,
                                    offpeak_load_factor=1.0, dfax=params.overload_dfax)
            t_fast = (time.perf_counter() - t) / len(buses)
            t = time.perf_counter()
            slow = model_hosting(grid, buses, params, model=model)
            t_model = (time.perf_counter() - t) / len(buses)
            a, b = slow["hosting_mw"].to_numpy(float), fast["hosting_mw"].to_numpy(float)
            ok = (fast["limited_by"].to_numpy() != HEADROOM) & np.isfinite(a) & np.isfinite(b)
            diff = float(np.max(np.abs(a[ok] - b[ok]))) if ok.any() else float("nan")
            print(f"| {supply} | {security.upper()} | {len(buses)} | {t_model:.3f} | {t_fast:.3f} | "
                  f"{t_model / t_fast:.1f}x | {diff:.1e} |")


if __name__ == "__main__":
    main()
