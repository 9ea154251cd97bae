"""``python tests/shuffled_rows.py SEED planner-arguments...``: the planner command line with the
rows that reach HiGHS after its first hand-over (the network rows, added lazily) in a shuffled
order, the seed SEED (tests/test_unique.py). SEED -1: the order planner makes them in."""

import sys

import numpy as np

from planner.optimization import live

_seed = int(sys.argv.pop(1))
_sync = live.LiveModel.sync


def _shuffled_sync(self) -> int:
    cons = self.prob._constraints  # PuLP's ordered dict of rows: the new ones are reordered in place
    tail = list(cons.keys())[len(self.cons):]
    if tail and _seed >= 0:
        items = [(k, cons[k]) for k in tail]
        for k in tail:
            del cons[k]
        for j in np.random.default_rng(_seed + len(self.cons)).permutation(len(items)):
            cons[items[j][0]] = items[j][1]
    return _sync(self)


live.LiveModel.sync = _shuffled_sync

if __name__ == "__main__":
    from planner.cli import main

    main()
