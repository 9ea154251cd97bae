"""Hosting capacity is the allocation model solved for one bus at a time
(planner.optimization.hosting.model_hosting); the fast paths are checked against it: the closed
form of a fixed participation, and the B-theta LP of redispatch."""

import warnings

import numpy as np
import pytest

import planner
from planner.data import examples as ex
from planner.network.hosting import HEADROOM
from planner.network.supply import security_hosting
from planner.optimization.hosting import model_hosting

with warnings.catch_warnings():
    warnings.simplefilter("ignore")

#: one load state (the closed form checks firm AI at peak only)
ONE = {"mining_firm_share": 1.0, "offpeak_load_factor": 1.0}
SUPPLIES = ("headroom", "pmax", "single", "regional", "redispatch")
GRIDS = {"triangle": lambda: ex.triangle(100.0), "chain": ex.chain, "mesh": ex.mesh,
         "two_regions": ex.two_regions, "redispatch_triangle": lambda: ex.redispatch_triangle(90.0),
         "two_bus": lambda: ex.two_bus(150.0)}


def _both(g, supply, security, buses=None, model=None, **settings):
    params = planner.Params(supply_response=supply, security=security, **settings)
    kind = params.supply
    model = model if kind.fits(model) else kind.dc_model(g)
    buses = model.bus_ids if buses is None else np.asarray(buses)
    fast = security_hosting(g, model, buses, slack=supply, security=security,
                            emergency_rating_factor=params.emergency_rating_factor,
                            offpeak_load_factor=params.offpeak_load_factor, dfax=params.overload_dfax)
    slow = model_hosting(g, buses, params, model=model)
    assert list(slow["bus"]) == list(fast["bus"])
    return slow["hosting_mw"].to_numpy(float), fast["hosting_mw"].to_numpy(float), fast["limited_by"].to_numpy()


def _agree(slow, fast, limited_by, tol):
    """Equal where a branch (or nothing) limits the bus; where the closed form stops at the island's
    generation headroom the model, which has no headroom row, may go further."""
    branch = limited_by != HEADROOM
    finite = np.isfinite(fast) & branch
    assert np.array_equal(np.isfinite(slow[branch]), np.isfinite(fast[branch]))
    np.testing.assert_allclose(slow[finite], fast[finite], rtol=tol, atol=tol)
    assert np.all(slow[~branch] >= fast[~branch] - tol)


#: the grids with generator costs (the redispatch supply response needs them)
COSTED = ("redispatch_triangle", "two_bus")


@pytest.mark.parametrize("security", ["n-0", "n-1"])
@pytest.mark.parametrize("name,supply", [(n, s) for n in sorted(GRIDS) for s in SUPPLIES
                                         if s != "redispatch" or n in COSTED])
def test_the_fast_paths_are_the_model_on_small_grids(name, supply, security):
    g = GRIDS[name]()
    slow, fast, limited_by = _both(g, supply, security, **ONE)
    _agree(slow, fast, limited_by, 1e-6)


def test_the_model_has_hand_solvable_answers():
    """Triangle, equal reactances, single slack at bus 1, every line 100 MW: a load at bus 2 sends
    2/3 of it over line 1-2, so 150 MW; N-1 (emergency 1.2 x rating): after line 1-2 is out all of
    it goes 1-3-2, 120 MW. Redispatch triangle (line 1-3 rated 90 MW, 100 MW of load at bus 3,
    generator 2 at bus 2 up to 100 MW, generator 1 up to 200 MW): with a new load x at bus 2 and
    generator 2 at G2, line 1-3 carries (200 - (G2 - x)) / 3 <= 90, so x <= 70 + G2 = 170 MW."""
    g = ex.triangle(100.0)
    for security, expected in (("n-0", 150.0), ("n-1", 120.0)):
        got = model_hosting(g, [2], planner.Params(supply_response="single", security=security, **ONE))
        assert got["hosting_mw"].iat[0] == pytest.approx(expected, abs=1e-6)
    got = model_hosting(ex.redispatch_triangle(90.0), [2], planner.Params(supply_response="redispatch", **ONE))
    assert got["hosting_mw"].iat[0] == pytest.approx(170.0, abs=1e-6)


def test_texas_sample_fixed_participation_equals_the_closed_form():
    g = planner.load_grid("texas")
    model = planner.dc_model(g)
    buses = model.bus_ids[::150]
    for security in ("n-0", "n-1"):
        slow, fast, limited_by = _both(g, "headroom", security, buses=buses, model=model, **ONE)
        assert (limited_by != HEADROOM).sum() >= 10  # most of the sample is limited by a branch
        _agree(slow, fast, limited_by, 1e-6)


def test_texas_sample_with_two_states_equals_the_plans_bus_hosting():
    """With the default states (off-peak at 0.6 x base load, firm AI in both), the plan's bus hosting
    (the closed form, peak only for firm AI) is the model's: off-peak never binds first there."""
    g = planner.load_grid("texas")
    model = planner.dc_model(g)
    slow, fast, limited_by = _both(g, "headroom", "n-0", buses=model.bus_ids[::150], model=model)
    _agree(slow, fast, limited_by, 1e-6)


def test_a_bus_listed_twice_is_refused():
    with pytest.raises(ValueError, match="twice"):
        model_hosting(ex.triangle(), [2, 2], planner.Params())
