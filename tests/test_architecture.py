"""The rooms of planner (README: "Package layout"): the import contracts of pyproject.toml
([tool.importlinter]: layers, no import circle) hold, no module uses another module's ``_private``
name, no function is longer than 150 lines, and the README's module map is the package's tree."""

import ast
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "planner"
#: the longest function planner's code may have, in lines (``def`` to its last line)
MAX_FUNCTION_LINES = 150


def test_import_contracts_hold():
    """``lint-imports`` on the repository: every import of planner, at module level or inside a
    function, goes down the layers of [tool.importlinter], and no two modules import each other.
    A subprocess: import-linter puts the repository on ``sys.path`` and prints its report."""
    pytest.importorskip("importlinter")
    code = ("import sys; from importlinter.cli import lint_imports; "
            "sys.exit(lint_imports(no_cache=True, no_logo=True))")
    run = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=False)
    assert run.returncode == 0, run.stdout + run.stderr  # the report names the broken contract and the chain
    assert "0 broken" in run.stdout, run.stdout


# --------------------------------------------------------------------------- private names


def _module_name(path: Path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_module(dotted: str) -> bool:
    rel = Path(*dotted.split("."))
    return (REPO / rel).with_suffix(".py").is_file() or (REPO / rel / "__init__.py").is_file()


def _private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


_DOTTED = re.compile(r"\bplanner(?:\.\w+)+")
_ATTR_CALLS = ("setattr", "getattr", "delattr")


def _in_strings(node: ast.Constant, own: str | None, where: str) -> list[str]:
    """``planner.x._name`` written in a string (a docstring, ``monkeypatch.setattr("planner.x._y", ...)``)."""
    found = []
    for m in _DOTTED.finditer(node.value):
        module, _, name = m.group(0).rpartition(".")
        while module and not _is_module(module):  # planner.x.Class._method: its module is planner.x
            module, _, name = module.rpartition(".")
        # a private *module* (planner._entry, the console entry) is not a private name
        if module and _private(name) and module != own and not _is_module(f"{module}.{name}"):
            found.append(f"{where}:{node.lineno}: {module}.{name} (in a string)")
    return found


def _aliases(tree: ast.AST, own: str | None, where: str, found: list[str]) -> dict[str, str]:
    """Local name -> the planner module it is bound to; ``from planner.x import _name`` goes to ``found``."""
    aliases: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0 \
                and node.module.split(".")[0] == "planner":
            for a in node.names:
                if _is_module(f"{node.module}.{a.name}"):
                    aliases[a.asname or a.name] = f"{node.module}.{a.name}"
                elif _private(a.name) and node.module != own:
                    found.append(f"{where}:{node.lineno}: from {node.module} import {a.name}")
        elif isinstance(node, ast.Import):
            for a in node.names:
                if a.name.split(".")[0] == "planner":
                    if a.asname:
                        aliases[a.asname] = a.name
                    else:
                        aliases["planner"] = "planner"  # import planner[.x]: planner.x._name below
    return aliases


def _target_module(target: ast.AST, aliases: dict[str, str]) -> str | None:
    """The planner module an expression names: an alias, ``planner.x.y`` or
    ``import_module("planner.x")``; None for anything else."""
    if isinstance(target, ast.Name):
        return aliases.get(target.id)
    if isinstance(target, ast.Attribute):
        dotted = ast.unparse(target)
        head = dotted.split(".")[0]
        if head in aliases:
            dotted = aliases[head] + dotted[len(head):]
        return dotted if dotted.startswith("planner") and _is_module(dotted) else None
    if (isinstance(target, ast.Call) and ast.unparse(target.func).split(".")[-1] == "import_module"
            and target.args and isinstance(target.args[0], ast.Constant)
            and str(target.args[0].value).startswith("planner")):
        return target.args[0].value
    return None


def private_uses(path: Path, source: str | None = None) -> list[str]:
    """Uses in ``path`` of a ``_private`` name of another planner module: ``from planner.x import
    _n``, ``x._n`` (``x`` bound to a planner module, ``planner.x`` or ``import_module("planner.x")``),
    ``setattr``/``getattr``/``delattr(x, "_n")``, and ``planner.x._n`` in a string. ``__dunder__``
    names are not private; the module's own names are its to use. ``source``: the file's text
    (default: read from ``path``)."""
    tree = ast.parse(path.read_text() if source is None else source, filename=str(path))
    own = _module_name(path) if path.is_relative_to(PACKAGE) else None
    where = str(path.relative_to(REPO))
    found: list[str] = []
    aliases = _aliases(tree, own, where, found)
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            found += _in_strings(node, own, where)
            continue
        if isinstance(node, ast.Attribute) and _private(node.attr):
            target, attr = node.value, node.attr
        elif (isinstance(node, ast.Call) and isinstance(node.func, (ast.Name, ast.Attribute))
              and getattr(node.func, "attr", getattr(node.func, "id", None)) in _ATTR_CALLS
              and len(node.args) >= 2 and isinstance(node.args[1], ast.Constant)
              and isinstance(node.args[1].value, str) and _private(node.args[1].value)):
            target, attr = node.args[0], node.args[1].value
        else:
            continue
        module = _target_module(target, aliases)
        # a private module (planner._entry, the console entry) is not a private name
        if module is not None and module != own and not _is_module(f"{module}.{attr}"):
            found.append(f"{where}:{node.lineno}: {module}.{attr}")
    return found


@pytest.mark.parametrize("folder", ["planner", "tests", "benchmarks", "tools"])
def test_no_module_uses_another_modules_private_name(folder):
    uses = [u for path in sorted((REPO / folder).rglob("*.py")) for u in private_uses(path)]
    assert not uses, "private names used across modules (make them public, or move the code):\n" \
        + "\n".join(uses)


def test_the_private_name_check_sees_each_kind_of_use():
    """The check above finds what it should (a test of the test: a quiet check proves nothing).
    ``PKG`` stands for planner, so that this file's own strings are not uses."""
    source = """
import importlib
import PKG
from PKG.core import errors as e
from PKG.optimization.solve import _hidden
import PKG.network.sensitivity as sens
e._a
sens._b
PKG.data.grid._c
PKG._d
setattr(e, "_f", 1)
importlib.import_module("PKG.sweeps.sweep")._g
"see PKG.optimization.model._h"
e.__doc__, e.public, PKG._entry, sens.DCModel, "PKG._entry:main"
"""
    uses = private_uses(REPO / "tests" / "probe.py", source.replace("PKG", "planner"))  # no file is written
    names = [u.split(": ", 1)[1].replace("planner", "PKG") for u in uses]
    assert names == ["from PKG.optimization.solve import _hidden", "PKG.core.errors._a",
                     "PKG.network.sensitivity._b", "PKG.data.grid._c", "PKG._d", "PKG.core.errors._f",
                     "PKG.sweeps.sweep._g", "PKG.optimization.model._h (in a string)"], names


# --------------------------------------------------------------------------- function length


def test_no_function_in_planner_is_longer_than_150_lines():
    """A function longer than this is split into helpers (as ``optimization.result.assemble`` was)."""
    long = []
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                lines = node.end_lineno - node.lineno + 1
                if lines > MAX_FUNCTION_LINES:
                    long.append(f"{path.relative_to(REPO)}:{node.lineno}: {node.name} ({lines} lines)")
    assert not long, f"functions over {MAX_FUNCTION_LINES} lines:\n" + "\n".join(long)


# --------------------------------------------------------------------------- the README's module map


def _readme_layout() -> list[tuple[str, str, list[str]]]:
    """(layer, room folder, module files) of each row of the README's "Package layout" table."""
    text = (REPO / "README.md").read_text()
    section = text.split("### Package layout", 1)[1].split("\n#", 1)[0]
    rows = []
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")] if line.startswith("|") else []
        if len(cells) >= 3 and re.fullmatch(r"\d+|–", cells[0]):
            room = re.fullmatch(r"`(planner/(?:\w+/)?)`", cells[1])
            assert room, f"README Package layout: a room is written `planner/name/`: {line}"
            rows.append((cells[0], room.group(1), re.findall(r"`([\w.]+\.py)`", cells[2])))
    return rows


def test_the_readme_module_map_is_the_package_tree():
    """The README's "Package layout" lists every module file under planner/ in its room, and
    nothing else."""
    listed = [f"{room}{module}" for _, room, modules in _readme_layout() for module in modules]
    actual = sorted(str(p.relative_to(REPO)) for p in PACKAGE.rglob("*.py"))
    assert len(listed) == len(set(listed)), "a module is listed twice"
    assert sorted(listed) == actual, (f"missing from the README: {sorted(set(actual) - set(listed))}; "
                                      f"not in planner/: {sorted(set(listed) - set(actual))}")


def test_the_readme_layer_order_is_the_contracts():
    """The layers of the README's table (highest first; rooms of one layer are siblings) are the
    layers of the "rooms" contract of pyproject.toml."""
    contracts = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"]
    rooms = next(c for c in contracts if c["id"] == "rooms")
    expected = [sorted(r.strip() for r in layer.split("|")) for layer in rooms["layers"]]
    by_layer: dict[int, list[str]] = {}
    for layer, room, _ in _readme_layout():
        if layer != "–":  # the root: in no room
            by_layer.setdefault(int(layer), []).append(room.removeprefix("planner/").rstrip("/"))
    assert sorted(by_layer, reverse=True) == list(range(len(expected) - 1, -1, -1))
    assert [sorted(by_layer[k]) for k in sorted(by_layer, reverse=True)] == expected


def test_within_a_room_a_module_imports_only_modules_listed_after_it():
    """The README's order of the modules inside each room is their import order (for the rooms that
    have no contract of their own too): no module imports one listed before it."""
    grimp = pytest.importorskip("grimp")
    graph = grimp.build_graph("planner", cache_dir=None)
    for _, room, modules in _readme_layout():
        names = [(room + m).removesuffix(".py").removesuffix("/__init__").replace("/", ".") for m in modules]
        for i, earlier in enumerate(names):
            for later in names[i + 1:]:
                assert not graph.direct_import_exists(importer=later, imported=earlier), \
                    f"{later} imports {earlier}, which the README's Package layout lists before it"
