"""The group graph and what a delta round does to it: pure functions.

``Nesting`` maps every group the fetcher read (the synced groups and every group nested under them) to the
groups directly in it. Users sit directly in groups; a user belongs to a synced group when it sits in a group
the synced group reaches through the nesting (itself included): its transitive members (R2)."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from services.fetcher.pages import GROUP_TYPE, USER_TYPE

Nesting = dict[str, set[str]]


class NeedsFullRead(Exception):
    """Delta cannot answer this run (no usable links or graph, a group newly nested): read everything."""


def reach(nesting: Mapping[str, Collection[str]], group_id: str) -> set[str]:
    """``group_id`` and every group under it; cycle-safe."""
    seen, stack = {group_id}, [group_id]
    while stack:
        for child in nesting.get(stack.pop(), ()):
            if child not in seen:
                seen.add(child)
                stack.append(child)
    return seen


def synced_ancestors(
    nesting: Mapping[str, Collection[str]], synced: Iterable[str]
) -> dict[str, frozenset[str]]:
    """Group id -> the synced groups it counts towards."""
    found: dict[str, set[str]] = {}
    for group_id in synced:
        for reached in reach(nesting, group_id):
            found.setdefault(reached, set()).add(group_id)
    return {g: frozenset(s) for g, s in found.items()}


def groups_of(direct: Iterable[str], ancestors: Mapping[str, frozenset[str]]) -> frozenset[str]:
    return frozenset().union(*(ancestors.get(g, frozenset()) for g in direct))


@dataclass
class GroupChanges:
    """Net member changes from ``/groups/delta``, restricted to the groups of the graph."""

    users: dict[tuple[str, str], bool] = field(default_factory=dict)  # (group, user) -> present
    nested: dict[tuple[str, str], bool] = field(default_factory=dict)  # (group, child group) -> present
    deleted: set[str] = field(default_factory=set)


@dataclass
class UserChanges:
    changed: dict[str, None] = field(default_factory=dict)
    deleted: dict[str, None] = field(default_factory=dict)


def merge_group_item(
    item: Mapping[str, Any], known: Collection[str], synced: Collection[str], changes: GroupChanges
) -> None:
    """One ``/groups/delta`` item; later entries win. Groups outside the graph are none of our business."""
    group_id = str(item["id"])
    if group_id not in known:
        return
    if "@removed" in item:
        if group_id in synced:  # a full read finds out which and reads the others (R9)
            raise NeedsFullRead(f"the synced group {group_id} was deleted")
        changes.deleted.add(group_id)
        return
    for member in item.get("members@delta") or []:
        member_id, present = str(member["id"]), "@removed" not in member
        if member_id in known:
            changes.nested[(group_id, member_id)] = present
        elif member.get("@odata.type") == GROUP_TYPE:
            if present:
                raise NeedsFullRead(f"a group the fetcher has not read was nested into {group_id}")
        elif member.get("@odata.type", USER_TYPE) == USER_TYPE or not present:
            changes.users[(group_id, member_id)] = present


def merge_user_item(item: Mapping[str, Any], changes: UserChanges) -> None:
    user_id = str(item["id"])
    if "@removed" in item:
        changes.changed.pop(user_id, None)
        changes.deleted[user_id] = None
    else:
        changes.deleted.pop(user_id, None)
        changes.changed[user_id] = None


def apply_nesting(nesting: Mapping[str, Collection[str]], changes: GroupChanges) -> Nesting:
    after = {g: set(children) for g, children in nesting.items() if g not in changes.deleted}
    for (parent, child), present in changes.nested.items():
        if parent in after:
            (after[parent].add if present else after[parent].discard)(child)
    for children in after.values():
        children.difference_update(changes.deleted)
    return after


def affected_groups(
    before: Mapping[str, Collection[str]], after: Mapping[str, Collection[str]], changes: GroupChanges
) -> set[str]:
    """Groups whose users may have moved in or out of a synced group because the nesting changed."""
    moved = {child for (_, child) in changes.nested}
    out = set(changes.deleted)
    for child in moved:
        out |= reach(before, child) | reach(after, child)
    return out


def candidates(groups: GroupChanges, users: UserChanges) -> set[str]:
    """Users named by the changes themselves (users under a re-nested group are loaded apart)."""
    return {u for (_, u) in groups.users} | set(users.changed) | set(users.deleted)


@dataclass
class Diff:
    joined: dict[str, list[str]] = field(default_factory=dict)  # synced group -> users who entered it
    left: dict[str, list[str]] = field(default_factory=dict)
    gone: list[str] = field(default_factory=list)  # deleted users who were in a synced group
    edges: list[tuple[str, str, bool]] = field(default_factory=list)  # (user, group, present) to store
    # Every user sent whole (joiners and changed users): all the synced groups it is in after the changes, so
    # that a member the last run removed or never made (disabled then, or without an email) comes back with
    # its groups when its record changes, not only with the groups it has just joined.
    member_of: dict[str, list[str]] = field(default_factory=dict)
    out: list[str] = field(default_factory=list)  # users who were in a synced group and are in none now

    @property
    def joiners(self) -> set[str]:
        return {u for ids in self.joined.values() for u in ids}


def diff(
    synced: Collection[str],
    before: Mapping[str, Collection[str]],
    after: Mapping[str, Collection[str]],
    direct: Mapping[str, Collection[str]],
    groups: GroupChanges,
    users: UserChanges,
) -> Diff:
    """Who entered or left each synced group. ``direct``: the groups each candidate user sat in before
    (users absent from it sat in none)."""
    ancestors_before, ancestors_after = synced_ancestors(before, synced), synced_ancestors(after, synced)
    moves: dict[str, dict[str, bool]] = {}
    for (group_id, user_id), present in groups.users.items():
        moves.setdefault(user_id, {})[group_id] = present
    out = Diff()
    for user_id in sorted(set(direct) | candidates(groups, users)):
        had = set(direct.get(user_id, ()))
        has = set() if user_id in users.deleted else _moved(had, moves.get(user_id, {}), after)
        was_in = groups_of(had, ancestors_before)
        out.edges += [(user_id, g, True) for g in sorted(has - had)] + [
            (user_id, g, False) for g in sorted(had - has)
        ]
        if user_id in users.deleted:
            if was_in:
                out.gone.append(user_id)
            continue
        is_in = groups_of(has, ancestors_after)
        for group_id in sorted(is_in - was_in):
            out.joined.setdefault(group_id, []).append(user_id)
        for group_id in sorted(was_in - is_in):
            out.left.setdefault(group_id, []).append(user_id)
        if is_in - was_in or (user_id in users.changed and is_in):
            out.member_of[user_id] = sorted(is_in)
        if was_in and not is_in:
            out.out.append(user_id)
    return out


def _moved(had: set[str], moves: Mapping[str, bool], after: Mapping[str, Collection[str]]) -> set[str]:
    has = {g for g in had if moves.get(g, True)} | {g for g, present in moves.items() if present}
    return {g for g in has if g in after}
