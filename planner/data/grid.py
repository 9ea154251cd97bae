"""Grids: the built-in TAMU synthetic US grid and user-supplied cases, as a
pandapower net plus tidy GeoDataFrames of buses and branches.

Every source is first turned into MATPOWER-like tables (:class:`GridTables`)
and then into a pandapower net by one builder, :func:`build_net`. The net is
built element by element (not through ``pandapower.converter.from_ppc``, which
turns unit-ratio transformers into ``impedance`` elements and changes the
network). Conventions:

* A branch is a transformer when the data says so, when its tap ratio is not
  0 or 1, when it shifts phase, or when its two buses differ in kV.
* The tap ratio tau of a MATPOWER branch sits on its *from* bus. It is written
  into the transformer's rated voltages, not a tap changer: for a tap on the
  high-voltage side ``vn_hv_kv = tau * kV_hv``; for a tap on the low-voltage
  side ``vn_lv_kv = tau * kV_lv``, which gives pandapower's model the ratio
  1/tau seen from the high side and the series impedance referred through
  the ideal transformer (scaled by tau**2): the same admittance matrix as
  MATPOWER's branch model.
* Negative reactances (the star legs of three-winding transformers) are kept,
  through a signed ``vk_percent``.
* ``rateA = 0`` means no limit was given: the branch is *unmonitored*
  (``monitored = False``, ``rate_mw = NaN``), never a 0 MW limit.
* One slack (``ext_grid``) per interconnect, at the bus the data marks as
  reference (type 3).
* Generator cost curves (MATPOWER ``gencost``: the TAMU grid's and a ``.m`` file's)
  go to ``net.poly_cost`` (polynomials) and ``net.pwl_cost`` (piecewise linear), one
  row per generator, in $ although pandapower's column names say "eur". A source
  without costs leaves both tables empty.
* DC lines inside the grid are pandapower ``dcline`` elements; DC ties to an
  interconnect that is not loaded become fixed injections at their terminal
  (an ``sgen`` where power enters, a ``load`` where it leaves), so the flows
  inside a single interconnect equal those of the same interconnect in ``usa``.
"""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from planner.core.errors import InputError, one_line
from planner.data import datasets

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    import pandapower as pp

CRS = "EPSG:4326"

#: built-in grids: name -> (interconnects, description)
BUILTIN_GRIDS: dict[str, tuple[tuple[str, ...], str]] = {
    "texas": (("Texas",), "ERCOT interconnect of the TAMU synthetic US grid (= ACTIVSg2000)"),
    "western": (("Western",), "Western (WECC) interconnect of the TAMU synthetic US grid"),
    "eastern": (("Eastern",), "Eastern interconnect of the TAMU synthetic US grid"),
    "usa": (("Eastern", "Western", "Texas"),
            "all three interconnects of the TAMU synthetic US grid, with their DC lines"),
}

US_STATES = {
    "Alabama": "AL", "Alaska": "AK", "Arizona": "AZ", "Arkansas": "AR", "California": "CA",
    "Colorado": "CO", "Connecticut": "CT", "Delaware": "DE", "District of Columbia": "DC",
    "Florida": "FL", "Georgia": "GA", "Hawaii": "HI", "Idaho": "ID", "Illinois": "IL",
    "Indiana": "IN", "Iowa": "IA", "Kansas": "KS", "Kentucky": "KY", "Louisiana": "LA",
    "Maine": "ME", "Maryland": "MD", "Massachusetts": "MA", "Michigan": "MI", "Minnesota": "MN",
    "Mississippi": "MS", "Missouri": "MO", "Montana": "MT", "Nebraska": "NE", "Nevada": "NV",
    "New Hampshire": "NH", "New Jersey": "NJ", "New Mexico": "NM", "New York": "NY",
    "North Carolina": "NC", "North Dakota": "ND", "Ohio": "OH", "Oklahoma": "OK", "Oregon": "OR",
    "Pennsylvania": "PA", "Rhode Island": "RI", "South Carolina": "SC", "South Dakota": "SD",
    "Tennessee": "TN", "Texas": "TX", "Utah": "UT", "Vermont": "VT", "Virginia": "VA",
    "Washington": "WA", "West Virginia": "WV", "Wisconsin": "WI", "Wyoming": "WY",
}


@dataclass
class GridTables:
    """MATPOWER-like tables: power in MW/MVAr, impedances in p.u. on ``base_mva``
    and the from-bus kV base. Column names follow MATPOWER / powersimdata.

    Generator costs, when the source has them, are columns of ``gen`` (MATPOWER's
    ``gencost``, active power only): ``cost_model`` 2 = polynomial,
    $/h = ``c2`` P**2 + ``c1`` P + ``c0`` with P in MW; ``cost_model`` 1 = piecewise
    linear through ``cost_points``, a tuple of (MW, $/h) points; NaN or no column:
    no cost given.
    """

    bus: pd.DataFrame
    branch: pd.DataFrame
    gen: pd.DataFrame
    dcline: pd.DataFrame
    base_mva: float = 100.0
    #: fixed injections at the grid's edge (DC ties): bus_id, p_mw (> 0 enters the grid), name
    boundary: pd.DataFrame = field(
        default_factory=lambda: pd.DataFrame({"bus_id": [], "p_mw": [], "name": []})
    )


@dataclass
class Grid:
    """A grid ready for planning: the pandapower net and its tidy views.

    ``buses`` is indexed by bus id (= ``net.bus`` index); ``branches`` by
    branch id, with ``element`` ('line' or 'trafo') and ``element_index``
    pointing into the net.
    """

    name: str
    source: str
    net: pp.pandapowerNet
    buses: gpd.GeoDataFrame
    branches: gpd.GeoDataFrame
    tables: GridTables | None = None

    @property
    def interconnects(self) -> list[str]:
        return sorted(self.buses["interconnect"].unique())


# --------------------------------------------------------------------------- sources


def _read_shipped(name: str, **kwargs) -> pd.DataFrame:
    return pd.read_csv(datasets.grid_file(name), **kwargs)


@lru_cache(maxsize=1)
def _tamu_raw() -> dict[str, pd.DataFrame]:
    bus = _read_shipped("buses.csv.gz")
    bus2sub = _read_shipped("bus2sub.csv.gz")
    sub = _read_shipped("substations.csv.gz", keep_default_na=False, na_values=[""])
    zone = _read_shipped("zones.csv")
    bus = bus.merge(bus2sub, on="bus_id", how="left", validate="one_to_one")
    bus = bus.merge(sub.rename(columns={"name": "sub_name"}), on="sub_id", how="left")
    bus = bus.merge(zone[["zone_id", "zone_name", "state"]], on="zone_id", how="left")
    bus["state"] = bus["state"].map(US_STATES).fillna("")
    gen = _read_shipped("plants.csv.gz").rename(columns={"plant_id": "gen_id", "type": "fuel"})
    cost = _read_shipped("gencost.csv.gz").rename(columns={"plant_id": "gen_id", "type": "cost_model"})
    # every plant has one polynomial cost (MATPOWER model 2) of at most 3 coefficients
    if not ((cost["cost_model"] == 2) & (cost["n"] <= 3)).all():
        raise AssertionError("a shipped generator cost is not a polynomial of degree <= 2")
    gen = gen.merge(cost[["gen_id", "cost_model", "c2", "c1", "c0"]], on="gen_id", how="left",
                    validate="one_to_one")
    if gen["cost_model"].isna().any():
        raise AssertionError("a shipped plant has no row in gencost.csv.gz")
    return {
        "bus": bus,
        "branch": _read_shipped("branches.csv.gz"),
        "gen": gen,
        "dcline": _read_shipped("dclines.csv"),
    }


def tamu_tables(interconnects: tuple[str, ...]) -> GridTables:
    """Tables of the TAMU synthetic grid restricted to ``interconnects``."""
    raw = _tamu_raw()
    bus = raw["bus"][raw["bus"]["interconnect"].isin(interconnects)].reset_index(drop=True)
    inside = set(bus["bus_id"])
    br = raw["branch"]
    branch = br[br["from_bus_id"].isin(inside)].reset_index(drop=True)
    if not branch["to_bus_id"].isin(inside).all():  # AC branches never cross interconnects
        raise AssertionError("an AC branch crosses interconnects in the shipped data")
    gen = raw["gen"][raw["gen"]["bus_id"].isin(inside)].reset_index(drop=True)
    dc = raw["dcline"][raw["dcline"]["status"] == 1]
    f_in = dc["from_bus_id"].isin(inside)
    t_in = dc["to_bus_id"].isin(inside)
    dcline = dc[f_in & t_in].reset_index(drop=True)
    # a tie scheduled at Pf with loss0 = loss1 = 0 delivers Pf at its far end
    leaving = dc[f_in & ~t_in]
    entering = dc[~f_in & t_in]
    boundary = pd.DataFrame({
        "bus_id": np.r_[leaving["from_bus_id"], entering["to_bus_id"]].astype(int),
        "p_mw": np.r_[-leaving["Pf"], entering["Pf"]].astype(float),
        "name": [f"dc tie {i}" for i in np.r_[leaving["dcline_id"], entering["dcline_id"]]],
    })
    return GridTables(bus=bus, branch=branch, gen=gen, dcline=dcline, boundary=boundary)


def matpower_tables(path: Path) -> GridTables:
    from planner.data.matpower import read_matpower

    mpc = read_matpower(path)
    bus = mpc["bus"].copy()
    bus["bus_id"] = bus["bus_id"].astype(int)
    bus["interconnect"] = "main"
    branch = mpc["branch"].copy()
    branch.insert(0, "branch_id", np.arange(len(branch)))
    gen = mpc["gen"].copy()
    gen.insert(0, "gen_id", np.arange(len(gen)))
    if len(mpc["gencost"]):  # one row per gen, in gen order (read_matpower checked)
        gen = pd.concat([gen, mpc["gencost"].set_index(gen.index)], axis=1)
    dcline = mpc["dcline"].copy()
    dcline.insert(0, "dcline_id", np.arange(len(dcline)))
    for name, frame in (("branch", branch), ("gen", gen), ("dcline", dcline)):
        cols = ["from_bus_id", "to_bus_id"] if name != "gen" else ["bus_id"]
        for col in cols:
            frame[col] = frame[col].astype(int)
            unknown = ~frame[col].isin(bus["bus_id"])
            if unknown.any():
                raise InputError("refers to a bus that is not in mpc.bus", source=path,
                                 field=f"mpc.{name} column {col}",
                                 value=int(frame.loc[unknown, col].iloc[0]),
                                 expected="a bus number listed in mpc.bus")
    kv = bus["baseKV"].to_numpy(float)
    if not np.all(np.isfinite(kv) & (kv > 0)):
        i = int(np.flatnonzero(~(np.isfinite(kv) & (kv > 0)))[0])
        raise InputError("not a voltage", source=path, field=f"mpc.bus baseKV of bus {int(bus['bus_id'].iloc[i])}",
                         value=float(kv[i]), expected="a finite number of kV > 0")
    if not (bus["type"].to_numpy(int) == 3).any():
        raise InputError("no reference bus", source=path, field="mpc.bus type",
                         expected="one bus of type 3 (the slack)")
    live = branch["status"].to_numpy(float) == 1
    x, r = branch["x"].to_numpy(float), branch["r"].to_numpy(float)
    bad = live & ~(np.isfinite(x) & (x != 0) & np.isfinite(r))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise InputError("impedance not usable", source=path, field=f"mpc.branch row {i + 1}",
                         value=f"r = {r[i]:g} pu, x = {x[i]:g} pu",
                         expected="a finite resistance and a finite, non-zero reactance")
    return GridTables(bus=bus, branch=branch, gen=gen, dcline=dcline, base_mva=mpc["baseMVA"])


# --------------------------------------------------------------------------- builder


def _is_transformer(branch: pd.DataFrame, kv_from: np.ndarray, kv_to: np.ndarray) -> np.ndarray:
    ratio = branch["ratio"].to_numpy(float)
    flagged = (
        branch["branch_device_type"].str.startswith("Transformer").to_numpy()
        if "branch_device_type" in branch
        else np.zeros(len(branch), bool)
    )
    return (
        flagged
        | ((ratio != 0) & (ratio != 1))
        | (branch["angle"].to_numpy(float) != 0)
        | (kv_from != kv_to)
    )


def _pwl_segments(points) -> list[list[float]]:
    """MATPOWER's piecewise-linear points ((p1, f1), ..., (pn, fn)), MW and $/h, as
    pandapower's segments [[p1, p2, slope 1-2], ...] in $/MWh. pandapower keeps only the
    slopes: the cost at p1 (a constant) is not on the net (it is in ``GridTables.gen``)."""
    p = np.array([pt[0] for pt in points], float)
    f = np.array([pt[1] for pt in points], float)
    slope = np.diff(f) / np.diff(p)
    return [[float(a), float(b), float(m)] for a, b, m in zip(p[:-1], p[1:], slope)]


def _add_gen_costs(net: pp.pandapowerNet, gen: pd.DataFrame) -> None:
    """The generators' cost curves onto ``net.poly_cost`` / ``net.pwl_cost``: one row per
    generator that has a cost (in service or not), ``element`` = gen index, ``et`` = 'gen'.
    A source without costs leaves both tables empty: no cost is made up."""
    if "cost_model" not in gen:
        return
    model = gen["cost_model"].to_numpy(float)
    ids = gen["gen_id"].to_numpy(int)
    poly = model == 2
    if poly.any():
        # pandapower's column names say "eur"; the values are the source's $ (TAMU, MATPOWER):
        # cp2_eur_per_mw2 = c2 in $/MW^2h, cp1_eur_per_mw = c1 in $/MWh, cp0_eur = c0 in $/h
        pp.create_poly_costs(
            net, ids[poly], "gen",
            cp1_eur_per_mw=gen["c1"].to_numpy(float)[poly],
            cp2_eur_per_mw2=gen["c2"].to_numpy(float)[poly],
            cp0_eur=gen["c0"].to_numpy(float)[poly],
        )
    pwl = model == 1
    if pwl.any():
        for gen_id, points in zip(ids[pwl], gen["cost_points"].to_numpy()[pwl]):
            # points in MW, slopes in $/MWh (pandapower says eur)
            pp.create_pwl_cost(net, int(gen_id), "gen", points=_pwl_segments(points), power_type="p")


def build_net(tables: GridTables, name: str = "") -> pp.pandapowerNet:
    """Build a pandapower net from :class:`GridTables` (see the module doc for conventions)."""
    bus, branch, gen = tables.bus, tables.branch, tables.gen
    base = float(tables.base_mva)
    net = pp.create_empty_network(name=name, f_hz=60.0, sn_mva=base)
    bus_ids = bus["bus_id"].to_numpy(int)
    kv = bus["baseKV"].to_numpy(float)
    pp.create_buses(
        net, len(bus), vn_kv=kv, index=bus_ids,
        name=bus["sub_name"].fillna("").astype(str).to_numpy() if "sub_name" in bus else None,
        zone=bus["interconnect"].to_numpy(),
        max_vm_pu=bus["Vmax"].to_numpy(float), min_vm_pu=bus["Vmin"].to_numpy(float),
    )
    kv_of = pd.Series(kv, index=bus_ids)

    # loads and shunts (MATPOWER Bs > 0 injects vars; pandapower q_mvar > 0 consumes them)
    has_load = (bus["Pd"] != 0) | (bus["Qd"] != 0)
    pp.create_loads(net, bus_ids[has_load], p_mw=bus.loc[has_load, "Pd"].to_numpy(float),
                    q_mvar=bus.loc[has_load, "Qd"].to_numpy(float))
    has_shunt = (bus["Gs"] != 0) | (bus["Bs"] != 0)
    if has_shunt.any():
        pp.create_shunts(net, bus_ids[has_shunt], q_mvar=-bus.loc[has_shunt, "Bs"].to_numpy(float),
                         p_mw=bus.loc[has_shunt, "Gs"].to_numpy(float))

    # branches: lines and two-winding transformers, indexed by branch id
    f = branch["from_bus_id"].to_numpy(int)
    t = branch["to_bus_id"].to_numpy(int)
    kv_f, kv_t = kv_of.loc[f].to_numpy(), kv_of.loc[t].to_numpy()
    r, x, b = (branch[c].to_numpy(float) for c in ("r", "x", "b"))
    rate = branch["rateA"].to_numpy(float)
    monitored = rate > 0
    ratio = branch["ratio"].to_numpy(float)
    ratio = np.where(ratio == 0, 1.0, ratio)
    shift = branch["angle"].to_numpy(float)
    in_service = branch["status"].to_numpy(int) == 1
    ids = branch["branch_id"].to_numpy(int)
    trafo = _is_transformer(branch, kv_f, kv_t)

    ln = ~trafo
    if ln.any():
        z_base = kv_f[ln] ** 2 / base  # ohm
        rate_ln = np.where(monitored[ln], rate[ln], np.nan)
        pp.create_lines_from_parameters(
            net, f[ln], t[ln], length_km=1.0, index=ids[ln],
            r_ohm_per_km=r[ln] * z_base, x_ohm_per_km=x[ln] * z_base,
            c_nf_per_km=b[ln] / (z_base * 2 * np.pi * 60.0) * 1e9,
            # pandapower needs a current limit: unmonitored lines get a
            # placeholder, flagged by monitored = False and rate_mw = NaN
            max_i_ka=np.where(monitored[ln], rate[ln], 1e5) / (np.sqrt(3) * kv_f[ln]),
            in_service=in_service[ln], rate_mw=rate_ln, monitored=monitored[ln],
        )
    if trafo.any():
        hv_is_from = kv_f[trafo] >= kv_t[trafo]
        hv = np.where(hv_is_from, f[trafo], t[trafo])
        lv = np.where(hv_is_from, t[trafo], f[trafo])
        kv_hv = np.where(hv_is_from, kv_f[trafo], kv_t[trafo])
        kv_lv = np.where(hv_is_from, kv_t[trafo], kv_f[trafo])
        tau = ratio[trafo]
        sn = np.where(monitored[trafo], rate[trafo], base)
        z = np.hypot(r[trafo], x[trafo])
        pp.create_transformers_from_parameters(
            net, hv, lv, index=ids[trafo], sn_mva=sn,
            vn_hv_kv=np.where(hv_is_from, kv_hv * tau, kv_hv),
            vn_lv_kv=np.where(hv_is_from, kv_lv, kv_lv * tau),
            vk_percent=np.where(x[trafo] < 0, -z, z) * 100.0 * sn / base,
            vkr_percent=r[trafo] * 100.0 * sn / base,
            pfe_kw=0.0, i0_percent=0.0,
            shift_degree=np.where(hv_is_from, shift[trafo], -shift[trafo]),
            in_service=in_service[trafo],
            rate_mw=np.where(monitored[trafo], rate[trafo], np.nan), monitored=monitored[trafo],
        )

    # generators: PV at the first in-service unit's voltage set point of each bus
    on = gen["status"].to_numpy(int) == 1
    first_vg = gen[on].groupby("bus_id")["Vg"].first()
    vm = gen["bus_id"].map(first_vg).fillna(1.0).to_numpy(float)
    pp.create_gens(
        net, gen["bus_id"].to_numpy(int), p_mw=gen["Pg"].to_numpy(float), vm_pu=vm,
        index=gen["gen_id"].to_numpy(int), in_service=on,
        max_p_mw=gen["Pmax"].to_numpy(float), min_p_mw=gen["Pmin"].to_numpy(float),
        max_q_mvar=gen["Qmax"].to_numpy(float), min_q_mvar=gen["Qmin"].to_numpy(float),
        type=gen["fuel"].astype(str).to_numpy() if "fuel" in gen else None,
    )

    _add_gen_costs(net, gen)

    # one slack per reference bus (one per interconnect in the built-in grids)
    for ref in bus_ids[bus["type"].to_numpy(int) == 3]:
        pp.create_ext_grid(net, int(ref), vm_pu=float(first_vg.get(ref, 1.0)),
                           name=f"slack {bus.loc[bus['bus_id'] == ref, 'interconnect'].iloc[0]}")

    for row in tables.dcline.itertuples(index=False):
        if int(row.status) != 1:
            continue
        loss_mw = float(row.loss0) + float(row.loss1) * float(row.Pf)
        pp.create_dcline(
            net, int(row.from_bus_id), int(row.to_bus_id), p_mw=float(row.Pf),
            loss_percent=0.0, loss_mw=loss_mw,
            vm_from_pu=float(first_vg.get(row.from_bus_id, 1.0)),
            vm_to_pu=float(first_vg.get(row.to_bus_id, 1.0)),
            max_p_mw=float(row.Pmax), name=f"dcline {int(row.dcline_id)}",
        )
    bd = tables.boundary
    if len(bd):
        enters = bd["p_mw"].to_numpy(float) > 0
        if enters.any():
            pp.create_sgens(net, bd["bus_id"].to_numpy(int)[enters], p_mw=bd["p_mw"][enters].to_numpy(),
                            name=bd["name"][enters].to_numpy(), type="dc tie")
        if (~enters).any():
            pp.create_loads(net, bd["bus_id"].to_numpy(int)[~enters],
                            p_mw=-bd["p_mw"][~enters].to_numpy(), name=bd["name"][~enters].to_numpy())
    return net


# --------------------------------------------------------------------------- tidy views


def bus_frame(tables: GridTables) -> gpd.GeoDataFrame:
    """One row per bus: id, substation, kV, zone, state, interconnect, load, geometry (EPSG:4326)."""
    bus = tables.bus
    gen = tables.gen[tables.gen["status"] == 1]
    cap = gen.groupby("bus_id")["Pmax"].sum()
    lat = bus["lat"].to_numpy(float) if "lat" in bus else np.full(len(bus), np.nan)
    lon = bus["lon"].to_numpy(float) if "lon" in bus else np.full(len(bus), np.nan)
    frame = pd.DataFrame({
        "bus": bus["bus_id"].to_numpy(int),
        "substation": bus["sub_id"].to_numpy() if "sub_id" in bus else pd.NA,
        "substation_name": bus["sub_name"].to_numpy() if "sub_name" in bus else "",
        "kv": bus["baseKV"].to_numpy(float),
        "zone_id": bus["zone_id"].to_numpy(int) if "zone_id" in bus else 0,
        "zone": bus["zone_name"].to_numpy() if "zone_name" in bus else "",
        "state": bus["state"].to_numpy() if "state" in bus else "",
        "interconnect": bus["interconnect"].to_numpy(),
        "load_mw": bus["Pd"].to_numpy(float),
        "generation_capacity_mw": bus["bus_id"].map(cap).fillna(0.0).to_numpy(),
    }, index=pd.Index(bus["bus_id"].to_numpy(int), name="bus_id"))
    located = np.isfinite(lon) & np.isfinite(lat)
    geometry = np.full(len(bus), None, dtype=object)
    geometry[located] = shapely.points(lon[located], lat[located])
    return gpd.GeoDataFrame(frame, geometry=geometry, crs=CRS)


def branch_frame(tables: GridTables, buses: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """One row per AC branch: ends, kind, impedance, ``rate_mw`` (NaN = unmonitored), geometry."""
    br = tables.branch
    f = br["from_bus_id"].to_numpy(int)
    t = br["to_bus_id"].to_numpy(int)
    kv_f = buses["kv"].reindex(f).to_numpy()
    kv_t = buses["kv"].reindex(t).to_numpy()
    trafo = _is_transformer(br, kv_f, kv_t)
    rate = br["rateA"].to_numpy(float)
    ratio = br["ratio"].to_numpy(float)
    # a branch has a geometry only where both of its buses are located
    x = pd.Series(shapely.get_x(buses.geometry.values), index=buses.index)
    y = pd.Series(shapely.get_y(buses.geometry.values), index=buses.index)
    coords = np.stack([np.c_[x.reindex(f), y.reindex(f)], np.c_[x.reindex(t), y.reindex(t)]], axis=1)
    located = np.isfinite(coords).all(axis=(1, 2))
    geometry = np.full(len(br), None, dtype=object)
    if located.any():
        geometry[located] = shapely.linestrings(coords[located])
    ids = br["branch_id"].to_numpy(int)
    frame = pd.DataFrame({
        "branch_id": ids,
        "from_bus": f,
        "to_bus": t,
        "kind": np.where(trafo, "transformer", "line"),
        "element": np.where(trafo, "trafo", "line"),
        "element_index": ids,
        "kv_from": kv_f,
        "kv_to": kv_t,
        "r_pu": br["r"].to_numpy(float),
        "x_pu": br["x"].to_numpy(float),
        "tap_ratio": np.where(ratio == 0, 1.0, ratio),
        "shift_degree": br["angle"].to_numpy(float),
        "rate_mw": np.where(rate > 0, rate, np.nan),
        "monitored": rate > 0,
        "in_service": br["status"].to_numpy(int) == 1,
        "interconnect": buses["interconnect"].reindex(f).to_numpy(),
    }, index=pd.Index(ids, name="branch_id"))
    return gpd.GeoDataFrame(frame, geometry=geometry, crs=CRS)


def grid_from_tables(tables: GridTables, name: str, source: str) -> Grid:
    net = build_net(tables, name=name)
    buses = bus_frame(tables)
    return Grid(name=name, source=source, net=net, buses=buses,
                branches=branch_frame(tables, buses), tables=tables)


def _bus_point(geo: object, bus: object, source: str) -> tuple[float, float]:
    """(lon, lat) of a pandapower ``bus.geo`` entry: a GeoJSON Point as text (or already parsed)."""
    try:
        point = json.loads(geo) if isinstance(geo, str) else geo
        if point.get("type", "Point") != "Point":
            raise ValueError
        lon, lat = (float(v) for v in point["coordinates"][:2])
    except (ValueError, TypeError, KeyError, AttributeError):
        raise InputError("not a point", source=source, field=f"bus.geo of bus {bus}", value=geo,
                         expected='a GeoJSON point, e.g. {"type": "Point", "coordinates": [-97.7, 30.3]}'
                         ) from None
    return lon, lat


def _check_net_branches(net: pp.pandapowerNet, branch: pd.DataFrame, source: str) -> None:
    """A net read from a file can carry a DC model: a slack, in-service branches with finite
    resistance and a finite, non-zero reactance."""
    live = branch["status"].to_numpy(int) == 1
    if not live.any():
        raise InputError("no line or transformer is in service", source=source,
                         expected="a net with in-service branches")
    x, r = branch["x"].to_numpy(float), branch["r"].to_numpy(float)
    bad = live & ~(np.isfinite(x) & (x != 0) & np.isfinite(r))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        element = "line" if i < len(net.line) else "trafo"
        index = net.line.index[i] if element == "line" else net.trafo.index[i - len(net.line)]
        raise InputError("impedance not usable", source=source, field=f"{element} {index}",
                         value=f"r = {r[i]:g} pu, x = {x[i]:g} pu",
                         expected="a finite resistance and a finite, non-zero reactance (length_km > 0)")
    slack = len(net.ext_grid) and net.ext_grid["in_service"].any()
    gen_slack = "slack" in net.gen and (net.gen["slack"].fillna(False).astype(bool) & net.gen["in_service"]).any()
    if not slack and not gen_slack:
        raise InputError("the net has no slack", source=source,
                         expected="an in-service ext_grid (or a gen with slack=True) as the reference bus")


def grid_from_net(net: pp.pandapowerNet, name: str, source: str) -> Grid:
    """Wrap a pandapower net (JSON file, built-in case) with its tidy views.

    Only lines and two-winding transformers are supported as branches.
    """
    for element in ("trafo3w", "impedance", "tcsc", "ssc", "vsc"):
        if element in net and len(net[element]) and net[element]["in_service"].any():
            raise InputError(f"the net has in-service '{element}' elements", source=source,
                             expected="a net whose branches are lines and two-winding transformers")
    sw = net.get("switch")
    if sw is not None and len(sw) and (sw["et"] == "b").any():
        raise InputError("the net has bus-bus switches", source=source,
                         expected="a net without bus-bus switches (fuse them first)")
    kv = net.bus["vn_kv"].to_numpy(float)
    bad_kv = ~(np.isfinite(kv) & (kv > 0))
    if bad_kv.any():
        i = int(np.flatnonzero(bad_kv)[0])
        raise InputError("not a voltage", source=source, field=f"bus.vn_kv of bus {net.bus.index[i]}",
                         value=float(kv[i]), expected="a finite number of kV > 0")
    if len(net.line) + len(net.trafo) == 0:
        raise InputError("the net has no lines or transformers", source=source,
                         expected="a net with branches (lines, two-winding transformers)")
    geo = net.bus["geo"] if "geo" in net.bus else pd.Series(None, index=net.bus.index)
    lon = np.full(len(net.bus), np.nan)
    lat = np.full(len(net.bus), np.nan)
    has_geo = geo.notna().to_numpy()
    if has_geo.any():
        xy = np.array([_bus_point(g, bus, source) for bus, g in geo[has_geo].items()], float)
        lon[has_geo], lat[has_geo] = xy[:, 0], xy[:, 1]
    kv = net.bus["vn_kv"].to_numpy(float)
    bus = pd.DataFrame({
        "bus_id": net.bus.index.to_numpy(int),
        "type": 1, "Pd": 0.0, "Qd": 0.0, "Gs": 0.0, "Bs": 0.0,
        "baseKV": kv, "Vmax": net.bus["max_vm_pu"].to_numpy(float),
        "Vmin": net.bus["min_vm_pu"].to_numpy(float),
        "zone_id": 0, "interconnect": "main", "lat": lat, "lon": lon,
        "sub_name": net.bus["name"].astype(str).to_numpy(),
    })
    load = net.load[net.load["in_service"]].groupby("bus")["p_mw"].sum()
    bus["Pd"] = bus["bus_id"].map(load).fillna(0.0)
    gen = pd.DataFrame({
        "gen_id": net.gen.index.to_numpy(int), "bus_id": net.gen["bus"].to_numpy(int),
        "Pmax": net.gen["max_p_mw"].fillna(0.0).to_numpy(float),
        "status": net.gen["in_service"].astype(int).to_numpy(),
    })
    sb = net.sn_mva
    line, trafo = net.line, net.trafo
    kv_line = net.bus["vn_kv"].loc[line["from_bus"]].to_numpy(float)
    z_line = kv_line**2 / sb
    line_rate = line["max_i_ka"].to_numpy(float) * np.sqrt(3) * kv_line
    n_line = len(line)
    branch = pd.DataFrame({
        "branch_id": np.arange(n_line + len(trafo)),
        "from_bus_id": np.r_[line["from_bus"].to_numpy(int), trafo["hv_bus"].to_numpy(int)],
        "to_bus_id": np.r_[line["to_bus"].to_numpy(int), trafo["lv_bus"].to_numpy(int)],
        "r": np.r_[(line["r_ohm_per_km"] * line["length_km"] / line["parallel"]).to_numpy() / z_line,
                   trafo["vkr_percent"].to_numpy() / 100 * sb / trafo["sn_mva"].to_numpy()],
        "x": np.r_[(line["x_ohm_per_km"] * line["length_km"] / line["parallel"]).to_numpy() / z_line,
                   trafo["vk_percent"].to_numpy() / 100 * sb / trafo["sn_mva"].to_numpy()],
        "b": 0.0,
        # pandapower's converters give 'unlimited' lines a huge max_i_ka: treat >= 1e4 MVA as unmonitored
        "rateA": np.r_[np.where(line_rate < 1e4, line_rate, 0.0), trafo["sn_mva"].to_numpy(float)],
        "ratio": 1.0, "angle": np.r_[np.zeros(n_line), trafo["shift_degree"].to_numpy(float)],
        "status": np.r_[line["in_service"].astype(int).to_numpy(), trafo["in_service"].astype(int).to_numpy()],
        "branch_device_type": ["Line"] * n_line + ["Transformer"] * len(trafo),
    })
    _check_net_branches(net, branch, source)
    tables = GridTables(bus=bus, branch=branch, gen=gen, dcline=pd.DataFrame(), base_mva=sb)
    buses = bus_frame(tables)
    branches = branch_frame(tables, buses)
    branches["element"] = np.r_[["line"] * n_line, ["trafo"] * len(trafo)]
    branches["element_index"] = np.r_[line.index.to_numpy(int), trafo.index.to_numpy(int)]
    return Grid(name=name, source=source, net=net, buses=buses, branches=branches, tables=None)


# --------------------------------------------------------------------------- entry point


def load_grid(name_or_path: str | Path) -> Grid:
    """Load a grid by built-in name, pandapower case name, or file path.

    * ``texas``, ``western``, ``eastern``, ``usa``: the shipped TAMU synthetic grid;
    * ``case118`` and the other ``pandapower.networks`` cases;
    * a pandapower JSON file (``.json``) or a MATPOWER case file (``.m``).
    """
    key = str(name_or_path)
    if key.lower() in BUILTIN_GRIDS:
        interconnects, _ = BUILTIN_GRIDS[key.lower()]
        return grid_from_tables(tamu_tables(interconnects), name=key.lower(),
                                source="TAMU synthetic US grid (powersimdata 0.5.5)")
    path = Path(key)
    if path.suffix.lower() in (".json", ".m"):
        expected = "an existing pandapower JSON or MATPOWER .m file"
        if "\0" in key:
            raise InputError("a path cannot contain a NUL byte", source=path, expected=expected)
        if path.is_dir():
            raise InputError("is a directory", source=path, expected=expected)
        if not path.is_file():
            raise InputError("no such file", source=path, expected=expected)
        if path.suffix.lower() == ".m":
            try:
                tables = matpower_tables(path)
            except UnicodeDecodeError as exc:
                raise InputError(f"not UTF-8 text (byte 0x{exc.object[exc.start]:02x} at offset {exc.start})",
                                 source=path, expected="a MATPOWER case file saved as UTF-8 (or ASCII)") from None
            return grid_from_tables(tables, name=path.stem, source=str(path))
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                net = pp.from_json(str(path))
        except Exception as exc:  # noqa: BLE001 (pandapower raises many kinds on a bad file)
            raise InputError(f"not a pandapower JSON net ({type(exc).__name__}: {one_line(exc)})",
                             source=path) from None
        return grid_from_net(net, name=path.stem, source=str(path))
    import pandapower.networks as pn

    if key.startswith("case") and callable(getattr(pn, key, None)):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            net = getattr(pn, key)()
        return grid_from_net(net, name=key, source=f"pandapower.networks.{key}")
    raise InputError(
        "unknown grid", field="grid", value=key,
        expected=f"one of {', '.join(BUILTIN_GRIDS)}, a pandapower case name such as 'case118', "
        "or a path to a .json or .m file",
    )
