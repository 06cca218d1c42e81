"""A full read's records: every user of the synced groups, whole, on the pages of each synced group it belongs
to (the group graph is read first, see tree.py).

Whichever costs fewer requests: the tenant's user list (999 a page; users outside the synced groups dropped)
when the synced groups hold most of the tenant, else each synced group's ``transitiveMembers``. Pages go out
in a fixed order, so a refetch of an unchanged directory numbers its pages as the first attempt did; memory
holds at most a page per synced group."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from services.fetcher.ids import Ids, Key, key_of
from services.fetcher.pages import PageSink, split_members, user_of
from services.fetcher.tree import PAGE_SIZE, group_path
from shared.graph.client import TenantGraph
from shared.graph.errors import GraphForbidden


@dataclass
class FullRead:
    skipped: list[dict[str, str]] = field(default_factory=list)
    member_ids: Ids = field(default_factory=Ids)  # every user sent, in 16 bytes each


def transitive_pages(routes: Mapping[Key, Sequence[str]]) -> int:
    sizes = Counter(g for groups in routes.values() for g in groups)
    return sum(math.ceil(n / PAGE_SIZE) for n in sizes.values())


def listing_pays(transitive: int, tenant_users: int | None) -> bool:
    """The user list's pages against the groups' own lists (a last full page has an empty one after it)."""
    return tenant_users is not None and math.ceil((tenant_users + 1) / PAGE_SIZE) < transitive


async def tenant_users(graph: TenantGraph) -> int | None:
    """How many users the tenant has (the count is eventually consistent: good enough to choose by)."""
    page = await graph.get_json(
        "/users", {"$select": "id", "$top": 1, "$count": "true"}, {"ConsistencyLevel": "eventual"}
    )
    count = (page or {}).get("@odata.count")
    return int(count) if isinstance(count, int) else None


@dataclass(frozen=True)
class Query:
    """How users are asked for: the properties, and the scope's ``$filter`` (R2 scope) when Graph is to
    answer it. A filter on users is an advanced query: ConsistencyLevel: eventual and $count=true with it,
    and on a group's members only through the cast to users."""

    select: str
    filter: str | None = None

    def params(self) -> dict[str, Any]:
        params: dict[str, Any] = {"$select": self.select, "$top": PAGE_SIZE}
        if self.filter:
            params |= {"$filter": self.filter, "$count": "true"}
        return params

    def headers(self) -> dict[str, str] | None:
        return {"ConsistencyLevel": "eventual"} if self.filter else None


async def read_records(
    graph: TenantGraph,
    routes: Mapping[Key, tuple[str, ...]],
    group_ids: Sequence[str],
    query: Query,
    properties: Sequence[str],
    sink: PageSink,
) -> FullRead:
    transitive = transitive_pages(routes)
    # The user list cannot beat the groups' lists with fewer pages than the members alone would fill.
    if math.ceil(len(routes) / PAGE_SIZE) + 1 < transitive and listing_pays(
        transitive, await tenant_users(graph)
    ):
        return await _listed(graph, routes, group_ids, query, properties, sink)
    result = FullRead()
    for group_id in group_ids:
        await _transitive(graph, group_id, query, properties, sink, result)
    return result


async def _transitive(
    graph: TenantGraph,
    group_id: str,
    query: Query,
    properties: Sequence[str],
    sink: PageSink,
    result: FullRead,
) -> None:
    # No OData cast to microsoft.graph.user unless a scope filter needs it: Graph documents the cast as an
    # advanced query (eventual consistency index); the plain relationship is current, and non-users are
    # dropped by type.
    tail = "/transitiveMembers/microsoft.graph.user" if query.filter else "/transitiveMembers"
    pages = graph.get_pages(group_path(group_id, tail), query.params(), query.headers())
    async for page in pages:
        content = split_members(page.get("value", []), properties, cast=bool(query.filter))
        result.skipped.extend(content.skipped)
        result.member_ids.update(u.id for u in content.users)
        await sink.send(group_id, content.users)


class GroupPages:
    """The users of the tenant's list routed to their groups' next pages, each page sent once full, and at
    most ``limit`` listings held over all groups: past it, the fullest page goes out early. Without the limit
    the small groups held nearly all their users until the list ended (a partial page of each group, and
    every group smaller than a page whole): some 150,000 users at a million users in 200 groups."""

    def __init__(self, group_ids: Sequence[str], limit: int = 20_000):
        self.limit = limit
        self.held = 0
        self._pages: dict[str, list[Any]] = {g: [] for g in group_ids}

    def add(self, user: Any, groups: Sequence[str]) -> list[tuple[str, list[Any]]]:
        """The pages ``user`` made ready to send."""
        ready = []
        for group_id in groups:
            page = self._pages[group_id]
            page.append(user)
            self.held += 1
            if len(page) == PAGE_SIZE:
                ready.append(self._take(group_id))
        while self.held > self.limit:
            ready.append(self._take(max(self._pages, key=lambda g: len(self._pages[g]))))
        return ready

    def rest(self) -> list[tuple[str, list[Any]]]:
        """Every group's last page, empty or not: each synced group is sent at least once."""
        return [self._take(group_id) for group_id in list(self._pages)]

    def _take(self, group_id: str) -> tuple[str, list[Any]]:
        page = self._pages[group_id]
        self._pages[group_id] = []
        self.held -= len(page)
        return group_id, page


async def _listed(
    graph: TenantGraph,
    routes: Mapping[Key, tuple[str, ...]],
    group_ids: Sequence[str],
    query: Query,
    properties: Sequence[str],
    sink: PageSink,
) -> FullRead:
    result = FullRead()
    pages = GroupPages(group_ids)
    async for page in graph.get_pages("/users", query.params(), query.headers()):
        for item in page.get("value", []):
            groups = routes.get(key_of(str(item.get("id"))))
            if not groups:
                continue
            if item.get("userPrincipalName") is None:
                result.skipped.append(
                    {"id": str(item["id"]), "reason": "the directory returned no properties"}
                )
                continue
            user = user_of(item, properties)
            result.member_ids.add(user.id)
            for group_id, users in pages.add(user, groups):
                await sink.send(group_id, users)
    for group_id, users in pages.rest():
        await sink.send(group_id, users)
    if result.skipped and not result.member_ids:
        raise GraphForbidden(
            "the app is missing the permission User.Read.All (with admin consent): Graph returned "
            "users without their properties",
            status=403,
        )
    return result
