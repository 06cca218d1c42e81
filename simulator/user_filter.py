"""``$filter`` on users, as Graph takes it: on ``/users`` and on a group's members cast to users.

Each user property accepts some operators by default and some only in an advanced query (the header
``ConsistencyLevel: eventual`` with ``$count=true``); a filter on a group's members, cast to users, is always
an advanced query. Anything else is refused with Graph's ``Request_UnsupportedQuery``. The expressions taken:
clauses joined all by ``and`` or all by ``or``, each one of ``p eq v``, ``p ne v``, ``p in (v, …)``,
``startswith(p, 'x')``, ``endswith(p, 'x')``, or ``not(…)`` around one of them; ``p`` a property or
``onPremisesExtensionAttributes/extensionAttributeN``, ``v`` a quoted string (quotes doubled), true, false or
null. Strings compare without regard to case; a user without the property equals no value but null.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from simulator.errors import bad_request, unsupported_query

Predicate = Callable[[dict[str, Any]], bool]

_TEXT_BASIC = frozenset({"eq", "in", "startswith"})
_TEXT_ADVANCED = frozenset({"eq", "ne", "not", "in", "startswith", "null"})
# property -> (operators by default, operators in an advanced query), as Graph's user resource lists them
CAPABILITIES: dict[str, tuple[frozenset[str], frozenset[str]]] = {
    "id": (frozenset({"eq", "in"}), frozenset({"eq", "ne", "not", "in"})),
    "displayName": (_TEXT_BASIC, _TEXT_ADVANCED | {"endswith"}),
    "givenName": (_TEXT_BASIC, _TEXT_ADVANCED),
    "surname": (_TEXT_BASIC, _TEXT_ADVANCED),
    "mail": (_TEXT_BASIC, _TEXT_ADVANCED | {"endswith"}),
    "userPrincipalName": (_TEXT_BASIC, _TEXT_ADVANCED | {"endswith"}),
    "accountEnabled": (frozenset({"eq"}), frozenset({"eq", "ne", "not", "in", "null"})),
    "userType": (frozenset({"eq"}), frozenset({"eq", "ne", "not", "in", "null"})),
    "jobTitle": (_TEXT_BASIC, _TEXT_ADVANCED),
    "department": (frozenset(), _TEXT_ADVANCED),
    "companyName": (frozenset(), _TEXT_ADVANCED),
    "employeeType": (frozenset(), _TEXT_ADVANCED),
    **{
        f"onPremisesExtensionAttributes/extensionAttribute{n}": (frozenset(), _TEXT_ADVANCED)
        for n in range(1, 16)
    },
}

_PROP = r"([A-Za-z][\w]*(?:/[A-Za-z][\w]*)?)"
_VALUE = r"('(?:[^']|'')*'|true|false|null)"
_COMPARE = re.compile(rf"{_PROP}\s+(eq|ne)\s+{_VALUE}", re.IGNORECASE)
_IN = re.compile(rf"{_PROP}\s+in\s+\(\s*({_VALUE}(?:\s*,\s*{_VALUE})*)\s*\)", re.IGNORECASE)
_CALL = re.compile(rf"(startswith|endswith)\(\s*{_PROP}\s*,\s*('(?:[^']|'')*')\s*\)", re.IGNORECASE)
_NOT = re.compile(r"not\s*\((.*)\)", re.IGNORECASE | re.DOTALL)
_LIST_ITEM = re.compile(_VALUE, re.IGNORECASE)
_JOIN = re.compile(r"\s+(and|or)\s+", re.IGNORECASE)


def _split(raw: str) -> tuple[list[str], set[str]]:
    """The top-level clauses of ``raw`` and the words that join them (quotes and parentheses respected)."""
    parts, joins, depth, quoted, start, i = [], set(), 0, False, 0, 0
    while i < len(raw):
        c = raw[i]
        if c == "'":
            quoted = not quoted  # a doubled quote flips twice
        elif not quoted and c == "(":
            depth += 1
        elif not quoted and c == ")":
            depth -= 1
        elif not quoted and depth == 0 and c.isspace() and (m := _JOIN.match(raw, i)) is not None:
            parts.append(raw[start:i])
            joins.add(m.group(1).lower())
            start = i = m.end()
            continue
        i += 1
    if quoted or depth:
        raise bad_request("Invalid filter clause: unbalanced quotes or parentheses.")
    parts.append(raw[start:])
    return parts, joins


def _literal(text: str) -> Any:
    low = text.lower()
    if low in ("true", "false"):
        return low == "true"
    if low == "null":
        return None
    return text[1:-1].replace("''", "'")


def _value(user: dict[str, Any], prop: str) -> Any:
    head, _, tail = prop.partition("/")
    value = user.get(head)
    if tail:
        value = value.get(tail) if isinstance(value, dict) else None
    return value


def _fold(value: Any) -> Any:
    return value.casefold() if isinstance(value, str) else value


def _unsupported(prop: str) -> Exception:
    return unsupported_query(
        f"Unsupported or invalid query filter clause specified for property '{prop}' of resource 'User'."
    )


class _Checker:
    def __init__(self, advanced: bool):
        self.advanced = advanced

    def allow(self, prop: str, op: str) -> None:
        basic, advanced = CAPABILITIES.get(prop, (frozenset(), frozenset()))
        if prop not in CAPABILITIES:
            raise bad_request(f"Could not find a property named '{prop}' on type 'microsoft.graph.user'.")
        if op not in (advanced if self.advanced else basic):
            raise _unsupported(prop)

    def clause(self, text: str, negated: bool = False) -> Predicate:
        text = text.strip()
        if (m := _NOT.fullmatch(text)) is not None:
            if negated:
                raise unsupported_query("Nested not() is not supported.")
            inner = self.clause(m.group(1), negated=True)
            return lambda u: not inner(u)
        if (m := _COMPARE.fullmatch(text)) is not None:
            prop, op, raw = m.group(1), m.group(2).lower(), m.group(3)
            value = _literal(raw)
            self.allow(prop, "null" if value is None else op)
            if negated:
                self.allow(prop, "not")
            if op == "ne":
                self.allow(prop, "ne")
            want = _fold(value)
            if op == "eq":
                return lambda u: _fold(_value(u, prop)) == want
            return lambda u: _fold(_value(u, prop)) != want
        if (m := _IN.fullmatch(text)) is not None:
            prop = m.group(1)
            self.allow(prop, "in")
            if negated:
                self.allow(prop, "not")
            values = [_literal(v) for v in _LIST_ITEM.findall(m.group(2))]
            if len(values) > 15 and not self.advanced:
                raise unsupported_query("Too many values in an 'in' clause.")
            wanted = frozenset(_fold(v) for v in values)
            return lambda u: _fold(_value(u, prop)) in wanted
        if (m := _CALL.fullmatch(text)) is not None:
            func, prop, raw = m.group(1).lower(), m.group(2), m.group(3)
            self.allow(prop, func)
            if negated:
                self.allow(prop, "not")
            prefix = _fold(_literal(raw))
            if func == "startswith":
                return lambda u: isinstance(v := _value(u, prop), str) and v.casefold().startswith(prefix)
            return lambda u: isinstance(v := _value(u, prop), str) and v.casefold().endswith(prefix)
        raise bad_request(f"Invalid filter clause: syntax error or unsupported form in '{text}'.")


def parse_user_filter(raw: str, advanced: bool) -> Predicate:
    """A predicate on stored users, or a GraphError as Graph answers a filter it does not take."""
    if not raw.strip():
        raise bad_request("Invalid filter clause: the filter is empty.")
    parts, joins = _split(raw)
    if len(joins) > 1:
        raise unsupported_query("Mixing 'and' and 'or' in one filter is not supported here.")
    checker = _Checker(advanced)
    clauses = [checker.clause(part) for part in parts]
    if joins == {"or"}:
        return lambda u: any(test(u) for test in clauses)
    return lambda u: all(test(u) for test in clauses)


def advanced_query(count: str | None, consistency_level: str | None) -> bool:
    return (count or "").lower() == "true" and (consistency_level or "").lower() == "eventual"
