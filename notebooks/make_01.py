"""Writes 01_texas_allocation.ipynb (run from the repository root: python notebooks/make_01.py)."""

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

cells = [
    new_markdown_cell("""# Texas: who gets the interconnect capacity?

This notebook solves the shipped Texas scenario with planner's Python API, then looks at the
answer as geospatial data: where the AI and mining load goes, which branches bind, and what one
more MW of interconnection is worth at each substation. It uses only `import planner` (plus
pandas, geopandas and matplotlib) and runs offline."""),
    new_code_cell("""import warnings
warnings.filterwarnings("ignore", message="numba cannot be imported")

import matplotlib.pyplot as plt
import pandas as pd
import planner

grid = planner.load_grid("texas")          # pandapower net + bus and branch GeoDataFrames
sites = planner.read_sites(planner.default_sites())
print(f"{len(grid.buses):,} buses, {len(grid.branches):,} branches; {len(sites)} sites,",
      (sites['interconnect'] == 'Texas').sum(), "on the Texas interconnect")"""),
    new_markdown_cell("""## Solve the scenario

`scenarios/texas.yaml` puts AI demand at five real AI campuses and five data-center markets
against a 6.5 GW ERCOT supply pool. `run_scenario` does what `planner solve` does, without
writing files."""),
    new_code_cell("""scenario = planner.load_scenario("texas")
prepared, result = planner.run_scenario(scenario, grid=grid)
s = result.summary
print(f"status {s.status}; NPV ${s.objective_usd / 1e9:,.2f} B")
print(f"AI: requested {s.requested_ai_mw:,.0f} MW, served {s.served_ai_mw:,.0f} MW, "
      f"unmet {s.unmet_ai_mw:,.0f} MW; mining {s.served_mining_mw:,.0f} MW")
print(f"{s.converted_sites} mines convert, {s.conversions['ai_at_miner_sites_mw']:,.0f} MW of AI at miner sites; "
      f"{s.binding_branches} binding branches")"""),
    new_code_cell("""alloc = result.allocation                 # a GeoDataFrame, one row per site (EPSG:4326)
alloc[alloc["use"] != "not_modelled"][["site_id", "use", "ai_mw", "mining_mw", "value_usd",
                                       "marginal_value_usd_per_mw"]].sort_values("ai_mw", ascending=False)"""),
    new_markdown_cell("""## Map the allocation and the binding branches

Branches are the grid's GeoDataFrame joined with the solved flows; binding ones are drawn thick."""),
    new_code_cell("""flows = result.branches.set_index("branch_id")
branches = grid.branches.join(flows[["loading_percent", "binding", "shadow_price_usd_per_mw"]])
fig, ax = plt.subplots(figsize=(9, 8))
branches.plot(ax=ax, column="loading_percent", cmap="YlOrRd", vmin=0, vmax=100, linewidth=0.4, legend=True,
              legend_kwds={"label": "loading, % of rating", "shrink": 0.6})
branches[branches["binding"]].plot(ax=ax, color="#b10026", linewidth=3)
modelled = alloc[alloc["use"] != "not_modelled"]
colours = {"ai": "#6a3d9a", "mining": "#ff7f00", "ai+mining": "#1f78b4", "none": "#999999"}
for use, rows in modelled.groupby("use"):
    rows.plot(ax=ax, color=colours[use], markersize=20 + (rows["ai_mw"] + rows["mining_mw"]) / 3, label=use,
              alpha=0.8)
ax.legend(loc="lower left")
ax.set_title("Texas allocation: sites by use, binding branches in dark red");"""),
    new_code_cell("""branches[branches["binding"]][["from_bus", "to_bus", "kind", "rate_mw", "shadow_price_usd_per_mw"]] \\
    .sort_values("shadow_price_usd_per_mw", ascending=False)"""),
    new_markdown_cell("""## Marginal value per substation

`result.buses` has one row per candidate bus: the new load placed there, its hosting capacity
(N-0, the most new firm load the bus alone could take) and the marginal value of one more MW of
interconnection (the dual of the site's interconnection row)."""),
    new_code_cell("""buses = result.buses.sort_values("marginal_value_usd_per_mw", ascending=False)
buses[["substation_name", "kv", "new_load_mw", "hosting_mw", "marginal_value_usd_per_mw",
       "network_cost_usd_per_mw"]].head(10)"""),
    new_code_cell("""top = buses.head(10).iloc[::-1]
fig, ax = plt.subplots(figsize=(8, 4))
ax.barh(top["substation_name"] + " (" + top["kv"].astype(int).astype(str) + " kV)",
        top["marginal_value_usd_per_mw"] / 1e6)
ax.set_xlabel("value of one more MW of interconnection, $M per MW")
ax.set_title("Where an extra MW of interconnect is worth most");"""),
    new_markdown_cell("""## Check with pandapower, then a what-if

The allocated case (new loads added, generators dispatched as the model assumed) goes through
pandapower's own DC power flow; its flows must equal the model's."""),
    new_code_cell("""check = planner.dc_check(grid, result)
print(f"largest flow difference {check['max_flow_diff_mw']:.2e} MW; "
      f"monitored branches over their limit: {check['branches_over_limit']}")
assert check["max_flow_diff_mw"] < 0.5 and check["branches_over_limit"] == 0"""),
    new_code_cell("""what_if = planner.load_scenario("texas", ["economics.hashprice_usd_per_ph_day=90"])
_, high = planner.run_scenario(what_if, grid=grid)
pd.DataFrame({"base": {k: getattr(s, k) for k in ("served_ai_mw", "served_mining_mw", "converted_sites")},
              "hashprice $90": {k: getattr(high.summary, k) for k in ("served_ai_mw", "served_mining_mw", "converted_sites")}})"""),
]

nb = new_notebook(cells=cells, metadata={"kernelspec": {"name": "python3", "display_name": "Python 3",
                                                        "language": "python"}})
nbformat.write(nb, "notebooks/01_texas_allocation.ipynb")
