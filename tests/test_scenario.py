"""Scenario files: schema, did-you-mean, --set, extends, demand and regions."""

from pathlib import Path

import pytest

import planner
from planner.config.scenario import load_scenario
from planner.core.errors import InputError
from planner.run.prepare import prepare

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

    from planner.config.scenario import PARAM_KEYS, Scenario, check_setting, setting_default

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
    from planner.config.scenario import setting_help

    out = CliRunner().invoke(cli, ["hosting", "--help"]).output
    flat = " ".join(out.split())
    assert "[default: 1.2]" in flat and " ".join(setting_help("emergency_rating_factor").split()) in flat
    out = " ".join(CliRunner().invoke(cli, ["sites", "check", "--help"]).output.split())
    assert "Lowest bus voltage a site may connect to. A finite number in (0, 2,000] kV" in out
    assert "plausible 30–800 kV (US transmission runs at 69-765 kV). [default: 115.0]" in out


# --------------------------------------------------------------------------- plausible ranges


def _warnings(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelname == "WARNING" and r.name.startswith("planner")]


def _plausible_fields():
    """(dotted field, bound, plausible) of every number of the schema with a plausible range."""
    import typing

    from planner.config.scenario import Ranges, Scenario, field_annotation

    def walk(annotation, path):
        origin = typing.get_origin(annotation)
        if origin is typing.Annotated:
            base, *meta = typing.get_args(annotation)
            for m in meta:
                if isinstance(m, Ranges):
                    yield path, m.bound, m.plausible
            yield from walk(base, path)
        elif origin is not None:
            for k, arg in enumerate(typing.get_args(annotation)):
                yield from walk(arg, path + ((("[key]", "[value]")[k],) if origin is dict else ()))
        elif isinstance(annotation, type) and hasattr(annotation, "model_fields"):
            for name, f in annotation.model_fields.items():
                yield from walk(field_annotation(f), (*path, name))

    return {".".join(p): (b, r) for p, b, r in walk(Scenario, ())}


def test_plausible_ranges_lie_inside_their_bounds_and_hold_the_defaults():
    """Each plausible range is a narrower part of its field's hard bound, says why (the order of
    magnitude), names the likely mistake on each side it can be left, and holds the field's default."""
    from planner.economics import Economics

    found = _plausible_fields()
    assert {"economics.hashprice_usd_per_ph_day", "economics.power_price_usd_per_mwh", "sites.min_kv",
            "sites.max_km", "demand.requests.mw", "constraints.max_capex_usd", "economics.discount_rate"} <= set(found)
    assert len(found) > 20
    for field, (bound, r) in found.items():
        assert bound.lo <= r.lo < r.hi <= bound.hi, field
        assert r.why and (r.low or r.lo <= bound.lo) and (r.high or r.hi >= bound.hi), field
        name = field.split(".")[-1]
        if field.startswith("economics."):
            default = getattr(Economics(), name)
            assert r.warning(default) is None, (field, default)
    sc = planner.config.scenario.Scenario()
    assert found["sites.min_kv"][1].warning(sc.sites.min_kv) is None
    assert found["sites.max_km"][1].warning(sc.sites.max_km) is None


@pytest.mark.parametrize("name", ["texas", "us-2028", "us-2026-2030"])
def test_shipped_scenarios_are_plausible(caplog, name):
    load_scenario(name)
    assert _warnings(caplog) == []


@pytest.mark.parametrize("item,needles", [
    ("economics.hashprice_usd_per_ph_day=0.04",
     ("field 'economics.hashprice_usd_per_ph_day': 0.04 $ per PH/s per day is outside the plausible 10–500: "
      "was it typed in $ per TH/s per day?",)),
    ("economics.power_price_usd_per_mwh=0.04", ("0.04 $ per MWh", "plausible 5–500", "$ per kWh")),
    ("economics.ai_greenfield_capex_usd_per_mw=11", ("11 $ per MW", "$M per MW")),
    ("economics.ai_greenfield_lead_months=3", ("3 months", "was it typed in years?")),
    ("economics.mining_hardware_life_years=48", ("48 years", "was it typed in months?")),
    ("economics.discount_rate=0.5", ("0.5 per year", "was a percentage typed?")),
    ("demand.requests.5.mw=300000", ("field 'demand.requests.5.mw': 300,000 MW", "was it typed in kW?")),
    ("demand.defaults.lease_usd_per_kw_month=1800", ("1,800 $ per kW-month", "per kW-year")),
    ("constraints.max_capex_usd=500", ("500 $", "was it typed in $M or $B?")),
    ("sites.min_kv=0.115", ("0.115 kV", "plausible 30–800", "MV")),
    ("sites.max_km=5000", ("5,000 km", "was it typed in m?")),
    ("sites.kv_by_mw={300000: 230}", ("field 'sites.kv_by_mw.300000.0': 300,000 MW", "kW")),
])
def test_implausible_numbers_load_with_one_warning_naming_field_value_range_and_mistake(caplog, item, needles):
    sc = load_scenario(TEXAS, [item])  # loads: the value is possible, only unlikely
    assert sc is not None
    lines = _warnings(caplog)
    assert len(lines) == 1 and "\n" not in lines[0], lines
    assert lines[0].startswith(f"--set {item}, field '"), lines
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])


def test_a_warning_names_the_file_that_set_the_field(tmp_path, caplog):
    path = write(tmp_path, "s.yaml", "extends: texas\neconomics: {hashprice_usd_per_ph_day: 40000}\n")
    load_scenario(path)
    (line,) = _warnings(caplog)
    assert line.startswith(f"{path.resolve()}, field 'economics.hashprice_usd_per_ph_day': 40,000")
    assert "$ per EH/s per day" in line
    # 0 is a deliberate budget (nothing may be built), not a mistake
    caplog.clear()
    load_scenario(TEXAS, ["constraints.max_capex_usd=0"])
    assert _warnings(caplog) == []


@pytest.mark.parametrize("item,needles", [
    ("sites.states=[Texas]", ("field 'sites.states'", "'Texas' is not a USPS state code",
                              "expected USPS codes like TX", "(Texas is TX)")),
    ("sites.states=[TX, Oklahoma]", ("'Oklahoma'", "(Oklahoma is OK)")),
    ("sites.states=[Txx]", ("'Txx' is not a USPS state code; expected USPS codes like TX",)),
    ("supply.regions.ERCOT.states=[new mexico]", ("field 'supply.regions.ERCOT.states'", "(new mexico is NM)")),
])
def test_states_are_usps_codes(item, needles):
    with pytest.raises(InputError) as err:
        load_scenario(TEXAS, [item])
    for needle in needles:
        assert needle in str(err.value), (needle, str(err.value))


def test_lower_case_usps_codes_are_read_as_codes():
    assert load_scenario(TEXAS, ["sites.states=[tx, ok]"]).sites.states == ["TX", "OK"]


def test_a_request_with_lat_and_lon_swapped_says_so(caplog):
    # out of range: an error with the hint
    with pytest.raises(InputError) as err:
        load_scenario(TEXAS, ["demand.requests.5.lat=-96.8", "demand.requests.5.lon=32.78"])
    assert "field 'demand.requests.5'" in str(err.value)
    assert "it looks like lat and lon are swapped: lat 32.78, lon -96.8?" in str(err.value)
    # in range but only in the US the other way round: a warning with the hint
    load_scenario(TEXAS, ["demand.requests.5.lat=-75", "demand.requests.5.lon=45"])
    (line,) = _warnings(caplog)
    assert "field 'demand.requests.5': lat -75, lon 45 is outside the US; it looks like lat and lon are swapped" in line


def test_a_setting_warns_for_the_command_line_option_that_set_it():
    from planner.config.scenario import setting_warnings

    assert setting_warnings("sites.min_kv", 0.1, source="--min-kv") == [
        "--min-kv: 0.1 kV is outside the plausible 30–800: was it typed in MV?"]
    assert setting_warnings("sites.min_kv", 115.0) == []
