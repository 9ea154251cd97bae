"""planner: grid capacity and interconnect planning for AI and bitcoin-mining loads.

Public API::

    import planner
    grid = planner.load_grid("texas")              # pandapower net + bus/branch GeoDataFrames
    sites = planner.read_sites("sites/sites.geojson")
    mapped = planner.map_sites(sites, grid)        # nearest eligible bus, distance_km, status
    result = planner.plan(grid, mapped, planner.Params())
    result.allocation, result.branches, result.buses, result.summary
    planner.hosting_capacity(grid)                 # N-0 hosting MW of every bus

    scenario = planner.load_scenario("texas", ["economics.hashprice_usd_per_ph_day=35"])
    prepared, result = planner.run_scenario(scenario)   # the same run as `planner solve`
    planner.allocation_map(grid, result)           # matplotlib figure; planner.dc_check(grid, result)
"""

from planner.acpf import ac_check
from planner.datasets import default_sites
from planner.economics import Economics
from planner.errors import InfeasibleError, InputError, PlannerError, SolverError
from planner.grid import Grid, load_grid
from planner.hosting import hosting_capacity, security_hosting
from planner.model import Params
from planner.plot import allocation_map
from planner.prepare import prepare
from planner.prepare import run as run_scenario
from planner.scenario import Scenario, load_scenario
from planner.sensitivity import dc_model, ptdf
from planner.sites import map_sites, read_sites, validate_sites
from planner.solve import Result, plan
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
    "plan",
    "prepare",
    "ptdf",
    "read_sites",
    "run_scenario",
    "security_hosting",
    "topology",
    "validate_sites",
]
