"""Compare two solve runs (directories written by ``planner solve --out``)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from planner.errors import InputError, one_line, read_csv

METRICS = ("requested_ai_mw", "served_ai_mw", "unmet_ai_mw", "served_mining_mw", "objective_usd", "capex_usd",
           "converted_sites", "binding_branches", "max_branch_loading_percent")


def _read_summary(file: Path) -> dict:
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except UnicodeDecodeError as exc:
        raise InputError(f"not UTF-8 text (byte 0x{exc.object[exc.start]:02x} at offset {exc.start})",
                         source=file, expected="the summary.json planner solve writes") from None
    except json.JSONDecodeError as exc:
        raise InputError(f"not valid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}", source=file,
                         expected="the summary.json planner solve writes") from None
    except (ValueError, RecursionError) as exc:  # an integer of more than 4,300 digits, a deep nest
        raise InputError(f"not a summary ({one_line(exc)})", source=file) from None
    if not isinstance(data, dict):
        raise InputError("not a JSON object", source=file, value=type(data).__name__,
                         expected="the summary.json planner solve writes (an object of named figures)")
    for key in METRICS:  # the figures compared: numbers (or null), never text
        value = data.get(key)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise InputError("not a number", source=file, field=key, value=value, expected="a number or null")
        if isinstance(value, int) and abs(value) > 1e300:  # no float holds it (NaN and inf are fine)
            raise InputError("too large a number", source=file, field=key, value=value,
                             expected="a number or null")
    return data


def _read_table(file: Path) -> pd.DataFrame:
    return read_csv(file, expected="a table written by planner solve",
                    encoding_hint="a table written by planner solve")


def _ids(frame: pd.DataFrame, column: str, file: Path, integer: bool = False) -> pd.Series:
    """The id column: no empty cell, no repeat (integers for branch ids)."""
    raw = frame[column]
    if integer:
        ids = pd.to_numeric(raw, errors="coerce")
        bad = ids.isna() | (ids != ids.round())
    else:
        ids = raw.astype(str).str.strip()
        bad = raw.isna() | (ids == "")
    if bad.any():
        i = int(np.flatnonzero(bad.to_numpy())[0])
        raise InputError("not an integer id" if integer else "empty id", source=file, row=i + 1, field=column,
                         value=None if pd.isna(raw.iloc[i]) else raw.iloc[i],
                         expected="an integer branch id" if integer else "a site id")
    ids = ids.astype(np.int64) if integer else ids
    dup = ids.duplicated()
    if dup.any():
        i = int(np.flatnonzero(dup.to_numpy())[0])
        first = int(np.flatnonzero((ids == ids.iloc[i]).to_numpy())[0])
        raise InputError(f"duplicated {column} (also on row {first + 1})", source=file, row=i + 1, field=column,
                         value=ids.iloc[i], expected=f"one row per {column.removesuffix('_id')}")
    return ids


def _numbers(frame: pd.DataFrame, column: str, file: Path) -> pd.Series:
    """A numeric column: numbers (NaN for an empty cell), never text."""
    raw = frame[column]
    values = pd.to_numeric(raw, errors="coerce")
    bad = values.isna() & raw.notna()
    if bad.any():
        i = int(np.flatnonzero(bad.to_numpy())[0])
        raise InputError("not a number", source=file, row=i + 1, field=column, value=raw.iloc[i],
                         expected="a number")
    return values.astype(float)


def _flags(frame: pd.DataFrame, column: str, file: Path) -> pd.Series:
    """A True/False column (``astype(bool)`` would call the text 'False' true)."""
    words = {"true": True, "false": False, "1": True, "0": False, "1.0": True, "0.0": False}
    text = frame[column].astype(str).str.strip().str.lower()
    bad = ~text.isin(list(words))
    if bad.any():
        i = int(np.flatnonzero(bad.to_numpy())[0])
        raise InputError("not True or False", source=file, row=i + 1, field=column, value=frame[column].iloc[i],
                         expected="True or False")
    return text.map(words).astype(bool)


def read_run(path: str | Path) -> dict:
    """summary, allocation and branches of a run directory, checked: a damaged file is an
    :class:`InputError` naming the file, the row and the column."""
    path = Path(path)
    if "\0" in str(path):
        raise InputError("a path cannot contain a NUL byte", source=path,
                         expected="a directory written by planner solve")
    if not path.is_dir():
        raise InputError("no such run directory", source=path, expected="a directory written by planner solve")
    out = {"path": str(path)}
    for name, reader in (("summary.json", _read_summary), ("allocation.csv", _read_table),
                         ("branches.csv", _read_table)):
        file = path / name
        if not file.is_file():
            raise InputError(f"{name} is missing", source=path, expected="a directory written by planner solve")
        try:
            out[name.split(".")[0]] = reader(file)
        except OSError as exc:  # permission denied, an I/O error
            raise InputError(f"cannot read the file ({exc.strerror or exc})", source=file) from None
    alloc, branches = out["allocation"], out["branches"]
    for column in ("site_id", "use", "ai_mw", "mining_mw"):
        if column not in alloc:
            raise InputError("column missing", source=path / "allocation.csv", field=column)
    for column in ("branch_id", "binding", "flow_mw", "shadow_price_usd_per_mw"):
        if column not in branches:
            raise InputError("column missing", source=path / "branches.csv", field=column)
    file = path / "allocation.csv"
    alloc["site_id"] = _ids(alloc, "site_id", file)
    alloc["use"] = alloc["use"].fillna("").astype(str)
    for column in ("ai_mw", "mining_mw"):
        alloc[column] = _numbers(alloc, column, file).fillna(0.0)
    file = path / "branches.csv"
    branches["branch_id"] = _ids(branches, "branch_id", file, integer=True)
    branches["binding"] = _flags(branches, "binding", file)
    for column in ("flow_mw", "shadow_price_usd_per_mw"):
        branches[column] = _numbers(branches, column, file)
    return out


def compare(dir_a: str | Path, dir_b: str | Path) -> dict:
    """What changed from run A to run B: headline numbers, sites whose use or MW
    changed, branches that became binding or free."""
    a, b = read_run(dir_a), read_run(dir_b)
    metrics = {}
    for key in METRICS:
        va, vb = a["summary"].get(key), b["summary"].get(key)
        change = vb - va if isinstance(va, int | float) and isinstance(vb, int | float) else None
        metrics[key] = {"a": va, "b": vb, "change": change}
    sa = a["allocation"].set_index("site_id")
    sb = b["allocation"].set_index("site_id")
    both = sa.index.intersection(sb.index)
    changed = []
    for sid in both:
        ra, rb = sa.loc[sid], sb.loc[sid]
        if ra["use"] != rb["use"] or abs(ra["ai_mw"] - rb["ai_mw"]) > 0.5 or abs(ra["mining_mw"] - rb["mining_mw"]) > 0.5:
            changed.append({"site_id": sid, "use_a": ra["use"], "use_b": rb["use"], "ai_mw_a": float(ra["ai_mw"]),
                            "ai_mw_b": float(rb["ai_mw"]), "mining_mw_a": float(ra["mining_mw"]),
                            "mining_mw_b": float(rb["mining_mw"])})
    ba = a["branches"].set_index("branch_id")
    bb = b["branches"].set_index("branch_id")
    common = ba.index.intersection(bb.index)
    bind_a = ba.loc[common, "binding"].to_numpy(bool)
    bind_b = bb.loc[common, "binding"].to_numpy(bool)

    def rows(mask, frame):
        ids = common[mask]
        sub = frame.loc[ids]
        return [{"branch_id": int(i), "flow_mw": float(f), "shadow_price_usd_per_mw": float(p)}
                for i, f, p in zip(ids, sub["flow_mw"], sub["shadow_price_usd_per_mw"])]

    return {"a": str(dir_a), "b": str(dir_b), "metrics": metrics, "sites_changed": changed,
            "sites_only_in_a": sorted(map(str, sa.index.difference(sb.index))),
            "sites_only_in_b": sorted(map(str, sb.index.difference(sa.index))),
            "branches_now_binding": rows(bind_b & ~bind_a, bb),
            "branches_now_free": rows(bind_a & ~bind_b, ba),
            "same_grid": a["summary"].get("grid") == b["summary"].get("grid")
            and len(ba) == len(bb) and bool(np.all(ba.index == bb.index))}
