"""A small reader of MATPOWER case files (``.m``, version 2) into DataFrames.

Only numeric matrices are read: ``baseMVA``, ``bus``, ``gen``, ``branch`` and,
when present, ``dcline`` and ``gencost``. The result is the same set of tables
that the built-in grids are made of, so that one builder
(``planner.data.grid.build_net``) handles every source the same way.

Of ``gencost`` the generators' active power costs (its first ng rows, one per
generator) are kept: polynomials of degree 2 at most (model 2, NCOST <= 3) and
piecewise-linear curves (model 1). Rows of reactive power costs (rows ng+1 ..
2 ng), when present, are checked the same way but not kept (planner dispatches
no reactive power). Any other form is an :class:`~planner.core.errors.InputError`.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

from planner.core.errors import InputError

BUS_COLUMNS = ["bus_id", "type", "Pd", "Qd", "Gs", "Bs", "area", "Vm", "Va", "baseKV", "zone_id",
               "Vmax", "Vmin"]
GEN_COLUMNS = ["bus_id", "Pg", "Qg", "Qmax", "Qmin", "Vg", "mBase", "status", "Pmax", "Pmin"]
BRANCH_COLUMNS = ["from_bus_id", "to_bus_id", "r", "x", "b", "rateA", "rateB", "rateC", "ratio",
                  "angle", "status"]
DCLINE_COLUMNS = ["from_bus_id", "to_bus_id", "status", "Pf", "Pt", "Qf", "Qt", "Vf", "Vt", "Pmin",
                  "Pmax", "QminF", "QmaxF", "QminT", "QmaxT", "loss0", "loss1"]

_MATRIX = re.compile(r"mpc\.(\w+)\s*=\s*\[(.*?)\]\s*;", re.DOTALL)
_SCALAR = re.compile(r"mpc\.baseMVA\s*=\s*([0-9.eE+-]+)\s*;")


def _parse_matrix(body: str, path: Path, name: str) -> np.ndarray:
    rows = []
    for lineno, line in enumerate(body.splitlines(), 1):
        line = line.split("%", 1)[0].strip().rstrip(";").strip()
        if not line:
            continue
        for chunk in line.split(";"):
            chunk = chunk.strip()
            if chunk:
                try:
                    rows.append([float(v) for v in chunk.replace(",", " ").split()])
                except ValueError as exc:
                    raise InputError(f"non-numeric entry in mpc.{name} ({exc})", source=path,
                                     field=f"mpc.{name}", expected="numbers only") from None
    widths = {len(r) for r in rows}
    if len(widths) > 1:
        raise InputError("rows of different length", source=path, field=f"mpc.{name}",
                         value=sorted(widths), expected="one width for every row")
    return np.array(rows, dtype=float)


GENCOST_COLUMNS = ["cost_model", "c2", "c1", "c0", "cost_points"]


def _gen_costs(mat: np.ndarray, n_gen: int, path: Path) -> pd.DataFrame:
    """``mpc.gencost`` as one row per generator (see ``planner.data.grid.GridTables``):
    ``cost_model``, ``c2``/``c1``/``c0`` ($/MW^2h, $/MWh, $/h) of a polynomial,
    ``cost_points`` ((MW, $/h), ...) of a piecewise-linear curve."""
    width = mat.shape[1]
    if width < 5:
        raise InputError(f"{width} columns", source=path, field="mpc.gencost",
                         expected="at least 5 columns: MODEL STARTUP SHUTDOWN NCOST COST...")
    if len(mat) not in (n_gen, 2 * n_gen):
        raise InputError(f"{len(mat)} rows for {n_gen} generators", source=path, field="mpc.gencost",
                         expected=f"one row per generator in mpc.gen order ({n_gen} rows), or two "
                         f"({2 * n_gen} rows: active power costs, then reactive)")
    rows = []
    for i, row in enumerate(mat):
        where = f"mpc.gencost row {i + 1}"
        model, n = row[0], row[3]
        if model not in (1, 2):
            raise InputError("unknown cost model", source=path, field=f"{where} MODEL", value=float(model),
                             expected="1 (piecewise linear) or 2 (polynomial)")
        if model == 2:
            if n not in (1, 2, 3) or 4 + n > width:
                raise InputError("polynomial cost not supported", source=path, field=f"{where} NCOST",
                                 value=float(n), expected="1, 2 or 3 coefficients (a polynomial of degree "
                                 f"2 at most) within the row's {width - 4} cost columns")
            coef = row[4:4 + int(n)]
            if not np.isfinite(coef).all():
                raise InputError("cost coefficient not finite", source=path, field=f"{where} COST",
                                 value=coef.tolist(), expected="finite numbers")
            c2, c1, c0 = np.r_[np.zeros(3 - int(n)), coef]
            rows.append((2, float(c2), float(c1), float(c0), None))
        else:
            if not (np.isfinite(n) and float(n).is_integer() and n >= 2) or 4 + 2 * n > width:
                raise InputError("piecewise-linear cost not usable", source=path, field=f"{where} NCOST",
                                 value=float(n), expected=f"a number of points >= 2 whose {2 * n:g} values "
                                 f"(p1 f1 p2 f2 ...) fit within the row's {width - 4} cost columns")
            xy = row[4:4 + 2 * int(n)].reshape(-1, 2)
            if not np.isfinite(xy).all() or not (np.diff(xy[:, 0]) > 0).all():
                raise InputError("piecewise-linear cost not usable", source=path, field=f"{where} COST",
                                 value=xy.ravel().tolist(),
                                 expected="finite points p1 f1 p2 f2 ... with p (MW) strictly increasing")
            rows.append((1, np.nan, np.nan, np.nan, tuple((float(p), float(f)) for p, f in xy)))
    return pd.DataFrame(rows[:n_gen], columns=GENCOST_COLUMNS)


def read_matpower(path: str | Path) -> dict[str, pd.DataFrame | float]:
    """Read a MATPOWER ``.m`` case file into ``{"baseMVA", "bus", "gen", "branch", "dcline",
    "gencost"}``; ``gencost`` has one row per generator, or none when the file has no costs."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise InputError(f"cannot read the file ({exc.strerror})", source=path) from None
    text = re.sub(r"%[^\n]*", "", text)  # comments may contain brackets
    base = _SCALAR.search(text)
    matrices = {m.group(1): _parse_matrix(m.group(2), path, m.group(1)) for m in _MATRIX.finditer(text)}
    for required in ("bus", "gen", "branch"):
        if required not in matrices or matrices[required].size == 0:
            raise InputError("matrix missing or empty", source=path, field=f"mpc.{required}",
                             expected="a MATPOWER version 2 case with bus, gen and branch matrices")
    out: dict[str, pd.DataFrame | float] = {"baseMVA": float(base.group(1)) if base else 100.0}
    for key, columns in (("bus", BUS_COLUMNS), ("gen", GEN_COLUMNS), ("branch", BRANCH_COLUMNS),
                         ("dcline", DCLINE_COLUMNS)):
        mat = matrices.get(key)
        if mat is None or mat.size == 0:
            out[key] = pd.DataFrame(columns=columns)
            continue
        if mat.shape[1] < len(columns):
            raise InputError(f"{mat.shape[1]} columns", source=path, field=f"mpc.{key}",
                             expected=f"at least {len(columns)} columns")
        out[key] = pd.DataFrame(mat[:, : len(columns)], columns=columns)
    cost = matrices.get("gencost")
    has_cost = cost is not None and cost.size > 0
    out["gencost"] = (_gen_costs(cost, len(out["gen"]), path) if has_cost
                      else pd.DataFrame(columns=GENCOST_COLUMNS))
    return out
