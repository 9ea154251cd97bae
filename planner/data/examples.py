"""Small grids and sites whose answers can be worked out by hand (tests, notebooks, docs).

* :func:`triangle` — 3 buses, 3 identical lines; slack at bus 1. A load at bus 2
  sends 2/3 of its power over line 1-2 and 1/3 around through bus 3.
* :func:`chain` — 5 buses in a line (radial); every MW of load at a bus flows
  over every line between it and the slack at bus 1.
* :func:`mesh` — 6 buses, 8 lines, two generators; used for random instances.
* :func:`two_regions` — 3 buses in a line, a generator at each end in its own supply region.
* :func:`two_bus` — 2 buses, one line; a cheap generator at the reference bus and a dear one at
  the load bus (redispatch by hand).
* :func:`redispatch_triangle` — 3 buses, 3 identical lines, a generator at buses 1 and 2, load at
  bus 3, line 1-3 the only tight one (hosting capacity with redispatch by hand).
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from planner.data.grid import Grid, GridTables, grid_from_tables


def tables(n_bus: int, lines: list[tuple[int, int, float, float]], gens: list[tuple[int, float, float]],
            loads: dict[int, float] | None = None) -> GridTables:
    """lines: (from, to, x_pu, rate_mw); gens: (bus, Pg, Pmax). Bus 1 is the reference."""
    ids = np.arange(1, n_bus + 1)
    loads = loads or {}
    bus = pd.DataFrame({
        "bus_id": ids, "type": np.where(ids == 1, 3, 1),
        "Pd": [loads.get(int(i), 0.0) for i in ids], "Qd": 0.0, "Gs": 0.0, "Bs": 0.0,
        "baseKV": 230.0, "Vmax": 1.1, "Vmin": 0.9, "zone_id": 1, "zone_name": "example",
        "interconnect": "example", "lat": 31.0 + 0.1 * ids, "lon": -100.0 + 0.1 * ids,
        "sub_name": [f"bus {i}" for i in ids],
    })
    branch = pd.DataFrame({
        "branch_id": np.arange(1, len(lines) + 1),
        "from_bus_id": [a for a, _, _, _ in lines], "to_bus_id": [b for _, b, _, _ in lines],
        "r": 0.0, "x": [x for _, _, x, _ in lines], "b": 0.0,
        "rateA": [r for _, _, _, r in lines], "ratio": 0.0, "angle": 0.0, "status": 1,
        "branch_device_type": "Line",
    })
    gen = pd.DataFrame({
        "gen_id": np.arange(1, len(gens) + 1), "bus_id": [b for b, _, _ in gens],
        "Pg": [p for _, p, _ in gens], "Pmax": [m for _, _, m in gens], "Pmin": 0.0,
        "Qmax": 9999.0, "Qmin": -9999.0, "Vg": 1.0, "status": 1,
    })
    dcline = pd.DataFrame(columns=["dcline_id", "from_bus_id", "to_bus_id", "status", "Pf", "Pmax",
                                   "loss0", "loss1"])
    return GridTables(bus=bus, branch=branch, gen=gen, dcline=dcline)


def triangle(rate_mw: float = 100.0) -> Grid:
    """Buses 1 (slack, generator), 2, 3; lines 1-2, 2-3, 1-3 with equal reactance."""
    t = tables(3, [(1, 2, 0.1, rate_mw), (2, 3, 0.1, rate_mw), (1, 3, 0.1, rate_mw)], [(1, 0.0, 5000.0)])
    return grid_from_tables(t, name="triangle", source="planner.data.examples.triangle")


def chain(rates=(1000.0, 500.0, 400.0, 200.0)) -> Grid:
    """Buses 1..5 in a line; line k joins bus k and k+1 with rating ``rates[k-1]``."""
    t = tables(5, [(k, k + 1, 0.1, r) for k, r in zip(range(1, 5), rates)], [(1, 0.0, 5000.0)])
    return grid_from_tables(t, name="chain", source="planner.data.examples.chain")


def mesh(rate_mw: float = 150.0) -> Grid:
    """Six buses, eight lines of different reactance, generators at buses 1 and 4, some base load."""
    lines = [(1, 2, 0.10, rate_mw), (1, 3, 0.15, rate_mw), (2, 3, 0.08, rate_mw), (2, 4, 0.20, rate_mw),
             (3, 5, 0.12, rate_mw), (4, 5, 0.10, rate_mw), (4, 6, 0.25, rate_mw), (5, 6, 0.18, rate_mw)]
    t = tables(6, lines, [(1, 150.0, 600.0), (4, 100.0, 300.0)], loads={3: 80.0, 5: 70.0, 6: 100.0})
    return grid_from_tables(t, name="mesh", source="planner.data.examples.mesh")


def two_regions(rate_west_mw: float = 50.0, rate_east_mw: float = 100.0) -> Grid:
    """Buses 1 - 2 - 3 in a line: generator 1 at bus 1 (region "W"), generator 2 at bus 3 (region
    "E"), both idle with 500 MW of headroom; line 1-2 rated ``rate_west_mw``, line 2-3 ``rate_east_mw``.
    A new load at bus 2 supplied by region E flows over line 2-3 only; by region W over line 1-2
    only; with the headroom rule half over each."""
    t = tables(3, [(1, 2, 0.1, rate_west_mw), (2, 3, 0.1, rate_east_mw)], [(1, 0.0, 500.0), (3, 0.0, 500.0)])
    return grid_from_tables(t, name="two-regions", source="planner.data.examples.two_regions")


def two_bus(rate_mw: float = 150.0) -> Grid:
    """Bus 1 (reference): generator 1 at $20/MWh, 100 MW. Bus 2: 100 MW of load and generator 2 at
    $50/MWh, idle. One line rated ``rate_mw``. Both generators 0-500 MW, linear costs."""
    import pandapower as pp

    g = grid_from_tables(tables(2, [(1, 2, 0.1, rate_mw)], [(1, 100.0, 500.0), (2, 0.0, 500.0)], loads={2: 100.0}),
                         name="two-bus", source="planner.data.examples.two_bus")
    g.net.poly_cost.drop(g.net.poly_cost.index, inplace=True)
    pp.create_poly_cost(g.net, 1, "gen", cp1_eur_per_mw=20.0)
    pp.create_poly_cost(g.net, 2, "gen", cp1_eur_per_mw=50.0)
    return g


def redispatch_triangle(rate_13_mw: float = 80.0) -> Grid:
    """Buses 1 (reference), 2, 3; lines 1-2, 2-3, 1-3 with equal reactance; only line 1-3 is rated
    ``rate_13_mw`` (the others 1,000 MW). Generator 1 at bus 1 (100 MW, up to 200 MW, $20/MWh),
    generator 2 at bus 2 (idle, up to 100 MW, $50/MWh), 100 MW of load at bus 3. A MW from bus 1
    to bus 3 puts 2/3 MW on line 1-3, a MW from bus 2 to bus 3 puts 1/3 MW on it."""
    import pandapower as pp

    t = tables(3, [(1, 2, 0.1, 1000.0), (2, 3, 0.1, 1000.0), (1, 3, 0.1, rate_13_mw)],
                [(1, 100.0, 200.0), (2, 0.0, 100.0)], loads={3: 100.0})
    g = grid_from_tables(t, name="redispatch-triangle", source="planner.data.examples.redispatch_triangle")
    g.net.poly_cost.drop(g.net.poly_cost.index, inplace=True)
    pp.create_poly_cost(g.net, 1, "gen", cp1_eur_per_mw=20.0)
    pp.create_poly_cost(g.net, 2, "gen", cp1_eur_per_mw=50.0)
    return g


def sites_at(grid: Grid, rows: list[dict]) -> gpd.GeoDataFrame:
    """A mapped site table at given buses: each row needs ``site_id`` and ``bus``; other
    columns (poi_mw, operating_mw, current_use, region, per-site overrides) pass through."""
    frame = pd.DataFrame(rows)
    b = grid.buses.reindex(frame["bus"].to_numpy())
    frame["status"] = "mapped"
    frame["bus_interconnect"] = b["interconnect"].to_numpy()
    frame["bus_kv"] = b["kv"].to_numpy()
    frame["distance_km"] = 0.0
    return gpd.GeoDataFrame(frame, geometry=shapely.points(b.geometry.x.to_numpy(), b.geometry.y.to_numpy()),
                            crs="EPSG:4326")
