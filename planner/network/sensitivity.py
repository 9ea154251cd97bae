"""DC sensitivities of a grid: base-case flows and PTDF columns of candidate buses.

The DC model is pandapower's own: the internal case (``ppci``) that
``rundcpp`` solves, so that the flows and PTDFs here are those of the
pandapower net, lines and transformers alike (tap ratios and phase shifts
included). From it we keep three sparse matrices: ``Bf`` (branch flow per bus
angle), ``B`` (bus injection per angle) and one LU factorization of ``B``
with the reference bus of every island removed. A PTDF column is then one
pair of triangular solves; only the columns of the buses asked for are ever
formed — never a dense bus x bus or branch x bus matrix of the whole grid.

Slack (who picks up a change of load):

* ``single``: the reference bus of the island (pandapower's ``ext_grid``).
  Base flows are exactly those of ``pandapower.rundcpp``; the PTDF equals
  ``pandapower.pypower.makePTDF``.
* ``headroom`` (default): the in-service generators of the island, in
  proportion to their headroom ``max(Pmax - Pg, 0)``.
* ``pmax``: the in-service generators of the island in proportion to Pmax.

With a distributed slack, the base case is balanced first: the shipped
dispatch exceeds the load by the AC losses (1.9 GW on Texas), which a
lossless model would otherwise dump on the reference bus. The surplus of each
island is removed from its generators in proportion to their output. The
distributed PTDF column of bus j is the single-slack column minus the flows
of the island's weight vector: ``PTDF_w[:, j] = PTDF[:, j] - PTDF @ w``.

Sign convention: PTDF columns are for an *injection* at the bus; a new load
of ``x`` MW at bus j changes the flows by ``-PTDF[:, j] * x``. Flows are
measured at the from end of each branch, in MW.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd
import scipy.sparse as sp
import scipy.sparse.linalg as spla
from scipy.sparse import csgraph

from planner.core.errors import InputError

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    import pandapower as pp  # noqa: F401  (registers pandapower's loggers before we quiet them)
    from pandapower.auxiliary import _add_auxiliary_elements, _clean_up, _init_rundcpp_options
    from pandapower.pd2ppc import _pd2ppc
    from pandapower.pypower.idx_brch import BR_STATUS, F_BUS, T_BUS
    from pandapower.pypower.idx_bus import BUS_TYPE, GS, PD, REF
    from pandapower.pypower.idx_gen import GEN_BUS, GEN_STATUS, PG
    from pandapower.pypower.makeBdc import makeBdc

logger = logging.getLogger(__name__)

def row_limit(rating_mw, base_mw):
    """The limit of a network row: its rating, or its flow without new load where that is already
    higher (a pre-existing overload may not get worse; NaN ratings stay NaN)."""
    return np.fmax(rating_mw, np.abs(base_mw))


SLACKS = ("headroom", "pmax", "single")


@dataclass
class DCModel:
    """The DC model of a grid, in pandapower's internal bus and branch order."""

    slack: str
    base_mva: float
    bus_ids: np.ndarray          # pandapower bus index at each internal position
    bus_pos: pd.Series           # bus id -> internal position
    branch_ids: np.ndarray       # grid branch id of each model branch row
    from_pos: np.ndarray
    to_pos: np.ndarray
    Bf: sp.csr_matrix            # p.u. flow per radian of angle
    B: sp.csc_matrix
    pfinj_mw: np.ndarray         # phase-shifter flow offsets
    pbusinj_mw: np.ndarray
    in_service: np.ndarray
    rate_mw: np.ndarray          # NaN = unmonitored
    island: np.ndarray           # island number of each bus position
    refs: np.ndarray             # reference bus position of each island
    nonref: np.ndarray           # bus positions that are not a reference
    lu: object                   # splu of B[nonref, nonref]
    injection_mw: np.ndarray     # balanced base-case net injection per bus
    flow_mw: np.ndarray          # base-case flows
    gens: pd.DataFrame           # slack participants: gen, bus_pos, island, p_mw, max_p_mw, weight, group
    weight_flows: np.ndarray     # (branches x groups) flows of each supply group's weight vector
    #: supply groups of a regional supply response (region, island of each group); None: one group per island
    groups: pd.DataFrame | None = None
    #: results that depend only on the topology (e.g. the N-1 contingencies), reused across solves
    cache: dict = field(default_factory=dict, repr=False)

    @property
    def n_bus(self) -> int:
        return len(self.bus_ids)

    @property
    def n_branch(self) -> int:
        return len(self.branch_ids)

    @property
    def distributed(self) -> bool:
        """New load is shared by generators (``weight_flows``), not taken by the single slack."""
        return self.slack != "single"

    @property
    def monitored(self) -> np.ndarray:
        return np.isfinite(self.rate_mw) & self.in_service

    @property
    def limit_mw(self) -> np.ndarray:
        """Flow limit: the rating, or the base-case flow where that is already higher
        (a pre-existing overload may not get worse). NaN = unmonitored."""
        return np.where(self.monitored, row_limit(self.rate_mw, self.flow_mw), np.nan)

    def positions(self, buses, source: str = "buses") -> np.ndarray:
        """Internal positions of bus ids; a clear error for a bus the model does not have."""
        buses = np.asarray(buses)
        pos = self.bus_pos.reindex(buses).to_numpy()
        missing = np.isnan(pos)
        if missing.any():
            raise InputError("bus is not an energized bus of the grid's DC model", source=source,
                             field="bus", value=buses[missing][0],
                             expected="a bus id of the grid that is in service and connected to a slack")
        return pos.astype(np.int64)

    def __getstate__(self) -> dict:
        """Pickled without the LU factorization (SuperLU objects do not pickle); it is rebuilt from
        ``B`` on unpickling, so a model can be sent to worker processes and reused there."""
        state = dict(self.__dict__)
        state["lu"] = None
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self.lu = _factorize(self.B, self.nonref)

    def group_load(self, load_mw: np.ndarray, groups: np.ndarray | None = None) -> np.ndarray:
        """New load per supply group: ``load_mw`` per bus position (groups = islands), or per
        candidate column with ``groups`` (the supply group of each column)."""
        if groups is None:
            if self.groups is not None:
                raise ValueError("a regional supply response needs the supply group of each load")
            return np.bincount(self.island, weights=load_mw, minlength=len(self.refs))
        return np.bincount(groups, weights=load_mw, minlength=self.weight_flows.shape[1])

    def headroom_mw(self) -> pd.Series:
        """Generation headroom max(Pmax - Pg, 0) of each island, MW."""
        head = np.clip(self.gens["max_p_mw"] - self.gens["p_mw"], 0.0, None)
        return head.groupby(self.gens["island"]).sum().reindex(range(len(self.refs)), fill_value=0.0)


def _quiet_pandapower():
    for name in ("pandapower", "pandapower.auxiliary", "pandapower.pd2ppc"):
        logging.getLogger(name).setLevel(logging.ERROR)


def _slack_weights(slack: str, gens: pd.DataFrame, n_islands: int, refs: np.ndarray) -> pd.DataFrame:
    if slack == "headroom":
        raw = np.clip(gens["max_p_mw"].to_numpy() - gens["p_mw"].to_numpy(), 0.0, None)
    elif slack == "pmax":
        raw = np.clip(gens["max_p_mw"].to_numpy(), 0.0, None)
    else:
        raw = np.zeros(len(gens))
    total = np.bincount(gens["island"].to_numpy(), weights=raw, minlength=n_islands)
    weight = np.divide(raw, total[gens["island"].to_numpy()], out=np.zeros(len(gens)),
                       where=total[gens["island"].to_numpy()] > 0)
    gens = gens.assign(weight=weight, group=gens["island"].to_numpy())
    # an island without any participating generator falls back on its reference bus
    orphan = np.flatnonzero(total <= 0)
    if len(orphan):
        extra = pd.DataFrame({"gen": -1 - orphan, "bus_pos": refs[orphan], "island": orphan,
                              "p_mw": 0.0, "max_p_mw": np.inf, "weight": 1.0, "group": orphan})
        gens = pd.concat([gens, extra], ignore_index=True)
    return gens


def dc_model(grid, slack: str = "headroom") -> DCModel:
    """Build the DC model of ``grid`` (a :class:`planner.data.grid.Grid`) with the given slack."""
    if slack not in SLACKS:
        raise InputError("unknown slack", field="slack", value=slack, expected=" or ".join(SLACKS))
    net = grid.net
    _quiet_pandapower()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _init_rundcpp_options(net, trafo_model="t", trafo_loading="current", recycle=None,
                              check_connectivity=True, switch_rx_ratio=2, trafo3w_losses="hv", numba=False)
        n_gen = len(net.gen)
        _add_auxiliary_elements(net)  # DC lines become pairs of fixed generators, as in rundcpp
        try:
            _, ppci = _pd2ppc(net)
        finally:
            _clean_up(net, res=False)
        if len(net.gen) != n_gen:  # pragma: no cover - depends on pandapower internals
            net.gen = net.gen.iloc[:n_gen]
    base = float(ppci["baseMVA"])
    bus, branch, gen = ppci["bus"], ppci["branch"], ppci["gen"]
    nb, nl = len(bus), len(branch)
    lookup = net._pd2ppc_lookups["bus"]
    ids = net.bus.index.to_numpy()
    internal = lookup[ids]
    energized = (internal >= 0) & (internal < nb)
    bus_ids = np.empty(nb, dtype=np.int64)
    bus_ids[internal[energized]] = ids[energized]
    bus_pos = pd.Series(np.arange(nb), index=pd.Index(bus_ids, name="bus"))

    # branch rows -> grid branch ids
    key = pd.Series(grid.branches.index.to_numpy(),
                    index=pd.MultiIndex.from_arrays([grid.branches["element"].to_numpy(),
                                                     grid.branches["element_index"].to_numpy()]))
    branch_ids = np.full(nl, -1, dtype=np.int64)
    for element, (start, end) in net._pd2ppc_lookups["branch"].items():
        if element not in ("line", "trafo"):
            continue
        idx = pd.MultiIndex.from_arrays([np.repeat(element, end - start), net[element].index.to_numpy()])
        branch_ids[start:end] = key.reindex(idx).to_numpy()
    rate = grid.branches["rate_mw"].reindex(branch_ids).to_numpy(float)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        Bbus, Bf, Pbusinj, Pfinj, _ = makeBdc(bus, branch)
    Bbus = sp.csc_matrix(Bbus)
    Bf = sp.csr_matrix(Bf)[:nl]
    f_pos = branch[:, F_BUS].real.astype(np.int64)
    t_pos = branch[:, T_BUS].real.astype(np.int64)
    live = branch[:, BR_STATUS].real > 0

    graph = sp.csr_matrix((np.ones(live.sum()), (f_pos[live], t_pos[live])), shape=(nb, nb))
    n_islands, island = csgraph.connected_components(graph, directed=False)
    is_ref = bus[:, BUS_TYPE].real == REF
    refs = np.full(n_islands, -1, dtype=np.int64)
    ref_pos = np.flatnonzero(is_ref)
    refs[island[ref_pos][::-1]] = ref_pos[::-1]  # the first reference bus of each island
    gen_on = gen[:, GEN_STATUS].real > 0
    gen_bus = gen[:, GEN_BUS].real.astype(np.int64)
    no_ref = np.flatnonzero(refs < 0)
    for k in no_ref:  # an island without a slack: its largest generator bus becomes the reference
        members = np.flatnonzero(island == k)
        at = gen_bus[gen_on & np.isin(gen_bus, members)]
        refs[k] = at[0] if len(at) else members[0]
    nonref = np.setdiff1d(np.arange(nb), refs)
    lu = _factorize(Bbus, nonref)

    # base-case injections, MW (the DC power flow's P = Cg Pg - Pd - Gs)
    inj = -(bus[:, PD].real + bus[:, GS].real)
    np.add.at(inj, gen_bus[gen_on], gen[gen_on, PG].real)

    # slack participants: the net's in-service generators on energized buses
    g = net.gen[net.gen["in_service"].astype(bool)]
    gpos = lookup[g["bus"].to_numpy()]
    ok = (gpos >= 0) & (gpos < nb)
    g, gpos = g[ok], gpos[ok]
    gens = pd.DataFrame({"gen": g.index.to_numpy(), "bus_pos": gpos, "island": island[gpos],
                         "p_mw": g["p_mw"].to_numpy(float),
                         "max_p_mw": g["max_p_mw"].fillna(g["p_mw"]).to_numpy(float)})
    if slack != "single":
        # remove each island's surplus (the dispatch's losses) in proportion to generator output
        surplus = np.bincount(island, weights=inj, minlength=n_islands)
        out = np.clip(gens["p_mw"].to_numpy(), 0.0, None)
        out_total = np.bincount(gens["island"].to_numpy(), weights=out, minlength=n_islands)
        share = np.divide(out, out_total[gens["island"]], out=np.zeros(len(gens)),
                          where=out_total[gens["island"]] > 0)
        change = -share * surplus[gens["island"]]
        gens["p_mw"] = gens["p_mw"] + change
        np.add.at(inj, gens["bus_pos"].to_numpy(), change)
        unbalanced = np.flatnonzero(out_total[np.arange(n_islands)] <= 0)
        inj[refs[unbalanced]] -= surplus[unbalanced]
    gens = _slack_weights(slack, gens, n_islands, refs)

    pbusinj = Pbusinj.real * base
    pfinj = Pfinj.real[:nl] * base
    theta = np.zeros(nb)
    theta[nonref] = lu.solve((inj[nonref] - pbusinj[nonref]) / base)
    flow = Bf @ theta * base + pfinj

    model = DCModel(
        slack=slack, base_mva=base, bus_ids=bus_ids, bus_pos=bus_pos, branch_ids=branch_ids,
        from_pos=f_pos, to_pos=t_pos, Bf=Bf, B=Bbus, pfinj_mw=pfinj, pbusinj_mw=pbusinj,
        in_service=live, rate_mw=rate, island=island, refs=refs, nonref=nonref, lu=lu,
        injection_mw=inj, flow_mw=flow, gens=gens, weight_flows=np.zeros((nl, n_islands)),
    )
    if slack != "single":
        model.weight_flows = _group_flows(model, model.gens, n_islands)
    return model


def _group_flows(model: DCModel, gens: pd.DataFrame, n_groups: int) -> np.ndarray:
    """Flows (branches x groups) of each supply group's generator weight vector."""
    w = np.zeros((model.n_bus, n_groups))
    np.add.at(w, (gens["bus_pos"].to_numpy(), gens["group"].to_numpy()), gens["weight"].to_numpy())
    return solve_flows(model, w)


def regional_model(model: DCModel, gen_region: pd.Series, needed: pd.DataFrame) -> DCModel:
    """The model with a regional supply response: new load of a site in region r (on island i) is
    picked up by the in-service generators of region r on island i, in proportion to their
    headroom ``max(Pmax - Pg, 0)``.

    ``gen_region``: pandapower gen index -> region name. ``needed``: the (region, island) pairs
    that carry candidate load; each must have a generator with headroom, else a clear error
    naming the region (no silent fallback on other generators). Base flows are those of
    ``model`` (built with the headroom slack)."""
    gens = model.gens.copy()
    region = gen_region.reindex(gens["gen"].to_numpy()).fillna("").astype(str).to_numpy()
    raw = np.clip(gens["max_p_mw"].to_numpy() - gens["p_mw"].to_numpy(), 0.0, None)
    raw[gens["gen"].to_numpy() < 0] = 0.0
    keys = pd.MultiIndex.from_arrays([region, gens["island"].to_numpy()])
    groups = pd.DataFrame({"region": needed["region"].to_numpy(), "island": needed["island"].to_numpy()})
    groups = groups.drop_duplicates().reset_index(drop=True)
    gindex = pd.Series(np.arange(len(groups)),
                       index=pd.MultiIndex.from_arrays([groups["region"], groups["island"]]))
    group = gindex.reindex(keys).to_numpy()
    inside = np.isfinite(group)
    # generators outside every group keep their output (weight 0); every row stays for the dispatch
    raw = np.where(inside, raw, 0.0)
    gens["group"] = np.where(inside, np.nan_to_num(group), 0).astype(np.int64)
    total = np.bincount(gens["group"].to_numpy(), weights=raw, minlength=len(groups))
    empty = np.flatnonzero(total <= 0)
    if len(empty):
        r = groups.iloc[empty[0]]
        raise InputError("a supply region has no generator with headroom on the island of its sites, so "
                         "the regional supply response cannot serve their new load", field="supply_response",
                         value="regional", expected=f"generators with Pmax > Pg in region '{r['region']}' "
                         f"(island {int(r['island'])}), or supply_response headroom")
    gens["weight"] = raw / total[gens["group"].to_numpy()]
    out = replace(model, slack="regional", gens=gens, groups=groups)
    out.weight_flows = _group_flows(out, out.gens, len(groups))
    out.cache = model.cache
    return out


def _factorize(B: sp.csc_matrix, nonref: np.ndarray):
    """Sparse LU of the bus susceptance matrix without the reference buses."""
    return spla.splu(B[nonref][:, nonref].tocsc(), permc_spec="COLAMD")


def ptdf_rows(model: DCModel, rows: np.ndarray, buses=None, chunk: int = 256,
              distributed: bool = True) -> np.ndarray:
    """PTDF rows: the flow on each model branch row in ``rows`` per MW injected at each bus
    (``buses``: bus ids; default every bus), with the model's slack (rows x buses).

    One transposed solve per branch row, ``B' y = Bf[l]'`` (the rows of ``Bf B^-1``), so the
    cost grows with the branches that need a row, not with the buses that inject: the shape a
    model with thousands of generator injections needs. Equal to the transpose of
    :func:`ptdf` columns (a test checks it to 1e-10). ``distributed=False``: single-slack rows
    (the island's reference bus picks up each injection), for injections balanced per island."""
    rows = np.asarray(rows, dtype=np.int64)
    cols = None if buses is None else model.positions(buses)
    out = np.empty((len(rows), model.n_bus if cols is None else len(cols)))
    weights = None
    if distributed and model.distributed and model.groups is None:
        weights = np.zeros((model.n_bus, len(model.refs)))
        np.add.at(weights, (model.gens["bus_pos"].to_numpy(), model.gens["group"].to_numpy()),
                  model.gens["weight"].to_numpy())
    for start in range(0, len(rows), chunk):
        part = rows[start:start + chunk]
        rhs = model.Bf[part][:, model.nonref].T.toarray()
        full = np.zeros((len(part), model.n_bus))
        full[:, model.nonref] = model.lu.solve(np.ascontiguousarray(rhs), trans="T").T
        if weights is not None:  # the island's slack weights pick up each injection
            full -= (full @ weights)[:, model.island]
        out[start:start + len(part)] = full if cols is None else full[:, cols]
    return out


def solve_flows(model: DCModel, injections: np.ndarray, rows: np.ndarray | None = None) -> np.ndarray:
    """Flows (branches x columns, per unit of injection) of single-slack injection columns."""
    theta = np.zeros_like(injections, dtype=float)
    theta[model.nonref] = model.lu.solve(np.ascontiguousarray(injections[model.nonref]))
    Bf = model.Bf if rows is None else model.Bf[rows]
    return np.asarray(Bf @ theta)


def ptdf(model: DCModel, buses, rows: np.ndarray | None = None, chunk: int = 512,
         groups: np.ndarray | None = None, keep: bool = False, sign: float = 1.0) -> np.ndarray:
    """PTDF columns (branch rows x buses) for an injection at each bus id in ``buses``.

    ``rows`` restricts the result to some model branch rows (positions). ``groups``: the supply
    group of each column (a regional supply response); default the bus's island.
    Columns are solved ``chunk`` at a time from the one LU factorization. ``keep``: the result
    (for the island groups) is kept on the model, read-only, and returned again for the same buses
    and rows: the solves of a sweep on one grid compute it once. ``sign``: -1 gives the flow change
    per MW of new *load* (the network rows' sensitivity), without a second copy of the matrix.
    """
    pos = model.positions(buses)
    if groups is None and model.groups is not None:
        raise ValueError("a regional supply response needs the supply group of each column")
    key = None
    if keep and groups is None:  # columns of the model's own slack: the same for every solve on these buses
        key = (model.slack, float(sign), pos.tobytes(),
               None if rows is None else np.asarray(rows, dtype=np.int64).tobytes())
        kept = model.cache.get("ptdf_columns")
        if kept is not None and kept[0] == key:
            return kept[1]
    group = model.island[pos] if groups is None else np.asarray(groups, dtype=np.int64)
    n_rows = model.n_branch if rows is None else len(rows)
    out = np.empty((n_rows, len(pos)))
    wf = model.weight_flows if rows is None else model.weight_flows[rows]
    for start in range(0, len(pos), chunk):
        part = pos[start:start + chunk]
        rhs = np.zeros((model.n_bus, len(part)))
        rhs[part, np.arange(len(part))] = 1.0
        cols = solve_flows(model, rhs, rows)
        if model.distributed:
            cols -= wf[:, group[start:start + len(part)]]
        out[:, start:start + len(part)] = cols if sign == 1.0 else sign * cols
    if key is not None:
        out.flags.writeable = False
        model.cache["ptdf_columns"] = (key, out)
    return out


def screen(base_mw: np.ndarray, limit_mw: np.ndarray, sensitivity: np.ndarray, max_mw,
           chunk: int = 4096) -> np.ndarray:
    """Rows whose flow *could* exceed its limit.

    ``sensitivity`` is the flow change per MW of new load at each candidate
    (rows x candidates), ``max_mw`` the most each candidate can take. A row is
    dropped when ``|f0| + sum_k |s_lk| max_k <= limit``: no allocation in the
    box can overload it. Rows with a NaN limit (unmonitored) are never kept.
    ``chunk`` rows at a time: no temporary copy of the whole matrix.
    """
    max_mw = np.asarray(max_mw, float)
    reach = np.abs(np.asarray(base_mw, float))
    for a in range(0, len(reach), chunk):
        reach[a:a + chunk] = reach[a:a + chunk] + np.abs(sensitivity[a:a + chunk]) @ max_mw
    with np.errstate(invalid="ignore"):
        return np.flatnonzero(reach > limit_mw * (1 - 1e-9))


def dispatch(model: DCModel, new_load_mw: np.ndarray, group_load: np.ndarray | None = None) -> pd.Series:
    """Generator output (MW, by pandapower gen index) that picks up ``new_load_mw``
    (per bus position) as the model assumes (``group_load``: new MW per supply group of a
    regional model)."""
    if group_load is None:
        group_load = model.group_load(new_load_mw)
    g = model.gens
    p = g["p_mw"].to_numpy() + g["weight"].to_numpy() * group_load[g["group"].to_numpy()]
    real = g["gen"].to_numpy() >= 0
    return pd.Series(p[real], index=g["gen"].to_numpy()[real], name="p_mw")


def flows(model: DCModel, new_load_mw: np.ndarray, group_load: np.ndarray | None = None) -> np.ndarray:
    """Branch flows (MW) with extra load (per bus position), by a full DC solve."""
    inj = model.injection_mw - new_load_mw
    if group_load is None:
        group_load = model.group_load(new_load_mw)
    g = model.gens
    np.add.at(inj, g["bus_pos"].to_numpy(), g["weight"].to_numpy() * group_load[g["group"].to_numpy()])
    return injection_flows(model, inj)


def injection_flows(model: DCModel, injection_mw: np.ndarray) -> np.ndarray:
    """Branch flows (MW) of net bus injections ``injection_mw`` (per bus position, balanced per
    island) by one full DC solve."""
    theta = np.zeros(model.n_bus)
    rhs = (injection_mw[model.nonref] - model.pbusinj_mw[model.nonref]) / model.base_mva
    theta[model.nonref] = model.lu.solve(rhs)
    return model.Bf @ theta * model.base_mva + model.pfinj_mw


# --------------------------------------------------------------------------- states and outages


def scaled_loads(model: DCModel, net, factor: float) -> DCModel:
    """The same grid with its loads scaled by ``factor`` (an off-peak hour).

    Every load of the net except the fixed DC-tie exports is multiplied by
    ``factor``; the generators absorb the change of each island in proportion
    to their output (as the loss surplus is removed in :func:`dc_model`), DC ties
    and shunts stay as they are. New load is still picked up by the slack
    weights of ``model``. Returns a copy of ``model`` with the new injections,
    flows and dispatch.
    """
    if factor == 1.0:
        return model
    load = net.load[net.load["in_service"].astype(bool)]
    load = load[~load["name"].fillna("").astype(str).str.startswith("dc tie")]
    pos = model.bus_pos.reindex(load["bus"].to_numpy()).to_numpy()
    ok = np.isfinite(pos)
    change = np.zeros(model.n_bus)
    mw = (load["p_mw"] * load["scaling"]).to_numpy(float)[ok]
    np.add.at(change, pos[ok].astype(np.int64), (1.0 - factor) * mw)  # less load = more injection
    inj = model.injection_mw + change
    island_change = np.bincount(model.island, weights=change, minlength=len(model.refs))
    g = model.gens.copy()
    out = np.clip(g["p_mw"].to_numpy(), 0.0, None) * (g["gen"].to_numpy() >= 0)
    total = np.bincount(g["island"].to_numpy(), weights=out, minlength=len(model.refs))
    share = np.divide(out, total[g["island"]], out=np.zeros(len(g)), where=total[g["island"]] > 0)
    delta = -share * island_change[g["island"].to_numpy()]
    g["p_mw"] = g["p_mw"].to_numpy() + delta
    np.add.at(inj, g["bus_pos"].to_numpy(), delta)
    theta = np.zeros(model.n_bus)
    theta[model.nonref] = model.lu.solve((inj[model.nonref] - model.pbusinj_mw[model.nonref]) / model.base_mva)
    flow = model.Bf @ theta * model.base_mva + model.pfinj_mw
    return replace(model, injection_mw=inj, flow_mw=flow, gens=g)


def transfer_columns(model: DCModel, outages: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Flows on ``rows`` per unit of transfer from the from-bus to the to-bus of each
    outage branch (rows x outages), and the transfer's share on the outage branch itself."""
    f, t = model.from_pos[outages], model.to_pos[outages]
    rhs = np.zeros((model.n_bus, len(outages)))
    cols = np.arange(len(outages))
    np.add.at(rhs, (f, cols), 1.0)
    np.add.at(rhs, (t, cols), -1.0)
    theta = np.zeros_like(rhs)
    theta[model.nonref] = model.lu.solve(np.ascontiguousarray(rhs[model.nonref]))
    own = np.asarray((model.Bf[outages].multiply(theta.T)).sum(axis=1)).ravel()
    return np.asarray(model.Bf[rows] @ theta), own


def lodf(model: DCModel, outages: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Line outage distribution factors: the share of an outaged branch's pre-outage
    flow that moves onto each branch of ``rows`` (rows x outages).

    ``LODF[l, k] = PTDF_l(f_k -> t_k) / (1 - PTDF_k(f_k -> t_k))``. The second array
    flags outages that island the grid (denominator ~ 0): their columns are NaN.
    """
    cols, own = transfer_columns(model, outages, rows)
    denom = 1.0 - own
    islanding = np.abs(denom) < 1e-6
    with np.errstate(divide="ignore", invalid="ignore"):
        out = cols / np.where(islanding, np.nan, denom)[None, :]
    return out, islanding


# --------------------------------------------------------------------------- N-1 on large grids


@dataclass
class SparseLODF:
    """The LODF of every outage, kept where ``|LODF| >= tol`` (grids whose dense branch x outage
    matrix does not fit in memory).

    ``matrix`` (monitored x outages, CSC: one column per outage, indices into the monitored list)
    holds the entries of magnitude ``tol`` or more, the outaged branch's own entry left out.
    ``denom`` is ``1 - PTDF_k(f_k -> t_k)`` of every outage, so that an exact row of the LODF is
    one transposed solve (:func:`lodf_rows`). An entry left out moves at most ``tol * |f_k|``
    MW: a check that allows that margin, and takes exact rows where the margin does not hold, is
    exact."""

    tol: float
    matrix: sp.csc_matrix
    denom: np.ndarray

    @property
    def nbytes(self) -> int:
        m = self.matrix
        return int(m.data.nbytes + m.indices.nbytes + m.indptr.nbytes + self.denom.nbytes)


def transfer_setup(model: DCModel, mon: np.ndarray) -> dict:
    """What every chunk of a column or row pass needs: the factorization, the monitored branches'
    end positions in the reduced system (``inv``: every bus's; the reference buses point at one extra zero row) and
    their susceptance (flow per radian of angle difference)."""
    n = len(model.nonref)
    inv = np.full(model.n_bus, n, dtype=np.int64)
    inv[model.nonref] = np.arange(n)
    pos = mon if len(mon) else np.zeros(0, np.int64)
    b = np.asarray(model.Bf[pos, model.from_pos[pos]]).ravel()
    return {"lu": model.lu, "n": n, "inv": inv, "fm": inv[model.from_pos[mon]], "tm": inv[model.to_pos[mon]], "b": b,
            "Bf": model.Bf[mon][:, model.nonref].tocsr()}


def angles(ctx: dict, rhs: np.ndarray, trans: str = "N") -> np.ndarray:
    """Solutions of the reduced system for the columns of ``rhs`` (reduced rows), with a zero row
    appended for the reference buses."""
    out = np.zeros((ctx["n"] + 1, rhs.shape[1]))
    out[:-1] = ctx["lu"].solve(np.ascontiguousarray(rhs), trans=trans)
    return out


def _lodf_chunk(ctx: dict, k: np.ndarray, tol: float):
    """Thresholded LODF columns of the monitored branches ``k`` (indices into the monitored list) taken out."""
    cols = np.arange(len(k))
    rhs = np.zeros((ctx["n"] + 1, len(k)))
    rhs[ctx["fm"][k], cols] += 1.0
    rhs[ctx["tm"][k], cols] -= 1.0
    theta = angles(ctx, rhs[:-1])
    d = ctx["b"][:, None] * (theta[ctx["fm"]] - theta[ctx["tm"]])   # flow on each monitored branch per unit transfer
    denom = 1.0 - d[k, cols]
    island = np.abs(denom) < 1e-6
    d /= np.where(island, np.inf, denom)[None, :]
    d[k, cols] = 0.0                                                  # the outaged branch itself: left out
    keep = np.abs(d) >= tol
    r, c = np.nonzero(keep.T)                                         # column-major: outage by outage
    counts = np.bincount(r, minlength=len(k))
    return counts, c.astype(np.int32), d.T[keep.T], denom, island


def workers() -> int:
    """Threads for a column pass: the cores this process may use (at most 8)."""
    import os

    try:
        n = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        n = os.cpu_count() or 1
    return max(1, min(n, 8))


def chunk_map(fn, chunks: list, label: str, total: int | None = None, progress=None, n_workers: int | None = None,
              sizes: list | None = None):
    """Yield ``fn(chunk)`` for each chunk (index arrays), in order, computed on :func:`workers`
    threads.

    SuperLU's triangular solves and numpy's array operations release the GIL, so the threads
    run on every core. Each gets one BLAS thread: SuperLU's solve spends its time in small
    dense blocks, where a second BLAS thread costs as much as it gives (on 2 cores, one
    thread per solve and two solves at a time do twice the work of one solve on two BLAS
    threads). Progress (``sizes``: the items of each chunk, default ``len(chunk)``) is logged with
    an ETA about every 10 % once the pass has taken 2 s, and reported to ``progress(done, total)`` after every chunk. Ctrl-C (or
    any error) cancels the chunks not yet started."""
    import time
    from concurrent.futures import ThreadPoolExecutor

    from threadpoolctl import threadpool_limits

    sizes = [len(c) for c in chunks] if sizes is None else sizes
    total = sum(sizes) if total is None else total
    n = n_workers or workers()
    t0, done, next_log = time.perf_counter(), 0, 0.1
    with threadpool_limits(1, user_api="blas"):
        pool = ThreadPoolExecutor(n, thread_name_prefix="planner-chunk") if n > 1 else None
        try:
            results = pool.map(fn, chunks) if pool is not None else map(fn, chunks)
            for size, result in zip(sizes, results):
                yield result
                done += size
                if progress is not None:
                    progress(done, total)
                spent = time.perf_counter() - t0
                if total and spent >= 2.0 and (done / total >= next_log or done == total):  # a quick pass: silent
                    logger.info(f"{label}: {done:,} of {total:,} ({done / total:.0%}, {spent:.0f} s, "
                                f"about {spent / done * (total - done):.0f} s left)")
                    next_log = done / total + 0.1
        finally:
            if pool is not None:
                pool.shutdown(wait=True, cancel_futures=True)


def bridges(model: DCModel, branches: np.ndarray) -> np.ndarray:
    """Which of the model branches ``branches`` island the grid when taken out (their LODF
    column is undefined): :func:`planner.network.topology.radial_mask` of the in-service branches."""
    from planner.network.topology import radial_mask

    live = np.flatnonzero(model.in_service)
    radial = np.zeros(model.n_branch, bool)
    radial[live] = radial_mask(model.from_pos[live], model.to_pos[live], model.n_bus)
    return radial[branches]


def lodf_sparse(model: DCModel, mon: np.ndarray, tol: float = 1e-3, chunk: int = 64
                ) -> tuple[SparseLODF, np.ndarray]:
    """The LODF of every monitored branch ``mon`` (model positions) taken out, against every
    monitored branch, kept above ``tol`` in magnitude; and the flags of outages that island the
    grid (their columns are empty).

    One pass over the outages, ``chunk`` of them per multi-right-hand-side solve of the one
    factorization, on every core (:func:`chunk_map`); never a dense branch x outage matrix: each
    chunk is thresholded as it is solved."""
    m = len(mon)
    ctx = transfer_setup(model, mon)
    counts = np.zeros(m, dtype=np.int64)
    denom = np.zeros(m)
    island = bridges(model, mon)              # radial: no column to solve
    todo = np.flatnonzero(~island)
    chunks = [todo[a:a + chunk] for a in range(0, len(todo), chunk)]
    rows, vals = [], []
    logger.info(f"N-1 LODF columns: {len(todo):,} outages to solve ({int(island.sum()):,} radial branches "
                "island the grid)")
    results = chunk_map(lambda k: _lodf_chunk(ctx, k, tol), chunks, "N-1 LODF columns (outages)", len(todo))
    for k, (cnt, r, v, den, isl) in zip(chunks, results):
        counts[k], denom[k], island[k] = cnt, den, isl
        rows.append(r)
        vals.append(v)
    indptr = np.r_[0, np.cumsum(counts)]
    matrix = sp.csc_matrix((np.concatenate(vals) if vals else np.zeros(0),
                            np.concatenate(rows) if rows else np.zeros(0, np.int32), indptr), shape=(m, m))
    return SparseLODF(tol=float(tol), matrix=matrix, denom=denom), island


def lodf_rows(model: DCModel, mon: np.ndarray, lines: np.ndarray, outages: np.ndarray, denom: np.ndarray,
              ctx: dict | None = None) -> np.ndarray:
    """Exact LODF rows (len(lines) x len(outages)): the share of each outage's pre-outage flow
    that moves onto each monitored branch of ``lines`` (both indices into the monitored list
    ``mon``). One transposed solve per row, ``B' y = Bf[l]'``; ``denom``: ``1 - PTDF_k(f_k -> t_k)``
    of each outage (:class:`SparseLODF`). The entry of a branch against its own outage is 0."""
    ctx = ctx or transfer_setup(model, mon)
    rhs = ctx["Bf"][lines].T.toarray()
    y = angles(ctx, rhs, trans="T")                  # reduced positions x lines
    out = (y[ctx["fm"][outages]] - y[ctx["tm"][outages]]).T / denom[None, :]
    out[np.asarray(lines)[:, None] == np.asarray(outages)[None, :]] = 0.0
    return out
