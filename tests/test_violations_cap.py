"""The lazy loop's cap inside the network check (planner.network.security.Network.violations): with
``cap`` and ``known`` it returns exactly the rows the loop used to pick from the full list (those not
in the model yet, at most ``cap``, the largest flow as a share of the limit first), and forms the
coefficients of those rows only. When the explicit rows over their limit fill the cap, the outages
are not checked in that round: the pick is then the one among the explicit rows."""

import dataclasses
import tracemalloc

import numpy as np
import pytest

from planner.network import sensitivity as sens
from planner.network.security import Contingencies, Network, Rows, State


def _old_pick(known, todo, x, cap):
    """The selection the lazy loop made before the cap moved into the network (solve._most_violated)."""
    fresh, share = [], []
    for keys, coef, base, limit, state in todo:
        new = np.array([key not in known for key in keys], dtype=bool)
        if not new.any():
            continue
        coef, base, limit = np.asarray(coef)[new], np.asarray(base)[new], np.asarray(limit)[new]
        keys = [k for k, m in zip(keys, new) if m]
        side = np.array([k[-1] for k in keys], dtype=float)
        share.append(side * (base + coef @ x[:coef.shape[1]]) / np.maximum(np.abs(limit), 1e-9))
        fresh.append((keys, coef, base, limit, state))
    if sum(len(f[0]) for f in fresh) <= cap:
        return fresh
    cut = np.sort(np.concatenate(share))[-cap]
    take = [s >= cut for s in share]
    return [([k for k, m in zip(keys, t) if m], coef[t], base[t], limit[t], state)
            for (keys, coef, base, limit, state), t in zip(fresh, take) if t.any()]


@pytest.fixture(scope="module")
def heavy(texas):
    """Texas with N-0 and N-1 rows and a heavy load at 600 buses: thousands of rows over."""
    model = sens.dc_model(texas)
    mon = np.flatnonzero(model.monitored)
    rng = np.random.default_rng(7)
    buses = np.sort(rng.choice(model.bus_ids, 600, replace=False))
    s = sens.ptdf(model, buses, rows=mon, sign=-1.0)
    base = model.flow_mw[mon]
    limit = sens.row_limit(model.rate_mw[mon], base)
    cont = Contingencies(model, mon, 1.2)
    st = State(name="peak", model=model, share={})
    st.n0 = Rows(kind="n-0", state="peak", branch=mon, outage=np.full(len(mon), -1), sens=s, base=base,
                 limit=limit, screened=np.arange(len(mon)))
    l, k, lo, post0 = cont.preexisting_pairs(base)
    st.pre_pairs, st.pre_values = (l, k), (lo, post0)
    net = Network(mon=mon, sens=s, states=[st], contingencies=cont, screened=st.n0.screened, buses=buses)
    x = rng.uniform(0, 300, len(buses))
    return net, {"peak": x}


def _rows(todo):
    return {key: (c, b, lim) for keys, coef, base, limit, _ in todo
            for key, c, b, lim in zip(keys, coef, base, limit)}


def test_capped_violations_are_the_rows_the_loop_picked(heavy):
    net, loads = heavy
    full, n_over, seen = net.violations(loads, 0.95)
    every = [k for keys, *_ in full for k in keys]
    assert seen == [] and n_over > 1000 and {k[0] for k in every} == {"n-0", "n-1"}
    known = set(every[::7])
    # the explicit (N-0) rows alone: when their rows over fill the cap, the outages wait for a later round
    explicit, n0_over, _ = dataclasses.replace(net, contingencies=None).violations(loads, 0.95)
    assert 50 <= n0_over < n_over
    waited = set()
    for cap in (1, 50, 400, 10**6):
        got, n, seen = net.violations(loads, 0.95, cap=cap, known=known)
        wait = n0_over >= cap
        waited.add(wait)
        want = _old_pick(known, explicit if wait else full, loads["peak"], cap)
        if wait:
            known_here = {k for keys, *_ in explicit for k in keys} & known
        else:
            known_here = known
        assert n == (n0_over if wait else n_over) and set(seen) == known_here and len(seen) == len(known_here)
        g, w = _rows(got), _rows(want)
        assert list(g) == list(w) and len(g) >= min(cap, len(every) - len(known), n0_over if wait else len(every))
        if len(g) > cap:  # only rows tied with the cap-th largest share (both sides of an unloaded row)
            share = sorted(abs(b + c @ loads["peak"]) / lim for c, b, lim in g.values())
            assert share[len(g) - cap] == share[0]
        for key in w:
            for a, b in zip(g[key], w[key]):
                np.testing.assert_array_equal(a, b)
    assert waited == {True, False}


def test_the_coefficients_of_rows_left_out_are_never_formed(heavy):
    """N-0 rows (whose check is one matrix product): the capped call's peak memory is a small part of
    the coefficients of every row over, which the uncapped call forms."""
    net, loads = heavy
    net = dataclasses.replace(net, contingencies=None)
    peaks = {}
    for cap in (None, 20):
        tracemalloc.start()
        try:
            todo, _, _ = net.violations(loads, 0.95, cap=cap)
            _, peaks[cap] = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        if cap is None:
            size = sum(np.asarray(coef).nbytes for _, coef, *_ in todo)
    assert size > 2 * 2**20 and peaks[None] > size and peaks[20] < size / 10, (size, peaks)
