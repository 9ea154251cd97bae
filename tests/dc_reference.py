"""An independent lossless DC power flow of the raw TAMU tables: B·theta = P.

Written from the MATPOWER model, not from planner.grid or pandapower: each
in-service branch has susceptance b = 1 / (x * tau) (tau = 1 where the ratio
is 0) and a phase shift phi; the flow from its from bus is
P_f = base_mva * b * (theta_f - theta_t - phi). Injections are in-service
generation at Pg, minus load Pd and shunt Gs, plus DC lines at their
scheduled Pf (taken at the from end, delivered at the to end). The reference
bus of each interconnect has theta = 0 and absorbs the imbalance.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from planner.datasets import grid_file


def dc_flows(interconnect: str) -> pd.Series:
    """Branch flows at the from bus (MW), indexed by branch_id."""
    bus = pd.read_csv(grid_file("buses.csv.gz"))
    bus = bus[bus["interconnect"] == interconnect]
    br = pd.read_csv(grid_file("branches.csv.gz"))
    br = br[br["from_bus_id"].isin(bus["bus_id"]) & (br["status"] == 1)]
    gen = pd.read_csv(grid_file("plants.csv.gz"))
    gen = gen[gen["bus_id"].isin(bus["bus_id"]) & (gen["status"] == 1)]
    dc = pd.read_csv(grid_file("dclines.csv"))
    dc = dc[dc["status"] == 1]

    pos = pd.Series(np.arange(len(bus)), index=bus["bus_id"].to_numpy())
    n = len(bus)
    p = -bus["Pd"].to_numpy(float) - bus["Gs"].to_numpy(float)
    np.add.at(p, pos.loc[gen["bus_id"]].to_numpy(), gen["Pg"].to_numpy(float))
    for end, sign in (("from_bus_id", -1.0), ("to_bus_id", 1.0)):
        here = dc[dc[end].isin(pos.index)]
        np.add.at(p, pos.loc[here[end]].to_numpy(), sign * here["Pf"].to_numpy(float))

    f = pos.loc[br["from_bus_id"]].to_numpy()
    t = pos.loc[br["to_bus_id"]].to_numpy()
    tau = br["ratio"].replace(0.0, 1.0).to_numpy(float)
    b = 1.0 / (br["x"].to_numpy(float) * tau)
    phi = np.deg2rad(br["angle"].to_numpy(float))
    m = len(br)
    inc = sp.csr_matrix((np.r_[np.ones(m), -np.ones(m)], (np.r_[np.arange(m), np.arange(m)], np.r_[f, t])),
                        shape=(m, n))
    bf = sp.diags(b) @ inc
    bbus = (inc.T @ bf).tocsc()
    p_pu = p / 100.0 - inc.T @ (b * -phi)  # phase shifters act as injections

    ref = pos.loc[bus.loc[bus["type"] == 3, "bus_id"]].to_numpy()
    keep = np.setdiff1d(np.arange(n), ref)
    theta = np.zeros(n)
    theta[keep] = spla.spsolve(bbus[keep][:, keep], p_pu[keep])
    flow = 100.0 * (bf @ theta - b * phi)
    return pd.Series(flow, index=br["branch_id"].to_numpy())
