"""planner: grid capacity and interconnect planning for AI and bitcoin-mining loads.

Public API::

    import planner
    grid = planner.load_grid("texas")              # pandapower net + bus/branch GeoDataFrames
    sites = planner.read_sites("sites/sites.geojson")
    mapped = planner.map_sites(sites, grid)        # nearest eligible bus, distance_km, status
    result = planner.plan(grid, mapped, planner.Params())
    result.allocation, result.branches, result.buses, result.summary   # summary: a planner.Summary
    planner.hosting_capacity(grid)                 # N-0 hosting MW of every bus
    planner.security_hosting(grid, slack="redispatch")  # ... with any generator dispatch within limits

    scenario = planner.load_scenario("texas", ["economics.hashprice_usd_per_ph_day=35"])
    prepared, result = planner.run_scenario(scenario)   # the same run as `planner solve`
    planner.sweep("texas", ["economics.hashprice_usd_per_ph_day=30:60:10"], "runs/hp")  # DataFrame
    planner.tipping_points("runs/hp", "economics.hashprice_usd_per_ph_day")  # where each site switches
    planner.allocation_map(grid, result)           # matplotlib figure; planner.dc_check(grid, result)
"""

from importlib import import_module
from typing import TYPE_CHECKING

# Public names and the module each lives in. They are imported on first use (PEP 562), so
# `import planner` and `planner --help` do not load pandapower, geopandas or matplotlib.
_EXPORTS = {
    "ac_check": "planner.analysis.acpf",
    "default_sites": "planner.data.datasets",
    "Economics": "planner.economics",
    "InfeasibleError": "planner.core.errors",
    "InputError": "planner.core.errors",
    "PlannerError": "planner.core.errors",
    "SolverError": "planner.core.errors",
    "Grid": "planner.data.grid",
    "load_grid": "planner.data.grid",
    "hosting_capacity": "planner.network.hosting",
    "security_hosting": "planner.network.supply",
    "Params": "planner.optimization.model",
    "operator_report": ("planner.analysis.operators", "attach"),
    "operators_chart": "planner.viz.plot",
    "allocation_map": "planner.viz.plot",
    "prepare": "planner.run.prepare",
    "run_scenario": ("planner.run.prepare", "run"),
    "Scenario": "planner.config.scenario",
    "load_scenario": "planner.config.scenario",
    "dc_model": "planner.network.sensitivity",
    "ptdf": "planner.network.sensitivity",
    "map_sites": "planner.data.sites",
    "read_sites": "planner.data.sites",
    "validate_sites": "planner.data.sites",
    "Result": "planner.optimization.result",
    "Summary": "planner.optimization.summary",
    "plan": "planner.optimization.solve",
    "sweep": "planner.sweeps.sweep",
    "read_sweep": "planner.sweeps.analysis",
    "site_shares": "planner.sweeps.analysis",
    "sweep_heatmap": "planner.sweeps.analysis",
    "tipping_points": "planner.sweeps.analysis",
    "Timeline": "planner.optimization.periods",
    "plan_timeline": "planner.optimization.solve",
    "timeline_chart": "planner.viz.plot",
    "Topology": "planner.network.topology",
    "topology": "planner.network.topology",
    "allocated_net": "planner.analysis.validate",
    "dc_check": "planner.analysis.validate",
}


def __getattr__(name: str):
    target = _EXPORTS.get(name)
    if target is None:
        raise AttributeError(f"module 'planner' has no attribute {name!r}")
    module, attr = target if isinstance(target, tuple) else (target, name)
    value = getattr(import_module(module), attr)
    globals()[name] = value  # next time without __getattr__
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))


if TYPE_CHECKING:  # for type checkers and IDEs: the same names, imported eagerly
    from planner.analysis.acpf import ac_check
    from planner.analysis.operators import attach as operator_report
    from planner.analysis.validate import allocated_net, dc_check
    from planner.config.scenario import Scenario, load_scenario
    from planner.core.errors import InfeasibleError, InputError, PlannerError, SolverError
    from planner.data.datasets import default_sites
    from planner.data.grid import Grid, load_grid
    from planner.data.sites import map_sites, read_sites, validate_sites
    from planner.economics import Economics
    from planner.network.hosting import hosting_capacity
    from planner.network.sensitivity import dc_model, ptdf
    from planner.network.supply import security_hosting
    from planner.network.topology import Topology, topology
    from planner.optimization.model import Params
    from planner.optimization.periods import Timeline
    from planner.optimization.result import Result
    from planner.optimization.solve import plan, plan_timeline
    from planner.optimization.summary import Summary
    from planner.run.prepare import prepare
    from planner.run.prepare import run as run_scenario
    from planner.sweeps.analysis import read_sweep, site_shares, sweep_heatmap, tipping_points
    from planner.sweeps.sweep import sweep
    from planner.viz.plot import allocation_map, operators_chart, timeline_chart

__version__ = "0.1.0"

__all__ = [
    "Economics",
    "Grid",
    "InfeasibleError",
    "InputError",
    "Params",
    "PlannerError",
    "Result",
    "Scenario",
    "SolverError",
    "Summary",
    "Timeline",
    "Topology",
    "ac_check",
    "allocated_net",
    "allocation_map",
    "dc_check",
    "dc_model",
    "default_sites",
    "hosting_capacity",
    "load_grid",
    "load_scenario",
    "map_sites",
    "operator_report",
    "operators_chart",
    "plan",
    "plan_timeline",
    "prepare",
    "ptdf",
    "read_sites",
    "read_sweep",
    "run_scenario",
    "security_hosting",
    "site_shares",
    "sweep",
    "sweep_heatmap",
    "timeline_chart",
    "tipping_points",
    "topology",
    "validate_sites",
]
