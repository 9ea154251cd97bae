"""planner: grid capacity and interconnect planning for AI and bitcoin-mining loads.

Public API::

    import planner
    grid = planner.load_grid("texas")              # pandapower net + bus/branch GeoDataFrames
    sites = planner.read_sites("sites/sites.geojson")
    mapped = planner.map_sites(sites, grid)        # nearest eligible bus, distance_km, status
    result = planner.plan(grid, mapped, planner.Params())
    result.allocation, result.branches, result.buses, result.summary
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
    "ac_check": "planner.acpf",
    "default_sites": "planner.datasets",
    "Economics": "planner.economics",
    "InfeasibleError": "planner.errors",
    "InputError": "planner.errors",
    "PlannerError": "planner.errors",
    "SolverError": "planner.errors",
    "Grid": "planner.grid",
    "load_grid": "planner.grid",
    "hosting_capacity": "planner.hosting",
    "security_hosting": "planner.hosting",
    "Params": "planner.model",
    "operator_report": ("planner.operators", "attach"),
    "operators_chart": "planner.plot",
    "allocation_map": "planner.plot",
    "prepare": "planner.prepare",
    "run_scenario": ("planner.prepare", "run"),
    "Scenario": "planner.scenario",
    "load_scenario": "planner.scenario",
    "dc_model": "planner.sensitivity",
    "ptdf": "planner.sensitivity",
    "map_sites": "planner.sites",
    "read_sites": "planner.sites",
    "validate_sites": "planner.sites",
    "Result": "planner.result",
    "plan": "planner.solve",
    "sweep": "planner.sweep",
    "read_sweep": "planner.sweep_analysis",
    "site_shares": "planner.sweep_analysis",
    "sweep_heatmap": "planner.sweep_analysis",
    "tipping_points": "planner.sweep_analysis",
    "Timeline": "planner.periods",
    "plan_timeline": "planner.solve",
    "timeline_chart": "planner.plot",
    "Topology": "planner.topology",
    "topology": "planner.topology",
    "allocated_net": "planner.validate",
    "dc_check": "planner.validate",
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
    from planner.acpf import ac_check
    from planner.datasets import default_sites
    from planner.economics import Economics
    from planner.errors import InfeasibleError, InputError, PlannerError, SolverError
    from planner.grid import Grid, load_grid
    from planner.hosting import hosting_capacity, security_hosting
    from planner.model import Params
    from planner.operators import attach as operator_report
    from planner.plot import allocation_map, operators_chart, timeline_chart
    from planner.prepare import prepare
    from planner.prepare import run as run_scenario
    from planner.result import Result
    from planner.scenario import Scenario, load_scenario
    from planner.sensitivity import dc_model, ptdf
    from planner.sites import map_sites, read_sites, validate_sites
    from planner.solve import plan
    from planner.sweep import sweep
    from planner.sweep_analysis import read_sweep, site_shares, sweep_heatmap, tipping_points
    from planner.periods import Timeline
    from planner.solve import plan_timeline
    from planner.topology import Topology, topology
    from planner.validate import allocated_net, dc_check

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
