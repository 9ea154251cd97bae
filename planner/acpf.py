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

import time
import warnings

import numpy as np
import pandas as pd

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    import pandapower as pp

#: interconnects where pandapower's AC power flow does not converge on the base case
AC_UNSOLVABLE = {"Eastern": "pandapower's AC power flow does not converge on the Eastern interconnect's "
                            "base case, so it cannot judge an allocation there"}
#: margin below the rating that a derated branch aims for
MARGIN = 0.01


def _apparent_mva(net) -> pd.Series:
    """Apparent power (MVA) at the more loaded end of each line and transformer."""
    rl, rt = net.res_line, net.res_trafo
    line = np.fmax(np.hypot(rl["p_from_mw"], rl["q_from_mvar"]), np.hypot(rl["p_to_mw"], rl["q_to_mvar"]))
    trafo = np.fmax(np.hypot(rt["p_hv_mw"], rt["q_hv_mvar"]), np.hypot(rt["p_lv_mw"], rt["q_lv_mvar"]))
    return pd.concat([
        pd.Series(line.to_numpy(), index=pd.MultiIndex.from_arrays([["line"] * len(line), net.line.index])),
        pd.Series(trafo.to_numpy(), index=pd.MultiIndex.from_arrays([["trafo"] * len(trafo), net.trafo.index])),
    ])


def _runpp(net) -> tuple[bool, str]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            pp.runpp(net, numba=False, max_iteration=30)
        except pp.LoadflowNotConverged:
            return False, "Newton-Raphson did not converge in 30 iterations"
    return True, ""


def _loading(grid, net) -> pd.Series:
    """AC loading (percent of rating) of every monitored branch, by branch id."""
    br = grid.branches
    mva = _apparent_mva(net).reindex(pd.MultiIndex.from_arrays([br["element"], br["element_index"]]))
    loading = pd.Series(mva.to_numpy() / br["rate_mw"].to_numpy() * 100.0, index=br.index)
    return loading[br["monitored"].to_numpy()]


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
    loading = _loading(grid, net)
    base = _loading(grid, before) if ok_before else pd.Series(0.0, index=loading.index)
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
                         "loading_percent_without_new_load": round(float(base.get(b, np.nan)), 3)}
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


def derates(check: dict, result, current: dict[int, float]) -> dict[int, float]:
    """Rating multipliers after an AC check: a branch the new load pushed over its
    rating in AC gets the DC limit that would bring it back: its DC flow x rating /
    AC loading, less a margin (as a multiplier of its rating, never above the
    current one)."""
    out = dict(current)
    flows = result.branches.set_index("branch_id")
    for row in check.get("over_rating", []):
        b = row["branch_id"]
        f = flows.loc[b]
        target = abs(f["flow_mw"]) / f["rate_mw"] * 100.0 / row["loading_percent"] * (1 - MARGIN)
        out[b] = max(min(out.get(b, 1.0), target), 0.01)
    return out


def solve_ac_tightened(solve, params, grid, rounds: int = 5, log=None, power_factor: float = 0.98):
    """Solve, check in AC, derate the DC limits of the branches AC shows overloaded by
    the new load and solve again, at most ``rounds`` re-solves. ``solve(params)`` returns
    a Result. Returns (result, ac_check of the final result, the list of rounds)."""
    from dataclasses import replace

    result = solve(params)
    check = ac_check(grid, result, power_factor=power_factor)
    history = [_round_row(0, result, check, params)]
    for number in range(1, rounds + 1):
        if not _needs_tightening(check) or not check.get("over_rating"):
            break
        params = replace(params, rating_derate=derates(check, result, params.rating_derate))
        if log:
            log(f"AC tightening round {number}: derating {len(params.rating_derate)} branch(es), solving again")
        result = solve(params)
        check = ac_check(grid, result, power_factor=power_factor)
        history.append(_round_row(number, result, check, params))
    return result, check, history


def _round_row(number: int, result, check: dict, params) -> dict:
    s = result.summary
    return {"round": number, "derated_branches": {str(k): round(v, 4) for k, v in params.rating_derate.items()},
            "_params": params,
            "served_ai_mw": s["served_ai_mw"], "served_mining_mw": s["served_mining_mw"],
            "objective_usd": s["objective_usd"], "ac_converged": check.get("converged"),
            "ac_max_loading_percent": check.get("max_loading_percent"),
            "ac_converged_share_of_new_load": check.get("share_of_new_load"),
            "ac_caused_by_new_load": check.get("caused_by_new_load")}
