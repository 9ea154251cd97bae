"""A small reader of MATPOWER case files (``.m``, version 2) into DataFrames.

Only numeric matrices are read: ``baseMVA``, ``bus``, ``gen``, ``branch`` and,
when present, ``dcline``. The result is the same set of tables that the
built-in grids are made of, so that one builder (``planner.grid.build_net``)
handles every source the same way.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

from planner.errors import InputError

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


def read_matpower(path: str | Path) -> dict[str, pd.DataFrame | float]:
    """Read a MATPOWER ``.m`` case file into ``{"baseMVA", "bus", "gen", "branch", "dcline"}``."""
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
    return out
