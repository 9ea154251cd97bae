"""Writes 03_timeline.ipynb (run from the repository root: python notebooks/make_03.py)."""

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

cells = [
    new_markdown_cell("""# Timeline: who gets power when, 2026-2030

A single-period answer hides time: a mine converts in about 12 months, a greenfield campus takes
about 36. This notebook plans the shipped Texas scenario year by year (AI demand ramping to its
full size by 2028, the base load growing 1 % a year), reads the gap per year and when each site
is energized, and asks what the conversions add and when. `planner solve us-2026-2030` does the
same for the whole US from the command line."""),
    new_code_cell("""import warnings
warnings.filterwarnings("ignore", message="numba cannot be imported")

import tempfile
from pathlib import Path

import planner
from planner.run.prepare import run

work = Path(tempfile.mkdtemp(prefix="timeline-"))
(work / "texas-2026-2030.yaml").write_text('''
extends: texas
name: texas-2026-2030
timeline:
  years: [2026, 2027, 2028, 2029, 2030]
  demand_share: {2026: 0.4, 2027: 0.7, 2028: 1.0}   # each request ramps to its MW by 2028
  base_load_growth_percent: 1
''')
sc = planner.load_scenario(work / "texas-2026-2030.yaml", ["ac.check=false"])
prep, result = run(sc)
print(f"NPV over the timeline ${result.summary.objective_usd / 1e9:,.2f} B")
result.timeline"""),
    new_markdown_cell("""## The gap per year

Each year's row is what runs during that year. Conversions (12 months) serve from 2027,
greenfield campuses (36 months) from 2029; the stacked area shows the served AI (at converted
mines and elsewhere) against the unmet demand, and the Gantt chart when each site is energized."""),
    new_code_cell("""planner.timeline_chart(result)"""),
    new_code_cell("""cols = ["site_id", "current_use", "first_year"] + [f"ai_mw_{y}" for y in prep.timeline.years]
a = result.allocation
a.loc[a["first_year"].notna(), cols].sort_values(["first_year", "ai_mw_2030"], ascending=[True, False])"""),
    new_markdown_cell("""## What the conversions add, and when

The same timeline with conversions forbidden: the difference per year is what converting the
mines adds to the AI served, and the difference in NPV what it is worth."""),
    new_code_cell("""no_conv = planner.load_scenario(work / "texas-2026-2030.yaml",
                                ["ac.check=false", "constraints.allow_conversion=false"])
_, without = run(no_conv)
served = result.timeline.groupby("year")["served_ai_mw"].sum()
served_without = without.timeline.groupby("year")["served_ai_mw"].sum()
added = (served - served_without).rename("added_by_conversions_mw")
print(f"NPV added by conversions: ${(result.summary.objective_usd - without.summary.objective_usd) / 1e9:,.2f} B")
added.to_frame().assign(with_conversions_mw=served, without_mw=served_without)"""),
    new_markdown_cell("""## One year is today's answer

A timeline of one year is the single-period solve: the same objective and allocation (its one
year is the end state, which holds every MW the plan builds)."""),
    new_code_cell("""_, single = run(planner.load_scenario("texas", ["ac.check=false"]))
(work / "one.yaml").write_text("extends: texas\\ntimeline:\\n  years: [2026]\\n")
_, one = run(planner.load_scenario(work / "one.yaml", ["ac.check=false"]))
print(single.summary.objective_usd, one.summary.objective_usd)
assert single.summary.objective_usd == one.summary.objective_usd"""),
]

nb = new_notebook(cells=cells, metadata={"kernelspec": {"name": "python3", "display_name": "Python 3",
                                                        "language": "python"}})
nbformat.write(nb, "notebooks/03_timeline.ipynb")
