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
added lazily by :mod:`planner.optimization.solve`. Regions: ``sum draw <= pool``,
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
from planner.config.scenario import PARAM_KEYS, check_setting, setting_default
from planner.core.errors import InputError
from planner.economics import Economics
from planner.network import supply as supply_kinds
from planner.optimization import periods
from planner.optimization.periods import Timeline, Values

MINING_USES = ("bitcoin", "conversion")
SCALE = 1e6  # objective and capex in million USD


@dataclass
class Params:
    """Everything :func:`planner.plan` needs besides the grid and the sites.

    The fields a scenario sets take their default, bounds and help from the scenario schema
    (:data:`planner.config.scenario.PARAM_KEYS`: e.g. ``min_block_mw`` is ``constraints.min_block_mw``);
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
    bus_hosting: bool = setting_default("bus_hosting")

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

    @property
    def supply(self) -> supply_kinds.SupplyResponse:
        """The supply response ``supply_response`` names (:mod:`planner.network.supply`)."""
        return supply_kinds.of(self.supply_response)


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
        # what a timeline values each year with (planner.optimization.periods)
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
    if params.supply.per_region:  # one load column per (bus, region)
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
    #: network rows added lazily: (kind, state, row id, side) -> :class:`NetRow`
    rows: dict[tuple, NetRow] = field(default_factory=dict)
    #: network rows not yet handed to the solver (HiGHS as arrays; CBC as PuLP rows)
    pending: list = field(default_factory=list, repr=False)
    #: CBC: the PuLP copy of each network row, by name
    twins: dict = field(default_factory=dict, repr=False)
    #: redispatch: state -> per generator, its cost segment variables (:func:`planner.network.redispatch.add_dispatch`)
    segments: dict[str, list] = field(default_factory=dict)
    #: AI cloud MW of a site (a part of its ``ai`` MW, valued at the cloud's NPV less the lease's)
    cloud: dict[int, pulp.LpVariable] = field(default_factory=dict)
    #: ``split_paths = false``: a site's binary per path it may take (:data:`planner.economics.PATHS`)
    paths: dict[int, dict[str, pulp.LpVariable]] = field(default_factory=dict)
    #: the problem held by HiGHS (:class:`planner.optimization.live.LiveModel`), made on the first solve
    live: object | None = field(default=None, repr=False)
    #: the tie-break's NPV row (:func:`planner.optimization.solve.break_ties`), relaxed outside its stage
    tie: pulp.LpConstraint | None = None
    #: each period's handles (:class:`Year`), and the periods and their values the model was built with
    periods: list = field(default_factory=list)
    timeline: Timeline | None = None
    values: Values | None = None


def shadow(con) -> float:
    """Objective gain ($) per unit increase of a constraint's right-hand side (maximization),
    from the dual the last LP solve left on it; 0 for a missing row or one without a dual."""
    if con is None or con.pi is None:
        return 0.0
    return -float(con.pi) * SCALE


def expr(pairs) -> pulp.LpAffineExpression:
    """A PuLP row or objective from (variable, coefficient) pairs."""
    return pulp.LpAffineExpression(pairs)


_expr = expr


def capex_terms(f: pd.DataFrame, new: dict, ai: dict, cloud: dict | None = None) -> list[tuple]:
    """Budget row terms (variable, capex in million $ per MW)."""
    terms = [(v, float(f[col].iat[i]) / SCALE)
             for var, col in ((new, "capex_new_usd_per_mw"), (ai, "capex_ai_usd_per_mw")) for i, v in var.items()]
    return terms + [(v, float(f["capex_cloud_usd_per_mw"].iat[i] - f["capex_ai_usd_per_mw"].iat[i]) / SCALE)
                    for i, v in (cloud or {}).items()]


@dataclass
class Year:
    """Handles on one year's variables and rows (dicts by site position)."""

    keep: dict = field(default_factory=dict)
    new: dict = field(default_factory=dict)
    ai: dict = field(default_factory=dict)
    cloud: dict = field(default_factory=dict)  # the part of ai run as the site's own cloud
    z: dict = field(default_factory=dict)
    paths: dict = field(default_factory=dict)  # split_paths false: site -> path -> binary
    built: dict = field(default_factory=dict)    # AI MW built this year (removable sites)
    removed: dict = field(default_factory=dict)  # AI MW removed this year (removable sites)
    built_new: dict = field(default_factory=dict)  # new-mining MW built this year (allow_removal)
    retired: dict = field(default_factory=dict)    # (vintage year, site) -> new-mining MW removed this year
    #: the year's objective terms of each site: (site, variable, $ per unit / SCALE)
    terms: list = field(default_factory=list)
    poi: dict = field(default_factory=dict)
    aiup: dict = field(default_factory=dict)
    pools: dict = field(default_factory=dict)
    demand: dict = field(default_factory=dict)
    loads: dict = field(default_factory=dict)



def one_path(prob: pulp.LpProblem, f: pd.DataFrame, keep: dict, new: dict, ai: dict, cloud: dict,
             tag: str = "") -> dict:
    """``split_paths = false``: at a site with more than one path, a binary per path, at most one of
    them 1, and each path's MW at most the site's size times its binary (mining: kept and new MW;
    lease: AI MW not in the cloud; cloud). A mine that takes an AI path stops mining. ``tag``
    names the binaries and rows (a period's: one set per period)."""
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
    """Per load state (:func:`planner.network.security.state_shares`), the new load per candidate bus that
    counts in it: one variable per bus, equal to the sum of its sites' MW times the state's share
    of each use. States with the same shares share their variables. ``prefix`` names them (a
    period's)."""
    from planner.network.security import state_shares

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


def _period_loads(prob, cand: Candidates, params: Params, tl: Timeline, t: int, keep: dict, new: dict, ai: dict
                  ) -> dict[str, list]:
    """Period ``t``'s load vectors, by state name ("peak" for the last period, "2027 peak" before)."""
    prefix = tl.name(t)
    loads = load_vectors(prob, cand, params, keep, new, ai, prefix=f"y{tl.years[t]}_" if prefix else "")
    return {f"{prefix} {s}".strip(): v for s, v in loads.items()}


def build(cand: Candidates, params: Params, tl: Timeline | None = None, val: Values | None = None,
          objective: str = "npv") -> Built:
    """The allocation model without network rows (:func:`add_rows` adds them, lazily: see
    :mod:`planner.optimization.solve`): the one builder of every plan.

    Index sets: the sites (``cand``), their paths (kept and new mining, AI lease, AI cloud), the
    periods of ``tl`` (default: one, :func:`planner.optimization.periods.single`) and each period's load
    states (:func:`load_vectors`). Per period: the site, POI, block, path, pool and demand rows;
    across periods: what is built stays, today's mining once stopped stays stopped, and the
    budgets. The objective is the NPV in million $ (:mod:`planner.optimization.periods` for the values of
    each period); the supply response adds its own block (e.g. :func:`planner.network.redispatch.add_dispatch`).
    With one period every row and name is the single period's.

    ``objective="existing"`` builds the LP that maximizes how much of today's load the network can
    carry (one period; only ``keep`` variables, weight 1 each, at every site with mining today);
    ``objective="reference"`` builds no site variable at all (every new load is 0: the redispatch
    reference, one load vector per state of every period).

    The returned :class:`Built` holds every period (its dicts keyed by (period, site)) and each
    period's handles (``built.periods``).
    """
    tl = periods.single(params) if tl is None else tl
    val = periods.values(cand.frame, params.economics, tl.n) if val is None else val
    if objective not in ("npv", "existing", "reference"):
        raise ValueError(f"unknown objective {objective!r}")
    c = _Context.of(cand, params, tl, val, objective)
    years = [Year() for _ in range(tl.n)]
    for t, yr in enumerate(years):
        tag = f"{t}_" if tl.n > 1 else ""  # one period: the single period's names
        before = years[t - 1] if t else Year()
        if objective != "reference":
            _site_columns(c, years, t, tag)
        if not params.split_paths and objective == "npv":  # one path per site in each period's state
            yr.paths = one_path(c.prob, c.f, yr.keep, yr.new, yr.ai, yr.cloud, tag=tag)
        _site_rows(c, yr, t, tag)
        if t:
            _linking_rows(c, yr, before, tag)
        yr.loads = _period_loads(c.prob, cand, params, tl, t, yr.keep, yr.new, yr.ai)
        if objective == "npv":
            _region_rows(c, yr, t, tag)
    _retire_rows(c, years)
    c.prob += _expr([(v, k) for yr in years for _, v, k in yr.terms])
    budget = _budget_rows(c, years) if objective == "npv" else None

    def every(name):
        return {(t, i): v for t, yr in enumerate(years) for i, v in getattr(yr, name).items()}

    return Built(prob=c.prob, keep=every("keep"), new=every("new"), ai=every("ai"), z=every("z"),
                 cloud=every("cloud"), paths=every("paths"), load=[], poi=every("poi"), aiup=every("aiup"),
                 pools={(t, r): k for t, yr in enumerate(years) for r, k in yr.pools.items()},
                 demand={(t, r): k for t, yr in enumerate(years) for r, k in yr.demand.items()},
                 budget=budget, loads={k: v for yr in years for k, v in yr.loads.items()}, periods=years,
                 timeline=tl, values=val)


@dataclass
class _Context:
    """What every block of :func:`build` reads: the problem, the candidates' columns as arrays, the
    periods and their values."""

    prob: pulp.LpProblem
    f: pd.DataFrame
    tl: Timeline
    val: Values
    objective: str
    cap: np.ndarray
    existing: np.ndarray
    ai_cap: np.ndarray
    asked: np.ndarray      # sites x periods: most AI MW
    must: np.ndarray       # sites x periods: AI MW that must be served
    block: np.ndarray
    allow_mining: np.ndarray
    allow_ai: np.ndarray
    allow_cloud: np.ndarray
    region: np.ndarray
    removable: np.ndarray  # AI MW that may be removed (lease income: a given NPV cannot be split by year)
    max_capex_usd: float | None

    @classmethod
    def of(cls, cand: Candidates, params: Params, tl: Timeline, val: Values, objective: str) -> _Context:
        f = cand.frame
        asked, must = periods.asked_and_must(f, tl, val)
        return cls(prob=pulp.LpProblem("planner", pulp.LpMaximize), f=f, tl=tl, val=val, objective=objective,
                   cap=f["cap_mw"].to_numpy(float), existing=f["existing_mw"].to_numpy(float),
                   ai_cap=f["ai_cap_mw"].to_numpy(float), asked=asked, must=must,
                   block=f["min_block_mw"].to_numpy(float), allow_mining=f["allow_mining"].to_numpy(bool),
                   allow_ai=f["allow_ai"].to_numpy(bool), allow_cloud=f["allow_ai_cloud"].to_numpy(bool),
                   region=f["region"].to_numpy(), removable=np.isfinite(val.u_ai[:, -1]) & bool(tl.allow_removal),
                   max_capex_usd=params.max_capex_usd)


def _site_columns(c: _Context, years: list[Year], t: int, tag: str) -> None:
    """Period ``t``'s MW of each path at each site and their objective terms: kept mining (``keep``),
    new mining (``new``; with removal, each period's vintage ``built_new`` and what it retires), AI
    (``ai``, a binary ``z`` where a minimum block needs one; with removal ``built`` and ``removed``)
    and the part of it run as the site's own cloud (``cloud``). Without removal a MW is valued as the
    increment over the period before (its value from then less the next period's)."""
    prob, val, yr, n = c.prob, c.val, years[t], len(c.f)
    before = years[t - 1] if t else Year()
    existing_only = c.objective == "existing"
    v_ai_next = np.c_[val.v_ai[:, 1:], np.zeros(n)]
    v_up = val.v_cloud - val.v_ai  # a cloud MW is an ai MW worth this much more; cloud MW stay once built
    v_up_next = np.c_[v_up[:, 1:], np.zeros(n)]
    v_new_next = np.r_[val.v_new[1:], 0.0]

    def value(i, var, usd):
        yr.terms.append((i, var, usd / SCALE))

    for i in range(n):
        if c.existing[i] > 0 and (c.allow_mining[i] or existing_only):
            yr.keep[i] = prob.add_variable(f"keep_{tag}{i}", 0, float(c.existing[i]))
            value(i, yr.keep[i], SCALE if existing_only else val.w_keep[t])
        if existing_only:
            continue
        if c.allow_mining[i] and c.cap[i] > c.existing[i] and val.new_allowed[t]:
            yr.new[i] = prob.add_variable(f"new_{tag}{i}", 0)
            if c.tl.allow_removal:  # each period's MW a vintage of its own, removable in any later period
                yr.built_new[i] = prob.add_variable(f"built_new_{tag}{i}", 0)
                value(i, yr.built_new[i], val.v_new[t])
                for b in range(t):
                    if i in years[b].built_new:
                        yr.retired[b, i] = prob.add_variable(f"retired_{b}_{tag}{i}", 0)
                        value(i, yr.retired[b, i], -val.u_new[b, t])
                prob += pulp.LpConstraint(_expr([(yr.new[i], 1.0), (yr.built_new[i], -1.0)]
                                                + ([(before.new[i], -1.0)] if i in before.new else [])
                                                + [(v, 1.0) for (b, k), v in yr.retired.items() if k == i]),
                                          pulp.LpConstraintEQ, f"change_new_{tag}{i}", 0.0)
            else:
                value(i, yr.new[i], val.v_new[t] - v_new_next[t])
        if c.allow_ai[i] and c.ai_cap[i] > 0 and val.ai_allowed[i, t]:
            yr.ai[i] = prob.add_variable(f"ai_{tag}{i}", float(c.must[i, t]), float(c.asked[i, t]))
            if c.removable[i]:  # built and removed MW: each valued on its own
                yr.built[i] = prob.add_variable(f"built_{tag}{i}", 0)
                value(i, yr.built[i], val.v_ai[i, t])
                if t and i in before.ai:
                    yr.removed[i] = prob.add_variable(f"removed_{tag}{i}", 0)
                    value(i, yr.removed[i], -val.u_ai[i, t])
                prev = [(before.ai[i], -1.0)] if t and i in before.ai else []
                prob += pulp.LpConstraint(_expr([(yr.ai[i], 1.0), (yr.built[i], -1.0)] + prev
                                                + ([(yr.removed[i], 1.0)] if i in yr.removed else [])),
                                          pulp.LpConstraintEQ, f"change_{tag}{i}", 0.0)
            else:
                value(i, yr.ai[i], val.v_ai[i, t] - v_ai_next[i, t])
            if c.block[i] > 0:
                yr.z[i] = prob.add_variable(f"z_{tag}{i}", 1 if c.must[i, t] > 0 else 0, 1, cat=pulp.LpBinary)
            if c.allow_cloud[i]:  # the part of the AI MW the site runs as its own cloud
                yr.cloud[i] = prob.add_variable(f"cloud_{tag}{i}", 0, float(c.ai_cap[i]))
                prob += pulp.LpConstraint(_expr([(yr.cloud[i], 1.0), (yr.ai[i], -1.0)]), pulp.LpConstraintLE,
                                          f"cloud_{tag}{i}", 0.0)
                value(i, yr.cloud[i], v_up[i, t] - v_up_next[i, t])


def _site_rows(c: _Context, yr: Year, t: int, tag: str) -> None:
    """Period ``t``'s POI row of each site (its MW within its size) and the block rows of each binary
    (``block * z <= ai <= cap * z``; a period asked for less than a block builds what it is asked for)."""
    prob = c.prob
    for i in range(len(c.f)):
        pairs = [(v[i], 1.0) for v in (yr.keep, yr.new, yr.ai) if i in v]
        if pairs:
            yr.poi[i] = pulp.LpConstraint(_expr(pairs), pulp.LpConstraintLE, f"poi_{tag}{i}", float(c.cap[i]))
            prob += yr.poi[i]
    for i, z in yr.z.items():
        a = yr.ai[i]
        yr.aiup[i] = pulp.LpConstraint(_expr([(a, 1.0), (z, -float(c.ai_cap[i]))]), pulp.LpConstraintLE,
                                       f"aiup_{tag}{i}", 0.0)
        prob += yr.aiup[i]
        lo = min(float(c.block[i]), float(c.asked[i, t])) if c.asked[i, t] > 0 else float(c.block[i])
        prob += pulp.LpConstraint(_expr([(a, 1.0), (z, -lo)]), pulp.LpConstraintGE, f"ailo_{tag}{i}", 0.0)


def _linking_rows(c: _Context, yr: Year, before: Year, tag: str) -> None:
    """Between a period and the one before: what is built stays (unless it may be removed); today's
    mining may stop, and once stopped stays stopped (a restart would skip the hardware refresh of the
    periods it stood still); a column not allowed in this period (a cap of 0) had nothing before."""
    prob = c.prob
    for i, v in yr.keep.items():
        if i in before.keep:
            prob += pulp.LpConstraint(_expr([(v, 1.0), (before.keep[i], -1.0)]), pulp.LpConstraintLE,
                                      f"stop_keep_{tag}{i}", 0.0)
    for name in ("ai", "new", "z", "cloud"):
        now, prev = getattr(yr, name), getattr(before, name)
        for i, v in prev.items():
            if i in now and ((name in ("ai", "z") and c.removable[i]) or (name == "new" and c.tl.allow_removal)):
                continue  # may be removed
            if i in now:
                prob += pulp.LpConstraint(_expr([(now[i], 1.0), (v, -1.0)]), pulp.LpConstraintGE,
                                          f"stay_{name}_{tag}{i}", 0.0)
            else:
                prob += pulp.LpConstraint(_expr([(v, 1.0)]), pulp.LpConstraintEQ, f"none_{name}_{tag}{i}", 0.0)


def _region_rows(c: _Context, yr: Year, t: int, tag: str) -> None:
    """Period ``t``'s supply pool of each region (the MW its sites draw beyond today's load) and its
    AI demand cap."""
    prob = c.prob
    for r, pool in c.tl.pools_mw.items():
        terms = []
        for i in np.flatnonzero(c.region == r):
            pairs = [(v[i], -1.0) for v in (yr.keep, yr.new, yr.ai) if i in v]
            if not pairs:
                continue
            draw = prob.add_variable(f"draw_{tag}{i}", 0)
            prob += pulp.LpConstraint(_expr([(draw, 1.0)] + pairs), pulp.LpConstraintGE, f"draw_{tag}{i}",
                                      -float(c.existing[i]))
            terms.append((draw, 1.0))
        yr.pools[r] = pulp.LpConstraint(_expr(terms), pulp.LpConstraintLE, f"pool_{tag}{r}", float(pool[t]))
        prob += yr.pools[r]
    for r, mw in c.tl.ai_demand_mw.items():
        terms = [(yr.ai[i], 1.0) for i in np.flatnonzero(c.region == r) if i in yr.ai]
        yr.demand[r] = pulp.LpConstraint(_expr(terms), pulp.LpConstraintLE, f"demand_{tag}{r}", float(mw[t]))
        prob += yr.demand[r]


def _retire_rows(c: _Context, years: list[Year]) -> None:
    """A new-mining vintage is removed at most once in all."""
    by_vintage: dict[tuple, list] = {}
    for yr in years:
        for (b, i), v in yr.retired.items():
            by_vintage.setdefault((b, i), []).append((v, 1.0))
    for (b, i), retired in by_vintage.items():
        c.prob += pulp.LpConstraint(_expr(retired + [(years[b].built_new[i], -1.0)]), pulp.LpConstraintLE,
                                    f"retire_{b}_{i}", 0.0)


def _budget_rows(c: _Context, years: list[Year]) -> pulp.LpConstraint | None:
    """Capex is spent when an increment is decided: a period's budget caps what is decided in it
    (``tl.budget_usd``), and ``max_capex_usd`` the total (the last period's capex: increments
    telescope). Returns the total's row."""
    f, val, T = c.f, c.val, c.tl.n
    capex_ai = f["capex_ai_usd_per_mw"].to_numpy(float)
    capex_gpu = f["capex_cloud_usd_per_mw"].to_numpy(float) - capex_ai  # a cloud MW's first GPUs
    capex_new = f["capex_new_usd_per_mw"].to_numpy(float)
    spent: list[list] = [[] for _ in range(T)]
    for t, yr in enumerate(years):
        prev = years[t - 1] if t else Year()
        for i, v in yr.ai.items():
            k = capex_ai[i] / SCALE
            if i in yr.built:
                spent[val.ai_decided[i, t]] += [(yr.built[i], k)]
            else:
                spent[val.ai_decided[i, t]] += [(v, k)] + ([(prev.ai[i], -k)] if i in prev.ai else [])
        for i, v in yr.cloud.items():  # the first GPUs, decided with the shell
            k = capex_gpu[i] / SCALE
            spent[val.ai_decided[i, t]] += [(v, k)] + ([(prev.cloud[i], -k)] if i in prev.cloud else [])
        for i, v in yr.new.items():
            k = capex_new[i] / SCALE
            if i in yr.built_new:
                spent[val.new_decided[t]] += [(yr.built_new[i], k)]
            else:
                spent[val.new_decided[t]] += [(v, k)] + ([(prev.new[i], -k)] if i in prev.new else [])
    if c.tl.budget_usd is not None:
        for t, limit in enumerate(c.tl.budget_usd):
            if np.isfinite(limit) and spent[t]:
                c.prob += pulp.LpConstraint(_expr(spent[t]), pulp.LpConstraintLE, f"budget_{t}", float(limit) / SCALE)
    if c.max_capex_usd is None:
        return None
    end = years[-1]
    terms = capex_terms(f, {} if c.tl.allow_removal else end.new,
                        {i: v for i, v in end.ai.items() if not c.removable[i]}, end.cloud)
    terms += [(v, capex_ai[i] / SCALE) for yr in years for i, v in yr.built.items()]  # every MW built
    terms += [(v, capex_new[i] / SCALE) for yr in years for i, v in yr.built_new.items()]
    budget = pulp.LpConstraint(_expr(terms), pulp.LpConstraintLE, "budget", c.max_capex_usd / SCALE)
    c.prob += budget
    return budget


class NetRow:
    """A network row held as arrays, not as a PuLP row: ``sum_j coef[j] * vec[cols[j]]`` within its
    bound (``cols`` None: every column of ``vec``, the state's load vector). One small object per row
    and 8 bytes per coefficient (12 where the row is sparse), against about 100 bytes per coefficient
    as a PuLP expression; HiGHS gets the rows as arrays (:meth:`planner.optimization.live.LiveModel.add_net_rows`).

    It answers what the solve asks of a PuLP row: ``name``, ``sense`` and ``constant`` (PuLP's
    convention: the row is ``expr + constant <= 0``, ``>= 0`` or ``= 0``), ``pi`` (its dual after an
    LP) and :meth:`items`; :meth:`to_pulp` makes the PuLP row (CBC, ``--write-lp``)."""

    __slots__ = ("key", "vec", "cols", "coef", "sense", "constant", "name", "pi")

    def __init__(self, key: tuple, vec: list, cols: np.ndarray | None, coef: np.ndarray, sense: int, rhs: float,
                 name: str):
        self.key, self.vec, self.cols, self.coef = key, vec, cols, coef
        self.sense, self.constant, self.name, self.pi = sense, -float(rhs), name, None

    def __len__(self) -> int:
        return len(self.coef)

    def items(self):
        """(variable, coefficient) pairs, as a PuLP row's."""
        cols = range(len(self.coef)) if self.cols is None else self.cols.tolist()
        return zip([self.vec[j] for j in cols], self.coef.tolist())

    def to_pulp(self, names: dict | None = None) -> pulp.LpConstraint:
        """The same row as a PuLP row (``names``: variable name -> the variable to use instead, e.g. of
        another problem's copy)."""
        pairs = [((names[v.name] if names is not None else v), c) for v, c in self.items()]
        return pulp.LpConstraint(_expr(pairs), self.sense, self.name, -self.constant)


def add_rows(built: Built, keys: list, coef: np.ndarray, base_mw: np.ndarray, limit_mw: np.ndarray,
             state: str, tol: float = 1e-12) -> int:
    """Add network rows ``-limit <= base + coef @ load[state] <= limit``, one side each:
    ``keys[i] = (kind, state, row id, side)`` with side +1 (upper) or -1 (lower), as
    :class:`NetRow` arrays (queued in ``built.pending`` for the live model). Rows already in the
    model are skipped. Returns the number added."""
    vec = built.loads[state]
    n = len(vec)
    added = 0
    for i, key in enumerate(keys):
        if key in built.rows:
            continue
        c = np.asarray(coef[i], dtype=float)
        if len(c) < n:  # the load columns of the state's vector (then any generator injections)
            c = np.r_[c, np.zeros(n - len(c))]
        keep = np.abs(c) > tol
        dense = keep.all()
        cols = None if dense else np.flatnonzero(keep).astype(np.int32)
        values = c.copy() if dense else c[keep]
        name = f"net_{len(built.rows)}"
        if key[-1] > 0:
            row = NetRow(key, vec, cols, values, pulp.LpConstraintLE, float(limit_mw[i] - base_mw[i]), name)
        else:
            row = NetRow(key, vec, cols, values, pulp.LpConstraintGE, float(-limit_mw[i] - base_mw[i]), name)
        built.rows[key] = row
        built.pending.append(row)
        added += 1
    return added


def all_rows(built: Built) -> list:
    """Every row of the model: the PuLP rows (the economic core, the supply block, the tie-break's)
    and the network rows (:class:`NetRow`; their PuLP copies for CBC are left out)."""
    return [con for con in built.prob.constraints() if not con.name.startswith("net_")] + list(built.rows.values())
