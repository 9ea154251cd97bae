"""Hosting capacity: the largest new firm load each bus alone can take (N-0).

For a bus k and a monitored branch l with base flow ``f0`` and limit ``L``
(its rating, or its base flow where that is already higher: an existing
overload may not get worse), a load of ``x`` MW at k moves the flow to
``f0 + s[l,k] * x`` with ``s = -PTDF`` (new load picked up by the slack of
:mod:`planner.sensitivity`). The flow stays within ``+-L`` while

    x <= (L - f0) / s      where s > 0,
    x <= (L + f0) / (-s)   where s < 0,

and the hosting capacity is the smallest of these bounds over all monitored
branches; with a distributed slack it is also capped by the island's
generation headroom. Columns are computed a chunk of buses at a time, so memory
stays at (monitored branches x chunk) whatever the grid.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd

from planner import sensitivity as sens

HEADROOM = "generation headroom"


def limits_from_sensitivity(base_mw: np.ndarray, limit_mw: np.ndarray, s: np.ndarray,
                            eps: float = 1e-9) -> tuple[np.ndarray, np.ndarray]:
    """Hosting MW of each column of ``s`` (rows x buses) and the row that limits it
    (-1 where no row does: the column moves no monitored flow)."""
    up = (limit_mw - base_mw)[:, None]
    down = (limit_mw + base_mw)[:, None]
    with np.errstate(divide="ignore", invalid="ignore"):
        room = np.where(s > eps, up / s, np.where(s < -eps, down / -s, np.inf))
    room = np.maximum(room, 0.0)
    if room.shape[0] == 0:
        return np.full(s.shape[1], np.inf), np.full(s.shape[1], -1)
    row = np.argmin(room, axis=0)
    best = room[row, np.arange(room.shape[1])]
    row = np.where(np.isfinite(best), row, -1)
    return best, row


def hosting_capacity(grid, model: sens.DCModel | None = None, buses=None, slack: str = "headroom",
                     chunk: int = 256, progress=None) -> gpd.GeoDataFrame:
    """Hosting capacity (MW) of every bus of ``grid`` (or of ``buses``), as a GeoDataFrame
    with ``bus, lat, lon, kv, hosting_mw, limiting_branch, limited_by``."""
    model = model or sens.dc_model(grid, slack)
    ids = model.bus_ids if buses is None else np.asarray(buses)
    mon = np.flatnonzero(model.monitored)
    base, limit = model.flow_mw[mon], model.limit_mw[mon]
    hosting = np.empty(len(ids))
    limiting = np.full(len(ids), -1, dtype=np.int64)
    for start in range(0, len(ids), chunk):
        part = ids[start:start + chunk]
        s = -sens.ptdf(model, part, rows=mon, chunk=chunk)
        h, r = limits_from_sensitivity(base, limit, s)
        hosting[start:start + len(part)] = h
        limiting[start:start + len(part)] = np.where(r >= 0, model.branch_ids[mon[np.maximum(r, 0)]], -1)
        if progress is not None:
            progress(min(start + chunk, len(ids)), len(ids))
    limited_by = np.where(limiting >= 0, "branch", "none")
    if model.slack != "single":
        head = model.headroom_mw().to_numpy()[model.island[model.positions(ids)]]
        by_gen = head < hosting
        hosting = np.where(by_gen, head, hosting)
        limited_by = np.where(by_gen, HEADROOM, limited_by)
        limiting = np.where(by_gen, -1, limiting)
    b = grid.buses.reindex(ids)
    frame = pd.DataFrame({
        "bus": ids,
        "lat": b.geometry.y.to_numpy() if len(b) else [],
        "lon": b.geometry.x.to_numpy() if len(b) else [],
        "kv": b["kv"].to_numpy(),
        "substation_name": b["substation_name"].to_numpy(),
        "interconnect": b["interconnect"].to_numpy(),
        "hosting_mw": hosting,
        "limiting_branch": pd.array(np.where(limiting >= 0, limiting, 0), dtype="Int64"),
        "limited_by": limited_by,
    })
    frame.loc[limiting < 0, "limiting_branch"] = pd.NA
    return gpd.GeoDataFrame(frame, geometry=b.geometry.to_numpy(), crs=grid.buses.crs)
