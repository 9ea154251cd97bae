"""Independent references built from raw MATPOWER-style tables, written from
the MATPOWER model (not from planner.data.grid or pandapower).

* ``dc_flows_from_tables``: lossless DC power flow B·theta = P. Each in-service
  branch has susceptance b = 1 / (x * tau) (tau = 1 where the ratio is 0) and
  phase shift phi; the flow from its from bus is
  P_f = base * b * (theta_f - theta_t - phi). Injections: in-service Pg minus
  Pd and Gs, plus DC lines at their scheduled Pf (taken at the from end,
  delivered at the to end). Reference buses (type 3) have theta = 0.
* ``ybus_from_tables``: the AC admittance matrix of MATPOWER's makeYbus.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from planner.data.datasets import grid_file


def _incidence(f: np.ndarray, t: np.ndarray, n: int) -> sp.csr_matrix:
    m = len(f)
    rows = np.r_[np.arange(m), np.arange(m)]
    return sp.csr_matrix((np.r_[np.ones(m), -np.ones(m)], (rows, np.r_[f, t])), shape=(m, n))


def dc_flows_from_tables(bus: pd.DataFrame, branch: pd.DataFrame, gen: pd.DataFrame,
                         dcline: pd.DataFrame | None = None, base_mva: float = 100.0) -> pd.Series:
    """Branch flows at the from bus (MW), indexed by branch_id."""
    br = branch[branch["status"] == 1]
    gen = gen[gen["status"] == 1]
    pos = pd.Series(np.arange(len(bus)), index=bus["bus_id"].to_numpy())
    n = len(bus)
    p = -bus["Pd"].to_numpy(float) - bus["Gs"].to_numpy(float)
    np.add.at(p, pos.loc[gen["bus_id"]].to_numpy(), gen["Pg"].to_numpy(float))
    if dcline is not None and len(dcline):
        dc = dcline[dcline["status"] == 1]
        for end, sign in (("from_bus_id", -1.0), ("to_bus_id", 1.0)):
            here = dc[dc[end].isin(pos.index)]
            np.add.at(p, pos.loc[here[end]].to_numpy(), sign * here["Pf"].to_numpy(float))
    f = pos.loc[br["from_bus_id"]].to_numpy()
    t = pos.loc[br["to_bus_id"]].to_numpy()
    tau = br["ratio"].replace(0.0, 1.0).to_numpy(float)
    b = 1.0 / (br["x"].to_numpy(float) * tau)
    phi = np.deg2rad(br["angle"].to_numpy(float))
    inc = _incidence(f, t, n)
    bf = sp.diags(b) @ inc
    bbus = (inc.T @ bf).tocsc()
    p_pu = p / base_mva + inc.T @ (b * phi)  # a phase shifter acts as a pair of injections
    ref = pos.loc[bus.loc[bus["type"] == 3, "bus_id"]].to_numpy()
    keep = np.setdiff1d(np.arange(n), ref)
    theta = np.zeros(n)
    theta[keep] = spla.spsolve(bbus[keep][:, keep], p_pu[keep])
    flow = base_mva * (bf @ theta - b * phi)
    return pd.Series(flow, index=br["branch_id"].to_numpy())


def ybus_from_tables(bus: pd.DataFrame, branch: pd.DataFrame, order: np.ndarray,
                     base_mva: float = 100.0) -> sp.csr_matrix:
    """MATPOWER's Ybus (p.u.), rows and columns in the order of the bus ids ``order``."""
    br = branch[branch["status"] == 1]
    pos = pd.Series(np.arange(len(order)), index=order)
    n = len(order)
    f = pos.loc[br["from_bus_id"]].to_numpy()
    t = pos.loc[br["to_bus_id"]].to_numpy()
    ys = 1.0 / (br["r"].to_numpy(float) + 1j * br["x"].to_numpy(float))
    bc = br["b"].to_numpy(float)
    tap = br["ratio"].replace(0.0, 1.0).to_numpy(float) * np.exp(1j * np.deg2rad(br["angle"].to_numpy(float)))
    ytt = ys + 1j * bc / 2
    yff = ytt / (tap * np.conj(tap))
    yft = -ys / np.conj(tap)
    ytf = -ys / tap
    ysh = np.zeros(n, complex)
    ysh[pos.loc[bus["bus_id"]].to_numpy()] = (bus["Gs"].to_numpy(float) + 1j * bus["Bs"].to_numpy(float)) / base_mva
    rows = np.r_[f, f, t, t]
    cols = np.r_[f, t, f, t]
    vals = np.r_[yff, yft, ytf, ytt]
    return (sp.csr_matrix((vals, (rows, cols)), shape=(n, n)) + sp.diags(ysh)).tocsr()


def raw_tables(interconnect: str) -> dict[str, pd.DataFrame]:
    """The shipped TAMU tables of one interconnect, read directly with pandas."""
    bus = pd.read_csv(grid_file("buses.csv.gz"))
    bus = bus[bus["interconnect"] == interconnect].reset_index(drop=True)
    branch = pd.read_csv(grid_file("branches.csv.gz"))
    branch = branch[branch["from_bus_id"].isin(bus["bus_id"])]
    gen = pd.read_csv(grid_file("plants.csv.gz"))
    gen = gen[gen["bus_id"].isin(bus["bus_id"])]
    dcline = pd.read_csv(grid_file("dclines.csv"))
    return {"bus": bus, "branch": branch, "gen": gen, "dcline": dcline}


def dc_flows(interconnect: str) -> pd.Series:
    t = raw_tables(interconnect)
    return dc_flows_from_tables(t["bus"], t["branch"], t["gen"], t["dcline"])
