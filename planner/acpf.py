"""AC validation of an allocation: pandapower's AC power flow on the allocated case.

The allocation is made with a DC model (no losses, no reactive power, flat
voltages). :func:`ac_check` runs ``pandapower.runpp`` on the allocated case
(peak state: base load as given, the firm share of each new load, at
``power_factor``) and on the same state without the new load, and reports
convergence, the largest branch loading (apparent power at the worse end over
the rating, which the data gives in MVA), the voltage range and the branches
over their rating: those the new load caused or worsened, and those already
over without it.

pandapower's AC power flow converges on the Texas and Western base cases but not
on Eastern (the shipped voltages are not a solution and Newton-Raphson diverges
from a flat start), so grids containing the Eastern interconnect are skipped
with that reason rather than reported as failures.

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

#: interconnects where pandapower's AC power flow does not converge on the base case
AC_UNSOLVABLE = {"Eastern": "pandapower's AC power flow does not converge on the Eastern interconnect's "
                            "base case, so it cannot judge an allocation there"}
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


def _runpp(net) -> tuple[bool, str]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            pp.runpp(net, numba=False, max_iteration=30)
        except pp.LoadflowNotConverged:
            return False, "Newton-Raphson did not converge in 30 iterations"
    return True, ""


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
    from planner.validate import allocated_net

    skip = [reason for ic, reason in AC_UNSOLVABLE.items() if ic in grid.interconnects]
    if skip:
        return {"run": False, "skipped_reason": skip[0], "converged": None}
    t = time.perf_counter()
    before = allocated_net(grid, result, "peak", new_load=False)
    ok_before, _ = _runpp(before)
    net = allocated_net(grid, result, "peak", power_factor=power_factor)
    new = net.load["name"].fillna("").astype(str).str.startswith("planner new load").to_numpy()
    full = net.load.loc[new, ["p_mw", "q_mvar"]].copy()
    share = 1.0
    ok, why = _runpp(net)
    if not ok:
        for share in FALLBACK_SHARES:
            net.load.loc[new, ["p_mw", "q_mvar"]] = full.to_numpy() * share
            ok, _ = _runpp(net)
            if ok:
                break
    out = {"run": True, "converged": share == 1.0 and ok, "state": "peak", "power_factor": power_factor}
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
            "served_ai_mw": s["served_ai_mw"], "served_mining_mw": s["served_mining_mw"],
            "objective_usd": s["objective_usd"], "ac_converged": check.get("converged"),
            "ac_max_loading_percent": check.get("max_loading_percent"),
            "ac_converged_share_of_new_load": check.get("share_of_new_load"),
            "ac_caused_by_new_load": check.get("caused_by_new_load")}
