"""Network rows of the allocation: load states, N-0 branch limits and N-1 security.

The network is checked in one or two *states*:

* ``peak``: the grid's base case as given, with only the firm share of each
  new load (a mine curtails at peak; an AI campus does not);
* ``offpeak``: every base load scaled by ``offpeak_load_factor``
  (:func:`planner.network.sensitivity.scaled_loads`), with all new load.

When every firm share is 1 and the factor is 1 the two are the same and only
``peak`` is kept. In each state the flow on monitored branch *l* is
``f0[l] + S[l] @ x`` (``S = -PTDF`` of the candidate buses, ``x`` the state's
new load per bus).

N-0: ``|f| <= limit``: the rating, or the flow without new load where that is
already higher (a load may not worsen an existing overload; with the DFAX
cut-off, only loads whose distribution factor reaches the cut-off count).

N-1: for every outage *k* of a monitored branch that does not island the
grid, ``|f[l] + LODF[l, k] * f[k]| <= emergency_rating_factor * rating[l]``
for every other monitored branch *l*. A pair already over without any new load
(in that state) may not grow in magnitude: it becomes an explicit row with the
pre-contingency flow as its limit and the same DFAX cut-off as N-0.

Rows are added lazily (:mod:`planner.optimization.solve`): after each solve every
(branch, outage) pair is checked with numpy, a chunk of outages at a time,
and only the violated (and nearly violated) pairs become rows. Their
coefficients ``S[l] + LODF[l, k] * S[k]`` are formed for those pairs only; the
branch x outage x bus block is never built. LODF columns are kept when the
branch x outage matrix fits in ``lodf_cache_mb``; otherwise each check
recomputes them chunk by chunk from the one LU factorization.
"""

from __future__ import annotations

import copy
import logging
import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import scipy.sparse as sp

from planner.network import sensitivity as sens

logger = logging.getLogger(__name__)

TOL = 1e-6
#: sparse LODF (grids whose dense LODF does not fit in ``lodf_cache_mb``): entries kept from this magnitude
SPARSE_TOL = 1e-3
#: the N-1 check of the sparse LODF reduces its candidate pairs by blocks of this many outages (the
#: kept entries) and this many branches (the exact rows): memory bounded whatever the load
VIOLATION_BLOCK = (4096, 64)
#: the N-1 loading report is exact for every branch whose worst post-contingency loading reaches this share
REPORT_EXACT = 0.9


def over_limit(flow: np.ndarray, limit: np.ndarray) -> np.ndarray:
    return np.abs(flow) > limit * (1 + TOL) + TOL


@dataclass
class Rows:
    """An explicit family of network rows in one state (N-0 branches, or the
    N-1 pairs already over without new load)."""

    kind: str              # "n-0" | "n-1 pre-existing"
    state: str             # "peak" | "offpeak"
    branch: np.ndarray     # model branch position each row limits
    outage: np.ndarray     # model branch position of the outage (-1: none)
    sens: np.ndarray       # rows x candidate buses (N-0: the network's one matrix, shared by the states;
                           # N-1 pairs over without new load with a DFAX cut-off: a sparse matrix)
    base: np.ndarray
    limit: np.ndarray
    screened: np.ndarray   # rows some allocation in the box could overload
    #: rows whose coefficients differ from ``sens`` in this state (N-0: branches over their rating
    #: without new load, whose small distribution factors are cut off) and their coefficients
    patch_ids: np.ndarray | None = None
    patch: np.ndarray | None = None

    def flows(self, x: np.ndarray) -> np.ndarray:
        flow = self.base + self.sens @ x
        if self.patch_ids is not None:
            flow[self.patch_ids] = self.base[self.patch_ids] + self.patch @ x
        return flow

    def violations(self, x: np.ndarray, near: float):
        """(row ids, sides, number over, flows of those rows): rows over their limit, and screened
        rows above ``near`` of it (likely the next to be violated)."""
        flow = self.flows(x)
        over = over_limit(flow, self.limit)
        pick = over.copy()
        s = self.screened
        pick[s] |= np.abs(flow[s]) >= near * self.limit[s]
        ids = np.flatnonzero(pick)
        return ids, np.where(flow[ids] >= 0, 1, -1), int(over.sum()), flow[ids]

    def rows(self, ids: np.ndarray):
        """(coefficients, base flow, limit) of some rows."""
        coef = self.sens[ids]
        if sp.issparse(coef):   # the N-1 pairs over without new load, with a DFAX cut-off
            coef = coef.toarray()
        if self.patch_ids is not None:
            at = np.searchsorted(self.patch_ids, ids)
            hit = (at < len(self.patch_ids)) & (self.patch_ids[np.minimum(at, len(self.patch_ids) - 1)] == ids)
            coef[hit] = self.patch[at[hit]]
        return coef, self.base[ids], self.limit[ids]


@dataclass
class Found:
    """The rows of one family a check found over (or near) their limit, before any coefficient is
    formed: their keys ``(kind, state, row id, side)``, their flows as a share of their limit on
    their side, and ``form``: positions into ``keys`` -> (coefficients, base flows, limits)."""

    keys: list
    share: np.ndarray
    state: str
    form: object

    @classmethod
    def of(cls, keys: list, flow: np.ndarray, limit: np.ndarray, state: str, form) -> Found:
        side = np.array([k[-1] for k in keys], dtype=float)
        return cls(keys, side * flow / np.maximum(np.abs(limit), 1e-9), state, form)


def most_violated(found: list[Found], cap: int | None, known=None) -> tuple[list, list]:
    """The rows to add of the :class:`Found` of a check: those whose key is not in ``known`` (the
    rows already in the model), and of them at most ``cap`` (None: all): the largest flows as a
    share of their limit first (a row over its limit before one near it; every row tied with the
    ``cap``-th largest share is kept). Coefficients are formed for those rows only.

    Returns (rows to add: (keys, coefficients, base flows, limits, state) per family, the keys of
    the rows found that are in ``known`` already)."""
    fresh, seen = [], []
    for f in found:
        new = np.ones(len(f.keys), dtype=bool) if known is None else \
            np.array([k not in known for k in f.keys], dtype=bool)
        seen += [k for k, m in zip(f.keys, new) if not m]
        if new.any():
            fresh.append((f, np.flatnonzero(new)))
    if cap is not None and sum(len(i) for _, i in fresh) > cap:
        cut = np.sort(np.concatenate([f.share[i] for f, i in fresh]))[-cap]  # the cap-th largest share
        fresh = [(f, i[f.share[i] >= cut]) for f, i in fresh]
    out = []
    for f, i in fresh:
        if len(i):
            coef, base, limit = f.form(i)
            out.append(([f.keys[j] for j in i], coef, base, limit, f.state))
    return out, seen


@dataclass
class State:
    name: str
    model: sens.DCModel           # the DC model in this state (base injections and flows)
    share: dict[str, float]       # use -> share of new MW that counts in this state
    #: supply group of each load column (regional supply response; None: the column bus's island)
    groups: np.ndarray | None = None
    n0: Rows | None = None
    pre: Rows | None = None        # N-1 pairs over without new load
    #: (l, k) of every N-1 pair over without new load, as indices into the monitored list (excluded
    #: from the N-1 check; those a new load can worsen are the rows of ``pre``)
    pre_pairs: tuple = (np.zeros(0, np.int64), np.zeros(0, np.int64))
    #: (LODF, post-contingency flow without new load) of each pair of ``pre_pairs``
    pre_values: tuple = (np.zeros(0), np.zeros(0))
    #: the grid's base loads in this state, times the case's (off-peak factor, a timeline year's growth)
    load_factor: float = 1.0


class Contingencies:
    """The outages and their LODF, shared by the states (the topology is the same).

    Two ways to hold the LODF, with the same answers:

    * dense (the branch x outage matrix fits in ``cache_mb``): every column is kept;
    * sparse (larger grids, e.g. Eastern and usa): one pass over the outages keeps the entries
      of magnitude ``tol`` or more (:func:`planner.network.sensitivity.lodf_sparse`). A pair left out
      moves branch *l* by at most ``tol * |f_k|``, so a question about the pairs that could
      reach a threshold (:meth:`candidates`) is answered from the kept entries for every branch
      where that margin cannot reach it, and from the branch's exact LODF row (one transposed
      solve) where it can. Never a dense branch x outage matrix.
    """

    def __init__(self, model: sens.DCModel, mon: np.ndarray, factor: float, cache_mb: float = 2048.0,
                 chunk: int = 256, tol: float = SPARSE_TOL):
        self.model, self.mon, self.factor, self.chunk = model, mon, float(factor), chunk
        self.emergency = factor * model.rate_mw[mon]
        t0 = time.perf_counter()
        self.cache = self.sparse = None
        self._ctx = None
        if len(mon) * len(mon) * 8 / 2**20 <= cache_mb:
            # one pass: every transfer column, then keep the LODF columns of non-islanding outages
            full = np.empty((len(mon), len(mon)))
            island = np.zeros(len(mon), bool)
            parts = [np.arange(a, min(a + 64, len(mon))) for a in range(0, len(mon), 64)]

            columns = sens.chunk_map(lambda part: sens.lodf(model, mon[part], mon), parts,
                                     "N-1 LODF columns (outages)")
            for part, (cols, flags) in zip(parts, columns):
                full[:, part[0]:part[-1] + 1], island[part] = cols, flags
            self.outages = np.flatnonzero(~island)   # indices into mon
            self.cache = full[:, self.outages] if island.any() else full
            del full
        else:
            logger.info(f"N-1: the LODF matrix ({len(mon):,} x {len(mon):,}) exceeds lodf_cache_mb = {cache_mb:,.0f}; "
                        f"keeping its entries of magnitude {tol:g} or more")
            lodf, island = sens.lodf_sparse(model, mon, tol=tol)
            self.outages = np.flatnonzero(~island)
            self.sparse = sens.SparseLODF(tol=lodf.tol, matrix=lodf.matrix[:, self.outages].tocsc(),
                                          denom=lodf.denom[self.outages])
        self.radial = mon[island]   # model branch positions: listed, not outaged
        kept = (f"kept ({self.cache.nbytes / 2**20:,.0f} MB)" if self.cache is not None else
                f"kept above {tol:g} ({self.sparse.matrix.nnz:,} entries, {self.sparse.nbytes / 2**20:,.0f} MB)")
        logger.info(f"N-1: {len(self.outages):,} outages of {len(mon):,} monitored branches "
                    f"({len(self.radial):,} radial branches island the grid and are not outaged); LODF {kept} "
                    f"({time.perf_counter() - t0:.1f} s)")

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state["_ctx"] = None   # holds the factorization (SuperLU does not pickle); rebuilt on demand
        return state

    def chunks(self):
        """(first outage number, LODF columns of a chunk of outages: monitored x chunk); dense only."""
        if self.cache is None:
            raise RuntimeError("the LODF is held sparse on this grid: use Contingencies.candidates or .rows")
        for start in range(0, len(self.outages), self.chunk):
            yield start, self.cache[:, start:start + self.chunk]

    @property
    def pairs(self) -> int:
        return len(self.mon) * len(self.outages) - len(self.outages)

    def rows(self, lines: np.ndarray) -> np.ndarray:
        """Exact LODF rows (len(lines) x outages) of monitored branches ``lines`` (indices into the
        monitored list); the entry of a branch against its own outage is 0."""
        lines = np.asarray(lines, dtype=np.int64)
        if self.cache is not None:
            out = self.cache[lines].copy()
            out[lines[:, None] == self.outages[None, :]] = 0.0
            return out
        if self._ctx is None:
            self._ctx = sens.transfer_setup(self.model, self.mon)
        return sens.lodf_rows(self.model, self.mon, lines, self.outages, self.sparse.denom, ctx=self._ctx)

    def candidates(self, reach_l: np.ndarray, reach_k: np.ndarray, thr: np.ndarray, block: int = 4096):
        """Every (branch l, outage k) pair, l != k, with ``reach_l[l] + |LODF[l, k]| * reach_k[k] >= thr[l]``
        (reach: a bound on |flow| of each monitored branch): (l, k, LODF[l, k]), l and k indices
        into the monitored list, ordered as the dense chunks would list them (by chunk of outages,
        then branch, then outage). Exact in both modes: in sparse mode the pairs left out cannot
        pass unless ``reach_l + tol * max(reach_k) >= thr``, and those branches are taken from their
        exact rows. :meth:`candidate_blocks` yields the same pairs a block at a time."""
        ls, ks, los = [], [], []
        for l, k, lo in self.candidate_blocks(reach_l, reach_k, thr, block):
            ls.append(l), ks.append(k), los.append(lo)
        l, k, lo = (np.concatenate(x) if x else np.zeros(0) for x in (ls, ks, los))
        l, k = l.astype(np.int64), k.astype(np.int64)
        if self.cache is None and len(l):
            order = np.lexsort((k, l, np.searchsorted(self.outages, k) // self.chunk))
            l, k, lo = l[order], k[order], lo[order]
        return l, k, lo.astype(float)

    def candidate_blocks(self, reach_l: np.ndarray, reach_k: np.ndarray, thr: np.ndarray, block: int = 4096,
                         lines_per_block: int = 256):
        """The pairs of :meth:`candidates`, (l, k, LODF[l, k]) a block at a time and in no set order
        across blocks, so a caller that reduces them never holds them all (on a large grid loaded
        near its limits, every outage of a branch near its own limit passes: tens of millions of
        pairs). A branch's pairs all come from blocks of one kind: the kept entries of the sparse
        LODF (:meth:`kept_blocks`) or, where those do not suffice, its exact rows (by
        ``lines_per_block`` branches of :meth:`exact_lines`)."""
        if self.cache is not None:
            for start, cols in self.chunks():
                k = self.outages[start:start + cols.shape[1]]
                with np.errstate(invalid="ignore"):
                    keep = reach_l[:, None] + np.abs(cols) * reach_k[k][None, :] >= thr[:, None]
                keep[k, np.arange(len(k))] = False
                l, j = np.nonzero(keep)
                yield l.astype(np.int64), k[j].astype(np.int64), cols[l, j].astype(float)
            return
        exact = self.exact_lines(reach_l, reach_k, thr)
        yield from self.kept_blocks(reach_l, reach_k, thr, exact, block)
        for lines, lo, keep in self.exact_blocks(reach_l, reach_k, thr, exact, lines_per_block):
            i, j = np.nonzero(keep)
            yield lines[i].astype(np.int64), self.outages[j].astype(np.int64), lo[i, j].astype(float)

    def exact_lines(self, reach_l: np.ndarray, reach_k: np.ndarray, thr: np.ndarray) -> np.ndarray:
        """Sparse LODF: the branches a pair could bring to ``thr`` through entries left out of the
        kept ones (``reach_l + tol * max(reach_k) >= thr``): their pairs come from exact rows."""
        fk = reach_k[self.outages]
        return np.flatnonzero(reach_l + self.sparse.tol * fk.max(initial=0.0) >= thr)

    def exact_blocks(self, reach_l: np.ndarray, reach_k: np.ndarray, thr: np.ndarray, exact: np.ndarray,
                     lines_per_block: int):
        """Sparse LODF: the branches ``exact`` by ``lines_per_block``, each block as (lines, exact LODF
        rows: lines x outages, the candidate pairs among them: a boolean mask of the same shape)."""
        fk = reach_k[self.outages]
        for a in range(0, len(exact), lines_per_block):
            lines = exact[a:a + lines_per_block]
            lo = self.rows(lines)
            keep = reach_l[lines][:, None] + np.abs(lo) * fk[None, :] >= thr[lines][:, None]
            keep[lines[:, None] == self.outages[None, :]] = False
            yield lines, lo, keep

    def kept_blocks(self, reach_l: np.ndarray, reach_k: np.ndarray, thr: np.ndarray, exact: np.ndarray,
                    block: int = 4096):
        """Sparse LODF: the candidate pairs (l, k, LODF[l, k]) among the kept entries, by ``block``
        outages in outage order, of every branch but those of ``exact``."""
        in_exact = np.zeros(len(self.mon), bool)
        in_exact[exact] = True
        fk = reach_k[self.outages]
        m = self.sparse.matrix
        for a in range(0, len(self.outages), block):
            b = min(a + block, len(self.outages))
            p0, p1 = m.indptr[a], m.indptr[b]
            r = m.indices[p0:p1].astype(np.int64)
            v = m.data[p0:p1]
            c = np.repeat(np.arange(a, b), np.diff(m.indptr[a:b + 1]))
            ok = (reach_l[r] + np.abs(v) * fk[c] >= thr[r]) & ~in_exact[r]
            yield r[ok], self.outages[c[ok]].astype(np.int64), v[ok].astype(float)

    def post_flows(self, flow_mon: np.ndarray, start: int, cols: np.ndarray) -> np.ndarray:
        """Post-contingency flows (monitored x chunk) of a chunk; the outaged branch carries 0."""
        k = self.outages[start:start + cols.shape[1]]
        post = flow_mon[:, None] + cols * flow_mon[k][None, :]
        post[k, np.arange(len(k))] = 0.0
        return post

    def preexisting_pairs(self, base: np.ndarray):
        """(l, k, lodf, post0): the pairs over the emergency rating with the monitored flows ``base``
        (l, k: indices into the monitored list)."""
        if self.cache is None:
            reach = np.abs(base)
            l, k, lo = self.candidates(reach, reach, self.emergency * (1 + TOL) + TOL)
            post = base[l] + lo * base[k]
            over = over_limit(post, self.emergency[l]) & (np.abs(post) > 0)
            return l[over], k[over], lo[over], post[over]
        ls, ks, lo = [], [], []
        for start, cols in self.chunks():
            post = self.post_flows(base, start, cols)
            l, j = np.nonzero(over_limit(post, self.emergency[:, None]) & (np.abs(post) > 0))
            ls.append(l)
            ks.append(self.outages[start + j])
            lo.append(cols[l, j])
        l, k, lo = (np.concatenate(a) if a else np.zeros(0, int) for a in (ls, ks, lo))
        l, k = l.astype(np.int64), k.astype(np.int64)
        return l, k, lo.astype(float), base[l] + lo * base[k]

    def worst_pairs(self, flow_mon: np.ndarray, base_mon: np.ndarray):
        """For each monitored branch, its worst post-contingency loading over every outage (share of
        the emergency rating; pairs already over without new load included), that outage (-1: none),
        and whether that pair was already over its emergency rating without new load.

        Sparse LODF: exact for every branch whose worst loading reaches ``REPORT_EXACT``; below,
        the worst over the kept entries (or the branch's own flow, outage -1, where that is
        higher), within ``tol * max|f_k|`` MW of the exact figure."""
        m = len(flow_mon)
        if self.cache is None:
            return self._sparse_worst_pairs(flow_mon, base_mon)
        rows = np.arange(m)
        worst = np.zeros(m)
        worst_k = np.full(m, -1, dtype=np.int64)
        pre = np.zeros(m, bool)
        for start, cols in self.chunks():
            post = self.post_flows(flow_mon, start, cols)
            ratio = np.abs(post) / self.emergency[:, None]
            arg = np.argmax(ratio, axis=1)
            r = ratio[rows, arg]
            better = r > worst
            if not better.any():
                continue
            k = self.outages[start + arg[better]]
            lo = cols[rows[better], arg[better]]
            post0 = base_mon[better] + lo * base_mon[k]
            worst[better] = r[better]
            worst_k[better] = k
            pre[better] = np.abs(post0) > self.emergency[better] * (1 + 1e-6) + 1e-6
        return worst, worst_k, pre

    def _sparse_worst_pairs(self, flow_mon: np.ndarray, base_mon: np.ndarray, block: int = 4096):
        m = len(flow_mon)
        a = np.abs(flow_mon)
        fk = a[self.outages]
        worst = a / self.emergency                       # the flow without outage, until a pair is worse
        worst_k = np.full(m, -1, dtype=np.int64)
        worst_lo = np.zeros(m)
        exact = np.flatnonzero(a + self.sparse.tol * fk.max(initial=0.0) >= REPORT_EXACT * self.emergency)
        mat = self.sparse.matrix

        def update(r, c, v):
            ratio = np.abs(flow_mon[r] + v * flow_mon[self.outages[c]]) / self.emergency[r]
            sel = np.flatnonzero(ratio > worst[r])      # strict: a tie keeps the earlier outage
            if not len(sel):
                return
            r, c, v, ratio = r[sel], c[sel], v[sel], ratio[sel]
            order = np.lexsort((c, -ratio, r))
            first = order[np.r_[True, r[order][1:] != r[order][:-1]]]
            worst[r[first]], worst_k[r[first]], worst_lo[r[first]] = ratio[first], self.outages[c[first]], v[first]

        for s0 in range(0, len(self.outages), block):
            s1 = min(s0 + block, len(self.outages))
            p0, p1 = mat.indptr[s0], mat.indptr[s1]
            update(mat.indices[p0:p1].astype(np.int64), np.repeat(np.arange(s0, s1), np.diff(mat.indptr[s0:s1 + 1])),
                   mat.data[p0:p1])
        if len(exact):   # exact rows: start again from the flow without outage
            worst[exact], worst_k[exact], worst_lo[exact] = a[exact] / self.emergency[exact], -1, 0.0
            for s0 in range(0, len(exact), 256):
                lines = exact[s0:s0 + 256]
                lo = self.rows(lines)   # the own outage's entry is 0: never worse than the flow without outage
                update(np.repeat(lines, lo.shape[1]), np.tile(np.arange(lo.shape[1]), len(lines)), lo.ravel())
        hit = worst_k >= 0
        post0 = base_mon + worst_lo * base_mon[np.maximum(worst_k, 0)]
        pre = hit & (np.abs(post0) > self.emergency * (1 + 1e-6) + 1e-6)
        return worst, worst_k, pre

    def preexisting(self, state: State, s: np.ndarray, dfax: float, block: int | None = None,
                    block_mb: float = 64.0) -> Rows:
        """Pairs over the emergency rating without any new load in a state: every one is listed
        (``state.pre_pairs``) and left out of the N-1 check; those a new load can worsen (a
        coefficient of at least the DFAX cut-off) become explicit rows, added when over.

        The coefficients are formed ``block`` pairs at a time (default: a block of about ``block_mb``
        MB); with a DFAX cut-off they are kept as a sparse matrix (only the coefficients at or above
        the cut-off are non-zero), else dense."""
        l, k, lo, post0 = self.preexisting_pairs(state.model.flow_mw[self.mon])
        state.pre_pairs, state.pre_values = (l, k), (lo, post0)
        block = block or max(1, int(block_mb * 2**20 / (8 * max(s.shape[1], 1))))
        coefs, active = [], []
        for a in range(0, len(l), block):   # blocks of pairs: never all pairs x buses at once
            coef = s[l[a:a + block]] + lo[a:a + block, None] * s[k[a:a + block]]
            if dfax > 0:
                coef[np.abs(coef) < dfax] = 0.0
            live = np.flatnonzero(np.any(coef != 0.0, axis=1))
            coefs.append(sp.csr_matrix(coef[live]) if dfax > 0 else coef[live])
            active.append(a + live)
            del coef
        active = np.concatenate(active) if active else np.zeros(0, np.int64)
        if dfax > 0:
            coef = sp.vstack(coefs, format="csr") if coefs else sp.csr_matrix((0, s.shape[1]))
        else:
            coef = np.vstack(coefs) if coefs else np.zeros((0, s.shape[1]))
        del coefs
        if len(active) < len(l):
            logger.info(f"N-1 ({state.name}): {len(l):,} pairs over without new load, {len(active):,} of them "
                        f"with a distribution factor of at least {dfax:g} (rows when over)")
        # no "near" rows: the limit is the flow without new load, so every row starts at it
        return Rows(kind="n-1 pre-existing", state=state.name, branch=self.mon[l[active]],
                    outage=self.mon[k[active]], sens=coef, base=post0[active], limit=np.abs(post0[active]),
                    screened=np.zeros(0, np.int64))

    def violations(self, state: State, flow_mon: np.ndarray, near: float, report: bool = False):
        """Every (branch, outage) pair of a state checked against the emergency rating.

        Returns (l, k, lodf, post, n_over, worst, worst_k): for each monitored branch over
        its emergency rating (or above ``near`` of it) after some outage, the worst such
        outage (l, k: indices into the monitored list), with its LODF and post-contingency
        flow; the number of pairs over; and the worst post-contingency loading of every
        monitored branch (share of its emergency rating) with its outage (-1: none).
        """
        if self.cache is None:
            return self._sparse_violations(state, flow_mon, near)
        m = len(self.mon)
        n_over = 0
        worst = np.zeros(m)
        worst_k = np.full(m, -1, dtype=np.int64)
        worst_lo = np.zeros(m)
        worst_post = np.zeros(m)
        pl, pk = state.pre_pairs
        rows = np.arange(m)
        for start, cols in self.chunks():
            post = self.post_flows(flow_mon, start, cols)
            k = self.outages[start:start + cols.shape[1]]
            if len(pk):  # pairs over without new load are checked as explicit rows instead
                j = np.clip(np.searchsorted(k, pk), 0, len(k) - 1)
                hit = k[j] == pk
                post[pl[hit], j[hit]] = 0.0
            ratio = np.abs(post) / self.emergency[:, None]
            n_over += int(np.count_nonzero(ratio > 1 + TOL + TOL / self.emergency[:, None]))
            arg = np.argmax(ratio, axis=1)
            r = ratio[rows, arg]
            better = r > worst
            worst[better] = r[better]
            worst_k[better] = k[arg[better]]
            worst_lo[better] = cols[rows[better], arg[better]]
            worst_post[better] = post[rows[better], arg[better]]
        pick = np.flatnonzero((worst > 1 + TOL + TOL / self.emergency) | (worst >= near))
        return pick, worst_k[pick], worst_lo[pick], worst_post[pick], n_over, worst, worst_k

    def _sparse_violations(self, state: State, flow_mon: np.ndarray, near: float):
        """:meth:`violations` from the pairs that can reach ``near`` of the emergency rating (or
        its limit), those of :meth:`candidates`, reduced a block at a time (per branch its worst
        pair, ties to the first outage): the kept entries by blocks of outages, the branches of
        exact rows by blocks of rows (dense); ``worst`` is exact where it reaches that share and 0
        elsewhere."""
        m = len(self.mon)
        a = np.abs(flow_mon)
        share = min(float(near), 1.0)
        thr = np.minimum(share * self.emergency, self.emergency * (1 + TOL) + TOL) * (1 - 1e-9)
        pl, pk = state.pre_pairs
        pre = np.unique(pl * m + pk) if len(pk) else None
        over = 1 + TOL + TOL / self.emergency          # a pair is over above this share of its rating
        n_over = 0
        worst = np.zeros(m)
        worst_k = np.full(m, -1, dtype=np.int64)
        worst_lo = np.zeros(m)
        worst_post = np.zeros(m)
        exact = self.exact_lines(a, a, thr)
        for l, k, lo in self.kept_blocks(a, a, thr, exact, VIOLATION_BLOCK[0]):
            if pre is not None and len(l):  # pairs over without new load are checked as explicit rows instead
                code = l * m + k
                at = np.minimum(np.searchsorted(pre, code), len(pre) - 1)
                keep = pre[at] != code
                l, k, lo = l[keep], k[keep], lo[keep]
            if not len(l):
                continue
            post = flow_mon[l] + lo * flow_mon[k]
            ratio = np.abs(post) / self.emergency[l]
            n_over += int(np.count_nonzero(ratio > over[l]))
            order = np.lexsort((k, -ratio, l))          # per branch: the worst outage, ties to the first
            first = order[np.r_[True, l[order][1:] != l[order][:-1]]]
            lf, rf, kf = l[first], ratio[first], k[first]
            better = (worst_k[lf] < 0) | (rf > worst[lf]) | ((rf == worst[lf]) & (kf < worst_k[lf]))
            lf, first = lf[better], first[better]
            worst[lf], worst_k[lf] = ratio[first], k[first]
            worst_lo[lf], worst_post[lf] = lo[first], post[first]
        fk = flow_mon[self.outages]
        for lines, lo, keep in self.exact_blocks(a, a, thr, exact, VIOLATION_BLOCK[1]):  # dense blocks of whole rows
            post = flow_mon[lines][:, None] + lo * fk[None, :]
            sel = np.flatnonzero(np.isin(pl, lines)) if pre is not None else []
            if len(sel):                                # pairs over without new load: explicit rows instead
                keep[np.searchsorted(lines, pl[sel]), np.searchsorted(self.outages, pk[sel])] = False
            ratio = np.where(keep, np.abs(post) / self.emergency[lines][:, None], -1.0)
            n_over += int(np.count_nonzero(keep & (ratio > over[lines][:, None])))
            arg = np.argmax(ratio, axis=1)              # the first of the worst: the smallest outage
            rows = np.arange(len(lines))
            hit = keep[rows, arg]
            lf, j = lines[hit], arg[hit]
            worst[lf], worst_k[lf] = ratio[rows[hit], j], self.outages[j]
            worst_lo[lf], worst_post[lf] = lo[rows[hit], j], post[rows[hit], j]
        pick = np.flatnonzero((worst > over) | (worst >= near))
        return pick, worst_k[pick], worst_lo[pick], worst_post[pick], n_over, worst, worst_k


# --------------------------------------------------------------------------- the network of a plan


@dataclass
class Network:
    """Every network row family of a plan, and the checks of the lazy loop."""

    mon: np.ndarray                 # model branch positions of the monitored branches
    sens: np.ndarray                # flow change per MW of new load at each candidate bus (mon x buses)
    states: list[State]
    contingencies: Contingencies | None
    screened: np.ndarray            # monitored rows some allocation could overload (peak, N-0)

    #: candidate bus id of each load column
    buses: np.ndarray | None = None
    #: results computed from the network and kept with it (e.g. the candidate buses' hosting capacity)
    cache: dict = field(default_factory=dict, repr=False)

    def families(self) -> list[Rows]:
        return [f for s in self.states for f in (s.n0, s.pre) if f is not None]

    def state(self, name: str) -> State:
        return next(s for s in self.states if s.name == name)

    def screened_rows(self):
        """Both sides of every explicit row some allocation could violate (the screened N-0 rows and
        rows of N-1 pairs already over, of every state), as :meth:`violations` lists rows to add."""
        out = []
        for fam in self.families():
            ids = np.asarray(fam.screened, dtype=np.int64)  # row ids
            if len(ids):
                coef, base, limit = fam.rows(ids)
                for side in (1, -1):
                    keys = [(fam.kind, fam.state, int(i), side) for i in ids]
                    out.append((keys, coef, base, limit, fam.state))
        return out

    # the same questions of every network kind (fixed participation here, redispatch in planner.network.redispatch)

    def bus_load(self, state: str, x: np.ndarray) -> np.ndarray:
        """New load per bus position of the model from the injection values ``x`` of a state."""
        st = self.state(state)
        out = np.zeros(st.model.n_bus)
        np.add.at(out, st.model.positions(self.buses), x[:len(self.buses)])
        return out

    def flows_mon(self, state: str, x: np.ndarray) -> np.ndarray:
        """Flows on the monitored branches (MW) in a state with injections ``x``."""
        return self.state(state).n0.base + self.sens @ x

    def flows(self, state: str, x: np.ndarray) -> np.ndarray:
        """Flows on every branch (MW) in a state with injections ``x``, by a full DC solve."""
        st = self.state(state)
        group_load = None if st.groups is None else st.model.group_load(x, st.groups)
        return sens.flows(st.model, self.bus_load(state, x), group_load)

    def dispatch(self, state: str, x: np.ndarray | None = None) -> pd.Series:
        """Generator output (MW by pandapower gen index) in a state; ``x`` None: without new load."""
        st = self.state(state)
        x = np.zeros(len(self.buses)) if x is None else x
        group_load = None if st.groups is None else st.model.group_load(x, st.groups)
        return sens.dispatch(st.model, self.bus_load(state, x), group_load)

    def pre_flows(self, state: str, x: np.ndarray) -> np.ndarray:
        """Post-contingency flows of the pairs already over without new load (N-1)."""
        return self.state(state).pre.flows(x)

    def violations(self, loads: dict[str, np.ndarray], near: float, cap: int | None = None, known=None):
        """Rows to add: a list of (keys, coefficients, base flows, limits, state), the number of
        rows and branch-outage pairs over their limit, and the keys of the rows found that are in
        ``known`` (the rows already in the model, which are not added again). Of the others at
        most ``cap`` are added (None: all), the most violated first (:func:`most_violated`); the
        coefficients of the rows left out are never formed.

        N-1: for each monitored branch only its worst outage is added in a round (the
        next round finds the next one if it is still over). When the explicit rows (N-0 and the
        pairs over without new load) alone fill a capped round, the outages wait for a later one:
        an allocation far over its N-0 limits (the first round of a large case) is over for
        nearly every branch-outage pair (usa with 2,000 sites: 983 million), and checking them
        would cost minutes for rows that N-0 rows make moot. The loop ends only on a round that
        checked every outage."""
        found, n_over = [], 0
        for fam in self.families():
            ids, sides, n, flow = fam.violations(loads[fam.state], near)
            n_over += n
            if len(ids):
                keys = [(fam.kind, fam.state, int(i), int(sd)) for i, sd in zip(ids, sides)]
                found.append(Found.of(keys, flow, fam.limit[ids], fam.state,
                                      lambda at, fam=fam, ids=ids: fam.rows(ids[at])))
        if self.contingencies is not None and (cap is None or n_over < cap):
            c = self.contingencies
            for st in self.states:
                base0 = st.model.flow_mw[self.mon]
                flow_mon = base0 + self.sens @ loads[st.name]
                l, k, lo, post, n, _, _ = c.violations(st, flow_mon, near)
                n_over += n
                if len(l):
                    sides = np.where(post >= 0, 1, -1)
                    keys = [("n-1", st.name, (int(a), int(b)), int(sd)) for a, b, sd in zip(l, k, sides)]
                    found.append(Found.of(keys, post, c.emergency[l], st.name,
                                          lambda at, l=l, k=k, lo=lo, base0=base0: (
                                              self.sens[l[at]] + lo[at, None] * self.sens[k[at]],
                                              base0[l[at]] + lo[at] * base0[k[at]], c.emergency[l[at]])))
        out, seen = most_violated(found, cap, known)
        return out, n_over, seen


def state_shares(params) -> dict[str, dict[str, float]]:
    """The states to check and the share of each use's new MW that counts in each."""
    peak = {"mining": float(params.mining_firm_share), "ai": float(params.ai_firm_share)}
    if peak == {"mining": 1.0, "ai": 1.0} and params.offpeak_load_factor == 1.0:
        return {"peak": peak}
    return {"peak": peak, "offpeak": {"mining": 1.0, "ai": 1.0}}


def state_specs(params, periods: list[tuple[str, float]] | None = None) -> list[tuple[str, dict, float, int]]:
    """(name, share of each use, base-load factor, period index) of every load state: each state of
    :func:`state_shares` in each period (a timeline's year: (prefix, base-load factor); default one
    period, ("", 1)), named ``"<prefix> peak"`` (``"peak"`` for the prefix "")."""
    return [(f"{prefix} {name}".strip(), share,
             growth * (1.0 if name == "peak" else float(params.offpeak_load_factor)), k)
            for k, (prefix, growth) in enumerate(periods or [("", 1.0)])
            for name, share in state_shares(params).items()]


def build_network(model: sens.DCModel, grid, cand, params, periods: list[tuple[str, float]] | None = None,
                  groups: np.ndarray | None = None) -> Network:
    """All row families of a plan whose new load is picked up by a fixed participation (the
    slack of ``model``; with ``groups``, the supply group of each load column in a regional model:
    :func:`regional`): states, N-0 limits, and with ``params.security == "n-1"`` the contingencies
    and the N-1 pairs already over without new load. For any supply response, call
    :meth:`planner.network.supply.SupplyResponse.network`.

    ``periods``: a timeline's years, each (prefix, base-load factor): every state of each year,
    named ``"<prefix> peak"`` (``"peak"`` for the prefix ""), with the grid's base loads scaled by
    the year's factor (times the off-peak factor off-peak). Default: one period, ("", 1)."""
    mon = np.flatnonzero(model.monitored)
    s = sens.ptdf(model, cand.buses, rows=mon, groups=groups, keep=True, sign=-1.0)
    derate = derate_factors(model, mon, params)
    f = cand.frame
    states = []
    for name, share, factor, _ in state_specs(params, periods):
        m = sens.scaled_loads(model, grid.net, factor)  # the model itself at factor 1
        st = State(name=name, model=m, share=share, groups=groups, load_factor=factor)
        use_share = np.where(f["allow_ai"].to_numpy() & ~f["allow_mining"].to_numpy(), share["ai"],
                             max(share["ai"], share["mining"]))
        max_at_bus = np.bincount(cand.bus_of_site, weights=f["cap_mw"].to_numpy() * use_share,
                                 minlength=len(cand.buses))
        base = m.flow_mw[mon]
        rate = model.rate_mw[mon] * derate
        limit = sens.row_limit(rate, base)
        over_before = np.flatnonzero(np.abs(base) > rate * (1 + 1e-9))
        patch_ids = patch = None
        if len(over_before) and params.overload_dfax > 0:
            # a branch overloaded without any new load: a load "worsens" it only where its
            # distribution factor reaches the cut-off (as interconnection studies count contributions);
            # those rows only are kept apart, the matrix is the network's one for every state
            patch_ids, patch = over_before, s[over_before]
            patch[np.abs(patch) < params.overload_dfax] = 0.0
        st.n0 = Rows(kind="n-0", state=name, branch=mon, outage=np.full(len(mon), -1), sens=s, base=base,
                     limit=limit, screened=np.zeros(0, np.int64), patch_ids=patch_ids, patch=patch)
        st.n0.screened = _screened(st.n0, max_at_bus)
        states.append(st)
    cont = contingencies(model, mon, params, derate)
    if cont is not None:
        for st in states:
            st.pre = cont.preexisting(st, s, params.overload_dfax)
    peak = states[-len(state_shares(params))].n0  # the (last period's) peak
    return Network(mon=mon, sens=s, states=states, contingencies=cont, screened=peak.screened,
                   buses=np.asarray(cand.buses))


def _screened(rows: Rows, max_mw: np.ndarray) -> np.ndarray:
    """:func:`planner.network.sensitivity.screen` of a row family, its patched rows with their own
    coefficients."""
    kept = sens.screen(rows.base, rows.limit, rows.sens, max_mw)
    if rows.patch_ids is None:
        return kept
    p = rows.patch_ids
    own = p[sens.screen(rows.base[p], rows.limit[p], rows.patch, max_mw)]
    return np.union1d(np.setdiff1d(kept, p), own)


def gen_regions(grid, params) -> pd.Series:
    """Supply region of each generator (pandapower gen index): ``params.gen_regions``, else the
    interconnect of its bus (the region a site gets without supply regions)."""
    gen = grid.net.gen
    default = grid.buses["interconnect"].reindex(gen["bus"].to_numpy()).fillna("").astype(str).to_numpy()
    out = pd.Series(default, index=gen.index)
    if params.gen_regions:
        given = pd.Series(params.gen_regions, dtype=object)
        out = pd.Series("", index=gen.index, dtype=object)
        out.loc[given.index.intersection(gen.index)] = given
    return out


def regional(model, grid, cand, params):
    """The regional model (:func:`planner.network.sensitivity.regional_model`) of a plan's load columns
    (``cand.column_region``) and the supply group of each column."""
    island = model.island[model.positions(cand.buses)]
    needed = pd.DataFrame({"region": cand.column_region, "island": island})
    regional = sens.regional_model(model, gen_regions(grid, params), needed)
    g = regional.groups
    index = pd.Series(np.arange(len(g)), index=pd.MultiIndex.from_arrays([g["region"], g["island"]]))
    groups = index.reindex(pd.MultiIndex.from_arrays([needed["region"], needed["island"]])).to_numpy()
    return regional, groups.astype(np.int64)


def contingencies(model, mon, params, derate) -> Contingencies | None:
    """The N-1 outages of a plan (``params.security == "n-1"``), with the plan's emergency ratings."""
    if params.security != "n-1":
        return None
    # the LODF columns depend on the topology only (not on the emergency factor): reuse them across solves
    key = ("contingencies", float(params.lodf_cache_mb))
    if key not in model.cache:
        model.cache[key] = Contingencies(model, mon, params.emergency_rating_factor, cache_mb=params.lodf_cache_mb)
    cont = copy.copy(model.cache[key])
    cont.factor = float(params.emergency_rating_factor)
    cont.emergency = cont.factor * model.rate_mw[mon] * derate
    return cont


def derate_factors(model, mon, params) -> np.ndarray:
    """Rating multipliers of the monitored branches (``params.rating_derate``: branch id -> factor)."""
    out = np.ones(len(mon))
    if params.rating_derate:
        factor = dict(params.rating_derate)
        ids = model.branch_ids[mon]
        out = np.array([factor.get(int(b), 1.0) for b in ids])
    return out
