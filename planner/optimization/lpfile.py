"""The whole allocation model as one LP file (``planner solve ... --write-lp FILE``).

planner solves with the network rows held as arrays by HiGHS and added lazily
(:mod:`planner.optimization.solve`). For an audit, or to solve the same problem with another solver, the model
is written here through PuLP with every row it needs in one file:

* the economic core and the supply response's block (:func:`planner.optimization.model.build`,
  :meth:`planner.network.supply.SupplyResponse.block`), with the binaries free (not fixed for pricing) and no
  tie-break row;
* every N-0 branch row of every load state that some allocation could overload (fixed
  participation: the branches :func:`planner.network.sensitivity.screen` keeps; a branch it drops cannot be
  overloaded by any allocation within the sites' sizes, so its row is redundant);
* every other network row the solve added (N-1 branch-outage pairs, rows of pairs already over
  without new load, and under redispatch every branch row, which no screening can rule out):
  the lazy loop stopped only when the optimum over these rows met every row of the full model, so
  the file's optimum is the full model's.

The objective is the NPV in million dollars; the file's first lines say so and give the constant
that turns it into the run's ``objective_usd`` (``offset_usd``: 0 for a fixed supply response;
under redispatch the generation cost of the reference dispatch and of each curve's lower limit).
"""

from __future__ import annotations

import logging
import os
import tempfile
from pathlib import Path

from planner.core.errors import InputError
from planner.optimization import model as mdl

logger = logging.getLogger(__name__)


def full_model(solved) -> tuple[mdl.Built, int, int]:
    """A new :class:`planner.optimization.model.Built` of ``solved``'s plan (:class:`planner.optimization.solve.Solved`) with
    every network row described in the module docstring; also the number of N-0 rows from the
    screening and of rows copied from the solve."""
    built = mdl.build(solved.cand, solved.params, solved.timeline, solved.built.values)
    solved.params.supply.block(built, solved.net, solved.params)
    screened = 0
    for keys, coef, base, limit, state in solved.net.screened_rows():
        screened += mdl.add_rows(built, keys, coef, base, limit, state)
    names = built.prob.variablesDict()
    copied = 0
    for key, con in solved.built.rows.items():
        if key in built.rows:
            continue
        row = mdl.NetRow(key, built.loads[key[1]], con.cols, con.coef, con.sense, -con.constant,
                         f"net_{len(built.rows)}")
        built.rows[key] = row
        copied += 1
    for row in built.rows.values():  # every network row as a PuLP row: the file holds the whole model
        built.prob += row.to_pulp(names)
    built.pending = []
    return built, screened, copied


def check_target(path: str | Path) -> Path:
    """The LP file's path, checked before a solve: a file name in a folder that exists and can be
    written to."""
    path = Path(path)
    if path.is_dir():
        raise InputError("is a directory", field="--write-lp", value=str(path), expected="a file name")
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise InputError("its folder does not exist", field="--write-lp", value=str(path),
                         expected="a file in an existing folder")
    if not os.access(folder, os.W_OK):
        raise InputError("its folder cannot be written to", field="--write-lp", value=str(path))
    return path


def write_lp(solved, path: str | Path, objective_usd: float) -> Path:
    """Write the model of ``solved`` to ``path`` (CPLEX LP format, through PuLP), atomically: the
    file appears complete or not at all. Returns the path."""
    path = check_target(path)
    built, screened, copied = full_model(solved)
    header = [f"planner allocation model: maximize the NPV in million USD ({len(built.rows):,} network rows: "
              f"{screened:,} from the screening, {copied:,} from the solve)",
              f"objective_usd = 1e6 * objective + offset_usd; offset_usd = {solved.offset_usd:.6f}",
              f"the run's objective_usd = {objective_usd:.0f}"]
    fd, tmp = tempfile.mkstemp(prefix=".planner-", suffix=".lp", dir=path.parent)
    os.close(fd)
    try:
        built.prob.writeLP(tmp)
        text = Path(tmp).read_text()
        Path(tmp).write_text("".join(f"\\ {line}\n" for line in header) + text)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # as any file the user writes (mkstemp makes it private)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    logger.info(f"wrote {path}: {len(built.prob.variables()):,} columns, "
                f"{len(built.prob.constraints()):,} rows")
    return path
