"""Timeline: who gets power when, year by year.

A timeline has years ``y0 .. y0+T-1``. Today is the start of ``y0``; month ``m`` is ``m`` months
from then. The state of year ``t`` is what runs during that year: each site's kept mining, new
mining and AI MW, whether it is converted or built. Every year's state meets that year's site,
pool, demand and network rows (the network with that year's base load). The last year is also the
*end state*: it holds what the plan builds and keeps to the horizon, including MW whose lead time
ends after the last year began.

Lead times decide the first year. AI MW at site *i* (lead ``L_i``) may be in year *t*'s state when
``L_i <= 12 t`` (energized by the start of the year, decided ``L_i`` months before), or in the last
year whatever its lead. MW that first appear in year *t* are energized at month
``e = max(12 t, L_i)`` and valued from then::

    v_ai[i, t]  = income_i * annuity(e, horizon) - capex_i * discount(e - L_i)
                  (a site's given NPV per MW, ai_value_usd_per_mw: that NPV * discount(e - L_i))
    v_cloud[i, t] = the single period's cloud NPV (:func:`planner.economics.ai_cloud_npv_per_mw`) of a
                  shell energized at e, its capex paid at e - L_i (a given ai_cloud_value_usd_per_mw:
                  that NPV * discount(e - L_i))
    v_new[t]    = NPV of a new mining MW energized at e (build capex at e - lead)
    w[t]        = today's mining during year t (the last: to the horizon), less the refreshes due then

A mine keeps mining until the year its conversion serves AI (revenue during construction counts).
What is built stays: AI and new-mining MW and the binaries never decrease; today's mining may stop
(a conversion takes its MW), and does not start again. The objective is the NPV:
``sum_t v[t] * (x[t] - x[t-1])`` for what is built and ``sum_t w[t] * keep[t]`` for today's
mining. With one year every formula is the single-period one (:mod:`planner.optimization.model`), so a
one-year timeline is today's solve.

Every path of the single period is open in every year: mining (kept and new), leasing the shell
(``ai``) and running the site's own AI cloud (``cloud``, a part of the site's ``ai`` MW, valued
``v_cloud - v_ai`` on top of the lease, as in :func:`planner.optimization.model.site_objective`; its first GPUs
are capex decided with the shell). With ``split_paths: false`` each year's state holds at most one
path per site (:func:`planner.optimization.model.one_path`, one set of binaries per year): a mine may mine
until its conversion serves AI, then lease or run a cloud.

With ``allow_removal`` AI and new-mining MW may be removed in a later year. AI: each MW built in
year t is valued ``v_ai[i, t]``, each removed at the start of year t loses its income from then on
(``u_ai[i, t] = income_i * annuity(12 t, horizon)``; capex is not returned). New mining: each
year's MW are a vintage of their own (built ``v_new[b]``); a MW of vintage b removed at the start
of year t gives up ``u_new[b, t]``, its margins from then on less the hardware it would still buy
(:func:`planner.economics.new_mining_value_from`), so what it earned is counted exactly. Cloud MW
are not removed (their GPUs are bought for a contract to the horizon): a site's AI MW stay at
least its cloud MW; the shell's lease MW above them may go.

With redispatch (:mod:`planner.network.redispatch`) every year's states have their own generator
variables; each year's MW pay the power price for that year's hours (the last year's: to the
horizon) and each state's generation cost is weighted by its share of the same discounted hours
(:func:`planner.network.redispatch.state_weights`). The reference dispatch without new load is solved for
every year's states, and the NPV is the sites' value plus the supply margin over all years.

Budgets: capex is spent at decision time; ``budget_usd`` of a year caps what is decided in it, and
``max_capex_usd`` the total.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from planner import economics as econ
from planner.core.errors import InputError


@dataclass
class Timeline:
    """The year-by-year inputs of a plan (per year arrays of length ``len(years)``)."""

    years: list[int]
    #: the grid's base load in each year, as a multiple of the case's (1 in the first year)
    load_factor: np.ndarray
    #: region -> MW of new supply available in each year
    pools_mw: dict[str, np.ndarray] = field(default_factory=dict)
    #: region -> MW of AI demand in each year (regions not listed: no cap)
    ai_demand_mw: dict[str, np.ndarray] = field(default_factory=dict)
    #: site id -> most AI MW it may take in each year (a request's MW asked for)
    site_ai_mw: dict[str, np.ndarray] = field(default_factory=dict)
    #: site id -> AI MW it must serve in each year (a must-serve request)
    site_must_mw: dict[str, np.ndarray] = field(default_factory=dict)
    #: capex that may be decided in each year ($; inf: no limit); None: no yearly budget
    budget_usd: np.ndarray | None = None
    #: region -> AI MW requested in each year (requests that map to no bus included)
    requested_mw: dict[str, np.ndarray] = field(default_factory=dict)
    #: AI and new-mining MW may be removed in a later year (their income stops; capex is not returned)
    allow_removal: bool = False

    @property
    def n(self) -> int:
        return len(self.years)

    def name(self, t: int) -> str:
        """Prefix of year ``t``'s load states ("" for the last year, whose states are the plan's)."""
        return "" if t == self.n - 1 else str(self.years[t])

    def validate(self) -> Timeline:
        n = self.n
        if n == 0:
            raise InputError("a timeline needs at least one year", field="timeline.years", value=self.years)
        arrays = {"load_factor": {"": self.load_factor}, "pools_mw": self.pools_mw, "ai_demand_mw": self.ai_demand_mw,
                  "site_ai_mw": self.site_ai_mw, "site_must_mw": self.site_must_mw, "requested_mw": self.requested_mw}
        if self.budget_usd is not None:
            arrays["budget_usd"] = {"": self.budget_usd}
        for name, by in arrays.items():
            for key, a in by.items():
                a = np.asarray(a, float)
                if a.shape != (n,) or np.isnan(a).any() or (a < 0).any():
                    raise InputError(f"must hold one number >= 0 per year ({n})", field=f"timeline.{name}"
                                     + (f".{key}" if key else ""), value=a.tolist())
        if (np.asarray(self.load_factor) <= 0).any():
            raise InputError("the base load must stay above 0", field="timeline.load_factor",
                             value=np.asarray(self.load_factor).tolist())
        return self


# --------------------------------------------------------------------------- values per year


@dataclass
class Values:
    """Objective and budget coefficients of each year (sites x years unless said)."""

    ai_allowed: np.ndarray     # bool: AI MW may be in the year's state
    ai_energized: np.ndarray   # month AI MW first in that year's state are energized
    v_ai: np.ndarray           # $ per MW first in that year's state
    v_cloud: np.ndarray        # $ per MW first in that year's state run as the site's own cloud
    ai_decided: np.ndarray     # year index its capex is spent in
    new_allowed: np.ndarray    # years (T): new mining MW may be in the state
    new_energized: np.ndarray  # (T)
    v_new: np.ndarray          # (T)
    new_decided: np.ndarray    # (T)
    w_keep: np.ndarray         # (T): today's mining during the year ($ per MW)
    u_ai: np.ndarray           # $ per AI MW removed at the start of the year: its income from then on
    #: (T x T) $ per new-mining MW first in year b's state (row) removed at the start of year t
    #: (column): its margins from then on, less the hardware it would buy from then on
    u_new: np.ndarray


def values(f: pd.DataFrame, e: econ.Economics, n_years: int) -> Values:
    """The :class:`Values` of the candidates ``f`` over ``n_years`` (see the module's formulas)."""
    T = n_years
    t = np.arange(T, dtype=float)
    start = 12.0 * t
    last = np.arange(T) == T - 1
    lead = f["ai_lead_months"].to_numpy(float)[:, None]
    ai_allowed = last[None, :] | (lead <= 12.0 * t[None, :] + 1e-9)
    energized = np.maximum(start[None, :], lead)
    decided = energized - lead
    horizon = float(e.horizon_years) * 12.0
    income = f["ai_income_usd_per_mw_year"].to_numpy(float)[:, None]
    capex = f["capex_ai_usd_per_mw"].to_numpy(float)[:, None]
    override = f["ai_value_override_usd_per_mw"].to_numpy(float)[:, None]
    paid = econ.discount(e.discount_rate, decided)
    v_ai = np.where(np.isfinite(override), override * paid,
                    income * econ.annuity_factor(e.discount_rate, energized, horizon) - capex * paid)
    lead_new = float(e.mining_lead_months)
    new_allowed = last | (lead_new <= 12.0 * t + 1e-9)
    new_energized = np.maximum(start, lead_new)
    v_new = econ.new_mining_npv(e, new_energized)
    end = np.where(last, horizon, start + 12.0)
    w_keep = econ.existing_mining_value(e, start, end)
    # the cloud: the single period's NPV of a shell energized at e whose capex is paid at e - L
    # (ai_cloud_npv_per_mw pays the capex it is given today and counts from the lead it is given)
    capex_paid = capex * paid
    cloud = econ.ai_cloud_npv_per_mw(e, capex_usd_per_mw=capex_paid, lead_months=energized)
    cloud_override = (f["ai_cloud_value_override_usd_per_mw"].to_numpy(float)[:, None]
                      if "ai_cloud_value_override_usd_per_mw" in f else np.full_like(override, np.nan))
    v_cloud = np.where(np.isfinite(cloud_override), cloud_override * paid, cloud)
    u_ai = np.where(np.isfinite(override), np.inf, income * econ.annuity_factor(e.discount_rate, start[None, :], horizon))
    u_new = econ.new_mining_value_from(e, new_energized[:, None], start[None, :])
    return Values(ai_allowed=ai_allowed, ai_energized=energized, v_ai=v_ai, v_cloud=np.asarray(v_cloud, float),
                  u_ai=u_ai, u_new=np.asarray(u_new, float),
                  ai_decided=np.minimum(np.floor(decided / 12.0 + 1e-9), T - 1).astype(int),
                  new_allowed=new_allowed, new_energized=new_energized, v_new=np.asarray(v_new, float),
                  new_decided=np.minimum(np.floor((new_energized - lead_new) / 12.0 + 1e-9), T - 1).astype(int),
                  w_keep=np.asarray(w_keep, float))



def _per_site(f: pd.DataFrame, by_id: dict[str, np.ndarray], default: np.ndarray, T: int) -> np.ndarray:
    out = np.repeat(np.asarray(default, float)[:, None], T, axis=1)
    ids = f["site_id"].to_numpy()
    for i, sid in enumerate(ids):
        if sid in by_id:
            out[i] = by_id[sid]
    return out


def asked_and_must(f: pd.DataFrame, tl: Timeline, val: Values) -> tuple[np.ndarray, np.ndarray]:
    """Most AI MW each site may take in each year (its request's ask, within its size) and the AI
    MW it must serve (a must-serve request, in the years its lead time allows): sites x years."""
    T = tl.n
    ai_cap = f["ai_cap_mw"].to_numpy(float)
    asked = np.minimum(_per_site(f, tl.site_ai_mw, ai_cap, T), ai_cap[:, None])
    must_end = f["ai_min_mw"].to_numpy(float)
    must = np.where(must_end[:, None] > 0, np.minimum(_per_site(f, tl.site_must_mw, must_end, T), asked), 0.0)
    return asked, np.where(val.ai_allowed, must, 0.0)



def single(params) -> Timeline:
    """The one period of a plan without a timeline: one year whose pools and AI demand are the
    settings' (``params.supply_pools_mw`` and ``ai_demand_mw``), valued to the horizon. Every
    formula of a timeline with one year is the single-period one."""
    return Timeline(years=[0], load_factor=np.ones(1),
                    pools_mw={r: np.full(1, float(v)) for r, v in params.supply_pools_mw.items()},
                    ai_demand_mw={r: np.full(1, float(v)) for r, v in params.ai_demand_mw.items()}).validate()


def with_settings(tl: Timeline, params) -> Timeline:
    """``tl`` with the settings' supply pools and AI demand for the regions it does not list (they
    hold in every year), checked against the economics' horizon."""
    held = {mine: {**{r: np.full(tl.n, float(v)) for r, v in getattr(params, theirs).items()}, **getattr(tl, mine)}
            for mine, theirs in (("pools_mw", "supply_pools_mw"), ("ai_demand_mw", "ai_demand_mw"))}
    tl = replace(tl.validate(), **held).validate()
    horizon = float(params.economics.horizon_years)
    if 12 * (tl.n - 1) >= 12.0 * horizon:
        raise InputError(f"the last year starts after the economics' horizon of {horizon:g} "
                         "years from the first", field="timeline.years", value=f"{tl.years[0]}-{tl.years[-1]}",
                         expected=f"at most {int(np.ceil(horizon))} years, or a longer "
                                  "economics.horizon_years")
    return tl


def end_settings(tl: Timeline, params):
    """The settings of the last year's state: its pools and AI demand."""
    return replace(params, supply_pools_mw={r: float(v[-1]) for r, v in tl.pools_mw.items()},
                   ai_demand_mw={r: float(v[-1]) for r, v in tl.ai_demand_mw.items()})
