"""Hosting capacity with redispatch: the largest new load a bus alone can take when the system
operator may move any generator within its limits.

For bus b and one load state (base dispatch ``p0``, base flows ``f0``), the hosting capacity is
the optimum of the linear program

    max x
    B phi = C_g (u - d) - e_b x                   nodal balance, MW (phi = base MVA x angle change)
    -L_l - f0_l <= Bf_l phi <= L_l - f0_l         every monitored branch l
    0 <= u <= hi - p0,   0 <= d <= p0 - lo,       phi = 0 at each island's reference bus

with ``B`` and ``Bf`` the DC model's bus and branch susceptance matrices (so ``Bf phi`` is the
change of every branch flow), ``u`` and ``d`` each dispatchable generator's increase and
decrease, and ``lo``, ``hi`` and the limits ``L`` exactly those of ``planner solve`` with
``supply_response = "redispatch"`` (:func:`planner.network.redispatch.generator_costs`: ``[min(Pmin, Pg),
max(Pmax, Pg)]`` over the states; ``L`` the rating, or the base flow where that is already
higher). Written over angles the rows are sparse (two entries per branch), so every monitored
branch is a row and no PTDF is formed.

N-1 (preventive: one dispatch for every outage): each pair (branch l, outage k) adds
``-E_l - post0 <= (Bf_l + LODF[l, k] Bf_k) phi <= E_l - post0`` with ``post0 = f0_l +
LODF[l, k] f0_k`` and ``E`` the emergency rating (``|post0|`` for a pair already over without new
load). Pairs become rows lazily: after each solve the post-contingency flows of every pair are
checked (:meth:`planner.network.security.Contingencies.violations`) and the worst violated pair of each
branch is added, until none is over.

One live LP serves every bus: a column ``x_b`` per bus, fixed at 0 except for the bus asked, so
moving to the next bus changes two column bounds and two costs, and HiGHS re-solves warm from
the last basis. Buses are taken in the DC model's order (neighbouring buses, similar bases) in
chunks spread over threads, each thread with its own LPs (HiGHS releases the GIL while it solves).

The redispatch a bus needs (``redispatch_mw``) is the least generation that must be turned down
elsewhere for the bus to take its hosting capacity: a second LP with the same rows, ``x_b`` fixed
at the hosting capacity and ``sum(d)`` minimised (the hosting LP alone leaves the dispatch
undetermined). The limiting branch is the branch (and outage) row with the largest dual: the one
whose rating, raised by 1 MW, would raise the hosting capacity most. No branch row with a dual:
the island's generation headroom limits the bus.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

from planner.core.errors import SolverError
from planner.core.highs import new_model
from planner.network import sensitivity as sens

logger = logging.getLogger(__name__)

#: upper bound of a hosting column, MW (never reached: generator limits bound every island)
X_MAX = 1e7
#: a branch row limits the bus when its dual (MW of hosting per MW of rating) is at least this
DUAL_TOL = 1e-7
#: the redispatch LP fixes the load this much (relative, at least 1e-6 MW) below the hosting MW,
#: so that solver tolerances cannot make it infeasible
FIX_REL = 1e-7
#: the redispatch is also reported at this share of the hosting MW: the last MW are the dearest
#: (on Texas the median falls from about 13 GW at the hosting MW to a few hundred MW at 95 %)
PARTIAL = 0.95


@dataclass
class RedispatchState:
    """One load state of a redispatch hosting pass."""

    name: str
    model: sens.DCModel            # base injections, flows and dispatch of the state
    p0: np.ndarray                 # output of each dispatchable generator, MW
    lo: np.ndarray                 # its lower limit
    hi: np.ndarray                 # its upper limit
    pre: tuple = field(default_factory=tuple)  # N-1: (l, k, lodf, post0) of the pairs over without new load


@dataclass
class HostingLP:
    """The sparse rows and columns shared by every thread's LPs (see the module docstring)."""

    model: sens.DCModel
    mon: np.ndarray                # monitored branch positions
    gen_pos: np.ndarray            # bus position of each dispatchable generator
    hosts: np.ndarray              # bus position of each hosting column
    A: sp.csc_matrix = field(repr=False)
    bf: sp.csr_matrix = field(repr=False)   # Bf of the monitored branches: flow change (MW) per phi

    @property
    def n_bus(self) -> int:
        return self.model.n_bus

    @property
    def n_gen(self) -> int:
        return len(self.gen_pos)

    @property
    def x0(self) -> int:
        """Column of the first hosting variable."""
        return self.n_bus + 2 * self.n_gen

    def pair_rows(self, l: np.ndarray, k: np.ndarray, lodf: np.ndarray) -> sp.csr_matrix:
        """Post-contingency flow of monitored branch ``l`` after the outage of ``k`` per phi
        (``k`` -1: none, the N-0 row)."""
        return (self.bf[l] + sp.diags(np.where(k >= 0, lodf, 0.0)) @ self.bf[np.maximum(k, 0)]).tocsr()


def build(model: sens.DCModel, gen_pos: np.ndarray, hosts: np.ndarray) -> HostingLP:
    """The constraint matrix: nodal rows (one per bus), then one row per monitored branch;
    columns ``phi`` (one per bus), ``u``, ``d`` (one per generator), ``x`` (one per host)."""
    nb, ng, nh = model.n_bus, len(gen_pos), len(hosts)
    mon = np.flatnonzero(model.monitored)
    B = sp.csr_matrix(model.B.real)
    Cg = sp.csr_matrix((np.ones(ng), (gen_pos, np.arange(ng))), shape=(nb, ng))
    Ch = sp.csr_matrix((np.ones(nh), (hosts, np.arange(nh))), shape=(nb, nh))
    bf = sp.csr_matrix(model.Bf[mon].real)
    nodal = sp.hstack([B, -Cg, Cg, Ch])
    flows = sp.hstack([bf, sp.csr_matrix((len(mon), 2 * ng + nh))])
    A = sp.vstack([nodal, flows]).tocsc()
    A.sort_indices()
    return HostingLP(model=model, mon=mon, gen_pos=np.asarray(gen_pos), hosts=np.asarray(hosts), A=A, bf=bf)


class _PairPool:
    """The N-1 pair rows found so far, shared by the threads of a pass: a pair one thread finds
    binding is added to every thread's LPs before their next bus."""

    def __init__(self):
        self.lock = threading.Lock()
        self.keys: set = set()
        self.rows: list[tuple] = []      # (l, k, lodf, limit) per pair
        self.n = 0

    def publish(self, l, k, lodf, limit) -> None:
        with self.lock:
            for row in zip(l.tolist(), k.tolist(), lodf.tolist(), limit.tolist()):
                if row[:2] not in self.keys:
                    self.keys.add(row[:2])
                    self.rows.append(row)
            self.n = len(self.rows)

    def since(self, start: int):
        """(l, k, lodf, limit) arrays of the rows from ``start`` on (None: none) and the new count."""
        with self.lock:
            new = self.rows[start:]
            n = len(self.rows)
        if not new:
            return None, n
        l, k, lo, lim = (np.array(c) for c in zip(*new))
        return (l.astype(np.int64), k.astype(np.int64), lo.astype(float), lim.astype(float)), n


class PairSolver:
    """One thread's pair of live LPs for one state: ``host`` (max x) and ``least`` (min redispatch)."""

    def __init__(self, lp: HostingLP, st: RedispatchState, pool: _PairPool | None = None):
        import highspy

        self.hs, self.lp, self.st, self.pool, self.synced = highspy, lp, st, pool, 0
        nb, ng, nh = lp.n_bus, lp.n_gen, len(lp.hosts)
        n = nb + 2 * ng + nh
        lo = np.r_[np.full(nb, -np.inf), np.zeros(2 * ng + nh)]
        hi = np.r_[np.full(nb, np.inf), np.maximum(st.hi - st.p0, 0.0), np.maximum(st.p0 - st.lo, 0.0), np.zeros(nh)]
        lo[lp.model.refs] = hi[lp.model.refs] = 0.0
        f0 = st.model.flow_mw[lp.mon]
        limit = sens.row_limit(lp.model.rate_mw[lp.mon], f0)
        row_lo = np.r_[np.zeros(nb), -limit - f0]
        row_hi = np.r_[np.zeros(nb), limit - f0]
        self.f0 = f0
        #: (branch, outage, LODF) of each branch row (indices into the monitored list; outage -1: N-0)
        self.labels = [np.arange(len(lp.mon)), np.full(len(lp.mon), -1), np.zeros(len(lp.mon))]
        self.row_lo, self.row_hi = row_lo[nb:], row_hi[nb:]
        self.host = self._model(n, lo, hi, row_lo, row_hi, np.zeros(n))
        cost = np.zeros(n)
        cost[nb + ng:nb + 2 * ng] = 1.0
        self.least = self._model(n, lo, hi, row_lo, row_hi, cost)
        self.prev = None

    def _model(self, n, lo, hi, row_lo, row_hi, cost):
        hs = self.hs
        # quiet, on the process's one HiGHS thread pool (planner.core.highs); presolve off: warm
        # starts need the original model. Dual simplex is serial, so the pool's size does not matter.
        h = new_model(presolve="off")
        m = hs.HighsLp()
        m.num_col_, m.num_row_ = n, self.lp.A.shape[0]
        m.col_cost_, m.col_lower_, m.col_upper_ = cost, lo, hi
        m.row_lower_, m.row_upper_ = row_lo, row_hi
        A = self.lp.A
        m.a_matrix_.format_ = hs.MatrixFormat.kColwise
        m.a_matrix_.start_ = A.indptr.astype(np.int32)
        m.a_matrix_.index_ = A.indices.astype(np.int32)
        m.a_matrix_.value_ = A.data.astype(float)
        m.a_matrix_.num_col_, m.a_matrix_.num_row_ = n, A.shape[0]
        h.passModel(m)
        return h

    def add_pairs(self, l: np.ndarray, k: np.ndarray, lodf: np.ndarray, limit: np.ndarray) -> None:
        """Rows of N-1 pairs (monitored indices ``l``, outages ``k``) with their limits, on both LPs
        (never below the pair's flow without new load, so that no load stays feasible)."""
        lp = self.lp
        coef = lp.pair_rows(l, k, lodf)
        coef.sum_duplicates()
        post0 = self.f0[l] + lodf * self.f0[k]
        limit = sens.row_limit(limit, post0)
        for h in (self.host, self.least):
            h.addRows(len(l), -limit - post0, limit - post0, coef.nnz, coef.indptr[:-1].astype(np.int32),
                      coef.indices.astype(np.int32), coef.data.astype(float))
        self.labels = [np.r_[self.labels[0], l], np.r_[self.labels[1], k], np.r_[self.labels[2], lodf]]
        self.row_lo, self.row_hi = np.r_[self.row_lo, -limit - post0], np.r_[self.row_hi, limit - post0]

    def sync(self) -> int:
        """Add the pool's rows this thread's LPs do not have yet; the number added."""
        if self.pool is None:
            return 0
        rows, self.synced = self.pool.since(self.synced)
        if rows is not None:
            self.add_pairs(*rows)
            return len(rows[0])
        return 0

    def _more_rows(self, over) -> bool:
        """Publish the pairs over to the pool and add what this thread lacks: False when every one
        of them was already a row here (a pair over only by the solver's tolerance), so the loop
        that asked stops rather than cycle."""
        self.pool.publish(*over)
        return self.sync() > 0

    def _run(self, h) -> bool:
        h.run()
        return h.getModelStatus() == self.hs.HighsModelStatus.kOptimal

    def _cold(self, h) -> bool:
        """Solve again from scratch (a warm start that ended without an optimum, rare)."""
        logger.debug(f"redispatch hosting: {h.getModelStatus()} from a warm start; solving from scratch")
        h.clearSolver()
        return self._run(h)

    def solve(self, j: int, check=None) -> tuple[float, int, int, float, float]:
        """Hosting MW of host column ``j``, its limiting (branch, outage) (-1, -1: generation
        headroom) and the least redispatch (MW turned down) it needs at that MW and at
        :data:`PARTIAL` of it. ``check(phi)`` returns the N-1 pairs over (l, k, lodf, limit) for a
        solution's angles, or nothing."""
        lp, x = self.lp, self.lp.x0 + j
        if self.prev is not None:
            for h in (self.host, self.least):
                h.changeColBounds(self.prev, 0.0, 0.0)
            self.host.changeColCost(self.prev, 0.0)
        self.prev = x
        self.host.changeColBounds(x, 0.0, X_MAX)
        self.host.changeColCost(x, -1.0)
        self.sync()
        while True:
            if not self._run(self.host) and not self._cold(self.host):
                raise SolverError(f"the redispatch hosting LP of bus {int(lp.model.bus_ids[lp.hosts[j]])} ended "
                                  f"{self.host.getModelStatus()}")
            sol = self.host.getSolution()
            value = float(sol.col_value[x])
            value = value if value > 0 else 0.0   # no -0.0
            over = None if check is None else check(np.asarray(sol.col_value)[:lp.n_bus])
            if over is None or not self._more_rows(over):
                break
        if value >= X_MAX * (1 - 1e-9):   # nothing limits the bus (a stand-in supply, no rated branch)
            return np.inf, -1, -1, np.nan, np.nan
        branch, outage = self._limit(np.abs(np.asarray(sol.row_dual)[lp.n_bus:]), np.asarray(sol.row_value)[lp.n_bus:])
        # the least redispatch at that load and at PARTIAL of it: none when the hosting solution turns nothing down
        d = np.asarray(sol.col_value)[lp.n_bus + lp.n_gen:lp.n_bus + 2 * lp.n_gen]
        if d.sum() <= 1e-6:
            return value, branch, outage, 0.0, 0.0
        bus = int(lp.model.bus_ids[lp.hosts[j]])
        full = self._least(x, value, check, bus)
        part = self._least(x, PARTIAL * value, check, bus) if full > 1e-6 else 0.0
        return value, branch, outage, full, part

    def _limit(self, dual: np.ndarray, act: np.ndarray) -> tuple[int, int]:
        """The (branch, outage) row with the largest dual, (-1, -1) if none has one. Ties go to the
        smallest (branch, outage), so the answer does not depend on the order in which rows reached
        this thread's LP: duals equal within 1e-9 relative, and rows at their limit that state the
        same constraint as the one priced (coefficients parallel), which the LP's dual prices one
        at a time depending on its basis (two parallel feeders of a bus: each one after the loss
        of the other)."""
        if not len(dual) or dual.max() < DUAL_TOL:
            return -1, -1
        tied = np.flatnonzero(dual >= dual.max() * (1 - 1e-9))
        tol = 1e-6 * np.maximum(1.0, np.abs(self.row_hi))
        bound = np.flatnonzero((act >= self.row_hi - tol) | (act <= self.row_lo + tol))
        bound = np.setdiff1d(bound, tied)
        if len(bound):
            c = self._coef(np.r_[tied[:1], bound])
            twin = np.abs(np.asarray((c[1:] @ c[0].T).todense()).ravel()) >= 1 - 1e-9
            tied = np.r_[tied, bound[twin]]
        b, k = self.labels[0][tied], self.labels[1][tied]
        first = np.lexsort((k, b))[0]
        return int(b[first]), int(k[first])

    def _coef(self, rows: np.ndarray) -> sp.csr_matrix:
        """Branch rows ``rows`` over the angles, without the reference buses' columns (fixed at 0),
        each scaled to length 1."""
        keep = np.ones(self.lp.n_bus)
        keep[self.lp.model.refs] = 0.0
        c = sp.csr_matrix(self.lp.pair_rows(*(a[rows] for a in self.labels)) @ sp.diags(keep))
        norm = np.sqrt(np.asarray(c.multiply(c).sum(axis=1)).ravel())
        return sp.diags(1.0 / np.where(norm > 0, norm, 1.0)) @ c

    def _least(self, x: int, load: float, check, bus: int) -> float:
        """The least generation turned down (MW) with ``load`` MW at host column ``x`` (NaN, with a
        warning, if it does not solve: warm from the last bus, then a little lower, then cold)."""
        lp = self.lp
        for attempt in range(3):
            fixed = max(load - (0.0 if attempt == 0 else max(FIX_REL * 10 ** (2 * attempt) * load, 1e-6)), 0.0)
            self.least.changeColBounds(x, fixed, fixed)
            if attempt == 2:
                self.least.clearSolver()
            for _ in range(50):
                if not self._run(self.least):
                    break
                sol = self.least.getSolution()
                over = None if check is None else check(np.asarray(sol.col_value)[:lp.n_bus])
                if over is None or not self._more_rows(over):
                    return float(np.sum(np.asarray(sol.col_value)[lp.n_bus + lp.n_gen:lp.n_bus + 2 * lp.n_gen]))
        logger.warning(f"redispatch hosting: the least redispatch at bus {bus} ({load:,.1f} MW) did not solve "
                       f"({self.least.getModelStatus()})")
        return np.nan


def _checker(lp: HostingLP, st: RedispatchState, cont, state):
    """The N-1 check of a solution's angles: every pair against its emergency rating (pairs over
    without new load against their flow then), the worst pair of each branch over."""
    from planner.network.security import TOL, over_limit

    pl, pk, plo, post0 = st.pre

    def check(phi: np.ndarray):
        f = st.model.flow_mw[lp.mon] + lp.bf @ phi
        l, k, lo, _, _, _, _ = cont.violations(state, f, near=np.inf)
        limit = cont.emergency[l]
        if len(pl):
            post = f[pl] + plo * f[pk]
            bad = np.flatnonzero(over_limit(post, np.abs(post0)) & (np.abs(post) > np.abs(post0) + TOL))
            l, k = np.r_[l, pl[bad]], np.r_[k, pk[bad]]
            lo, limit = np.r_[lo, plo[bad]], np.r_[limit, np.abs(post0[bad])]
        return (l, k, lo, limit) if len(l) else None

    return check


def hosting_pass(lp: HostingLP, st: RedispatchState, cont=None, chunk: int | None = None, progress=None,
                 label: str = "redispatch hosting") -> tuple[np.ndarray, ...]:
    """Hosting MW of every host column of ``lp`` in one state, with the limiting branch and outage
    (monitored indices, -1: none) and the least redispatch (MW) at the hosting MW and at
    :data:`PARTIAL` of it. ``cont``: N-1 contingencies."""
    from planner.network.security import State

    nh = len(lp.hosts)
    hosting, moved, part = np.full(nh, np.nan), np.full(nh, np.nan), np.full(nh, np.nan)
    branch, outage = np.full(nh, -1, dtype=np.int64), np.full(nh, -1, dtype=np.int64)
    check = None
    if cont is not None:
        state = State(name=st.name, model=st.model, share={})
        state.pre_pairs = st.pre[:2]
        check = _checker(lp, st, cont, state)
    n_workers = sens.workers()
    chunk = chunk or max(8, min(64, -(-nh // (n_workers * 16))))
    chunks = [np.arange(a, min(a + chunk, nh)) for a in range(0, nh, chunk)]
    local = threading.local()
    pool = _PairPool() if cont is not None else None

    def run(cols):
        s = getattr(local, "solver", None)
        if s is None:
            s = local.solver = PairSolver(lp, st, pool)
        return [s.solve(int(j), check) for j in cols]

    t0 = time.perf_counter()
    logger.info(f"{label}: {nh:,} buses, {len(lp.mon):,} monitored branches, {lp.n_gen:,} dispatchable generators, "
                f"{len(chunks):,} chunks on {n_workers} thread(s)")
    for cols, res in zip(chunks, sens.chunk_map(run, chunks, label, nh, progress=progress)):
        for j, (v, b, k, m, q) in zip(cols, res):
            hosting[j], branch[j], outage[j], moved[j], part[j] = v, b, k, m, q
    logger.info(f"{label}: done in {time.perf_counter() - t0:.1f} s"
                + (f", {pool.n if pool else 0:,} N-1 pair rows" if cont is not None else ""))
    return hosting, branch, outage, moved, part


def redispatch_hosting(grid, models: list[tuple[str, sens.DCModel]], ids: np.ndarray, cont=None, progress=None,
                       chunk: int | None = None) -> list[tuple[np.ndarray, ...]]:
    """Redispatch hosting of bus ids ``ids`` in each state ``(name, model)`` (the same grid, loads
    scaled): per state (hosting MW, limiting branch position, limiting outage position (-1: none),
    least redispatch MW at the hosting MW, and at :data:`PARTIAL` of it). ``cont``: the N-1
    contingencies (:class:`planner.network.security.Contingencies`); ``chunk``: buses per task (default:
    about 16 tasks per thread)."""
    from planner.network.redispatch import generator_limits

    g = generator_limits(grid, [m for _, m in models])
    model = models[0][1]
    # an island without a dispatchable generator is balanced by its reference bus, as in planner solve
    # (no balance row there): a stand-in that can only raise its output, without limit
    bare = np.setdiff1d(np.unique(model.island[model.positions(ids)]), g["island"].to_numpy())
    gen_pos = np.r_[g["bus_pos"].to_numpy(), model.refs[bare]]
    lp = build(model, gen_pos, model.positions(ids))
    lo = np.r_[g["lo_mw"].to_numpy(float), np.zeros(len(bare))]
    hi = np.r_[g["hi_mw"].to_numpy(float), np.full(len(bare), np.inf)]
    out = []
    for i, (name, m) in enumerate(models):
        step = None if progress is None else (   # one bar over every state's pass
            lambda done, total, i=i: progress(i * total + done, len(models) * total))
        p0 = np.r_[m.gens.set_index("gen").loc[g["gen"].to_numpy(), "p_mw"].to_numpy(float), np.zeros(len(bare))]
        st = RedispatchState(name=name, model=m, p0=p0, lo=lo, hi=hi)
        if cont is not None:
            st.pre = cont.preexisting_pairs(m.flow_mw[lp.mon])
        h, b, k, moved, part = hosting_pass(lp, st, cont, chunk=chunk, progress=step,
                                            label=f"redispatch hosting ({name})")
        out.append((h, np.where(b >= 0, lp.mon[np.maximum(b, 0)], -1), np.where(k >= 0, lp.mon[np.maximum(k, 0)], -1),
                    moved, part))
    return out
