"""The national hosting map: `planner hosting --grid usa` (N-0, firm and flexible) end to end in
fresh processes, and a bracket of its answers with pandapower.

1. ``planner -v hosting --grid usa --out DIR/ai`` and ``... --use mining --out DIR/mining``:
   wall time and peak RSS of each process, and the medians per voltage level it prints.
2. A bracket of a random sample of buses (``--sample N`` per interconnect, default 8) from the
   firm run's ``buses.csv``, among those a branch limits: the reported hosting ``h`` MW is put
   at the bus as a load, picked up by the generators of its island in proportion to the slack
   weights (as the model assumes), and ``pandapower.rundcpp`` is run at ``0.98 h`` and
   ``1.02 h``. At ``0.98 h`` every monitored branch must be within its limit (its rating, or
   its flow without new load where that is higher), except a branch already over on which the
   bus's distribution factor is below the DFAX cut-off (the rule lets such a load worsen it);
   at ``1.02 h`` the reported limiting branch must be over its limit.

    python benchmarks/bench_hosting_usa.py [--out DIR] [--sample 8] [--run DIR]

``--run DIR`` reuses the output of an earlier run (skips step 1).
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import time
import warnings
from pathlib import Path

WRAP = ("import resource, sys\nfrom planner._entry import main\nsys.argv[0] = 'planner'\ntry:\n    main()\n"
        "finally:\n    sys.stderr.write(f'\\nPEAK_RSS_KB {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}\\n')\n")
PASS = re.compile(r"N-0 pass: ([\d,]+) buses \(([\d.]+) s\)")


def run(out: Path, extra: list[str]) -> dict:
    t = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", WRAP, "-v", "hosting", "--grid", "usa", "--out", str(out), "--force", *extra],
                          check=False, capture_output=True, text=True)
    wall = time.perf_counter() - t
    if proc.returncode != 0:
        sys.exit(f"planner hosting failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    rss = int(re.search(r"PEAK_RSS_KB (\d+)", proc.stderr)[1]) / 2**20
    n0 = PASS.search(proc.stderr)
    return {"wall_s": wall, "peak_rss_gb": rss, "pass_s": float(n0[2]), "stdout": proc.stdout}


def bracket(run_dir: Path, per_interconnect: int, seed: int = 5) -> int:
    import numpy as np
    import pandas as pd

    from planner.analysis.validate import run_dc
    from planner.config.scenario import setting_default
    from planner.data.grid import load_grid
    from planner.network import sensitivity as sens

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import pandapower as pp

    dfax = float(setting_default("overload_dfax"))
    frame = pd.read_csv(run_dir / "ai" / "buses.csv")
    grid = load_grid("usa")
    model = sens.dc_model(grid)
    net = grid.net
    d = sens.dispatch(model, np.zeros(model.n_bus))
    net.gen.loc[d.index, "p_mw"] = d.to_numpy()
    rate = grid.branches["rate_mw"].to_numpy()
    mon = np.isfinite(rate) & (rate > 0)
    f0 = run_dc(net, grid.branches).to_numpy()
    limit = np.fmax(rate, np.abs(f0))
    over = mon & (np.abs(f0) > rate * (1 + 1e-9))
    branch_pos = pd.Series(np.arange(len(grid.branches)), index=grid.branches.index)
    g = model.gens[model.gens["gen"] >= 0]
    base_p = net.gen.loc[g["gen"].to_numpy(), "p_mw"].to_numpy().copy()
    rng = np.random.default_rng(seed)
    ok = frame[(frame["limited_by"] == "branch") & (frame["hosting_mw"] > 1.0)]
    sample = pd.concat([grp.iloc[rng.choice(len(grp), min(per_interconnect, len(grp)), replace=False)]
                        for _, grp in ok.groupby("interconnect")])
    failures = 0
    print(f"\n## Bracket with pandapower rundcpp ({len(sample)} buses; limit = rating, or the flow without new "
          f"load where higher; DFAX cut-off {dfax:g} on branches already over)\n")
    print("| bus | interconnect | kV | hosting MW | limiting branch | largest loading at 0.98x (every branch the "
          "rule counts) | limiting branch at 1.02x | result |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for _, row in sample.iterrows():
        bus, h = int(row["bus"]), float(row["hosting_mw"])
        island = model.island[model.positions([bus])[0]]
        w = np.where(g["island"].to_numpy() == island, g["weight"].to_numpy(), 0.0)
        load = pp.create_load(net, bus, p_mw=0.0)
        flows = {}
        for factor in (0.98, 1.02):
            net.load.at[load, "p_mw"] = factor * h
            net.gen.loc[g["gen"].to_numpy(), "p_mw"] = base_p + w * factor * h
            flows[factor] = run_dc(net, grid.branches).to_numpy()
        net.load.drop(load, inplace=True)
        net.gen.loc[g["gen"].to_numpy(), "p_mw"] = base_p
        df = (flows[0.98] - f0) / (0.98 * h)                       # flow per MW of new load at the bus
        counted = mon & ~(over & (np.abs(df) < dfax))              # branches the rule holds the load to
        load98 = np.max(np.abs(flows[0.98][counted]) / limit[counted])
        lim = branch_pos[int(row["limiting_branch"])]
        load102 = abs(flows[1.02][lim]) / limit[lim]
        good = load98 <= 1 + 1e-6 and load102 > 1.0
        failures += not good
        print(f"| {bus} | {row['interconnect']} | {row['kv']:g} | {h:,.1f} | {int(row['limiting_branch'])} | "
              f"{load98:.4f} | {load102:.4f} | {'ok' if good else 'FAIL'} |")
    print(f"\n{len(sample) - failures} of {len(sample)} buses bracketed (0.98x within every limit, 1.02x over the "
          "limiting branch)")
    return failures


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("/tmp/bench-hosting-usa"))
    ap.add_argument("--sample", type=int, default=8, help="buses per interconnect to bracket (0: none)")
    ap.add_argument("--run", type=Path, help="reuse this output directory of an earlier run")
    args = ap.parse_args()
    run_dir = args.run or args.out
    if args.run is None:
        print("| use | wall | N-0 pass | peak RSS |\n| --- | --- | --- | --- |")
        outputs = {}
        for use in ("ai", "mining"):
            r = run(run_dir / use, ["--use", use])
            outputs[use] = r["stdout"]
            print(f"| {use} ({'firm' if use == 'ai' else 'flexible: peak and off-peak'}) | {r['wall_s']:.0f} s | "
                  f"{r['pass_s']:.0f} s | {r['peak_rss_gb']:.2f} GB |", flush=True)
        for use, text in outputs.items():
            print(f"\n`planner hosting --grid usa --use {use}`:\n\n```\n{text.strip()}\n```")
    if args.sample:
        sys.exit(1 if bracket(run_dir, args.sample) else 0)


if __name__ == "__main__":
    main()
