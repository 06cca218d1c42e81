"""Flattening nested group membership."""

from __future__ import annotations

from collections.abc import Collection, Mapping


def flatten(group_id: str, members: Mapping[str, set[str]], group_ids: Collection[str]) -> list[str]:
    """Every object under ``group_id``: members, nested groups and their members; sorted, cycle-safe."""
    seen: set[str] = set()
    visited_groups = {group_id}
    stack = [group_id]
    while stack:
        for member_id in members.get(stack.pop(), ()):
            seen.add(member_id)
            if member_id in group_ids and member_id not in visited_groups:
                visited_groups.add(member_id)
                stack.append(member_id)
    seen.discard(group_id)
    return sorted(seen)
