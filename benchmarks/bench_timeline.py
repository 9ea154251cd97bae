"""Timeline benchmark: ``planner solve us-2026-2030`` (five years) against the single-period
``planner solve us-2028`` measured in the same run, each in a fresh process (AC check off: it is
skipped on the Eastern interconnect anyway; maps and files written as usual).

    python benchmarks/bench_timeline.py [--runs 1] [--redispatch]

Printed per scenario: the process's wall time (import to exit), the solve's own total from
summary.json (``timings_s.total``: grid and sites, model, lazy rows, solve, duals), its parts,
and the peak RSS of the process (psutil, polled every 0.2 s); then the ratio of the timeline to
the single period. With ``--runs N`` each is run N times and the fastest is kept. With
``--redispatch`` a second pair: Texas with ``grid.supply_response=redispatch``, five years
(2026-2030, base load +2 %/year) against the single period.
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_sweep import _planner, _run_polled

#: (label, scenario, --set overrides): single period first, then its timeline
PAIRS = [(("us-2028", "us-2028", []), ("us-2026-2030", "us-2026-2030", []))]
REDISPATCH = ["grid.supply_response=redispatch"]
TIMELINE = ["timeline.years=[2026,2027,2028,2029,2030]", "timeline.base_load_growth_percent=2"]
REDISPATCH_PAIR = (("texas redispatch", "texas", REDISPATCH), ("texas redispatch 2026-2030", "texas", REDISPATCH + TIMELINE))


def main(argv: list[str]) -> int:
    runs = int(argv[argv.index("--runs") + 1]) if "--runs" in argv else 1
    pairs = PAIRS + ([REDISPATCH_PAIR] if "--redispatch" in argv else [])
    scratch = Path(tempfile.mkdtemp(prefix="bench-timeline-"))
    best: dict[str, dict] = {}
    try:
        for label, case, sets in [c for pair in pairs for c in pair]:
            for k in range(runs):
                out = scratch / f"{len(best)}-{k}"
                args = [_planner(), "solve", case, "--out", str(out), "-q", "--set", "ac.check=false"]
                for s in sets:
                    args += ["--set", s]
                polled = _run_polled(args, scratch / f"{len(best)}-{k}.log")
                if polled["rc"] != 0:
                    raise SystemExit((scratch / f"{len(best)}-{k}.log").read_text())
                summary = json.loads((out / "summary.json").read_text())
                polled["timings"] = summary["timings_s"]
                if label not in best or polled["wall"] < best[label]["wall"]:
                    best[label] = polled
        print("\n| scenario | process wall | solve total (summary) | model + lazy rows + solve | peak RSS |")
        print("|---|---|---|---|---|")
        for label, b in best.items():
            t = b["timings"]
            core = sum(t.get(k, 0.0) for k in ("sensitivities", "build", "reference_dispatch", "solve",
                                                "pulp_to_solver", "lazy_rows", "duals"))
            print(f"| {label} | {b['wall']:.1f} s | {t['total']:.1f} s | {core:.1f} s | {b['peak_main'] / 1e9:.2f} GB |")
        for (one, _, _), (many, _, _) in pairs:
            a, b = best[one], best[many]
            print(f"\n{many} / {one}: {b['wall'] / a['wall']:.2f}x the process wall time, "
                  f"{b['timings']['total'] / a['timings']['total']:.2f}x the solve total (target <= 5x); "
                  f"peak RSS {b['peak_main'] / 1e9:.2f} GB (target < 4 GB)")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
