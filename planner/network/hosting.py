"""Hosting capacity: the largest new load each bus alone can take (N-0 or N-1, firm or flexible).

For a bus b and a monitored branch l with base flow ``f0`` and limit ``L``
(its rating, or its base flow where that is already higher: an existing
overload may not get worse), a load of ``x`` MW at b moves the flow to
``f0 + s[l,b] * x`` with ``s = -PTDF`` (new load picked up by the slack of
:mod:`planner.network.sensitivity`). The flow stays within ``+-L`` while

    x <= (L - f0) / s      where s > 0,
    x <= (L + f0) / (-s)   where s < 0,

and the hosting capacity is the smallest of these bounds over all monitored
branches; with a distributed slack it is also capped by the island's
generation headroom. Columns are computed a chunk of buses at a time, so memory
stays at (monitored branches x chunk) whatever the grid.

N-1 (:func:`n1_hosting`): the same bound over every (branch *l*, outage *k*) pair,
with sensitivity ``s[l] + LODF[l, k] * s[k]``, base ``f0[l] + LODF[l, k] * f0[k]``
and the emergency rating ``E[l]`` as limit. A pair already over without new load
may not get worse (its limit is its flow without new load, with the DFAX cut-off
of the solve). Only the pairs that can bind below an upper bound ``u[b]`` of the
answer are formed (exact pruning): for ``x`` in ``[0, u[b]]`` the pre-outage flow of
each branch is linear in ``x``, so ``|f_l(x)| <= F_l = max(|f0_l|, |f0_l + s[l,b] u[b]|)``
and the post-outage flow ``f_l(x) + LODF[l,k] f_k(x)`` stays within
``F_l + |LODF[l, k]| F_k``. A pair with ``F_l + |LODF[l, k]| F_k <= E_l`` therefore
has its bound at or above ``u[b]`` and cannot change ``min(u[b], N-1 bound)``.
Buses are taken in groups (``F`` is the largest over the group) that share their
most constraining N-0 branch, so ``F`` stays tight; ``u`` starts from the N-0
hosting and is lowered before pruning by the exact bounds of every outage on the
three most constraining N-0 branches of each bus (with a 1.0 emergency factor the
N-0 limit itself leaves no margin: without this, every pair with a nonzero LODF
would be kept), then again after every chunk of outages. The pair x bus block is
evaluated a slice of pairs at a time within ``budget_mb``.

Flexible load (:func:`planner.network.supply.security_hosting`): a use whose share ``phi`` runs at peak
is checked at peak (``phi * x`` within the peak limits) and off-peak (base load
x the off-peak factor, all of ``x``): ``min(h_peak / phi, h_offpeak)``.

Ties: limits whose MW are within :data:`TIE` (1e-9) of each other bind together; the limit named
(``limiting_branch``, ``limiting_outage``, ``limiting_state``, ``limited_by``) is the first in this
order: a branch before the generation headroom; N-0 before N-1; peak before off-peak; the smallest
branch id; then the smallest outage id. The hosting MW is the smallest of them either way.
"""

from __future__ import annotations

import logging
import time

import geopandas as gpd
import numpy as np
import pandas as pd

from planner.network import sensitivity as sens

logger = logging.getLogger(__name__)

HEADROOM = "generation headroom"
TOP_ROWS = 3          # N-0 branches per bus whose outage bounds seed the upper bound
EPS = 1e-9            # slopes below this move no flow (as in limits_from_sensitivity)
KEEP_TOL = 1e-9       # relative margin of the pruning test (rounding)
#: limits whose MW are within this share of each other are tied: the limiting element named is then the
#: first in the documented order (module docstring, "Ties")
TIE = 1e-9
_LAST = np.iinfo(np.int64).max


def tied_first(room: np.ndarray, key: np.ndarray) -> np.ndarray:
    """Per column of ``room`` (rows x columns, MW), the row of the smallest ``key`` among the rows
    whose room is within :data:`TIE` of the column's smallest (-1 where no row limits: all inf)."""
    best = room.min(axis=0, initial=np.inf)
    tied = room <= best * (1 + TIE) + 1e-12
    row = np.where(tied, np.asarray(key)[:, None], _LAST).argmin(axis=0)
    return np.where(np.isfinite(best), row, -1)


def _room(post0, limit, slope, eps: float = EPS) -> np.ndarray:
    """MW of new load before ``|post0 + slope * x|`` reaches ``limit`` (inf: never; >= 0)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        room = np.where(slope > eps, (limit - post0) / slope, np.where(slope < -eps, (limit + post0) / -slope, np.inf))
    return np.maximum(room, 0.0)


def limits_from_sensitivity(base_mw: np.ndarray, limit_mw: np.ndarray, s: np.ndarray,
                            eps: float = EPS, key: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Hosting MW of each column of ``s`` (rows x buses) and the row that limits it
    (-1 where no row does: the column moves no monitored flow). Rows within :data:`TIE` of the
    smallest room are tied: the one of smallest ``key`` (default: the first row) is named."""
    if s.shape[0] == 0:
        return np.full(s.shape[1], np.inf), np.full(s.shape[1], -1)
    room = _room(base_mw[:, None], limit_mw[:, None], s, eps)
    best = room.min(axis=0)
    row = tied_first(room, np.arange(s.shape[0]) if key is None else key)
    return best, row


def _dfax(dfax: float | None) -> float:
    if dfax is None:
        from planner.config.scenario import setting_default

        return float(setting_default("overload_dfax"))
    return float(dfax)


class _N0State:
    """The N-0 limits of some monitored branches (``rows``) in one load state, in the form the
    column pass evaluates: ``-1 / (L - f0)`` and ``1 / (L + f0)`` (zero on the special rows), and
    the special rows (a branch already over its rating without new load, or at a limit with no
    margin) whose rooms are computed exactly, with the DFAX cut-off on the branches already over."""

    def __init__(self, model: sens.DCModel, mon: np.ndarray, dfax: float):
        self.f0 = model.flow_mw[mon]
        rate = model.rate_mw[mon]
        self.limit = sens.row_limit(rate, self.f0)
        self.over = np.abs(self.f0) > rate * (1 + 1e-9)
        up, dn = self.limit - self.f0, self.limit + self.f0
        special = (self.over & (dfax > 0)) | (np.minimum(up, dn) <= 0)
        with np.errstate(divide="ignore"):
            self.neg_iu = np.where(special, 0.0, -1.0 / up)
            self.idn = np.where(special, 0.0, 1.0 / dn)
        self.special = np.flatnonzero(special)
        self.dfax = dfax

    def subset(self, rows: np.ndarray) -> _N0State:
        out = object.__new__(_N0State)
        for key in ("f0", "limit", "over", "neg_iu", "idn"):
            setattr(out, key, np.ascontiguousarray(getattr(self, key)[rows]))
        out.special = np.flatnonzero(np.isin(rows, self.special))
        out.dfax = self.dfax
        return out


def _n0_columns(ctx: dict, rows: np.ndarray, wf: np.ndarray | None, states: list, pos: np.ndarray,
                key: np.ndarray):
    """N-0 hosting (MW) of the buses at model positions ``pos`` (one island, whose monitored
    branches are ``rows``: indices into the monitored list) in each state (:class:`_N0State` of
    those rows), and the limiting row (index into ``rows``, -1: none; of tied rows, the one of
    smallest ``key``: the rank of its branch id).

    The room of branch l is ``(L - f0) / s`` (``s > 0``) or ``(L + f0) / -s`` (``s < 0``), with
    ``s = -PTDF`` the flow per MW of new load. Its inverse, ``max(s / (L - f0), -s / (L + f0))``,
    is two products and a maximum per entry, and the branch with the largest inverse has the
    smallest room: the hosting is that branch's room, computed from the exact formula. Where
    that branch's slope is at most ``EPS`` (it moves no flow by the rule of :func:`_room`), the
    column is evaluated the slow way."""
    c = len(pos)
    if len(rows) == 0:   # no monitored branch in the island (no ratings): nothing limits
        return [(np.full(c, np.inf), np.full(c, -1, dtype=np.int64)) for _ in states]
    cols = np.arange(c)
    rhs = np.zeros((ctx["n"] + 1, c))
    rhs[ctx["inv"][pos], cols] = 1.0
    theta = sens.angles(ctx, rhs[:-1])
    y = np.take(theta, ctx["fm"][rows], axis=0)
    y -= np.take(theta, ctx["tm"][rows], axis=0)
    del theta, rhs
    y *= ctx["b"][rows][:, None]
    if wf is not None:
        y -= wf[:, None]                     # y: PTDF (per MW injected); the new load's slope is -y
    out = []
    for st in states:
        p = y * st.neg_iu[:, None]
        np.maximum(p, y * st.idn[:, None], out=p)
        r = np.argmax(p, axis=0)
        v = p[r, cols]
        # the rows tied with the largest inverse room: the one of smallest key is named
        named = np.where(p >= v[None, :] * (1 - TIE), key[:, None], _LAST).argmin(axis=0)
        del p
        slope = -y[r, cols]
        h = np.where(v > 0, _room(st.f0[r], st.limit[r], slope), np.inf)
        best = np.where(v > 0, named, -1)
        slow = np.flatnonzero((v > 0) & (np.abs(slope) <= EPS))
        if len(slow):
            s = -y[:, slow]
            if st.dfax > 0:   # the same DFAX cut-off as the special rows below
                s[st.over[:, None] & (np.abs(s) < st.dfax)] = 0.0
            h[slow], best[slow] = limits_from_sensitivity(st.f0, st.limit, s, key=key)
        if len(st.special):
            s = -y[st.special]
            if st.dfax > 0:   # a branch already over: a load worsens it only from the DFAX cut-off
                s[st.over[st.special][:, None] & (np.abs(s) < st.dfax)] = 0.0
            hs, rs = limits_from_sensitivity(st.f0[st.special], st.limit[st.special], s, key=key[st.special])
            special = st.special[np.maximum(rs, 0)]
            tie = np.abs(hs - h) <= TIE * np.minimum(hs, h)
            take = (hs < h) & ~tie
            take |= tie & (rs >= 0) & ((best < 0) | (key[special] < key[np.maximum(best, 0)]))
            h, best = np.where(take, np.minimum(hs, h), h), np.where(take, special, best)
        out.append((h, best))
    return out


def _n0_pass(models: list, ids: np.ndarray, dfax: float, chunk: int = 64, progress=None, label: str = "N-0 hosting",
             groups: np.ndarray | None = None) -> list[tuple[np.ndarray, np.ndarray]]:
    """N-0 hosting (MW, before any generation headroom cap) of each bus id in each model (the
    same grid in different load states: one solve serves them all), with the limiting branch
    (model position, -1: none). ``groups``: the supply group of each bus (a regional model's
    ``groups`` row; default its island).

    Columns are solved ``chunk`` buses at a time on every core (:func:`planner.network.sensitivity.chunk_map`),
    each against the monitored branches of its own island only (an injection moves no flow in
    another island). Memory stays at a few (island branches x chunk) arrays per thread."""
    model = models[0]
    mon = np.flatnonzero(model.monitored)
    pos = model.positions(ids)
    states = [_N0State(m, mon, dfax) for m in models]
    ctx = sens.transfer_setup(model, mon)
    row_island = model.island[model.from_pos[mon]]
    wf_all = model.weight_flows[mon] if model.distributed else None
    bus_group = model.island[pos] if groups is None else np.asarray(groups, dtype=np.int64)
    group_island = (np.arange(len(model.refs)) if groups is None else model.groups["island"].to_numpy(np.int64))
    rank = branch_rank(model)[mon]
    tasks = []
    for grp in np.unique(bus_group):
        members = np.flatnonzero(bus_group == grp)
        rows = np.flatnonzero(row_island == group_island[grp])
        wf = None if wf_all is None else np.ascontiguousarray(wf_all[rows, grp])
        sub = [st.subset(rows) for st in states]
        tasks += [(rows, wf, sub, members[a:a + chunk]) for a in range(0, len(members), chunk)]
    out = [(np.empty(len(ids)), np.full(len(ids), -1, dtype=np.int64)) for _ in models]
    logger.info(f"{label}: {len(ids):,} buses, {len(mon):,} monitored branches, {len(models)} load state(s), "
                f"{len(tasks):,} chunks on {sens.workers()} thread(s)")
    results = sens.chunk_map(lambda t: _n0_columns(ctx, t[0], t[1], t[2], pos[t[3]], rank[t[0]]), tasks, label, len(ids),
                             progress=progress, sizes=[len(t[3]) for t in tasks])
    for (rows, _, _, members), res in zip(tasks, results):
        for (h, r), (h_all, r_all) in zip(res, out):
            h_all[members] = h
            r_all[members] = np.where(r >= 0, mon[rows[np.maximum(r, 0)]], -1) if len(rows) else -1
    return out


def branch_rank(model: sens.DCModel) -> np.ndarray:
    """The rank of each branch of ``model`` by branch id (the order that names a tied limit)."""
    rank = np.empty(model.n_branch, dtype=np.int64)
    rank[np.argsort(model.branch_ids, kind="stable")] = np.arange(model.n_branch)
    return rank


def _group_headroom(model: sens.DCModel) -> np.ndarray:
    """Generation headroom (MW) of each supply group of a regional model: its generators' max(Pmax - Pg, 0)."""
    g = model.gens
    head = np.clip(g["max_p_mw"].to_numpy() - g["p_mw"].to_numpy(), 0.0, None) * (g["weight"].to_numpy() > 0)
    return np.bincount(g["group"].to_numpy(), weights=head, minlength=len(model.groups))


def _n0_frame(grid, model: sens.DCModel, ids: np.ndarray, hosting: np.ndarray, limiting: np.ndarray,
              groups: np.ndarray | None = None) -> gpd.GeoDataFrame:
    """The hosting frame of one state: the generation headroom cap, the limiting branch id and the bus data."""
    limiting = np.where(limiting >= 0, model.branch_ids[np.maximum(limiting, 0)], -1)
    limited_by = np.where(limiting >= 0, "branch", "none")
    if model.distributed:
        head = model.headroom_mw().to_numpy()[model.island[model.positions(ids)]] if groups is None else \
            _group_headroom(model)[groups]
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


def hosting_capacity(grid, model: sens.DCModel | None = None, buses=None, slack: str = "headroom",
                     chunk: int = 64, progress=None, dfax: float | None = None) -> gpd.GeoDataFrame:
    """Hosting capacity (MW) of every bus of ``grid`` (or of ``buses``), as a GeoDataFrame
    with ``bus, lat, lon, kv, hosting_mw, limiting_branch, limited_by``.

    A branch already over its rating without new load may not get worse, but (as in the
    solve, ``overload_dfax``) a load worsens it only where its distribution factor reaches
    ``dfax`` (default: the scenario default, 0.05; 0: any amount)."""
    model = model or sens.dc_model(grid, slack)
    ids = model.bus_ids if buses is None else np.asarray(buses)
    (hosting, limiting), = _n0_pass([model], ids, _dfax(dfax), chunk=chunk, progress=progress)
    return _n0_frame(grid, model, ids, hosting, limiting)


# --------------------------------------------------------------------------- N-1


class _PairBounds:
    """The exact N-1 bound of (branch, outage) pairs for a group of buses, and the running minimum.

    ``l``, ``k``: monitored indices; ``lo``: LODF[l, k]. A pair over its emergency rating
    without new load (``|post0| > E``) is limited to ``|post0|`` with the DFAX cut-off."""

    def __init__(self, s: np.ndarray, base: np.ndarray, emergency: np.ndarray, dfax: float, cap: np.ndarray,
                 block_bytes: float, rank: np.ndarray | None = None):
        self.s, self.base, self.emergency, self.dfax = s, base, emergency, dfax
        #: rank of each monitored branch by id: a tied pair is named by the smallest (branch, outage)
        self.rank = np.arange(len(base), dtype=np.int64) if rank is None else np.asarray(rank, dtype=np.int64)
        self.best = cap.astype(float).copy()
        self.l = np.full(len(cap), -1, dtype=np.int64)
        self.k = np.full(len(cap), -1, dtype=np.int64)
        # ~6 float arrays of (pairs x buses) are alive while a slice is evaluated
        self.block = max(1, int(block_bytes // (6 * 8 * max(1, s.shape[1]))))
        self.evaluated = 0

    def _post0_limit(self, l, k, lo):
        post0 = self.base[l] + lo * self.base[k]
        pre = np.abs(post0) > self.emergency[l] * (1 + 1e-9)
        return post0, pre, np.where(pre, np.abs(post0), self.emergency[l])

    def _key(self, l, k):
        """The order of pairs (smallest branch id, then outage id); the cap (l = -1) comes first."""
        n = len(self.rank) + 1
        return np.where(l >= 0, self.rank[np.maximum(l, 0)] * n + self.rank[np.maximum(k, 0)], -1)

    def _update(self, room, l, k):
        """Keep each bus's smallest bound. room: pairs x buses; l, k: per pair (1-d) or per pair
        and bus (2-d). Bounds within :data:`TIE` of each other are tied: the pair first in the order
        of :meth:`_key` is named (the cap, N-0, before any pair)."""
        cols = np.arange(room.shape[1])
        key = self._key(l, k)
        key = key[:, None] if key.ndim == 1 else key
        h = room.min(axis=0, initial=np.inf)
        j = np.where(room <= h * (1 + TIE) + 1e-12, key, _LAST).argmin(axis=0)
        lj = l[j] if l.ndim == 1 else l[j, cols]
        kj = k[j] if k.ndim == 1 else k[j, cols]
        with np.errstate(invalid="ignore"):  # inf - inf (no limit on either side) is no tie
            tie = np.abs(h - self.best) <= TIE * np.minimum(h, self.best)
        better = ((h < self.best) & ~tie) | (tie & (self._key(lj, kj) < self._key(self.l, self.k)))
        self.best[better] = np.minimum(h, self.best)[better]
        self.l[better] = lj[better]
        self.k[better] = kj[better]

    def pairs(self, l, k, lo):
        """Evaluate pairs (1-d arrays) for every bus of the group."""
        for a in range(0, len(l), self.block):
            ll, kk, oo = l[a:a + self.block], k[a:a + self.block], lo[a:a + self.block]
            post0, pre, limit = self._post0_limit(ll, kk, oo)
            slope = self.s[ll] + oo[:, None] * self.s[kk]
            if self.dfax > 0 and pre.any():
                cut = slope[pre]
                cut[np.abs(cut) < self.dfax] = 0.0
                slope[pre] = cut
            self._update(_room(post0[:, None], limit[:, None], slope), ll, kk)
            self.evaluated += len(ll) * self.s.shape[1]

    def rows(self, rows, k, cols, row_index=None):
        """Evaluate, for each bus c, the pairs (rows[r, c], k[j]) for every r and j (``cols``:
        LODF columns of the outages ``k``, monitored x len(k); or, with ``row_index``, only the
        rows of the branches, ``cols[row_index[r, c]]`` that of ``rows[r, c]``)."""
        nr, nc = rows.shape
        c = np.arange(nc)
        lo = cols[rows if row_index is None else row_index]          # nr x nc x nk
        post0, pre, limit = self._post0_limit(rows[:, :, None], k[None, None, :], lo)
        slope = self.s[rows, c[None, :]][:, :, None] + lo * self.s[k].T[None, :, :]
        if self.dfax > 0 and pre.any():
            slope = np.where(pre & (np.abs(slope) < self.dfax), 0.0, slope)
        room = _room(post0, limit, slope)                            # nr x nc x nk
        room[rows[:, :, None] == k[None, None, :]] = np.inf           # the outaged branch itself
        room = room.transpose(0, 2, 1).reshape(nr * len(k), nc)
        ll = np.repeat(rows, len(k), axis=0)                          # (nr * nk) x nc
        kk = np.broadcast_to(np.tile(k, nr)[:, None], ll.shape)
        self._update(room, ll, kk)
        self.evaluated += room.size

    def reach(self, base: np.ndarray) -> np.ndarray:
        """F: the largest |pre-outage flow| of each monitored branch over x in [0, best] of any bus."""
        with np.errstate(invalid="ignore"):
            end = base[:, None] + np.where(self.s == 0.0, 0.0, self.s * self.best[None, :])
        return np.maximum(np.abs(base), np.max(np.abs(end), axis=1, initial=0.0))


def _dense_group(cont, pb: _PairBounds, rows, base, thr, chunk_rowmax):
    """The pairs of a group of buses from the dense LODF: every outage on each bus's most
    constraining branches first, then, chunk by chunk, the pairs the bound cannot prune.
    Returns (triples seeded, triples kept, the largest |LODF| of each branch per chunk)."""
    maxes = []
    for first, cols in cont.chunks():   # seed: every outage on each bus's most constraining branches
        k = cont.outages[first:first + cols.shape[1]]
        if len(rows):
            pb.rows(rows, k, cols)
        if chunk_rowmax is None:
            maxes.append(np.abs(cols).max(axis=1, initial=0.0))
    if chunk_rowmax is None:
        chunk_rowmax = maxes
    seeded, kept = pb.evaluated, 0
    for c, (first, cols) in enumerate(cont.chunks()):
        k = cont.outages[first:first + cols.shape[1]]
        reach = pb.reach(base)
        with np.errstate(invalid="ignore"):  # 0 x inf (a bus moving no flow): no reach
            cand = np.flatnonzero(reach + np.nan_to_num(chunk_rowmax[c] * reach[k].max(initial=0.0)) > thr)
            if not len(cand):
                continue
            far = np.abs(cols[cand]) * reach[k][None, :]
            if not np.isfinite(reach).all():
                far = np.nan_to_num(far, nan=0.0, posinf=np.inf)
            keep = reach[cand, None] + far > thr[cand, None]
        own = np.flatnonzero(np.isin(cand, k))                   # the outaged branch itself
        keep[own, np.searchsorted(k, cand[own])] = False
        i, j = np.nonzero(keep)
        before = pb.evaluated
        pb.pairs(cand[i], k[j], cols[cand[i], j])
        kept += pb.evaluated - before
    return seeded, kept, chunk_rowmax


def _sparse_group(cont, pb: _PairBounds, rows, base, thr, block: int = 256):
    """The pairs of a group of buses from a sparse LODF (:class:`planner.network.security.Contingencies`):
    the exact rows of each bus's most constraining branches against every outage first, then
    every pair the bound keeps (:meth:`~planner.network.security.Contingencies.candidates`, exact).
    Returns (triples seeded, triples kept)."""
    if len(rows):
        lines, index = np.unique(rows, return_inverse=True)
        index = index.reshape(rows.shape)
        lo = cont.rows(lines)
        for a in range(0, len(cont.outages), block):
            pb.rows(rows, cont.outages[a:a + block], lo[:, a:a + block], row_index=index)
    seeded = pb.evaluated
    reach = pb.reach(base)
    with np.errstate(invalid="ignore"):
        l, k, lo = cont.candidates(reach, reach, thr)
    pb.pairs(l, k, lo)
    return seeded, pb.evaluated - seeded


def n1_hosting(model: sens.DCModel, buses, factor: float = 1.2, dfax: float | None = None, cap_mw=None,
               group: int = 64, cont=None, budget_mb: float = 128.0, progress=None,
               label: str = "", stats: dict | None = None, groups: np.ndarray | None = None
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``min(cap_mw, N-1 hosting)`` (MW) of each bus id in ``buses``, exactly, with the
    limiting branch and outage positions (-1 where ``cap_mw`` is the smaller).

    ``cap_mw`` (default: the N-0 hosting of the branches) may be any upper bound the
    caller will take the minimum with: the lower it is, the fewer pairs are formed.
    Buses are taken ``group`` at a time; the pair x bus block is evaluated in slices, and
    the sensitivities of all buses are kept only if they fit, within ``budget_mb``. ``groups``: the
    supply group of each bus of a regional model. ``stats`` (a dict), if given, receives the number of
    (branch, outage, bus) triples in all (``triples``), evaluated to seed the upper
    bound (``seeded``) and kept by the pruning (``kept``)."""
    from planner.network.security import Contingencies

    mon = np.flatnonzero(model.monitored)
    ids = np.asarray(buses)
    if len(mon) == 0:  # no monitored branch (every rating 0): no pair limits anything
        best = np.full(len(ids), np.inf) if cap_mw is None else np.asarray(cap_mw, float).copy()
        return best, np.full(len(ids), -1, dtype=np.int64), np.full(len(ids), -1, dtype=np.int64)
    cont = cont or Contingencies(model, mon, factor)
    base, limit0, emergency = model.flow_mw[mon], model.limit_mw[mon], cont.emergency
    t0 = time.perf_counter()

    # pass 1: N-0 rooms of every bus (a branch already over is worsened only from the DFAX cut-off, as in the
    # solve), its most constraining branches, and the order of the groups
    dfax = _dfax(dfax)
    over_cut = ((np.abs(base) > model.rate_mw[mon] * (1 + 1e-9)) & (dfax > 0))[:, None]
    top = np.full((len(ids), TOP_ROWS), -1, dtype=np.int64)
    h0 = np.empty(len(ids))
    # half the budget for the sensitivities of every bus (else solved again for each group), half for pair slices
    keep_s = len(mon) * len(ids) * 8 <= budget_mb * 2**20 / 2
    s_all = np.empty((len(mon), len(ids))) if keep_s else None
    for start in range(0, len(ids), 256):
        s = -sens.ptdf(model, ids[start:start + 256], rows=mon,
                       groups=None if groups is None else groups[start:start + 256])
        if keep_s:
            s_all[:, start:start + s.shape[1]] = s
        room = _room(base[:, None], limit0[:, None], np.where(over_cut & (np.abs(s) < dfax), 0.0, s) if over_cut.any()
                     else s)
        n = min(TOP_ROWS, len(mon))
        part = np.argpartition(room, n - 1, axis=0)[:n] if n else np.zeros((0, s.shape[1]), np.int64)
        part = np.take_along_axis(part, np.argsort(np.take_along_axis(room, part, axis=0), axis=0), axis=0)
        top[start:start + s.shape[1], :n] = part.T
        h0[start:start + s.shape[1]] = room.min(axis=0, initial=np.inf)
    cap = h0 if cap_mw is None else np.minimum(np.broadcast_to(np.asarray(cap_mw, float), h0.shape), h0)
    # infinite caps (a bus moving no flow) last: their group keeps every pair
    order = np.lexsort((np.arange(len(ids)),) + tuple(top[:, ::-1].T) + (~np.isfinite(cap),))

    hosting = np.empty(len(ids))
    branch = np.full(len(ids), -1, dtype=np.int64)
    outage = np.full(len(ids), -1, dtype=np.int64)
    rank = branch_rank(model)[mon]
    thr = emergency * (1 - KEEP_TOL) - KEEP_TOL
    chunk_rowmax = None
    n_groups = -(-len(ids) // group)
    seeded = kept = 0
    for start in range(0, len(ids), group):
        sel = order[start:start + group]
        s = s_all[:, sel] if keep_s else -sens.ptdf(model, ids[sel], rows=mon,
                                                    groups=None if groups is None else groups[sel])
        pb = _PairBounds(s, base, emergency, dfax, cap[sel], budget_mb * 2**20 / 2, rank=rank)
        rows = top[sel].T                                            # TOP_ROWS x group
        rows = rows[(rows >= 0).all(axis=1)]
        if cont.cache is None:   # sparse LODF: exact rows of the most constraining branches, then the candidates
            n_seed, n_kept = _sparse_group(cont, pb, rows, base, thr)
        else:
            n_seed, n_kept, chunk_rowmax = _dense_group(cont, pb, rows, base, thr, chunk_rowmax)
        seeded += n_seed
        kept += n_kept
        hosting[sel] = pb.best
        branch[sel] = np.where(pb.l >= 0, mon[np.maximum(pb.l, 0)], -1)
        outage[sel] = np.where(pb.k >= 0, mon[np.maximum(pb.k, 0)], -1)
        if progress is not None:
            progress(min(start + group, len(ids)), len(ids))
    triples = (len(mon) * len(cont.outages) - len(cont.outages)) * len(ids)
    if stats is not None:
        stats.update(triples=triples, seeded=seeded, kept=kept)
    logger.info(f"N-1 pairs{label}: {len(ids):,} buses in {n_groups:,} groups; of {triples:,} (branch, outage, "
                f"bus) triples, {seeded:,} evaluated first (every outage on the {TOP_ROWS} most constraining branches "
                f"of each bus), then {kept:,} kept by the bound and {triples - kept:,} pruned "
                f"({time.perf_counter() - t0:.1f} s)")
    return hosting, branch, outage


def no_hosting_frame(grid, model: sens.DCModel, ids: np.ndarray, region: np.ndarray, use: str, security: str,
                     supply: str) -> gpd.GeoDataFrame:
    """The hosting frame of buses that host nothing under a regional supply response: no supply
    region (``region`` ""), or none with generation headroom."""
    n = len(ids)
    none = _n0_frame(grid, model, ids, np.zeros(n), np.full(n, -1))
    none["limited_by"] = np.where(np.asarray(region) == "", "no supply region", HEADROOM)
    for col, value in (("n0_hosting_mw", 0.0), ("limiting_outage", pd.NA), ("limiting_state", ""), ("use", use),
                       ("security", security), ("supply", supply)):
        none[col] = value
    none["limiting_outage"] = none["limiting_outage"].astype("Int64")
    return none


def security_frame(grid, model, ids, security, use, emergency_rating_factor, firm_share, offpeak_load_factor, dfax,
                    progress, contingencies, slack, groups=None) -> gpd.GeoDataFrame:
    """:func:`planner.network.supply.security_hosting` of the buses ``ids`` with a fixed participation (``groups``: the
    supply group of each bus in a regional model)."""
    states = use_states(grid, model, use, firm_share, offpeak_load_factor)
    logger.info(f"{use} hosting, {security.upper()}: " + "; ".join(
        f"{name} ({phi:.0%} of the load" + (f", base load x {offpeak_load_factor:g})" if name == "offpeak" else ")")
        for name, _, phi in states))
    t = time.perf_counter()
    n0 = _n0_pass([m for _, m, _ in states], ids, _dfax(dfax), progress=progress,
                  label="N-0 hosting (" + ", ".join(name for name, _, _ in states) + ")", groups=groups)
    logger.info(f"N-0 pass: {len(ids):,} buses ({time.perf_counter() - t:.1f} s)")
    frame = None
    for (name, m, phi), (hosting, limiting) in zip(states, n0):
        h = _n0_frame(grid, m, ids, hosting, limiting, groups)
        scaled = h["hosting_mw"].to_numpy() / phi
        if frame is None:
            frame = h
            best = np.full(len(h), np.inf)
            branch = np.full(len(h), -1, dtype=np.int64)
            outage = np.full(len(h), -1, dtype=np.int64)
            state = np.full(len(h), "", dtype=object)
            limited_by = np.full(len(h), "none", dtype=object)
        better = scaled < best * (1 - TIE)  # a tie keeps the earlier state (peak before off-peak)
        best[better] = scaled[better]
        branch[better] = h["limiting_branch"].fillna(-1).to_numpy(np.int64)[better]
        state[better] = name
        limited_by[better] = h["limited_by"].to_numpy()[better]
    ids = frame["bus"].to_numpy()
    frame["n0_hosting_mw"] = best.copy()
    if security == "n-1":
        cont = contingencies
        for name, m, phi in states:  # the same topology: the LODF columns serve every state
            # pairs that cannot bind below the best bound so far are not formed
            h1, br, out = n1_hosting(m, ids, emergency_rating_factor, dfax=_dfax(dfax), cap_mw=best * phi, cont=cont,
                                     progress=progress, label=f" ({name})", groups=groups)
            scaled = h1 / phi
            better = (scaled < best * (1 - TIE)) & (out >= 0)  # a tie keeps N-0 and the earlier state
            best[better] = scaled[better]
            branch[better] = m.branch_ids[br[better]]
            outage[better] = m.branch_ids[out[better]]
            state[better] = name
            limited_by[better] = "branch after outage"
    frame["hosting_mw"] = best
    frame["limiting_branch"] = pd.array(np.where(branch >= 0, branch, 0), dtype="Int64")
    frame.loc[branch < 0, "limiting_branch"] = pd.NA
    frame["limiting_outage"] = pd.array(np.where(outage >= 0, outage, 0), dtype="Int64")
    frame.loc[outage < 0, "limiting_outage"] = pd.NA
    frame["limited_by"] = limited_by
    frame["limiting_state"] = state
    frame["use"] = use
    frame["security"] = security
    frame["supply"] = slack
    return frame


def regional_hosting_model(grid, model: sens.DCModel, ids: np.ndarray, regions: dict | None = None
                           ) -> tuple[sens.DCModel | None, np.ndarray, np.ndarray]:
    """The regional supply response of hosting: new load at a bus is picked up by the generators of
    the bus's supply region on its island, in proportion to their headroom
    (:func:`planner.network.sensitivity.regional_model`). Buses and generators are placed in regions as
    ``planner solve`` places sites and generators: the first of ``regions`` (a scenario's
    ``supply.regions``) whose states and interconnects include them; without ``regions``, their
    interconnect.

    Returns the regional model (None if no bus has a region with generator headroom), the supply
    group of each bus id (-1: none) and each bus's region ("" for none)."""
    from planner.network.regions import bus_regions

    ids = np.asarray(ids)
    bus_region = bus_regions(regions, grid.buses.reindex(ids))
    gen = grid.net.gen
    gen_region = pd.Series(bus_regions(regions, grid.buses.reindex(gen["bus"].to_numpy())), index=gen.index)
    island = model.island[model.positions(ids)]
    gens = model.gens[model.gens["gen"].to_numpy() >= 0]
    head = pd.Series(np.clip(gens["max_p_mw"].to_numpy() - gens["p_mw"].to_numpy(), 0.0, None)).groupby(
        [gen_region.reindex(gens["gen"].to_numpy()).fillna("").to_numpy(), gens["island"].to_numpy()]).sum()
    pairs = pd.MultiIndex.from_arrays([bus_region, island])
    ok = (bus_region != "") & (head.reindex(pairs).fillna(0.0).to_numpy() > 0)
    groups = np.full(len(ids), -1, dtype=np.int64)
    if not ok.any():
        return None, groups, bus_region
    needed = pd.DataFrame({"region": bus_region[ok], "island": island[ok]})
    regional = sens.regional_model(model, gen_region, needed)
    index = pd.Series(np.arange(len(regional.groups)), index=pd.MultiIndex.from_arrays(
        [regional.groups["region"], regional.groups["island"]]))
    groups[ok] = index.reindex(pairs[ok]).to_numpy()
    return regional, groups, bus_region


def use_states(grid, model: sens.DCModel, use: str, firm_share: float | None, offpeak_load_factor: float) -> list:
    """(name, model, share of the use's MW running) of each load state a use is checked in."""
    share = (1.0 if use == "ai" else 0.1) if firm_share is None else float(firm_share)
    states = [("peak", model, share)]
    if share < 1.0:
        states.append(("offpeak", sens.scaled_loads(model, grid.net, offpeak_load_factor), 1.0))
    return [s for s in states if s[2] > 0]   # a state where none of the load runs limits nothing


def redispatch_frame(model: sens.DCModel, fixed: gpd.GeoDataFrame, states: list, results: list
                     ) -> gpd.GeoDataFrame:
    """The hosting frame of the redispatch supply response: ``fixed`` (the headroom frame of the same
    buses), with the hosting of each of ``states`` (:func:`use_states`) from ``results``
    (:func:`planner.network.hosting_redispatch.redispatch_hosting`) as the smallest over the states."""
    ids = fixed["bus"].to_numpy()
    best = np.full(len(ids), np.inf)
    branch = np.full(len(ids), -1, dtype=np.int64)
    outage = np.full(len(ids), -1, dtype=np.int64)
    moved, part = np.full(len(ids), np.nan), np.full(len(ids), np.nan)
    state = np.full(len(ids), "", dtype=object)
    for (name, m, phi), (h, b, k, red, red_part) in zip(states, results):
        scaled = h / phi
        better = scaled < best
        best[better], branch[better], outage[better] = scaled[better], b[better], k[better]
        moved[better], part[better], state[better] = red[better], red_part[better], name
    frame = fixed.drop(columns=["n0_hosting_mw"])
    frame["fixed_hosting_mw"] = fixed["hosting_mw"].to_numpy()
    frame["hosting_mw"] = best
    frame["redispatch_mw"] = moved
    frame["redispatch_95_mw"] = part
    fixed_mw = frame["fixed_hosting_mw"].to_numpy(float)
    with np.errstate(divide="ignore", invalid="ignore"):   # a ratio where both are finite and the fixed one > 0
        frame["redispatch_ratio"] = np.where((fixed_mw > 0) & np.isfinite(fixed_mw) & np.isfinite(best),
                                             best / fixed_mw, np.nan)
    frame["limiting_branch"] = pd.array(np.where(branch >= 0, model.branch_ids[np.maximum(branch, 0)], 0), dtype="Int64")
    frame.loc[branch < 0, "limiting_branch"] = pd.NA
    frame["limiting_outage"] = pd.array(np.where(outage >= 0, model.branch_ids[np.maximum(outage, 0)], 0),
                                        dtype="Int64")
    frame.loc[outage < 0, "limiting_outage"] = pd.NA
    frame["limited_by"] = np.where(~np.isfinite(best), "none", np.where(
        branch < 0, HEADROOM, np.where(outage >= 0, "branch after outage", "branch")))
    frame["limiting_state"] = state
    frame["supply"] = "redispatch"
    return frame
