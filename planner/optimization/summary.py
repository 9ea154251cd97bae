"""The summary of a plan (``result.summary``): one typed object, written once as ``summary.json``.

:func:`planner.optimization.result.assemble` makes it from the solved allocation; the later stages
set the blocks they own as attributes: the solve (``tie_break``, ``redispatch``, ``objective_usd``,
``timings_s``, ``versions``), a timeline (``timeline``), a scenario run (``ac_check``, ``regions``,
``conversions``, ``overrides``, ``description``; :func:`planner.run.prepare.run`), the operator view
(``operators``) and ``planner solve``'s DC check (``validation``). :meth:`Summary.to_dict` is the
dict written to ``summary.json`` (:func:`planner.io.write_run`); ``planner compare`` and the sweeps
read that file back as a dict.
"""

from __future__ import annotations

from dataclasses import dataclass, fields


@dataclass
class Summary:
    """Headline figures and report blocks of a plan, in the order of ``summary.json``'s keys.

    A field without a default is always written, ``null`` included (``n_1`` without N-1,
    ``scenario`` for a plan without a name). A field with the default ``None`` is a block a later
    stage adds; :meth:`to_dict` leaves it out while it is ``None``. The blocks that are dicts are
    described in the README ("summary.json")."""

    status: str                           # the MIP's status: optimal, time_limit, ...
    objective_usd: float | None           # NPV of the allocation (a timeline's: over its years; redispatch's:
    #                                       with the supply margin)
    mip_gap: float | None
    requested_ai_mw: float | None         # AI MW the run was given (the scenario's requests, or Params)
    served_ai_mw: float | None
    unmet_ai_mw: float | None
    served_mining_mw: float | None
    converted_sites: int                  # mines converted to AI
    converted_site_ids: list
    ai_site_ids: list
    max_branch_loading_percent: float | None
    binding_branches: int
    capex_usd: float | None
    existing_load: dict                   # today's mining load: kept, converted, shed, what the network carries
    supply_pools: dict                    # region -> pool, drawn MW, shadow price
    ai_demand: dict                       # region -> AI demand cap, served MW, shadow price
    budget_usd: float | None
    budget_shadow_usd_per_usd: float | None
    security: str                         # n-0 or n-1
    contingencies_checked: int
    lazy_rows_added: int
    network: dict                         # the network rows: slack, supply response, lazy rows, overloads
    states: dict                          # load state (peak, offpeak, a timeline's years) -> factors, max loading
    n_1: dict | None                      # the N-1 report (None: N-0)
    sites: dict                           # modelled sites, and the ones not modelled by reason
    scenario: str | None
    grid: str
    paths: dict                           # mining, ai_lease, ai_cloud -> MW, sites, value
    # ---- blocks of later stages (left out of summary.json while None)
    tie_break: dict | None = None         # the solve's second stage among allocations of equal NPV
    redispatch: dict | None = None        # supply response redispatch: moved MW, generation cost, supply margin
    timeline: dict | None = None          # a timeline's per-year figures (planner.optimization.timeline)
    timings_s: dict | None = None         # step -> seconds
    versions: dict | None = None          # package -> installed version
    ac_check: dict | None = None          # a scenario run's AC power flow check (planner.analysis.acpf)
    regions: dict | None = None           # a scenario run: per region, requested, served, unmet, mining MW
    conversions: dict | None = None       # a scenario run: AI at the miner sites
    overrides: list | None = None         # a scenario run: its --set overrides
    description: str | None = None        # a scenario run: the scenario's description
    operators: dict | None = None         # per operator (planner.analysis.operators)
    validation: dict | None = None        # planner solve: pandapower's DC power flow on the allocated case(s)

    def to_dict(self) -> dict:
        """The dict written to ``summary.json``: the fields in their order, without the later
        stages' blocks that are not there (``None``). The blocks are the summary's own dicts, not copies."""
        return {f.name: getattr(self, f.name) for f in fields(self)
                if not (f.default is None and getattr(self, f.name) is None)}

    @classmethod
    def from_dict(cls, data: dict) -> Summary:
        """A summary from its ``summary.json`` dict (:meth:`to_dict`); a key it does not know is a TypeError."""
        return cls(**data)
