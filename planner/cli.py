"""Command line: ``planner --help``.

A thin layer: parse, call library functions, print, write files through
``planner.io``. A :class:`~planner.errors.PlannerError` becomes one line on
stderr and its exit status (2 for bad input); never a traceback.
"""

from __future__ import annotations

import json
import sys
from contextlib import contextmanager
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from planner.errors import PlannerError

console = Console(stderr=True)
# piped output gets a wide console so tables are not wrapped at 80 columns
out = Console(highlight=False, width=None if sys.stdout.isatty() else 160)


@contextmanager
def progress(ctx: click.Context, message: str):
    quiet = ctx.find_root().obj.get("quiet", False) if ctx.find_root().obj else False
    if quiet or not console.is_terminal:
        yield
    else:
        with console.status(message):
            yield


def _load_grid(ctx: click.Context, name: str):
    from planner.grid import load_grid

    with progress(ctx, f"Loading grid {name}…"):
        return load_grid(name)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-q", "--quiet", is_flag=True, help="No progress display.")
@click.version_option(package_name="planner")
@click.pass_context
def cli(ctx: click.Context, quiet: bool) -> None:
    """planner: grid capacity and interconnect planning for AI and bitcoin-mining loads."""
    ctx.obj = {"quiet": quiet}


@cli.group()
def grids() -> None:
    """Built-in grids and their size."""


@grids.command("list")
def grids_list() -> None:
    """List the built-in grids."""
    from planner.grid import BUILTIN_GRIDS

    table = Table("name", "description", box=None)
    for name, (_, description) in BUILTIN_GRIDS.items():
        table.add_row(name, description)
    out.print(table)
    out.print("Also accepted wherever a grid is named: pandapower cases (e.g. case118), "
              "a pandapower .json file, a MATPOWER .m file.")


@grids.command("show")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@click.pass_context
def grids_show(ctx: click.Context, name: str, as_json: bool) -> None:
    """Size and totals of grid NAME (built-in name, pandapower case, .json or .m file)."""
    from planner.topology import summary

    grid = _load_grid(ctx, name)
    with progress(ctx, "Analysing topology…"):
        info = summary(grid)
    if as_json:
        out.print(json.dumps(info, indent=2), markup=False)
        return
    table = Table(title=f"grid {info['name']} — {info['source']}", box=None, show_header=False)
    for key, value in info.items():
        if key in ("name", "source", "interconnects", "kv_levels"):
            continue
        table.add_row(key, f"{value:,}" if isinstance(value, int | float) and not isinstance(value, bool)
                      else str(value))
    table.add_row("kv_levels", ", ".join(f"{k} kV: {v}" for k, v in info["kv_levels"].items()))
    out.print(table)
    ics = Table("interconnect", "buses", "branches", "load_mw", "generation_capacity_mw",
                "dispatch_mw", box=None)
    for ic, v in info["interconnects"].items():
        ics.add_row(ic, f"{v['buses']:,}", f"{v['branches']:,}", f"{v['load_mw']:,.0f}",
                    f"{v['generation_capacity_mw']:,.0f}", f"{v['dispatch_mw']:,.0f}")
    out.print(ics)


@cli.group()
def sites() -> None:
    """Validate sites and map them to grid buses."""


@sites.command("check")
@click.argument("sites_file", metavar="SITES", required=False)
@click.option("--grid", "grid_name", required=True, help="Grid name or file (see 'planner grids list').")
@click.option("--out", "out_dir", type=click.Path(path_type=Path),
              help="Write mapped_sites.csv and mapped_sites.geojson here.")
@click.option("--min-kv", default=115.0, show_default=True, help="Lowest bus voltage a site may connect to.")
@click.option("--max-km", default=50.0, show_default=True, help="Farthest a site may be from its bus.")
@click.option("--kv-by-mw", default=None,
              help="Higher voltage for large sites, as MW:kV pairs, e.g. 300:230,1000:345.")
@click.pass_context
def sites_check(ctx: click.Context, sites_file: str | None, grid_name: str, out_dir: Path | None,
                min_kv: float, max_km: float, kv_by_mw: str | None) -> None:
    """Validate SITES (GeoJSON, GeoPackage, Shapefile or CSV with lat/lon; default: the shipped
    sites) and map each site to a bus of the grid."""
    from planner import datasets, io
    from planner.sites import map_sites, parse_kv_by_mw, read_sites

    rules = parse_kv_by_mw(kv_by_mw)
    table_in = read_sites(sites_file or datasets.default_sites())
    grid = _load_grid(ctx, grid_name)
    mapped = map_sites(table_in, grid, min_kv=min_kv, max_km=max_km, kv_by_mw=rules)
    table = Table("site", "name", "bus", "kV", "distance_km", "status", box=None)
    for row in mapped.itertuples():
        table.add_row(
            row.site_id, str(getattr(row, "name", "")),
            "" if row.status != "mapped" else str(row.bus),
            "" if row.status != "mapped" else f"{row.bus_kv:g}",
            "" if row.distance_km != row.distance_km else f"{row.distance_km:.1f}",
            row.status + (f": {row.reason}" if row.reason else ""),
        )
    out.print(table)
    counts = mapped["status"].value_counts()
    out.print(", ".join(f"{n} {status}" for status, n in counts.items()) + f" (grid {grid.name})")
    if out_dir is not None:
        for path in io.write_mapped_sites(mapped, out_dir):
            out.print(f"wrote {path}")


@cli.command("hosting")
@click.option("--grid", "grid_name", required=True, help="Grid name or file (see 'planner grids list').")
@click.option("--out", "out_dir", type=click.Path(path_type=Path),
              help="Write buses.csv (one row per bus) and hosting.png here.")
@click.option("--slack", type=click.Choice(["headroom", "pmax", "single"]), default="headroom", show_default=True,
              help="Who picks up the new load: generators by headroom, by Pmax, or the slack bus.")
@click.pass_context
def hosting_cmd(ctx: click.Context, grid_name: str, out_dir: Path | None, slack: str) -> None:
    """Hosting capacity (N-0) of every bus: the largest new firm load the bus alone can take
    before a monitored branch reaches its rating."""
    import numpy as np
    import pandas as pd

    from planner import io
    from planner.hosting import hosting_capacity
    from planner.sensitivity import dc_model

    grid = _load_grid(ctx, grid_name)
    with progress(ctx, "Building the DC model…"):
        model = dc_model(grid, slack)
    quiet = ctx.find_root().obj.get("quiet", False)
    if quiet or not console.is_terminal:
        frame = hosting_capacity(grid, model)
    else:
        from rich.progress import Progress

        with Progress(console=console, transient=True) as bar:
            task = bar.add_task("Hosting capacity", total=model.n_bus)
            frame = hosting_capacity(grid, model, progress=lambda done, total: bar.update(task, completed=done))
    finite = frame[np.isfinite(frame["hosting_mw"])]
    table = Table("kV", "buses", "median_mw", "p10_mw", "p90_mw", box=None)
    for kv, g in finite.groupby("kv"):
        q = g["hosting_mw"].quantile([0.5, 0.1, 0.9])
        table.add_row(f"{kv:g}", f"{len(g):,}", f"{q[0.5]:,.0f}", f"{q[0.1]:,.0f}", f"{q[0.9]:,.0f}")
    out.print(table)
    limits = pd.Series(frame["limited_by"]).value_counts()
    out.print(f"{len(frame):,} buses of grid {grid.name} (slack: {slack}); limited by "
              + ", ".join(f"{k}: {v:,}" for k, v in limits.items()))
    if out_dir is not None:
        from planner.plot import hosting_map

        with progress(ctx, "Writing…"):
            paths = io.write_hosting(frame, hosting_map(grid, frame), out_dir)
        for path in paths:
            out.print(f"wrote {path}")


def main() -> None:
    try:
        cli.main(standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except PlannerError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(exc.exit_code)
    except OSError as exc:  # disk full, permission denied while writing
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)
