"""Planner against PyPSA (+ linopy + HiGHS) on the same problem: K candidate AI loads on a grid.

    python benchmarks/bench_pypsa.py [texas] [western] [eastern] [--k 500] [--seed 7] [--no-post]
                                     [--supply redispatch]

The problem (today's planner problem, "headroom" supply): K AI-only candidate sites at
distinct buses of >= 115 kV (fixed seed), each with a size of 50-400 MW and an NPV of
$0.5M-8M per MW of AI (``ai_value_usd_per_mw``), no minimum block (``min_block_mw = 0``:
the MILP's binaries are irrelevant, the problem is an LP), one state (peak, N-0, every new MW
firm, no off-peak hour, no existing-load check, no DFAX cut-off). New load is picked up by
the generators of its island in proportion to their headroom; every monitored branch keeps
``|flow| <= max(rate, |base flow|)``. Maximize the NPV of the AI served.

``--supply redispatch`` races problem (b) instead: the same candidates served by an economic
redispatch of every generator within its limits at the TAMU cost curves (3-segment
piecewise-linear, the curves planner uses), in PyPSA's native form (one generator per cost
segment, no custom rows). The objective both maximize: the candidates' value plus their energy
payment, less the NPV of generation cost above the generators' lower limits.

* planner: ``planner.plan(grid, sites, Params(...))``.
* PyPSA: the network of ``tests/pypsa_reference.py`` built from planner's DC model (made in
  the PyPSA process and counted in its time), ``n.optimize.create_model()``, the
  participation rows, ``n.optimize.solve_model(solver_name="highs")``.

Each tool runs in a fresh process per grid, from its imports to the result in hand; peak
memory is that process's ru_maxrss. Timings per tool: import, grid load, build (planner:
sensitivities + PuLP model + lazy rows + hand-over to HiGHS; PyPSA: DC model + network +
create_model + custom rows), solve (HiGHS's own time, and for PyPSA the wall time of
solve_model: linopy's LP file, HiGHS, and PyPSA's assignment and post-processing), total.
Drawing the synthetic sites is the same for both and is not timed. PyPSA is not run on
Eastern (building its network and model does not fit this machine's time).

``--no-post`` runs PyPSA's solve without its post-processing (whose voltage angles come from
a dense pseudo-inverse of the bus susceptance matrix: O(buses^3)); the answer is the same.

The objectives must agree to 1e-6 relative (planner's NPV in $ = minus PyPSA's objective);
the largest difference in served MW at any candidate is reported (an LP can have several
optimal allocations).
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import time
from pathlib import Path

T_START = time.perf_counter()
ROOT = Path(__file__).resolve().parents[1]
TOLERANCE = 1e-6


def synthetic_ai_sites(grid, k, seed):
    """K AI-only sites at distinct buses of >= 115 kV (like bench_engine.synthetic_sites)."""
    import geopandas as gpd
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    b = grid.buses[(grid.buses["kv"] >= 115) & grid.buses.geometry.notna()]
    pick = b.sample(k, random_state=seed)
    frame = pd.DataFrame({
        "site_id": [f"ai-{i}" for i in range(k)], "bus": pick.index.to_numpy(), "status": "mapped",
        "bus_interconnect": pick["interconnect"].to_numpy(), "poi_mw": rng.uniform(50, 400, k).round(),
        "current_use": "development", "min_block_mw": 0.0,
        "ai_value_usd_per_mw": (rng.uniform(0.5e6, 8e6, k) / 1e3).round() * 1e3,
    })
    return gpd.GeoDataFrame(frame, geometry=pick.geometry.to_numpy(), crs="EPSG:4326")


def params(supply="headroom"):
    import planner

    # the race is the allocation LP: no existing-load check and no hosting capacity of the candidate
    # buses (under redispatch an LP per bus), which PyPSA does not compute either
    return planner.Params(check_existing_load=False, bus_hosting=False, overload_dfax=0, offpeak_load_factor=1.0,
                          mining_firm_share=1.0, security="n-0", supply_response=supply)


def redispatch_terms(grid, model, p):
    """What planner's redispatch objective is made of, for PyPSA's copy: the cost curves planner uses,
    the NPV of one $/h over the horizon (one state) and the energy payment of an AI MW."""
    import numpy as np
    import pandas as pd

    from planner.network.redispatch import energy_payment_usd_per_mw, generator_costs, npv_of_one_usd_per_h

    costs = generator_costs(grid, [model], p.redispatch_cost_segments)
    n_seg = costs.slopes.shape[1]
    curves = pd.DataFrame({"gen": np.repeat(costs.gens["gen"].to_numpy(), n_seg),
                           "segment": np.tile(np.arange(n_seg), len(costs.gens)),
                           "width_mw": np.repeat(costs.width, n_seg), "cost_usd_per_mwh": costs.slopes.ravel()})
    return curves, npv_of_one_usd_per_h(p), energy_payment_usd_per_mw(p, [{"mining": 1.0, "ai": 1.0}])["ai"]


def _peak_mb():
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)


def case_planner(grid_name, k, seed, supply="headroom"):
    t = time.perf_counter()
    import numpy as np

    import planner
    import planner.data.grid
    import planner.optimization.solve
    out = {"tool": "planner", "grid": grid_name, "k": k, "import_s": time.perf_counter() - t}
    t = time.perf_counter()
    grid = planner.load_grid(grid_name)
    out["load_s"] = time.perf_counter() - t
    t = time.perf_counter()
    sites = synthetic_ai_sites(grid, k, seed)
    untimed = time.perf_counter() - t
    t = time.perf_counter()
    r = planner.plan(grid, sites, params(supply))
    plan_s = time.perf_counter() - t
    out["total_s"] = time.perf_counter() - T_START - untimed
    tm = r.summary.timings_s
    out["build_s"] = tm["sensitivities"] + tm["build"] + tm["lazy_rows"] + tm["pulp_to_solver"]
    out["highs_s"] = tm["solve"]
    out["duals_s"] = tm["duals"]
    out["timings_s"] = tm
    out["plan_s"] = plan_s
    out["peak_mb"] = _peak_mb()
    alloc = r.allocation
    value = sites.set_index("site_id")["ai_value_usd_per_mw"].reindex(alloc["site_id"]).to_numpy()
    out["objective_usd"] = float(np.sum(alloc["ai_mw"].to_numpy() * value))
    if supply == "redispatch":  # + energy payments - NPV of generation cost above the lower limits
        from planner.network.redispatch import energy_payment_usd_per_mw, npv_of_one_usd_per_h

        hours = npv_of_one_usd_per_h(params(supply))
        pay = energy_payment_usd_per_mw(params(supply), [{"mining": 1.0, "ai": 1.0}])["ai"]
        d = r.dispatch_table
        out["objective_usd"] += float(pay * alloc["ai_mw"].sum()
                                      - hours * (d["cost_usd_per_h"] - d["cost_at_min_usd_per_h"]).sum())
    out["summary_objective_usd"] = r.summary.objective_usd
    out["status"], out["mip_gap"] = r.status, r.summary.mip_gap
    out["lazy_rows"] = r.summary.network["lazy_rows_added"]
    out["served"] = dict(zip(alloc["site_id"], alloc["ai_mw"].astype(float)))
    out["modelled_sites"] = len(alloc)
    return out


def case_pypsa(grid_name, k, seed, post=True, supply="headroom"):
    t = time.perf_counter()
    import linopy
    import numpy as np
    import pandas as pd
    import pypsa

    import planner
    import planner.data.grid
    from planner.network import sensitivity as sens

    sys.path.insert(0, str(ROOT / "tests"))
    import pypsa_reference as ref
    out = {"tool": "pypsa", "grid": grid_name, "k": k, "import_s": time.perf_counter() - t,
           "versions": {"pypsa": pypsa.__version__, "linopy": linopy.__version__}}
    t = time.perf_counter()
    grid = planner.load_grid(grid_name)
    out["load_s"] = time.perf_counter() - t
    t = time.perf_counter()
    sites = synthetic_ai_sites(grid, k, seed)
    cand = pd.DataFrame({"name": sites["site_id"], "bus": sites["bus"], "cap_mw": sites["poi_mw"],
                         "value_usd_per_mw": sites["ai_value_usd_per_mw"]})
    untimed = time.perf_counter() - t
    t = time.perf_counter()
    model = sens.dc_model(grid, "headroom")
    out["dc_model_s"] = time.perf_counter() - t
    t = time.perf_counter()
    if supply == "redispatch":
        curves, hours, pay = redispatch_terms(grid, model, params(supply))
        cand["value_usd_per_mw"] += pay
        n = ref.pypsa_network(model, cand, supply="redispatch", grid=grid, cost_curves=curves, cost_factor=hours)
    else:
        n = ref.pypsa_network(model, cand, supply="headroom")
    out["network_s"] = time.perf_counter() - t
    info = ref.optimize(n, post_processing=post)
    out["total_s"] = time.perf_counter() - T_START - untimed
    out["peak_mb"] = _peak_mb()
    out["build_s"] = out["dc_model_s"] + out["network_s"] + info["create_model_s"] + info["constraints_s"]
    for key in ("create_model_s", "constraints_s", "solve_model_s", "highs_s", "post_processing_s", "status",
                "condition", "custom_rows"):
        out[key] = info[key]
    out["post_processing"] = post
    out["objective_usd"] = -info["objective"]
    x = ref.served_mw(n)
    out["served"] = {str(i): float(v) for i, v in x.items()}
    # after the clock: PyPSA's flows against planner's DC model with PyPSA's allocation
    load = np.zeros(model.n_bus)
    np.add.at(load, model.positions(cand["bus"].to_numpy()), x.reindex(cand["name"]).to_numpy())
    flows = ref.branch_flows(n, model)
    live = model.in_service
    if supply == "redispatch":  # the flows of PyPSA's own dispatch (generators moved) and new loads
        gen = ref.generator_output(n)
        inj = model.injection_mw.copy()
        g0 = model.gens.set_index("gen")
        np.add.at(inj, g0.loc[gen.index, "bus_pos"].to_numpy(), gen.to_numpy() - g0.loc[gen.index, "p_mw"].to_numpy())
        inj -= load
        expect = sens.injection_flows(model, inj)
    else:
        expect = sens.flows(model, load)
    out["flow_check_max_abs_mw"] = float(np.max(np.abs(flows - expect)[live]))
    out["worst_over_limit_mw"] = float(np.nanmax(np.abs(flows) - model.limit_mw))
    out["model"] = {"buses": int(model.n_bus), "branches": int(live.sum()), "monitored": int(model.monitored.sum()),
                    "phase_shifters": int((np.abs(model.pfinj_mw) > 1e-9).sum()), "islands": len(model.refs),
                    "slack_buses": len(n.meta[ref.META].get("slack", [])),
                    "linopy_vars": int(n.model.nvars), "linopy_cons": int(n.model.ncons)}
    return out


def help_time(runs=3):
    exe = Path(sys.executable).with_name("planner")
    cmd = [str(exe), "--help"] if exe.exists() else [sys.executable, "-m", "planner", "--help"]
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        subprocess.run(cmd, capture_output=True, check=True)
        times.append(time.perf_counter() - t)
    return times


def _run(args):
    t = time.perf_counter()
    res = subprocess.run([sys.executable, __file__, "--case", *args], capture_output=True, text=True, check=False)
    wall = time.perf_counter() - t
    if res.returncode != 0:
        print(f"{' '.join(args)}: failed\n{res.stderr[-3000:]}", file=sys.stderr)
        return None
    out = json.loads(res.stdout.strip().splitlines()[-1])
    out["process_wall_s"] = wall
    return out


def main(argv):
    if len(argv) > 1 and argv[1] == "--case":
        import warnings

        warnings.simplefilter("ignore")
        tool, grid_name, k, seed = argv[2], argv[3], int(argv[4]), int(argv[5])
        supply = argv[argv.index("--supply") + 1] if "--supply" in argv else "headroom"
        if tool == "planner":
            out = case_planner(grid_name, k, seed, supply)
        else:
            out = case_pypsa(grid_name, k, seed, post="--no-post" not in argv, supply=supply)
        print(json.dumps(out))
        return 0
    args = argv[1:]
    k, seed = 500, 7
    if "--k" in args:
        i = args.index("--k")
        k = int(args[i + 1])
        del args[i:i + 2]
    if "--seed" in args:
        i = args.index("--seed")
        seed = int(args[i + 1])
        del args[i:i + 2]
    supply = "headroom"
    if "--supply" in args:
        i = args.index("--supply")
        supply = args[i + 1]
        del args[i:i + 2]
        if supply not in ("headroom", "redispatch"):
            raise SystemExit(f"--supply: headroom or redispatch, not {supply!r}")
    post = "--no-post" not in args
    grids = [a for a in args if not a.startswith("--")] or ["texas", "western"]

    rows, details, failures = [], [], []
    for g in grids:
        p = _run(["planner", g, str(k), str(seed), "--supply", supply])
        q = None
        if g != "eastern":
            q = _run(["pypsa", g, str(k), str(seed), "--supply", supply] + ([] if post else ["--no-post"]))
        details += [d for d in (p, q) if d]
        if p is None:
            failures.append(f"{g}: planner failed")
            continue
        if q is None:
            rows.append(f"| {g} | {k} | {p['total_s']:.2f} | – | – | {p['highs_s']:.2f} | – | – | – | – |")
            if g != "eastern":
                failures.append(f"{g}: PyPSA failed")
            continue
        rel = abs(p["objective_usd"] - q["objective_usd"]) / max(abs(p["objective_usd"]), 1.0)
        served_diff = max(abs(p["served"][s] - q["served"].get(s, 0.0)) for s in p["served"])
        if rel > TOLERANCE:
            failures.append(f"{g}: objectives differ by {rel:.2e} relative (planner {p['objective_usd']:,.2f}, "
                            f"PyPSA {q['objective_usd']:,.2f})")
        if p["modelled_sites"] != k:
            failures.append(f"{g}: planner modelled {p['modelled_sites']} of {k} sites")
        rows.append(f"| {g} | {k} | {p['total_s']:.2f} | {q['total_s']:.2f} | {q['total_s'] / p['total_s']:.1f} | "
                    f"{p['highs_s']:.2f} | {q['highs_s']:.2f} | {rel:.1e} | {served_diff:.2e} | "
                    f"{q['post_processing_s']:.2f} |")

    print(f"\nK = {k} AI candidates (seed {seed}), supply {supply}; PyPSA {'with' if post else 'without'} its "
          "post-processing\n")
    print("| grid | K | planner total s | PyPSA total s | ratio | planner HiGHS s | PyPSA HiGHS s | "
          "objective rel. diff | max served MW diff | PyPSA post-processing s |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    print("\n".join(rows))
    print("\n| tool | grid | import s | grid load s | build s | HiGHS s | solve wall s | total s | "
          "process wall s | peak MB | objective $ |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for d in details:
        solve_wall = d.get("solve_model_s", d.get("plan_s", 0) - d["build_s"])
        print(f"| {d['tool']} | {d['grid']} | {d['import_s']:.2f} | {d['load_s']:.2f} | {d['build_s']:.2f} | "
              f"{d['highs_s']:.2f} | {solve_wall:.2f} | {d['total_s']:.2f} | {d['process_wall_s']:.2f} | "
              f"{d['peak_mb']} | {d['objective_usd']:,.0f} |")
    print("\nbuild: planner = sensitivities + PuLP model + lazy rows + hand-over to HiGHS; PyPSA = DC model + "
          "network + create_model + custom rows. solve wall: planner = plan() less its build (HiGHS rounds, "
          "lazy checks, duals LP, result tables); PyPSA = solve_model (LP file, HiGHS, solution, "
          "post-processing). total: from the first import to the result in hand, sites' drawing excluded.")
    for d in details:
        if d["tool"] == "pypsa":
            print(f"\nPyPSA {d['versions']['pypsa']} / linopy {d['versions']['linopy']}, {d['grid']}: "
                  f"{d['model']}; dc_model {d['dc_model_s']:.2f} s, network {d['network_s']:.2f} s, "
                  f"create_model {d['create_model_s']:.2f} s, custom rows {d['constraints_s']:.2f} s "
                  f"({d['custom_rows']}), solve_model {d['solve_model_s']:.2f} s of which HiGHS "
                  f"{d['highs_s']:.2f} s and post-processing {d['post_processing_s']:.2f} s; its flows vs "
                  f"planner's sensitivity.flows: max {d['flow_check_max_abs_mw']:.1e} MW; worst |flow| - limit "
                  f"{d['worst_over_limit_mw']:.1e} MW")
        else:
            print(f"\nplanner, {d['grid']}: status {d['status']}, MIP gap {d['mip_gap']}, lazy rows "
                  f"{d['lazy_rows']}, summary objective_usd {d['summary_objective_usd']:,.0f}; timings_s "
                  f"{d['timings_s']}")
    times = help_time()
    print(f"\nplanner --help: {times[0]:.2f} s first, {min(times):.2f} s best of {len(times)}")
    if failures:
        raise AssertionError("; ".join(failures))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
