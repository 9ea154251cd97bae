"""Run the test suite on other releases of planner's dependencies than pyproject.toml allows.

    python tools/check_versions.py newest [PYTEST ARGS...]   # upper bounds lifted: the newest releases
    python tools/check_versions.py lowest [PYTEST ARGS...]   # every dependency at its lower bound

pyproject.toml bounds every library whose behaviour planner's answers depend on, from the
release the suite last passed on to below the next one that could change an answer. This script
checks on purpose what the bounds keep out: it copies the working tree to a temporary directory,
rewrites the copy's dependency bounds (``newest``: no upper bounds; ``lowest``: each pinned to its
lower bound), installs it into a fresh virtual environment without the pip cache, prints the
versions that resolved, and runs pytest there (the README's test command; extra arguments go to
pytest, e.g. ``-m "not slow"``). Its exit status is pytest's. Nothing in this repository changes;
when the newest releases pass, raise the bounds in pyproject.toml and the README's table.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
#: the libraries whose resolved versions are printed
SHOWN = ("numpy", "scipy", "pandas", "pandapower", "highspy", "pulp", "pypsa", "networkx", "geopandas",
         "shapely", "matplotlib", "pydantic", "dask", "plotly", "pyarrow", "import-linter", "grimp")
_REQ = re.compile(r'"(?P<name>[A-Za-z0-9_.\-]+(?:\[[^\]]+\])?)(?P<spec>[^";]*)"')


def rewrite(spec_text: str, mode: str) -> str:
    """One requirement's version specifier under ``mode`` (``newest``: the lower bound only;
    ``lowest``: ``==`` the lower bound)."""
    parts = [p.strip() for p in spec_text.split(",") if p.strip()]
    lower = [p[2:].strip() for p in parts if p.startswith(">=")]
    if mode == "newest":
        return f">={lower[0]}" if lower else ""
    return f"=={lower[0]}" if lower else ",".join(parts)


def rewritten_pyproject(text: str, mode: str) -> str:
    """pyproject.toml with the bounds of ``dependencies`` and the ``test`` extra rewritten."""
    out, inside = [], False
    for line in text.splitlines(keepends=True):
        stripped = line.strip()
        if stripped.startswith(("dependencies = [", "test = [")):
            inside = True
        elif inside and stripped.startswith("]"):
            inside = False
        elif inside and stripped.startswith('"'):
            line = _REQ.sub(lambda m: f'"{m["name"]}{rewrite(m["spec"], mode)}"', line, count=1)
        out.append(line)
    return "".join(out)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("mode", choices=["newest", "lowest"])
    ap.add_argument("--keep", action="store_true", help="keep the temporary copy and its venv")
    args, pytest_args = ap.parse_known_args(argv)
    work = Path(tempfile.mkdtemp(prefix=f"planner-{args.mode}-"))
    try:
        tree = work / "planner"
        files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=ROOT, check=True,
                               capture_output=True, text=True).stdout.split("\n")
        for rel in filter(None, files):
            src = ROOT / rel
            if src.is_file():
                (tree / rel).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(src, tree / rel)
        pyproject = tree / "pyproject.toml"
        pyproject.write_text(rewritten_pyproject(pyproject.read_text(), args.mode))
        venv = tree / ".venv"
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        py = venv / "bin" / "python"
        subprocess.run([str(py), "-m", "pip", "install", "-q", "--no-cache-dir", ".[test]"], cwd=tree, check=True)
        listed = subprocess.run([str(py), "-m", "pip", "list", "--format=freeze"], check=True,
                                capture_output=True, text=True).stdout
        versions = dict(line.split("==", 1) for line in listed.splitlines() if "==" in line)
        lower = {k.lower(): v for k, v in versions.items()}
        print(f"{args.mode} releases: " + ", ".join(f"{n} {lower.get(n, '?')}" for n in SHOWN), flush=True)
        return subprocess.run([str(venv / "bin" / "pytest"), *pytest_args], cwd=tree, check=False).returncode
    finally:
        if args.keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
