"""Assemble a solved allocation into tables and the summary (:class:`planner.optimization.summary.Summary`)."""

from __future__ import annotations

from dataclasses import dataclass, field

import geopandas as gpd
import numpy as np
import pandas as pd

from planner import economics as econ
from planner.network import sensitivity as sens
from planner.optimization.model import shadow as _shadow
from planner.optimization.summary import Summary


@dataclass
class Result:
    status: str
    summary: Summary
    allocation: gpd.GeoDataFrame
    branches: pd.DataFrame
    buses: gpd.GeoDataFrame
    model: sens.DCModel = field(repr=False)
    new_load_mw: pd.Series = field(repr=False)     # bus id -> MW of new load
    dispatch_mw: pd.Series = field(repr=False)     # pandapower gen index -> MW (peak state)
    #: state name -> {"load_mw": bus -> MW counted in that state, "dispatch_mw", "load_factor", "share"}
    states: dict = field(default_factory=dict, repr=False)
    #: redispatch: one row per dispatchable generator (limits, base, reference and new output, cost)
    dispatch_table: pd.DataFrame | None = field(default=None, repr=False)
    #: a timeline's year-by-year table (one row per year and region; planner.optimization.timeline)
    timeline: pd.DataFrame | None = field(default=None, repr=False)
    #: one row per operator (planner.analysis.operators.table), when the run asked for it
    operators: pd.DataFrame | None = field(default=None, repr=False)
    #: the solved model (:class:`planner.optimization.solve.Solved`: operator counterfactuals, --write-lp); not written
    solved: object | None = field(default=None, repr=False)


def _round(x, nd=3):
    return None if x is None or not np.isfinite(x) else round(float(x), nd)


def assemble(grid, sites, model: sens.DCModel, cand, built, net, values: pd.DataFrame, mip: dict,
             lp: dict, existing_capacity: float | None, params, scenario: str | None = None,
             xs: dict | None = None):
    """``xs``: state -> values of the network's injection variables at the MIP's solution (load
    columns first); default: the load columns from ``values``."""
    f = cand.frame
    n = len(f)
    keep, new, ai = (values[c].to_numpy() for c in ("keep_mw", "new_mining_mw", "ai_mw"))
    existing = f["existing_mw"].to_numpy()
    to_ai = np.minimum(ai, existing - keep)  # today's load that moves to AI
    shed = existing - keep - to_ai
    cloud = values["ai_cloud_mw"].to_numpy() if "ai_cloud_mw" in values else np.zeros(n)
    value = (keep * f["v_keep_usd_per_mw"] + new * f["v_new_usd_per_mw"] + ai * f["v_ai_usd_per_mw"]
             + cloud * (f["v_cloud_usd_per_mw"] - f["v_ai_usd_per_mw"])).to_numpy()
    capex = (new * f["capex_new_usd_per_mw"] + ai * f["capex_ai_usd_per_mw"]
             + cloud * (f["capex_cloud_usd_per_mw"] - f["capex_ai_usd_per_mw"])).to_numpy()
    marginal = np.array([_shadow(built.poi.get(i)) for i in range(n)])

    duals = _row_duals(built, net, cand)
    alloc = _allocation_table(sites, cand, values, keep, new, ai, cloud, shed, value, capex, marginal, duals,
                              built, params)
    states, xs = _state_flows(net, cand, keep, new, ai, xs)
    load_by_column = np.bincount(cand.bus_of_site, weights=keep + new + ai, minlength=len(cand.buses))
    load_by_bus = pd.Series(load_by_column, index=pd.Index(cand.buses, name="bus")).groupby(level=0).sum()
    branches, n1 = _branch_table(grid, model, net, states, xs, duals)

    host = bus_hosting(grid, net, cand, params)
    _put(alloc, f["row"].to_numpy(), "bus_hosting_mw", host[cand.bus_of_site], np.nan)
    buses = _bus_table(grid, cand, marginal, load_by_column, host, duals)

    summary = _summary(grid, model, cand, f, keep, new, ai, values, mip, lp, existing_capacity, params,
                       branches, built, scenario, net, value, to_ai, shed, n1, duals, capex,
                       path_totals(f, keep + new, ai - cloud, cloud))
    for v in states.values():
        del v["flow_mw"]
    return Result(status=summary.status, summary=summary, allocation=alloc, branches=branches,
                  buses=buses, model=model, new_load_mw=load_by_bus, dispatch_mw=states["peak"]["dispatch_mw"],
                  states=states)


def _put(alloc: pd.DataFrame, rows: np.ndarray, name: str, data, fill) -> None:
    """Column ``name`` of the allocation (one row per input site): ``data`` at the modelled sites'
    ``rows``, ``fill`` elsewhere."""
    col = np.full(len(alloc), fill, dtype=object if isinstance(fill, str) or fill is None else float)
    col[rows] = data
    alloc[name] = col


def _allocation_table(sites, cand, values: pd.DataFrame, keep, new, ai, cloud, shed, value, capex, marginal,
                      duals: dict, built, params) -> gpd.GeoDataFrame:
    """allocation.csv: one row per input site (modelled or not), its MW per path, value and limit."""
    f = cand.frame
    n = len(f)
    mining = keep + new
    use = np.where((ai > 0) & (mining > 0), "ai+mining", np.where(ai > 0, "ai", np.where(mining > 0, "mining",
                                                                                           "none")))
    alloc = pd.DataFrame(index=pd.RangeIndex(len(sites)))
    rows = f["row"].to_numpy()
    src = sites.reset_index(drop=True)
    for col in ("site_id", "name", "operator", "state", "current_use", "poi_mw", "it_mw", "operating_mw", "request",
                "requested_mw", "bus", "bus_kv", "bus_name", "distance_km"):
        if col in src:
            alloc[col] = src[col].to_numpy()
    geom = src.geometry if isinstance(src, gpd.GeoDataFrame) else gpd.GeoSeries([None] * len(src))
    alloc["lat"] = geom.y.to_numpy()
    alloc["lon"] = geom.x.to_numpy()

    def put(name, data, fill):
        _put(alloc, rows, name, data, fill)

    put("region", f["region"].to_numpy(), "")
    put("use", use, "not_modelled")
    put("cap_mw", f["cap_mw"].to_numpy(), np.nan)
    put("existing_mw", f["existing_mw"].to_numpy(), 0.0)
    put("ai_mw", ai, 0.0)
    put("ai_lease_mw", ai - cloud, 0.0)
    put("ai_cloud_mw", cloud, 0.0)
    put("mining_mw", mining, 0.0)
    put("kept_mining_mw", keep, 0.0)
    put("new_mining_mw", new, 0.0)
    put("shed_mw", shed, 0.0)
    put("value_usd", value, 0.0)
    put("capex_usd", capex, 0.0)
    put("marginal_value_usd_per_mw", marginal, np.nan)
    for name, data in site_paths(f, keep + new, ai - cloud, cloud, value).items():
        put(name, data, "" if data.dtype == object else np.nan)
    conv = np.zeros(len(src), bool)
    conv[rows] = values["converted"].to_numpy(bool) & (f["kind"].to_numpy() == "conversion")
    alloc["converted"] = conv
    reason = np.full(len(src), "", dtype=object)
    reason[cand.skipped["row"].to_numpy()] = cand.skipped["reason"].to_numpy()
    alloc["reason"] = reason
    requested = (pd.to_numeric(src["requested_mw"], errors="coerce").fillna(0.0).to_numpy(float)[rows]
                 if "requested_mw" in src else np.zeros(n))
    limit_kind, limit_what = _limits(f, cand, keep, new, ai, values["converted"].to_numpy(bool), requested,
                                     marginal, duals, built, params)
    put("limited_by", limit_kind, "not_modelled")
    put("limiting_element", limit_what, "")
    return gpd.GeoDataFrame(alloc, geometry=geom.to_numpy(), crs="EPSG:4326")


def _state_flows(net, cand, keep, new, ai, xs: dict | None) -> tuple[dict, dict]:
    """Each load state's new load by bus, dispatch and flows (a full DC solve: exact for every
    branch), and ``xs`` completed with the load columns of the states it lacks."""
    shares = {st.name: st.share for st in net.states}
    states = {}
    xs = dict(xs or {})
    for st in net.states:
        if st.name not in xs:
            mw = (keep + new) * st.share["mining"] + ai * st.share["ai"]
            xs[st.name] = np.bincount(cand.bus_of_site, weights=mw, minlength=len(cand.buses))
        x = xs[st.name]
        by_bus = pd.Series(x[:len(cand.buses)], index=pd.Index(cand.buses, name="bus")).groupby(level=0).sum()
        states[st.name] = {"load_mw": by_bus, "dispatch_mw": net.dispatch(st.name, x),
                           "base_dispatch_mw": net.dispatch(st.name),
                           "flow_mw": net.flows(st.name, x), "load_factor": float(st.load_factor),
                           "share": shares[st.name]}
    return states, xs


def _branch_table(grid, model: sens.DCModel, net, states: dict, xs: dict, duals: dict
                  ) -> tuple[pd.DataFrame, dict | None]:
    """branches.csv (flows, limits, loadings, binding, shadow prices; off-peak and N-1 columns when
    the plan has them) and the N-1 report of the summary (None without N-1)."""
    peak = net.states[0]
    limit = np.full(model.n_branch, np.nan)
    limit[net.mon] = peak.n0.limit
    rate = model.rate_mw
    flow = states["peak"]["flow_mw"]
    with np.errstate(invalid="ignore", divide="ignore"):
        loading = np.abs(flow) / rate * 100.0
    binding = model.monitored & (np.abs(flow) >= limit - 1e-3)
    br = grid.branches.reindex(model.branch_ids)
    # the model's flows run from pandapower's from/hv end; report them from the grid table's from_bus
    # to its to_bus (the TAMU tables put 840 Texas transformers' from_bus on the low-voltage side)
    orient = np.where(br["from_bus"].to_numpy() == model.bus_ids[model.from_pos], 1.0, -1.0)
    branches = pd.DataFrame({
        "branch_id": model.branch_ids,
        "from_bus": br["from_bus"].to_numpy(),
        "to_bus": br["to_bus"].to_numpy(),
        "kind": br["kind"].to_numpy(),
        "monitored": model.monitored,
        "base_flow_mw": orient * model.flow_mw,
        "flow_mw": orient * flow,
        "rate_mw": rate,
        "limit_mw": limit,
        "loading_percent": loading,
        "binding": binding,
        "shadow_price_usd_per_mw": duals["branch"],
        "preexisting_overload": model.monitored & (np.abs(model.flow_mw) > rate * (1 + 1e-9)),
    })
    if "offpeak" in states:
        off = net.state("offpeak")
        off_limit = np.full(model.n_branch, np.nan)
        off_limit[net.mon] = off.n0.limit
        off_flow = states["offpeak"]["flow_mw"]
        with np.errstate(invalid="ignore", divide="ignore"):
            branches["offpeak_base_flow_mw"] = orient * off.model.flow_mw
            branches["offpeak_flow_mw"] = orient * off_flow
            branches["offpeak_loading_percent"] = np.abs(off_flow) / rate * 100.0
        branches["offpeak_limit_mw"] = off_limit
        branches["binding"] |= model.monitored & (np.abs(off_flow) >= off_limit - 1e-3)
    branches["binding"] |= duals["branch"] > 1e-6
    n1 = None
    if net.contingencies is not None:
        n1 = security_report(net, xs, model)
        branches["n1_loading_percent"] = np.nan
        branches["n1_worst_outage_branch_id"] = pd.array([pd.NA] * model.n_branch, dtype="Int64")
        branches.loc[net.mon, "n1_loading_percent"] = n1.pop("_loading")
        worst = n1.pop("_outage")
        branches.loc[net.mon, "n1_worst_outage_branch_id"] = pd.array(
            np.where(worst >= 0, worst, 0), dtype="Int64")
        branches.loc[net.mon[worst < 0], "n1_worst_outage_branch_id"] = pd.NA
        branches["n1_worst_state"] = ""
        branches.loc[net.mon, "n1_worst_state"] = n1.pop("_state")
        branches["n1_worst_preexisting"] = False
        branches.loc[net.mon, "n1_worst_preexisting"] = n1.pop("_preexisting")
    return branches, n1


def _bus_table(grid, cand, marginal: np.ndarray, load_by_column: np.ndarray, host: np.ndarray, duals: dict
               ) -> gpd.GeoDataFrame:
    """buses.csv: one row per candidate column (a bus; under the regional supply response a bus and
    supply region): new load, hosting, marginal value and network cost."""
    bg = grid.buses.reindex(cand.buses)
    best = pd.Series(marginal).groupby(cand.bus_of_site).max()
    buses = gpd.GeoDataFrame({
        "bus": cand.buses,
        "lat": bg.geometry.y.to_numpy(),
        "lon": bg.geometry.x.to_numpy(),
        "kv": bg["kv"].to_numpy(),
        "substation_name": bg["substation_name"].to_numpy(),
        "sites": np.bincount(cand.bus_of_site, minlength=len(cand.buses)),
        "new_load_mw": load_by_column,
        "hosting_mw": host,
        "marginal_value_usd_per_mw": best.reindex(range(len(cand.buses))).to_numpy(),
        "network_cost_usd_per_mw": duals["cost_ai"],
        "network_cost_mining_usd_per_mw": duals["cost_mining"],
    }, geometry=bg.geometry.to_numpy(), crs=grid.buses.crs)
    if cand.column_region is not None:  # regional: one row per bus and supply region
        buses.insert(1, "region", cand.column_region)
    return buses


def bus_hosting(grid, net, cand, params) -> np.ndarray:
    """Hosting capacity (MW) of each candidate column (``cand.buses``; under the regional supply
    response one column per bus and supply region): buses.csv's ``hosting_mw`` and the allocation's
    ``bus_hosting_mw``. What the bus alone could take of new firm load, at the plan's security
    (NaN with ``solver.bus_hosting: false``).

    It is the answer of ``planner hosting`` (:func:`planner.network.supply.security_hosting`) with the plan's
    settings: ``use="ai"`` (all of the load firm, checked at peak only, as the N-0 figure always was;
    ``ai_firm_share`` is not applied), the plan's security (N-1: every outage of the plan's
    contingencies against the emergency rating, ``emergency_rating_factor``), ``overload_dfax`` (a
    branch already over its rating is worsened only from the cut-off), ``offpeak_load_factor`` (it
    plays no part for firm load) and ``rating_derate``, on the DC model of the plan's peak state (of
    the last period of a timeline). Per supply response:

    * ``headroom``, ``pmax``, ``single`` (fixed participation): the first monitored branch to reach
      its rating (N-0) or, after an outage, its emergency rating (N-1) with the new load shared by
      the island's generators in the fixed proportions; with ``headroom`` and ``pmax`` no more than
      the island's generation headroom either;
    * ``regional``: the same with the new load picked up by the generators of the column's supply
      region on its island (the plan's regional model: sites' regions, and generators placed by
      ``Params.gen_regions``, else by their bus's interconnect), no more than their headroom; equal to
      :func:`~planner.network.supply.security_hosting` ``(slack="regional", regions=...)`` with regions that
      place the bus and the generators as the plan does;
    * ``redispatch``: the largest load any dispatch of the generators within their limits can serve
      with every monitored branch within its limit (N-1: preventively, after every outage), an LP per
      candidate bus (:mod:`planner.network.hosting_redispatch`; progress is logged).
    """
    import dataclasses
    import logging
    import time

    logger = logging.getLogger(__name__)
    if not params.bus_hosting:  # solver.bus_hosting: false
        return np.full(len(cand.buses), np.nan)
    peak = net.states[0]
    model = peak.model
    if params.rating_derate:  # the plan's limits: rating x derate (branch id -> factor)
        factor = {int(b): float(f) for b, f in params.rating_derate.items()}
        derate = np.array([factor.get(int(b), 1.0) for b in model.branch_ids])
        model = dataclasses.replace(model, rate_mw=model.rate_mw * derate)
    supply = params.supply
    ids = np.asarray(cand.buses)
    # a regional plan's supply group of each column (None for the other kinds)
    groups = None if peak.groups is None else np.asarray(peak.groups, dtype=np.int64)
    # a warm re-solve (planner.optimization.solve.Warm: only prices changed) keeps its network: the hosting with it
    derate_key = tuple(sorted((int(b), float(f)) for b, f in params.rating_derate.items()))
    key = (supply.name, params.security, float(params.emergency_rating_factor), float(params.overload_dfax),
           float(params.offpeak_load_factor), derate_key, ids.tobytes(), None if groups is None else groups.tobytes())
    kept = net.cache.get("bus_hosting")
    if kept is not None and kept[0] == key:
        return kept[1].copy()
    t = time.perf_counter()
    logger.info(f"hosting capacity of {len(ids):,} candidate bus(es): {params.security.upper()}, firm load, "
                f"supply {supply.name}" + (" (an LP per bus)" if supply.dispatches else ""))
    frame = supply.hosting(grid, model, ids, security=params.security, use="ai",
                           emergency_rating_factor=params.emergency_rating_factor,
                           offpeak_load_factor=params.offpeak_load_factor, dfax=params.overload_dfax,
                           contingencies=net.contingencies, groups=groups)
    if not np.array_equal(frame["bus"].to_numpy(), ids):
        raise RuntimeError("bus hosting: the hosting frame is not in the order of the candidate buses")
    logger.info(f"hosting capacity of the candidate buses: {time.perf_counter() - t:.1f} s")
    host = frame["hosting_mw"].to_numpy(float)
    net.cache["bus_hosting"] = (key, host.copy())
    return host


def path_values(f: pd.DataFrame) -> dict[str, np.ndarray]:
    """NPV per MW of grid power of each path at each modelled site; NaN where the site may not take it.
    Mining: a running mine's MW (``v_keep``) where the site mines today, else new mining MW."""
    existing = f["existing_mw"].to_numpy(float) > 0
    mining = np.where(existing, f["v_keep_usd_per_mw"].to_numpy(float), f["v_new_usd_per_mw"].to_numpy(float))
    return {"mining": np.where(f["allow_mining"].to_numpy(bool), mining, np.nan),
            "ai_lease": np.where(f["allow_ai"].to_numpy(bool), f["v_ai_usd_per_mw"].to_numpy(float), np.nan),
            "ai_cloud": np.where(f["allow_ai_cloud"].to_numpy(bool), f["v_cloud_usd_per_mw"].to_numpy(float),
                                 np.nan)}


def site_paths(f: pd.DataFrame, mining, lease, cloud, value) -> dict[str, np.ndarray]:
    """Per modelled site: the path(s) it takes (by MW, most first, joined by ``+``; ``none``), the
    value per W of what it takes (the site's value, $, over its MW), each path's value per W (what it
    would have been worth), and the best path it does not take, with the margin between the two ($ per W)."""
    mw = np.c_[mining, lease, cloud]
    worth = np.c_[tuple(path_values(f).values())] / 1e6  # $ per W
    names = np.array(econ.PATHS)
    taken = mw > 1e-6
    order = np.argsort(-mw, axis=1, kind="stable")
    path = np.array(["+".join(names[o][taken[i, o]]) or "none" for i, o in enumerate(order)], dtype=object)
    total = mw.sum(axis=1)
    chosen = np.where(total > 1e-6, np.asarray(value, float) / np.where(total > 1e-6, total, 1.0) / 1e6, np.nan)
    other = np.where(taken | np.isnan(worth), -np.inf, worth)
    best = other.argmax(axis=1)
    best_value = other[np.arange(len(f)), best]
    has_other = np.isfinite(best_value)
    out = {"path": path, "path_usd_per_w": chosen}
    for k, name in enumerate(names):
        out[f"{name}_usd_per_w"] = worth[:, k]
    out["best_other_path"] = np.where(has_other, names[best], "").astype(object)
    out["best_other_usd_per_w"] = np.where(has_other, best_value, np.nan)
    out["margin_usd_per_w"] = chosen - out["best_other_usd_per_w"]
    return out


def path_totals(f: pd.DataFrame, mining, lease, cloud) -> dict:
    """MW, sites and value ($) per path over the modelled sites."""
    worth = path_values(f)
    out = {}
    for name, mw in zip(econ.PATHS, (mining, lease, cloud)):
        out[name] = {"mw": _round(float(mw.sum())), "sites": int((mw > 1e-6).sum()),
                     "value_usd": _round(float((np.nan_to_num(worth[name]) * mw).sum()), 0)}
    return out


def _summary(grid, model, cand, f, keep, new, ai, values, mip, lp, existing_capacity, params, branches,
             built, scenario, net, value, to_ai, shed, n1, duals, capex, paths) -> Summary:
    region = f["region"].to_numpy()
    # AI requested: the MW of AI demand the run was given (a scenario's requests, mapped or not; or
    # Params.ai_demand_mw); 0 when none was given (AI sites then build as far as they pay)
    if params.requested_ai_mw is not None:
        requested = float(params.requested_ai_mw)
    else:
        requested = float(sum(params.ai_demand_mw.values()))
    served_ai = float(ai.sum())
    mon = branches[branches["monitored"]]
    pre = mon[mon["preexisting_overload"]]
    existing = float(f["existing_mw"].sum())
    kept = float(keep.sum())
    objective = float(value.sum())
    converted = values["converted"].to_numpy(bool) & (f["kind"].to_numpy() == "conversion")
    draw = np.maximum(keep + new + ai - f["existing_mw"].to_numpy(), 0.0)
    pools = {r: {"pool_mw": mw, "drawn_mw": _round(draw[region == r].sum()),
                 "shadow_price_usd_per_mw": _round(_shadow(built.pools.get(r)), 2)}
             for r, mw in params.supply_pools_mw.items()}
    demand = {r: {"demand_mw": mw, "served_mw": _round(ai[region == r].sum()),
                  "shadow_price_usd_per_mw": _round(_shadow(built.demand.get(r)), 2)}
              for r, mw in params.ai_demand_mw.items()}
    return Summary(
        status=mip.status,
        objective_usd=_round(objective, 0),
        mip_gap=_round(mip.gap, 6),
        requested_ai_mw=_round(requested),
        served_ai_mw=_round(served_ai),
        unmet_ai_mw=_round(max(requested - served_ai, 0.0)),
        served_mining_mw=_round(float((keep + new).sum())),
        converted_sites=int(converted.sum()),
        converted_site_ids=f.loc[converted, "site_id"].tolist(),
        ai_site_ids=f.loc[ai > 0, "site_id"].tolist(),
        max_branch_loading_percent=_round(float(mon["loading_percent"].max()) if len(mon) else 0.0),
        binding_branches=int(branches["binding"].sum()),
        capex_usd=_round(float(capex.sum()), 0),
        existing_load={
            "today_mw": _round(existing),
            "kept_mw": _round(kept),
            "converted_to_ai_mw": _round(float(to_ai.sum())),
            "shed_mw": _round(float(shed.sum())),
            "network_can_carry_mw": _round(existing_capacity) if existing_capacity is not None else None,
            "network_cannot_carry_mw": (_round(existing - existing_capacity)
                                        if existing_capacity is not None else None),
        },
        supply_pools=pools,
        ai_demand=demand,
        budget_usd=params.max_capex_usd,
        budget_shadow_usd_per_usd=_round(_shadow(built.budget) / 1e6, 6) if built.budget is not None else None,
        security=params.security,
        contingencies_checked=n1["contingencies_checked"] if n1 else 0,
        lazy_rows_added=int(mip.rows_added + lp.rows_added),
        network={
            "security": params.security,
            "slack": model.slack,
            "monitored_branches": int(model.monitored.sum()),
            "screened_branches": len(net.screened),
            "lazy_rows_added": int(mip.rows_added + lp.rows_added),
            "lazy_rows_by_kind": duals["rows_by_kind"],
            "lazy_rounds": int(mip.rounds),
            "binding_rows": duals["binding_rows"],
            "preexisting_overloads": len(pre),
            "overload_dfax_cutoff": params.overload_dfax,
            "worst_preexisting_loading_percent": _round(float(pre["loading_percent"].max())) if len(pre) else None,
            "derated_branches": {str(k): v for k, v in params.rating_derate.items()},
            "supply_response": params.supply_response,
        },
        states=_states_block(net, params, branches),
        n_1=n1,
        sites=_sites_block(f, cand),
        scenario=scenario,
        grid=grid.name,
        paths=paths,
    )


#: what keeps a site or request from more MW, in allocation.csv's ``limited_by``
LIMITS = {
    "": "served in full",
    "poi_cap": "the site's point of interconnection is full",
    "supply_pool": "its region's supply pool is spent",
    "ai_demand_cap": "its region's AI demand is met by other sites",
    "budget": "the capex budget is spent",
    "network": "a MW here costs more network capacity (binding branches) than it is worth",
    "negative_value": "a MW here is worth less than it costs (NPV < 0)",
    "not_built": "building it does not pay for its minimum block (a yes/no choice of the MIP)",
    "not_allowed": "no use is allowed at the site (e.g. conversions are off)",
    "not_modelled": "not in the model (see reason)",
}


def _limits(f, cand, keep, new, ai, built_ai, requested, marginal, duals, built, params):
    """For each modelled site: what keeps it from more MW (a key of :data:`LIMITS`) and the
    element in words (the region, or the branch and outage whose row prices it out).

    Read from the LP with the binaries fixed: a MW more of use u at site i would pay its region's
    pool price, its region's AI demand price (AI), the budget price x capex, and the network
    cost (sum over binding rows of dual x coefficient x the use's share in the row's state); the
    largest of these is the limit. A site at its size is limited by its POI."""
    n = len(f)
    kind = np.full(n, "", dtype=object)
    what = np.full(n, "", dtype=object)
    region = f["region"].to_numpy()
    cap = f["cap_mw"].to_numpy(float)
    ai_cap = f["ai_cap_mw"].to_numpy(float)
    allow_ai, allow_mining = f["allow_ai"].to_numpy(bool), f["allow_mining"].to_numpy(bool)
    is_request = requested > 0
    served = np.where(is_request, ai, keep + new + ai)
    target = np.where(is_request, requested, cap)
    pool = {r: _shadow(c) for r, c in built.pools.items()}
    demand = {r: _shadow(c) for r, c in built.demand.items()}
    budget = _shadow(built.budget) / 1e6 if built.budget is not None else 0.0  # $ per $ of capex
    v_ai = f["v_ai_usd_per_mw"].to_numpy(float)
    v_mining = np.maximum(f["v_new_usd_per_mw"].to_numpy(float), f["v_keep_usd_per_mw"].to_numpy(float))
    bus = cand.bus_of_site
    for i in range(n):
        if served[i] >= target[i] - 0.5:
            continue
        if keep[i] + new[i] + ai[i] >= cap[i] - 0.5 or (is_request[i] and ai[i] >= ai_cap[i] - 0.5):
            kind[i], what[i] = "poi_cap", f"{cap[i]:,.0f} MW at the point of interconnection"
            continue
        use_ai = allow_ai[i] and (is_request[i] or not allow_mining[i] or v_ai[i] >= v_mining[i])
        if not use_ai and not allow_mining[i]:
            kind[i] = "not_allowed"
            continue
        value = v_ai[i] if use_ai else v_mining[i]
        if value <= 0:
            kind[i], what[i] = "negative_value", f"NPV ${value / 1e6:,.2f}M per MW"
            continue
        capex = f["capex_ai_usd_per_mw"].iat[i] if use_ai else f["capex_new_usd_per_mw"].iat[i]
        prices = {
            "supply_pool": (pool.get(region[i], 0.0), f"supply pool {region[i]}"),
            "ai_demand_cap": (demand.get(region[i], 0.0) if use_ai else 0.0, f"AI demand {region[i]}"),
            "budget": (budget * capex, "max_capex_usd"),
            "network": ((duals["cost_ai"] if use_ai else duals["cost_mining"])[bus[i]],
                        (duals["top_row_ai"] if use_ai else duals["top_row_mining"])[bus[i]]),
        }
        key = max(prices, key=lambda k: prices[k][0])
        if prices[key][0] <= 1e-6 * max(value, 1.0):
            kind[i] = "not_built" if use_ai and not built_ai[i] else "network"
            what[i] = "" if kind[i] == "not_built" else prices["network"][1]
            continue
        kind[i], what[i] = key, prices[key][1]
    return kind, what


def _sites_block(f, cand) -> dict:
    """Modelled sites, and the ones not modelled: count and MW by reason, and each with its reason."""
    skipped = cand.skipped
    by = {}
    for status, group in skipped.groupby("status", sort=False):
        by[str(status)] = {"count": len(group), "mw": _round(group["mw"].sum()),
                           "site_ids": group["site_id"].tolist()}
    return {"modelled": len(f), "modelled_mw": _round(f["cap_mw"].sum()),
            "not_modelled": len(skipped), "not_modelled_mw": _round(skipped["mw"].sum()),
            "not_modelled_by_reason": by,
            "not_modelled_reasons": dict(zip(skipped["site_id"], skipped["reason"]))}


def _row_duals(built, net, cand) -> dict:
    """Duals of the network rows: shadow price of each monitored branch (all its rows,
    N-0 and N-1, in every state) and the network cost of one more MW of AI or mining
    load at each candidate bus (sum over rows of dual x coefficient x the use's share)."""
    model_rows = len(net.mon)
    pos_of = np.full(int(net.mon.max()) + 1 if len(net.mon) else 1, -1, dtype=np.int64)
    pos_of[net.mon] = np.arange(len(net.mon))
    branch = np.zeros(model_rows)
    index = {}
    for vec in built.loads.values():
        for k, v in enumerate(vec[:len(cand.buses)]):  # the load columns (then any generator injections)
            index[v.name] = k
    shares = {st.name: st.share for st in net.states}
    cost_ai = np.zeros(len(cand.buses))
    cost_mining = np.zeros(len(cand.buses))
    top = {"ai": (np.zeros(len(cand.buses)), np.full(len(cand.buses), "", dtype=object)),
           "mining": (np.zeros(len(cand.buses)), np.full(len(cand.buses), "", dtype=object))}
    by_kind: dict[str, int] = {}
    binding: dict[str, int] = {}
    for key, con in built.rows.items():
        kind, state, rid, _ = key
        label = f"{kind} {state}"
        by_kind[label] = by_kind.get(label, 0) + 1
        sh = _shadow(con)
        if abs(sh) <= 1e-9:
            continue
        binding[label] = binding.get(label, 0) + 1
        if kind == "n-1":
            limited = net.mon[rid[0]]
        elif kind == "n-0":
            limited = net.mon[rid]
        else:
            limited = net.state(state).pre.branch[rid]
        branch[pos_of[limited]] += abs(sh)
        label = _row_label(net, kind, state, rid)
        for var, c in con.items():
            k = index.get(var.name)
            if k is not None:
                for use, cost in (("ai", cost_ai), ("mining", cost_mining)):
                    part = sh * c * shares[state][use]
                    cost[k] += part
                    if part > top[use][0][k]:
                        top[use][0][k] = part
                        top[use][1][k] = label
    full = np.zeros(len(net.states[0].model.branch_ids))
    full[net.mon] = branch
    return {"branch": full, "cost_ai": cost_ai, "cost_mining": cost_mining, "rows_by_kind": by_kind,
            "binding_rows": binding, "top_row_ai": top["ai"][1], "top_row_mining": top["mining"][1]}


def _row_label(net, kind: str, state: str, rid) -> str:
    """A network row in words: the branch it limits, the outage under N-1, the state."""
    ids = net.states[0].model.branch_ids
    if kind == "n-1":
        return f"branch {ids[net.mon[rid[0]]]} after the outage of branch {ids[net.mon[rid[1]]]} ({state})"
    if kind == "n-0":
        return f"branch {ids[net.mon[rid]]} ({state})"
    rows = net.state(state).pre
    return f"branch {ids[rows.branch[rid]]} after the outage of branch {ids[rows.outage[rid]]} ({state}, " \
           "over without new load)"


def _states_block(net, params, branches) -> dict:
    out = {}
    for st in net.states:
        col = "loading_percent" if st.name == "peak" else "offpeak_loading_percent"
        mon = branches[branches["monitored"]]
        out[st.name] = {
            "base_load_factor": st.load_factor,
            "share_of_new_mw": st.share,
            "max_branch_loading_percent": _round(float(mon[col].max())) if len(mon) else None,
        }
    return out


def security_report(net, loads: dict, model) -> dict:
    """The N-1 figures of a solved plan: every pair checked once more, the worst
    post-contingency loading of each monitored branch (whether or not that pair was over
    without new load), and the pairs already over."""
    c = net.contingencies
    worst_all = np.zeros(len(net.mon))
    outage_all = np.full(len(net.mon), -1, dtype=np.int64)
    pre_all = np.zeros(len(net.mon), bool)
    state_all = np.full(len(net.mon), "", dtype=object)
    over = 0
    pre = {}
    for st in net.states:
        base_mon = st.model.flow_mw[net.mon]
        flow_mon = net.flows_mon(st.name, loads[st.name])
        n_over = c.violations(st, flow_mon, near=np.inf)[4]  # pairs over that the new load caused or worsened
        over += n_over
        worst, worst_k, was_over = c.worst_pairs(flow_mon, base_mon)
        better = worst > worst_all
        worst_all[better] = worst[better]
        outage_all[better] = worst_k[better]
        pre_all[better] = was_over[better]
        state_all[better] = st.name
        rows = st.pre
        pl, pk = st.pre_pairs
        if len(pl):
            lo, post0 = st.pre_values
            after = flow_mon[pl] + lo * flow_mon[pk]            # every listed pair, with the new load
            rate = model.rate_mw[net.mon[pl]]
            i = int(np.argmax(np.abs(post0) / rate))
            row_after = net.pre_flows(st.name, loads[st.name]) if rows is not None else np.zeros(0)
            pre[st.name] = {
                "count": len(pl),
                "branches": len(np.unique(pl)),
                "rows": 0 if rows is None else len(rows.base),
                "worst": {"branch_id": int(model.branch_ids[net.mon[pl[i]]]),
                          "outage_branch_id": int(model.branch_ids[net.mon[pk[i]]]),
                          "loading_percent_without_new_load": _round(abs(post0[i]) / rate[i] * 100),
                          "loading_percent": _round(abs(after[i]) / rate[i] * 100)},
                "worsened": 0 if rows is None else
                int(np.sum(np.abs(row_after) > np.abs(rows.base) * (1 + 1e-6) + 1e-6)),
            }
        else:
            pre[st.name] = {"count": 0, "branches": 0, "rows": 0, "worst": None, "worsened": 0}
    factor = c.factor
    new = ~pre_all
    return {
        "emergency_rating_factor": factor,
        "emergency_rating_basis": "the grid data has no emergency ratings (rateB and rateC are 0): "
                                  "emergency rating = factor x rateA",
        "contingencies_checked": len(c.outages),
        "branch_outage_pairs_checked": int(c.pairs) * len(net.states),
        "radial_branches_not_outaged": len(c.radial),
        "radial_branch_ids": [int(b) for b in model.branch_ids[c.radial]],
        "pairs_over_emergency_rating": int(over),
        "max_post_contingency_loading_percent": _round(float(worst_all.max() * factor * 100))
        if len(worst_all) else None,
        "max_post_contingency_loading_percent_not_preexisting": _round(float(worst_all[new].max() * factor * 100))
        if new.any() else None,
        "preexisting_overloads": pre,
        "_loading": worst_all * factor * 100,
        "_outage": np.where(outage_all >= 0, model.branch_ids[net.mon[np.maximum(outage_all, 0)]], -1),
        "_preexisting": pre_all,
        "_state": state_all,
    }
