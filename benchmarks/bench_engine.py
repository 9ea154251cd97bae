"""Engine benchmarks: Texas (all Texas sites + 200 synthetic candidates), the whole US grid
with 500 candidates, and hosting capacity of every Texas bus against bisection with
pandapower's rundcpp (the peer, measured in the same run).

    python benchmarks/bench_engine.py [texas] [western] [usa] [hosting]

Each case runs in a fresh process so that its peak memory (ru_maxrss, imports included)
is its own. Synthetic candidates are drawn with a fixed seed from buses at >= 115 kV.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import time
import warnings

warnings.simplefilter("ignore")


def synthetic_sites(grid, n, seed):
    import geopandas as gpd
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    b = grid.buses[(grid.buses["kv"] >= 115) & grid.buses.geometry.notna()]
    pick = b.sample(n, random_state=seed, replace=n > len(b))  # more sites than buses: some share a bus
    mine = rng.random(n) < 0.5
    cap = rng.uniform(50, 400, n).round()
    frame = pd.DataFrame({
        "site_id": [f"syn-{i}" for i in range(n)], "bus": pick.index.to_numpy(), "status": "mapped",
        "bus_interconnect": pick["interconnect"].to_numpy(), "poi_mw": cap,
        "operating_mw": np.where(mine, (cap * rng.uniform(0.3, 1.0, n)).round(), 0.0),
        "current_use": np.where(mine, "bitcoin", "development"),
        "ai_lease_usd_per_kw_month": rng.uniform(120, 260, n).round(),
        "ai_capex_usd_per_mw": np.where(mine, 2e6, rng.uniform(2e6, 11e6, n)),
    })
    return gpd.GeoDataFrame(frame, geometry=pick.geometry.to_numpy(), crs="EPSG:4326")


def case_engine(grid_name, n_synthetic, with_shipped):
    import pandas as pd

    import planner

    t = time.perf_counter()
    grid = planner.load_grid(grid_name)
    load_s = time.perf_counter() - t
    parts = []
    if with_shipped:
        mapped = planner.map_sites(planner.read_sites("sites/sites.geojson"), grid)
        parts.append(mapped[mapped["status"] == "mapped"])
    parts.append(synthetic_sites(grid, n_synthetic, seed=11))
    sites = pd.concat(parts, ignore_index=True)
    t = time.perf_counter()
    r = planner.plan(grid, sites, planner.Params())
    wall = time.perf_counter() - t
    tm = r.summary.timings_s
    return {
        "case": f"{grid_name}: {len(sites)} candidates", "grid_load_s": round(load_s, 2),
        "plan_wall_s": round(wall, 2),
        "sensitivities_build_solve_duals_s": round(tm["sensitivities"] + tm["build"] + tm["lazy_rows"]
                                                   + tm["pulp_to_solver"] + tm["solve"] + tm["duals"], 2),
        "pulp_build_s": round(tm["build"] + tm["lazy_rows"] + tm["pulp_to_solver"], 2),
        "solver_s": round(tm["solve"], 2), "timings_s": tm, "status": r.status,
        "lazy_rows": r.summary.network["lazy_rows_added"],
        "screened": r.summary.network["screened_branches"],
        "served_ai_mw": r.summary.served_ai_mw,
        "peak_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
    }


def case_hosting(n_bisect=8):
    import copy

    import numpy as np
    import pandapower as pp

    import planner
    from planner.analysis.validate import run_dc
    from planner.network import sensitivity as sens

    grid = planner.load_grid("texas")
    t = time.perf_counter()
    frame = planner.hosting_capacity(grid)  # DC model included
    ours = time.perf_counter() - t
    m = sens.dc_model(grid, "headroom")
    net = copy.deepcopy(grid.net)
    d = sens.dispatch(m, np.zeros(m.n_bus))
    net.gen.loc[d.index, "p_mw"] = d.to_numpy()
    g = m.gens[m.gens["gen"] >= 0]
    base_p = net.gen.loc[g["gen"], "p_mw"].to_numpy().copy()
    flows = run_dc(net)
    rate = grid.branches.set_index(["element", "element_index"])["rate_mw"].reindex(flows.index).to_numpy()
    buses = np.random.default_rng(0).choice(m.bus_ids, n_bisect, replace=False)
    t = time.perf_counter()
    for bus in buses:  # bisection to 0.1 MW on [0, 5000] MW: 16 DC power flows per bus
        load = pp.create_load(net, int(bus), p_mw=0.0)
        lo, hi = 0.0, 5000.0
        while hi - lo > 0.1:
            mid = 0.5 * (lo + hi)
            net.load.at[load, "p_mw"] = mid
            net.gen.loc[g["gen"], "p_mw"] = base_p + g["weight"].to_numpy() * mid
            f = run_dc(net).to_numpy()
            ok = np.all(np.abs(f) <= np.where(np.isfinite(rate), rate, np.inf))
            lo, hi = (mid, hi) if ok else (lo, mid)
        net.load.drop(load, inplace=True)
    per_bus = (time.perf_counter() - t) / n_bisect
    return {"case": "hosting capacity, texas", "buses": len(frame), "vectorized_s": round(ours, 3),
            "bisection_s_per_bus": round(per_bus, 3), "bisection_buses_timed": n_bisect,
            "bisection_all_buses_s_extrapolated": round(per_bus * len(frame), 1),
            "speedup": round(per_bus * len(frame) / ours, 1)}


def main(argv):
    if len(argv) > 1 and argv[1] == "--case":
        name = argv[2]
        if name == "texas":
            result = case_engine("texas", 200, True)
        elif name == "usa":
            result = case_engine("usa", 500, False)
        elif name == "western":
            result = case_engine("western", 600, False)
        else:
            result = case_hosting()
        print(json.dumps(result))
        return
    for name in argv[1:] or ["texas", "western", "usa", "hosting"]:
        res = subprocess.run([sys.executable, __file__, "--case", name], capture_output=True, text=True,
                             check=False)
        if res.returncode != 0:
            print(f"{name}: failed\n{res.stderr[-2000:]}")
            continue
        print(json.dumps(json.loads(res.stdout.strip().splitlines()[-1]), indent=2))


if __name__ == "__main__":
    main(sys.argv)
