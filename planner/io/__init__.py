"""Writing results. This is the only module of planner that writes files.

Every file is written to a temporary name in its target directory and moved
into place when complete, so an interrupted or failed run never leaves a
half-written file behind.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
import shutil
import socket
import tempfile
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import pandas as pd

from planner.core.errors import InputError


def ensure_dir(path: str | Path) -> Path:
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise InputError("exists and is not a directory", source=path, field="--out",
                         expected="a directory path")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"cannot create the directory ({exc.strerror})", source=path,
                         field="--out") from None
    return path


def _atomic(path: Path, write: Callable[[Path], None]) -> Path:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=path.suffix, dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        tmp_path.unlink()  # some writers (GDAL) refuse to overwrite
        write(tmp_path)
        os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()
    return path


def write_json(data: dict, path: str | Path) -> Path:
    path = Path(path)
    text = json.dumps(rounded_json(data), indent=2, default=str) + "\n"
    return _atomic(path, lambda p: p.write_text(text))


#: decimals a number is written with, by the unit its column name ends in (the longest that
#: matches): far below any figure a decision turns on, and above the solver's round-off, so the
#: same answer is the same file
DECIMALS = {"_mw": 3, "_mwh": 3, "_usd": 0, "_usd_per_mw": 0, "_usd_per_w": 6, "_percent": 3, "_km": 3,
            "_pu": 4, "_h": 3, "_kv": 3, "lat": 6, "lon": 6}


def unit_decimals(name: str) -> int | None:
    """Decimals of a number named ``name`` (:data:`DECIMALS`; None: a name without a unit)."""
    match = max((u for u in DECIMALS if name.endswith(u)), key=len, default=None)
    if match is None:  # a unit inside the name: ai_mw_2027, ai_mw_without_network
        match = max((u for u in DECIMALS if u.startswith("_") and re.search(rf"{u}_", name)), key=len, default=None)
    return None if match is None else DECIMALS[match]


def rounded_json(data, decimals: int | None = None):
    """``data`` (a summary: dicts, lists, numbers) with every float rounded by the unit of the key it
    is under (:data:`DECIMALS`; a mapping under a unit's key, e.g. ``moved_mw: {peak: ...}``, takes
    that unit)."""
    if isinstance(data, dict):
        return {k: rounded_json(v, unit_decimals(str(k)) if unit_decimals(str(k)) is not None else decimals)
                for k, v in data.items()}
    if isinstance(data, list | tuple):
        return [rounded_json(v, decimals) for v in data]
    if isinstance(data, float) and decimals is not None and math.isfinite(data):
        return round(data, decimals) + 0.0
    return data


def rounded(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``frame`` whose float columns are rounded to :data:`DECIMALS` by their unit (columns
    with no unit in their name are left as they are)."""
    out = frame.copy()
    for col in out.columns:
        if not pd.api.types.is_float_dtype(out[col].dtype):
            continue
        decimals = unit_decimals(str(col))
        if decimals is not None:
            out[col] = out[col].round(decimals) + 0.0  # + 0.0: no -0.0
    return out


def write_csv(frame: pd.DataFrame, path: str | Path) -> Path:
    path = Path(path)
    table = rounded(pd.DataFrame(frame.drop(columns="geometry", errors="ignore")))
    return _atomic(path, lambda p: table.to_csv(p, index=False))


def write_geojson(frame: gpd.GeoDataFrame, path: str | Path) -> Path:
    path = Path(path)
    out = rounded(frame.to_crs("EPSG:4326"))

    def write(p: Path) -> None:
        with warnings.catch_warnings():  # pyogrio: NaN figures are written as null, as intended
            warnings.filterwarnings("ignore", message=".*NaN of Infinity value found.*")
            out.to_file(p, driver="GeoJSON")

    return _atomic(path, write)


def write_figure(fig, path: str | Path) -> Path:
    path = Path(path)
    try:
        def write(p: Path) -> None:
            with warnings.catch_warnings():  # a site name with a glyph the font lacks is drawn as a box
                warnings.filterwarnings("ignore", message="Glyph .* missing from font")
                fig.savefig(p, format=path.suffix.lstrip(".") or "png")

        return _atomic(path, write)
    finally:
        if fig.canvas.manager is not None:  # a pyplot figure: release it
            import matplotlib.pyplot as plt

            plt.close(fig)


HOSTING_COLUMNS = ["bus", "lat", "lon", "kv", "hosting_mw", "limiting_branch", "limited_by",
                   "substation_name", "interconnect", "n0_hosting_mw", "limiting_outage", "limiting_state", "use",
                   "security", "supply", "fixed_hosting_mw", "redispatch_ratio", "redispatch_mw",
                   "redispatch_95_mw"]


def write_hosting(frame: gpd.GeoDataFrame, fig, out_dir: str | Path, grid=None) -> list[Path]:
    """Write ``buses.csv`` and ``buses.geojson`` (one row / point per bus) and ``hosting.png``
    into ``out_dir``; with ``grid`` also ``hosting.html`` (the offline interactive map) and, for a
    redispatch frame, ``hosting_ratio.png`` (redispatch against fixed participation)."""
    out_dir = ensure_dir(out_dir)
    columns = [c for c in HOSTING_COLUMNS if c in frame.columns]
    points = gpd.GeoDataFrame(frame[columns], geometry=frame.geometry.to_numpy(), crs=frame.crs)
    paths = [write_csv(frame[columns], out_dir / "buses.csv"), write_geojson(points, out_dir / "buses.geojson"),
             write_figure(fig, out_dir / "hosting.png")]
    if grid is not None:
        from planner.viz.webmap import hosting_html

        if "fixed_hosting_mw" in frame:
            from planner.viz.plot import hosting_ratio_map

            paths.append(write_figure(hosting_ratio_map(grid, frame), out_dir / "hosting_ratio.png"))
        paths.append(write_html(hosting_html(grid, frame), out_dir / "hosting.html"))
    return paths


SITE_COLUMNS = ["site_id", "name", "operator", "state", "interconnect", "current_use", "poi_mw",
                "it_mw", "operating_mw", "lat", "lon", "required_kv", "bus", "bus_kv", "bus_name",
                "bus_interconnect", "distance_km", "status", "reason"]


def write_mapped_sites(mapped: gpd.GeoDataFrame, out_dir: str | Path) -> list[Path]:
    """Write ``mapped_sites.csv`` and ``mapped_sites.geojson`` into ``out_dir``."""
    out_dir = ensure_dir(out_dir)
    front = [c for c in SITE_COLUMNS if c in mapped.columns]
    rest = [c for c in mapped.columns if c not in front and c != "geometry"]
    frame = mapped[front + rest + ["geometry"]].reset_index(drop=True)
    return [write_csv(frame, out_dir / "mapped_sites.csv"),
            write_geojson(frame, out_dir / "mapped_sites.geojson")]


# --------------------------------------------------------------------------- a solve run


def check_run_target(target: str | Path, force: bool = False) -> Path:
    """A run directory may be written at ``target``: new, or an existing directory with ``force``."""
    target = Path(target)
    if target.exists() and not target.is_dir():
        raise InputError("exists and is not a directory", source=target, field="--out",
                         expected="a directory path")
    if target.exists() and not force:
        raise InputError("the output directory already exists", source=target, field="--out",
                         expected="a new directory, or --force to replace it")
    return target


def host_name() -> str:
    return re.sub(r"[^A-Za-z0-9_-]", "_", socket.gethostname()) or "host"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's live process
        return True
    return True


_LEFTOVER = re.compile(r"^\.(?P<name>.+)\.(?P<host>[A-Za-z0-9_-]+)-(?P<pid>\d+)\.(?P<kind>partial|old|lock)$")


def clean_leftovers(parent: str | Path) -> list[Path]:
    """Remove what interrupted runs left in ``parent``: ``.NAME.HOST-PID.partial`` directories
    (a run being written), ``.old`` (a run being replaced) and ``.lock`` files, where the run
    that wrote them (process PID on this host) is gone. Leftovers of live runs, and of runs on
    another host sharing the directory, are kept. Returns what was removed."""
    removed = []
    parent = Path(parent)
    host = host_name()
    try:
        entries = list(parent.iterdir())
    except OSError:
        return removed
    for path in entries:
        m = _LEFTOVER.match(path.name)
        if not m or m["host"] != host or _alive(int(m["pid"])):
            continue
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            with contextlib.suppress(OSError):
                path.unlink()
        removed.append(path)
    return removed


@dataclass
class RunClaim:
    """A run directory being written: ``tmp`` is filled, then renamed to ``target``."""

    target: Path
    tmp: Path
    lock: Path


def _lock_name(target: Path) -> str:
    return f".{target.name}.lock"


def claim_run(target: str | Path, force: bool = False) -> RunClaim:
    """Claim ``target`` for one run, before any work: check it may be written (new, or
    ``force``), clean up leftovers of interrupted runs, take an exclusive lock next to it
    (a second run to the same directory is refused while the first is alive) and create the
    temporary directory the run is written to. Every failure is an :class:`InputError`."""
    target = check_run_target(target, force)
    parent = ensure_dir(target.parent if str(target.parent) else Path("."))
    clean_leftovers(parent)
    lock = parent / _lock_name(target)
    me = f"{host_name()}-{os.getpid()}"
    for _ in range(2):
        try:
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            owner = _read_text(lock)
            host, _, pid = owner.rpartition("-")
            if host == host_name() and pid.isdigit() and not _alive(int(pid)):
                with contextlib.suppress(OSError):
                    lock.unlink()  # its writer is gone: stale
                continue
            raise InputError(f"another planner run ({owner or 'starting'}) is writing this directory", source=target,
                             field="--out", expected="another --out, or wait for that run to finish") from None
        except OSError as exc:
            raise InputError(f"cannot write there ({exc.strerror})", source=parent, field="--out",
                             expected="a directory you can write to") from None
        with os.fdopen(fd, "w") as handle:
            handle.write(me)
        break
    else:
        raise InputError("cannot take the lock of the run directory", source=lock, field="--out")
    tmp = parent / f".{target.name}.{me}.partial"
    try:
        if tmp.exists():
            shutil.rmtree(tmp)
        os.mkdir(tmp)  # the user's umask applies (mkdtemp would make it 0700)
        probe = tmp / ".write-test"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        with contextlib.suppress(OSError):
            lock.unlink()
        shutil.rmtree(tmp, ignore_errors=True)
        raise InputError(f"cannot write there ({exc.strerror})", source=parent, field="--out",
                         expected="a directory you can write to") from None
    check_run_target(target, force)  # created meanwhile by something else than planner?
    return RunClaim(target=target, tmp=tmp, lock=lock)


def _read_text(path: Path) -> str:
    try:
        return path.read_text().strip()
    except (OSError, UnicodeDecodeError):
        return ""


def publish_run(claim: RunClaim, force: bool = False) -> Path:
    """Move the finished temporary directory into place (replacing ``target`` only with ``force``)."""
    from planner.core import interrupt

    interrupt.check()  # a Ctrl-C some library swallowed still stops the run before it is published
    target, tmp = claim.target, claim.tmp
    if target.exists():
        check_run_target(target, force)
        old = tmp.with_name(tmp.name.removesuffix(".partial") + ".old")
        os.replace(target, old)
        os.replace(tmp, target)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(tmp, target)
    return target


def release_run(claim: RunClaim) -> None:
    """Remove the temporary directory (if still there) and the lock."""
    shutil.rmtree(claim.tmp, ignore_errors=True)
    with contextlib.suppress(OSError):
        if _read_text(claim.lock) == f"{host_name()}-{os.getpid()}":
            claim.lock.unlink()


@contextmanager
def run_directory(target: str | Path, force: bool = False, claim: RunClaim | None = None) -> Iterator[Path]:
    """Yield a fresh temporary directory next to ``target``; on success it is renamed
    to ``target`` (replacing an existing one only when ``force``); on any failure, or
    Ctrl-C, it is removed, so a failed run leaves no half-written result. Pass the
    ``claim`` of :func:`claim_run` when the target was claimed before the work began."""
    claim = claim or claim_run(target, force)
    try:
        yield claim.tmp
        publish_run(claim, force)
    finally:
        release_run(claim)


def write_case(net, path: str | Path) -> Path:
    """A pandapower net as pandapower JSON (``pandapower.from_json`` reads it back)."""
    import warnings

    import pandapower as pp

    def write(p: Path) -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            pp.to_json(net, str(p))

    return _atomic(Path(path), write)


def write_html(page: str, path: str | Path) -> Path:
    """A complete HTML page (a string, e.g. :func:`planner.viz.webmap.allocation_html`), UTF-8."""
    return _atomic(Path(path), lambda p: p.write_text(page, encoding="utf-8"))


ALLOCATION_COLUMNS = ["site_id", "name", "operator", "state", "region", "bus", "lat", "lon", "use", "ai_mw",
                      "ai_lease_mw", "ai_cloud_mw", "mining_mw", "path", "path_usd_per_w", "mining_usd_per_w",
                      "ai_lease_usd_per_w", "ai_cloud_usd_per_w", "best_other_path", "best_other_usd_per_w",
                      "margin_usd_per_w", "converted", "value_usd", "capex_usd", "cap_mw", "existing_mw",
                      "kept_mining_mw", "new_mining_mw", "shed_mw", "request", "requested_mw",
                      "marginal_value_usd_per_mw", "limited_by", "limiting_element", "bus_hosting_mw",
                      "ai_mw_without_network", "ai_mw_without_network_or_pools", "ai_blocked_by_network_mw",
                      "ai_blocked_by_pool_mw", "current_use", "poi_mw", "it_mw", "operating_mw", "bus_kv", "bus_name",
                      "distance_km", "reason"]
BRANCH_COLUMNS = ["branch_id", "from_bus", "to_bus", "flow_mw", "rate_mw", "loading_percent", "binding",
                  "shadow_price_usd_per_mw", "kind", "monitored", "base_flow_mw", "limit_mw",
                  "preexisting_overload", "offpeak_base_flow_mw", "offpeak_flow_mw", "offpeak_limit_mw",
                  "offpeak_loading_percent", "n1_loading_percent", "n1_worst_outage_branch_id", "n1_worst_state",
                  "n1_worst_preexisting"]


def write_text(text: str, path: str | Path) -> Path:
    return _atomic(Path(path), lambda p: p.write_text(text, encoding="utf-8"))


def write_run(out_dir: Path, result, *, cases: dict | None = None, map_png=None, map_html=None,
              scenario_yaml: str | None = None, branch_geometry=None, gis_format: str = "geojson") -> list[Path]:
    """Write the files of a solve run into ``out_dir`` (the run directory of the README's ``planner solve``);
    ``scenario_yaml``: the resolved scenario (:func:`planner.config.resolved.resolved_scenario`);
    ``branch_geometry``: a GeoSeries of branch lines by branch id (the grid's ``branches.geometry``)
    for the GIS layer of branches; ``gis_format``: ``geojson`` (one file per layer) or ``gpkg``
    (``run.gpkg`` with the layers sites, branches and buses)."""
    alloc = result.allocation
    front = [c for c in ALLOCATION_COLUMNS if c in alloc.columns]
    # a timeline's columns: the first year of new load and each year's MW
    front += [c for c in alloc.columns if c == "first_year" or re.fullmatch(r"(ai|ai_lease|ai_cloud|mining)_mw_\d{4}", c)]
    alloc = alloc[front + ["geometry"]]
    branches = result.branches[[c for c in BRANCH_COLUMNS if c in result.branches.columns]]
    paths = [write_json(result.summary.to_dict(), out_dir / "summary.json"),
             write_csv(alloc, out_dir / "allocation.csv"),
             write_geojson(alloc, out_dir / "allocation.geojson"),
             write_csv(branches, out_dir / "branches.csv"),
             write_csv(result.buses, out_dir / "buses.csv")]
    if getattr(result, "dispatch_table", None) is not None:
        paths.append(write_csv(result.dispatch_table, out_dir / "dispatch.csv"))
    if getattr(result, "operators", None) is not None:
        from planner.viz.plot import operators_chart

        paths.append(write_csv(result.operators, out_dir / "operators.csv"))
        paths.append(write_figure(operators_chart(result), out_dir / "operators.png"))
    if getattr(result, "timeline", None) is not None:
        from planner.viz.plot import timeline_chart

        paths.append(write_csv(result.timeline, out_dir / "timeline.csv"))
        paths.append(write_figure(timeline_chart(result), out_dir / "timeline.png"))
    layers = {"buses": result.buses}
    if branch_geometry is not None:
        geometry = branch_geometry.reindex(branches["branch_id"].to_numpy()).to_numpy()
        lines = gpd.GeoDataFrame(branches.reset_index(drop=True), geometry=geometry, crs=branch_geometry.crs)
        layers = {"branches": lines[lines.geometry.notna()], **layers}
    if gis_format == "gpkg":
        paths.append(write_geopackage({"sites": alloc, **layers}, out_dir / "run.gpkg"))
    else:
        paths += [write_geojson(frame, out_dir / f"{name}.geojson") for name, frame in layers.items()]
    if scenario_yaml is not None:
        paths.append(write_text(scenario_yaml, out_dir / "scenario.yaml"))
    if map_png is not None:
        paths.append(write_figure(map_png, out_dir / "map.png"))
    if map_html is not None:
        paths.append(write_html(map_html, out_dir / "map.html"))
    for name, net in (cases or {}).items():  # file name -> pandapower net
        paths.append(write_case(net, out_dir / name))
    return paths


def write_geopackage(layers: dict, path: str | Path) -> Path:
    """One GeoPackage with a layer per GeoDataFrame (EPSG:4326)."""
    def write(p: Path) -> None:
        for name, frame in layers.items():
            frame.to_crs("EPSG:4326").to_file(p, layer=name, driver="GPKG")

    return _atomic(Path(path), write)
