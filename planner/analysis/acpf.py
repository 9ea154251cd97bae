"""AC validation of an allocation: pandapower's AC power flow on the allocated case.

The allocation is made with a DC model (no losses, no reactive power, flat
voltages). :func:`ac_check` runs ``pandapower.runpp`` on the allocated case
(peak state: base load as given, the firm share of each new load, at
``power_factor``) and on the same state without the new load, and reports
convergence, the largest branch loading (apparent power at the worse end over
the rating, which the data gives in MVA), the voltage range and the branches
over their rating: those the new load caused or worsened, and those already
over without it.

Each interconnect (each part of the net with its own ``ext_grid``) is solved on
its own. On Texas and Western pandapower's Newton-Raphson converges with the
single slack, as the data gives it. On Eastern it diverges: the slack is a
13.8 kV generator terminal (bus 30902) behind one 1,872 MVA step-up
transformer, asked to carry the zone's whole imbalance and its losses. There the
generators share the imbalance in proportion to Pmax (pandapower's distributed
slack) from a flat start, and it converges in a few iterations (0.93-1.09 pu on
the base case). The slack each zone used is reported (``slack``); the case
without new load and the allocated case use the same one.

:func:`derates` turns an AC check into rating multipliers for the DC model
(``planner solve --ac-tighten``): a branch the new load pushed over its rating
in AC gets its DC limit scaled by rating / AC loading (with a small margin),
and the scenario is solved again.
"""

from __future__ import annotations

import logging
import time
import warnings

import numpy as np
import pandas as pd

logger = logging.getLogger(__name__)

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    import pandapower as pp

#: margin below the rating that a derated branch aims for
MARGIN = 0.01


def _end_flows(net) -> pd.DataFrame:
    """Apparent power (MVA) at the more loaded end of each line and transformer, with the
    active (MW) and reactive (Mvar) power at that end."""
    parts = []
    for element, a, b in (("line", "from", "to"), ("trafo", "hv", "lv")):
        res = net[f"res_{element}"]
        pa, qa = res[f"p_{a}_mw"].to_numpy(), res[f"q_{a}_mvar"].to_numpy()
        pb, qb = res[f"p_{b}_mw"].to_numpy(), res[f"q_{b}_mvar"].to_numpy()
        sa, sb = np.hypot(pa, qa), np.hypot(pb, qb)
        first = sa >= sb
        parts.append(pd.DataFrame({"s_mva": np.where(first, sa, sb), "p_mw": np.where(first, pa, pb),
                                   "q_mvar": np.where(first, qa, qb)},
                                  index=pd.MultiIndex.from_arrays([[element] * len(res), net[element].index])))
    return pd.concat(parts)


def zones(net) -> list[np.ndarray]:
    """Bus indices of each part of the net with its own slack (an ext_grid): the interconnects
    of a national net, solved one at a time (pandapower's distributed slack takes one zone at
    a time; a DC line couples no AC zones). One zone: the whole net."""
    if len(net.ext_grid) <= 1:
        return [net.bus.index.to_numpy()]
    from pandapower import topology

    graph = topology.create_nxgraph(net, include_out_of_service=False, include_dclines=False)
    slack_buses = set(net.ext_grid.loc[net.ext_grid["in_service"].astype(bool), "bus"])
    return [np.fromiter(c, dtype=np.int64) for c in topology.connected_components(graph) if c & slack_buses]


def _distributed(net) -> None:
    """Every in-service generator with Pmax > 0 shares the zone's imbalance (losses included) in
    proportion to Pmax; the ext_grid keeps the angle reference only."""
    w = net.gen["max_p_mw"].clip(lower=0.0).fillna(0.0) * net.gen["in_service"].astype(bool)
    net.gen["slack_weight"] = w.to_numpy()
    net.gen["slack"] = (w > 0).to_numpy()
    net.ext_grid["slack_weight"] = 0.0


def run_zone(net, slack: str | None) -> tuple[bool, str, str]:
    """``runpp`` on one zone: the single slack (``ext_grid``) from pandapower's default start,
    else (``slack=None``, or ``"distributed"``) generators sharing the imbalance in proportion to
    Pmax from a flat start. Returns (converged, why not, slack used)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if slack in (None, "single"):
            try:
                pp.runpp(net, numba=False, max_iteration=30)
                return True, "", "single"
            except pp.LoadflowNotConverged:
                if slack == "single":
                    return False, "Newton-Raphson did not converge in 30 iterations (single slack)", "single"
        kept = net.gen[["slack", "slack_weight"]].copy(), net.ext_grid["slack_weight"].copy()
        _distributed(net)
        try:   # no generator with Pmax > 0: pandapower's ValueError (weights sum to zero)
            pp.runpp(net, numba=False, max_iteration=30, distributed_slack=True, init="flat")
        except (pp.LoadflowNotConverged, ValueError):
            return False, "Newton-Raphson did not converge in 30 iterations (single or distributed slack)", \
                "distributed"
        finally:   # a later single-slack run of this net must not see every generator as a slack
            net.gen[["slack", "slack_weight"]] = kept[0]
            net.ext_grid["slack_weight"] = kept[1]
    return True, "", "distributed"


def _zone_net(net, buses: np.ndarray):
    """The part of ``net`` on ``buses``. A DC line to another zone is replaced by what pandapower
    makes of its end in this zone: a generator at the converter bus holding its voltage set
    point, drawing the line's MW at the sending end or giving them, less the losses, at the
    receiving end."""
    from pandapower.toolbox import select_subnet

    sub = select_subnet(net, buses, include_results=False)
    inside = set(buses.tolist())
    live = net.dcline[net.dcline["in_service"].astype(bool)]
    first = int(net.gen.index.max()) + 1 if len(net.gen) else 0   # indices no generator of the net has
    for number, (_, dc) in enumerate(live.iterrows()):
        f, t = dc["from_bus"] in inside, dc["to_bus"] in inside
        if f == t:
            continue
        sent = float(dc["p_mw"])
        if f:
            pp.create_gen(sub, dc["from_bus"], p_mw=-sent, vm_pu=float(dc["vm_from_pu"]), name="dc line end",
                          index=first + number,
                          min_q_mvar=dc.get("min_q_from_mvar", np.nan), max_q_mvar=dc.get("max_q_from_mvar", np.nan))
        else:
            received = sent * (1 - float(dc["loss_percent"]) / 100.0) - float(dc["loss_mw"])
            pp.create_gen(sub, dc["to_bus"], p_mw=received, vm_pu=float(dc["vm_to_pu"]), name="dc line end",
                          index=first + number,
                          min_q_mvar=dc.get("min_q_to_mvar", np.nan), max_q_mvar=dc.get("max_q_to_mvar", np.nan))
    return sub


RESULTS = ("res_bus", "res_line", "res_trafo", "res_gen", "res_ext_grid", "res_load", "res_sgen", "res_shunt",
           "res_dcline")


def runpp_by_zone(net, slacks: list[str | None] | None = None) -> tuple[bool, str, list[str]]:
    """AC power flow of ``net``, zone by zone (:func:`zones`), each with the slack that solves it
    (:func:`run_zone`), or with ``slacks`` (one per zone: those that solved the same net
    without new load, so that both are judged alike). The zones' results are written back into
    the net's result tables."""
    buses_of = zones(net)
    slacks = slacks if slacks is not None and len(slacks) == len(buses_of) else [None] * len(buses_of)
    if len(buses_of) == 1:
        ok, why, used = run_zone(net, slacks[0])
        return ok, why, [used]
    parts, used = [], []
    for buses, slack in zip(buses_of, slacks):
        sub = _zone_net(net, buses)
        ok, why, how = run_zone(sub, slack)
        used.append(how)
        if not ok:
            return False, why, used
        parts.append(sub)
    for key in RESULTS:   # the added DC line ends are generators of the zone only
        element = net[key[4:]]
        frames = [sub[key][sub[key].index.isin(element.index)] for sub in parts if len(sub[key])]
        net[key] = pd.concat(frames).reindex(element.index) if frames else net[key]
    return True, "", used


def _loading(grid, net) -> pd.DataFrame:
    """AC loading (percent of rating), MW and Mvar at the more loaded end of every monitored
    branch, by branch id."""
    br = grid.branches[grid.branches["monitored"]]
    ends = _end_flows(net).reindex(pd.MultiIndex.from_arrays([br["element"], br["element_index"]]))
    ends.index = br.index
    ends["loading_percent"] = ends["s_mva"].to_numpy() / br["rate_mw"].to_numpy() * 100.0
    return ends


#: shares of the new load tried, largest first, when the AC power flow with all of it does not converge
FALLBACK_SHARES = (0.95, 0.9, 0.8, 0.6, 0.4, 0.2)


def ac_check(grid, result, power_factor: float = 0.98, tolerance_percent: float = 0.1) -> dict:
    """AC power flow on the allocated case (peak state); see the module docstring.

    When the AC power flow does not converge with all the new load (voltage
    collapse somewhere), the new loads are scaled down until it does, and the
    report gives that share (``converged_share_of_new_load``) and the branches
    over their rating there: those are the ones ``--ac-tighten`` derates.
    """
    from planner.analysis.validate import allocated_net

    t = time.perf_counter()
    before = allocated_net(grid, result, "peak", new_load=False)
    ok_before, _, slacks = runpp_by_zone(before)
    slacks = slacks if ok_before else None
    net = allocated_net(grid, result, "peak", power_factor=power_factor)
    new = net.load["name"].fillna("").astype(str).str.startswith("planner new load").to_numpy()
    full = net.load.loc[new, ["p_mw", "q_mvar"]].copy()
    share = 1.0
    ok, why, used = runpp_by_zone(net, slacks)
    if not ok:
        for share in FALLBACK_SHARES:
            net.load.loc[new, ["p_mw", "q_mvar"]] = full.to_numpy() * share
            ok, _, used = runpp_by_zone(net, slacks)
            if ok:
                break
    out = {"run": True, "converged": share == 1.0 and ok, "state": "peak", "power_factor": power_factor,
           "slack": used}
    if share < 1.0:
        out["reason"] = (f"the AC power flow with all the new load did not converge ({why}): voltage collapse "
                         "or a transfer beyond what the AC network can carry")
        out["converged_share_of_new_load"] = share if ok else None
    if not ok:
        out["seconds"] = round(time.perf_counter() - t, 3)
        return out
    ends = _loading(grid, net)
    loading = ends["loading_percent"]
    base = _loading(grid, before)["loading_percent"] if ok_before else pd.Series(0.0, index=loading.index)
    over = loading[loading > 100.0 + tolerance_percent]
    was = base.reindex(over.index).fillna(0.0)
    worse = over[was <= 100.0 + tolerance_percent]   # caused by the new load
    pre = over.index.difference(worse.index)          # over without it too (reported, as DC grandfathers them)
    vm = net.res_bus["vm_pu"]
    top = worse.sort_values(ascending=False)
    out.update({
        "share_of_new_load": share,
        "max_loading_percent": round(float(loading.max()), 3) if len(loading) else None,
        "min_vm_pu": round(float(vm.min()), 5),
        "max_vm_pu": round(float(vm.max()), 5),
        "branches_over_rating": len(over),
        "caused_by_new_load": len(worse),
        "preexisting_worsened": int(sum(loading[b] > base[b] + tolerance_percent for b in pre)),
        "over_rating": [{"branch_id": int(b), "loading_percent": round(float(v), 3),
                         "loading_percent_without_new_load": round(float(base.get(b, np.nan)), 3),
                         "p_mw": round(float(ends.at[b, "p_mw"]), 3), "q_mvar": round(float(ends.at[b, "q_mvar"]), 3)}
                        for b, v in top.items()],
        "preexisting_over_rating": [{"branch_id": int(b), "loading_percent": round(float(loading[b]), 3),
                                     "loading_percent_without_new_load": round(float(base[b]), 3)}
                                    for b in pre],
        "base_case_converged": ok_before,
        "seconds": round(time.perf_counter() - t, 3),
    })
    return out


def _needs_tightening(check: dict) -> bool:
    return bool(check.get("run")) and (check.get("caused_by_new_load", 0) > 0 or check.get("converged") is False)


def derates(check: dict, result, current: dict[int, float]) -> tuple[dict[int, float], list[dict]]:
    """Rating multipliers after an AC check, and the overloads DC derating cannot remove.

    A branch the new load pushed over its rating in AC carries P MW and Q Mvar at its
    more loaded end. With Q as it is, it is within its rating at
    ``P* = sqrt(rating^2 - Q^2)``: its DC limit becomes its DC flow x P* / |P|, less a
    margin (as a multiplier of its rating, never above the current one). When
    ``Q >= rating``, or when the limit would fall below the branch's DC flow without new
    load, no DC limit can remove the overload (it is reactive, or not from the new MW):
    such branches are returned instead, with the reason.
    """
    out = dict(current)
    stuck = []
    flows = result.branches.set_index("branch_id")
    for row in check.get("over_rating", []):
        b = row["branch_id"]
        f = flows.loc[b]
        rate, q, p = float(f["rate_mw"]), abs(row["q_mvar"]), abs(row["p_mw"])
        if q >= rate * (1 - MARGIN) or p <= 1e-6:
            stuck.append({"branch_id": b, "reason": f"reactive: {q:,.1f} Mvar alone fill most of the "
                                                    f"{rate:,.1f} MVA rating"})
            continue
        target_mw = abs(f["flow_mw"]) * np.sqrt(rate**2 - q**2) / p * (1 - MARGIN)
        if target_mw <= abs(f["base_flow_mw"]) + 1e-6:
            stuck.append({"branch_id": b, "reason": f"its DC flow without new load ({abs(f['base_flow_mw']):,.1f} MW) "
                                                    f"is already above the {target_mw:,.1f} MW AC allows"})
            continue
        out[b] = max(min(out.get(b, 1.0), target_mw / rate), 0.01)
    return out, stuck


def solve_ac_tightened(solve, params, grid, rounds: int = 5, power_factor: float = 0.98):
    """Solve, check in AC, derate the DC limits of the branches AC shows overloaded by
    the new load and solve again, at most ``rounds`` re-solves. ``solve(params)`` returns
    a Result. Returns (result, ac_check of the final result, the list of rounds, the final params)."""
    from dataclasses import replace

    result = solve(params)
    check = ac_check(grid, result, power_factor=power_factor)
    history = [_round_row(0, result, check, params)]
    for number in range(1, rounds + 1):
        if not _needs_tightening(check) or not check.get("over_rating"):
            break
        derate, stuck = derates(check, result, params.rating_derate)
        check["not_removable_by_dc_derating"] = stuck
        if derate == params.rating_derate:
            break
        params = replace(params, rating_derate=derate)
        logger.info(f"AC tightening round {number}: derating {len(params.rating_derate)} branch(es), solving again")
        result = solve(params)
        check = ac_check(grid, result, power_factor=power_factor)
        history.append(_round_row(number, result, check, params))
    if check.get("over_rating") and "not_removable_by_dc_derating" not in check:
        check["not_removable_by_dc_derating"] = derates(check, result, params.rating_derate)[1]
    return result, check, history, params


def _round_row(number: int, result, check: dict, params) -> dict:
    s = result.summary
    return {"round": number, "derated_branches": {str(k): round(v, 4) for k, v in params.rating_derate.items()},
            "served_ai_mw": s.served_ai_mw, "served_mining_mw": s.served_mining_mw,
            "objective_usd": s.objective_usd, "ac_converged": check.get("converged"),
            "ac_max_loading_percent": check.get("max_loading_percent"),
            "ac_converged_share_of_new_load": check.get("share_of_new_load"),
            "ac_caused_by_new_load": check.get("caused_by_new_load")}
