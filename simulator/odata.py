"""The small part of OData's query language the directory endpoints accept here: a few $filter forms and
$search on displayName. Anything else is refused, as Graph refuses what it does not support."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from simulator.errors import bad_request, unsupported_query

Predicate = Callable[[dict[str, Any]], bool]

_LITERAL = r"'((?:[^']|'')*)'"
_STARTSWITH = re.compile(rf"startswith\(\s*(\w+)\s*,\s*{_LITERAL}\s*\)", re.IGNORECASE)
_EQ_STRING = re.compile(rf"(\w+)\s+eq\s+{_LITERAL}", re.IGNORECASE)
_EQ_BOOL = re.compile(r"(\w+)\s+eq\s+(true|false)", re.IGNORECASE)
_OR = re.compile(r"\s+or\s+", re.IGNORECASE)
_SEARCH = re.compile(r'^"(\w+):([^"]*)"$')


def _clause(text: str, filterable: frozenset[str]) -> Predicate:
    for pattern, make in (
        (_STARTSWITH, lambda p, v: lambda o: str(o.get(p) or "").lower().startswith(v.lower())),
        (_EQ_STRING, lambda p, v: lambda o: str(o.get(p) or "").lower() == v.lower()),
        (_EQ_BOOL, lambda p, v: lambda o: o.get(p) is (v.lower() == "true")),
    ):
        match = pattern.fullmatch(text.strip())
        if match:
            prop, raw = match.group(1), match.group(2)
            if prop not in filterable:
                raise unsupported_query(
                    f"Unsupported or invalid query filter clause specified for property '{prop}'."
                )
            return make(prop, raw.replace("''", "'"))
    raise bad_request(f"Invalid filter clause: syntax error or unsupported form in '{text.strip()}'.")


def parse_filter(raw: str, filterable: frozenset[str]) -> Predicate:
    """``startswith(p,'x')``, ``p eq 'x'``, ``p eq true``, OR-ed; quotes inside literals doubled."""
    clauses = [_clause(part, filterable) for part in _OR.split(raw)]
    return lambda obj: any(clause(obj) for clause in clauses)


def ids_in_filter(raw: str) -> set[str]:
    """Delta's only filter: ``id eq '…'`` OR-ed, at most 50."""
    ids: set[str] = set()
    for part in _OR.split(raw):
        match = _EQ_STRING.fullmatch(part.strip())
        if not match or match.group(1) != "id":
            raise unsupported_query("Delta queries accept only $filter=id eq '…' clauses joined by 'or'.")
        ids.add(match.group(2))
    if len(ids) > 50:
        raise unsupported_query("Too many ids in $filter: at most 50 are allowed.")
    return ids


def parse_search(raw: str, consistency_level: str | None) -> Predicate:
    """``$search="displayName:word"``: matches a word of the property starting with ``word``."""
    if (consistency_level or "").lower() != "eventual":
        raise bad_request(
            "Request with $search query parameter only works through MSGraph with a special request header: "
            "'ConsistencyLevel: eventual'",
            code="Request_UnsupportedQuery",
        )
    match = _SEARCH.match(raw.strip())
    if not match:
        raise bad_request(
            f"Syntax error: character '{raw[:1]}' is not valid in $search: use \"property:term\"."
        )
    prop, term = match.group(1), match.group(2).lower()

    def predicate(obj: dict[str, Any]) -> bool:
        words = re.split(r"[\s\-_.,;:/()']+", str(obj.get(prop) or "").lower())
        return any(word.startswith(term) for word in words) or str(obj.get(prop) or "").lower().startswith(
            term
        )

    return predicate
