"""Compare two solve runs (directories written by ``planner solve --out``), or two scenarios of
a sweep (a directory written by ``planner sweep --out``)."""

from __future__ import annotations

import difflib
import json
import math
import shlex
from pathlib import Path

import numpy as np
import pandas as pd

from planner.core.errors import InputError, one_line, read_csv

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


def _row(i: int, rows) -> int:
    """The file's row number (1-based, header not counted) of position ``i``; ``rows``: the row
    numbers of a frame that is a part of the file (None: the whole file)."""
    return i + 1 if rows is None else int(rows[i])


def _ids(frame: pd.DataFrame, column: str, file: Path, integer: bool = False, rows=None) -> pd.Series:
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
        raise InputError("not an integer id" if integer else "empty id", source=file, row=_row(i, rows), field=column,
                         value=None if pd.isna(raw.iloc[i]) else raw.iloc[i],
                         expected="an integer branch id" if integer else "a site id")
    ids = ids.astype(np.int64) if integer else ids
    dup = ids.duplicated()
    if dup.any():
        i = int(np.flatnonzero(dup.to_numpy())[0])
        first = int(np.flatnonzero((ids == ids.iloc[i]).to_numpy())[0])
        raise InputError(f"duplicated {column} (also on row {_row(first, rows)})", source=file, row=_row(i, rows),
                         field=column,
                         value=ids.iloc[i], expected=f"one row per {column.removesuffix('_id')}")
    return ids


def _numbers(frame: pd.DataFrame, column: str, file: Path, rows=None) -> pd.Series:
    """A numeric column: numbers (NaN for an empty cell), never text."""
    raw = frame[column]
    values = pd.to_numeric(raw, errors="coerce")
    bad = values.isna() & raw.notna()
    if bad.any():
        i = int(np.flatnonzero(bad.to_numpy())[0])
        raise InputError("not a number", source=file, row=_row(i, rows), field=column, value=raw.iloc[i],
                         expected="a number")
    return values.astype(float)


def _flags(frame: pd.DataFrame, column: str, file: Path, rows=None) -> pd.Series:
    """A True/False column (``astype(bool)`` would call the text 'False' true)."""
    words = {"true": True, "false": False, "1": True, "0": False, "1.0": True, "0.0": False}
    text = frame[column].astype(str).str.strip().str.lower()
    bad = ~text.isin(list(words))
    if bad.any():
        i = int(np.flatnonzero(bad.to_numpy())[0])
        raise InputError("not True or False", source=file, row=_row(i, rows), field=column,
                         value=frame[column].iloc[i],
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


# ----------------------------------------------------------------------------- two scenarios of a sweep

#: the figures of a sweep's results compared (``planner sweep`` keeps these of each scenario)
SWEEP_METRICS = ("objective_usd", "served_ai_mw", "unmet_ai_mw", "served_mining_mw", "converted_sites",
                 "binding_branches")
#: figures that count something: whole numbers (a Parquet column with an empty cell holds them as floats)
COUNTS = ("converted_sites", "binding_branches")
#: statuses of a solved scenario (the others, infeasible and failed, have no figures and no sites)
SOLVED = ("optimal", "time_limit")
#: MW a site must change by to count as changed (as for two runs)
MW_CHANGE = 0.5
#: how an id is given (in help and error messages)
ID_HELP = "an id of the sweep's results (12 hex characters) or its unique prefix of 4 or more characters"
SAMPLE_HELP = "or sample:N for scenario N of a Monte Carlo sweep"
BRANCHES_NOTE = ("branches are not compared: a sweep does not store them; run the two planner solve commands "
                 "with --out and compare the two run directories")
SWEEP_EXPECTED = "a directory written by planner sweep --out"


def is_sweep(path: str | Path) -> bool:
    """Whether ``path`` is a sweep directory (it has sweep.json)."""
    text = str(path)
    try:
        return "\0" not in text and (Path(text) / "sweep.json").is_file()
    except OSError:  # a name too long, a directory that cannot be searched: not one
        return False


def _read_json(file: Path, expected: str):
    try:
        return json.loads(file.read_text(encoding="utf-8"))
    except UnicodeDecodeError as exc:
        raise InputError(f"not UTF-8 text (byte 0x{exc.object[exc.start]:02x} at offset {exc.start})",
                         source=file, expected=expected) from None
    except json.JSONDecodeError as exc:
        raise InputError(f"not valid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}", source=file,
                         expected=expected) from None
    except (ValueError, RecursionError) as exc:  # an integer of more than 4,300 digits, a deep nest
        raise InputError(f"not readable JSON ({one_line(exc)})", source=file, expected=expected) from None
    except OSError as exc:
        raise InputError(f"cannot read the file ({exc.strerror or exc})", source=file) from None


def _read_meta(path: Path) -> dict:
    """sweep.json, checked: the scenario, its base --set, and the varied keys (``vary`` of a grid,
    ``distributions`` of a Monte Carlo sweep)."""
    file = path / "sweep.json"
    expected = "the sweep.json planner sweep writes"
    meta = _read_json(file, expected)
    if not isinstance(meta, dict):
        raise InputError("not a JSON object", source=file, value=type(meta).__name__, expected=expected)
    scenario = meta.get("scenario")
    if not isinstance(scenario, str) or not scenario.strip():
        raise InputError("no scenario", source=file, field="scenario", value=scenario,
                         expected="the scenario the sweep solved (a name or a path)")
    sets = meta.get("sets", [])
    if not isinstance(sets, list) or not all(isinstance(s, str) and "=" in s for s in sets):
        raise InputError("not a list of KEY=VALUE", source=file, field="sets", value=sets,
                         expected="the sweep's --set overrides, e.g. [\"constraints.security=n-1\"]")
    if isinstance(meta.get("vary"), dict) and meta["vary"]:
        kind, keys = "grid", list(meta["vary"])
    elif isinstance(meta.get("distributions"), dict) and meta["distributions"]:
        kind, keys = "samples", list(meta["distributions"])
    else:
        raise InputError("neither 'vary' nor 'distributions' names a varied key", source=file,
                         field="vary" if "vary" in meta else "distributions",
                         value=meta.get("vary", meta.get("distributions")), expected=expected)
    return {"scenario": scenario, "sets": list(sets), "kind": kind, "keys": [str(k) for k in keys]}


def _read_parquet(file: Path, columns: list[str], expected: str) -> pd.DataFrame:
    """A Parquet table with ``columns`` (others are kept), or an :class:`InputError` naming the file."""
    import pyarrow as pa

    from planner.sweeps.analysis import read_parquet

    if not file.is_file():
        hint = (" (the sweep has not finished: run the same planner sweep command on this directory to finish it)"
                if file.with_suffix(".csv").is_file() else "")
        raise InputError(f"{file.name} is missing{hint}", source=file.parent, expected=SWEEP_EXPECTED)
    try:
        frame = read_parquet(file)
    except (pa.ArrowException, OSError, ValueError, TypeError) as exc:
        raise InputError(f"not a readable Parquet file ({one_line(exc)})", source=file, expected=expected) from None
    for column in columns:
        if column not in frame:
            raise InputError("column missing", source=file, field=column, expected=expected)
    return frame.reset_index(drop=True)


def _decode(values: list) -> list:
    """The varied values of one column of results.parquet as the sweep set them: a column whose
    values were of several kinds is stored as their JSON text (see :func:`planner.sweeps.sweep.collect`)."""
    if not values or not all(isinstance(v, str) for v in values):
        return values
    try:
        loaded = [json.loads(v) for v in values]
    except (ValueError, RecursionError):
        return values
    kinds = {type(v) for v in loaded}
    return loaded if len(kinds) > 1 and not kinds <= {int, float} else values


def _plain(value):
    """A value of a cell as plain Python (numpy scalars and arrays unwrapped, NaN as None)."""
    if isinstance(value, np.ndarray) and value.ndim > 0:  # a list in a Parquet cell
        return [_plain(v) for v in value.tolist()]
    if hasattr(value, "item") and getattr(value, "ndim", 1) == 0:
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def read_sweep(path: str | Path) -> dict:
    """sweep.json and results.parquet of a sweep directory, checked: a damaged file is an
    :class:`InputError` naming the file, the row and the column."""
    path = Path(path)
    meta = _read_meta(path)
    file = path / "results.parquet"
    expected = "the results.parquet planner sweep writes"
    mc = meta["kind"] == "samples"
    results = _read_parquet(file, ["id", *(["sample"] if mc else []), *meta["keys"], "status", "reason",
                                   *SWEEP_METRICS], expected)
    raw = results["id"]
    ids = raw.astype(str).str.strip().str.lower()
    bad = raw.isna() | (ids == "")
    if bad.any():
        i = int(np.flatnonzero(bad.to_numpy())[0])
        raise InputError("empty id", source=file, row=i + 1, field="id", expected="a scenario id (12 hex characters)")
    dup = ids.duplicated()
    if dup.any():
        i = int(np.flatnonzero(dup.to_numpy())[0])
        first = int(np.flatnonzero((ids == ids.iloc[i]).to_numpy())[0])
        raise InputError(f"duplicated id (also on row {first + 1})", source=file, row=i + 1, field="id",
                         value=ids.iloc[i], expected="one row per scenario")
    results["id"] = ids
    if mc:
        sample = _numbers(results, "sample", file)
        bad = sample.isna() | (sample != sample.round()) | (sample < 0)
        if bad.any():
            i = int(np.flatnonzero(bad.to_numpy())[0])
            raise InputError("not a sample number", source=file, row=i + 1, field="sample",
                             value=results["sample"].iloc[i], expected="a whole number >= 0")
        results["sample"] = sample.astype(np.int64)
    for column in ("status", "reason"):
        results[column] = results[column].map(lambda v: "" if v is None or (isinstance(v, float) and math.isnan(v))
                                              else str(v))
    for column in SWEEP_METRICS:
        results[column] = _numbers(results, column, file)
    for key in meta["keys"]:
        results[key] = pd.Series(_decode([_plain(v) for v in results[key].tolist()]), index=results.index,
                                 dtype=object)
    return {"path": str(path), **meta, "results": results}


def _close_ids(given: str, ids: list[str]) -> str:
    """``expected`` of an unknown id: what an id is, and the ids closest to ``given`` (compared on
    as many characters as were given)."""
    heads = {}
    for i in ids:
        heads.setdefault(i[:len(given)], i)
    close = [heads[h] for h in difflib.get_close_matches(given, list(heads), n=3, cutoff=0.6)]
    if close:
        return f"{ID_HELP}; did you mean " + " or ".join(f"'{c}'" for c in close) + "?"
    shown = ", ".join(ids[:3]) + (", …" if len(ids) > 3 else "")
    return f"{ID_HELP}; the sweep has {len(ids):,} scenarios ({shown})"


def find_scenario(sweep: dict, given: str) -> int:
    """The position in ``sweep["results"]`` of the scenario ``given``: its id, a unique prefix of it
    (4 or more characters) or, in a Monte Carlo sweep, ``sample:N``."""
    results = sweep["results"]
    file = Path(sweep["path"]) / "results.parquet"
    text = str(given).strip().lower()
    if text.startswith("sample:"):
        if sweep["kind"] != "samples":
            raise InputError("sample:N names a scenario of a Monte Carlo sweep (planner sweep --samples); this "
                             "sweep is a grid of --vary values", source=file, field="id", value=given,
                             expected=ID_HELP)
        number = text.removeprefix("sample:").strip()
        samples = results["sample"]
        span = f"sample:{samples.min()} to sample:{samples.max()}" if len(samples) else "none: no scenario finished"
        if not number.isdigit():
            raise InputError("not a sample number", source=file, field="sample", value=given,
                             expected=f"sample:N with N a whole number ({span})")
        hit = np.flatnonzero((samples == int(number)).to_numpy())
        if not len(hit):
            raise InputError("no scenario with this sample number", source=file, field="sample", value=given,
                             expected=f"a sample of the sweep's results ({span})")
        return int(hit[0])
    ids = results["id"]
    hit = np.flatnonzero((ids == text).to_numpy())
    if len(hit):
        return int(hit[0])
    extra = f", {SAMPLE_HELP}" if sweep["kind"] == "samples" else ""
    if len(text) < 4:
        raise InputError("too short an id prefix", source=file, field="id", value=given,
                         expected=f"{ID_HELP}{extra}")
    hit = np.flatnonzero(ids.str.startswith(text).to_numpy())
    if len(hit) > 1:
        shown = ", ".join(ids.iloc[hit[:5]]) + (", …" if len(hit) > 5 else "")
        raise InputError(f"ambiguous id prefix: {len(hit)} scenarios start with it ({shown})", source=file,
                         field="id", value=given, expected="more characters of the id, enough to name one scenario")
    if len(hit) == 1:
        return int(hit[0])
    raise InputError("no scenario with this id", source=file, field="id", value=given,
                     expected=_close_ids(text, ids.tolist()) + extra)


def solve_command(scenario: str, sets: list[str], values: dict) -> str:
    """The ``planner solve`` command of one scenario of a sweep: its base ``--set`` and then its
    varied values, as the sweep set them (each value as JSON, read as YAML by ``--set``)."""
    items = [*sets, *(f"{k}={json.dumps(v)}" for k, v in values.items())]
    return shlex.join(["planner", "solve", scenario, *(p for s in items for p in ("--set", s))])


def _uses(ai: np.ndarray, mining: np.ndarray) -> np.ndarray:
    """A site's use as ``planner solve`` names it (allocation.csv ``use``) from its MW; a site the
    solve did not model is 'none' here (a sweep does not say which were modelled)."""
    return np.where((ai > 0) & (mining > 0), "ai+mining",
                    np.where(ai > 0, "ai", np.where(mining > 0, "mining", "none")))


def _sites_of(sites: pd.DataFrame, cid: str, file: Path) -> pd.DataFrame:
    """The site rows of scenario ``cid``, checked (row numbers of the file in errors), indexed by site_id."""
    part = sites[sites["id"] == cid]
    rows = part.index.to_numpy() + 1
    part = part.reset_index(drop=True)
    out = pd.DataFrame({"site_id": _ids(part, "site_id", file, rows=rows)})
    for column in ("ai_mw", "mining_mw"):
        out[column] = _numbers(part, column, file, rows=rows).fillna(0.0).to_numpy()
    out["converted"] = _flags(part, "converted", file, rows=rows).to_numpy()
    if "value_usd" in part:
        out["value_usd"] = _numbers(part, "value_usd", file, rows=rows).to_numpy()
    out["use"] = _uses(out["ai_mw"].to_numpy(float), out["mining_mw"].to_numpy(float))
    return out.set_index("site_id")


def compare_sweep(path: str | Path, id_a: str, id_b: str) -> dict:
    """What changed from scenario ``id_a`` to scenario ``id_b`` of the sweep in ``path``: their
    varied values, the figures of results.parquet (B - A), the sites whose use or MW changed
    (sites.parquet) and the ``planner solve`` commands that reproduce each. A sweep keeps no
    branches: ``branches_now_binding`` and ``branches_now_free`` are None."""
    path = Path(path)
    sweep = read_sweep(path)
    results = sweep["results"]
    ia, ib = find_scenario(sweep, id_a), find_scenario(sweep, id_b)
    ra, rb = results.iloc[ia], results.iloc[ib]
    keys = sweep["keys"]

    def scenario(r, given) -> dict:
        values = {k: r[k] for k in keys}
        out = {"id": r["id"], "given": str(given), "status": r["status"], "reason": r["reason"]}
        if sweep["kind"] == "samples":
            out["sample"] = int(r["sample"])
        return {**out, "values": values, "command": solve_command(sweep["scenario"], sweep["sets"], values)}

    varied = [{"key": k, "a": ra[k], "b": rb[k],
               "differs": json.dumps(ra[k], sort_keys=True) != json.dumps(rb[k], sort_keys=True)} for k in keys]
    metrics = {}
    for key in SWEEP_METRICS:
        va, vb = _plain(ra[key]), _plain(rb[key])
        if key in COUNTS:
            va, vb = (None if v is None else round(v) for v in (va, vb))
        metrics[key] = {"a": va, "b": vb, "change": vb - va if va is not None and vb is not None else None}

    file = path / "sites.parquet"
    sites = _read_parquet(file, ["id", "site_id", "ai_mw", "mining_mw", "converted"],
                          "the sites.parquet planner sweep writes")
    sites["id"] = sites["id"].astype(str).str.strip().str.lower()
    sa, sb = _sites_of(sites, ra["id"], file), _sites_of(sites, rb["id"], file)
    changed = []
    # a scenario without sites (infeasible, failed): nothing to compare them with
    compared = len(sa) > 0 and len(sb) > 0
    if compared:
        for sid in sa.index.intersection(sb.index):
            a, b = sa.loc[sid], sb.loc[sid]
            if a["use"] != b["use"] or bool(a["converted"]) != bool(b["converted"]) \
                    or abs(a["ai_mw"] - b["ai_mw"]) > MW_CHANGE or abs(a["mining_mw"] - b["mining_mw"]) > MW_CHANGE:
                row = {"site_id": sid, "use_a": a["use"], "use_b": b["use"], "converted_a": bool(a["converted"]),
                       "converted_b": bool(b["converted"]), "ai_mw_a": float(a["ai_mw"]),
                       "ai_mw_b": float(b["ai_mw"]), "mining_mw_a": float(a["mining_mw"]),
                       "mining_mw_b": float(b["mining_mw"])}
                if "value_usd" in sa:
                    row.update(value_usd_a=_plain(float(a["value_usd"])), value_usd_b=_plain(float(b["value_usd"])))
                changed.append(row)
    grid = [v for v in varied if v["key"] in ("grid.name", "grid")]
    return {"kind": "sweep", "sweep": str(path), "scenario": sweep["scenario"], "sets": sweep["sets"],
            "a": scenario(ra, id_a), "b": scenario(rb, id_b), "varied": varied, "metrics": metrics,
            "sites_compared": compared, "sites_changed": changed,
            "sites_only_in_a": sorted(map(str, sa.index.difference(sb.index))) if compared else [],
            "sites_only_in_b": sorted(map(str, sb.index.difference(sa.index))) if compared else [],
            "branches_now_binding": None, "branches_now_free": None, "branches": BRANCHES_NOTE,
            "same_grid": not any(v["differs"] for v in grid)}


def compare_any(first: str | Path, second: str | Path, third: str | None = None) -> dict:
    """``planner compare``: two run directories (``first``, ``second``), or a sweep directory
    (``first``) and two of its scenario ids (``second``, ``third``)."""
    first_text = str(first)
    if third is None:
        if is_sweep(first):
            raise InputError("a sweep directory needs two scenario ids", source=first, value=str(second),
                             expected="planner compare SWEEP_DIR ID_A ID_B, each id one of its results or a "
                             "unique prefix of 4 or more characters (sample:N in a Monte Carlo sweep)")
        if is_sweep(second):
            raise InputError("a sweep directory, not a run directory", source=second,
                             expected="two directories written by planner solve, or planner compare SWEEP_DIR "
                             "ID_A ID_B")
        return compare(first, second)
    if "\0" in first_text:
        raise InputError("a path cannot contain a NUL byte", source=first, expected=SWEEP_EXPECTED)
    path = Path(first_text)
    if not path.is_dir():
        raise InputError("no such sweep directory", source=first, expected=SWEEP_EXPECTED)
    if is_sweep(path):
        return compare_sweep(path, str(second), str(third))
    if (path / "summary.json").is_file():
        raise InputError("a run directory, not a sweep: scenario ids are for a sweep directory", source=first,
                         value=[str(second), str(third)],
                         expected="planner compare RUN_A RUN_B for two runs, or planner compare SWEEP_DIR ID_A "
                         "ID_B with a directory written by planner sweep --out")
    raise InputError("neither a run nor a sweep directory (no sweep.json, no summary.json)", source=first,
                     expected=f"{SWEEP_EXPECTED} (with ids), or two directories written by planner solve")
