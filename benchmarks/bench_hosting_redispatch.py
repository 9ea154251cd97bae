"""Hosting capacity with redispatch: every bus of a grid, against solving each bus's LP cold.

Times ``security_hosting(grid, model, slack="redispatch")`` on every bus (one live LP per thread,
warm-started from bus to bus; the fixed-participation pass it also runs for comparison is timed
on its own), and a peer in the same run: the same LP of a sample of buses, each built and solved
from scratch by HiGHS (what a tool that runs one OPF per bus does), extrapolated to every bus;
plus one pandapower DC OPF (``rundcopp``) of the grid, the unit of a bisection by OPF. Prints the
hosting by voltage level (median MW of both supply responses and the median ratio).

    python benchmarks/bench_hosting_redispatch.py [--grid texas] [--n-1] [--use ai|mining] [--sample 40]
"""

from __future__ import annotations

import argparse
import copy
import resource
import sys
import time
import warnings

import numpy as np

warnings.simplefilter("ignore")


def cold_per_bus(grid, model, ids: np.ndarray) -> float:
    """Seconds per bus to build and solve each bus's redispatch hosting LP from scratch."""
    from planner.network import hosting_redispatch as hr
    from planner.network.redispatch import generator_costs

    g = generator_costs(grid, [model], 1).gens
    p0 = model.gens.set_index("gen").loc[g["gen"].to_numpy(), "p_mw"].to_numpy(float)
    st = hr.RedispatchState(name="peak", model=model, p0=p0, lo=g["lo_mw"].to_numpy(float),
                            hi=g["hi_mw"].to_numpy(float))
    t = time.perf_counter()
    for bus in ids:
        lp = hr.build(model, g["bus_pos"].to_numpy(), model.positions([bus]))
        hr.PairSolver(lp, st).solve(0)
    return (time.perf_counter() - t) / len(ids)


def opf_seconds(grid) -> float:
    import pandapower as pp

    net = copy.deepcopy(grid.net)
    net.gen["controllable"] = True
    t = time.perf_counter()
    try:
        pp.rundcopp(net)
    except Exception as exc:  # noqa: BLE001 - a failed OPF still took its time
        print(f"  (rundcopp: {type(exc).__name__})")
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--grid", default="texas")
    ap.add_argument("--n-1", dest="n_1", action="store_true")
    ap.add_argument("--use", default="ai", choices=["ai", "mining"])
    ap.add_argument("--sample", type=int, default=40, help="buses solved cold by the peer")
    args = ap.parse_args()

    import planner
    from planner.network import sensitivity as sens
    from planner.network.supply import security_hosting

    grid = planner.load_grid(args.grid)
    model = sens.dc_model(grid, "headroom")
    security = "n-1" if args.n_1 else "n-0"
    t = time.perf_counter()
    fixed = security_hosting(grid, model, slack="headroom", security=security, use=args.use)
    fixed_s = time.perf_counter() - t
    t = time.perf_counter()
    frame = security_hosting(grid, model, slack="redispatch", security=security, use=args.use)
    total_s = time.perf_counter() - t
    n = len(frame)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    print(f"grid {args.grid}: {n:,} buses, {security.upper()}, {args.use}, {sens.workers()} thread(s)")
    print(f"  redispatch hosting of every bus: {total_s:,.1f} s ({total_s / n * 1000:.1f} ms per bus; includes the "
          f"fixed-participation pass, {fixed_s:,.1f} s on its own); peak RSS {rss:.2f} GB")
    if not args.n_1:
        rng = np.random.default_rng(7)
        sample = rng.choice(model.bus_ids, size=min(args.sample, n), replace=False)
        cold = cold_per_bus(grid, model, sample)
        live_s = max(total_s - fixed_s, 1e-9)   # the redispatch passes alone
        print(f"  peer, each bus's LP built and solved cold ({len(sample)} buses): {cold * 1000:.1f} ms per bus, "
              f"{cold * n:,.1f} s for every bus: {cold * n / live_s:.1f}x the live LPs ({live_s:,.1f} s without "
              "the fixed-participation pass)")
        opf = opf_seconds(grid)
        print(f"  peer, one pandapower rundcopp of the grid: {opf:.2f} s; a bisection to 1 % (about 8 OPFs) per bus: "
              f"{8 * opf * n / 60:,.0f} min for every bus: {8 * opf * n / live_s:,.0f}x")
    ratio = frame["redispatch_ratio"].to_numpy(float)
    ok = np.isfinite(ratio)
    print(f"  redispatch / fixed participation: total {frame['hosting_mw'].sum() / fixed['hosting_mw'].sum():.2f}x, "
          f"per bus {ratio[ok].min():.2f}x to {ratio[ok].max():.2f}x, median {np.median(ratio[ok]):.2f}x; "
          f"median redispatch needed {np.nanmedian(frame['redispatch_mw']):,.0f} MW at the hosting MW, "
          f"{np.nanmedian(frame['redispatch_95_mw']):,.0f} MW at 95 % of it")
    print("\n| kV | buses | fixed median MW | redispatch median MW | median ratio |\n|---|---|---|---|---|")
    for kv, g in frame.groupby("kv"):
        r = g["redispatch_ratio"].dropna()
        print(f"| {kv:g} | {len(g):,} | {g['fixed_hosting_mw'].median():,.0f} | {g['hosting_mw'].median():,.0f} | "
              f"{r.median():.2f} |" if len(r) else f"| {kv:g} | {len(g):,} | | | |")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
