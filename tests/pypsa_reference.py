"""A PyPSA copy of planner's DC problem, for tests and ``benchmarks/bench_pypsa.py``.

:func:`pypsa_network` turns a :class:`planner.network.sensitivity.DCModel` into a
``pypsa.Network`` with one snapshot that is the same lossless DC network:

* one PyPSA bus per model bus (named by its pandapower bus id, ``v_nom = 1`` so
  that a line's ``x`` in ohm is its per-unit reactance on PyPSA's 1 MVA base);
* one PyPSA ``Line`` per in-service model branch row (named ``br<row>``) with
  ``x = 1 / (base_mva * b)``, ``r = 0``, where ``b`` is the row's entry of
  ``model.Bf`` (so ``flow_MW = base_mva * b * (theta_f - theta_t)``): tap ratios
  are in ``b`` already (MATPOWER's ``b = 1 / (x * tap)``); a series capacitor
  (negative ``b``) keeps its negative ``x``;
* phase shifters (rows with ``model.pfinj_mw != 0``), two ways:
  ``phase_shift="injection"`` (default; the only one :func:`optimize` accepts):
  the row is a plain line and the shift is the fixed pair of injections
  ``-model.pbusinj_mw`` (as in ``makeBdc``); the line then carries
  ``flow - pfinj_mw`` and its limit becomes the asymmetric pair of custom rows
  ``-limit - pfinj <= s <= limit - pfinj``.
  ``phase_shift="transformer"``: the row is a ``Transformer`` with
  ``phase_shift`` in degrees. Right for ``n.lpf()``; PyPSA's optimization
  ignores ``phase_shift`` (its KVL cycle rows have no shift term), so
  :func:`optimize` refuses such a network;
* ``s_nom`` = planner's limit ``max(rate, |f0|)`` on monitored rows, ``big_mw``
  on unmonitored ones;
* the model's base net injections as fixed loads (``p_set = -injection``, one
  ``Load`` ``base:<bus>`` per bus with a non-zero injection);
* candidate loads as generators ``cand:<name>`` with ``p_nom = cap``,
  ``p_min_pu = -1``, ``p_max_pu = 0`` and ``marginal_cost = value per MW``:
  minimizing cost maximizes value, so PyPSA's objective is minus planner's.

Supply of the new load (``supply``):

* ``"headroom"`` — planner's rule (``planner.network.sensitivity.dispatch``): each
  participating generator picks up ``weight * (new load of its island)``. One
  free generator ``slack:<bus>`` per bus that holds participants (their weights
  summed), and after ``n.optimize.create_model()`` the custom rows
  ``p_g = (w_g / w_ref) * p_ref`` (``ref``: the bus of largest weight of the
  island). The island's nodal balance then makes ``sum_g p_g`` equal the new
  load (the base case of every island is balanced), so ``p_g = w_g * load``.
* ``"redispatch"`` — native PyPSA economic dispatch: every generator of
  ``model.gens`` with ``gen >= 0`` may move within
  ``[min(Pmin, p0), max(Pmax, p0)]`` (``p0 = model.gens.p_mw``, Pmin from
  ``grid.net.gen.min_p_mw``) at the cost of a piecewise-linear curve
  (:func:`pypsa_network` ``cost_curves``), one PyPSA generator per segment
  (exact for convex curves, which are required). The generator's lower bound is
  part of the fixed injection of its bus and its segments ``gen:<gen>:<segment>``
  (``p_nom`` = width, ``p_min_pu = 0``, ``p_max_pu = 1``) stack from there up to
  its upper bound; :func:`generator_output` adds them back up per generator.

Use::

    n = pypsa_network(model, candidates)            # candidates: bus, cap_mw, value_usd_per_mw[, name]
    info = optimize(n)                              # create_model + custom rows + solve_model (HiGHS)
    served_mw(n), branch_flows(n, model), info["objective"]

``python tests/pypsa_reference.py [texas] [western]`` runs the equality checks
(flows of ``n.lpf()`` and of a fixed optimization against ``model.flow_mw``,
an optimized allocation against ``planner.network.sensitivity.flows``, and the hand
checks of the redispatch mode) and prints the largest differences.
"""

from __future__ import annotations

import logging
import time

import numpy as np
import pandas as pd

SUPPLIES = ("headroom", "redispatch")
META = "planner_reference"


def _quiet():
    for name in ("pypsa", "linopy"):
        logging.getLogger(name).setLevel(logging.ERROR)


def branch_susceptance(model) -> np.ndarray:
    """Per-unit susceptance ``b`` of every model branch row, read from ``model.Bf``
    (``Bf[l, from] = b``, ``Bf[l, to] = -b``; 0 for a row out of service)."""
    Bf = model.Bf.tocsr()
    rows = np.arange(model.n_branch)
    b_from = np.asarray(Bf[rows, model.from_pos]).ravel()
    b_to = np.asarray(Bf[rows, model.to_pos]).ravel()
    if np.diff(Bf.indptr).max(initial=0) > 2 or not np.allclose(b_from, -b_to, rtol=0, atol=1e-12):
        raise ValueError("model.Bf is not a branch-by-bus incidence times susceptance")
    return b_from


def _gen_table(model, grid) -> pd.DataFrame:
    """The dispatchable generators of the redispatch mode: gen, bus_pos, p0, lo, hi."""
    g = model.gens[model.gens["gen"] >= 0].reset_index(drop=True)
    p0 = g["p_mw"].to_numpy(float)
    pmin = np.zeros(len(g))
    if grid is not None and "min_p_mw" in grid.net.gen:
        pmin = grid.net.gen["min_p_mw"].reindex(g["gen"].to_numpy()).fillna(0.0).to_numpy(float)
    pmax = g["max_p_mw"].to_numpy(float)
    return pd.DataFrame({"gen": g["gen"].to_numpy(), "bus_pos": g["bus_pos"].to_numpy(), "p0": p0,
                         "lo": np.minimum(pmin, p0), "hi": np.maximum(pmax, p0)})


def _segments(gens: pd.DataFrame, cost_curves: pd.DataFrame | None, default_cost: float,
              cost_factor: float) -> pd.DataFrame:
    """One row per (generator, segment): width on top of the generator's lower bound, cost.

    Segments are taken in ``segment`` order from the lower bound ``lo`` up; their
    cumulative width is clipped at ``hi - lo`` and, where it ends below, the last
    segment is extended to ``hi`` (its price goes on). A generator without a curve
    gets one segment ``[lo, hi]`` at ``default_cost``. Costs must not decrease
    along a curve (convex cost): one generator per segment is then exact."""
    room = (gens["hi"] - gens["lo"]).to_numpy()
    rows = []
    curves = {} if cost_curves is None else dict(tuple(cost_curves.sort_values(["gen", "segment"])
                                                       .groupby("gen")))
    for i, gen in enumerate(gens["gen"].to_numpy()):
        curve = curves.get(gen)
        if curve is None or len(curve) == 0:
            if room[i] > 0:
                rows.append((i, 0, room[i], default_cost))
            continue
        width = curve["width_mw"].to_numpy(float)
        cost = curve["cost_usd_per_mwh"].to_numpy(float)
        if np.any(width < 0):
            raise ValueError(f"generator {gen}: a segment has a negative width")
        if np.any(np.diff(cost) < -1e-12):
            raise ValueError(f"generator {gen}: cost curve is not convex (segment costs decrease); "
                             "one PyPSA generator per segment is exact only for convex curves")
        end = np.minimum(np.cumsum(width), room[i])
        end[-1] = room[i]
        width = np.diff(np.r_[0.0, end])
        for label, w, c in zip(curve["segment"].to_numpy(), width, cost):
            if w > 0:
                rows.append((i, label, w, c))
    out = pd.DataFrame(rows, columns=["i", "segment", "width_mw", "cost"])
    out["cost"] *= cost_factor
    return out


def pypsa_network(model, candidates: pd.DataFrame | None = None, *, supply: str = "headroom", grid=None,
                  cost_curves: pd.DataFrame | None = None, default_cost_usd_per_mwh: float = 0.0,
                  cost_factor: float = 1.0, phase_shift: str = "injection", big_mw: float = 1e6):
    """A one-snapshot ``pypsa.Network`` equal to planner's DC model (see the module docstring).

    Parameters
    ----------
    model : planner.network.sensitivity.DCModel
    candidates : DataFrame with ``bus`` (pandapower bus id), ``cap_mw``, ``value_usd_per_mw``
        and optionally ``name`` (default: the row number); None: no candidate load.
    supply : ``"headroom"`` (planner's fixed participation; custom rows added by
        :func:`optimize`) or ``"redispatch"`` (generators free within their bounds at the
        cost of ``cost_curves``; needs ``grid`` for ``net.gen.min_p_mw``).
    cost_curves : (redispatch) table with columns ``gen`` (pandapower gen index), ``segment``,
        ``width_mw``, ``cost_usd_per_mwh``: convex piecewise-linear cost of output above the
        generator's lower bound. ``cost_factor`` multiplies every curve cost (e.g. hours x
        annuity, to put $/MWh on the scale of the candidates' $ per MW); the cost of the
        lower bound itself is a constant left out of the objective.
    phase_shift : ``"injection"`` or ``"transformer"`` (``n.lpf()`` only).
    big_mw : ``s_nom`` of unmonitored rows (and of phase-shifter rows, whose limits are
        custom rows), and ``p_nom`` of the headroom slack generators.
    """
    import pypsa

    _quiet()
    if supply not in SUPPLIES:
        raise ValueError(f"supply must be one of {SUPPLIES}")
    if phase_shift not in ("injection", "transformer"):
        raise ValueError("phase_shift must be 'injection' or 'transformer'")
    if supply == "redispatch" and grid is None:
        raise ValueError("supply='redispatch' needs grid (for net.gen.min_p_mw)")
    base = float(model.base_mva)
    n = pypsa.Network()
    bus_names = pd.Index(model.bus_ids.astype(str))
    n.add("Bus", bus_names, v_nom=1.0, carrier="AC")

    # ---- branches
    b = branch_susceptance(model)
    rows = np.flatnonzero(model.in_service)
    if np.any(b[rows] == 0):
        raise ValueError("an in-service branch row has zero susceptance")
    x_pu = 1.0 / (base * b)
    pfinj = np.asarray(model.pfinj_mw, float)
    pst = np.abs(pfinj) > 1e-9
    limit = np.asarray(model.limit_mw, float)          # NaN = unmonitored
    s_nom = np.where(np.isfinite(limit), limit, big_mw)
    as_trafo = pst & (phase_shift == "transformer")
    line_rows = rows[~as_trafo[rows]]
    trafo_rows = rows[as_trafo[rows]]
    # an injection-mode phase shifter: plain line, asymmetric limits as custom rows
    s_nom_line = np.where(pst & np.isfinite(limit), big_mw, s_nom)
    n.add("Line", pd.Index([f"br{r}" for r in line_rows]), bus0=bus_names[model.from_pos[line_rows]],
          bus1=bus_names[model.to_pos[line_rows]], x=x_pu[line_rows], r=0.0, s_nom=s_nom_line[line_rows])
    if len(trafo_rows):
        # MATPOWER: Pfinj = -b * shift (p.u.), PyPSA: p_branch_shift = -b * phase_shift: the same sign
        shift_deg = np.rad2deg(-pfinj[trafo_rows] / (base * b[trafo_rows]))
        s_t = s_nom[trafo_rows]
        n.add("Transformer", pd.Index([f"br{r}" for r in trafo_rows]),
              bus0=bus_names[model.from_pos[trafo_rows]], bus1=bus_names[model.to_pos[trafo_rows]],
              x=x_pu[trafo_rows] * s_t, r=0.0, s_nom=s_t, tap_ratio=1.0, phase_shift=shift_deg)

    # ---- fixed injections
    inj = np.asarray(model.injection_mw, float).copy()
    if phase_shift == "injection":
        inj -= np.asarray(model.pbusinj_mw, float)
    gens = None
    if supply == "redispatch":
        gens = _gen_table(model, grid)
        # the dispatchable generators leave the fixed injection; their lower bound stays in it
        np.add.at(inj, gens["bus_pos"].to_numpy(), gens["lo"].to_numpy() - gens["p0"].to_numpy())
    nz = np.flatnonzero(inj != 0)
    n.add("Load", pd.Index([f"base:{s}" for s in bus_names[nz]]), bus=bus_names[nz], p_set=-inj[nz])

    # ---- supply of new load
    meta = {"supply": supply, "phase_shift": phase_shift, "base_mva": base}
    if supply == "headroom":
        g = model.gens
        key = pd.DataFrame({"bus_pos": g["bus_pos"].to_numpy(), "island": g["island"].to_numpy(),
                            "weight": g["weight"].to_numpy(float)})
        w = key.groupby(["island", "bus_pos"], as_index=False)["weight"].sum()
        w = w[w["weight"] > 0].reset_index(drop=True)
        w["name"] = "slack:" + bus_names[w["bus_pos"].to_numpy()]
        n.add("Generator", pd.Index(w["name"]), bus=bus_names[w["bus_pos"].to_numpy()], p_nom=big_mw,
              p_min_pu=-1.0, p_max_pu=1.0, marginal_cost=0.0)
        meta["slack"] = w
    else:
        seg = _segments(gens, cost_curves, default_cost_usd_per_mwh, cost_factor)
        gi = seg["i"].to_numpy()
        seg["gen"] = gens["gen"].to_numpy()[gi]
        seg["name"] = [f"gen:{g}:{s}" for g, s in zip(seg["gen"], seg["segment"])]
        n.add("Generator", pd.Index(seg["name"]), bus=bus_names[gens["bus_pos"].to_numpy()[gi]],
              p_nom=seg["width_mw"].to_numpy(), p_min_pu=0.0, p_max_pu=1.0, marginal_cost=seg["cost"].to_numpy())
        meta["gens"] = gens
        meta["segments"] = seg

    # ---- candidates
    if candidates is not None and len(candidates):
        c = candidates.reset_index(drop=True)
        names = c["name"].astype(str) if "name" in c else pd.Series(np.arange(len(c)).astype(str))
        pos = model.positions(c["bus"].to_numpy())
        n.add("Generator", pd.Index("cand:" + names), bus=bus_names[pos], p_nom=c["cap_mw"].to_numpy(float),
              p_min_pu=-1.0, p_max_pu=0.0, marginal_cost=c["value_usd_per_mw"].to_numpy(float))
        meta["candidates"] = pd.Index("cand:" + names)
    else:
        meta["candidates"] = pd.Index([], dtype=object)

    meta["pst_rows"] = np.flatnonzero(pst & model.in_service & ~as_trafo & np.isfinite(limit))
    meta["pst_lo"] = -limit[meta["pst_rows"]] - pfinj[meta["pst_rows"]]
    meta["pst_hi"] = limit[meta["pst_rows"]] - pfinj[meta["pst_rows"]]
    meta["n_trafo_pst"] = len(trafo_rows)
    n.meta[META] = meta
    return n


def add_planner_constraints(n) -> int:
    """The custom linopy rows (after ``n.optimize.create_model()``): headroom participation and
    the asymmetric limits of phase shifters. Returns the number of rows added."""
    meta = n.meta[META]
    m = n.model
    added = 0
    if meta["supply"] == "headroom":
        p = m.variables["Generator-p"]
        w = meta["slack"]
        ref_idx = w.groupby("island")["weight"].idxmax()
        ref = ref_idx.reindex(w["island"]).to_numpy()
        others = np.flatnonzero(np.arange(len(w)) != ref)
        if len(others):
            names = pd.Index(w["name"].to_numpy()[others], name="name")
            ref_names = pd.Index(w["name"].to_numpy()[ref[others]], name="name")
            ratio = w["weight"].to_numpy()[others] / w["weight"].to_numpy()[ref[others]]
            import xarray as xr

            lhs_own = p.sel(name=names)
            lhs_ref = p.sel(name=ref_names).assign_coords(name=names)
            m.add_constraints(lhs_own - xr.DataArray(ratio, coords={"name": names}) * lhs_ref == 0,
                              name="Generator-planner-participation")
            added += len(others)
    rows = meta["pst_rows"]
    if len(rows):
        import xarray as xr

        s = m.variables["Line-s"]
        names = pd.Index([f"br{r}" for r in rows], name="name")
        m.add_constraints(s.sel(name=names) >= xr.DataArray(meta["pst_lo"], coords={"name": names}),
                          name="Line-planner-pst-lower")
        m.add_constraints(s.sel(name=names) <= xr.DataArray(meta["pst_hi"], coords={"name": names}),
                          name="Line-planner-pst-upper")
        added += 2 * len(rows)
    return added


def optimize(n, solver_name: str = "highs", log_to_console: bool = False, post_processing: bool = True,
             **solve_kwargs) -> dict:
    """``n.optimize.create_model()``, the custom rows, ``n.optimize.solve_model()``.

    Returns status, condition, objective (PyPSA's, incl. ``objective_constant``) and the
    seconds of each step: ``create_model_s``, ``constraints_s``, ``solve_model_s`` (linopy's
    hand-over to HiGHS, HiGHS, and PyPSA's assignment of the solution) and ``highs_s``
    (HiGHS's own run time), and within it ``post_processing_s``: PyPSA's post-processing, which
    computes the voltage angles from the dense pseudo-inverse of the bus susceptance matrix
    (``numpy.linalg.pinv``: O(buses^3) time, buses^2 memory; 17 s on Texas's 2,000 buses here).

    ``post_processing=False`` runs the same steps as ``solve_model`` without that last one
    (``n.model.solve``, ``assign_solution``, ``assign_duals``): flows, dispatch and objective are
    the same; bus ``p``/``v_ang`` are not filled in."""
    meta = n.meta[META]
    if meta["n_trafo_pst"]:
        raise ValueError("PyPSA's optimization ignores Transformer.phase_shift: build the network with "
                         "phase_shift='injection'")
    _quiet()
    solve_kwargs.setdefault("progress", False)
    out = {}
    t = time.perf_counter()
    n.optimize.create_model(include_objective_constant=False)  # no constant: the fixed injections cost nothing
    out["create_model_s"] = time.perf_counter() - t
    t = time.perf_counter()
    out["custom_rows"] = add_planner_constraints(n)
    out["constraints_s"] = time.perf_counter() - t
    t = time.perf_counter()
    if post_processing:
        accessor = type(n.optimize)
        original = accessor.post_processing
        spent = []

        def timed(self):
            t0 = time.perf_counter()
            try:
                return original(self)
            finally:
                spent.append(time.perf_counter() - t0)

        accessor.post_processing = timed
        try:
            status, condition = n.optimize.solve_model(solver_name=solver_name, log_to_console=log_to_console,
                                                        **solve_kwargs)
        finally:
            accessor.post_processing = original
        out["post_processing_s"] = sum(spent)
    else:
        status, condition = n.model.solve(solver_name=solver_name, log_to_console=log_to_console,
                                          **solve_kwargs)
        if status == "ok":
            n.optimize.assign_solution()
            n.optimize.assign_duals(False)
        out["post_processing_s"] = 0.0
    out["solve_model_s"] = time.perf_counter() - t
    get_run_time = getattr(getattr(n.model, "solver_model", None), "getRunTime", None)  # HiGHS only
    out["highs_s"] = float(get_run_time()) if get_run_time is not None else float("nan")
    out["status"], out["condition"] = status, condition
    out["objective"] = float(n.objective) + float(getattr(n, "objective_constant", 0.0) or 0.0)
    return out


# --------------------------------------------------------------------------- results


def served_mw(n) -> pd.Series:
    """MW served at each candidate (index: candidate name without ``cand:``)."""
    names = n.meta[META]["candidates"]
    p = -n.generators_t.p.iloc[0].reindex(names)
    p.index = p.index.str.slice(len("cand:"))
    return p


def branch_flows(n, model, source: str = "p0") -> np.ndarray:
    """Flow (MW, at the from end, planner's sign) of every model branch row from the
    network's results (``lines_t.p0`` after ``n.lpf()`` or an optimization); NaN out of service."""
    out = np.full(model.n_branch, np.nan)
    for comp in ("lines", "transformers"):
        df = getattr(n, f"{comp}_t")[source]
        if df.shape[1] == 0:
            continue
        rows = df.columns.str.slice(2).astype(int).to_numpy()
        out[rows] = df.iloc[0].to_numpy(float)
    meta = n.meta[META]
    if meta["phase_shift"] == "injection":
        live = np.isfinite(out)
        out[live] += np.asarray(model.pfinj_mw, float)[live]
    return out


def generator_output(n) -> pd.Series:
    """(redispatch) output MW of each pandapower generator: lower bound + its segments."""
    meta = n.meta[META]
    gens, seg = meta["gens"], meta["segments"]
    p = n.generators_t.p.iloc[0].reindex(seg["name"]).to_numpy()
    out = gens["lo"].to_numpy().copy()
    np.add.at(out, seg["i"].to_numpy(), p)
    return pd.Series(out, index=gens["gen"].to_numpy(), name="p_mw")


def solve_headroom(model, candidates: pd.DataFrame, **optimize_kwargs) -> dict:
    """Planner's problem (a) in PyPSA: build, optimize, and read back.

    Returns ``served_mw`` (Series by candidate name), ``flows_mw`` (model row order),
    ``value_usd`` (sum of value x served MW: planner's objective) and ``info`` (:func:`optimize`)."""
    n = pypsa_network(model, candidates, supply="headroom")
    info = optimize(n, **optimize_kwargs)
    served = served_mw(n)
    value = candidates.assign(name=candidates["name"].astype(str)).set_index("name")["value_usd_per_mw"]
    return {"network": n, "info": info, "served_mw": served, "flows_mw": branch_flows(n, model),
            "value_usd": float((served * value.reindex(served.index)).sum())}


def solve_redispatch(model, grid, candidates: pd.DataFrame, cost_curves: pd.DataFrame | None = None, *,
                     cost_factor: float = 1.0, default_cost_usd_per_mwh: float = 0.0,
                     **optimize_kwargs) -> dict:
    """Problem (b), native PyPSA: candidate loads served by an economic redispatch of every
    generator of ``model.gens`` (``gen >= 0``) within ``[min(Pmin, p0), max(Pmax, p0)]`` at the
    convex piecewise-linear cost of ``cost_curves`` (gen, segment, width_mw, cost_usd_per_mwh;
    costs x ``cost_factor``), under the same branch limits as planner.

    Minimizes ``cost_factor x generation cost above the lower bounds - value of the new load``.
    Returns ``served_mw``, ``generator_mw`` (Series by pandapower gen index), ``flows_mw``,
    ``value_usd``, ``generation_cost`` (the objective's cost part; the lower bounds' cost is a
    constant left out), ``objective`` (PyPSA's: ``generation_cost - value_usd``) and ``info``."""
    n = pypsa_network(model, candidates, supply="redispatch", grid=grid, cost_curves=cost_curves,
                      cost_factor=cost_factor, default_cost_usd_per_mwh=default_cost_usd_per_mwh)
    info = optimize(n, **optimize_kwargs)
    served = served_mw(n)
    value = candidates.assign(name=candidates["name"].astype(str)).set_index("name")["value_usd_per_mw"]
    seg = n.meta[META]["segments"]
    p = n.generators_t.p.iloc[0].reindex(seg["name"]).to_numpy()
    return {"network": n, "info": info, "served_mw": served, "generator_mw": generator_output(n),
            "flows_mw": branch_flows(n, model), "value_usd": float((served * value.reindex(served.index)).sum()),
            "generation_cost": float(np.dot(p, seg["cost"].to_numpy())), "objective": info["objective"]}


# --------------------------------------------------------------------------- checks


def _check(grid_name: str, k: int = 200, seed: int = 5) -> None:
    import planner
    from planner.network import sensitivity as sens

    _quiet()
    grid = planner.load_grid(grid_name)
    model = sens.dc_model(grid, "headroom")
    live = model.in_service
    print(f"{grid_name}: {model.n_bus} buses, {live.sum()} branch rows, "
          f"{int((np.abs(model.pfinj_mw) > 1e-9).sum())} phase shifters, {len(model.refs)} island(s)")

    def err(f):
        return float(np.nanmax(np.abs(f[live] - model.flow_mw[live])))

    for ps in ("injection", "transformer"):
        n = pypsa_network(model, phase_shift=ps)
        n.lpf()
        print(f"  lpf, phase shift as {ps}: max |flow - planner flow_mw| = {err(branch_flows(n, model)):.2e} MW")

    # an optimization with everything fixed: one candidate of 0 MW (PyPSA wants some cost), so the
    # slack generators are pinned at 0
    zero = pd.DataFrame({"name": ["zero"], "bus": [model.bus_ids[0]], "cap_mw": [0.0], "value_usd_per_mw": [1.0]})
    n = pypsa_network(model, zero)
    info = optimize(n, post_processing=False)
    print(f"  optimize, nothing free: {info['condition']}, max flow diff {err(branch_flows(n, model)):.2e} MW, "
          f"slack output max |p| {n.generators_t.p.abs().max().max():.2e} MW")
    # transformer phase shift in an optimization: what PyPSA does with it
    if (np.abs(model.pfinj_mw) > 1e-9).any():
        n = pypsa_network(model, zero, phase_shift="transformer")
        n.meta[META]["n_trafo_pst"] = 0  # bypass the guard to show the effect
        info = optimize(n, post_processing=False)
        print(f"  optimize with Transformer.phase_shift (guard bypassed): {info['condition']}, "
              f"max flow diff {err(branch_flows(n, model)):.2e} MW (PyPSA's KVL rows ignore the shift)")

    # candidates: the optimized flows must be planner's flows of the same new load
    rng = np.random.default_rng(seed)
    buses = rng.choice(model.bus_ids, k, replace=False)
    cand = pd.DataFrame({"name": [f"c{i}" for i in range(k)], "bus": buses,
                         "cap_mw": rng.uniform(50, 400, k).round(), "value_usd_per_mw": rng.uniform(0.5e6, 8e6, k)})
    out = solve_headroom(model, cand, post_processing=False)
    n, info = out["network"], out["info"]
    x = out["served_mw"].reindex(cand["name"]).to_numpy()
    load = np.zeros(model.n_bus)
    np.add.at(load, model.positions(cand["bus"].to_numpy()), x)
    ref = sens.flows(model, load)
    f = branch_flows(n, model)
    disp = sens.dispatch(model, load)
    slack = n.generators_t.p.iloc[0].filter(like="slack:")
    g0 = model.gens.set_index("gen").loc[disp.index]
    want = (disp - g0["p_mw"]).groupby(g0["bus_pos"].to_numpy()).sum()  # the change: p_g - p0_g
    got = slack.rename(lambda s: int(model.bus_pos[int(s[6:])]))
    over = np.nanmax(np.abs(f) - model.limit_mw)
    print(f"  optimize, {k} candidates: {info['condition']}, served {x.sum():,.1f} MW, "
          f"max |flow - sensitivity.flows| = {np.nanmax(np.abs(f - ref)[live]):.2e} MW, "
          f"max |slack p - dispatch| = {np.abs(got - want.reindex(got.index)).max():.2e} MW, "
          f"worst (|flow| - limit) on monitored rows {over:.2e} MW")

    # redispatch: gens pinned at p0 give planner's flows; free: hand checks
    gens = _gen_table(model, grid)
    curves = pd.DataFrame({"gen": np.repeat(gens["gen"].to_numpy(), 2), "segment": np.tile([0, 1], len(gens)),
                           "width_mw": np.repeat((gens["hi"] - gens["lo"]).to_numpy() / 2, 2),
                           "cost_usd_per_mwh": np.tile([20.0, 40.0], len(gens))
                           + np.repeat(rng.uniform(0, 30, len(gens)), 2)})
    n = pypsa_network(model, supply="redispatch", grid=grid, cost_curves=curves)
    seg = n.meta[META]["segments"]
    start = seg.groupby("i")["width_mw"].cumsum().to_numpy() - seg["width_mw"].to_numpy()
    i = seg["i"].to_numpy()
    fill = np.clip(gens["p0"].to_numpy()[i] - gens["lo"].to_numpy()[i] - start, 0.0, seg["width_mw"].to_numpy())
    pu = fill / seg["width_mw"].to_numpy()
    n.generators.loc[seg["name"], "p_min_pu"] = pu
    n.generators.loc[seg["name"], "p_max_pu"] = pu
    info = optimize(n, post_processing=False)
    print(f"  redispatch, every generator pinned at p0: {info['condition']}, "
          f"max flow diff {err(branch_flows(n, model)):.2e} MW, max |p - p0| "
          f"{np.abs(generator_output(n).to_numpy() - gens['p0'].to_numpy()).max():.2e} MW")
    out = solve_redispatch(model, grid, cand, curves, cost_factor=8760 * 10, post_processing=False)
    info, p, x, f = out["info"], out["generator_mw"], out["served_mw"], out["flows_mw"]
    residual = p.sum() - gens["p0"].sum() + model.injection_mw.sum() - x.sum()
    in_bounds = bool(((p >= gens["lo"].to_numpy() - 1e-6) & (p <= gens["hi"].to_numpy() + 1e-6)).all())
    print(f"  redispatch, {k} candidates: {info['condition']}, generation {p.sum():,.1f} MW = base {gens['p0'].sum():,.1f} MW "
          f"+ new load {x.sum():,.1f} MW (residual {residual:.2e} MW); "
          f"gens within bounds: {in_bounds}; worst (|flow| - limit) {np.nanmax(np.abs(f) - model.limit_mw):.2e} MW; "
          f"objective {out['objective']:.6e} = cost {out['generation_cost']:.6e} - value {out['value_usd']:.6e}")


if __name__ == "__main__":
    import sys
    import warnings

    warnings.simplefilter("ignore")
    for name in sys.argv[1:] or ["texas"]:
        _check(name)
