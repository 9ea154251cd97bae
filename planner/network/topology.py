"""Topology of a grid: islands and radial branches (bridges), from networkx.

A branch is *radial* when its outage splits its island: it is a bridge of the
graph of in-service branches and has no parallel twin between the same two
buses. Its LODF column is undefined, so N-1 studies list it instead of
analysing it.
"""

from __future__ import annotations

from dataclasses import dataclass

import networkx as nx
import numpy as np
import pandas as pd


@dataclass
class Topology:
    island_of_bus: pd.Series  # bus id -> island number (0 = largest)
    radial_branches: pd.Index  # branch ids whose outage islands the grid

    @property
    def islands(self) -> int:
        return int(self.island_of_bus.max()) + 1 if len(self.island_of_bus) else 0


def topology(buses: pd.DataFrame, branches: pd.DataFrame) -> Topology:
    """Islands and radial branches of the in-service branches of a grid."""
    live = branches[branches["in_service"]]
    f = live["from_bus"].to_numpy()
    t = live["to_bus"].to_numpy()
    graph = nx.Graph()
    graph.add_nodes_from(buses.index.to_numpy())
    graph.add_edges_from(zip(f.tolist(), t.tolist()))
    components = sorted(nx.connected_components(graph), key=len, reverse=True)
    island = pd.Series(0, index=buses.index, dtype=int)
    for number, members in enumerate(components):
        island.loc[list(members)] = number
    pos = pd.Series(np.arange(len(buses)), index=buses.index)
    radial = radial_mask(pos.loc[f].to_numpy(np.int64), pos.loc[t].to_numpy(np.int64), len(buses))
    return Topology(island_of_bus=island, radial_branches=live.index[radial])


def radial_mask(f: np.ndarray, t: np.ndarray, n: int) -> np.ndarray:
    """Which branches (end positions ``f``, ``t`` in ``0..n-1``) split their island when taken out:
    bridges of their graph with no parallel twin between the same two buses."""
    graph = nx.Graph()
    graph.add_edges_from(zip(f.tolist(), t.tolist()))
    bridge = np.array(list(nx.bridges(graph)), dtype=np.int64).reshape(-1, 2)
    # an unordered bus pair as one int64 key: parallel branches share it
    key = np.minimum(f, t) * n + np.maximum(f, t)
    bridge_key = np.minimum(bridge[:, 0], bridge[:, 1]) * n + np.maximum(bridge[:, 0], bridge[:, 1])
    _, inverse, counts = np.unique(key, return_inverse=True, return_counts=True)
    return np.isin(key, bridge_key) & (counts[inverse] == 1)


def summary(grid, topo: Topology | None = None) -> dict:
    """Size and totals of a grid, as ``planner grids show`` prints them."""
    net, buses, branches = grid.net, grid.buses, grid.branches
    topo = topo or topology(buses, branches)
    gen_on = net.gen[net.gen["in_service"]]
    per_ic = {}
    for ic, group in buses.groupby("interconnect"):
        br = branches[branches["interconnect"] == ic]
        g = gen_on[gen_on["bus"].isin(group.index)]
        per_ic[ic] = {
            "buses": len(group),
            "branches": len(br),
            "load_mw": round(float(group["load_mw"].sum()), 2),
            "generation_capacity_mw": round(float(g["max_p_mw"].sum()), 2),
            "dispatch_mw": round(float(g["p_mw"].sum()), 2),
        }
    kv_levels = {f"{kv:g}": int(n) for kv, n in buses["kv"].value_counts().sort_index().items()}
    return {
        "name": grid.name,
        "source": grid.source,
        "buses": len(buses),
        "branches": len(branches),
        "lines": int((branches["kind"] == "line").sum()),
        "transformers": int((branches["kind"] == "transformer").sum()),
        "monitored_branches": int(branches["monitored"].sum()),
        "unmonitored_branches": int((~branches["monitored"]).sum()),
        "generators": len(net.gen),
        "generators_in_service": len(gen_on),
        "load_mw": round(float(buses["load_mw"].sum()), 2),
        "generation_capacity_mw": round(float(gen_on["max_p_mw"].sum()), 2),
        "dispatch_mw": round(float(gen_on["p_mw"].sum()), 2),
        "dc_lines": len(net.dcline),
        "dc_ties_as_fixed_injections": int(
            (net.sgen["type"] == "dc tie").sum() + net.load["name"].fillna("").str.startswith("dc tie").sum()
        ),
        "interconnects": per_ic,
        "islands": topo.islands,
        "radial_branches": len(topo.radial_branches),
        "kv_levels": kv_levels,
        "has_coordinates": bool(len(buses) and buses.geometry.notna().all()),
    }
