"""The README cannot drift from the program: every console example in it is run and its output
compared (tools/readme_examples.py; `python tools/readme_examples.py --update` rewrites them)."""

import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tools"))
import readme_examples as rx


def test_matching_rules():
    assert rx.matches(["a", "...", "d"], ["a", "b", "c", "d"])
    assert rx.matches(["a", "...", "d"], ["a", "d"])
    assert not rx.matches(["a", "...", "d"], ["a", "b", "c"])
    assert not rx.matches(["a", "b"], ["a", "b", "c"])
    assert rx.matches([" time                   1.3 s"], [" time                   12.0 s   "])
    assert not rx.matches([" AI served              3,208 MW"], [" AI served              3,209 MW"])


def test_readme_blocks_are_found():
    found = rx.blocks((REPO / "README.md").read_text())
    commands = [c for b in found if b.kind == "console" for c, _ in b.commands()]
    assert any(c.startswith("planner solve scenarios/texas.yaml") for c in commands)
    assert any(c.startswith("planner compare") for c in commands)
    assert len(commands) >= 8


def test_commands_that_read_a_run_follow_the_run_that_wrote_it():
    text = (REPO / "README.md").read_text()
    found = rx.chains(text)
    every = [c for b in rx.blocks(text) if b.kind == "console" for c, _ in b.commands()]
    assert sorted(c for g in found for c, _ in g) == sorted(every)  # each command once
    where = {c: k for k, g in enumerate(found) for c, _ in g}
    base = next(c for c in every if "--out runs/base" in c)
    assert where[next(c for c in every if c.startswith("planner compare runs/base"))] == where[base]
    assert len(found) >= 4  # independent chains: the examples run side by side under pytest-xdist


CHAINS = rx.chains((REPO / "README.md").read_text())


@pytest.mark.slow
@pytest.mark.parametrize("index", range(len(CHAINS)), ids=[c[0][0][:40] for c in CHAINS])
def test_readme_console_examples_match_the_program(tmp_path, index):
    problems = rx.check_chain(REPO / "README.md", tmp_path, index)
    assert not problems, "README.md differs from the program (python tools/readme_examples.py --update):\n\n" \
        + "\n\n".join(problems)


def test_readme_scenario_reference_shows_the_schema_defaults():
    """The README's scenario reference is a valid scenario, and every default it shows for the
    settings sections is the schema's (the one definition of each setting)."""
    import re

    import yaml

    from planner.config.scenario import Scenario

    text = (Path(__file__).parents[1] / "README.md").read_text()
    block = next(b for b in re.findall(r"```yaml\n(.*?)```", text, re.DOTALL) if "existing_load_check" in b)
    shown = yaml.safe_load(block)
    schema = Scenario()
    checked = 0
    for section in ("grid", "sites", "constraints", "solver", "ac", "output"):
        assert set(shown[section]) == set(type(getattr(schema, section)).model_fields), section
        for key, value in shown[section].items():
            if section == "grid" and key == "name":
                continue  # the example names the grid
            assert getattr(getattr(schema, section), key) == value, f"{section}.{key}"
            checked += 1
    assert checked > 30


def test_the_synopsis_lists_every_command_and_the_solve_section_every_shipped_scenario():
    import click

    from planner.cli import cli

    text = (REPO / "README.md").read_text()
    synopsis = text.split("## Command line", 1)[1].split("```", 2)[1]
    names = []
    for name, command in cli.commands.items():
        if isinstance(command, click.Group):
            names += [f"planner {name} {sub}" for sub in command.commands]
        else:
            names.append(f"planner {name}")
    missing = [n for n in names if n not in synopsis]
    assert not missing, f"README's synopsis lacks {missing}"
    solve = text.split("### `planner solve`", 1)[1][:600]
    shipped = sorted(p.stem for p in (REPO / "scenarios").glob("*.yaml"))
    assert len(shipped) >= 3 and all(f"`{s}`" in solve for s in shipped), shipped


def test_nothing_cites_files_outside_the_repository():
    """The project's files name no document of the workplace it was written in."""
    import subprocess

    files = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True, check=True).stdout.split()
    outside = ("DESIGN.md", "NUMBERS.md", "STYLE.md", "../shared", "shared/reference")
    found = []
    for rel in files:
        path = REPO / rel
        if path.suffix not in (".py", ".md", ".yaml", ".toml", ".ipynb", ".txt", ".csv") or rel == "tests/test_readme.py":
            continue
        text = path.read_text(errors="ignore")
        found += [f"{rel}: {word}" for word in outside if word in text]
    assert not found
