"""The fully resolved scenario of a run, as YAML: every field, defaults included, each with a
comment saying where its value came from (a scenario file, a file it extends, a ``--set``, or the
default). ``planner solve RUN_DIR/scenario.yaml`` runs the same scenario again.

Formatting only: :mod:`planner.io` writes the text.
"""

from __future__ import annotations

import time
from dataclasses import asdict
from importlib import metadata

import yaml
from pydantic import BaseModel

from planner.config.scenario import Scenario
from planner.economics import Economics


def _scalar(value) -> str:
    """One YAML value on one line (flow style), as ``yaml.safe_load`` reads it back."""
    text = yaml.safe_dump([value], default_flow_style=True, width=float("inf"), allow_unicode=True).strip()
    return text[1:-1]


def _was_given(scenario: Scenario, parts: list[str]) -> bool:
    """Was the field at ``parts`` in the data (a file or a --set), rather than a schema default?"""
    node = scenario
    for part in parts:
        if isinstance(node, BaseModel):
            if part not in node.model_fields_set:
                return False
            node = getattr(node, part)
        elif isinstance(node, list):
            node = node[int(part)]
        elif isinstance(node, dict):
            key = next((k for k in node if str(k) == part), None)
            if key is None:
                return False
            node = node[key]
        else:
            return False
    return True


def _origin(scenario: Scenario, dotted: str, default: str) -> str:
    """What set the field: the file or ``--set`` recorded for it or, when the field was given
    inside a section or list that one source set as a whole, that source; else ``default``."""
    parts = dotted.split(".")
    if not _was_given(scenario, parts):
        return default
    origin = scenario._origin
    for n in range(len(parts), 0, -1):
        key = ".".join(parts[:n])
        if key in origin:
            return origin[key]
    return default


def _emit(scenario: Scenario, node: dict, path: str, depth: int, lines: list[str], defaults: dict,
          item: bool = False) -> None:
    """Append ``node`` as YAML lines; sections get no comment, every value names its origin."""
    pad = "  " * depth
    keys = sorted(node, key=lambda k: k != "name") if item else list(node)  # a list item starts with its name
    for n, key in enumerate(keys):
        value = node[key]
        dotted = f"{path}.{key}" if path else str(key)
        lead = pad if not item else pad[:-2] + ("- " if n == 0 else "  ")
        if isinstance(value, dict) and value:
            lines.append(f"{lead}{_key(key)}:")
            _emit(scenario, value, dotted, depth + 1, lines, defaults)
        elif isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            lines.append(f"{lead}{_key(key)}:")
            for i, entry in enumerate(value):
                _emit(scenario, entry, f"{dotted}.{i}", depth + 2, lines, defaults, item=True)
        else:
            source = _origin(scenario, dotted, defaults.get(dotted, "default"))
            lines.append(f"{lead}{_key(key)}: {_scalar(value)}  # {source}")


def _key(key) -> str:
    return _scalar(key) if not isinstance(key, str) or not key.replace("_", "").replace("-", "").isalnum() \
        else key


def resolved_scenario(scenario: Scenario, economics: Economics | None = None) -> str:
    """The scenario with every field resolved, as YAML text with a comment on each value
    naming where it came from. ``economics`` (the values the run used) fills the economics
    section, so the file does not depend on planner's defaults of another version."""
    data = scenario.model_dump(mode="python")
    data["extends"] = None  # merged in: the file stands alone
    used = asdict(economics) if economics is not None else {}
    defaults = {}
    for name, value in used.items():
        if data["economics"].get(name) is None:
            data["economics"][name] = value
            defaults[f"economics.{name}"] = "default (planner.Economics)"
    defaults["sites.files"] = "default: the sites shipped with planner"
    defaults["extends"] = "resolved: the scenarios it extends are merged in" if scenario.extends else "default"
    try:
        version = metadata.version("planner")
    except metadata.PackageNotFoundError:  # pragma: no cover - running from a source tree
        version = "unknown"
    head = [
        f"# The scenario as planner {version} resolved it on {time.strftime('%Y-%m-%d %H:%M:%S %Z')}:",
        "# every field, defaults included; the comment on each value says where it came from.",
        f"# Read from: {scenario.path}" + (f" (extends {scenario.extends})" if scenario.extends else ""),
    ]
    head += [f"# --set {item}" for item in scenario._sets]
    head.append("# Run it again: planner solve THIS_FILE --out NEW_DIR")
    lines: list[str] = []
    _emit(scenario, data, "", 0, lines, defaults)
    return "\n".join(head + lines) + "\n"
