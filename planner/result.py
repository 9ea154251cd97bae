"""Assemble a solved allocation into tables and the summary dict."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd

from planner import hosting as hosting_mod
from planner import sensitivity as sens


def _round(x, nd=3):
    return None if x is None or not np.isfinite(x) else round(float(x), nd)


def assemble(grid, sites, model: sens.DCModel, cand, built, net, values: pd.DataFrame, mip: dict,
             lp: dict, existing_capacity: float | None, params, scenario: str | None = None):
    from planner.solve import Result, _shadow

    f = cand.frame
    n = len(f)
    keep, new, ai = (values[c].to_numpy() for c in ("keep_mw", "new_mining_mw", "ai_mw"))
    mining = keep + new
    existing = f["existing_mw"].to_numpy()
    to_ai = np.minimum(ai, existing - keep)  # today's load that moves to AI
    shed = existing - keep - to_ai
    value = (keep * f["v_keep_usd_per_mw"] + new * f["v_new_usd_per_mw"] + ai * f["v_ai_usd_per_mw"]).to_numpy()
    capex = (new * f["capex_new_usd_per_mw"] + ai * f["capex_ai_usd_per_mw"]).to_numpy()
    marginal = np.array([_shadow(built.poi.get(i)) for i in range(n)])

    # branch duals and the network cost of one more MW of load at each candidate bus
    mu = np.zeros(len(net.rows))
    for r, con in built.upper.items():
        mu[r] += _shadow(con)
    for r, con in built.lower.items():
        mu[r] -= _shadow(con)  # a lower row binds when flow runs at -limit
    network_cost = mu @ net.sens  # $ per MW of load at each candidate bus

    # allocation: one row per input site
    use = np.where((ai > 0) & (mining > 0), "ai+mining", np.where(ai > 0, "ai", np.where(mining > 0, "mining",
                                                                                           "none")))
    alloc = pd.DataFrame(index=pd.RangeIndex(len(sites)))
    rows = f["row"].to_numpy()
    src = sites.reset_index(drop=True)
    for col in ("site_id", "name", "operator", "state", "current_use", "request", "requested_mw", "bus", "bus_kv",
                "bus_name", "distance_km"):
        if col in src:
            alloc[col] = src[col].to_numpy()
    geom = src.geometry if isinstance(src, gpd.GeoDataFrame) else gpd.GeoSeries([None] * len(src))
    alloc["lat"] = geom.y.to_numpy()
    alloc["lon"] = geom.x.to_numpy()

    def put(name, data, fill):
        col = np.full(len(src), fill, dtype=object if isinstance(fill, str) or fill is None else float)
        col[rows] = data
        alloc[name] = col

    put("region", f["region"].to_numpy(), "")
    put("use", use, "not_modelled")
    put("cap_mw", f["cap_mw"].to_numpy(), np.nan)
    put("existing_mw", f["existing_mw"].to_numpy(), 0.0)
    put("ai_mw", ai, 0.0)
    put("mining_mw", mining, 0.0)
    put("kept_mining_mw", keep, 0.0)
    put("new_mining_mw", new, 0.0)
    put("shed_mw", shed, 0.0)
    put("value_usd", value, 0.0)
    put("capex_usd", capex, 0.0)
    put("marginal_value_usd_per_mw", marginal, np.nan)
    conv = np.zeros(len(src), bool)
    conv[rows] = values["converted"].to_numpy(bool) & (f["kind"].to_numpy() == "conversion")
    alloc["converted"] = conv
    built_ai = np.zeros(len(src), bool)
    built_ai[rows] = values["converted"].to_numpy(bool)
    reason = np.full(len(src), "", dtype=object)
    reason[cand.skipped["row"].to_numpy()] = cand.skipped["reason"].to_numpy()
    alloc["reason"] = reason
    alloc = gpd.GeoDataFrame(alloc, geometry=geom.to_numpy(), crs="EPSG:4326")

    # branches: full DC solve with the new load (exact for every branch)
    load_pos = np.zeros(model.n_bus)
    load_by_bus = pd.Series(np.bincount(cand.bus_of_site, weights=keep + new + ai, minlength=len(cand.buses)),
                            index=pd.Index(cand.buses, name="bus"))
    load_pos[model.positions(cand.buses)] = load_by_bus.to_numpy()
    flow = sens.flows(model, load_pos)
    limit = model.limit_mw
    with np.errstate(invalid="ignore", divide="ignore"):
        loading = np.abs(flow) / model.rate_mw * 100.0
    shadow = np.zeros(model.n_branch)
    shadow[net.rows] = np.abs(mu)
    binding = model.monitored & (np.abs(flow) >= limit - 1e-3)
    br = grid.branches.reindex(model.branch_ids)
    branches = pd.DataFrame({
        "branch_id": model.branch_ids,
        "from_bus": br["from_bus"].to_numpy(),
        "to_bus": br["to_bus"].to_numpy(),
        "kind": br["kind"].to_numpy(),
        "monitored": model.monitored,
        "base_flow_mw": model.flow_mw,
        "flow_mw": flow,
        "rate_mw": model.rate_mw,
        "limit_mw": limit,
        "loading_percent": loading,
        "binding": binding,
        "shadow_price_usd_per_mw": shadow,
        "preexisting_overload": model.monitored & (np.abs(model.flow_mw) > model.rate_mw * (1 + 1e-9)),
    })

    # candidate buses
    bg = grid.buses.reindex(cand.buses)
    host, _ = hosting_mod.limits_from_sensitivity(net.base, net.limit, net.sens)
    best = pd.Series(marginal).groupby(cand.bus_of_site).max()
    buses = gpd.GeoDataFrame({
        "bus": cand.buses,
        "lat": bg.geometry.y.to_numpy(),
        "lon": bg.geometry.x.to_numpy(),
        "kv": bg["kv"].to_numpy(),
        "substation_name": bg["substation_name"].to_numpy(),
        "sites": np.bincount(cand.bus_of_site, minlength=len(cand.buses)),
        "new_load_mw": load_by_bus.to_numpy(),
        "hosting_mw": host,
        "marginal_value_usd_per_mw": best.reindex(range(len(cand.buses))).to_numpy(),
        "network_cost_usd_per_mw": network_cost,
    }, geometry=bg.geometry.to_numpy(), crs=grid.buses.crs)

    dispatch = sens.dispatch(model, load_pos)
    summary = _summary(grid, model, cand, f, keep, new, ai, values, mip, lp, existing_capacity, params,
                       branches, built, scenario, net, value, to_ai, shed)
    return Result(status=summary["status"], summary=summary, allocation=alloc, branches=branches,
                  buses=buses, model=model, new_load_mw=load_by_bus, dispatch_mw=dispatch)


def _summary(grid, model, cand, f, keep, new, ai, values, mip, lp, existing_capacity, params, branches,
             built, scenario, net, value, to_ai, shed):
    from planner.solve import _shadow

    region = f["region"].to_numpy()
    greenfield = f["allow_ai"].to_numpy() & (f["kind"].to_numpy() == "greenfield")
    if params.requested_ai_mw is not None:
        requested = float(params.requested_ai_mw)
    elif params.ai_demand_mw:
        requested = sum(params.ai_demand_mw.values())
    else:
        requested = float(f.loc[greenfield, "ai_cap_mw"].sum())
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
    return {
        "status": mip["status"],
        "objective_usd": _round(objective, 0),
        "mip_gap": _round(mip["gap"], 6),
        "requested_ai_mw": _round(requested),
        "served_ai_mw": _round(served_ai),
        "unmet_ai_mw": _round(max(requested - served_ai, 0.0)),
        "served_mining_mw": _round(float((keep + new).sum())),
        "converted_sites": int(converted.sum()),
        "converted_site_ids": f.loc[converted, "site_id"].tolist(),
        "ai_site_ids": f.loc[ai > 0, "site_id"].tolist(),
        "max_branch_loading_percent": _round(float(mon["loading_percent"].max()) if len(mon) else 0.0),
        "binding_branches": int(branches["binding"].sum()),
        "capex_usd": _round(float((new * f["capex_new_usd_per_mw"] + ai * f["capex_ai_usd_per_mw"]).sum()), 0),
        "existing_load": {
            "today_mw": _round(existing),
            "kept_mw": _round(kept),
            "converted_to_ai_mw": _round(float(to_ai.sum())),
            "shed_mw": _round(float(shed.sum())),
            "network_can_carry_mw": _round(existing_capacity) if existing_capacity is not None else None,
            "network_cannot_carry_mw": (_round(existing - existing_capacity)
                                        if existing_capacity is not None else None),
        },
        "supply_pools": pools,
        "ai_demand": demand,
        "budget_usd": params.max_capex_usd,
        "budget_shadow_usd_per_usd": _round(_shadow(built.budget) / 1e6, 6) if built.budget is not None else None,
        "network": {
            "security": "n-0",
            "slack": model.slack,
            "monitored_branches": int(model.monitored.sum()),
            "screened_branches": len(net.screened),
            "lazy_rows_added": int(mip["rows_added"] + lp["rows_added"]),
            "lazy_rounds": int(mip["rounds"]),
            "preexisting_overloads": len(pre),
            "overload_dfax_cutoff": params.overload_dfax,
            "worst_preexisting_loading_percent": _round(float(pre["loading_percent"].max())) if len(pre) else None,
        },
        "sites": {"modelled": len(f), "not_modelled": len(cand.skipped),
                  "not_modelled_reasons": dict(zip(cand.skipped["site_id"], cand.skipped["reason"]))},
        "scenario": scenario,
        "grid": grid.name,
    }
