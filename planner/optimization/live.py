"""One live HiGHS model per PuLP problem: handed over once, then changed in place.

PuLP stays the modelling layer (rows and variables are written as PuLP objects, and CBC still
solves the same :class:`pulp.LpProblem`), but its HiGHS interface rebuilds the solver's model
from scratch on every solve, element by element. :class:`LiveModel` passes the whole problem to
HiGHS once as arrays (one ``passModel``), and afterwards only what changed:

* rows added to the PuLP problem since the last solve (the lazy network rows) go over with one
  ``addRows``, and the LP re-solves warm from its last basis (dual simplex);
* :meth:`set_bounds`, :meth:`set_costs`, :meth:`set_coefficients` and :meth:`update_rows` change
  column bounds, objective coefficients, row coefficients and row bounds in place (what fixing
  the binaries for the duals and re-pricing a plan in a sweep do);
* :meth:`run` solves either the LP relaxation (``mip=False``: the integer columns are switched to
  continuous) or the MILP, and writes the values (and for an LP the duals) back onto the PuLP
  variables and constraints, so code that reads ``var.varValue`` and ``con.pi`` is unchanged.

The PuLP convention is kept: a maximization is passed as the minimization of the negated
objective, so the row duals have PuLP's signs.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import numpy as np
import pulp

from planner.core.highs import new_model

logger = logging.getLogger(__name__)


@dataclass
class RunInfo:
    """What one :meth:`LiveModel.run` returns."""

    status: str  # optimal, infeasible, unbounded, time_limit, solution_limit, no_solution, not_solved
    gap: float | None  # MIP: relative gap of the incumbent against HiGHS's dual bound
    solver_s: float  # HiGHS's own run time


def _bounds(con: pulp.LpConstraint) -> tuple[float, float]:
    rhs = -float(con.constant)
    if con.sense == pulp.LpConstraintLE:
        return -np.inf, rhs
    if con.sense == pulp.LpConstraintGE:
        return rhs, np.inf
    return rhs, rhs


class LiveModel:
    """A PuLP problem held as one HiGHS model (see the module docstring).

    ``options`` are HiGHS options set once (e.g. ``threads``, ``mip_rel_gap``,
    ``mip_max_improving_sols``). Variables must all exist when the model is created; rows may
    be added to the PuLP problem later and reach HiGHS on the next :meth:`run`.
    """

    def __init__(self, prob: pulp.LpProblem, options: dict | None = None):
        import highspy

        self._hs = highspy
        self.prob = prob
        self.vars = prob.variables()
        self.col = {v.name: j for j, v in enumerate(self.vars)}
        n = len(self.vars)
        sign = -1.0 if prob.sense == pulp.LpMaximize else 1.0
        self.sign = sign
        cost = np.zeros(n)
        for v, c in prob.objective.items():
            cost[self.col[v.name]] = sign * float(c)
        lower = np.array([-np.inf if v.lowBound is None else float(v.lowBound) for v in self.vars])
        upper = np.array([np.inf if v.upBound is None else float(v.upBound) for v in self.vars])
        self.int_cols = np.array([j for j, v in enumerate(self.vars) if v.cat == pulp.LpInteger], dtype=np.int32)
        self.cons: list = []  # every row in HiGHS's order: PuLP rows and network rows (NetRow)
        self.row: dict[str, int] = {}
        self.n_pulp = 0  # PuLP rows handed over
        self._vec_cols: dict[int, np.ndarray] = {}  # id of a load vector -> its HiGHS columns
        self._integer = len(self.int_cols) > 0

        options = dict(options or {})
        h = new_model(options.pop("threads", None), **options)
        lp = highspy.HighsLp()
        lp.num_col_ = n
        lp.num_row_ = 0
        lp.col_cost_ = cost
        lp.col_lower_ = lower
        lp.col_upper_ = upper
        lp.offset_ = 0.0
        if self._integer:
            integrality = np.zeros(n, dtype=np.uint8)
            integrality[self.int_cols] = 1
            lp.integrality_ = [highspy.HighsVarType(int(t)) for t in integrality]
        lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
        lp.a_matrix_.start_ = np.zeros(n + 1, dtype=np.int32)
        lp.a_matrix_.index_ = np.zeros(0, dtype=np.int32)
        lp.a_matrix_.value_ = np.zeros(0)
        lp.a_matrix_.num_col_ = n
        lp.a_matrix_.num_row_ = 0
        self._check(h.passModel(lp), "passModel")
        self.h = h
        self.sync()

    # ----------------------------------------------------------------- changes

    def _check(self, status, what: str) -> None:
        if status == self._hs.HighsStatus.kError:
            raise pulp.PulpSolverError(f"HiGHS {what} failed")

    def sync(self) -> int:
        """Hand the rows added to the PuLP problem since the last call to HiGHS. Returns how many."""
        new = self.prob.constraints()[self.n_pulp:]  # PuLP >= 3.3: the rows, in the order added
        if not new:
            return 0
        self.n_pulp += len(new)
        starts, index, value, lower, upper = [0], [], [], [], []
        col = self.col
        for con in new:
            for v, c in con.items():
                if c != 0:
                    j = col.get(v.name)
                    if j is None:
                        raise ValueError(f"row {con.name} uses variable {v.name}, which was not in the "
                                         "problem when it was handed to HiGHS")
                    index.append(j)
                    value.append(c)
            starts.append(len(index))
            lo, up = _bounds(con)
            lower.append(lo)
            upper.append(up)
        return self._append(new, lower, upper, np.array(starts[:-1], dtype=np.int32), np.array(index, dtype=np.int32),
                            np.array(value, dtype=float))

    def _append(self, rows: list, lower, upper, starts: np.ndarray, index: np.ndarray, value: np.ndarray) -> int:
        """Register ``rows`` (PuLP rows or NetRows) in HiGHS's order and hand them over in one ``addRows``."""
        base = len(self.cons)
        for k, r in enumerate(rows):
            self.row[r.name] = base + k
        self.cons.extend(rows)
        self._check(self.h.addRows(len(rows), np.array(lower), np.array(upper), len(index), starts,
                                   index.astype(np.int32), value.astype(float)), "addRows")
        return len(rows)

    def add_net_rows(self, rows: list) -> int:
        """Hand network rows held as arrays (:class:`planner.optimization.model.NetRow`) to HiGHS in one
        ``addRows``: no PuLP object per coefficient on the way. Returns how many."""
        if not rows:
            return 0
        starts, index, value, lower, upper = np.zeros(len(rows), dtype=np.int32), [], [], [], []
        nnz = 0
        for k, r in enumerate(rows):
            cols = self._vec_cols.get(id(r.vec))
            if cols is None:
                cols = self._vec_cols[id(r.vec)] = np.array([self.col[v.name] for v in r.vec], dtype=np.int32)
            starts[k] = nnz
            index.append(cols if r.cols is None else cols[r.cols])
            value.append(r.coef)
            nnz += len(r.coef)
            lo, up = _bounds(r)
            lower.append(lo)
            upper.append(up)
        return self._append(rows, lower, upper, starts, np.concatenate(index), np.concatenate(value))

    def _cols(self, variables) -> np.ndarray:
        return np.array([self.col[v.name] for v in variables], dtype=np.int32)

    def set_bounds(self, variables, lower=None, upper=None) -> None:
        """Change column bounds; without ``lower``/``upper`` the PuLP variables' own bounds are
        pushed (after they were changed on the PuLP side)."""
        variables = list(variables)
        if not variables:
            return
        lo = np.array([-np.inf if v.lowBound is None else v.lowBound for v in variables], float) \
            if lower is None else np.broadcast_to(np.asarray(lower, float), (len(variables),)).copy()
        up = np.array([np.inf if v.upBound is None else v.upBound for v in variables], float) \
            if upper is None else np.broadcast_to(np.asarray(upper, float), (len(variables),)).copy()
        for v, a, b in zip(variables, lo, up):
            v.lowBound, v.upBound = (None if a == -np.inf else float(a)), (None if b == np.inf else float(b))
        self._check(self.h.changeColsBounds(len(variables), self._cols(variables), lo, up), "changeColsBounds")

    def set_costs(self, variables, costs) -> None:
        """Change objective coefficients (in the problem's own sense: a maximization's gains)."""
        variables = list(variables)
        costs = np.broadcast_to(np.asarray(costs, float), (len(variables),))
        for v, c in zip(variables, costs):
            self.prob.objective[v] = float(c)
        self._check(self.h.changeColsCost(len(variables), self._cols(variables), self.sign * costs), "changeColsCost")

    def set_coefficients(self, con: pulp.LpConstraint, pairs) -> None:
        """Change the coefficients of variables in a row already handed over (on the PuLP row too)."""
        i = self.row[con.name]
        for v, c in pairs:
            con.expr[v] = float(c)
            self._check(self.h.changeCoeff(i, self.col[v.name], float(c)), "changeCoeff")

    def update_rows(self, constraints) -> None:
        """Push the bounds of PuLP constraints whose constant was changed since the hand-over."""
        constraints = [c for c in constraints if c.name in self.row]
        if not constraints:
            return
        idx = np.array([self.row[c.name] for c in constraints], dtype=np.int32)
        lo, up = zip(*(_bounds(c) for c in constraints))
        self._check(self.h.changeRowsBounds(len(idx), idx, np.array(lo), np.array(up)), "changeRowsBounds")

    def relax_rows(self, rows) -> None:
        """Free the bounds of rows already handed over, in HiGHS only (the rows keep theirs: put them
        back with :meth:`update_rows`). A row so freed costs the MILP nothing (presolve drops it)."""
        idx = np.array([self.row[r.name] for r in rows], dtype=np.int32)
        if len(idx):
            self._check(self.h.changeRowsBounds(len(idx), idx, np.full(len(idx), -np.inf),
                                                np.full(len(idx), np.inf)), "changeRowsBounds")

    def row_slack(self, rows) -> np.ndarray:
        """How far the last solution keeps each of ``rows`` (handed over, with their own bounds) from
        its nearer bound, in the row's units (negative: over it)."""
        idx = np.array([self.row[r.name] for r in rows], dtype=np.int32)
        value = np.asarray(self.h.getSolution().row_value)[idx] if len(idx) else np.zeros(0)
        lo, up = (np.array(b, dtype=float) for b in zip(*(_bounds(r) for r in rows))) if rows else (value, value)
        return np.minimum(up - value, value - lo)

    def _set_integer(self, integer: bool) -> None:
        if integer == self._integer or len(self.int_cols) == 0:
            return
        kind = 1 if integer else 0  # kInteger / kContinuous
        self._check(self.h.changeColsIntegrality(len(self.int_cols), self.int_cols,
                                                 np.full(len(self.int_cols), kind, dtype=np.uint8)),
                    "changeColsIntegrality")
        self._integer = integer

    # ----------------------------------------------------------------- solve

    def run(self, mip: bool, time_limit: float | None = None, start: np.ndarray | None = None) -> RunInfo:
        """Solve the MILP (``mip=True``) or its LP relaxation; write the solution onto the PuLP
        variables (``varValue``) and, for an LP, the row duals (``pi``) onto its constraints and the
        reduced costs (``dj``) onto its variables. ``start``: a feasible value of every column (in :attr:`vars` order) the MILP may start from."""
        hs = self._hs
        self.sync()
        mip = mip and len(self.int_cols) > 0
        self._set_integer(mip)
        if start is not None and mip:
            sol = hs.HighsSolution()
            sol.col_value = np.asarray(start, float)
            sol.value_valid = True
            self._check(self.h.setSolution(sol), "setSolution")
        self.h.setOptionValue("time_limit", float("inf") if time_limit is None else float(time_limit))
        t = time.perf_counter()
        self._check(self.h.run(), "run")
        solver_s = time.perf_counter() - t
        model_status = self.h.getModelStatus()
        info = self.h.getInfo()
        has_solution = info.primal_solution_status == 2  # kSolutionStatusFeasible
        status = {hs.HighsModelStatus.kOptimal: "optimal",
                  hs.HighsModelStatus.kInfeasible: "infeasible",
                  hs.HighsModelStatus.kUnboundedOrInfeasible: "infeasible",
                  hs.HighsModelStatus.kUnbounded: "unbounded",
                  hs.HighsModelStatus.kTimeLimit: "time_limit" if has_solution and mip else "no_solution",
                  hs.HighsModelStatus.kSolutionLimit: "solution_limit" if has_solution else "no_solution",
                  }.get(model_status, "not_solved")
        gap = None
        if mip and status in ("optimal", "time_limit", "solution_limit"):
            if np.isfinite(info.mip_gap):
                gap = float(info.mip_gap)
            else:
                obj, bound = info.objective_function_value, info.mip_dual_bound
                # HiGHS leaves the gap undefined when the incumbent is worth 0: report 100 % then
                gap = abs(bound - obj) / abs(obj) if abs(obj) > 1e-9 else (1.0 if abs(bound) > 1e-9 else 0.0)
        if status in ("optimal", "time_limit", "solution_limit"):
            sol = self.h.getSolution()
            for v, x in zip(self.vars, sol.col_value):
                v.varValue = x
            if not mip:
                for con, pi in zip(self.cons, sol.row_dual):
                    con.pi = pi
                for v, dj in zip(self.vars, sol.col_dual):
                    v.dj = dj
            else:
                for con in self.cons:
                    con.pi = None
                for v in self.vars:
                    v.dj = None
        return RunInfo(status=status, gap=gap, solver_s=solver_s)

    def objective(self) -> float:
        """Objective value of the last solution, in the problem's own sense."""
        return self.sign * float(self.h.getInfo().objective_function_value) + float(self.prob.objective.constant)
