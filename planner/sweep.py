"""Sweeps: many what-ifs of one scenario, each a ``--set`` of the varied keys.

``planner sweep SCENARIO --vary KEY=SPEC ... --out DIR`` (and :func:`sweep` in Python) runs the
cartesian grid of the varied values. A SPEC is a list (``120,150,180``; each item read as YAML,
like a ``--set`` value) or a range (``30:60:5``: from 30 to 60 inclusive in steps of 5). Any
scenario field can be varied; every value is checked by the scenario schema, with the same
messages as ``--set``, before anything is solved.

Each scenario has a stable id (a hash of its varied values), so the same command on the same
``--out`` skips what is finished and runs the rest. Finished scenarios are appended to
``results.csv`` (one row each, written whole as it finishes; one writer) and their sites to
``sites.csv``; an infeasible or failed scenario is a row with its status and reason.
``results.parquet``, ``sites.parquet`` and ``summary.json`` are written at the end from the CSV
files. The grid is loaded once and its DC model (with its LODF and PTDF caches) is shared by
every scenario of the sweep. The AC check is left out of sweeps (``ac.check=false``) unless the
scenario tightens limits with it (``ac.tighten``), which changes the allocation.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import logging
import math
import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from planner.errors import InfeasibleError, InputError, PlannerError

logger = logging.getLogger(__name__)

#: result columns after the varied keys
RESULT_COLUMNS = ["status", "reason", "objective_usd", "served_ai_mw", "unmet_ai_mw", "served_mining_mw",
                  "converted_sites", "binding_branches", "time_s"]
SITE_COLUMNS = ["id", "site_id", "ai_mw", "mining_mw", "converted", "value_usd"]
#: a range never expands to more values than this (a typo like 0:1e6:1 is an error, not a hang)
MAX_VALUES_PER_KEY = 10_000


@dataclass
class Axis:
    """One ``--vary``: a dotted scenario key and its values."""

    key: str
    values: list[Any]


@dataclass
class Sweep:
    """A validated sweep: the scenario, its base ``--set`` overrides and the varied axes."""

    scenario: str
    axes: list[Axis]
    sets: tuple[str, ...] = ()
    cases: list[dict[str, Any]] = field(default_factory=list)

    @property
    def keys(self) -> list[str]:
        return [a.key for a in self.axes]


def _number(text: str, item: str, what: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise InputError(f"the range's {what} is not a number", source="--vary", field=item.split("=", 1)[0],
                         value=text, expected="LO:HI:STEP with numbers, e.g. 30:60:5") from None
    if not math.isfinite(value):
        raise InputError(f"the range's {what} is not finite", source="--vary", field=item.split("=", 1)[0],
                         value=text, expected="LO:HI:STEP with finite numbers")
    return value


def parse_vary(item: str) -> Axis:
    """``KEY=SPEC`` -> :class:`Axis`; an :class:`InputError` naming what is wrong otherwise."""
    from planner.scenario import parse_set, safe_load

    if "=" not in item:
        raise InputError("expected KEY=SPEC", source="--vary", value=item,
                         expected="e.g. economics.hashprice_usd_per_ph_day=30:60:5 or solver.mip_gap=0.001,0.01")
    key, spec = item.split("=", 1)
    parse_set(f"{key}=0")  # the key's shape: a dotted key, as for --set
    key, spec = key.strip(), spec.strip()
    if not spec:
        raise InputError("no values", source="--vary", field=key, expected="a list a,b,c or a range LO:HI:STEP")
    if spec.count(":") == 2 and "," not in spec:
        lo, hi, step = (_number(p.strip(), item, w) for p, w in zip(spec.split(":"), ("start", "end", "step")))
        if step == 0:
            raise InputError("the range's step is 0", source="--vary", field=key, value=spec,
                             expected="a step that is not 0")
        n = math.floor((hi - lo) / step + 1e-9) + 1
        if n < 1:
            raise InputError("the range is empty", source="--vary", field=key, value=spec,
                             expected="LO:HI:STEP with the step going from LO towards HI")
        if n > MAX_VALUES_PER_KEY:
            raise InputError(f"the range has {n:,} values", source="--vary", field=key, value=spec,
                             expected=f"at most {MAX_VALUES_PER_KEY:,} values per key")
        values = [lo + i * step for i in range(n)]
        integral = all(float(v).is_integer() for v in (lo, step))
        values = [round(v) if integral else round(v, 12) for v in values]
    else:
        parts = [p.strip() for p in spec.split(",")]
        if any(not p for p in parts):
            raise InputError("an empty item in the list", source="--vary", field=key, value=spec,
                             expected="a,b,c with no empty item")
        values = []
        for p in parts:
            try:
                value = safe_load(p)
            except (yaml.YAMLError, RecursionError, InputError):  # not YAML: the text itself
                value = p
            if isinstance(value, str) and re.fullmatch(r"[-+]?(\d+\.?\d*|\.\d+)[eE][-+]?\d+", value):
                value = float(value)  # 1e12: a number (YAML 1.1 reads it as text)
            values.append(value)
    if len(set(map(json.dumps, values))) != len(values):
        raise InputError("a value appears twice", source="--vary", field=key, value=spec,
                         expected="each value once")
    return Axis(key=key, values=values)


def case_id(values: dict[str, Any]) -> str:
    """Stable id of one scenario of a sweep: a hash of its varied values (order of keys ignored)."""
    text = json.dumps(values, sort_keys=True, default=str)
    return hashlib.sha1(text.encode()).hexdigest()[:12]


def _sets(values: dict[str, Any]) -> list[str]:
    return [f"{k}={json.dumps(v)}" for k, v in values.items()]


def plan_sweep(scenario: str, vary: list[str], sets: tuple[str, ...] | list[str] = ()) -> Sweep:
    """Parse and check a sweep before anything runs: each ``--vary`` spec, each key twice at most
    once, and each value of each key through the scenario schema (with the base ``sets``)."""
    from planner.scenario import load_scenario

    if not vary:
        raise InputError("nothing to vary", source="--vary", expected="at least one --vary KEY=SPEC")
    axes = [parse_vary(v) for v in vary]
    seen = set()
    for a in axes:
        if a.key in seen:
            raise InputError("varied twice", source="--vary", field=a.key, expected="each key in one --vary")
        seen.add(a.key)
    sets = tuple(sets)
    load_scenario(scenario, sets)  # the scenario and its base overrides alone
    for a in axes:
        for v in a.values:
            item = _sets({a.key: v})[0]
            try:
                load_scenario(scenario, (*sets, item))
            except InputError as exc:
                if exc.source != f"--set {item}":
                    raise
                raise InputError(exc.message, source=f"--vary {a.key}, value {json.dumps(v)}", field=exc.field,
                                 value=exc.value, expected=exc.expected) from None
    sw = Sweep(scenario=scenario, axes=axes, sets=sets)
    for combo in itertools.product(*(a.values for a in axes)):
        sw.cases.append(dict(zip(sw.keys, combo)))
    return sw


# ----------------------------------------------------------------------------- running


def finished_ids(out: Path) -> set[str]:
    path = out / "results.csv"
    if not path.exists():
        return set()
    try:
        done = pd.read_csv(path, usecols=["id"], dtype={"id": str}, on_bad_lines="skip")
    except (pd.errors.EmptyDataError, ValueError):
        return set()
    return set(done["id"].dropna())


def _append(path: Path, frame: pd.DataFrame) -> None:
    """Append rows as one write (with the header when the file is new), flushed to disk."""
    header = not path.exists() or path.stat().st_size == 0
    text = frame.to_csv(index=False, header=header)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, text.encode())
        os.fsync(fd)
    finally:
        os.close(fd)


def _solve_one(sc, values: dict, grid, models: dict, t: float) -> tuple[dict, pd.DataFrame]:
    """Solve the sweep's scenario ``sc`` on ``grid`` (its DC models kept in ``models``); ``t``: when
    its work began (perf_counter)."""
    from planner.prepare import run

    if not sc.ac.tighten:
        sc.ac.check = False
    row: dict[str, Any] = {"status": "failed", "reason": ""}
    sites = pd.DataFrame(columns=SITE_COLUMNS)
    try:
        _, result = run(sc, grid=grid, models=models)
    except InfeasibleError as exc:
        row.update(status="infeasible", reason=str(exc))
    except PlannerError as exc:
        row.update(status="failed", reason=str(exc))
    except Exception as exc:  # one scenario's failure is its row, never the end of the sweep
        logger.exception(f"sweep scenario {values} failed")
        row.update(status="failed", reason=f"internal error: {type(exc).__name__}: {exc}")
    else:
        s = result.summary
        row.update(status=s["status"], objective_usd=s["objective_usd"], served_ai_mw=s["served_ai_mw"],
                   unmet_ai_mw=s.get("unmet_ai_mw"), served_mining_mw=s["served_mining_mw"],
                   converted_sites=s["converted_sites"], binding_branches=s.get("binding_branches"))
        a = result.allocation
        sites = pd.DataFrame({
            "site_id": a["site_id"].to_numpy(), "ai_mw": a["ai_mw"].fillna(0).to_numpy(float),
            "mining_mw": a["mining_mw"].fillna(0).to_numpy(float),
            "converted": a["converted"].fillna(False).to_numpy(bool),
            "value_usd": a["value_usd"].fillna(0).to_numpy(float)})
    row["time_s"] = round(time.perf_counter() - t, 3)
    return row, sites


#: per worker process: the grid of a sweep and its DC models, loaded by the first scenario a worker
#: solves and kept for the next ones (scenarios of one sweep share the grid)
_WORKER: dict = {}


def _solve_on_worker(sw: Sweep, values: dict) -> tuple[dict, list[dict]]:
    """One scenario on a Dask worker (or in this process): the grid and DC models of the worker are
    reused across the scenarios it solves."""
    from planner.grid import load_grid
    from planner.scenario import load_scenario

    t = time.perf_counter()
    sc = load_scenario(sw.scenario, (*sw.sets, *_sets(values)))
    if _WORKER.get("grid_name") != sc.grid.name:
        _WORKER.clear()
        _WORKER.update(grid_name=sc.grid.name, grid=load_grid(sc.grid.name), models={})
    row, sites = _solve_one(sc, values, _WORKER["grid"], _WORKER["models"], t)
    return row, sites.to_dict("records")


def run_sweep(sw: Sweep, out: str | Path, progress=None, workers: int = 1,
              scheduler: str | None = None) -> pd.DataFrame:
    """Run every scenario of ``sw`` not yet in ``out``; returns the results of all of them (one row
    per scenario). ``workers == 1`` and no ``scheduler``: in this process, one after another.
    Otherwise on Dask: a local cluster of ``workers`` processes, or the existing cluster whose
    scheduler is at ``scheduler`` (``tcp://host:port``); each scenario is one task (a worker that
    dies loses only the one it was solving: Dask runs it again elsewhere), each worker keeps the
    grid for the next, and this process is the one writer of the results. ``progress(done, total)``
    is called after each scenario."""
    out = Path(out)
    meta = {"scenario": sw.scenario, "sets": list(sw.sets), "vary": {a.key: a.values for a in sw.axes}}
    spec = out / "sweep.json"
    if spec.exists():
        before = json.loads(spec.read_text())
        if before != meta:
            raise InputError("this directory holds another sweep", source=str(spec),
                             expected="the same scenario, --set and --vary to resume it, or another --out")
    done = finished_ids(out)
    todo = [v for v in sw.cases if case_id(v) not in done]
    logger.info(f"sweep of {len(sw.cases)} scenarios: {len(sw.cases) - len(todo)} finished before, "
                f"{len(todo)} to run")
    client = cluster = None
    if todo and (workers > 1 or scheduler):
        client, cluster = _dask_client(workers, scheduler)
    out.mkdir(parents=True, exist_ok=True)
    if not spec.exists():
        spec.write_text(json.dumps(meta, indent=2, default=str))
    t0 = time.perf_counter()

    def record(n: int, values: dict, row: dict, sites) -> None:
        cid = case_id(values)
        _append(out / "sites.csv", pd.DataFrame(sites, columns=SITE_COLUMNS[1:]).assign(id=cid)[SITE_COLUMNS])
        _append(out / "results.csv", pd.DataFrame([{"id": cid, **{k: json.dumps(v) for k, v in values.items()},
                                                    **{c: row.get(c) for c in RESULT_COLUMNS}}]))
        if progress is not None:
            progress(len(sw.cases) - len(todo) + n, len(sw.cases))

    try:
        if client is None:
            for n, values in enumerate(todo, 1):
                row, sites = _solve_on_worker(sw, values)
                record(n, values, row, sites)
        else:
            from dask.distributed import as_completed

            # several scenarios at once: one HiGHS thread each (unless the sweep sets its own)
            run = sw if any(s.startswith("solver.threads=") for s in sw.sets) or "solver.threads" in sw.keys \
                else Sweep(scenario=sw.scenario, axes=sw.axes, sets=(*sw.sets, "solver.threads=1"))
            futures = client.map(_solve_on_worker, [run] * len(todo), todo, pure=False)
            which = {f.key: v for f, v in zip(futures, todo)}
            for n, fut in enumerate(as_completed(futures), 1):
                row, sites = fut.result()
                record(n, which[fut.key], row, sites)
    finally:
        if client is not None:
            client.close()
        if cluster is not None:
            cluster.close()
    results = collect(out, sw)
    summary = {**meta, "scenarios": len(sw.cases), "run_now": len(todo), "finished_before": len(sw.cases) - len(todo),
               "workers": (scheduler or workers), "status_counts": results["status"].value_counts().to_dict(),
               "time_s": round(time.perf_counter() - t0, 3),
               "mean_time_per_scenario_s": round(float(results["time_s"].mean()), 4) if len(results) else None}
    (out / "summary.json").write_text(json.dumps(summary, indent=2, default=str))
    return results


def _dask_client(workers: int, scheduler: str | None):
    """A Dask client: of the cluster at ``scheduler``, else of a new local cluster of processes."""
    from dask.distributed import Client, LocalCluster

    if scheduler:
        try:
            return Client(scheduler, timeout="10s"), None
        except (OSError, TimeoutError) as exc:
            raise InputError(f"no Dask scheduler answers there ({type(exc).__name__})", source="--scheduler",
                             value=scheduler, expected="the address a running 'dask scheduler' prints, "
                             "e.g. tcp://10.0.0.5:8786") from None
    cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None,
                           silence_logs=logging.ERROR)
    return Client(cluster), cluster


def collect(out: str | Path, sw: Sweep) -> pd.DataFrame:
    """The sweep's results (one row per scenario, in the sweep's order, each once) from
    ``results.csv``; also written as ``results.parquet`` and ``sites.parquet``."""
    out = Path(out)
    raw = pd.read_csv(out / "results.csv", dtype={"id": str, "reason": str, **{k: str for k in sw.keys}},
                      keep_default_na=False, na_values={c: [""] for c in RESULT_COLUMNS if c not in ("status", "reason")},
                      on_bad_lines="skip")
    raw = raw.drop_duplicates("id", keep="last").set_index("id")
    order = [case_id(v) for v in sw.cases]
    frame = raw.reindex([i for i in order if i in raw.index]).reset_index()
    for k in sw.keys:  # the varied values as they were given (numbers stay numbers)
        values = [json.loads(v) for v in frame[k]]
        kinds = {type(v) for v in values}
        if kinds <= {int, float} and len(kinds) > 1:
            values = [float(v) for v in values]
        elif len(kinds) > 1:  # mixed kinds (a Parquet column has one): as the text given
            values = [json.dumps(v) for v in values]
        frame[k] = values
    frame.to_parquet(out / "results.parquet", index=False)
    sites = pd.read_csv(out / "sites.csv", dtype={"id": str, "site_id": str}, on_bad_lines="skip")
    sites = sites[sites["id"].isin(set(frame["id"]))].drop_duplicates(["id", "site_id"], keep="last")
    sites.to_parquet(out / "sites.parquet", index=False)
    return frame


def sweep(scenario: str, vary: list[str], out: str | Path, sets: tuple[str, ...] | list[str] = (),
          workers: int = 1, scheduler: str | None = None) -> pd.DataFrame:
    """Python entry: ``planner.sweep("texas", ["economics.hashprice_usd_per_ph_day=30:60:10"], "runs/hp")``
    returns one row per scenario (see :func:`run_sweep` for ``workers`` and ``scheduler``)."""
    return run_sweep(plan_sweep(scenario, vary, sets), out, workers=workers, scheduler=scheduler)
