"""Supply regions of buses: the first region of a scenario's ``supply.regions`` whose states and
interconnects include a bus, as ``planner solve`` places sites and generators and as hosting places
buses."""

from __future__ import annotations

import numpy as np
import pandas as pd


def match_regions(regions: dict, state: np.ndarray, ic: np.ndarray, region: np.ndarray) -> np.ndarray:
    """Fill the empty entries of ``region`` (in place) with the first region of ``regions`` whose
    states and interconnects include each entry's state and interconnect."""
    open_ = region == ""
    for name, r in regions.items():
        match = open_.copy()
        if r.states:
            match &= np.isin(state, [s.upper() for s in r.states])
        if r.interconnects:
            match &= np.isin(np.char.lower(ic.astype(str)), [i.lower() for i in r.interconnects])
        region[match] = name
        open_ &= ~match
    return region


def bus_regions(regions: dict | None, buses: pd.DataFrame) -> np.ndarray:
    """Supply region of each row of ``buses`` (rows of ``grid.buses``), as ``planner solve`` places
    sites and generators: the first of ``regions`` (a scenario's ``supply.regions``) whose states and
    interconnects include it, "" for none; without ``regions``, its interconnect."""
    ic = buses["interconnect"].fillna("").astype(str).to_numpy()
    if not regions:
        return ic.astype(object)
    state = buses["state"].fillna("").astype(str).str.upper().to_numpy() if "state" in buses else \
        np.full(len(buses), "")
    return match_regions(regions, state, ic, np.full(len(buses), "", dtype=object))
