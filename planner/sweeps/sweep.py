"""Sweeps: many what-ifs of one scenario, each a ``--set`` of the varied keys.

``planner sweep SCENARIO --vary KEY=SPEC ... --out DIR`` (and :func:`sweep` in Python) runs the
cartesian grid of the varied values. A SPEC is a list (``120,150,180``; each item read as YAML,
like a ``--set`` value) or a range (``30:60:5``: from 30 to 60 inclusive in steps of 5).
``--samples N --seed S --distributions FILE`` draws N Monte Carlo scenarios instead
(:func:`read_distributions`, :func:`draw`). Any scenario field can be varied; every value is
checked by the scenario schema, with the same messages as ``--set``, before anything is solved.

Each scenario has a stable id (a hash of its varied values, and of its sample number), so the
same command on the same ``--out`` skips what is finished and runs the rest. Finished scenarios
are appended to ``results.csv`` (one row each, written whole as it finishes; one writer) and
their sites to ``sites.csv``; an infeasible or failed scenario is a row with its status and
reason. ``results.parquet``, ``sites.parquet`` and ``summary.json`` are written at the end from
the CSV files.

Share, don't repeat: each worker loads the grid once, and its DC model (LODF and PTDF caches) is
shared by every scenario. Scenarios alike but for their economics (one *structure*,
:func:`structure_key`) share the prepared sites and the solved model: the next one re-prices it
(:class:`planner.optimization.solve.Warm`) and re-solves warm. A worker keeps its last
:data:`KEPT_PER_WORKER` structures, and the scenarios are ordered so that one structure's run
together. The AC check is left out of sweeps (``ac.check=false``) unless the scenario tightens
limits with it (``ac.tighten``), which changes the allocation.
"""

from __future__ import annotations

import csv
import hashlib
import io
import itertools
import json
import logging
import math
import os
import re
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from planner.core.errors import InfeasibleError, InputError, PlannerError

logger = logging.getLogger(__name__)

#: result columns after the varied keys
RESULT_COLUMNS = ["status", "reason", "objective_usd", "served_ai_mw", "unmet_ai_mw", "served_mining_mw",
                  "converted_sites", "binding_branches", "time_s", "warm"]
SITE_COLUMNS = ["id", "site_id", "ai_mw", "ai_cloud_mw", "mining_mw", "converted", "path", "value_usd"]
#: a range never expands to more values than this (a typo like 0:1e6:1 is an error, not a hang)
MAX_VALUES_PER_KEY = 10_000


@dataclass
class Axis:
    """One ``--vary``: a dotted scenario key and its values."""

    key: str
    values: list[Any]


@dataclass
class Sweep:
    """A validated sweep: the scenario, its base ``--set`` overrides, the varied keys and the
    scenarios (``cases``: the values of the varied keys, one dict each). A grid sweep has the
    values of each key in ``axes``; a Monte Carlo sweep has its draw in ``samples`` (n, seed and
    the distributions) and the keys in ``axes`` (their values: the draws)."""

    scenario: str
    axes: list[Axis]
    sets: tuple[str, ...] = ()
    cases: list[dict[str, Any]] = field(default_factory=list)
    samples: dict | None = None
    #: set by each run: a worker keeps grids and models for one run only (files may change between runs)
    token: str = ""

    @property
    def keys(self) -> list[str]:
        return [a.key for a in self.axes]

    @property
    def ids(self) -> list[str]:
        """Each scenario's id: a hash of its values (and, for Monte Carlo, of its sample number)."""
        if self.samples is None:
            return [case_id(v) for v in self.cases]
        return [case_id({**v, "#sample": i}) for i, v in enumerate(self.cases)]

    @property
    def meta(self) -> dict:
        """What was swept (sweep.json): a rerun on the same directory must be the same sweep."""
        head = {"scenario": self.scenario, "sets": list(self.sets)}
        if self.samples is None:
            return {**head, "vary": {a.key: a.values for a in self.axes}}
        # the draws themselves, hashed: another numpy or scipy may draw other values for the same seed
        drawn = hashlib.sha1(json.dumps(self.cases, sort_keys=True, default=str).encode()).hexdigest()[:16]
        return {**head, **self.samples, "draws_sha1": drawn}


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
    from planner.config.scenario import parse_set, safe_load

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
    from planner.config.scenario import load_scenario

    if not vary:
        raise InputError("nothing to vary", source="--vary",
                         expected="at least one --vary KEY=SPEC, or --samples N --distributions FILE")
    axes = [parse_vary(v) for v in vary]
    seen = set()
    for a in axes:
        if a.key in seen:
            raise InputError("varied twice", source="--vary", field=a.key, expected="each key in one --vary")
        seen.add(a.key)
    sets = tuple(sets)
    load_scenario(scenario, sets)  # the scenario and its base overrides alone
    for a in axes:
        _check_values(scenario, sets, a.key, a.values, f"--vary {a.key}, value")
    sw = Sweep(scenario=scenario, axes=axes, sets=sets)
    for combo in itertools.product(*(a.values for a in axes)):
        sw.cases.append(dict(zip(sw.keys, combo)))
    return sw


def _check_values(scenario: str, sets: tuple[str, ...], key: str, values, where: str) -> None:
    """Each distinct value of ``key`` through the scenario schema, as a ``--set`` would be; an
    error names ``where`` and the value."""
    from planner.config.scenario import load_scenario

    seen = set()
    for v in values:
        item = _sets({key: v})[0]
        if item in seen:
            continue
        seen.add(item)
        try:
            load_scenario(scenario, (*sets, item))
        except InputError as exc:
            if exc.source != f"--set {item}":
                raise
            raise InputError(exc.message, source=f"{where} {json.dumps(v)}", field=exc.field,
                             value=exc.value, expected=exc.expected) from None


# ----------------------------------------------------------------------------- Monte Carlo

#: distribution -> (its required parameters, its optional ones)
DISTRIBUTIONS = {
    "uniform": (("low", "high"), ()),
    "normal": (("mean", "sd"), ("low", "high")),
    "triangular": (("low", "mode", "high"), ()),
    "choice": (("values",), ("weights",)),
}
DISTRIBUTIONS_HELP = ("KEY: {uniform: {low: A, high: B}} | {normal: {mean: M, sd: S, low: A, high: B}} (low and "
                      "high optional: a normal cut to them) | {triangular: {low: A, mode: C, high: B}} | "
                      "{choice: [V1, V2, ...]} or {choice: {values: [...], weights: [...]}} (whole numbers, "
                      "text and true/false: choice)")
#: most Monte Carlo scenarios one sweep draws
MAX_SAMPLES = 1_000_000


def _finite(source: str, key: str, name: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise InputError(f"the {name} is not a finite number", source=source, field=key, value=value,
                         expected=DISTRIBUTIONS_HELP)
    return float(value)


def read_distributions(path: str | Path | dict) -> dict[str, dict]:
    """The distributions YAML (or the same as a dict): dotted scenario key -> one distribution,
    checked; returned as ``{key: {"kind": ..., parameters}}``."""
    from planner.config.scenario import parse_set, safe_load

    source = "distributions" if isinstance(path, dict) else str(path)
    if isinstance(path, dict):
        data = path
    else:
        try:
            text = Path(path).read_text(encoding="utf-8")
        except FileNotFoundError:
            raise InputError("no such file", source=source, expected="a YAML file of distributions") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise InputError(f"cannot read the file ({type(exc).__name__})", source=source,
                             expected="a UTF-8 YAML file of distributions") from None
        try:
            data = safe_load(text)
        except yaml.YAMLError as exc:
            raise InputError(f"not valid YAML ({str(exc).splitlines()[0]})", source=source) from None
    if not isinstance(data, dict) or not data:
        raise InputError("expected a mapping of scenario keys to distributions", source=source,
                         value=type(data).__name__, expected=DISTRIBUTIONS_HELP)
    out = {}
    for key, spec in data.items():
        key = str(key)
        try:
            parse_set(f"{key}=0")  # a dotted key, as for --set
        except InputError as exc:
            raise InputError(exc.message, source=source, field=key, expected=exc.expected) from None
        if not isinstance(spec, dict) or len(spec) != 1 or next(iter(spec)) not in DISTRIBUTIONS:
            raise InputError("not one distribution", source=source, field=key, value=spec,
                             expected="one of " + ", ".join(DISTRIBUTIONS) + ": " + DISTRIBUTIONS_HELP)
        kind, params = next(iter(spec.items()))
        if kind == "choice" and isinstance(params, list):
            params = {"values": params}
        required, optional = DISTRIBUTIONS[kind]
        if not isinstance(params, dict) or set(required) - set(params) or set(params) - {*required, *optional}:
            raise InputError(f"a {kind} distribution takes {', '.join(required)}"
                             + (f" (and optionally {', '.join(optional)})" if optional else ""),
                             source=source, field=key, value=params, expected=DISTRIBUTIONS_HELP)
        d: dict[str, Any] = {"kind": kind}
        if kind == "choice":
            values = params["values"]
            if not isinstance(values, list) or not values:
                raise InputError("choice needs a non-empty list of values", source=source, field=key, value=values,
                                 expected=DISTRIBUTIONS_HELP)
            d["values"] = values
            if "weights" in params:
                w = params["weights"]
                if not isinstance(w, list) or len(w) != len(values):
                    raise InputError(f"choice needs one weight per value ({len(values)})", source=source,
                                     field=key, value=w, expected="a list of weights >= 0 as long as values")
                w = [_finite(source, key, "weight", x) for x in w]
                if min(w) < 0 or sum(w) <= 0:
                    raise InputError("choice weights must be >= 0 and not all 0", source=source, field=key,
                                     value=w, expected="weights >= 0 with a positive sum")
                d["weights"] = w
        else:
            for name in (*required, *optional):
                if name in params:
                    d[name] = _finite(source, key, name, params[name])
            lo, hi = d.get("low", -math.inf), d.get("high", math.inf)
            if not lo < hi:
                raise InputError(f"low ({lo:g}) must be below high ({hi:g})", source=source, field=key,
                                 value=params, expected=DISTRIBUTIONS_HELP)
            if kind == "normal" and d["sd"] <= 0:
                raise InputError("the sd must be > 0", source=source, field=key, value=d["sd"],
                                 expected="a standard deviation > 0")
            if kind == "triangular" and not lo <= d["mode"] <= hi:
                raise InputError("the mode must lie between low and high", source=source, field=key,
                                 value=params, expected="low <= mode <= high")
        out[key] = d
    return out


def draw(distributions: dict[str, dict], n: int, seed: int) -> list[dict[str, Any]]:
    """``n`` scenarios drawn from ``distributions`` (independent keys), each key from its own numpy
    generator seeded with ``seed`` and the key: the same n and seed give the same draws, whatever
    the order of the keys in the file."""
    from scipy.stats import truncnorm

    columns = {}
    for key, d in distributions.items():
        rng = np.random.default_rng([seed, int(hashlib.sha1(key.encode()).hexdigest()[:8], 16)])
        kind = d["kind"]
        if kind == "uniform":
            x = rng.uniform(d["low"], d["high"], n)
        elif kind == "normal":
            lo, hi = d.get("low", -math.inf), d.get("high", math.inf)
            x = truncnorm.rvs((lo - d["mean"]) / d["sd"], (hi - d["mean"]) / d["sd"], loc=d["mean"], scale=d["sd"],
                              size=n, random_state=rng)
        elif kind == "triangular":
            x = rng.triangular(d["low"], d["mode"], d["high"], n)
        else:
            p = None if "weights" not in d else np.asarray(d["weights"]) / np.sum(d["weights"])
            pick = rng.choice(len(d["values"]), size=n, p=p)
            columns[key] = [d["values"][i] for i in pick]
            continue
        columns[key] = [float(v) for v in np.atleast_1d(x)]
    return [{k: columns[k][i] for k in distributions} for i in range(n)]


def plan_samples(scenario: str, distributions: str | Path | dict, samples: int, seed: int = 0,
                 sets: tuple[str, ...] | list[str] = ()) -> Sweep:
    """A Monte Carlo sweep: ``samples`` scenarios drawn from ``distributions`` (a YAML file, see
    :func:`read_distributions`), each drawn value checked by the scenario schema before anything runs."""
    from planner.config.scenario import load_scenario

    if isinstance(samples, bool) or not isinstance(samples, int) or not 1 <= samples <= MAX_SAMPLES:
        raise InputError("not a number of samples", source="--samples", value=samples,
                         expected=f"a whole number from 1 to {MAX_SAMPLES:,}")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise InputError("not a seed", source="--seed", value=seed, expected="a whole number >= 0")
    dist = read_distributions(distributions)
    sets = tuple(sets)
    load_scenario(scenario, sets)
    cases = draw(dist, samples, seed)
    source = "distributions" if isinstance(distributions, dict) else str(distributions)
    for key, d in dist.items():
        drawn = [c[key] for c in cases]
        if d["kind"] != "choice":  # numbers in [min, max]: the schema's bounds are intervals
            drawn = [min(drawn), max(drawn)]
        try:
            _check_values(scenario, sets, key, drawn, f"{source}: {key}, drawn value")
        except InputError as exc:
            if d["kind"] == "choice" or not exc.expected or not re.search(r"too (small|large)", exc.message):
                raise
            raise InputError(exc.message, source=exc.source, field=exc.field, value=exc.value,
                             expected=f"{exc.expected}; keep the distribution inside that range (low, high)") from None
    axes = [Axis(key=k, values=[]) for k in dist]
    return Sweep(scenario=scenario, axes=axes, sets=sets, cases=cases,
                 samples={"samples": samples, "seed": seed, "distributions": dist})


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


#: a finished scenario's rows reach the file at once (a killed process loses none of them); they
#: are forced to disk at most this often, and at the end (a power cut loses at most this much)
FSYNC_EVERY_S = 1.0


class Appender:
    """The one writer of a sweep's ``sites.csv`` and ``results.csv``: each scenario's rows are
    appended as one write per file (with the header when a file is new), sites first, so that a
    row of results.csv, which marks its scenario finished, follows its sites; both files are
    fsynced, sites first, at most every :data:`FSYNC_EVERY_S` seconds and on close."""

    def __init__(self, out: Path, columns: list[str]):
        self.paths = {"sites": out / "sites.csv", "results": out / "results.csv"}
        self.columns = {"sites": SITE_COLUMNS, "results": columns}
        self.fds: dict[str, int] = {}
        self.synced = time.monotonic()
        try:
            for name, path in self.paths.items():
                header = not path.exists() or path.stat().st_size == 0
                self.fds[name] = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
                if header:
                    self._write(name, [self.columns[name]])
        except BaseException:
            self.close()
            raise

    def _write(self, name: str, rows: list[list]) -> None:
        buf = io.StringIO()
        csv.writer(buf, lineterminator="\n").writerows(rows)
        os.write(self.fds[name], buf.getvalue().encode())

    def add(self, sites: list[list], result: list) -> None:
        self._write("sites", sites)
        self._write("results", [result])
        if time.monotonic() - self.synced >= FSYNC_EVERY_S:
            self.sync()

    def sync(self) -> None:
        for fd in self.fds.values():
            os.fsync(fd)
        self.synced = time.monotonic()

    def close(self) -> None:
        try:
            if len(self.fds) == len(self.paths):
                self.sync()
        finally:
            for fd in self.fds.values():
                os.close(fd)
            self.fds = {}


def csv_cell(value):
    """A value as a CSV cell: a missing number (None or NaN) is an empty cell."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return value


@dataclass
class _Kept:
    """What a worker keeps of one structure of scenarios (all but their economics alike): the
    prepared sites and the solved model, which the next such scenario re-prices and re-solves warm."""

    prep: Any = None
    warm: Any = None


def structure_key(sc) -> str:
    """A scenario apart from its economics: scenarios of a sweep with the same key share their
    prepared sites and live model on a worker."""
    return json.dumps(sc.model_dump(mode="json", exclude={"economics"}), sort_keys=True, default=str)


def _solve_one(sc, values: dict, grid, models: dict, t: float, kept: _Kept | None = None) -> tuple[dict, pd.DataFrame]:
    """Solve the sweep's scenario ``sc`` on ``grid`` (its DC models kept in ``models``); ``t``: when
    its work began (perf_counter); ``kept``: the structure ``sc`` belongs to, reused and updated."""
    from planner.optimization.solve import Warm
    from planner.run.prepare import reprice, run

    kept = _Kept() if kept is None else kept
    if kept.warm is None:
        kept.warm = Warm()
    row: dict[str, Any] = {"status": "failed", "reason": ""}
    sites = pd.DataFrame(columns=SITE_COLUMNS)
    try:
        prepared = reprice(kept.prep, sc) if kept.prep is not None else None
        kept.prep, result = run(sc, grid=grid, models=models, prepared=prepared, warm=kept.warm)
    except InfeasibleError as exc:
        row.update(status="infeasible", reason=str(exc))
    except PlannerError as exc:
        row.update(status="failed", reason=str(exc))
    except Exception as exc:  # one scenario's failure is its row, never the end of the sweep
        logger.exception(f"sweep scenario {values} failed")
        row.update(status="failed", reason=f"internal error: {type(exc).__name__}: {exc}")
        kept.prep = kept.warm = None  # start this structure afresh
    else:
        s = result.summary
        row.update(status=s.status, objective_usd=s.objective_usd, served_ai_mw=s.served_ai_mw,
                   unmet_ai_mw=s.unmet_ai_mw, served_mining_mw=s.served_mining_mw,
                   converted_sites=s.converted_sites, binding_branches=s.binding_branches,
                   warm="reprice" in s.timings_s)
        a = result.allocation
        sites = pd.DataFrame({
            "site_id": a["site_id"].to_numpy(), "ai_mw": a["ai_mw"].fillna(0).to_numpy(float),
            "ai_cloud_mw": a["ai_cloud_mw"].fillna(0).to_numpy(float),
            "mining_mw": a["mining_mw"].fillna(0).to_numpy(float),
            "converted": a["converted"].fillna(False).to_numpy(bool),
            "path": a["path"].fillna("").astype(str).to_numpy(),
            "value_usd": a["value_usd"].fillna(0).to_numpy(float)})
    row["time_s"] = round(time.perf_counter() - t, 3)
    return row, sites


#: per worker process: the grid of a sweep run, its DC models, and the last structures of
#: scenarios it solved (:class:`_Kept`), kept for the next scenarios of the same run
_WORKER: dict = {}
#: one scenario at a time per process: the kept models are not for two threads at once (a Dask
#: worker started with several threads runs its scenarios one after another)
_WORKER_LOCK = threading.Lock()
#: structures a worker keeps (each holds a live model); the least recently used goes first, so a
#: worker's memory does not grow with the number of scenarios
KEPT_PER_WORKER = 2


def clear_worker_cache() -> None:
    """Forget the grid, DC models and structures this process keeps for the scenarios of a sweep
    run (:func:`solve_on_worker`)."""
    with _WORKER_LOCK:
        _WORKER.clear()


def solve_on_worker(sw: Sweep, values: dict) -> tuple[dict, list[tuple]]:
    """One scenario on a Dask worker (or in this process): its result row and its sites (one tuple
    per site, in the order of ``SITE_COLUMNS[1:]``). The grid, DC models and the last structures
    of the worker are reused across the scenarios it solves."""
    from collections import OrderedDict

    from planner.config.scenario import load_scenario
    from planner.data.grid import load_grid

    with _WORKER_LOCK:
        t = time.perf_counter()
        sc = load_scenario(sw.scenario, (*sw.sets, *_sets(values)))
        if not sc.ac.tighten:  # the AC check does not change the allocation: left out of sweeps
            sc.ac.check = False
        if _WORKER.get("token") != sw.token or _WORKER.get("grid_name") != sc.grid.name:
            _WORKER.clear()
            _WORKER.update(token=sw.token, grid_name=sc.grid.name, grid=load_grid(sc.grid.name), models={},
                           kept=OrderedDict())
        kept = _WORKER["kept"]
        key = structure_key(sc)
        entry = kept.pop(key, None) or _Kept()
        kept[key] = entry
        while len(kept) > KEPT_PER_WORKER:
            kept.popitem(last=False)
        row, sites = _solve_one(sc, values, _WORKER["grid"], _WORKER["models"], t, entry)
        if sc.ac.tighten:  # each tightening round derates other branches: nothing to re-price
            kept.pop(key, None)
        return row, list(zip(*(sites[c].tolist() for c in SITE_COLUMNS[1:])))


def _order(sw: Sweep, todo: list[int]) -> list[int]:
    """Scenarios (positions in ``sw.cases``) that differ only in economics next to each other, so
    each worker re-prices its model."""
    keys = [k for k in sw.keys if not k.startswith("economics.")]
    return sorted(todo, key=lambda i: json.dumps([sw.cases[i][k] for k in keys], default=str))


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
    meta = json.loads(json.dumps(sw.meta, default=str))
    spec = out / "sweep.json"
    if spec.exists():
        try:
            before = json.loads(spec.read_text())
        except (OSError, ValueError):
            before = None
        if (before != meta and isinstance(before, dict) and "draws_sha1" in meta
                and {**before, "draws_sha1": None} == {**meta, "draws_sha1": None}):
            raise InputError("the same --samples, --seed and distributions draw other values here (another numpy "
                             "or scipy than the one that began this sweep)", source=str(spec),
                             expected="the numpy and scipy that began it, or another --out")
        if before != meta:
            raise InputError("this directory holds another sweep", source=str(spec),
                             expected="the same scenario, --set and --vary (or --samples, --seed and "
                                      "distributions) to resume it, or another --out")
    columns = ["id", *(["sample"] if sw.samples is not None else []), *sw.keys, *RESULT_COLUMNS]
    for written, wanted in ((out / "results.csv", columns), (out / "sites.csv", SITE_COLUMNS)):
        if written.exists() and written.stat().st_size:
            with open(written, newline="", encoding="utf-8", errors="replace") as fh:
                header = next(csv.reader(fh), [])
            if header != wanted:
                raise InputError("its columns are not the ones this version of planner writes", source=str(written),
                                 field="header", value=",".join(header),
                                 expected="a new --out (this sweep was written by another version of planner)")
    done = finished_ids(out)
    ids = sw.ids
    todo = _order(sw, [i for i, cid in enumerate(ids) if cid not in done])
    logger.info(f"sweep of {len(sw.cases)} scenarios: {len(sw.cases) - len(todo)} finished before, "
                f"{len(todo)} to run")
    client = cluster = None
    if todo and (workers > 1 or scheduler):
        client, cluster = _dask_client(workers, scheduler)
    out.mkdir(parents=True, exist_ok=True)
    if not spec.exists():
        spec.write_text(json.dumps(meta, indent=2, default=str))
    t0 = time.perf_counter()

    def record(n: int, i: int, row: dict, sites: list[list]) -> None:
        cid = ids[i]
        head = [cid, *([i] if sw.samples is not None else [])]
        result = [*head, *(json.dumps(sw.cases[i][k]) for k in sw.keys),
                  *(csv_cell(row.get(c)) for c in RESULT_COLUMNS)]
        appender.add([[cid, *site] for site in sites], result)
        if progress is not None:
            progress(len(sw.cases) - len(todo) + n, len(sw.cases))

    # a task carries the scenario, its --set and this run's token only (not every case of the sweep)
    run = Sweep(scenario=sw.scenario, axes=[], sets=sw.sets, token=uuid.uuid4().hex)
    appender = None
    try:
        appender = Appender(out, columns)
        if client is None:
            for n, i in enumerate(todo, 1):
                row, sites = solve_on_worker(run, sw.cases[i])
                record(n, i, row, sites)
        else:
            from dask.distributed import as_completed

            # several scenarios at once: one HiGHS thread each (unless the sweep sets its own)
            if not (any(s.startswith("solver.threads=") for s in sw.sets) or "solver.threads" in sw.keys):
                run.sets = (*sw.sets, "solver.threads=1")
            futures = client.map(solve_on_worker, [run] * len(todo), [sw.cases[i] for i in todo], pure=False)
            which = {f.key: i for f, i in zip(futures, todo)}
            for n, fut in enumerate(as_completed(futures), 1):
                row, sites = fut.result()
                record(n, which[fut.key], row, sites)
    finally:
        if appender is not None:
            appender.close()
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
    import dask
    from dask.distributed import Client, LocalCluster

    if scheduler:
        try:
            return Client(scheduler, timeout="10s"), None
        except (OSError, TimeoutError) as exc:
            raise InputError(f"no Dask scheduler answers there ({type(exc).__name__})", source="--scheduler",
                             value=scheduler, expected="the address a running 'dask scheduler' prints, "
                             "e.g. tcp://10.0.0.5:8786") from None
    # a sweep's tasks are short Python-heavy solves: Dask's sampling profiler (every 10 ms) and GIL
    # monitor cost a worker about a tenth of its time; the workers take this config as they start
    with dask.config.set({"distributed.worker.profile.enabled": False,
                          "distributed.admin.system-monitor.gil.enabled": False}):
        cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None,
                               silence_logs=logging.ERROR)
    return Client(cluster), cluster


def collect(out: str | Path, sw: Sweep) -> pd.DataFrame:
    """The sweep's results (one row per scenario, in the sweep's order, each once) from
    ``results.csv``; also written as ``results.parquet`` and ``sites.parquet``."""
    from planner.sweeps.analysis import write_parquet

    out = Path(out)
    raw = pd.read_csv(out / "results.csv", dtype={"id": str, "reason": str, **{k: str for k in sw.keys}},
                      keep_default_na=False, na_values={c: [""] for c in RESULT_COLUMNS if c not in ("status", "reason")},
                      on_bad_lines="skip")
    raw = raw.drop_duplicates("id", keep="last").set_index("id")
    order = sw.ids
    frame = raw.reindex([i for i in order if i in raw.index]).reset_index()
    for k in sw.keys:  # the varied values as they were given (numbers stay numbers)
        values = [json.loads(v) for v in frame[k]]
        kinds = {type(v) for v in values}
        if kinds <= {int, float} and len(kinds) > 1:
            values = [float(v) for v in values]
        elif len(kinds) > 1:  # mixed kinds (a Parquet column has one): as the text given
            values = [json.dumps(v) for v in values]
        frame[k] = values
    write_parquet(frame, out / "results.parquet")
    sites = pd.read_csv(out / "sites.csv", dtype={"id": str, "site_id": str}, on_bad_lines="skip")
    sites = sites[sites["id"].isin(set(frame["id"]))].drop_duplicates(["id", "site_id"], keep="last")
    write_parquet(sites, out / "sites.parquet")
    return frame


def make_sweep(scenario: str, vary: list[str] | tuple[str, ...] | None = None, sets: tuple[str, ...] | list[str] = (), *,
         samples: int | None = None, seed: int = 0, distributions: str | Path | dict | None = None) -> Sweep:
    """A grid sweep (``vary``) or a Monte Carlo one (``samples`` drawn from ``distributions``),
    checked before anything runs: exactly one of the two kinds."""
    if vary and samples is not None:
        raise InputError("--vary and --samples are two kinds of sweep", source="--samples",
                         expected="either --vary KEY=SPEC ... (a grid) or --samples N --distributions FILE")
    if samples is not None:
        if distributions is None:
            raise InputError("--samples needs --distributions", source="--distributions",
                             expected="a YAML file: " + DISTRIBUTIONS_HELP)
        return plan_samples(scenario, distributions, samples, seed, sets)
    if distributions is not None:
        raise InputError("--distributions is for --samples", source="--distributions",
                         expected="--samples N with it, or --vary KEY=SPEC without it")
    return plan_sweep(scenario, list(vary or ()), sets)


def sweep(scenario: str, vary: list[str] | None = None, out: str | Path = "runs/sweep",
          sets: tuple[str, ...] | list[str] = (), workers: int = 1, scheduler: str | None = None, *,
          samples: int | None = None, seed: int = 0, distributions: str | Path | dict | None = None,
          progress=None) -> pd.DataFrame:
    """Python entry; returns one row per scenario (see :func:`run_sweep` for ``workers`` and
    ``scheduler``). A grid::

        planner.sweep("texas", ["economics.hashprice_usd_per_ph_day=30:60:10"], "runs/hp")

    or ``samples`` Monte Carlo draws from ``distributions`` (a YAML file or the same dict, see
    :func:`read_distributions`)::

        planner.sweep("texas", out="runs/mc", samples=200, seed=1,
                      distributions={"economics.discount_rate": {"uniform": {"low": 0.06, "high": 0.14}}})

    From a script (not a notebook), call it under ``if __name__ == "__main__":`` when
    ``workers > 1``: the local cluster's worker processes import the script again."""
    sw = make_sweep(scenario, vary, sets, samples=samples, seed=seed, distributions=distributions)
    return run_sweep(sw, out, progress=progress, workers=workers, scheduler=scheduler)

