"""The allocation MILP: candidates from sites, and the PuLP model (build only).

Per site *i* (one that maps to a bus and has a MW figure):

* ``keep[i]``  MW of today's mining kept running, ``0 <= keep <= existing``;
* ``new[i]``   MW of new mining (mines only);
* ``ai[i]``    MW of AI load (grid MW), gated by ``z[i]`` (binary: convert the
  mine / build the campus), ``block * z <= ai <= cap * z``; a site whose minimum block is 0
  gets no binary (``0 <= ai <= cap``);
* ``keep + new + ai <= cap`` (the site's point of interconnection);
* ``draw[i] >= keep + new + ai - existing``, ``draw >= 0``: the MW drawn from
  the region's supply pool (today's load already has its supply).

Per candidate bus *k*: ``load[k] = sum of the site loads at k``. Per monitored
branch *l* the new flow is ``f0[l] + sum_k s[l,k] * load[k]`` with
``s = -PTDF`` (distributed slack), kept within ``+- limit[l]``; these rows are
added lazily by :mod:`planner.solve`. Regions: ``sum draw <= pool``,
``sum ai <= AI demand``. Budget: ``sum capex <= max_capex_usd``. The
objective is the NPV in million dollars (the solver sees numbers of order 1).

Today's mining load is not in the grid's base case (the synthetic grid does not
know the mine); keeping it is a decision like any other, and it loads the
network like any other MW.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pulp

from planner import economics as econ
from planner.economics import Economics
from planner.errors import InputError
from planner.scenario import PARAM_KEYS, check_setting, setting_default

MINING_USES = ("bitcoin", "conversion")
SCALE = 1e6  # objective and capex in million USD


@dataclass
class Params:
    """Everything :func:`planner.plan` needs besides the grid and the sites.

    The fields a scenario sets take their default, bounds and help from the scenario schema
    (:data:`planner.scenario.PARAM_KEYS`: e.g. ``min_block_mw`` is ``constraints.min_block_mw``);
    :meth:`validate` checks them against it. The README's scenario reference lists them."""

    economics: Economics = field(default_factory=Economics)
    #: who supplies new load (README "Supply response")
    supply_response: str = setting_default("supply_response")
    #: regional: pandapower gen index -> supply region; generators not listed: their bus's interconnect
    gen_regions: dict[int, str] = field(default_factory=dict)
    redispatch_cost_segments: int = setting_default("redispatch_cost_segments")
    allow_conversion: bool = setting_default("allow_conversion")
    allow_ai_cloud: bool = setting_default("allow_ai_cloud")
    split_paths: bool = setting_default("split_paths")
    min_block_mw: float = setting_default("min_block_mw")
    #: region -> MW of new supply available (regions not listed: no limit)
    supply_pools_mw: dict[str, float] = field(default_factory=dict)
    #: region -> MW of AI demand (regions not listed: no cap)
    ai_demand_mw: dict[str, float] = field(default_factory=dict)
    max_capex_usd: float | None = setting_default("max_capex_usd")
    #: MW of AI requested in all (reported as requested_ai_mw); default: the sum of ``ai_demand_mw``
    requested_ai_mw: float | None = None
    #: site column naming the region of pools and demand; missing -> the bus's interconnect
    region_column: str = "region"
    overload_dfax: float = setting_default("overload_dfax")
    security: str = setting_default("security")
    emergency_rating_factor: float = setting_default("emergency_rating_factor")
    mining_firm_share: float = setting_default("mining_firm_share")
    ai_firm_share: float = setting_default("ai_firm_share")
    offpeak_load_factor: float = setting_default("offpeak_load_factor")
    #: branch id -> multiplier of its rating (planner solve --ac-tighten sets these)
    rating_derate: dict[int, float] = field(default_factory=dict)
    lodf_cache_mb: float = setting_default("lodf_cache_mb")
    solver: str = setting_default("solver")
    time_limit_s: float | None = setting_default("time_limit_s")
    mip_gap: float = setting_default("mip_gap")
    threads: int | None = setting_default("threads")
    max_lazy_rounds: int = setting_default("max_lazy_rounds")
    near_binding: float = setting_default("near_binding")
    check_existing_load: bool = setting_default("check_existing_load")

    def validate(self) -> Params:
        self.economics.validate()
        for name in PARAM_KEYS:  # against the scenario schema: the same bounds and messages
            check_setting(name, getattr(self, name))
        for name in ("supply_pools_mw", "ai_demand_mw"):
            for region, mw in getattr(self, name).items():
                if not np.isfinite(mw) or mw < 0:
                    raise InputError("must be a number of MW >= 0", field=f"{name}.{region}", value=mw)
        for branch, factor in self.rating_derate.items():
            if not 0 < factor <= 1:
                raise InputError("must be in (0, 1]", field=f"rating_derate.{branch}", value=factor)
        return self


@dataclass
class Candidates:
    """The modelled sites as arrays (one entry per site), and their buses."""

    frame: pd.DataFrame          # modelled sites: site_id, bus, region, cap_mw, existing_mw, ...
    buses: np.ndarray            # unique candidate bus ids
    bus_of_site: np.ndarray      # position in ``buses`` of each site
    skipped: pd.DataFrame        # sites not modelled: site_id, row, reason, status (category), mw
    #: regional supply response: the supply region of each column (a bus may carry sites of two regions:
    #: one column each); None: one column per bus
    column_region: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.frame)


def _column(sites: pd.DataFrame, name: str, default) -> np.ndarray:
    if name in sites.columns:
        values = pd.to_numeric(sites[name], errors="coerce").to_numpy(float)
        return np.where(np.isfinite(values), values, default)
    return np.broadcast_to(np.asarray(default, float), len(sites)).copy()


def _flag(sites: pd.DataFrame, name: str, default: np.ndarray) -> np.ndarray:
    if name not in sites.columns:
        return default
    col = sites[name]
    known = col.notna().to_numpy()
    values = col.astype(str).str.lower().isin(["true", "1", "yes"]).to_numpy()
    return np.where(known, values, default)


#: MW below which a site's minimum block counts as none (see :func:`candidates`)
BLOCK_TOL_MW = 1e-6


def candidates(sites: pd.DataFrame, params: Params) -> Candidates:
    """Turn mapped sites into model candidates; list the others with a reason.

    Site size (``cap_mw``, grid MW): ``poi_mw``, else ``it_mw`` x PUE, else
    ``operating_mw``. Mines (``current_use`` bitcoin or conversion) may mine
    and, when conversions are allowed, convert; other sites (ai, development)
    may host AI as new builds. Optional per-site columns override defaults:
    ``allow_mining``, ``allow_ai``, ``min_block_mw``, ``ai_lease_usd_per_kw_month``,
    ``ai_capex_usd_per_mw``, ``ai_lead_months``, ``ai_value_usd_per_mw`` (NPV of a MW
    of AI there, replacing the lease arithmetic), ``ai_max_mw`` (most AI MW the site
    may take, e.g. the MW a tenant asked for), ``ai_min_mw`` (AI MW that must be
    served there: the site is then always built), and the region column.
    """
    e = params.economics
    sites = sites.reset_index(drop=True)
    n = len(sites)
    status = sites["status"].to_numpy() if "status" in sites else np.full(n, "mapped")
    poi = _column(sites, "poi_mw", np.nan)
    it = _column(sites, "it_mw", np.nan)
    operating = _column(sites, "operating_mw", np.nan)
    cap = np.where(np.isfinite(poi), poi, np.where(np.isfinite(it), it * float(e.ai_pue), operating))
    use = (sites["current_use"].fillna("").astype(str).str.lower().to_numpy()
           if "current_use" in sites else np.full(n, "development"))
    mine = np.isin(use, MINING_USES)
    existing = np.where(mine & np.isfinite(operating), np.minimum(np.nan_to_num(operating), np.nan_to_num(cap)),
                        0.0)
    reason = np.full(n, "", dtype=object)
    unmapped = status != "mapped"
    why = (sites["reason"].fillna("").astype(str).to_numpy() if "reason" in sites else np.full(n, ""))[unmapped]
    reason[unmapped] = [f"not mapped to a bus ({st}{': ' + w if w else ''})" for st, w in zip(status[unmapped], why)]
    category = np.where(unmapped, status, "")
    category[(category == "") & ~np.isfinite(cap)] = "no_mw"
    reason[(reason == "") & ~np.isfinite(cap)] = "no MW figure (poi_mw, it_mw or operating_mw)"
    category[(category == "") & (np.nan_to_num(cap) <= 0)] = "zero_mw"
    reason[(reason == "") & (np.nan_to_num(cap) <= 0)] = "size is 0 MW"
    allow_mining = _flag(sites, "allow_mining", mine)
    allow_ai = _flag(sites, "allow_ai", ~mine | bool(params.allow_conversion))
    if not params.allow_conversion:
        allow_ai = allow_ai & ~mine
    ok = reason == ""
    region_col = params.region_column
    if region_col in sites.columns:
        region = sites[region_col].astype("string").fillna("").to_numpy(str)
    else:
        region = np.full(n, "")
    fallback = sites["bus_interconnect"].astype(str).to_numpy() if "bus_interconnect" in sites else "grid"
    region = np.where(region == "", fallback, region)

    kind = np.where(mine, "conversion", "greenfield")
    lease = _column(sites, "ai_lease_usd_per_kw_month", e.ai_lease_usd_per_kw_month)
    capex_ai = _column(sites, "ai_capex_usd_per_mw", np.where(
        mine, e.ai_conversion_capex_usd_per_mw, e.ai_greenfield_capex_usd_per_mw))
    lead_ai = _column(sites, "ai_lead_months", np.where(
        mine, e.ai_conversion_lead_months, e.ai_greenfield_lead_months))
    v_ai = econ.ai_npv_per_mw(e, "conversion", lease_usd_per_kw_month=lease, capex_usd_per_mw=capex_ai,
                              lead_months=lead_ai)
    v_ai = np.where(np.isfinite(value := _column(sites, "ai_value_usd_per_mw", np.nan)), value, v_ai)
    income_ai = econ.ai_value_per_mw_year(e, lease)
    # a tenant's request is a lease: the MW it asks for are not the owner's to run as a cloud
    tenant = _column(sites, "requested_mw", 0.0) > 0
    allow_cloud = _flag(sites, "allow_ai_cloud", bool(params.allow_ai_cloud) & ~tenant) & allow_ai
    v_cloud = econ.ai_cloud_npv_per_mw(e, capex_usd_per_mw=capex_ai, lead_months=lead_ai)
    v_cloud = np.where(np.isfinite(cvalue := _column(sites, "ai_cloud_value_usd_per_mw", np.nan)), cvalue, v_cloud)
    capex_cloud = capex_ai + econ.ai_cloud_gpu_usd_per_mw(e)  # the shell and the first GPUs
    ai_cap = np.minimum(np.nan_to_num(cap), _column(sites, "ai_max_mw", np.inf))
    ai_min = _column(sites, "ai_min_mw", 0.0)
    block = np.minimum(_column(sites, "min_block_mw", params.min_block_mw), ai_cap)
    # a block under a watt is below the solver's feasibility tolerance (1e-7 MW): the MILP could take
    # it as built with no MW, and the LP with the binaries fixed then finds no solution; it is no block
    block = np.where(block < BLOCK_TOL_MW, 0.0, block)
    frame = pd.DataFrame({
        "site_id": sites["site_id"].astype(str).to_numpy() if "site_id" in sites else np.arange(n).astype(str),
        "row": np.arange(n),
        "bus": pd.to_numeric(sites["bus"], errors="coerce").to_numpy() if "bus" in sites else np.nan,
        "region": region,
        "current_use": use,
        "kind": kind,
        "cap_mw": cap,
        "existing_mw": existing,
        "allow_mining": allow_mining.astype(bool),
        "allow_ai": allow_ai.astype(bool),
        "allow_ai_cloud": allow_cloud.astype(bool),
        "min_block_mw": block,
        "ai_cap_mw": ai_cap,
        "ai_min_mw": ai_min,
        "v_keep_usd_per_mw": np.broadcast_to(econ.mining_npv_per_mw(e, existing=True), n),
        "v_new_usd_per_mw": np.broadcast_to(econ.mining_npv_per_mw(e, existing=False), n),
        "v_ai_usd_per_mw": np.broadcast_to(v_ai, n),
        "v_cloud_usd_per_mw": np.broadcast_to(v_cloud, n),
        "capex_new_usd_per_mw": np.broadcast_to(
            e.mining_build_capex_usd_per_mw + econ.mining_hardware_usd_per_mw(e), n),
        "capex_ai_usd_per_mw": np.broadcast_to(capex_ai, n),
        "capex_cloud_usd_per_mw": np.broadcast_to(capex_cloud, n),
        # what a timeline values each year with (planner.timeline)
        "ai_lead_months": np.broadcast_to(lead_ai, n),
        "ai_income_usd_per_mw_year": np.broadcast_to(income_ai, n),
        "ai_value_override_usd_per_mw": value,
        "ai_cloud_value_override_usd_per_mw": cvalue,
    })
    must = ok & (ai_min > 0)
    for i in np.flatnonzero(must):
        sid = frame["site_id"].iat[i]
        if not frame["allow_ai"].iat[i]:
            raise InputError("AI must be served at a site that may not host AI"
                             + ("" if params.allow_conversion else " (conversions are not allowed)"),
                             field="ai_min_mw", row=sid, value=float(ai_min[i]))
        if ai_min[i] > ai_cap[i] + 1e-9:
            raise InputError(f"more AI must be served than the site can take ({ai_cap[i]:g} MW)",
                             field="ai_min_mw", row=sid, value=float(ai_min[i]))
    model_frame = frame[ok].reset_index(drop=True)
    model_frame["bus"] = model_frame["bus"].astype(np.int64)
    column_region = None
    if params.supply_response == "regional":  # one load column per (bus, region)
        pairs = pd.MultiIndex.from_arrays([model_frame["bus"].to_numpy(), model_frame["region"].to_numpy()])
        uniq = pairs.unique().sort_values()
        bus_of_site = uniq.get_indexer(pairs)
        buses = uniq.get_level_values(0).to_numpy(np.int64)
        column_region = uniq.get_level_values(1).to_numpy(object)
    else:
        buses, bus_of_site = np.unique(model_frame["bus"].to_numpy(), return_inverse=True)
    # requested MW where a request says so, else the site's size
    asked = np.where(_column(sites, "requested_mw", 0.0) > 0, _column(sites, "requested_mw", 0.0), np.nan_to_num(cap))
    skipped = frame.loc[~ok, ["site_id", "row"]].assign(reason=reason[~ok], status=category[~ok], mw=asked[~ok])
    regions = set(model_frame["region"])
    for name in ("supply_pools_mw", "ai_demand_mw"):
        for key in getattr(params, name):
            if key not in regions and len(model_frame):
                raise InputError("names a region no modelled site is in", field=f"{name}.{key}", value=key,
                                 expected="one of " + ", ".join(sorted(regions)))
    return Candidates(frame=model_frame, buses=buses, bus_of_site=bus_of_site, skipped=skipped,
                      column_region=column_region)


@dataclass
class Built:
    """The PuLP problem and handles on its variables and rows."""

    prob: pulp.LpProblem
    keep: dict[int, pulp.LpVariable]
    new: dict[int, pulp.LpVariable]
    ai: dict[int, pulp.LpVariable]
    z: dict[int, pulp.LpVariable]
    load: list[pulp.LpVariable]
    poi: dict[int, pulp.LpConstraint]
    aiup: dict[int, pulp.LpConstraint]
    pools: dict[str, pulp.LpConstraint]
    demand: dict[str, pulp.LpConstraint]
    budget: pulp.LpConstraint | None
    #: state name ("peak", "offpeak") -> new load per candidate bus that counts in that state
    loads: dict[str, list] = field(default_factory=dict)
    #: network rows added lazily: (kind, state, row id, side) -> constraint
    rows: dict[tuple, pulp.LpConstraint] = field(default_factory=dict)
    #: redispatch: state -> per generator, its cost segment variables (:func:`planner.redispatch.add_dispatch`)
    segments: dict[str, list] = field(default_factory=dict)
    #: AI cloud MW of a site (a part of its ``ai`` MW, valued at the cloud's NPV less the lease's)
    cloud: dict[int, pulp.LpVariable] = field(default_factory=dict)
    #: ``split_paths = false``: a site's binary per path it may take (:data:`planner.economics.PATHS`)
    paths: dict[int, dict[str, pulp.LpVariable]] = field(default_factory=dict)
    #: the problem held by HiGHS (:class:`planner.live.LiveModel`), made on the first solve
    live: object | None = field(default=None, repr=False)
    #: the tie-break's NPV row (:func:`planner.solve.break_ties`), relaxed outside its stage
    tie: pulp.LpConstraint | None = None


def shadow(con) -> float:
    """Objective gain ($) per unit increase of a constraint's right-hand side (maximization),
    from the dual the last LP solve left on it; 0 for a missing row or one without a dual."""
    if con is None or con.pi is None:
        return 0.0
    return -float(con.pi) * SCALE


def _expr(pairs) -> pulp.LpAffineExpression:
    return pulp.LpAffineExpression(pairs)


def site_objective(f: pd.DataFrame, keep: dict, new: dict, ai: dict, cloud: dict | None = None) -> list[tuple]:
    """Objective terms (variable, NPV in million $ per MW) of the site variables: the values
    of the candidate frame ``f`` (economics enter the model here and in :func:`capex_terms`).
    A cloud MW is also an ``ai`` MW: it adds the cloud's NPV less the lease's."""
    terms = [(v, float(f[col].iat[i]) / SCALE)
             for var, col in ((keep, "v_keep_usd_per_mw"), (new, "v_new_usd_per_mw"), (ai, "v_ai_usd_per_mw"))
             for i, v in var.items()]
    return terms + [(v, float(f["v_cloud_usd_per_mw"].iat[i] - f["v_ai_usd_per_mw"].iat[i]) / SCALE)
                    for i, v in (cloud or {}).items()]


def capex_terms(f: pd.DataFrame, new: dict, ai: dict, cloud: dict | None = None) -> list[tuple]:
    """Budget row terms (variable, capex in million $ per MW)."""
    terms = [(v, float(f[col].iat[i]) / SCALE)
             for var, col in ((new, "capex_new_usd_per_mw"), (ai, "capex_ai_usd_per_mw")) for i, v in var.items()]
    return terms + [(v, float(f["capex_cloud_usd_per_mw"].iat[i] - f["capex_ai_usd_per_mw"].iat[i]) / SCALE)
                    for i, v in (cloud or {}).items()]


def build(cand: Candidates, params: Params, objective: str = "npv") -> Built:
    """Build the MILP without network rows (see :func:`add_rows`).

    ``objective="existing"`` builds the LP that maximizes how much of today's
    load the network can carry (only ``keep`` variables, weight 1 each);
    ``objective="reference"`` builds no site variable at all (every new load is 0: the
    redispatch reference, see :mod:`planner.redispatch`).
    """
    f = cand.frame
    prob = pulp.LpProblem("planner", pulp.LpMaximize)
    keep, new, ai, z, draw, cloud = {}, {}, {}, {}, {}, {}
    only_existing = objective in ("existing", "reference")
    for i, row in enumerate(f.itertuples(index=False)):
        if objective == "reference":
            continue
        if row.existing_mw > 0 and (row.allow_mining or only_existing):
            keep[i] = prob.add_variable(f"keep_{i}", 0, row.existing_mw)
        if only_existing:
            continue
        if row.allow_mining and row.cap_mw > row.existing_mw:
            new[i] = prob.add_variable(f"new_{i}", 0)  # bounded by the POI row
        if row.allow_ai and row.ai_cap_mw > 0:
            must = float(row.ai_min_mw)  # must-serve: z = 1 and ai >= the MW asked for
            if row.min_block_mw > 0:  # a binary only where a minimum block needs one
                # bounded by aiup (ai <= cap * z) too; the bound keeps ai_max_mw when the duals' LP
                # relaxes aiup with z fixed at 1
                ai[i] = prob.add_variable(f"ai_{i}", must, float(row.ai_cap_mw))
                z[i] = prob.add_variable(f"z_{i}", 1 if must > 0 else 0, 1, cat=pulp.LpBinary)
            else:  # any MW from 0 to the cap: no binary
                ai[i] = prob.add_variable(f"ai_{i}", must, float(row.ai_cap_mw))
            if row.allow_ai_cloud:  # the part of the AI MW the site runs as its own cloud
                cloud[i] = prob.add_variable(f"cloud_{i}", 0, float(row.ai_cap_mw))
                prob += pulp.LpConstraint(_expr([(cloud[i], 1.0), (ai[i], -1.0)]), pulp.LpConstraintLE,
                                          f"cloud_{i}", 0.0)
    if only_existing:
        prob += _expr([(v, 1.0) for v in keep.values()])
    else:
        prob += _expr(site_objective(f, keep, new, ai, cloud))
    paths = {} if params.split_paths or only_existing else _one_path(prob, f, keep, new, ai, cloud)

    uses_of = {i: [(v[i], 1.0) for v in (keep, new, ai) if i in v] for i in range(len(f))}
    poi = {}
    for i, pairs in uses_of.items():
        if pairs:
            poi[i] = pulp.LpConstraint(_expr(pairs), pulp.LpConstraintLE, f"poi_{i}", float(f.cap_mw.iat[i]))
            prob += poi[i]
    aiup = {}
    for i, var in ai.items():
        if i not in z:
            continue
        cap, block = float(f.ai_cap_mw.iat[i]), float(f.min_block_mw.iat[i])
        aiup[i] = pulp.LpConstraint(_expr([(var, 1.0), (z[i], -cap)]), pulp.LpConstraintLE, f"aiup_{i}", 0.0)
        prob += aiup[i]
        if block > 0:
            prob += pulp.LpConstraint(_expr([(var, 1.0), (z[i], -block)]), pulp.LpConstraintGE,
                                      f"ailo_{i}", 0.0)

    loads = load_vectors(prob, cand, params, keep, new, ai)
    load = loads["peak"] if "offpeak" not in loads else loads["offpeak"]  # all new load (off-peak counts all)

    pools, demand = {}, {}
    if not only_existing:
        for region, mw in params.supply_pools_mw.items():
            idx = np.flatnonzero(f["region"].to_numpy() == region)
            terms = []
            for i in idx:
                if not uses_of[i]:
                    continue
                draw[i] = prob.add_variable(f"draw_{i}", 0)
                prob += pulp.LpConstraint(_expr([(draw[i], 1.0)] + [(v, -1.0) for v, _ in uses_of[i]]),
                                          pulp.LpConstraintGE, f"draw_{i}", -float(f.existing_mw.iat[i]))
                terms.append((draw[i], 1.0))
            pools[region] = pulp.LpConstraint(_expr(terms), pulp.LpConstraintLE, f"pool_{region}", float(mw))
            prob += pools[region]
        for region, mw in params.ai_demand_mw.items():
            idx = np.flatnonzero(f["region"].to_numpy() == region)
            terms = [(ai[i], 1.0) for i in idx if i in ai]
            demand[region] = pulp.LpConstraint(_expr(terms), pulp.LpConstraintLE, f"demand_{region}", float(mw))
            prob += demand[region]
    budget = None
    if params.max_capex_usd is not None and not only_existing:
        budget = pulp.LpConstraint(_expr(capex_terms(f, new, ai, cloud)), pulp.LpConstraintLE, "budget",
                                   params.max_capex_usd / SCALE)
        prob += budget
    return Built(prob=prob, keep=keep, new=new, ai=ai, z=z, load=load, poi=poi, aiup=aiup, pools=pools,
                 demand=demand, budget=budget, loads=loads, cloud=cloud, paths=paths)


def _one_path(prob: pulp.LpProblem, f: pd.DataFrame, keep: dict, new: dict, ai: dict, cloud: dict,
              tag: str = "") -> dict:
    """``split_paths = false``: at a site with more than one path, a binary per path, at most one of
    them 1, and each path's MW at most the site's size times its binary (mining: kept and new MW;
    lease: AI MW not in the cloud; cloud). A mine that takes an AI path stops mining. ``tag``
    names the binaries and rows (a timeline's year: one set per year, :mod:`planner.timeline`)."""
    paths = {}
    for i in range(len(f)):
        mw = {"mining": [(v[i], 1.0) for v in (keep, new) if i in v],
              "ai_lease": [(ai[i], 1.0)] + ([(cloud[i], -1.0)] if i in cloud else []) if i in ai else [],
              "ai_cloud": [(cloud[i], 1.0)] if i in cloud else []}
        mw = {k: v for k, v in mw.items() if v}
        if len(mw) < 2:
            continue
        cap = float(f["cap_mw"].iat[i])
        paths[i] = {k: prob.add_variable(f"path_{k}_{tag}{i}", 0, 1, cat=pulp.LpBinary) for k in mw}
        for k, pairs in mw.items():
            prob += pulp.LpConstraint(_expr(pairs + [(paths[i][k], -cap)]), pulp.LpConstraintLE,
                                      f"path_{k}_{tag}{i}", 0.0)
        prob += pulp.LpConstraint(_expr([(y, 1.0) for y in paths[i].values()]), pulp.LpConstraintLE,
                                  f"one_path_{tag}{i}", 1.0)
    return paths


def load_vectors(prob: pulp.LpProblem, cand: Candidates, params: Params, keep: dict, new: dict, ai: dict,
                 prefix: str = "") -> dict[str, list]:
    """Per load state (:func:`planner.security.state_shares`), the new load per candidate bus that
    counts in it: one variable per bus, equal to the sum of its sites' MW times the state's share
    of each use. States with the same shares share their variables. ``prefix`` names them (a
    timeline's year)."""
    from planner.security import state_shares

    loads, by_shares = {}, {}
    for state, share in state_shares(params).items():
        key = (share["mining"], share["ai"])
        if key not in by_shares:
            name = prefix + ("all" if key == (1.0, 1.0) else state)
            members: list[list] = [[] for _ in cand.buses]
            for (mw_share, var) in ((key[0], keep), (key[0], new), (key[1], ai)):
                for i, v in var.items():
                    if mw_share > 0:
                        members[cand.bus_of_site[i]].append((v, -mw_share))
            vec = [prob.add_variable(f"load_{name}_{k}", 0) for k in range(len(cand.buses))]
            for k, pairs in enumerate(members):
                prob += pulp.LpConstraint(_expr([(vec[k], 1.0)] + pairs), pulp.LpConstraintEQ,
                                          f"bus_{name}_{k}", 0.0)
            by_shares[key] = vec
        loads[state] = by_shares[key]
    return loads


def add_rows(built: Built, keys: list, coef: np.ndarray, base_mw: np.ndarray, limit_mw: np.ndarray,
             state: str, tol: float = 1e-12) -> int:
    """Add network rows ``-limit <= base + coef @ load[state] <= limit``, one side each:
    ``keys[i] = (kind, state, row id, side)`` with side +1 (upper) or -1 (lower).
    Rows already in the model are skipped. Returns the number added."""
    load = built.loads[state]
    added = 0
    for i, key in enumerate(keys):
        if key in built.rows:
            continue
        c = coef[i]
        nz = np.flatnonzero(np.abs(c) > tol)
        expr = _expr(list(zip([load[k] for k in nz], c[nz].tolist())))
        name = f"net_{len(built.rows)}"
        if key[-1] > 0:
            con = pulp.LpConstraint(expr, pulp.LpConstraintLE, name, float(limit_mw[i] - base_mw[i]))
        else:
            con = pulp.LpConstraint(expr, pulp.LpConstraintGE, name, float(-limit_mw[i] - base_mw[i]))
        built.prob += con
        built.rows[key] = con
        added += 1
    return added
