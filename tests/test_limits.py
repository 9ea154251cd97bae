"""Why a site or request is not served (allocation.csv ``limited_by``), requested MW defined once,
and the sites that are not modelled: hand cases on the chain grid and two scenarios."""

import json
import subprocess
import sys

import pytest

import planner
from planner.data import examples as ex

FIRM = {"mining_firm_share": 1.0, "offpeak_load_factor": 1.0, "supply_response": "single"}


def request_at(bus: int, site_id: str, mw: float, **extra) -> dict:
    """A greenfield AI request of ``mw`` MW at ``bus`` of the chain (1 is the slack), paying $200/kW-month
    at $2M/MW and 12 months (worth building), in region R."""
    return {"site_id": site_id, "bus": bus, "poi_mw": extra.pop("poi_mw", mw), "current_use": "development",
            "region": "R", "ai_capex_usd_per_mw": 2e6, "ai_lead_months": 12, "ai_lease_usd_per_kw_month": 200,
            "requested_mw": mw, "ai_max_mw": mw, **extra}


def limits(rows, **params):
    g = ex.chain()  # ratings 1-2: 1000, 2-3: 500, 3-4: 400, 4-5: 200
    r = planner.plan(g, ex.sites_at(g, rows), planner.Params(**FIRM, mip_gap=0, **params))
    return r.allocation.set_index("site_id"), r


def test_supply_pool_limits_a_request():
    a, _ = limits([request_at(2, "A", 100)], supply_pools_mw={"R": 40})
    assert a.loc["A", "ai_mw"] == pytest.approx(40)
    assert a.loc["A", "limited_by"] == "supply_pool" and a.loc["A", "limiting_element"] == "supply pool R"


def test_ai_demand_cap_limits_a_request():
    a, _ = limits([request_at(2, "A", 100)], ai_demand_mw={"R": 30})
    assert a.loc["A", "ai_mw"] == pytest.approx(30)
    assert a.loc["A", "limited_by"] == "ai_demand_cap"


def test_budget_limits_a_request():
    a, _ = limits([request_at(2, "A", 100)], max_capex_usd=50 * 2e6)
    assert a.loc["A", "ai_mw"] == pytest.approx(50)
    assert a.loc["A", "limited_by"] == "budget"


def test_branch_limits_a_request_and_is_named():
    """Bus 5 hangs on line 4-5 (branch 4, 200 MW): a 300 MW request gets 200 MW; the bus alone hosts 200."""
    a, _ = limits([request_at(5, "A", 300)])
    assert a.loc["A", "ai_mw"] == pytest.approx(200)
    assert a.loc["A", "limited_by"] == "network"
    assert a.loc["A", "limiting_element"] == "branch 4 (peak)"
    assert a.loc["A", "bus_hosting_mw"] == pytest.approx(200)


def test_poi_limits_a_request_larger_than_its_site():
    a, _ = limits([request_at(2, "A", 100, poi_mw=60)])
    assert a.loc["A", "ai_mw"] == pytest.approx(60)
    assert a.loc["A", "limited_by"] == "poi_cap"


def test_served_in_full_and_negative_value():
    cheap = request_at(3, "B", 50, ai_lease_usd_per_kw_month=20)  # $20/kW-month does not pay $2M/MW
    a, _ = limits([request_at(2, "A", 100), cheap])
    assert a.loc["A", "ai_mw"] == pytest.approx(100) and a.loc["A", "limited_by"] == ""
    assert a.loc["B", "ai_mw"] == 0 and a.loc["B", "limited_by"] == "negative_value"


def test_more_valuable_request_takes_the_shared_branch():
    """Both requests sit behind line 3-4 (400 MW); the one paying more takes it, the other is limited
    by that branch."""
    rich = request_at(4, "rich", 300, ai_lease_usd_per_kw_month=250)
    poor = request_at(5, "poor", 200)
    a, _ = limits([rich, poor])
    assert a.loc["rich", "ai_mw"] == pytest.approx(300) and a.loc["rich", "limited_by"] == ""
    assert a.loc["poor", "ai_mw"] == pytest.approx(100)
    assert a.loc["poor", "limited_by"] == "network" and a.loc["poor", "limiting_element"] == "branch 3 (peak)"


def run_cli(tmp_path, scenario_text: str, name: str):
    path = tmp_path / f"{name}.yaml"
    path.write_text(scenario_text)
    out = tmp_path / name
    res = subprocess.run([sys.executable, "-m", "planner", "solve", str(path), "--out", str(out),
                          "--set", "output.map_png=false", "--set", "output.map_html=false",
                          "--set", "output.case_json=false", "--set", "ac.check=false"],
                         capture_output=True, text=True, timeout=600, check=False)
    assert res.returncode == 0, res.stderr
    return json.loads((out / "summary.json").read_text()), res.stdout


def test_requested_mw_has_one_definition(tmp_path):
    """No requests: 0 requested everywhere, no phantom region. A request outside the grid: counted in
    requested and unmet, in a region row 'not modelled', and listed with its reason."""
    s, stdout = run_cli(tmp_path, "extends: texas\ndemand:\n  requests: []\n", "none")
    assert s["requested_ai_mw"] == 0 and s["unmet_ai_mw"] == 0
    assert list(s["regions"]) == ["ERCOT"] and s["regions"]["ERCOT"]["requested_ai_mw"] == 0
    assert "grid" not in s["regions"]
    assert "no AI requests" in stdout
    s, stdout = run_cli(tmp_path, """extends: texas
demand:
  requests:
    - {name: Dallas, lat: 32.78, lon: -96.80, mw: 500}
    - {name: Miami, lat: 25.76, lon: -80.19, mw: 300, state: FL}
""", "outside")
    assert s["requested_ai_mw"] == 800
    assert sum(r["requested_ai_mw"] for r in s["regions"].values()) == 800
    assert s["regions"]["not modelled"]["requested_ai_mw"] == 300
    assert s["regions"]["not modelled"]["unmet_ai_mw"] == 300
    assert s["unmet_ai_mw"] == pytest.approx(800 - s["served_ai_mw"])
    by = s["sites"]["not_modelled_by_reason"]
    assert by["beyond_max_km"] == {"count": 1, "mw": 300, "site_ids": ["demand-miami"]}
    assert s["sites"]["not_modelled_reasons"]["demand-miami"].startswith(
        "not mapped to a bus (beyond_max_km: nearest bus of 115 kV or more is 1477.9 km away")
    # the console lists them: count, MW and reason, and the request among the largest unmet
    line = next(li for li in stdout.splitlines() if li.strip().startswith("not modelled"))
    assert "beyond_max_km 1 (300 MW: demand-miami)" in line
    assert any("Miami" in li and "not_modelled" in li for li in stdout.splitlines())


def test_sites_without_names_and_grids_without_ratings(tmp_path):
    """Found by the fuzzer: a sites file without a name column (labels use the id) and a grid whose
    branches have no rating (nothing limits: hosting is the generation headroom), N-0 and N-1."""
    (tmp_path / "s.csv").write_text("site_id,lat,lon,current_use,operating_mw,poi_mw\nm1,0.2,-1.0,bitcoin,0,150\n")
    (tmp_path / "s.yaml").write_text("grid: {name: case9}\nsites: {files: [s.csv], max_km: 500, min_kv: 100}\n")
    res = subprocess.run([sys.executable, "-m", "planner", "solve", str(tmp_path / "s.yaml"), "--out",
                          str(tmp_path / "o"), "-q"], capture_output=True, text=True, timeout=600, check=False)
    assert res.returncode == 0, res.stderr
    assert "m1" in (tmp_path / "o" / "map.html").read_text()
    (tmp_path / "unrated.m").write_text(
        "mpc.bus = [1 3 0 0 0 0 1 1 0 230 1 1.1 0.9; 2 1 50 0 0 0 1 1 0 230 1 1.1 0.9;];\n"
        "mpc.gen = [1 0 0 0 0 1 100 1 300 0;];\nmpc.branch = [1 2 0 0.1 0 0 0 0 0 0 1;];\n")
    for extra in ([], ["--n-1"], ["--n-1", "--use", "mining"]):
        res = subprocess.run([sys.executable, "-m", "planner", "hosting", "--grid", str(tmp_path / "unrated.m"),
                              *extra], capture_output=True, text=True, timeout=600, check=False)
        assert res.returncode == 0, res.stderr
        assert "limited by generation headroom: 2" in res.stdout
