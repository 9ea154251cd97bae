"""Writes 04_three_paths.ipynb (run from the repository root: python notebooks/make_04.py)."""

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

cells = [
    new_markdown_cell("""# The miner's three paths: keep mining, lease the shell, or run an AI cloud

Every mine with a grid connection can keep mining, lease its powered shell to an AI tenant,
or buy GPUs and sell compute itself. This notebook solves the shipped Texas scenario at today's
prices, shows the path each shipped site takes with what each path would have been worth there,
sums it up per operator, and then sweeps hashprice, the AI lease rate and the GPU rental price
(cloud revenue per MW of IT load) to find where each site switches path. Each switch found by
the sweep is set next to the switch that the site's economics alone predict, so the part of the
answer that comes from the grid (branch limits, the supply pool) is visible."""),
    new_code_cell("""%matplotlib inline
import warnings
warnings.filterwarnings("ignore", message="numba cannot be imported")

import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.optimize import brentq

import planner
from planner import economics as E

pd.set_option("display.width", 200)
pd.set_option("display.max_columns", 30)
prep, result = planner.run_scenario(planner.load_scenario("texas", ["ac.check=false"]))
operators = planner.operator_report(prep, result)  # also solves without the network, then without the pool
e = prep.params.economics
print("status", result.summary.status, "| NPV $", round(result.summary.objective_usd / 1e9, 2), "B")
pd.DataFrame(result.summary.paths).T"""),
    new_markdown_cell("""## The path of each shipped site at today's prices

`path` is what the site takes (most MW first), `path_usd_per_w` what that is worth per W, the
three `*_usd_per_w` columns what each path would be worth there (empty where it is not
allowed: a tenant's request is a lease, an AI campus does not mine), and `margin_usd_per_w` how
far ahead the chosen path is of the best one not taken. `limited_by` says what keeps the site
from more MW."""),
    new_code_cell("""shipped = set(planner.read_sites(planner.default_sites())["site_id"])
a = result.allocation
sites = a[a["site_id"].isin(shipped) & (a["use"] != "not_modelled")]
cols = ["site_id", "operator", "current_use", "path", "mining_mw", "ai_lease_mw", "ai_cloud_mw", "path_usd_per_w",
        "mining_usd_per_w", "ai_lease_usd_per_w", "ai_cloud_usd_per_w", "best_other_path", "margin_usd_per_w",
        "limited_by"]
sites[cols].round(2).set_index("site_id")"""),
    new_markdown_cell("""## Per operator

MW by path, the value created and its $/W, and the AI MW that the network and the supply pool
stop: the AI each operator's sites would take in the same MILP without network rows (then
without the pool as well), over what they take. The same table is `operators.csv` of
`planner solve`, and the chart is its `operators.png`."""),
    new_code_cell("""operators[["operator", "status", "sites_modelled", "mining_mw", "ai_lease_mw", "ai_cloud_mw", "value_usd",
           "usd_per_w", "ai_blocked_by_network_mw", "ai_blocked_by_pool_mw"]].round(2)"""),
    new_code_cell("""fig = planner.operators_chart(result)
fig"""),
    new_markdown_cell("""## Where each site switches path

Three one-key sweeps of the same scenario (each re-prices one model: about a second per
scenario): hashprice from 20 to 140 $/PH/day, the AI lease from 60 to 260 $/kW-month (the mines
without a tenant request; requests carry their own 250), and the cloud's revenue from 6 to 16
M$ per MW of IT load and year, also shown as $ per GPU-hour."""),
    new_code_cell("""HASH = "economics.hashprice_usd_per_ph_day"
LEASE = "economics.ai_lease_usd_per_kw_month"
CLOUD = "economics.ai_cloud_revenue_usd_per_it_mw_year"
SPECS = {HASH: "20:140:10", LEASE: "60:260:20", CLOUD: "6e6:16e6:1e6"}
work = Path(tempfile.mkdtemp(prefix="three-paths-"))
switches = []
for key, spec in SPECS.items():
    out = work / key.split(".")[1]
    res = planner.sweep("texas", [f"{key}={spec}"], out, workers=1)
    print(f"{key}: {len(res)} scenarios", res["status"].value_counts().to_dict())
    tips = planner.tipping_points(out, key)
    switches.append(tips[(tips["change"] == "switches path") & tips["site_id"].isin(shipped)])
switches = pd.concat(switches, ignore_index=True)
switches.loc[switches["key"] == CLOUD, "gpu_hour_usd"] = (
    E.usd_per_gpu_hour(e, switches.loc[switches["key"] == CLOUD, "from_value"]).round(2).astype(str) + "-"
    + E.usd_per_gpu_hour(e, switches.loc[switches["key"] == CLOUD, "to_value"]).round(2).astype(str))
switches[["site_id", "key", "from_value", "to_value", "from_path", "to_path", "gpu_hour_usd"]]"""),
    new_markdown_cell("""### The same switches from the site's economics alone

For one MW at a site, each path's NPV is a closed form of the prices (`planner.economics`);
the price at which the chosen path stops being the best of the three is a root. The sweep
brackets it wherever the site's choice does not touch anything shared with other sites. Where
the sweep switches earlier or later, or splits a site between two paths, the grid decides: an
AI MW is firm at peak (share 1) and a mining MW is curtailed (10 % firm), so converting a mine
adds peak load that binding branches must carry, and new AI draws on the supply pool that other
requests want. Only switches from one whole path to another get an economics-alone value."""),
    new_code_cell("""FIELD = {HASH: "hashprice_usd_per_ph_day", LEASE: "ai_lease_usd_per_kw_month",
         CLOUD: "ai_cloud_revenue_usd_per_it_mw_year"}


def economics_switch(key: str, site: pd.Series, lo: float, hi: float) -> float:
    \"\"\"The value of ``key`` at which the site's best path changes from ``from_path``'s first path to
    ``to_path``'s first, one MW at that site, ignoring the grid (NaN if there is none in [lo, hi]).\"\"\"
    mine = site["current_use"] in ("bitcoin", "conversion")
    kind = "conversion" if mine else "greenfield"
    capex = getattr(e, f"ai_{kind}_capex_usd_per_mw")
    lead = getattr(e, f"ai_{kind}_lead_months")
    before, after = site["from_path"].split("+")[0], site["to_path"].split("+")[0]

    def gap(x):
        v = E.path_values_per_mw(e.with_overrides(**{FIELD[key]: x}), existing_mine=site["existing_mw"] > 0,
                                 capex_usd_per_mw=capex, lead_months=lead)
        return float(v[before]) - float(v[after])

    return brentq(gap, lo, hi) if gap(lo) * gap(hi) < 0 else float("nan")


info = a.set_index("site_id")[["current_use", "existing_mw"]]
table = switches.join(info, on="site_id")
low = {HASH: 1.0, LEASE: 1.0, CLOUD: 1e5}
high = {HASH: 1000.0, LEASE: 2000.0, CLOUD: 1e8}
# one whole path to another whole path (a split, or none, is the grid's doing: no single-site answer)
whole = ~table["from_path"].str.contains("[+]|none") & ~table["to_path"].str.contains("[+]|none")
table["economics_alone"] = [economics_switch(r["key"], r, low[r["key"]], high[r["key"]]) if w else np.nan
                            for w, (_, r) in zip(whole, table.iterrows())]
table["inside_bracket"] = ((table["economics_alone"] >= table["from_value"])
                           & (table["economics_alone"] <= table["to_value"])).where(whole)
table[["site_id", "key", "from_value", "to_value", "from_path", "to_path", "economics_alone", "inside_bracket"]]"""),
    new_markdown_cell("""The lease-or-cloud choice uses the same MW at the same site, so nothing shared changes: every
site that switches between the two does so where its economics say, at the cloud revenue where
the cloud's NPV equals the lease's (`planner economics` prints it: about $10.26M per IT MW-year,
$2.34 per GPU-hour) and at the lease where the lease's NPV falls to the cloud's. The asserts
check it."""),
    new_code_cell("""between = table[whole & table["from_path"].str.split("+").str[0].isin(["ai_lease", "ai_cloud"])
                & table["to_path"].str.split("+").str[0].isin(["ai_lease", "ai_cloud"])
                & (table["from_path"].str.split("+").str[0] != table["to_path"].str.split("+").str[0])]
print(between[["site_id", "key", "from_value", "to_value", "economics_alone"]].to_string(index=False))
assert len(between) >= 3 and (between["inside_bracket"] == True).all()
breakeven = float(E.ai_cloud_breakeven_revenue(e, E.ai_npv_per_mw(e, "conversion"),
                                               capex_usd_per_mw=e.ai_conversion_capex_usd_per_mw,
                                               lead_months=e.ai_conversion_lead_months))
print(f"cloud beats the lease above ${breakeven / 1e6:.2f}M per IT MW-year "
      f"(${float(E.usd_per_gpu_hour(e, breakeven)):.2f} per GPU-hour)")"""),
    new_markdown_cell("""## Each site's path along hashprice

One row per shipped site, one column per hashprice of the sweep; the colour is the path with
the most MW."""),
    new_code_cell("""from matplotlib.colors import ListedColormap
from matplotlib.figure import Figure

data = planner.read_sweep(work / "hashprice_usd_per_ph_day")
rows = data.sites.merge(data.results[["id", HASH]], on="id")
rows = rows[rows["site_id"].isin(sites["site_id"])]
names = ["none", "mining", "ai_lease", "ai_cloud"]
rows["first"] = rows["path"].fillna("none").str.split("+").str[0].map({n: k for k, n in enumerate(names)})
grid = rows.pivot(index="site_id", columns=HASH, values="first")
fig = Figure(figsize=(9, 0.32 * len(grid) + 1.2), dpi=100)
ax = fig.add_subplot()
ax.imshow(grid.to_numpy(float), aspect="auto", cmap=ListedColormap(["#d9d9d9", "#f08c00", "#2166ac", "#762a83"]),
          vmin=-0.5, vmax=3.5)
ax.set_yticks(range(len(grid)), grid.index, fontsize=8)
ax.set_xticks(range(len(grid.columns)), [f"{v:g}" for v in grid.columns], fontsize=8)
ax.set_xlabel("hashprice ($/PH/day)")
ax.set_title("path with the most MW: grey none, orange mining, blue AI lease, purple AI cloud", fontsize=9,
             loc="left")
fig"""),
]

nb = new_notebook(cells=cells, metadata={"kernelspec": {"name": "python3", "display_name": "Python 3",
                                                        "language": "python"}})
nbformat.write(nb, "notebooks/04_three_paths.ipynb")
