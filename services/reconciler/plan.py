"""An action's part in the run's counts (R17) and in the plan a dry run records (R18: create, update, remove,
invite, roles, in api.md's shape). Pure."""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterator, Mapping
from typing import Any

import orjson

from services.reconciler.model import MemberAction

COUNT_KEYS = ("created", "invited", "updated", "unchanged", "removed", "deleted", "skipped")
_COUNTED = {"create": "created", "update": "updated", "unchanged": "unchanged", "skip": "skipped"}


def tally(action: MemberAction, counter: Counter[str]) -> None:
    """Count one action into a run's counts (removals as if applied; a held run zeroes them)."""
    if action.kind == "remove":
        counter["deleted" if action.hard else "removed"] += 1
    elif action.kind in _COUNTED:
        counter[_COUNTED[action.kind]] += 1
    counter["invited"] += action.invite


def person(action: MemberAction) -> dict[str, Any]:
    return {"name": action.fields.get("name"), "email": action.fields.get("email")}


def preview(action: MemberAction) -> Iterator[tuple[str, dict[str, Any]]]:
    """The dry-run plan entries of one action, as (list name, entry)."""
    who = {"directory_id": action.directory_id, **person(action)}
    if action.kind == "create":
        yield "create", {**who, "account_id": action.account_id, "subteams": sorted(action.join)}
    elif action.kind == "update":
        yield "update", _update_entry(action)
    elif action.kind == "remove":
        yield "remove", {**who, "member_id": action.member_id, "delete": action.hard}
    if action.invite:
        yield "invite", who
    if action.role:
        yield "roles", {**who, "member_id": action.member_id, "scope": "team", "role": action.role[0]}
    for group, (role, _) in (
        action.subteam_roles | {g: r for g, r in action.join.items() if r[0] == "admin"}
    ).items():
        yield (
            "roles",
            {**who, "member_id": action.member_id, "scope": "subteam", "group_id": group, "role": role},
        )


def _update_entry(action: MemberAction) -> dict[str, Any]:
    """``changes`` holds only ``{"field": {"old", "new"}}`` pairs, as api.md writes them; the groups joined
    and left sit beside it, as ``subteams`` does on a create entry."""
    entry: dict[str, Any] = {"member_id": action.member_id, "changes": dict(action.changes)}
    if action.join or action.leave:
        entry["subteams"] = {"join": sorted(action.join), "leave": sorted(action.leave)}
    return entry


# R18: the lists of a plan that say what a run does (``exclude`` only explains it); a guard's ``held`` marks
# are not part of what is planned.
PLAN_LISTS = ("create", "update", "remove", "invite", "roles")


def _entries(plan: Mapping[str, Any], name: str) -> list[bytes]:
    return sorted(
        orjson.dumps({k: v for k, v in e.items() if k != "held"}, option=orjson.OPT_SORT_KEYS)
        for e in plan.get(name) or []
    )


def plan_hash(plan: Mapping[str, Any]) -> str:
    """The plan's fingerprint: its entries, in no particular order."""
    digest = hashlib.sha256()
    for name in PLAN_LISTS:
        digest.update(name.encode())
        for entry in _entries(plan, name):
            digest.update(b"\x00" + entry)
    return digest.hexdigest()


def _who(entry: Mapping[str, Any]) -> str:
    return str(entry.get("email") or entry.get("name") or entry.get("member_id") or entry.get("directory_id"))


def plan_moves(before: Mapping[str, Any], now: Mapping[str, Any], shown: int = 5) -> str:
    """What differs between two plans, in words: per list, the entries no longer planned and the new ones."""
    parts = []
    for name in PLAN_LISTS:
        old = {e: orjson.loads(e) for e in _entries(before, name)}
        new = {e: orjson.loads(e) for e in _entries(now, name)}
        for label, gone in (("no longer", old.keys() - new.keys()), ("now also", new.keys() - old.keys())):
            if gone:
                people = sorted(_who(old.get(e) or new[e]) for e in gone)
                more = f" and {len(people) - shown} more" if len(people) > shown else ""
                parts.append(f"{name} {label}: {', '.join(people[:shown])}{more}")
    return "; ".join(parts) or "nothing"
