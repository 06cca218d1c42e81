"""A full read: every synced group's name and transitive user members, streamed page by page.

Groups are read a few at a time, each into a small queue, and pages are sent group by group in the
configuration's order: memory stays at a few pages, and a refetch of an unchanged directory numbers its
pages exactly as the first attempt did."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from services.fetcher.pages import PageContent, PageSink, split_members
from shared.graph.client import TenantGraph
from shared.messages import GroupInfo

PAGE_SIZE = 999
QUEUE_PAGES = 2
_DONE = object()


@dataclass
class FullRead:
    groups: list[GroupInfo] = field(default_factory=list)
    skipped: list[dict[str, str]] = field(default_factory=list)
    nested: bool = False
    member_ids: set[str] = field(default_factory=set)


def group_path(group_id: str, tail: str = "") -> str:
    return f"/groups/{quote(group_id, safe='')}{tail}"


def members_params(select: str) -> dict[str, Any]:
    # No OData cast to microsoft.graph.user: Graph documents the cast as an advanced query (eventual
    # consistency index); the plain relationship is current, and non-users are dropped by type.
    return {"$select": select, "$top": PAGE_SIZE}


async def _produce(
    graph: TenantGraph, group_id: str, select: str, properties: Sequence[str], queue: asyncio.Queue
) -> None:
    try:
        info = await graph.get_json(group_path(group_id), {"$select": "id,displayName"})
        await queue.put(GroupInfo(id=info["id"], display_name=info.get("displayName") or ""))
        async for page in graph.get_pages(group_path(group_id, "/transitiveMembers"), members_params(select)):
            await queue.put(split_members(page.get("value", []), properties))
    except Exception as exc:  # handed to the consumer, which raises it in the group's turn
        await queue.put(exc)
    else:
        await queue.put(_DONE)


async def read_groups(
    graph: TenantGraph,
    group_ids: Sequence[str],
    select: str,
    properties: Sequence[str],
    sink: PageSink,
    window: int = 4,
) -> FullRead:
    result = FullRead()
    queues = [asyncio.Queue(maxsize=QUEUE_PAGES) for _ in group_ids]
    tasks: dict[int, asyncio.Task] = {}
    try:
        for index, group_id in enumerate(group_ids):
            for ahead in range(index, min(index + window, len(group_ids))):
                if ahead not in tasks:
                    tasks[ahead] = asyncio.create_task(
                        _produce(graph, group_ids[ahead], select, properties, queues[ahead])
                    )
            await _drain(queues[index], group_id, sink, result)
            tasks.pop(index)
    finally:
        for task in tasks.values():
            task.cancel()
        await asyncio.gather(*tasks.values(), return_exceptions=True)
    return result


async def _drain(queue: asyncio.Queue, group_id: str, sink: PageSink, result: FullRead) -> None:
    while (item := await queue.get()) is not _DONE:
        if isinstance(item, BaseException):
            raise item
        if isinstance(item, GroupInfo):
            result.groups.append(item)
            continue
        content: PageContent = item
        result.skipped.extend(content.skipped)
        result.nested = result.nested or bool(content.nested_groups)
        result.member_ids.update(u.id for u in content.users)
        await sink.send(group_id, content.users)
