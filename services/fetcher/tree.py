"""The group graph as a full read finds it: the direct members (ids only) of every synced group and of every
group nested under them, read breadth first, a few groups at a time. A user is held by its id's ``Key`` (16
bytes for a GUID), one object however many groups list it: a million users' ids as strings, and the routes
keyed by them, made a third of the fetcher's memory."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import quote

from services.fetcher.graph_model import GroupChanges, Nesting, apply_nesting, synced_ancestors
from services.fetcher.ids import Key, key_of
from services.fetcher.pages import GROUP_TYPE, USER_TYPE
from shared.graph.client import TenantGraph

PAGE_SIZE = 999
T = TypeVar("T")


def group_path(group_id: str, tail: str = "") -> str:
    return f"/groups/{quote(group_id, safe='')}{tail}"


@dataclass
class Tree:
    nesting: Nesting = field(default_factory=dict)
    members: dict[str, list[Key]] = field(default_factory=dict)  # group -> users directly in it

    def apply(self, changes: GroupChanges) -> None:
        """Member changes seen while the tree was being read."""
        moved: dict[str, dict[Key, bool]] = {}
        for (group_id, user_id), present in changes.users.items():
            moved.setdefault(group_id, {})[key_of(user_id)] = present
        for group_id, users in moved.items():
            if group_id in self.members:
                kept = (u for u in self.members[group_id] if users.get(u, True))
                joined = (u for u, present in users.items() if present)
                self.members[group_id] = list(dict.fromkeys((*kept, *joined)))
        self.nesting = apply_nesting(self.nesting, changes)
        for group_id in changes.deleted:
            self.members.pop(group_id, None)

    def routes(self, synced: Sequence[str]) -> dict[Key, tuple[str, ...]]:
        """User key -> the synced groups it belongs to, in the configuration's order. One dict, its values
        turned from sets into tuples in place, and one set and one tuple for each combination of groups,
        shared by its users: a tenant's worth of users is held once."""
        ancestors = synced_ancestors(self.nesting, synced)
        order = {g: n for n, g in enumerate(synced)}
        sets: dict[frozenset[str], frozenset[str]] = {}
        found: dict[Key, Any] = {}
        for group_id, users in self.members.items():
            if not (above := ancestors.get(group_id)):
                continue
            for user_id in users:
                had = found.get(user_id)
                if had is None:
                    found[user_id] = above
                elif not above <= had:
                    merged = had | above
                    found[user_id] = sets.setdefault(merged, merged)
        combos = {groups: tuple(sorted(groups, key=order.__getitem__)) for groups in {*found.values()}}
        for user_id, groups in found.items():
            found[user_id] = combos[groups]
        return found


async def gather_all(coroutines: Iterable[Awaitable[T]]) -> list[T]:
    """Like ``asyncio.gather``, but the first failure cancels the rest (and is raised as itself)."""
    tasks = [asyncio.ensure_future(c) for c in coroutines]
    try:
        return list(await asyncio.gather(*tasks))
    finally:
        for task in tasks:
            task.cancel()


async def _direct(graph: TenantGraph, group_id: str, names: dict[Key, Key]) -> tuple[list[Key], set[str]]:
    users: list[Key] = []
    groups: set[str] = set()
    params = {"$select": "id", "$top": PAGE_SIZE}
    async for page in graph.get_pages(group_path(group_id, "/members"), params):
        for item in page.get("value", []):
            kind, object_id = item.get("@odata.type"), str(item.get("id"))
            if kind == USER_TYPE:  # one key per user, however many groups it sits in
                key = key_of(object_id)
                users.append(names.setdefault(key, key))
            elif kind == GROUP_TYPE:
                groups.add(object_id)
    return users, groups


async def read_tree(graph: TenantGraph, group_ids: Sequence[str], window: int = 4) -> Tree:
    tree = Tree()
    names: dict[Key, Key] = {}
    limit = asyncio.Semaphore(window)

    async def read(group_id: str) -> tuple[list[Key], set[str]]:
        async with limit:
            return await _direct(graph, group_id, names)

    frontier = list(dict.fromkeys(group_ids))
    while frontier:
        for group_id, (users, groups) in zip(frontier, await gather_all(map(read, frontier)), strict=True):
            tree.members[group_id], tree.nesting[group_id] = users, groups
        frontier = sorted({c for g in frontier for c in tree.nesting[g]} - tree.nesting.keys())
    return tree
