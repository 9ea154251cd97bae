"""Hosting capacity: the largest new load each bus alone can take (N-0 or N-1, firm or flexible).

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

N-1 (:func:`n1_hosting`): the same bound over every (branch *l*, outage *k*) pair,
with sensitivity ``s[l] + LODF[l, k] * s[k]``, base ``f0[l] + LODF[l, k] * f0[k]``
and the emergency rating as limit. Only pairs that could bind before the N-0
limits do are formed: with the N-0 limits held, ``|post| <= L[l] + |LODF[l, k]| L[k]``,
so a pair with ``|LODF[l, k]| L[k] <= E[l] - L[l]`` can never bind first. A pair
already over without new load may not get worse (with the DFAX cut-off of the
solve).

Flexible load (:func:`flexible_hosting`): a use whose share ``phi`` runs at peak
is checked at peak (``phi * x`` within the peak limits) and off-peak (base load
x the off-peak factor, all of ``x``): ``min(h_peak / phi, h_offpeak)``.
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


def n1_hosting(model: sens.DCModel, buses, factor: float = 1.2, dfax: float = 0.05, chunk: int = 64,
               cont=None, progress=None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """N-1 hosting MW of each bus id in ``buses`` (post-contingency limits only; take the
    minimum with the N-0 hosting), with the limiting branch and outage positions (-1: none)."""
    from planner.security import Contingencies

    mon = np.flatnonzero(model.monitored)
    cont = cont or Contingencies(model, mon, factor)
    lim = model.limit_mw[mon]
    base = model.flow_mw[mon]
    emergency = cont.emergency
    ls, ks, los = [], [], []
    for start, cols in cont.chunks():
        k = cont.outages[start:start + cols.shape[1]]
        could = np.abs(cols) * lim[k][None, :] > (emergency - lim)[:, None] - 1e-9
        could[k, np.arange(len(k))] = False
        post0 = base[:, None] + cols * base[k][None, :]
        could |= np.abs(post0) > emergency[:, None]   # pre-existing: never dropped
        could[k, np.arange(len(k))] = False
        l, j = np.nonzero(could)
        ls.append(l)
        ks.append(k[j])
        los.append(cols[l, j])
    l, k, lo = (np.concatenate(a) for a in (ls, ks, los))
    post0 = base[l] + lo * base[k]
    pre = np.abs(post0) > emergency[l] * (1 + 1e-9)
    limit = np.where(pre, np.abs(post0), emergency[l])
    ids = np.asarray(buses)
    hosting = np.empty(len(ids))
    which = np.full(len(ids), -1, dtype=np.int64)
    for start in range(0, len(ids), chunk):
        part = ids[start:start + chunk]
        s = -sens.ptdf(model, part, rows=mon)
        pair = s[l] + lo[:, None] * s[k]
        if dfax > 0 and pre.any():
            block = pair[pre]
            block[np.abs(block) < dfax] = 0.0
            pair[pre] = block
        h, r = limits_from_sensitivity(post0, limit, pair)
        hosting[start:start + len(part)] = h
        which[start:start + len(part)] = r
        if progress is not None:
            progress(min(start + chunk, len(ids)), len(ids))
    branch = np.where(which >= 0, mon[l[np.maximum(which, 0)]], -1)
    outage = np.where(which >= 0, mon[k[np.maximum(which, 0)]], -1)
    return hosting, branch, outage


def security_hosting(grid, model: sens.DCModel | None = None, buses=None, slack: str = "headroom",
                     security: str = "n-0", use: str = "ai", emergency_rating_factor: float = 1.2,
                     firm_share: float | None = None, offpeak_load_factor: float = 0.6, dfax: float = 0.05,
                     progress=None) -> gpd.GeoDataFrame:
    """Hosting capacity of every bus for a use (``ai``: firm; ``mining``: flexible, with
    ``firm_share`` of it running at peak, default 0.1) under N-0 or N-1.

    Each state (peak; and off-peak when the use is flexible) is checked separately;
    the hosting is the smallest of its bounds. Columns: those of
    :func:`hosting_capacity` plus ``n0_hosting_mw``, ``limiting_outage`` (N-1) and
    ``limiting_state``.
    """
    model = model or sens.dc_model(grid, slack)
    share = (1.0 if use == "ai" else 0.1) if firm_share is None else float(firm_share)
    frame = hosting_capacity(grid, model, buses=buses, progress=None)
    ids = frame["bus"].to_numpy()
    states = [("peak", model, share)]
    if share < 1.0:
        states.append(("offpeak", sens.scaled_loads(model, grid.net, offpeak_load_factor), 1.0))
    best = np.full(len(ids), np.inf)
    branch = np.full(len(ids), -1, dtype=np.int64)
    outage = np.full(len(ids), -1, dtype=np.int64)
    state = np.full(len(ids), "", dtype=object)
    cont = None
    if security == "n-1":
        from planner.security import Contingencies

        cont = Contingencies(model, np.flatnonzero(model.monitored), emergency_rating_factor)
    for name, m, phi in states:
        if m is model:
            h0, b0 = frame["hosting_mw"].to_numpy(), frame["limiting_branch"]
        else:
            other = hosting_capacity(grid, m, buses=ids)
            h0, b0 = other["hosting_mw"].to_numpy(), other["limiting_branch"]
        b0 = b0.fillna(-1).to_numpy(np.int64)
        cand = [(h0, b0, np.full(len(ids), -1))]
        if cont is not None:  # the same topology: the LODF columns serve every state
            h1, br, out = n1_hosting(m, ids, emergency_rating_factor, dfax=dfax, cont=cont, progress=progress)
            cand.append((h1, np.where(br >= 0, m.branch_ids[np.maximum(br, 0)], -1),
                         np.where(out >= 0, m.branch_ids[np.maximum(out, 0)], -1)))
        for h, b, o in cand:
            scaled = h / phi if phi > 0 else np.full(len(ids), np.inf)
            better = scaled < best
            best[better] = scaled[better]
            branch[better] = b[better]
            outage[better] = o[better]
            state[better] = name
    frame["n0_hosting_mw"] = frame["hosting_mw"] / share if share > 0 else np.inf
    limited_by_gen = frame["limited_by"].to_numpy() == HEADROOM
    frame["hosting_mw"] = np.where(limited_by_gen, np.minimum(best, frame["hosting_mw"]), best)
    frame["limiting_branch"] = pd.array(np.where(branch >= 0, branch, 0), dtype="Int64")
    frame.loc[branch < 0, "limiting_branch"] = pd.NA
    frame["limiting_outage"] = pd.array(np.where(outage >= 0, outage, 0), dtype="Int64")
    frame.loc[outage < 0, "limiting_outage"] = pd.NA
    frame["limiting_state"] = state
    frame["limited_by"] = np.where(limited_by_gen & (frame["hosting_mw"] < best), HEADROOM,
                                   np.where(outage >= 0, "branch after outage",
                                            np.where(branch >= 0, "branch", "none")))
    frame["use"] = use
    frame["security"] = security
    return frame

