"""Command line: ``planner --help``.

A thin layer: parse, call library functions, print, write files through
``planner.io``. A :class:`~planner.core.errors.PlannerError` becomes one line on
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

from planner.cli.options import FINITE_FLOAT, FiniteFloat
from planner.core import interrupt
from planner.core.errors import SUPPLY_RESPONSES, InputError, PlannerError, held_warnings

console = Console(stderr=True)


class _Stdout:
    """The answer's stream: rich on a terminal; elsewhere (a pipe, a file, a test) plain text 160
    columns wide, so tables are not wrapped at 80, with no colour and no trailing spaces (rich pads
    table cells to the table's width)."""

    def print(self, *objects, **kwargs) -> None:
        if sys.stdout.isatty():
            Console(highlight=False).print(*objects, **kwargs)
            return
        import io

        buffer = io.StringIO()
        Console(file=buffer, highlight=False, width=160, color_system=None, force_terminal=False,
                soft_wrap=False).print(*objects, **kwargs)
        sys.stdout.write("".join(line.rstrip() + "\n" for line in buffer.getvalue().splitlines()))
        sys.stdout.flush()


out = _Stdout()


@contextmanager
def progress(ctx: click.Context, message: str):
    quiet = ctx.find_root().obj.get("quiet", False) if ctx.find_root().obj else False
    if quiet or not console.is_terminal:
        yield
    else:
        with console.status(message):
            yield


def load_grid_with_progress(ctx: click.Context, name: str):
    from planner.data.grid import load_grid

    with progress(ctx, f"Loading grid {name}…"):
        return load_grid(name)


class _Setting(click.Option):
    """An option that is a setting of the scenario schema: its default, help and bounds come from
    there (:mod:`planner.config.scenario`), read only when needed so that ``planner --help`` stays fast."""

    def __init__(self, *args, setting: str, **kwargs):
        self.setting = setting
        super().__init__(*args, show_default=True, callback=self._check, **kwargs)

    def get_default(self, ctx, call=True):
        from planner.config.scenario import setting_default

        return setting_default(self.setting)

    def get_help_record(self, ctx):
        from planner.config.scenario import setting_help

        self.help = self.help or setting_help(self.setting)
        return super().get_help_record(ctx)

    def _check(self, ctx, param, value):
        from planner.config.scenario import check_setting

        try:
            return check_setting(self.setting, value)
        except InputError as exc:
            raise click.BadParameter(f"{exc.message}; got {value!r}" + (f"; expected {exc.expected}" if exc.expected
                                                                       else ""), ctx=ctx, param=param) from None


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-q", "--quiet", is_flag=True, help="No progress display.")
@click.option("-v", "--verbose", is_flag=True, help="Print each step with its time.")
@click.version_option(package_name="planner")
@click.pass_context
def cli(ctx: click.Context, quiet: bool, verbose: bool) -> None:
    """planner: grid capacity and interconnect planning for AI and bitcoin-mining loads."""
    ctx.obj = {"quiet": quiet, "verbose": verbose}
    if verbose:
        _verbose_logging()


def _verbose_logging() -> None:
    """Print the ``planner`` logger's INFO messages on stderr as ``{elapsed:7.1f} s  message``
    (seconds since this call), as ``solve -v`` prints its steps. One handler, however often
    it is called; the root logger and other libraries' loggers are left alone."""
    import logging
    import time

    log = logging.getLogger("planner")
    if any(getattr(h, "planner_verbose", False) for h in log.handlers):
        return
    t0 = time.time()

    class Elapsed(logging.Formatter):
        def format(self, record: logging.LogRecord) -> str:
            return f"{record.created - t0:7.1f} s  {record.getMessage()}"

    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(Elapsed())
    handler.setLevel(logging.INFO)
    handler.planner_verbose = True
    handler.planner_level = log.level
    log.addHandler(handler)
    log.setLevel(logging.INFO)


def _end_verbose_logging() -> None:
    """Take the handler of :func:`_verbose_logging` off again (a command run in-process, e.g. from
    a test or a notebook, leaves the ``planner`` logger as it found it)."""
    import logging

    log = logging.getLogger("planner")
    for handler in [h for h in log.handlers if getattr(h, "planner_verbose", False)]:
        log.removeHandler(handler)
        log.setLevel(getattr(handler, "planner_level", logging.NOTSET))


@cli.group()
def grids() -> None:
    """Built-in grids and their size."""


@grids.command("list")
def grids_list() -> None:
    """List the built-in grids."""
    from planner.data.grid import BUILTIN_GRIDS

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
    from planner.network.topology import summary

    grid = load_grid_with_progress(ctx, name)
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
              help="Write mapped_sites.csv and mapped_sites.geojson into this new directory.")
@click.option("--force", is_flag=True, help="Replace --out if it exists.")
@click.option("--min-kv", type=FINITE_FLOAT, cls=_Setting, setting="sites.min_kv")
@click.option("--max-km", type=FINITE_FLOAT, cls=_Setting, setting="sites.max_km")
@click.option("--kv-by-mw", default=None,
              help="Higher voltage for large sites, as MW:kV pairs, e.g. 300:230,1000:345.")
@click.pass_context
def sites_check(ctx: click.Context, sites_file: str | None, grid_name: str, out_dir: Path | None, force: bool,
                min_kv: float, max_km: float, kv_by_mw: str | None) -> None:
    """Validate SITES (GeoJSON, GeoPackage, Shapefile or CSV with lat/lon; default: the shipped
    sites) and map each site to a bus of the grid."""
    from planner import io
    from planner.data import datasets
    from planner.data.sites import map_sites, parse_kv_by_mw, read_sites

    rules = parse_kv_by_mw(kv_by_mw)
    # claim --out before the work, as planner solve does: an --out that exists (without --force),
    # cannot be written or is being written by another run fails now
    claim = io.claim_run(out_dir, force) if out_dir is not None else None
    try:
        table_in = read_sites(sites_file or datasets.default_sites())
        grid = load_grid_with_progress(ctx, grid_name)
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
        if claim is not None:
            # written into a temporary directory, renamed to --out when complete: a failure leaves nothing
            with io.run_directory(out_dir, force, claim=claim) as tmp:
                paths = io.write_mapped_sites(mapped, tmp)
            for path in paths:
                out.print(f"wrote {out_dir / path.name}")
    finally:
        if claim is not None:
            io.release_run(claim)


@cli.command("hosting")
@click.option("--grid", "grid_name", required=True, help="Grid name or file (see 'planner grids list').")
@click.option("--out", "out_dir", type=click.Path(path_type=Path),
              help="Write buses.csv, buses.geojson (one row / point per bus), hosting.png and "
                   "hosting.html into this new directory (with --supply redispatch also hosting_ratio.png).")
@click.option("--force", is_flag=True, help="Replace --out if it exists.")
@click.option("--supply", "--slack", "supply", type=click.Choice(SUPPLY_RESPONSES), default="headroom",
              show_default=True,
              help="Who supplies the new load, as in planner solve: generators by headroom, by Pmax, the slack bus, "
                   "the generators of the bus's region (its interconnect), or any redispatch of the generators "
                   "within their limits (also writes the fixed-participation answer and the ratio).")
@click.option("--regions", "regions_from", metavar="SCENARIO",
              help="With --supply regional: the supply regions (supply.regions) of this scenario, a name or a "
                   "file [default: each bus's and generator's interconnect].")
@click.option("--n-1", "n_1", is_flag=True,
              help="N-1: also after any outage of a monitored branch that does not island the grid.")
@click.option("--use", type=click.Choice(["ai", "mining"]), default="ai", show_default=True,
              help="ai: firm load; mining: flexible load (only --firm-share of it at peak, all of it off-peak).")
@click.option("--firm-share", type=FiniteFloat(0, 1), default=None,
              help="Share of the load running at peak [default: 1 for ai, 0.1 for mining].")
@click.option("--emergency-rating-factor", type=FINITE_FLOAT, cls=_Setting, setting="emergency_rating_factor")
@click.option("--offpeak-load-factor", type=FINITE_FLOAT, cls=_Setting, setting="offpeak_load_factor",
              help="Off-peak base load as a share of the case's load (flexible use only).")
@click.option("--overload-dfax", type=FINITE_FLOAT, cls=_Setting, setting="overload_dfax")
@click.option("-v", "--verbose", is_flag=True, help="Print each step with its time (same as planner -v hosting).")
@click.pass_context
def hosting_cmd(ctx: click.Context, grid_name: str, out_dir: Path | None, force: bool, supply: str,
                regions_from: str | None, n_1: bool, use: str,
                firm_share: float | None, emergency_rating_factor: float, offpeak_load_factor: float,
                overload_dfax: float, verbose: bool) -> None:
    """Hosting capacity of every bus: the largest new load the bus alone can take before a
    monitored branch reaches its rating (N-0) or, with --n-1, its emergency rating after an
    outage. --use mining gives it for flexible (curtailable) load."""
    import logging

    import numpy as np
    import pandas as pd

    from planner import io
    from planner.network import supply as supply_kinds
    from planner.network.supply import security_hosting

    verbose = verbose or ctx.find_root().obj.get("verbose", False)
    if verbose:
        _verbose_logging()
    log = logging.getLogger("planner.cli").info
    regions = None
    if regions_from is not None:
        if not supply_kinds.of(supply).per_region:
            raise click.UsageError("--regions applies to --supply regional only")
        from planner.config.scenario import load_scenario

        regions = load_scenario(regions_from).supply.regions
        if not regions:
            raise click.UsageError(f"scenario {regions_from} defines no supply.regions")
    # claim --out before the work, as planner solve does: an --out that exists (without --force),
    # cannot be written or is being written by another run fails now
    claim = io.claim_run(out_dir, force) if out_dir is not None else None
    try:
        grid = load_grid_with_progress(ctx, grid_name)
        log(f"grid {grid.name} loaded: {len(grid.buses):,} buses, {len(grid.branches):,} branches")
        kind = supply_kinds.of(supply)
        with progress(ctx, "Building the DC model…"):
            model = kind.dc_model(grid)
        log(f"DC model built: {model.n_bus:,} energized buses, {int(model.monitored.sum()):,} monitored "
            f"branches (supply: {supply})")
        quiet = ctx.find_root().obj.get("quiet", False)
        kw = {"security": "n-1" if n_1 else "n-0", "use": use, "firm_share": firm_share,
              "emergency_rating_factor": emergency_rating_factor, "offpeak_load_factor": offpeak_load_factor,
              "dfax": overload_dfax, "slack": supply, "regions": regions}
        if quiet or verbose or not console.is_terminal:
            frame = security_hosting(grid, model, **kw)
        else:
            from rich.progress import Progress

            with Progress(console=console, transient=True) as bar:   # columns: bar, share done, time left
                task = bar.add_task("Hosting capacity" + (" (N-1)" if n_1 else "")
                                    + (" with redispatch" if kind.dispatches else ""), total=1.0)
                frame = security_hosting(grid, model, progress=lambda done, total: bar.update(
                    task, completed=done / max(total, 1)), **kw)
        finite = frame[np.isfinite(frame["hosting_mw"])]
        out.print(hosting_table(finite))
        limits = pd.Series(frame["limited_by"]).value_counts()
        out.print(f"{len(frame):,} buses of grid {grid.name} ({kw['security'].upper()}, {use}, "
                  f"supply: {supply}); limited by " + ", ".join(f"{k}: {v:,}" for k, v in limits.items()))
        if kind.dispatches:  # the redispatch frame's comparison with the fixed participation
            ratio = frame["redispatch_ratio"].to_numpy(float)
            ok = np.isfinite(ratio)
            both = frame[ok]
            total = both["hosting_mw"].sum() / max(both["fixed_hosting_mw"].sum(), 1e-9)
            out.print(f"redispatch hosts {total:.2f}x the fixed-participation MW in all; "
                      f"per bus {np.min(ratio[ok]):.2f}x to {np.max(ratio[ok]):.2f}x, "
                      f"median {np.median(ratio[ok]):.2f}x; median redispatch needed "
                      f"{np.nanmedian(frame['redispatch_mw']):,.0f} MW at the hosting MW, "
                      f"{np.nanmedian(frame['redispatch_95_mw']):,.0f} MW at 95 % of it" if ok.any() else
                      "no bus can host anything with a fixed participation")
        if claim is not None:
            from planner.viz.plot import hosting_map

            log(f"writing {out_dir}")
            # written into a temporary directory, renamed to --out when complete: a failure leaves nothing
            with progress(ctx, "Writing…"), io.run_directory(out_dir, force, claim=claim) as tmp:
                paths = io.write_hosting(frame, hosting_map(grid, frame), tmp, grid=grid)
            log(f"wrote {', '.join(p.name for p in paths)}")
            for path in paths:
                out.print(f"wrote {out_dir / path.name}")
    finally:
        if claim is not None:
            io.release_run(claim)


def hosting_table(frame) -> Table:
    """Hosting MW by voltage level (median, p10, p90); with redispatch also the fixed-participation
    median and the median ratio."""
    redispatch = "fixed_hosting_mw" in frame
    cols = ["kV", "buses", "median_mw", "p10_mw", "p90_mw"] + (["fixed_median_mw", "median_ratio"] if redispatch
                                                                else [])
    table = Table(*cols, box=None)
    for kv, g in frame.groupby("kv"):
        q = g["hosting_mw"].quantile([0.5, 0.1, 0.9])
        row = [f"{kv:g}", f"{len(g):,}", f"{q[0.5]:,.0f}", f"{q[0.1]:,.0f}", f"{q[0.9]:,.0f}"]
        if redispatch:
            r = g["redispatch_ratio"].dropna()
            row += [f"{g['fixed_hosting_mw'].median():,.0f}", f"{r.median():.2f}" if len(r) else ""]
        table.add_row(*row)
    return table


@contextmanager
def progress_display(ctx: click.Context, quiet: bool = False, verbose: bool = False):
    """Show the ``planner`` logger's INFO messages while a command runs: each step with its time
    (``-v``), a live status line on a terminal (the default), or nothing (``-q``, or output that
    is not a terminal). The handler is removed when the command ends."""
    import logging
    import time

    root = ctx.find_root().obj or {}
    if verbose or root.get("verbose", False):
        _verbose_logging()
        yield
        return
    if quiet or root.get("quiet", False) or not console.is_terminal:
        yield
        return
    log = logging.getLogger("planner")
    t0 = time.perf_counter()
    with console.status("starting…") as status:

        class Status(logging.Handler):
            def emit(self, record: logging.LogRecord) -> None:
                status.update(f"{record.getMessage()}  [dim]({time.perf_counter() - t0:.0f} s)[/dim]")

        handler = Status(logging.INFO)
        level = log.level
        log.addHandler(handler)
        log.setLevel(min(level or logging.INFO, logging.INFO))
        try:
            yield
        finally:
            log.removeHandler(handler)
            log.setLevel(level)


def _default_out(name: str) -> Path:
    import time

    return Path("runs") / f"{name}-{time.strftime('%Y%m%d-%H%M%S')}"


@cli.command("solve")
@click.argument("scenario_file", metavar="SCENARIO")
@click.option("--set", "sets", multiple=True, metavar="KEY=VALUE",
              help="Override a scenario field, e.g. --set economics.hashprice_usd_per_ph_day=35 (repeatable).")
@click.option("--out", "out_dir", type=click.Path(path_type=Path),
              help="Run directory to write (default: output.dir, else runs/<scenario>-<timestamp>).")
@click.option("--force", is_flag=True, help="Replace --out if it exists.")
@click.option("--n-1", "n_1", is_flag=True, help="N-1 security (same as --set constraints.security=n-1).")
@click.option("--supply", type=click.Choice(SUPPLY_RESPONSES), default=None,
              help="Who supplies new load (same as --set grid.supply_response=...) [default: the scenario's, "
                   "headroom].")
@click.option("--format", "gis_format", type=click.Choice(["geojson", "gpkg"]), default=None,
              help="GIS layers: one GeoJSON per layer, or one GeoPackage run.gpkg (same as "
                   "--set output.gis_format=...) [default: output.gis_format, geojson].")
@click.option("--ac-tighten", is_flag=True,
              help="Derate the DC limits of branches AC shows overloaded and solve again (at most ac.max_rounds).")
@click.option("--write-lp", "lp_file", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="Also write the whole model (network rows included) as an LP file that another solver can "
                   "read, e.g. CBC.")
@click.option("-q", "--quiet", is_flag=True, help="No progress display.")
@click.option("-v", "--verbose", is_flag=True, help="Print each step with its time.")
@click.pass_context
def solve_cmd(ctx: click.Context, scenario_file: str, sets: tuple[str, ...], out_dir: Path | None, force: bool,
              n_1: bool, supply: str | None, gis_format: str | None, ac_tighten: bool, lp_file: Path | None,
              quiet: bool, verbose: bool) -> None:
    """Solve the scenario file SCENARIO (a path, or a shipped scenario: texas, us-2028)
    and write its run directory."""
    from planner import io
    from planner.analysis import operators
    from planner.config.scenario import load_scenario
    from planner.run.prepare import run

    sets = sets + (("constraints.security=n-1",) if n_1 else ()) + (("ac.tighten=true",) if ac_tighten else ()) \
        + ((f"output.gis_format={gis_format}",) if gis_format else ()) \
        + ((f"grid.supply_response={supply}",) if supply else ())
    sc = load_scenario(scenario_file, sets)
    out_dir = out_dir or (Path(sc.output.dir) if sc.output.dir else _default_out(sc.name))
    if lp_file is not None:  # a path that cannot be written fails now, not after the solve
        from planner.optimization.lpfile import check_target

        check_target(lp_file)
    # claim the run directory before the solve: an unwritable or busy --out fails now, not after
    claim = io.claim_run(out_dir, force)
    try:
        with progress_display(ctx, quiet, verbose):
            import logging

            logging.getLogger("planner.cli").info(f"scenario {sc.name} read from {sc.label}; loading the engine")
            prep, result = run(sc)
            logging.getLogger("planner.cli").info("per operator: solving without network rows, then without pools")
            operators.attach(prep, result)
            paths = _write_solve(prep, result, out_dir, force, claim)
            if lp_file is not None:
                from planner.optimization.lpfile import write_lp

                logging.getLogger("planner.cli").info(f"writing the model to {lp_file}")
                write_lp(result.solved, lp_file, result.summary.objective_usd)
    finally:
        io.release_run(claim)
    _print_solve(result, out_dir, paths)
    if lp_file is not None:
        click.echo(f"wrote {lp_file}: the whole model in million USD (its first lines give the conversion)")


def _write_solve(prep, result, out_dir: Path, force: bool, claim=None):
    import logging

    log = logging.getLogger("planner.cli").info
    from planner import io
    from planner.analysis.validate import allocated_net, dc_check
    from planner.config.resolved import resolved_scenario
    from planner.viz import plot, webmap

    sc = prep.scenario
    log("checking the allocation with pandapower's DC power flow")
    nets = {}
    validation = {}
    for state in result.states:
        nets[state] = allocated_net(prep.grid, result, state)
        check = dc_check(prep.grid, result, net=nets[state], state=state)
        validation[state] = {
            "dc_power_flow": f"pandapower rundcpp on the allocated case ({_case_name(state)})",
            "max_flow_diff_mw": round(check["max_flow_diff_mw"], 6),
            "monitored_branches_over_limit": check["branches_over_limit"],
            "slack_mw": round(check["slack_mw"], 6),
        }
    result.summary.validation = validation
    log("drawing the maps")
    fig = plot.allocation_map(prep.grid, result) if sc.output.map_png else None
    page = webmap.allocation_html(prep.grid, result) if sc.output.map_html else None
    log(f"writing {out_dir}")
    with io.run_directory(out_dir, force, claim=claim) as tmp:
        cases = {_case_name(k): v for k, v in nets.items()} if sc.output.case_json else {}
        paths = io.write_run(tmp, result, cases=cases, map_png=fig, map_html=page,
                             scenario_yaml=resolved_scenario(sc, prep.params.economics),
                             branch_geometry=prep.grid.branches.geometry, gis_format=sc.output.gis_format)
    return [out_dir / p.name for p in paths]


def _security_line(s) -> str:
    binding = sum(s.network.get("binding_rows", {}).values())
    rows = f"{binding:,} network row{'s' if binding != 1 else ''} priced"
    if s.security != "n-1":
        return f"N-0 ({rows})"
    n1 = s.n_1
    pre = sum(v["count"] for v in n1["preexisting_overloads"].values())
    return (f"N-1: {n1['contingencies_checked']:,} outages ({n1['radial_branches_not_outaged']:,} radial listed), "
            f"{rows}, {pre} pairs over without new load")


def _ac_line(ac: dict) -> str:
    if not ac.get("run"):
        return "skipped: " + ac.get("skipped_reason", "not run")
    if "max_loading_percent" not in ac:
        return "did not converge: " + ac.get("reason", "")
    head = "converged" if ac["converged"] else f"converges with {ac['share_of_new_load']:.0%} of the new load only"
    pre = len(ac.get("preexisting_over_rating", []))
    worst = ac["max_loading_percent"]
    line = (f"{head}; V {ac['min_vm_pu']:.3f}-{ac['max_vm_pu']:.3f} pu; over rating: {ac['caused_by_new_load']} "
            f"by the new load, {pre} already without it "
            + (f"(max {worst:.0f} %)" if worst is not None else "(no rated branch)"))
    rounds = len(ac.get("tighten_rounds", [])) - 1
    if rounds > 0:
        line += f"; {rounds} tightening round(s)"
    return line


def ac_warnings(ac: dict) -> list[str]:
    """WARNING lines for what the AC check blames on the new load (not the branches over their
    rating without it): branches the new load puts over their rating, with the remedy
    (``--ac-tighten``, or what is left after it), and an AC power flow that converges with part
    of the new load only."""
    if not ac.get("run") or "max_loading_percent" not in ac:
        return []
    share = ac.get("share_of_new_load", 1.0)
    n = int(ac.get("caused_by_new_load") or 0)
    lines = []
    if n:
        worst = (ac.get("over_rating") or [{}])[0]
        detail = "; ".join(([f"worst: branch {worst['branch_id']} at {worst['loading_percent']:.0f} %"]
                            if "branch_id" in worst else [])
                           + ([f"AC converges with {share:.0%} of the new load only"] if share < 1.0 else []))
        over = f"{n} branch{'es' if n != 1 else ''} over {'their' if n != 1 else 'its'} rating" + (
            f" ({detail})" if detail else "")
        rounds = len(ac.get("tighten_rounds", [])) - 1
        if rounds < 0:
            lines.append(f"WARNING: AC check: the new load puts {over}: rerun with --ac-tighten to derate them in "
                         "the DC model and solve again")
        else:
            stuck = ac.get("not_removable_by_dc_derating") or []
            left = (f"{len(stuck)} of them cannot be removed by derating DC limits "
                    "(ac_check.not_removable_by_dc_derating in summary.json)" if stuck else
                    "more rounds may remove them (--set ac.max_rounds=...)")
            lines.append(f"WARNING: AC check: after {rounds} --ac-tighten round{'s' if rounds != 1 else ''} the new "
                         f"load still puts {over}: {left}")
    elif share < 1.0 and ac.get("base_case_converged", True):
        lines.append(f"WARNING: AC check: the AC power flow converges with {share:.0%} of the new load only (it "
                     "does without the new load): voltage collapse or a transfer the AC network cannot carry; "
                     "--ac-tighten derates overloaded branches only and cannot fix this")
    return lines


def unmet_line(result) -> str:
    """AI demand unmet (summary.json's unmet_ai_mw) and, when it differs, how the AI MW requested
    at a site and not served there (the map's red circles, the same numbers) becomes it."""
    from planner.viz.plot import unmet_parts

    p = unmet_parts(result)
    line = f"{p['unmet_mw']:,.0f} MW"
    if abs(p["not_served_at_site_mw"] - p["unmet_mw"]) < 0.5:
        return line
    parts = [f"requested at a site, not served there: {p['not_served_at_site_mw']:,.0f} MW, the map's circles"]
    if p["served_elsewhere_mw"] >= 0.5:
        parts.append(f"{p['served_elsewhere_mw']:,.0f} MW of it served at sites without a request")
    if p["requested_without_site_mw"] >= 0.5:
        parts.append(f"plus {p['requested_without_site_mw']:,.0f} MW requested at no site on the map")
    return line + " (" + "; ".join(parts) + ")"


def _case_name(state: str) -> str:
    return "case.json" if state == "peak" else f"case_{state}.json"


def _supply_line(s) -> str:
    kind = s.network.get("supply_response", "headroom")
    r = s.redispatch
    if not r:
        return kind
    cost = r["generation_cost_usd_per_h"]["peak"] - r["reference_generation_cost_usd_per_h"]["peak"]
    return (f"redispatch: {r['moved_mw']['peak']:,.0f} MW moved at peak, generation cost {cost:+,.0f} $/h; "
            f"supply margin ${r['supply_margin_npv_usd'] / 1e9:,.2f} B (in the NPV)")


def _print_solve(result, out_dir: Path, paths) -> None:
    s = result.summary
    out.print(f"scenario {s.scenario} on grid {s.grid}: {s.status}", highlight=False, soft_wrap=True)
    table = Table(box=None, show_header=False)
    gap = s.mip_gap
    requested = f"{s.requested_ai_mw:,.0f} MW"
    if not s.requested_ai_mw:
        requested += " (no AI requests: AI sites build as far as they pay)"
    rows = [
        ("NPV of the allocation", f"${s.objective_usd / 1e9:,.2f} B" + (f" (gap {gap:.2%})" if gap else "")),
        ("AI requested", requested),
        ("AI served", f"{s.served_ai_mw:,.0f} MW"),
        ("AI demand unmet", unmet_line(result)),
        ("mining served", f"{s.served_mining_mw:,.0f} MW"),
        ("mines converted to AI", f"{s.converted_sites} ({s.conversions['ai_at_miner_sites_mw']:,.0f} MW of AI)"
         if s.conversions is not None else str(s.converted_sites)),
        ("paths (MW, sites)", ", ".join(f"{name} {v['mw']:,.0f} ({v['sites']})" for name, v in s.paths.items())
         if s.paths else "-"),
        ("binding branches", f"{s.binding_branches} (max loading {s.max_branch_loading_percent:.1f} %)"),
        ("security", _security_line(s)),
        ("supply response", _supply_line(s)),
        ("AC check", _ac_line(s.ac_check or {})),
        ("not modelled", _not_modelled_line(s.sites)),
        ("time", f"{s.timings_s['total']:.1f} s"),
    ]
    for k, v in rows:
        table.add_row(k, v)
    out.print(table)
    for line in ac_warnings(s.ac_check or {}):
        out.print(line, markup=False, highlight=False, soft_wrap=True)
    if s.regions:
        reg = Table("region", "pool_mw", "requested_mw", "served_ai_mw", "at_miner_sites_mw", "unmet_mw",
                    "mining_mw", box=None)
        for name, r in s.regions.items():
            reg.add_row(name, "-" if r["pool_mw"] is None else f"{r['pool_mw']:,.0f}",
                        f"{r['requested_ai_mw']:,.0f}", f"{r['served_ai_mw']:,.0f}",
                        f"{r['ai_at_miner_sites_mw']:,.0f}", f"{r['unmet_ai_mw']:,.0f}", f"{r['mining_mw']:,.0f}")
        out.print(reg)
    if getattr(result, "timeline", None) is not None:
        _print_timeline(s.timeline)
    if getattr(result, "operators", None) is not None:
        print_operators(result.operators)
    _print_unmet(result.allocation)
    out.print(f"wrote {out_dir}/: " + ", ".join(p.name for p in paths), soft_wrap=True)


def _print_timeline(tl: dict) -> None:
    """The gap per year: AI requested, served (of which at converted mines), unmet, mining."""
    table = Table("year", "requested_mw", "served_ai_mw", "at_converted_mines_mw", "gap_mw", "mining_mw",
                  "energized_mw", box=None, title="year by year (what runs during each year)", title_justify="left")
    for y in map(str, tl["years"]):
        table.add_row(y, f"{tl['requested_ai_mw'][y]:,.0f}", f"{tl['served_ai_mw'][y]:,.0f}",
                      f"{tl['ai_at_converted_mines_mw'][y]:,.0f}", f"{tl['gap_mw'][y]:,.0f}", f"{tl['mining_mw'][y]:,.0f}",
                      f"{tl['new_mw_energized'][y]:,.0f}")
    out.print(table)
    if tl["energized_after_last_year_began_mw"] > 0.5:
        out.print(f"energized after {tl['years'][-1]} began: {tl['energized_after_last_year_began_mw']:,.0f} MW "
                  "(in the end state; their lead times run past its start)", soft_wrap=True)


def print_operators(ops) -> None:
    """Per operator with a modelled site: MW by path, value, $/W and the AI MW the network and the
    pools stop; then the operators with no site on the modelled grid."""
    import numpy as np
    from rich.markup import escape

    from planner.analysis.operators import NOT_ON_GRID

    shown = ops[ops["status"] != NOT_ON_GRID]
    blocked = "ai_blocked_by_network_mw" in ops
    table = Table("operator", "sites modelled", "mining_mw", "ai_lease_mw", "ai_cloud_mw", "value", "$/W",
                  *(("stopped: network_mw", "pools_mw") if blocked else ()), box=None,
                  title="per operator (all columns in operators.csv)", title_justify="left")
    for r in shown.itertuples():
        table.add_row(escape(str(r.operator)), f"{r.sites_modelled}", f"{r.mining_mw:,.0f}", f"{r.ai_lease_mw:,.0f}",
                      f"{r.ai_cloud_mw:,.0f}", f"${r.value_usd / 1e9:,.2f} B",
                      "-" if not np.isfinite(r.usd_per_w) else f"{r.usd_per_w:.2f}",
                      *((f"{r.ai_blocked_by_network_mw:,.0f}", f"{r.ai_blocked_by_pool_mw:,.0f}") if blocked else ()))
    out.print(table)
    absent = ops.loc[ops["status"] == NOT_ON_GRID, "operator"].tolist()
    if absent:
        out.print(f"{NOT_ON_GRID}: " + ", ".join(escape(str(a)) for a in absent), soft_wrap=True)


def _not_modelled_line(sites: dict) -> str:
    if not sites.get("not_modelled"):
        return "none"
    parts = [f"{reason} {v['count']} ({v['mw']:,.0f} MW" + (f": {', '.join(v['site_ids'])})" if v["count"] <= 3 else ")")
             for reason, v in sites["not_modelled_by_reason"].items()]
    n = sites["not_modelled"]
    return (f"{n} site{'s' if n != 1 else ''} or request{'s' if n != 1 else ''}, {sites['not_modelled_mw']:,.0f} MW; "
            + "; ".join(parts))


def _print_unmet(alloc, most: int = 5) -> None:
    """The requests with the most MW not served at their site (as the map's circles; AI served at
    sites without a request counts against the demand of its region), and what limits each."""
    if "requested_mw" not in alloc:
        return
    unmet = alloc["requested_mw"].fillna(0).to_numpy(float) - alloc["ai_mw"].fillna(0).to_numpy(float)
    rows = alloc.assign(unmet_mw=unmet)[unmet > 0.5].sort_values("unmet_mw", ascending=False)
    if not len(rows):
        return
    table = Table("request", "site", "requested_mw", "served_there_mw", "not_served_there_mw", "limited_by", box=None,
                  title=f"largest AI requests not served at their site ({min(most, len(rows))} of {len(rows)}; all "
                        "in allocation.csv)", title_justify="left")
    for r in rows.head(most).itertuples():
        why = r.limited_by + (f": {r.limiting_element}" if isinstance(r.limiting_element, str) and r.limiting_element
                              else "")
        if r.limited_by == "not_modelled":
            why = f"not_modelled: {r.reason}"
        table.add_row(str(r.request), r.site_id, f"{r.requested_mw:,.0f}", f"{r.ai_mw:,.0f}", f"{r.unmet_mw:,.0f}",
                      why)
    out.print(table)


@cli.command("sweep")
@click.argument("scenario_file", metavar="SCENARIO")
@click.option("--vary", "vary", multiple=True, metavar="KEY=SPEC",
              help="A scenario field and its values: a list (120,150,180) or a range LO:HI:STEP (30:60:5, "
                   "inclusive). Several --vary make a cartesian grid.")
@click.option("--samples", type=click.IntRange(1, 1_000_000), default=None, metavar="N",
              help="Instead of --vary: N Monte Carlo scenarios drawn from --distributions.")
@click.option("--seed", type=click.IntRange(0), default=0, show_default=True,
              help="Seed of the Monte Carlo draws (the same seed draws the same scenarios).")
@click.option("--distributions", type=click.Path(path_type=Path), default=None, metavar="FILE",
              help="YAML of one distribution per scenario field, for --samples: uniform {low, high}, normal "
                   "{mean, sd[, low, high]}, triangular {low, mode, high}, choice [values] or {values, weights}.")
@click.option("--set", "sets", multiple=True, metavar="KEY=VALUE",
              help="Override a scenario field in every scenario of the sweep (repeatable).")
@click.option("--out", "out_dir", type=click.Path(path_type=Path), required=True,
              help="Sweep directory: results.csv/.parquet, sites.csv/.parquet, summary.json. Run the same "
                   "command again to finish an interrupted sweep.")
@click.option("--workers", type=click.IntRange(1, 4096), default=None,
              help="Processes of a local Dask cluster; 1 runs in this process without Dask "
                   "[default: one per core, at most one per scenario to run].")
@click.option("--scheduler", metavar="ADDRESS", default=None,
              help="Run on an existing Dask cluster: the address its 'dask scheduler' prints, e.g. "
                   "tcp://10.0.0.5:8786 (workers started with 'dask worker ADDRESS').")
@click.option("-q", "--quiet", is_flag=True, help="No progress display.")
@click.pass_context
def sweep_cmd(ctx: click.Context, scenario_file: str, vary: tuple[str, ...], samples: int | None, seed: int,
              distributions: Path | None, sets: tuple[str, ...], out_dir: Path, workers: int | None,
              scheduler: str | None, quiet: bool) -> None:
    """Solve many what-ifs of SCENARIO: every combination of the --vary values, or --samples N
    Monte Carlo draws; one row each in results.csv (written as each finishes; a rerun skips what
    is finished)."""
    import os

    from planner.sweeps.sweep import finished_ids, make_sweep, run_sweep

    # every value checked before anything runs
    sw = make_sweep(scenario_file, vary, sets, samples=samples, seed=seed, distributions=distributions)
    if workers is None:
        done = finished_ids(out_dir)
        left = sum(cid not in done for cid in sw.ids)
        workers = max(1, min(os.cpu_count() or 1, left))
    quiet = quiet or ctx.find_root().obj.get("quiet", False) or not console.is_terminal
    kw = {"workers": workers, "scheduler": scheduler}
    if quiet:
        results = run_sweep(sw, out_dir, **kw)
    else:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        def rate(task) -> str:
            return f"{task.speed:,.1f} scenarios/s" if task.speed else "- scenarios/s"

        with Progress(TextColumn("sweep"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[rate]}"),
                      TextColumn("ETA"), TimeRemainingColumn(), console=console, transient=True) as bar:
            task = bar.add_task("sweep", total=len(sw.cases), rate="- scenarios/s")

            def advance(done: int, total: int) -> None:
                bar.update(task, completed=done)
                bar.update(task, rate=rate(bar.tasks[0]))

            results = run_sweep(sw, out_dir, progress=advance, **kw)
    counts = results["status"].value_counts()
    out.print(f"sweep of {len(sw.cases)} scenarios: " + ", ".join(f"{n} {s}" for s, n in counts.items()))
    out.print(f"wrote {out_dir}/: results.csv, results.parquet, sites.csv, sites.parquet, sweep.json, summary.json")


@cli.command("economics")
@click.argument("scenario_file", metavar="[SCENARIO]", required=False, default="texas")
@click.option("--set", "sets", multiple=True, metavar="KEY=VALUE",
              help="Override a scenario field, e.g. --set economics.ai_lease_usd_per_kw_month=170 (repeatable).")
@click.option("--mw", type=FiniteFloat(0, 1e6, lo_open=True), default=100.0, show_default=True,
              help="Size of the mine converted, MW of grid connection.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of tables.")
def economics_cmd(scenario_file: str, sets: tuple[str, ...], mw: float, as_json: bool) -> None:
    """What a MW of grid connection is worth on each of a miner's three paths (keep mining, lease a
    powered shell to an AI tenant, run an AI cloud), with the economics of SCENARIO (default: texas,
    whose economics are planner's defaults): the value of converting a running mine to a leased
    powered shell against Morgan Stanley's $5.19-7.81 per W, the input values that move it to either
    end of that range, and the compute revenue at which an AI cloud pays more than the lease."""
    from planner import economics as econ
    from planner.config.scenario import load_scenario

    sc = load_scenario(scenario_file, sets)
    e = econ.Economics().with_overrides(**sc.economics_overrides()).validate()
    paths = {k: float(v) for k, v in econ.path_values_per_mw(e).items()}
    per_w = float(econ.conversion_value_per_w(e))
    drivers = econ.conversion_drivers(e)
    even = float(econ.ai_cloud_breakeven_revenue(e, paths["ai_lease"]))
    report = {"economics": e.as_dict(), "npv_usd_per_mw": paths, "mine_mw": mw,
              "conversion_value_usd": per_w * mw * 1e6, "conversion_value_usd_per_w": per_w,
              "morgan_stanley_usd_per_w": list(econ.MORGAN_STANLEY_USD_PER_W), "drivers": drivers,
              "cloud_breakeven_revenue_usd_per_it_mw_year": even,
              "cloud_breakeven_usd_per_gpu_hour": float(econ.usd_per_gpu_hour(e, even)),
              "cloud_revenue_usd_per_gpu_hour": float(econ.usd_per_gpu_hour(e, e.ai_cloud_revenue_usd_per_it_mw_year))}
    if as_json:
        click.echo(json.dumps(report, indent=2))
        return
    out.print(f"NPV of one MW of grid connection over {e.horizon_years:g} years at {e.discount_rate:.0%} a year "
              f"({sc.name} economics):", markup=False)
    table = Table("path", "$M per MW", "$ per W", box=None)
    for name, v in paths.items():
        table.add_row(name, f"{v / 1e6:,.2f}", f"{v / 1e6:,.2f}")
    out.print(table)
    lo, hi = econ.MORGAN_STANLEY_USD_PER_W
    out.print(f"Converting a running {mw:,.0f} MW mine to a leased powered shell creates ${per_w * mw:,.0f}M: "
              f"{per_w:.2f} $ per W (Morgan Stanley: {lo}-{hi} $ per W).", markup=False)
    moves = Table("input (one at a time)", "now", f"at {lo} $/W", f"at {hi} $/W", box=None)

    def num(v):
        if v is None:
            return "out of range"
        return f"{v:,.0f}" if abs(v) >= 1000 else f"{v:.4g}"

    for d in drivers:
        moves.add_row(d["input"], num(d["now"]), *(num(v) for v in d["at"]))
    out.print(moves)
    out.print(f"An AI cloud pays more than the lease above ${even / 1e6:,.2f}M of compute revenue per MW of IT load "
              f"a year (${report['cloud_breakeven_usd_per_gpu_hour']:.2f} per GPU-hour at "
              f"{e.ai_cloud_it_kw_per_gpu:g} kW per GPU); the economics say "
              f"${e.ai_cloud_revenue_usd_per_it_mw_year / 1e6:,.2f}M (${report['cloud_revenue_usd_per_gpu_hour']:.2f}).",
              markup=False, soft_wrap=True)


@cli.command("compare")
@click.argument("dir_a", metavar="RUN_A|SWEEP_DIR", type=click.Path(path_type=Path))
@click.argument("second", metavar="RUN_B|ID_A")
@click.argument("id_b", metavar="[ID_B]", required=False)
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of tables.")
def compare_cmd(dir_a: Path, second: str, id_b: str | None, as_json: bool) -> None:
    """What changed from run RUN_A to run RUN_B: served MW by use, unmet AI, NPV, sites
    that changed use, branches that became binding or free.

    With a sweep directory and two scenario ids (planner compare SWEEP_DIR ID_A ID_B): the two
    scenarios' varied values, their figures (B - A), the sites whose use or MW changed, and the
    planner solve command that reproduces each (a sweep does not store branches). An id is a
    scenario's id in results.csv (12 hex characters) or a unique prefix of it (4 or more
    characters); in a Monte Carlo sweep (--samples) also sample:N."""
    from rich.markup import escape

    from planner.sweeps.compare import compare_any

    diff = compare_any(dir_a, Path(second) if id_b is None else second, id_b)
    if as_json:  # as it is: never wrapped at the console's width, nothing read as markup or emoji
        click.echo(json.dumps(diff, indent=2, default=str))
        return

    def fmt(v, key):
        if v is None:
            return "-"
        return f"${v / 1e9:,.2f} B" if key.endswith("_usd") else f"{v:,.1f}" if isinstance(v, float) else str(v)

    sweep = diff.get("kind") == "sweep"
    if sweep:
        def name(s: dict) -> str:
            return f"{s['id']}" + (f" (sample {s['sample']})" if "sample" in s else "")

        out.print(f"sweep {diff['sweep']} of {diff['scenario']}:   A = {name(diff['a'])}   B = {name(diff['b'])}",
                  markup=False, emoji=False, soft_wrap=True)
        for label in ("a", "b"):
            s = diff[label]
            if s["status"] != "optimal":
                out.print(f"note: {label.upper()} ({s['id']}) is {s['status'] or 'without a status'}"
                          + (f": {s['reason']}" if s["reason"] else ""), markup=False, emoji=False, soft_wrap=True)

        def shown(v) -> str:
            return escape(v if isinstance(v, str) else json.dumps(v))

        values = Table("varied", "A", "B", "", box=None)
        for v in diff["varied"]:
            values.add_row(escape(v["key"]), shown(v["a"]), shown(v["b"]), "differs" if v["differs"] else "")
        out.print(values)
        table = Table("", "A", "B", "B - A", box=None)
    else:
        table = Table("", "A", "B", "B - A", box=None, title=f"A = {dir_a}   B = {second}")
    for key, m in diff["metrics"].items():
        table.add_row(key, fmt(m["a"], key), fmt(m["b"], key), fmt(m["change"], key))
    out.print(table)
    if diff["sites_changed"]:
        def use(r: dict, label: str) -> str:
            return r[f"use_{label}"] + (", converted" if r.get(f"converted_{label}") else "")

        sites_table = Table("site", "use A", "use B", "AI MW A", "AI MW B", "mining MW A", "mining MW B", box=None,
                            title=f"{len(diff['sites_changed'])} sites changed")
        for r in diff["sites_changed"]:
            sites_table.add_row(escape(str(r["site_id"])), use(r, "a"), use(r, "b"), f"{r['ai_mw_a']:,.0f}",
                                f"{r['ai_mw_b']:,.0f}", f"{r['mining_mw_a']:,.0f}", f"{r['mining_mw_b']:,.0f}")
        out.print(sites_table)
    elif sweep and not diff["sites_compared"]:
        out.print("sites are not compared: a scenario that is not solved has none")
    else:
        out.print("no site changed use or MW")
    if sweep:
        for label in ("a", "b"):
            only = diff[f"sites_only_in_{label}"]
            if only:
                out.print(f"{len(only)} sites only in {label.upper()}: " + ", ".join(only[:20])
                          + (" …" if len(only) > 20 else ""), markup=False)
        out.print(diff["branches"], markup=False, emoji=False, soft_wrap=True)
        out.print("to reproduce with planner solve (a sweep leaves the AC check out unless ac.tighten is on; "
                  "--set ac.check=false does the same):", soft_wrap=True)
        for label in ("a", "b"):
            out.print(f"  {label.upper()}: {diff[label]['command']}", markup=False, emoji=False, soft_wrap=True)
        if not diff["same_grid"]:
            out.print("note: the two scenarios are on different grids")
        return
    for key, label in (("branches_now_binding", "became binding"), ("branches_now_free", "became free")):
        ids = [str(r["branch_id"]) for r in diff[key]]
        out.print(f"{len(ids)} branches {label}" + (": " + ", ".join(ids[:20]) + (" …" if len(ids) > 20 else "")
                                                   if ids else ""))
    if not diff["same_grid"]:
        out.print("note: the two runs are on different grids; branches are compared by id")


def main() -> None:
    """Run the command line; every way it can end prints at most one line on stderr: ``aborted``
    (Ctrl-C, exit 130), ``error: ...`` (exit 2 for bad input or usage, 1 for infeasible or failed)."""
    try:
        try:
            with held_warnings():  # printed when the command ends (dropped on bad input: one line)
                cli.main(standalone_mode=False)
                interrupt.check()  # Ctrl-C pressed but swallowed by a library: still "aborted"
        finally:
            _end_verbose_logging()
    except (click.exceptions.Abort, KeyboardInterrupt):
        click.echo("aborted", err=True)
        sys.exit(130)
    except click.UsageError as exc:
        where = exc.ctx.command_path if exc.ctx is not None else "planner"
        message = " ".join(exc.format_message().split())
        click.echo(f"error: {message} (see '{where} --help')", err=True)
        sys.exit(exc.exit_code)
    except click.ClickException as exc:
        click.echo(f"error: {' '.join(exc.format_message().split())}", err=True)
        sys.exit(exc.exit_code)
    except PlannerError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(exc.exit_code)
    except OSError as exc:  # disk full, permission denied while writing
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)
