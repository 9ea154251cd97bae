"""The rows of N-1 pairs over without new load (planner.network.security.Contingencies.preexisting):
formed in small blocks of pairs and, with a DFAX cut-off, kept sparse, with the same rows and the same
coefficients as the dense matrix of every pair."""

import tracemalloc

import numpy as np
import pytest
import scipy.sparse as sp

from planner.network import sensitivity as sens
from planner.network.security import Contingencies, State


@pytest.fixture(scope="module")
def case(texas):
    """Texas with an emergency rating at 0.9 x rateA: 8,933 pairs over without new load."""
    model = sens.dc_model(texas)
    mon = np.flatnonzero(model.monitored)
    buses = np.sort(np.random.default_rng(3).choice(model.bus_ids, 200, replace=False))
    s = sens.ptdf(model, buses, rows=mon, sign=-1.0)
    return model, mon, s, Contingencies(model, mon, 0.9)


def _dense(cont, model, s, dfax):
    """The rows as the whole pairs x buses matrix gives them."""
    l, k, lo, post0 = cont.preexisting_pairs(model.flow_mw[cont.mon])
    coef = s[l] + lo[:, None] * s[k]
    if dfax > 0:
        coef[np.abs(coef) < dfax] = 0.0
    live = np.flatnonzero(np.any(coef != 0.0, axis=1))
    return l[live], k[live], coef[live], post0[live]


@pytest.mark.parametrize("dfax", [0.05, 0.0])
def test_the_same_rows_and_coefficients_block_by_block(case, dfax):
    model, mon, s, cont = case
    l, k, coef, post0 = _dense(cont, model, s, dfax)
    assert len(l) > 1000
    for block in (None, 7, 10**6):
        st = State(name="peak", model=model, share={})
        rows = cont.preexisting(st, s, dfax, block=block)
        assert sp.issparse(rows.sens) == (dfax > 0)
        np.testing.assert_array_equal(rows.branch, mon[l])
        np.testing.assert_array_equal(rows.outage, mon[k])
        np.testing.assert_array_equal(rows.base, post0)
        np.testing.assert_array_equal(rows.limit, np.abs(post0))
        got = rows.sens.toarray() if sp.issparse(rows.sens) else rows.sens
        np.testing.assert_array_equal(got, coef)
        ids = np.array([0, 5, len(l) - 1])
        c, b, lim = rows.rows(ids)
        assert isinstance(c, np.ndarray)
        np.testing.assert_array_equal(c, coef[ids])
        x = np.random.default_rng(1).uniform(0, 300, s.shape[1])
        np.testing.assert_allclose(rows.flows(x), post0 + coef @ x, rtol=1e-12, atol=1e-9)


def _peak(fn):
    tracemalloc.start()
    try:
        out = fn()
        return out, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_the_pairs_x_buses_block_is_never_formed_at_once(case):
    """Beyond listing the pairs, forming their rows takes a small part of one dense pairs x buses
    matrix, and the rows kept take a small part of it too."""
    model, mon, s, cont = case
    _, _, coef, _ = _dense(cont, model, s, 0.05)
    _, listing = _peak(lambda: cont.preexisting_pairs(model.flow_mw[mon]))
    st = State(name="peak", model=model, share={})
    rows, peak = _peak(lambda: cont.preexisting(st, s, 0.05, block_mb=0.25))
    size = len(st.pre_pairs[0]) * s.shape[1] * 8  # one dense pairs x buses matrix
    stored = rows.sens.data.nbytes + rows.sens.indices.nbytes + rows.sens.indptr.nbytes
    assert size > 10 * 2**20 and stored < coef.nbytes / 10 and peak < listing + size / 4, \
        (stored, coef.nbytes, listing, peak, size)
