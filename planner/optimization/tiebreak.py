"""The tie-break: one allocation when several are worth the same.

An allocation problem often has many optima of equal NPV: two sites of one price at one bus, a
supply pool that any of several equal requests may take, a branch that limits two sites whose
MW trade one for one. Which of them a MILP solver returns depends on its version, its thread
count and the order of its rows. planner does not leave that choice to the solver:

1. **NPV first.** The MILP is solved for the NPV (``solver.mip_gap``, default 0: to optimality).
2. **Then the documented order.** Among the allocations whose NPV is within
   :func:`tolerance_musd` of that optimum (1e-11 of it, and at least a cent: "equal NPV"),
   planner takes the one with the largest tie-break score ``sum_k w_k * MW_k`` over the site MW
   columns *k* (one per site, path and year), solved to optimality as a second MILP with the
   same network rows (added lazily as in the first).
3. **Polish.** With the binaries fixed, the continuous part is an LP whose optimum may still be a
   face, not a point (a flow split, a redispatch of equal cost). planner solves it, holds the
   optimal face (by complementary slackness: the rows with a nonzero shadow price stay at their
   limits, the columns with a nonzero reduced cost at their bounds), takes the point of largest
   site score on it, then, on that point's face, of largest generator score (redispatch: the
   generator segments ranked by (state, generator id, segment) the same way). No NPV is traded
   for a score: every point of the face is optimal.
4. **Unique prices.** Shadow prices at a degenerate optimum are not unique either. planner prices
   the fixed-binary LP with every limit raised by a tiny fixed amount (1e-4 MW times a weight of
   1 to 1.5 from a hash of the limit's name), where they are unique
   (``planner.optimization.solve.PRICE_NUDGE``).

The weights :func:`weights` rank the columns by (site id, path, year), the site id in text order,
the paths in the order keep mining, new mining, AI (lease and cloud), AI cloud: the first
column gets 2, the last 1, evenly spaced, plus a fixed jitter of less than half a step made
from a hash of the column's key. So among allocations of equal NPV planner serves more MW rather
than fewer, and at equal MW it serves the site whose id comes first; the jitter (the same on every
machine) separates exchanges among several sites that even spacing would leave tied. The answer
is then the same whatever the solver version, its threads or the order the rows arrive, and
``summary.json`` says whether the second stage proved its optimum and how the polish ended
(``tie_break``). What is not unique, and so not part of the answer: the count of lazy network rows
and rounds (``summary.json``'s ``lazy_rows``, diagnostics like the timings), which depend on the
path the solver took.

Ties of the *limiting element* (which branch limits a site or a bus when two bind at the same MW)
are broken the same way everywhere (allocation ``limited_by``, hosting, N-1 hosting): the branch
whose id comes first (see :mod:`planner.network.hosting`).
"""

from __future__ import annotations

import hashlib

import numpy as np

#: allocations whose NPV differ by less than this share of the optimum count as equal
TIE_RELATIVE = 1e-11
#: ... and by less than this many dollars
TIE_ABSOLUTE_USD = 0.01
#: the order of a site's MW columns in the ranking
PATH_ORDER = {"keep": 0, "new": 1, "ai": 2, "cloud": 3}


def tolerance_musd(objective_musd: float) -> float:
    """NPV (million $) within which two allocations count as equal, for an optimum of
    ``objective_musd`` million $."""
    return max(TIE_RELATIVE * abs(float(objective_musd)), TIE_ABSOLUTE_USD / 1e6)


def jitter(key: tuple) -> float:
    """A number in [0, 1) from a hash of ``key``'s text (the same on every machine and run)."""
    digest = hashlib.blake2b(repr(key).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2.0 ** 64


def weights(keys: list[tuple]) -> np.ndarray:
    """The tie-break weight of each column, from its key ``(site_id, path, year)`` (see the module
    docstring): from 2 for the first key in sorted order down to just above 1 for the last."""
    n = len(keys)
    if n == 0:
        return np.zeros(0)
    order = sorted(range(n), key=lambda k: (str(keys[k][0]), *keys[k][1:]))
    rank = np.empty(n)
    rank[order] = np.arange(n)
    fixed = np.array([jitter(tuple(str(p) for p in key)) for key in keys])
    return 2.0 - (rank + 0.5 * fixed) / n
