"""Writes 02_sweeps.ipynb (run from the repository root: python notebooks/make_02.py)."""

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

cells = [
    new_markdown_cell("""# Sweeps: at which prices does a mine convert?

One solve answers one set of prices. This notebook sweeps the shipped Texas scenario over
hashprice × AI lease rate (a grid of 63 scenarios, solved in about ten seconds: the model is
built once and re-priced), draws a Monte Carlo sample of uncertain prices, and reads the
results: a heatmap of any two varied keys, the hashprice at which each mine converts or stops
mining, and which sites win in most futures. The same sweeps run from the command line with
`planner sweep` (and on a Dask cluster with `--workers N` or `--scheduler`)."""),
    new_code_cell("""import warnings
warnings.filterwarnings("ignore", message="numba cannot be imported")

import tempfile
from pathlib import Path

import planner

HASH, LEASE = "economics.hashprice_usd_per_ph_day", "economics.ai_lease_usd_per_kw_month"
work = Path(tempfile.mkdtemp(prefix="sweeps-"))
results = planner.sweep("texas", [f"{HASH}=25:65:5", f"{LEASE}=80:230:25"], work / "grid", workers=1)
print(f"{len(results)} scenarios:", results["status"].value_counts().to_dict())
results[["id", HASH, LEASE, "objective_usd", "served_ai_mw", "served_mining_mw", "converted_sites"]].head()"""),
    new_markdown_cell("""## Heatmaps of two varied keys

Any output of the results (NPV, AI served or unmet, mining, conversions, binding branches)
against any two varied keys; with more than two keys the others are averaged, or fixed with
`at={key: value}`. `path=` writes a PNG."""),
    new_code_cell("""fig = planner.sweep_heatmap(work / "grid", HASH, LEASE, "served_mining_mw")"""),
    new_code_cell("""fig = planner.sweep_heatmap(work / "grid", HASH, LEASE, "objective_usd", path=work / "npv.png")
print("wrote", work / "npv.png")"""),
    new_markdown_cell("""## Tipping points

For each mine, where along the hashprice axis its use changes, at each lease rate: the two
swept values the switch lies between. A mine that *stops converting* as hashprice rises is one
whose mining revenue overtakes the AI lease there."""),
    new_code_cell("""tips = planner.tipping_points(work / "grid", HASH)
at_155 = tips[tips[LEASE] == 155].drop(columns=[LEASE, "key"])
at_155"""),
    new_code_cell("""# the same answer read straight from the results: one mine's use along hashprice at that lease
data = planner.read_sweep(work / "grid")
site = at_155["site_id"].iloc[0]
rows = data.sites.merge(data.results[["id", HASH, LEASE]], on="id")
rows = rows[(rows["site_id"] == site) & (rows[LEASE] == 155)].sort_values(HASH)
rows[[HASH, "converted", "ai_mw", "mining_mw"]]"""),
    new_markdown_cell("""## Monte Carlo: which sites win in most futures?

`samples=N` draws N scenarios from distributions (uniform, normal, triangular, choice); the same
seed draws the same scenarios, so a rerun on the same directory resumes."""),
    new_code_cell("""distributions = {
    HASH: {"triangular": {"low": 25, "mode": 45, "high": 70}},
    LEASE: {"normal": {"mean": 160, "sd": 30, "low": 90, "high": 240}},
    "economics.discount_rate": {"uniform": {"low": 0.07, "high": 0.13}},
}
mc = planner.sweep("texas", out=work / "mc", samples=40, seed=7, distributions=distributions, workers=1)
print(f"{len(mc)} draws:", mc["status"].value_counts().to_dict())
planner.site_shares(work / "mc").head(12)"""),
    new_code_cell("""fig = planner.sweep_heatmap(work / "mc", HASH, LEASE, "served_ai_mw", bins=4)"""),
]

nb = new_notebook(cells=cells, metadata={"kernelspec": {"name": "python3", "display_name": "Python 3",
                                                        "language": "python"}})
nbformat.write(nb, "notebooks/02_sweeps.ipynb")
