"""Reading a finished sweep: heatmaps of two varied keys, per-site tipping points, how often a site
wins across the scenarios.

    data = planner.read_sweep("runs/hp")                 # results, sites, what was swept
    planner.sweep_heatmap(data, "economics.hashprice_usd_per_ph_day",
                          "economics.ai_lease_usd_per_kw_month", "served_ai_mw", path="hp.png")
    planner.tipping_points(data, "economics.hashprice_usd_per_ph_day")

Only scenarios that solved (optimal, or stopped by a limit with an allocation) count; a heatmap
cell with none is blank.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from planner.core.errors import InputError

#: statuses with an allocation
SOLVED = ("optimal", "time_limit", "solution_limit")
#: the outputs of a sweep's results a heatmap can show, and how its colour bar names them
OUTPUTS = {"objective_usd": "NPV, $ billion", "served_ai_mw": "AI served, MW", "unmet_ai_mw": "AI unmet, MW",
           "served_mining_mw": "mining served, MW", "converted_sites": "mines converted",
           "binding_branches": "binding branches", "time_s": "solve time, s"}


@dataclass
class SweepData:
    """A sweep directory read back: ``results`` (one row per scenario), ``sites`` (one row per
    scenario × site), ``meta`` (sweep.json) and the varied ``keys``."""

    path: Path
    results: pd.DataFrame
    sites: pd.DataFrame
    meta: dict

    @property
    def keys(self) -> list[str]:
        if "vary" in self.meta:
            return list(self.meta["vary"])
        return list(self.meta.get("distributions", {}))

    @property
    def monte_carlo(self) -> bool:
        return "samples" in self.meta


def read_parquet(path: str | Path) -> pd.DataFrame:
    """A Parquet file read by path on this thread: pyarrow's reader threads still alive when the
    interpreter exits can abort it ("terminate called without an active exception", seen once on a
    loaded machine after `planner compare`; apache/arrow#34314), and a read through a file object
    can hang at exit (apache/arrow#50482)."""
    import pyarrow.parquet as pq

    return pq.read_table(str(path), use_threads=False, pre_buffer=False).to_pandas(use_threads=False)


def write_parquet(frame: pd.DataFrame, path: str | Path) -> None:
    """``frame`` (without its index) written to ``path`` on this thread (see :func:`read_parquet`)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False, nthreads=1), str(path))


def _decode(values: pd.Series) -> pd.Series:
    """A varied key's column as the values given: a key whose values were of several kinds (e.g.
    ``null,5e9``) is stored as their JSON text."""
    if values.dtype != object or not all(isinstance(v, str) for v in values):
        return values
    try:
        return pd.Series([json.loads(v) for v in values], index=values.index, dtype=object)
    except ValueError:  # plain text values
        return values


def _order(value) -> tuple:
    """Sort key of a varied value: none first, then numbers (and booleans) in order, then text."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return (0, 0.0, "")
    if isinstance(value, bool | int | float | np.number):
        return (1, float(value), "")
    return (2, 0.0, str(value))


def _same_value(values: pd.Series, value) -> np.ndarray:
    return np.array([_order(v) == _order(value) if not isinstance(v, float) or not isinstance(value, float)
                     else bool(np.isclose(v, value)) for v in values], dtype=bool)


def read_sweep(out: str | Path | SweepData) -> SweepData:
    """Read a sweep directory written by ``planner sweep`` (or :func:`planner.sweep`)."""
    if isinstance(out, SweepData):
        return out
    out = Path(out)
    files = {name: out / name for name in ("sweep.json", "results.parquet", "sites.parquet")}
    missing = [n for n, f in files.items() if not f.exists()]
    if missing:
        raise InputError(f"not a finished sweep directory ({', '.join(missing)} missing)", source=str(out),
                         expected="a directory written by planner sweep --out")
    try:
        meta = json.loads(files["sweep.json"].read_text())
        results = read_parquet(files["results.parquet"])
        sites = read_parquet(files["sites.parquet"])
    except (OSError, ValueError) as exc:
        raise InputError(f"cannot read the sweep ({type(exc).__name__}: {exc})", source=str(out),
                         expected="the files planner sweep writes") from None
    keys = list(meta.get("vary", meta.get("distributions", {})))
    for key in keys:
        if key in results:
            results[key] = _decode(results[key])
    return SweepData(path=out, results=results, sites=sites, meta=meta)


def _check_key(data: SweepData, key: str, what: str) -> None:
    if key not in data.keys:
        raise InputError(f"not a varied key of this sweep ({what})", source=str(data.path), field=key,
                         expected="one of " + ", ".join(data.keys))


def _solved(data: SweepData) -> pd.DataFrame:
    return data.results[data.results["status"].isin(SOLVED)]


def _select(data: SweepData, frame: pd.DataFrame, at: dict | None) -> pd.DataFrame:
    for key, value in (at or {}).items():
        _check_key(data, key, "in at")
        frame = frame[_same_value(frame[key], value)]
        if frame.empty:
            raise InputError("no scenario of the sweep has this value", source=str(data.path), field=key,
                             value=value, expected="one of the swept values")
    return frame


def heatmap_table(data: str | Path | SweepData, x: str, y: str, output: str = "served_ai_mw",
                  at: dict | None = None, bins: int = 8) -> pd.DataFrame:
    """The table a heatmap draws: ``output`` by the values of ``y`` (rows) and ``x`` (columns),
    the mean over the other varied keys (or those fixed by ``at``). A Monte Carlo sweep's draws
    are grouped into ``bins`` equal intervals of each key."""
    data = read_sweep(data)
    _check_key(data, x, "x")
    _check_key(data, y, "y")
    if x == y:
        raise InputError("x and y are the same key", source=str(data.path), field=x, expected="two varied keys")
    if output not in OUTPUTS:
        raise InputError("not an output of a sweep", field="output", value=output, expected="one of " + ", ".join(OUTPUTS))
    frame = _select(data, _solved(data), at)
    cols, labels = {}, {}
    for key in (x, y):
        values = frame[key]
        numeric = all(isinstance(v, int | float | np.number) and not isinstance(v, bool) for v in values)
        if data.monte_carlo and numeric and values.nunique() > bins:  # continuous draws: binned
            cols[key] = pd.cut(values.astype(float), bins)
        else:  # the values themselves, in order (none first, then numbers, then text)
            kinds = sorted({_order(v): v for v in values}.items())
            labels[key] = pd.Index([v for _, v in kinds], dtype=object)
            rank = {k: i for i, (k, _) in enumerate(kinds)}
            cols[key] = pd.Series(pd.Categorical([rank[_order(v)] for v in values], categories=range(len(kinds))),
                                  index=frame.index)
    table = frame.groupby([cols[y], cols[x]], observed=False)[output].mean().unstack(-1)
    if y in labels:
        table.index = labels[y]
    if x in labels:
        table.columns = labels[x]
    table.index.name, table.columns.name = y, x
    return table


def sweep_heatmap(data: str | Path | SweepData, x: str, y: str, output: str = "served_ai_mw",
                  at: dict | None = None, path: str | Path | None = None, bins: int = 8):
    """A heatmap (matplotlib Figure) of ``output`` over two varied keys (see :func:`heatmap_table`);
    written as a PNG to ``path`` when given."""
    import matplotlib

    if path is not None:
        matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    data = read_sweep(data)
    table = heatmap_table(data, x, y, output, at, bins)
    values = table.to_numpy(float)
    fig, ax = plt.subplots(figsize=(1.0 + 0.75 * max(len(table.columns), 4), 1.6 + 0.5 * max(len(table.index), 4)))
    scale = 1e9 if output == "objective_usd" else 1.0
    image = ax.imshow(values / scale, origin="lower", aspect="auto", cmap="viridis")
    label = OUTPUTS[output]
    fig.colorbar(image, ax=ax, label=label, shrink=0.85)

    def ticks(index) -> list[str]:
        return [f"{v.mid:.3g}" if isinstance(v, pd.Interval) else f"{v:g}" if isinstance(v, int | float) else str(v)
                for v in index]

    ax.set_xticks(range(len(table.columns)), ticks(table.columns), rotation=45, ha="right")
    ax.set_yticks(range(len(table.index)), ticks(table.index))
    ax.set_xlabel(x)
    ax.set_ylabel(y)
    if values.size <= 150:  # each cell's figure, in a colour that reads on it
        finite = values[np.isfinite(values)]
        mid = (finite.min() + finite.max()) / 2 if finite.size else 0.0
        for (r, c), v in np.ndenumerate(values):
            if np.isfinite(v):
                ax.text(c, r, f"{v / scale:,.1f}" if scale > 1 else f"{v:,.0f}", ha="center", va="center", fontsize=7,
                        color="black" if v > mid else "white")
    others = [k for k in data.keys if k not in (x, y) and k not in (at or {})]
    note = "; ".join(f"{k} = {v}" for k, v in (at or {}).items())
    note += ("; " if note and others else "") + (f"mean over {', '.join(others)}" if others else "")
    ax.set_title(f"{label} by {x.split('.')[-1]} and {y.split('.')[-1]}" + (f"\n({note})" if note else ""),
                 fontsize=9)
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=120)
        plt.close(fig)
    return fig


def tipping_points(data: str | Path | SweepData, key: str, at: dict | None = None) -> pd.DataFrame:
    """Per site, where along ``key`` (a grid axis) it changes use: one row per change, with the two
    neighbouring solved values the switch lies between (``from_value`` below ``to_value``, in the
    key's order: none first, then numbers rising), for each combination of the other varied keys
    (or those fixed by ``at``). ``change`` is one of: converts, stops converting, starts mining,
    stops mining, switches path (``from_path`` and ``to_path``: the paths of allocation.csv's
    ``path``, e.g. mining to ai_lease; a site that takes the same paths in another order of MW
    does not switch); a scenario that did not solve is left out (its neighbours
    bracket the switch)."""
    data = read_sweep(data)
    if data.monte_carlo:
        raise InputError("tipping points need a grid sweep (--vary); a Monte Carlo sweep has no order of values",
                         source=str(data.path), expected="site_shares() for a Monte Carlo sweep")
    _check_key(data, key, "key")
    frame = _select(data, _solved(data), at)
    others = [k for k in data.keys if k != key]
    cols = ["site_id", *others, "key", "change", "from_value", "to_value", "from_path", "to_path"]
    if frame.empty:
        return pd.DataFrame(columns=cols)
    merged = data.sites.merge(frame[["id", *data.keys]], on="id")
    merged = merged.iloc[sorted(range(len(merged)), key=lambda i: (
        [_order(merged[k].iat[i]) for k in others], merged["site_id"].iat[i], _order(merged[key].iat[i])))]
    rows = []
    group_keys = ["site_id", *others]
    for names, g in merged.astype({k: object for k in others}).groupby(group_keys, sort=False, dropna=False):
        names = names if isinstance(names, tuple) else (names,)
        values = g[key].to_list()
        for flag, on, off in ((g["converted"].to_numpy(bool), "converts", "stops converting"),
                              (g["mining_mw"].to_numpy(float) > 1e-6, "starts mining", "stops mining")):
            for j in np.flatnonzero(flag[1:] != flag[:-1]):
                rows.append((*names, key, on if flag[j + 1] else off, values[j], values[j + 1], "", ""))
        if "path" in g:  # sweeps written before the three paths have no path column
            path = g["path"].fillna("none").astype(str).to_numpy()
            taken = [frozenset(p.split("+")) for p in path]  # the paths taken; their order (by MW) is no switch
            for j in (j for j in range(len(taken) - 1) if taken[j] != taken[j + 1]):
                rows.append((*names, key, "switches path", values[j], values[j + 1], path[j], path[j + 1]))
    return pd.DataFrame(rows, columns=cols)


def site_shares(data: str | Path | SweepData) -> pd.DataFrame:
    """Per site, across the solved scenarios: the share in which it gets AI load, the share in
    which it converts (a mine that takes AI), the share in which it mines, and its mean AI and
    mining MW (which sites win in most futures)."""
    data = read_sweep(data)
    ids = set(_solved(data)["id"])
    s = data.sites[data.sites["id"].isin(ids)]
    out = s.groupby("site_id").agg(ai_share=("ai_mw", lambda v: float((v > 1e-6).mean())),
                                   converts_share=("converted", "mean"),
                                   mines_share=("mining_mw", lambda v: float((v > 1e-6).mean())),
                                   mean_ai_mw=("ai_mw", "mean"), mean_mining_mw=("mining_mw", "mean"))
    out["scenarios"] = len(ids)
    return out.sort_values(["ai_share", "mean_ai_mw"], ascending=False)
