"""An action's part in the run's counts (R17) and in the plan a dry run records (R18: create, update, remove,
invite, roles, in api.md's shape). Pure."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Any

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
