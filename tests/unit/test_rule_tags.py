"""Each sync rule is found from its number (R1 to R18 of the sync rules): the code of every rule carries it,
in a comment or a docstring under services/ or shared/, so that ``grep -rnw R10 services shared`` lists it;
and the README's table of rules names, for each, files that carry it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
RULES = [f"R{n}" for n in range(1, 19)]
_TAG = re.compile(r"\bR(\d+)\b")
_RANGE = re.compile(r"\bR\d+\s*(-|–|to)\s*R\d+\b")  # "R7-R9" hides R8 from a grep


def _sources() -> list[Path]:
    return sorted(p for top in ("services", "shared") for p in (ROOT / top).rglob("*.py"))


def rule_files() -> dict[str, list[str]]:
    """Rule -> the files that carry its number."""
    files: dict[str, set[str]] = {}
    for path in _sources():
        for n in _TAG.findall(path.read_text()):
            files.setdefault(f"R{int(n)}", set()).add(path.relative_to(ROOT).as_posix())
    return {rule: sorted(found) for rule, found in files.items()}


def _readme_rows() -> list[tuple[str, list[str]]]:
    """(rule, paths) of each README table row that starts with a rule's number."""
    rows = []
    for line in (ROOT / "README.md").read_text().splitlines():
        if m := re.match(r"\|\s*(R\d+)\b", line):
            rows.append((m.group(1), re.findall(r"`([\w./-]+\.py)`", line)))
    return rows


@pytest.mark.parametrize("rule", RULES)
def test_every_rule_is_tagged_in_the_code(rule):
    assert rule_files().get(rule), f"no file under services/ or shared/ carries {rule}"


def test_every_tag_names_a_rule_and_none_hides_in_a_range():
    numbers = set(rule_files())
    assert numbers <= set(RULES), f"tags of rules that do not exist: {sorted(numbers - set(RULES))}"
    ranges = [
        f"{p.relative_to(ROOT)}: {m.group(0)}" for p in _sources() for m in _RANGE.finditer(p.read_text())
    ]
    assert ranges == [], "name each rule of a range, so that a grep for it finds it"


@pytest.mark.parametrize(("rule", "paths"), _readme_rows())
def test_the_readme_maps_each_rule_to_files_that_carry_it(rule, paths):
    assert paths, f"the README's row of {rule} names no file"
    tagged = rule_files().get(rule, [])
    assert [p for p in paths if p not in tagged] == [], (
        f"files the README names for {rule} that do not carry it"
    )
