"""The summary object (planner.Summary): typed fields, written once as summary.json by to_dict(),
in the file's key order, with a later stage's block only once that stage has set it."""

import dataclasses
import json

import pytest

import planner
from planner.data import examples as ex

#: summary.json's keys in their order: those of every plan, then those of later stages
PLAN_KEYS = ["status", "objective_usd", "mip_gap", "requested_ai_mw", "served_ai_mw", "unmet_ai_mw",
             "served_mining_mw", "converted_sites", "converted_site_ids", "ai_site_ids",
             "max_branch_loading_percent", "binding_branches", "capex_usd", "existing_load", "supply_pools",
             "ai_demand", "budget_usd", "budget_shadow_usd_per_usd", "security", "contingencies_checked",
             "lazy_rows_added", "network", "states", "n_1", "sites", "scenario", "grid", "paths"]
LATER_KEYS = ["tie_break", "redispatch", "timeline", "timings_s", "versions", "ac_check", "regions", "conversions",
              "overrides", "description", "operators", "validation"]


@pytest.fixture(scope="module")
def small():
    g = ex.two_bus(150.0)
    sites = ex.sites_at(g, [{"site_id": "ai", "bus": 2, "poi_mw": 300, "current_use": "development",
                             "ai_value_usd_per_mw": 5e5, "min_block_mw": 0}])
    return planner.plan(g, sites, planner.Params(supply_response="single", check_existing_load=False))


def test_the_fields_are_the_keys_of_summary_json_in_order():
    assert [f.name for f in dataclasses.fields(planner.Summary)] == PLAN_KEYS + LATER_KEYS
    # the later stages' blocks are optional; the plan's figures are not
    assert all(f.default is None for f in dataclasses.fields(planner.Summary) if f.name in LATER_KEYS)
    assert all(f.default is dataclasses.MISSING for f in dataclasses.fields(planner.Summary) if f.name in PLAN_KEYS)


def test_a_plan_writes_its_keys_and_a_later_block_once_set(small):
    s = small.summary
    assert isinstance(s, planner.Summary) and small.status == s.status == "optimal"
    d = s.to_dict()
    assert list(d) == PLAN_KEYS + ["tie_break", "timings_s", "versions"]
    assert d["n_1"] is None and d["scenario"] is None  # always written, null included
    assert d["network"]["supply_response"] == "single"
    json.dumps(d)
    s2 = dataclasses.replace(s, validation={"peak": {}}, ac_check={"run": False})
    assert list(s2.to_dict()) == PLAN_KEYS + ["tie_break", "timings_s", "versions", "ac_check", "validation"]
    assert "ac_check" not in s.to_dict()  # replace made a new summary


def test_from_dict_reads_summary_json_back(small):
    d = json.loads(json.dumps(small.summary.to_dict()))
    again = planner.Summary.from_dict(d)
    assert again.to_dict() == d and again.served_ai_mw == small.summary.served_ai_mw
    with pytest.raises(TypeError):
        planner.Summary.from_dict({**d, "no_such_key": 1})


def test_the_summary_is_set_by_attribute_only(small):
    with pytest.raises(TypeError):
        small.summary["status"] = "x"  # no item assignment: a stage sets its field
