"""The live HiGHS model (planner.optimization.live.LiveModel) against another solver, CBC through PuLP, which
builds the model from scratch on every solve: the same objective (1e-7 relative, CBC's tolerance),
the same values on unique optima, duals by hand, after rows are added and costs and bounds are
changed in place."""

import warnings

import numpy as np
import pulp
import pytest

from planner.optimization.live import LiveModel


def _random_problem(seed: int, n: int = 12, m: int = 8, integer: bool = True):
    rng = np.random.default_rng(seed)
    prob = pulp.LpProblem("t", pulp.LpMaximize)
    x = [prob.add_variable(f"x{j}", 0, float(rng.uniform(1, 10))) for j in range(n)]
    z = [prob.add_variable(f"z{j}", 0, 1, cat=pulp.LpBinary) for j in range(n // 3)] if integer else []
    prob += pulp.LpAffineExpression([(v, float(rng.uniform(0.5, 3))) for v in x] +
                                    [(v, float(-rng.uniform(1, 4))) for v in z])
    for i in range(m):
        pairs = [(v, float(rng.uniform(0, 2))) for v in x if rng.random() < 0.5]
        prob += pulp.LpConstraint(pulp.LpAffineExpression(pairs), pulp.LpConstraintLE, f"c{i}",
                                  float(rng.uniform(5, 20)))
    for j, v in enumerate(z):  # x_j <= 10 z_j: using x_j costs the binary's fixed cost
        prob += pulp.LpConstraint(pulp.LpAffineExpression([(x[j], 1.0), (v, -10.0)]), pulp.LpConstraintLE,
                                  f"gate{j}", 0.0)
    return prob, x, z


def _pulp_objective(prob: pulp.LpProblem, mip: bool) -> float:
    copy = prob.deepcopy()
    # the referee is another solver (CBC, bundled with PuLP), not HiGHS again
    with warnings.catch_warnings():  # PuLP 3.3 calls its bundled CBC deprecated (for PuLP 4)
        warnings.simplefilter("ignore", DeprecationWarning)
        copy.solve(pulp.PULP_CBC_CMD(msg=False, mip=mip, gapRel=0.0))
    assert pulp.LpStatus[copy.status] == "Optimal"
    return pulp.value(copy.objective), copy


@pytest.mark.parametrize("seed", range(8))
def test_live_model_matches_pulp_through_rows_costs_and_bounds(seed):
    prob, x, _ = _random_problem(seed)
    live = LiveModel(prob, {"threads": 1, "mip_rel_gap": 0.0})
    rng = np.random.default_rng(100 + seed)

    def same(mip: bool):
        info = live.run(mip)
        assert info.status == "optimal"
        expect, _ = _pulp_objective(prob, mip)
        got = pulp.value(prob.objective)  # from the values LiveModel wrote back
        # CBC's primal tolerance is 1e-7: the two solvers agree to that, relative
        assert got == pytest.approx(expect, rel=1e-7, abs=1e-7)
        assert live.objective() == pytest.approx(expect, rel=1e-7, abs=1e-7)

    same(True)
    same(False)
    # a lazy row: the sum of the x is capped below what the solution uses
    total = sum(v.varValue for v in x)
    prob += pulp.LpConstraint(pulp.LpAffineExpression([(v, 1.0) for v in x]), pulp.LpConstraintLE, "lazy",
                              0.6 * total)
    same(False)
    same(True)
    live.set_costs(x[:3], rng.uniform(3, 6, 3))  # the objective changes in place (and on the PuLP side)
    same(True)
    live.set_bounds(x[3:6], 0.0, 0.5)
    same(True)
    same(False)


def test_lp_duals_and_values_equal_pulps_on_a_unique_optimum():
    """max 3x + 2y, x + y <= 4, x + 3y <= 7, x <= 3: optimum x = 3, y = 1, duals 2 and 0 (and
    1 on x's bound). The duals on the PuLP constraints have PuLP's signs."""
    prob = pulp.LpProblem("d", pulp.LpMaximize)
    x, y = prob.add_variable("x", 0, 3), prob.add_variable("y", 0)
    prob += 3 * x + 2 * y
    prob += pulp.LpConstraint(x + y, pulp.LpConstraintLE, "a", 4)
    prob += pulp.LpConstraint(x + 3 * y, pulp.LpConstraintLE, "b", 7)
    live = LiveModel(prob)
    assert live.run(False).status == "optimal"
    got = (x.varValue, y.varValue, prob.constraints()[0].pi, prob.constraints()[1].pi)
    _, ref = _pulp_objective(prob, False)
    # values against CBC; duals against the hand solution (CBC reports a maximization's duals
    # with the opposite sign to PuLP's HiGHS interface, whose convention LiveModel keeps)
    want = (ref.variablesDict()["x"].varValue, ref.variablesDict()["y"].varValue)
    assert got[:2] == pytest.approx(want, abs=1e-9)
    assert [abs(c.pi) for c in ref.constraints()] == pytest.approx([2.0, 0.0], abs=1e-9)
    assert got == pytest.approx((3.0, 1.0, -2.0, 0.0), abs=1e-9)  # PuLP's sign: minimizes -objective


def test_rows_reach_highs_once_and_the_lp_resolves_warm():
    """Rows added after the hand-over are passed once (``sync`` counts them), and re-solving the
    LP after a cut starts from the last basis: fewer simplex iterations than a cold solve."""
    prob, x, _ = _random_problem(3, n=60, m=40, integer=False)
    live = LiveModel(prob, {"threads": 1})
    live.run(False)
    prob += pulp.LpConstraint(pulp.LpAffineExpression([(v, 1.0) for v in x]), pulp.LpConstraintLE, "cut",
                              0.8 * sum(v.varValue for v in x))
    assert live.sync() == 1 and live.sync() == 0
    live.run(False)
    warm = live.h.getInfo().simplex_iteration_count
    cold = LiveModel(prob, {"threads": 1})
    cold.run(False)
    assert warm < cold.h.getInfo().simplex_iteration_count
    assert live.objective() == pytest.approx(cold.objective(), rel=1e-9)


def test_a_row_with_an_unknown_variable_is_refused():
    prob, x, _ = _random_problem(1)
    live = LiveModel(prob)
    other = pulp.LpProblem("other", pulp.LpMaximize)
    stranger = other.add_variable("stranger", 0, 1)
    prob += pulp.LpConstraint(pulp.LpAffineExpression([(stranger, 1.0), (x[0], 1.0)]), pulp.LpConstraintLE,
                              "bad", 1.0)
    with pytest.raises(ValueError, match="stranger, which was not in the problem"):
        live.run(False)


def test_a_relaxed_row_is_free_in_highs_until_its_bounds_are_put_back():
    """``relax_rows`` frees a row in HiGHS only (the PuLP row keeps its limit); ``row_slack`` reads how
    far the last solution is from each row's own limit (negative: over it); ``update_rows`` puts the
    limit back. max x + y with x, y <= 3 and x + y <= 4, x - y >= -1."""
    prob = pulp.LpProblem("r", pulp.LpMaximize)
    x, y = prob.add_variable("x", 0, 3), prob.add_variable("y", 0, 3)
    prob += x + y
    cap = pulp.LpConstraint(x + y, pulp.LpConstraintLE, "cap", 4)
    low = pulp.LpConstraint(x - y, pulp.LpConstraintGE, "low", -1)
    prob += cap
    prob += low
    live = LiveModel(prob, {"threads": 1})
    assert live.run(False).status == "optimal" and live.objective() == pytest.approx(4.0)
    assert live.row_slack([cap]) == pytest.approx([0.0], abs=1e-9)
    live.relax_rows([cap])
    assert live.run(False).status == "optimal" and live.objective() == pytest.approx(6.0)
    assert cap.constant == -4 and cap.sense == pulp.LpConstraintLE  # the PuLP row is as it was
    assert live.row_slack([cap, low]) == pytest.approx([-2.0, 1.0], abs=1e-9)  # 6 against 4; 0 against -1
    live.update_rows([cap])
    assert live.run(False).status == "optimal" and live.objective() == pytest.approx(4.0)
