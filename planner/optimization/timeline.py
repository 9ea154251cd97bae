"""What a timeline reports: per year and region (``timeline.csv``), each site's first year and
per-year MW (allocation columns), and ``summary.timeline``. The model is
:func:`planner.optimization.model.build` over the periods of :mod:`planner.optimization.periods`; the solve is
:func:`planner.optimization.solve.plan_timeline`."""

from __future__ import annotations

import numpy as np
import pandas as pd

from planner.optimization.model import SCALE, Candidates, Year
from planner.optimization.periods import Timeline, Values

TOL_MW = 1e-6


def attach(result, cand: Candidates, tl: Timeline, val: Values, years: list[Year], npv_by_site: np.ndarray) -> None:
    """Put the timeline's outputs on ``result``: each site's NPV over the timeline as its
    ``value_usd``, the per-year allocation columns and ``first_year``, ``result.timeline`` and
    ``summary.timeline``."""
    mw = _year_values(years, len(cand))
    rows = cand.frame["row"].to_numpy()
    value = result.allocation["value_usd"].to_numpy(float).copy()
    value[rows] = npv_by_site
    result.allocation["value_usd"] = value
    table, first = _table(cand, tl, val, mw)
    _add_year_columns(result.allocation, rows, tl, mw, first)
    result.timeline = table
    result.summary.timeline = _summary_block(table, tl, mw, val, cand)


def _year_values(years: list[Year], n: int) -> dict[str, np.ndarray]:
    """MW of each use (sites x years; ``cloud`` a part of ``ai``) and the binaries."""
    out = {}
    for name in ("keep", "new", "ai", "cloud", "z"):
        a = np.zeros((n, len(years)))
        for t, yr in enumerate(years):
            for i, v in getattr(yr, name).items():
                a[i, t] = v.varValue or 0.0
        a[np.abs(a) < 1e-7] = 0.0
        out[name] = a
    out["cloud"] = np.minimum(out["cloud"], out["ai"])  # solver round-off: never more cloud than AI
    out["z"] = np.round(out["z"])
    return out


def site_npv(years: list[Year], n: int) -> np.ndarray:
    """Each site's NPV over the timeline ($): its objective terms at the solution (what it builds
    valued from its energization, what it removes, today's mining it keeps)."""
    out = np.zeros(n)
    for yr in years:
        if yr.terms:
            site, var, coef = zip(*yr.terms)
            np.add.at(out, np.array(site), np.array(coef) * np.array([v.varValue or 0.0 for v in var]))
    return out * SCALE


def _table(cand: Candidates, tl: Timeline, val: Values, mw: dict) -> tuple[pd.DataFrame, np.ndarray]:
    """timeline.csv (one row per year and region) and each site's first year of new load."""
    f = cand.frame
    T, n = tl.n, len(f)
    years = np.array(tl.years)
    removed_ai = np.clip(-np.diff(mw["ai"], axis=1, prepend=0.0), 0.0, None)
    removed_new = np.clip(-np.diff(mw["new"], axis=1, prepend=0.0), 0.0, None)
    inc_ai = np.clip(np.diff(mw["ai"], axis=1, prepend=0.0), 0.0, None)
    inc_new = np.clip(np.diff(mw["new"], axis=1, prepend=0.0), 0.0, None)
    # energized after the last year began: MW of the end state whose lead runs past its start
    start_last = 12.0 * (T - 1) + 1e-9
    ai_later = np.where(val.ai_energized[:, -1] > start_last, inc_ai[:, -1], 0.0)
    new_later = inc_new[:, -1] if val.new_energized[-1] > start_last else np.zeros(n)
    in_service_ai = mw["ai"].copy()
    in_service_ai[:, -1] -= ai_later
    # of which run as the site's own cloud (its shell energized with the AI MW it is part of)
    inc_cloud = np.clip(np.diff(mw["cloud"], axis=1, prepend=0.0), 0.0, None)
    in_service_cloud = mw["cloud"].copy()
    in_service_cloud[:, -1] -= np.where(val.ai_energized[:, -1] > start_last, inc_cloud[:, -1], 0.0)
    in_service_cloud = np.clip(np.minimum(in_service_cloud, in_service_ai), 0.0, None)
    mining = mw["keep"] + mw["new"]
    mining_in_service = mining.copy()
    mining_in_service[:, -1] -= new_later
    conversion = (f["kind"].to_numpy() == "conversion")
    # each site's first year of new load: the earlier of its first AI and first new-mining MW
    first = np.full(n, np.iinfo(np.int64).max)
    for inc, months in ((inc_ai, val.ai_energized), (inc_new, np.broadcast_to(val.new_energized, inc_new.shape))):
        hit = inc > TOL_MW
        t0 = hit.argmax(axis=1)
        month = np.take_along_axis(months, t0[:, None], axis=1)[:, 0]
        year = tl.years[0] + np.maximum(t0, np.floor(month / 12.0 + 1e-9).astype(np.int64))
        first = np.where(hit.any(axis=1), np.minimum(first, year), first)
    first = np.where(first == np.iinfo(np.int64).max, -1, first)
    region = f["region"].to_numpy()
    existing = f["existing_mw"].to_numpy(float)
    draw = np.clip(mw["keep"] + mw["new"] + mw["ai"] - existing[:, None], 0.0, None)
    names = sorted(set(region) | set(tl.requested_mw) | set(tl.pools_mw))
    records = []
    for t in range(T):
        for r in names:
            here = region == r
            requested = float(tl.requested_mw[r][t]) if r in tl.requested_mw else 0.0
            served = float(in_service_ai[here, t].sum())
            records.append({
                "year": int(years[t]), "region": r,
                "pool_mw": float(tl.pools_mw[r][t]) if r in tl.pools_mw else np.nan,
                "pool_drawn_mw": float(draw[here, t].sum()),
                "requested_ai_mw": requested,
                "served_ai_mw": served,
                "served_ai_cloud_mw": float(in_service_cloud[here, t].sum()),
                "ai_at_converted_mines_mw": float(in_service_ai[here & conversion, t].sum()),
                "unmet_ai_mw": max(requested - served, 0.0),
                "mining_mw": float(mining_in_service[here, t].sum()),
                "new_mw_energized": float((inc_ai[here, t] - (ai_later[here] if t == T - 1 else 0)).sum()
                                          + (inc_new[here, t] - (new_later[here] if t == T - 1 else 0)).sum()),
                "energized_after_mw": float((ai_later[here] + new_later[here]).sum()) if t == T - 1 else 0.0,
                "removed_ai_mw": float(removed_ai[here, t].sum()),
                "removed_mining_mw": float(removed_new[here, t].sum()),
            })
    table = pd.DataFrame.from_records(records)
    num = table.columns.difference(["year", "region"])
    table[num] = table[num].round(3)
    return table, first


def _add_year_columns(alloc: pd.DataFrame, rows: np.ndarray, tl: Timeline, mw: dict, first: np.ndarray) -> None:
    col = pd.array([pd.NA] * len(alloc), dtype="Int64")
    col[rows] = pd.array(np.where(first >= 0, first, 0), dtype="Int64")
    col[rows[first < 0]] = pd.NA
    alloc["first_year"] = col
    for t, y in enumerate(tl.years):
        for name, data in (("ai_mw", mw["ai"][:, t]), ("ai_lease_mw", mw["ai"][:, t] - mw["cloud"][:, t]),
                           ("ai_cloud_mw", mw["cloud"][:, t]), ("mining_mw", mw["keep"][:, t] + mw["new"][:, t])):
            c = np.zeros(len(alloc))
            c[rows] = np.round(data, 6)
            alloc[f"{name}_{y}"] = c


def _summary_block(table: pd.DataFrame, tl: Timeline, mw: dict, val: Values, cand: Candidates) -> dict:
    by_year = table.groupby("year")[["requested_ai_mw", "served_ai_mw", "served_ai_cloud_mw", "unmet_ai_mw",
                                      "ai_at_converted_mines_mw", "mining_mw", "new_mw_energized",
                                      "energized_after_mw"]].sum()

    def per_year(col):
        return {str(y): round(float(v), 3) for y, v in by_year[col].items()}

    regions = {}
    for r, g in table.groupby("region"):
        regions[str(r)] = {str(y): round(float(v), 3) for y, v in zip(g["year"], g["unmet_ai_mw"])}
    return {
        "years": list(tl.years),
        "base_load_factor": {str(y): round(float(f), 6) for y, f in zip(tl.years, tl.load_factor)},
        "requested_ai_mw": per_year("requested_ai_mw"),
        "served_ai_mw": per_year("served_ai_mw"),
        "served_ai_cloud_mw": per_year("served_ai_cloud_mw"),
        "gap_mw": per_year("unmet_ai_mw"),
        "gap_by_region_mw": regions,
        "ai_at_converted_mines_mw": per_year("ai_at_converted_mines_mw"),
        "mining_mw": per_year("mining_mw"),
        "new_mw_energized": per_year("new_mw_energized"),
        "energized_after_last_year_began_mw": round(float(by_year["energized_after_mw"].iloc[-1]), 3),
    }

