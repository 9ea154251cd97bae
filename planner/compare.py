"""Compare two solve runs (directories written by ``planner solve --out``)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from planner.errors import InputError

METRICS = ("requested_ai_mw", "served_ai_mw", "unmet_ai_mw", "served_mining_mw", "objective_usd", "capex_usd",
           "converted_sites", "binding_branches", "max_branch_loading_percent")


def read_run(path: str | Path) -> dict:
    """summary, allocation and branches of a run directory."""
    path = Path(path)
    if not path.is_dir():
        raise InputError("no such run directory", source=path, expected="a directory written by planner solve")
    out = {"path": str(path)}
    for name, reader in (("summary.json", lambda p: json.loads(p.read_text())),
                         ("allocation.csv", pd.read_csv), ("branches.csv", pd.read_csv)):
        file = path / name
        if not file.is_file():
            raise InputError(f"{name} is missing", source=path, expected="a directory written by planner solve")
        try:
            out[name.split(".")[0]] = reader(file)
        except (ValueError, pd.errors.ParserError) as exc:
            raise InputError(f"cannot read it ({exc})", source=file) from None
    for column in ("site_id", "use", "ai_mw", "mining_mw"):
        if column not in out["allocation"]:
            raise InputError("column missing", source=path / "allocation.csv", field=column)
    for column in ("branch_id", "binding", "flow_mw", "shadow_price_usd_per_mw"):
        if column not in out["branches"]:
            raise InputError("column missing", source=path / "branches.csv", field=column)
    return out


def compare(dir_a: str | Path, dir_b: str | Path) -> dict:
    """What changed from run A to run B: headline numbers, sites whose use or MW
    changed, branches that became binding or free."""
    a, b = read_run(dir_a), read_run(dir_b)
    metrics = {}
    for key in METRICS:
        va, vb = a["summary"].get(key), b["summary"].get(key)
        change = vb - va if isinstance(va, int | float) and isinstance(vb, int | float) else None
        metrics[key] = {"a": va, "b": vb, "change": change}
    sa = a["allocation"].set_index("site_id")
    sb = b["allocation"].set_index("site_id")
    both = sa.index.intersection(sb.index)
    changed = []
    for sid in both:
        ra, rb = sa.loc[sid], sb.loc[sid]
        if ra["use"] != rb["use"] or abs(ra["ai_mw"] - rb["ai_mw"]) > 0.5 or abs(ra["mining_mw"] - rb["mining_mw"]) > 0.5:
            changed.append({"site_id": sid, "use_a": ra["use"], "use_b": rb["use"], "ai_mw_a": float(ra["ai_mw"]),
                            "ai_mw_b": float(rb["ai_mw"]), "mining_mw_a": float(ra["mining_mw"]),
                            "mining_mw_b": float(rb["mining_mw"])})
    ba = a["branches"].set_index("branch_id")
    bb = b["branches"].set_index("branch_id")
    common = ba.index.intersection(bb.index)
    bind_a = ba.loc[common, "binding"].astype(bool).to_numpy()
    bind_b = bb.loc[common, "binding"].astype(bool).to_numpy()

    def rows(mask, frame):
        ids = common[mask]
        sub = frame.loc[ids]
        return [{"branch_id": int(i), "flow_mw": float(f), "shadow_price_usd_per_mw": float(p)}
                for i, f, p in zip(ids, sub["flow_mw"], sub["shadow_price_usd_per_mw"])]

    return {"a": str(dir_a), "b": str(dir_b), "metrics": metrics, "sites_changed": changed,
            "sites_only_in_a": sorted(map(str, sa.index.difference(sb.index))),
            "sites_only_in_b": sorted(map(str, sb.index.difference(sa.index))),
            "branches_now_binding": rows(bind_b & ~bind_a, bb),
            "branches_now_free": rows(bind_a & ~bind_b, ba),
            "same_grid": a["summary"].get("grid") == b["summary"].get("grid")
            and len(ba) == len(bb) and bool(np.all(ba.index == bb.index))}
