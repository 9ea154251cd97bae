"""The supply responses are objects (planner.network.supply): one per kind, and no other module
compares their names."""

import re
from pathlib import Path

import pytest

import planner
from planner.core.errors import SUPPLY_RESPONSES, InputError
from planner.network import supply

PACKAGE = Path(planner.__file__).parent

#: a comparison of a supply response's name: ``x.supply_response == "..."``, ``supply != "..."``,
#: ``kind in ("regional", ...)``
COMPARE = re.compile(r"""(supply_response|\bsupply|\bkind)\s*(==|!=|\bin\b|\bnot in\b)\s*\(?\s*["'](headroom|pmax|single|regional|redispatch)["']""")


def test_one_object_per_kind_in_the_order_of_the_schema():
    assert tuple(supply.KINDS) == SUPPLY_RESPONSES
    assert [type(k).__name__ for k in supply.KINDS.values()] == ["FixedParticipation"] * 3 + ["Regional", "Redispatch"]
    assert {n: k.slack for n, k in supply.KINDS.items()} == {"headroom": "headroom", "pmax": "pmax", "single": "single",
                                                             "regional": "headroom", "redispatch": "headroom"}
    assert [n for n, k in supply.KINDS.items() if k.per_region] == ["regional"]
    assert [n for n, k in supply.KINDS.items() if k.dispatches] == ["redispatch"]
    assert planner.Params(supply_response="regional").supply is supply.KINDS["regional"]


def test_an_unknown_name_is_a_clear_error():
    with pytest.raises(InputError) as e:
        supply.of("nodal")
    assert "nodal" in str(e.value) and "headroom or pmax or single or regional or redispatch" in str(e.value)


def test_no_module_but_the_supply_module_compares_a_supply_response_name():
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path == PACKAGE / "network" / "supply.py":
            continue
        for n, line in enumerate(path.read_text().splitlines(), 1):
            if COMPARE.search(line):
                found.append(f"{path.relative_to(PACKAGE)}:{n}: {line.strip()}")
    assert found == []


def test_the_pattern_finds_the_comparisons_it_is_meant_to_find():
    for line in ('if params.supply_response == "redispatch":', "if supply != 'regional':",
                 'slack = supply if supply in ("headroom", "pmax", "single") else "headroom"',
                 'if kind != "redispatch":'):
        assert COMPARE.search(line), line
    assert not COMPARE.search('name = "redispatch"')
