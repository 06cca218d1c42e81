"""R2 scope: which users of the synced groups a team takes, by rules on their attributes. Pure functions.

A user is in scope when it passes every include rule and no exclude rule: one conjunction, so any part of it
may go to Microsoft Graph as ``$filter`` and the rest be tested after the read, with the same answer.
Strings compare without regard to case, as Graph compares them; a user without a value equals nothing, so
``ne`` and ``not_in`` take it and ``startswith``, ``endswith`` and ``matches`` do not. Every rule is tested
after the read too (Graph's advanced queries answer from an index that may lag a moment behind the
directory), so the properties the rules test are read with every user.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from shared.config import Scope, ScopeRule
from shared.messages import DirectoryUser

# Rules Graph can answer (all of them need the advanced query parameters: ConsistencyLevel: eventual and
# $count=true). ``matches`` has no OData form.
_PUSHED = frozenset({"eq", "ne", "in", "not_in", "startswith", "endswith"})


@dataclass(frozen=True)
class Verdict:
    """Why a user is out of scope: the rule it failed, as ``include[0]: userType eq 'Member'``."""

    where: str
    rule: str


def describe(rule: ScopeRule) -> str:
    if rule.values is not None:
        shown = ", ".join(_literal(v) for v in rule.values)
        return f"{rule.attribute} {rule.op} [{shown}]"
    return f"{rule.attribute} {rule.op} {_literal(rule.value)}"


def properties_of(scope: Scope) -> set[str]:
    """The user properties to ``$select`` for the rules (an extension attribute selects its parent)."""
    return {r.attribute.split(".", 1)[0] for r in (*scope.include, *scope.exclude)}


def value_of(user: Mapping[str, Any], attribute: str) -> Any:
    head, _, tail = attribute.partition(".")
    value = user.get(head)
    if tail:
        value = value.get(tail) if isinstance(value, Mapping) else None
    return value


def _fold(value: Any) -> Any:
    return value.casefold() if isinstance(value, str) else value


def _glob(pattern: str) -> re.Pattern[str]:
    parts = (".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern.casefold())
    return re.compile("".join(parts), re.DOTALL)


def _test(rule: ScopeRule) -> Callable[[Mapping[str, Any]], bool]:
    """Whether a user's record passes ``rule``."""
    attribute, op = rule.attribute, rule.op
    if op in ("in", "not_in"):
        wanted = frozenset(_fold(v) for v in rule.values or ())
        if op == "in":
            return lambda u: _fold(value_of(u, attribute)) in wanted
        return lambda u: _fold(value_of(u, attribute)) not in wanted
    target = _fold(rule.value)
    if op == "eq":
        return lambda u: _fold(value_of(u, attribute)) == target
    if op == "ne":
        return lambda u: _fold(value_of(u, attribute)) != target
    if op == "startswith":
        return lambda u: isinstance(v := value_of(u, attribute), str) and v.casefold().startswith(target)
    if op == "endswith":
        return lambda u: isinstance(v := value_of(u, attribute), str) and v.casefold().endswith(target)
    pattern = _glob(str(rule.value))
    return lambda u: isinstance(v := value_of(u, attribute), str) and bool(pattern.fullmatch(v.casefold()))


def judge(scope: Scope) -> Callable[[Mapping[str, Any]], Verdict | None]:
    """A user's record -> None when it is in scope, else the first rule that leaves it out."""
    tests = [(f"include[{i}]", describe(r), _test(r), True) for i, r in enumerate(scope.include)]
    tests += [(f"exclude[{i}]", describe(r), _test(r), False) for i, r in enumerate(scope.exclude)]

    def verdict(user: Mapping[str, Any]) -> Verdict | None:
        for where, text, test, must in tests:
            if test(user) is not must:
                return Verdict(where, text)
        return None

    return verdict


def _literal(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return "'" + str(value).replace("'", "''") + "'"


def _path(attribute: str) -> str:
    return attribute.replace(".", "/")


def _clause(rule: ScopeRule, negate: bool) -> str:
    """The OData form of a rule (or of its negation, for an exclude rule), in the forms Graph takes."""
    p, op = _path(rule.attribute), rule.op
    if op in ("in", "not_in"):
        values = rule.values or []
        if (op == "in") is not negate:
            return f"{p} in ({', '.join(_literal(v) for v in values)})"
        return " and ".join(f"{p} ne {_literal(v)}" for v in values)
    if op in ("eq", "ne"):
        return f"{p} {'eq' if (op == 'eq') is not negate else 'ne'} {_literal(rule.value)}"
    call = f"{op}({p}, {_literal(rule.value)})"
    return f"not({call})" if negate else call


def graph_filter(scope: Scope) -> str | None:
    """The ``$filter`` for the rules Graph can answer, or None when none can."""
    clauses = [_clause(r, False) for r in scope.include if r.op in _PUSHED]
    clauses += [_clause(r, True) for r in scope.exclude if r.op in _PUSHED]
    return " and ".join(clauses) or None


class ScopeFilter:
    """A run's scope, applied to the users of each page as it is sent; remembers whom it left out (a dry run
    lists them in its plan, R18)."""

    LISTED = 1000  # users named in the snapshot's list; the count covers every one

    def __init__(self, scope: Scope):
        self.verdict = judge(scope)
        self.excluded: dict[str, dict[str, str]] = {}
        self._seen: set[str] = set()

    def split(self, users: list[DirectoryUser]) -> tuple[list[DirectoryUser], list[str]]:
        """The users in scope, and the ids of those out of it."""
        kept: list[DirectoryUser] = []
        out: list[str] = []
        for user in users:
            verdict = self.verdict(user.properties)
            if verdict is None:
                kept.append(user)
                continue
            out.append(user.id)
            if user.id not in self._seen:
                self._seen.add(user.id)
                if len(self.excluded) < self.LISTED:
                    self.excluded[user.id] = _entry(user, verdict)
        return kept, out

    @property
    def count(self) -> int:
        return len(self._seen)


def _entry(user: DirectoryUser, verdict: Verdict) -> dict[str, str]:
    p = user.properties
    return {
        "directory_id": user.id,
        "name": str(p.get("displayName") or ""),
        "email": str(p.get("mail") or p.get("userPrincipalName") or ""),
        "rule": f"{verdict.where}: {verdict.rule}",
    }
