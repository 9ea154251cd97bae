"""Scenario files: schema, did-you-mean, --set, extends, demand and regions."""

from pathlib import Path

import pytest

import planner
from planner.errors import InputError
from planner.prepare import prepare
from planner.scenario import load_scenario

REPO = Path(__file__).resolve().parent.parent
TEXAS = REPO / "scenarios" / "texas.yaml"


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_shipped_texas_scenario_validates():
    sc = load_scenario(TEXAS)
    assert sc.name == "texas" and sc.grid.name == "texas"
    assert len(sc.demand.requests) == 10
    assert sum(r.mw for r in sc.demand.requests) == 9310
    assert sc.supply.regions["ERCOT"].available_mw == 6500
    # a shipped scenario is also found by name (in a wheel install: the packaged copy)
    by_name = load_scenario("texas")
    assert by_name.path.read_text() == sc.path.read_text()


def test_us_2028_requests_and_pools_add_up():
    sc = load_scenario("us-2028")
    assert sum(r.mw for r in sc.demand.requests) == 65_000
    regions = sc.supply.regions.values()
    assert sum(r.available_mw for r in regions) == 15_000
    assert sum(r.under_construction_mw for r in regions) == 6_000


def test_unknown_key_in_file_suggests_the_right_one(tmp_path):
    path = write(tmp_path, "s.yaml", "grid:\n  name: texas\n  supply_respons: single\n")
    with pytest.raises(InputError) as err:
        load_scenario(path)
    msg = str(err.value)
    assert str(path) in msg and "grid.supply_respons" in msg and "did you mean 'grid.supply_response'" in msg


def test_renamed_slack_says_what_it_became(tmp_path):
    path = write(tmp_path, "s.yaml", "grid:\n  name: texas\n  slack: single\n")
    with pytest.raises(InputError, match="renamed grid.supply_response") as err:
        load_scenario(path)
    assert str(path) in str(err.value)


def test_unknown_section_suggests_the_right_one(tmp_path):
    path = write(tmp_path, "s.yaml", "economic:\n  hashprice_usd_per_ph_day: 30\n")
    with pytest.raises(InputError, match="did you mean 'economics'"):
        load_scenario(path)


def test_set_overrides_and_is_type_checked():
    sc = load_scenario(TEXAS, ["economics.hashprice_usd_per_ph_day=35", "constraints.allow_conversion=false",
                               "demand.requests.5.mw=1234", "supply.regions.ERCOT.available_mw=100"])
    assert sc.economics.hashprice_usd_per_ph_day == 35
    assert sc.constraints.allow_conversion is False
    assert sc.demand.requests[5].mw == 1234
    assert sc.supply.regions["ERCOT"].available_mw == 100
    with pytest.raises(InputError) as err:
        load_scenario(TEXAS, ["constraints.allow_conversion=maybe"])
    assert "--set constraints.allow_conversion=maybe" in str(err.value)
    assert "valid boolean" in str(err.value) and "'maybe'" in str(err.value)
    with pytest.raises(InputError, match="did you mean 'economics.hashprice_usd_per_ph_day'"):
        load_scenario(TEXAS, ["economics.hashprice=30"])
    with pytest.raises(InputError, match=r"too small; got -1; expected a finite number in \(0, "):
        load_scenario(TEXAS, ["solver.time_limit_s=-1"])
    with pytest.raises(InputError, match="KEY=VALUE"):
        load_scenario(TEXAS, ["economics.hashprice_usd_per_ph_day"])
    with pytest.raises(InputError, match="no such list item"):
        load_scenario(TEXAS, ["demand.requests.99.mw=5"])


def test_extends_changes_a_few_fields(tmp_path):
    sites = write(tmp_path, "mine.csv", "site_id,lat,lon,current_use,operating_mw,poi_mw\nm1,32.4,-100.4,bitcoin,50,80\n")
    base = tmp_path / "base"
    base.mkdir()
    write(base, "parent.yaml", "name: parent\ngrid: {name: texas}\nsites: {files: [../mine.csv], max_km: 60}\n"
                               "economics: {hashprice_usd_per_ph_day: 45, discount_rate: 0.09}\n")
    child = write(tmp_path, "child.yaml", "extends: base/parent.yaml\nname: child\n"
                                          "economics: {hashprice_usd_per_ph_day: 30}\n")
    sc = load_scenario(child)
    assert sc.name == "child"
    assert sc.economics.hashprice_usd_per_ph_day == 30       # changed
    assert sc.economics.discount_rate == 0.09                # inherited, merged key by key
    assert sc.sites.max_km == 60
    assert Path(sc.sites.files[0]) == sites.resolve()        # relative to the parent file


def test_extends_cycle_and_missing_parent(tmp_path):
    write(tmp_path, "a.yaml", "extends: b.yaml\n")
    write(tmp_path, "b.yaml", "extends: a.yaml\n")
    with pytest.raises(InputError, match="cycle"):
        load_scenario(tmp_path / "a.yaml")
    write(tmp_path, "c.yaml", "extends: nowhere.yaml\n")
    with pytest.raises(InputError, match="does not exist"):
        load_scenario(tmp_path / "c.yaml")


def test_yaml_errors_name_the_line(tmp_path):
    path = write(tmp_path, "s.yaml", "grid:\n  name: texas\n solver: [\n")
    with pytest.raises(InputError, match=r"not valid YAML at line \d+"):
        load_scenario(path)
    path = write(tmp_path, "l.yaml", "- a\n- b\n")
    with pytest.raises(InputError, match="mapping of sections"):
        load_scenario(path)


def test_request_needs_a_site_or_a_location(tmp_path):
    path = write(tmp_path, "s.yaml", "demand:\n  requests:\n    - {name: X, mw: 10, lat: 32.0}\n")
    with pytest.raises(InputError) as err:
        load_scenario(path)
    assert "demand.requests.0" in str(err.value) and "'lat' and 'lon'" in str(err.value)


def test_prepare_turns_requests_and_regions_into_params(texas):
    prep = prepare(load_scenario(TEXAS), grid=texas)
    p = prep.params
    assert p.supply_pools_mw == {"ERCOT": 6500.0}
    assert p.ai_demand_mw == {"ERCOT": 9310.0}
    assert p.requested_ai_mw == 9310.0
    sites = prep.sites.set_index("site_id")
    # a request at a location is a new site mapped to a bus; one at a site sets that site's terms
    assert sites.loc["demand-dallas", "status"] == "mapped"
    assert sites.loc["demand-dallas", "poi_mw"] == 2000 and sites.loc["demand-dallas", "state"] == "TX"
    assert sites.loc["crusoe-abilene", "ai_max_mw"] == 1200
    assert sites.loc["crusoe-abilene", "ai_lease_usd_per_kw_month"] == 250
    assert set(sites["region"]) == {"ERCOT"}


def test_prepare_errors_name_the_scenario_field(texas):
    with pytest.raises(InputError) as err:
        prepare(load_scenario(TEXAS, ["demand.requests.0.site=crusoe-abilen"]), grid=texas)
    assert "demand.requests.0.site" in str(err.value) and "did you mean 'crusoe-abilene'" in str(err.value)
    # a mapped site in no region of supply.regions is an error, not a silent guess
    with pytest.raises(InputError, match="in no region of supply.regions"):
        prepare(load_scenario(TEXAS, ["supply.regions.ERCOT.interconnects=[Eastern]"]), grid=texas)
    with pytest.raises(InputError, match="grid.name"):
        prepare(load_scenario(TEXAS, ["grid.name=nogrid"]))


def test_each_setting_is_defined_once_in_the_schema():
    """Params takes every setting a scenario sets from the schema (default and bounds); a Params
    field that is not in PARAM_KEYS is one the engine derives (pools, regions, derates), listed here."""
    from dataclasses import fields as dc_fields

    from planner.scenario import PARAM_KEYS, Scenario, check_setting, setting_default

    derived = {"economics", "gen_regions", "supply_pools_mw", "ai_demand_mw", "requested_ai_mw", "region_column",
               "rating_derate"}
    names = {f.name for f in dc_fields(planner.Params)}
    assert names == set(PARAM_KEYS) | derived
    defaults = planner.Params()
    sc = Scenario()
    for name, key in PARAM_KEYS.items():
        section, field = key.split(".")
        assert getattr(defaults, name) == getattr(getattr(sc, section), field) == setting_default(name), name
    # the bounds are the schema's: a scenario and the Python API refuse the same value with the same words
    with pytest.raises(InputError, match=r"field 'emergency_rating_factor': too small; got 0.9; expected a "
                                         r"finite number in \[1, 10\] x rateA"):
        planner.Params(emergency_rating_factor=0.9).validate()
    with pytest.raises(InputError, match="too small"):
        check_setting("constraints.emergency_rating_factor", 0.9)


def test_command_line_defaults_and_help_come_from_the_schema():
    from click.testing import CliRunner

    from planner.cli import cli
    from planner.scenario import setting_help

    out = CliRunner().invoke(cli, ["hosting", "--help"]).output
    flat = " ".join(out.split())
    assert "[default: 1.2]" in flat and " ".join(setting_help("emergency_rating_factor").split()) in flat
    out = " ".join(CliRunner().invoke(cli, ["sites", "check", "--help"]).output.split())
    assert "Lowest bus voltage a site may connect to. [default: 115.0]" in out
