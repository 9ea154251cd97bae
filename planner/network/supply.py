"""Who supplies new load: one object per kind of supply response.

A supply response says which generators pick up a new MW, and so how a load column moves the
flows. Each kind contributes the same three things to the one allocation model of
:mod:`planner.optimization.model`, and a hosting rule:

* its **network** (:meth:`SupplyResponse.network`): the load states and the rows
  ``|base flow + sensitivity x injection| <= limit`` with their injection map;
* its **block** (:meth:`SupplyResponse.block`): the variables and rows of its own (none for a
  fixed participation; each state's generator outputs, cost segments and island balances under
  redispatch);
* its **objective terms** when only prices change (:meth:`SupplyResponse.objective_terms`);
* its **hosting** (:meth:`SupplyResponse.hosting`): the largest firm or flexible load each bus
  alone can take under N-0 or N-1.

The kinds (:data:`KINDS`, by the name a scenario's ``grid.supply_response`` gives):

* :class:`FixedParticipation` ``headroom``, ``pmax``, ``single``: a fixed share of every new MW
  comes from each generator (the slack of :mod:`planner.network.sensitivity`);
* :class:`Regional`: the generators of the load's supply region, in proportion to their
  headroom; one load column per (bus, region);
* :class:`Redispatch`: any dispatch of the generators within their limits, priced by their cost
  curves (:mod:`planner.network.redispatch`).

A new supply response is a new subclass here; nothing else in planner compares its name.
"""

from __future__ import annotations

import logging
import time
from typing import ClassVar

import geopandas as gpd
import numpy as np
import pandas as pd

from planner.core.errors import SUPPLY_RESPONSES, InputError
from planner.network import hosting as host
from planner.network import redispatch
from planner.network import security as sec
from planner.network import sensitivity as sens
from planner.network.hosting_redispatch import redispatch_hosting

logger = logging.getLogger(__name__)


class SupplyResponse:
    """A kind of supply response (one instance per name in :data:`KINDS`)."""

    #: the name a scenario's ``grid.supply_response`` and ``--supply`` give
    name: ClassVar[str]
    #: the slack of the DC model the kind starts from (:func:`planner.network.sensitivity.dc_model`)
    slack: ClassVar[str] = "headroom"
    #: one load column per (bus, supply region) instead of one per bus
    per_region: ClassVar[bool] = False
    #: the generators' outputs are variables of the model (their own block and rows)
    dispatches: ClassVar[bool] = False

    def __repr__(self) -> str:
        return f"<supply response {self.name}>"

    def dc_model(self, grid) -> sens.DCModel:
        """The DC model of ``grid`` this kind starts from."""
        return sens.dc_model(grid, self.slack)

    def fits(self, model: sens.DCModel | None) -> bool:
        """Whether ``model`` is the DC model this kind starts from."""
        return model is not None and model.slack == self.slack

    def network(self, model: sens.DCModel, grid, cand, params, periods: list[tuple[str, float]] | None = None
                ) -> sec.Network | redispatch.RedispatchNetwork:
        """All row families of a plan: states, N-0 limits and, with ``params.security == "n-1"``,
        the contingencies and the N-1 pairs already over without new load. ``periods``: a
        timeline's years, each (prefix, base-load factor) (:func:`planner.network.security.build_network`)."""
        return sec.build_network(model, grid, cand, params, periods=periods)

    def block(self, built, net, params, *, pay: bool = True, cost: bool = True) -> None:
        """Add the kind's own variables and rows to the model ``built`` (``pay``: the energy
        payments of the new load in the objective; ``cost``: the generation cost). A fixed
        participation adds nothing: its supply is in the network rows' sensitivities."""

    def objective_terms(self, built, net, params) -> list[tuple]:
        """Objective terms (variable, million $) of the kind's block under ``params`` (a warm
        re-solve whose prices changed)."""
        return []

    def report(self, built, net, params, loads: dict, reference: dict | None, cand, years: list[int] | None
               ) -> tuple[dict, pd.DataFrame, float] | None:
        """What a plan's summary says of the kind's block (None: nothing): its ``summary.json``
        block (``supply_margin_npv_usd``: the supply side's margin, part of the NPV), its
        table, and the part of the margin in the model's objective ($). ``loads``: each state's
        solved injections; ``reference``: those of the dispatch without new load; ``years``: a
        timeline's years (None: one period)."""
        return None

    def hosting(self, grid, model: sens.DCModel, ids: np.ndarray, *, security: str = "n-0", use: str = "ai",
                emergency_rating_factor: float = 1.2, firm_share: float | None = None,
                offpeak_load_factor: float = 0.6, dfax: float | None = None, progress=None, contingencies=None,
                regions: dict | None = None, groups: np.ndarray | None = None) -> gpd.GeoDataFrame:
        """Hosting capacity of the buses ``ids`` (:func:`security_hosting`)."""
        return host.security_frame(grid, model, ids, security, use, emergency_rating_factor, firm_share,
                                   offpeak_load_factor, dfax, progress, contingencies, self.name)


class FixedParticipation(SupplyResponse):
    """A fixed share of every new MW from each generator: the slack of the DC model."""

    def __init__(self, name: str):
        self.name = name
        self.slack = name


class Regional(SupplyResponse):
    """The generators of the load's supply region, on its island, in proportion to their headroom."""

    name = "regional"
    per_region = True

    def network(self, model, grid, cand, params, periods=None):
        regional, groups = sec.regional(model, grid, cand, params)
        return sec.build_network(regional, grid, cand, params, periods=periods, groups=groups)

    def hosting(self, grid, model, ids, *, security="n-0", use="ai", emergency_rating_factor=1.2, firm_share=None,
                offpeak_load_factor=0.6, dfax=None, progress=None, contingencies=None, regions=None, groups=None):
        """``groups`` (the supply group of each of ``ids`` in ``model``, a regional model: a plan's
        own) or else ``regions`` (a scenario's ``supply.regions``; None: each bus's interconnect)
        place the buses and the generators. A bus without a region, or whose region has no
        headroom, hosts nothing."""
        if groups is not None:
            return host.security_frame(grid, model, ids, security, use, emergency_rating_factor, firm_share,
                                       offpeak_load_factor, dfax, progress, contingencies, self.name, groups)
        regional, groups, region = host.regional_hosting_model(grid, model, ids, regions)
        keep = groups >= 0
        none = host.no_hosting_frame(grid, model, ids[~keep], region[~keep], use, security, self.name)
        if regional is None:
            return none
        frame = host.security_frame(grid, regional, ids[keep], security, use, emergency_rating_factor, firm_share,
                                    offpeak_load_factor, dfax, progress, contingencies, self.name, groups[keep])
        frame = pd.concat([frame, none]) if len(none) else frame
        order = pd.Series(np.arange(len(frame)), index=frame["bus"].to_numpy()).reindex(ids).to_numpy()
        return frame.iloc[order].reset_index(drop=True)


class Redispatch(SupplyResponse):
    """Any dispatch of the generators within their limits, priced by their cost curves."""

    name = "redispatch"
    dispatches = True

    def network(self, model, grid, cand, params, periods=None):
        mon = np.flatnonzero(model.monitored)
        derate = sec.derate_factors(model, mon, params)
        return redispatch.build_network(model, grid, cand, params, sec.contingencies(model, mon, params, derate),
                                        derate, periods=periods)

    def block(self, built, net, params, *, pay=True, cost=True):
        redispatch.add_dispatch(built, net, params, pay=pay, cost=cost)

    def objective_terms(self, built, net, params):
        net.reweight(params)
        return redispatch.dispatch_objective(built, net, params)

    def report(self, built, net, params, loads, reference, cand, years):
        """The energy payments of the plan's MW and the change of generation cost against
        ``reference`` (:func:`planner.network.redispatch.report`), with ``dispatch.csv``'s table."""
        per_mw = redispatch.period_payments(net, params, len(built.periods))
        paid = sum(float(v.varValue or 0.0) * c for v, c in redispatch.payment_terms(built, per_mw)) * redispatch.SCALE
        shown = ({u: round(float(v), 0) for u, v in per_mw[0].items()} if years is None else
                 {str(y): {u: round(float(x), 0) for u, x in p.items()} for y, p in zip(years, per_mw)})
        block, table = redispatch.report(net, params, loads, reference, cand, payments=(paid, shown))
        if years is not None:
            block["energy_payment_basis"] = ("each year's MW pay for the hours of that year (the last year's: to "
                                             "the horizon); generation cost likewise, against each year's dispatch "
                                             "without new load")
        modelled = sum(c * float(v.varValue or 0.0) for v, c in redispatch.dispatch_objective(built, net, params)) * redispatch.SCALE
        return block, table, modelled

    def hosting(self, grid, model, ids, *, security="n-0", use="ai", emergency_rating_factor=1.2, firm_share=None,
                offpeak_load_factor=0.6, dfax=None, progress=None, contingencies=None, regions=None, groups=None):
        """The largest load any dispatch of the generators within their limits can serve, an LP per
        bus (:mod:`planner.network.hosting_redispatch`); the headroom answer is kept for
        comparison as ``fixed_hosting_mw``."""
        t = time.perf_counter()
        fixed = KINDS["headroom"].hosting(grid, model, ids, security=security, use=use,
                                          emergency_rating_factor=emergency_rating_factor, firm_share=firm_share,
                                          offpeak_load_factor=offpeak_load_factor, dfax=dfax,
                                          contingencies=contingencies)
        logger.info(f"fixed-participation hosting for comparison ({time.perf_counter() - t:.1f} s)")
        states = host.use_states(grid, model, use, firm_share, offpeak_load_factor)
        ids = fixed["bus"].to_numpy()
        # one call for every state: the generators' limits are those of planner solve, over all states
        results = redispatch_hosting(grid, [(name, m) for name, m, _ in states], ids, contingencies,
                                     progress=progress)
        return host.redispatch_frame(model, fixed, states, results)


#: the supply responses by name, in the order of :data:`planner.core.errors.SUPPLY_RESPONSES`
KINDS: dict[str, SupplyResponse] = {k.name: k for k in (
    FixedParticipation("headroom"), FixedParticipation("pmax"), FixedParticipation("single"), Regional(),
    Redispatch())}
if tuple(KINDS) != SUPPLY_RESPONSES:
    raise RuntimeError("planner.network.supply.KINDS and planner.core.errors.SUPPLY_RESPONSES disagree")


def of(name: str, field: str = "supply_response") -> SupplyResponse:
    """The supply response called ``name`` (a clear error for an unknown name)."""
    kind = KINDS.get(name)
    if kind is None:
        raise InputError("unknown supply response", field=field, value=name, expected=" or ".join(SUPPLY_RESPONSES))
    return kind


def security_hosting(grid, model: sens.DCModel | None = None, buses=None, slack: str | None = None,
                     security: str = "n-0", use: str = "ai", emergency_rating_factor: float = 1.2,
                     firm_share: float | None = None, offpeak_load_factor: float = 0.6, dfax: float | None = None,
                     progress=None, contingencies=None, regions: dict | None = None) -> gpd.GeoDataFrame:
    """Hosting capacity of every bus for a use (``ai``: firm; ``mining``: flexible, with
    ``firm_share`` of it running at peak, default 0.1) under N-0 or N-1.

    ``slack`` is the supply response of ``planner solve`` (default: the slack ``model`` was built
    with, else ``headroom``; :data:`KINDS`): ``headroom``, ``pmax`` or ``single``
    (a fixed participation: :func:`planner.network.hosting.hosting_capacity`), ``regional`` (the
    generators of the bus's region, :func:`planner.network.hosting.regional_hosting_model`) or
    ``redispatch`` (any dispatch of the generators within their limits:
    :mod:`planner.network.hosting_redispatch`; ``model`` must then be built with the headroom slack,
    whose answer is kept for comparison as ``fixed_hosting_mw``).

    Each state (peak; and off-peak when the use is flexible) is checked separately and
    the hosting is the smallest of its bounds, in MW of the use. Columns: those of
    :func:`planner.network.hosting.hosting_capacity`, where

    * ``hosting_mw``: MW of the use the bus can take at the requested security;
    * ``n0_hosting_mw``: MW of the same use at N-0 (equal to ``hosting_mw`` for N-0;
      never below it for N-1);
    * ``limited_by`` (``branch``, ``branch after outage``, ``generation headroom``,
      ``none``), ``limiting_branch``, ``limiting_outage``, ``limiting_state``: what
      limits ``hosting_mw``;
    * ``supply``: the supply response;
    * redispatch only: ``redispatch_mw`` and ``redispatch_95_mw`` (the least generation turned
      down elsewhere, in the limiting state, at the hosting MW and at 95 % of it),
      ``fixed_hosting_mw`` (the headroom answer) and ``redispatch_ratio``
      (``hosting_mw / fixed_hosting_mw``); no ``n0_hosting_mw``.
    """
    if slack is None:   # the model's own slack, else the default
        slack = model.slack if model is not None and model.slack in sens.SLACKS else "headroom"
    kind = of(slack, field="supply")
    for name, value, lo, hi in (("firm_share", firm_share, 0.0, 1.0), ("offpeak_load_factor", offpeak_load_factor, 0.0, 1.0),
                                ("emergency_rating_factor", emergency_rating_factor, 1.0, 10.0), ("dfax", dfax, 0.0, 1.0)):
        if value is not None and not (np.isfinite(value) and lo <= value <= hi):
            raise InputError("out of range", field=name, value=value, expected=f"a number from {lo:g} to {hi:g}")
    if model is None:
        t = time.perf_counter()
        model = kind.dc_model(grid)
        logger.info(f"DC model built: {model.n_bus:,} buses ({time.perf_counter() - t:.1f} s)")
    elif not kind.fits(model):
        raise ValueError(f"security_hosting: a model built with slack {model.slack!r} for supply {slack!r}")
    if security == "n-1" and contingencies is None:
        contingencies = sec.Contingencies(model, np.flatnonzero(model.monitored), emergency_rating_factor)
    ids = model.bus_ids if buses is None else np.asarray(buses)
    return kind.hosting(grid, model, ids, security=security, use=use, emergency_rating_factor=emergency_rating_factor,
                        firm_share=firm_share, offpeak_load_factor=offpeak_load_factor, dfax=dfax, progress=progress,
                        contingencies=contingencies, regions=regions)

