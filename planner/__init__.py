"""planner: grid capacity and interconnect planning for AI and bitcoin-mining loads.

Public API::

    from planner import load_grid, read_sites, map_sites
    grid = load_grid("texas")            # pandapower net + bus/branch GeoDataFrames
    sites = read_sites("sites/sites.geojson")
    mapped = map_sites(sites, grid)      # nearest eligible bus, distance_km, status
"""

from planner.errors import InfeasibleError, InputError, PlannerError, SolverError
from planner.grid import Grid, load_grid
from planner.sites import map_sites, read_sites, validate_sites
from planner.topology import Topology, topology

__version__ = "0.1.0"

__all__ = [
    "Grid", "InfeasibleError", "InputError", "PlannerError", "SolverError", "Topology",
    "load_grid", "map_sites", "read_sites", "topology", "validate_sites",
]
