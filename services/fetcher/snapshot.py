"""A run's snapshot, full or delta: what is read, in which order, and what the run leaves to remember."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import asyncpg

from services.fetcher import delta, delta_store, graph_model
from services.fetcher.full import Query, read_records
from services.fetcher.graph_model import Nesting
from services.fetcher.pages import PageSink
from services.fetcher.records import group_infos
from services.fetcher.tree import Tree, read_tree
from shared.graph.client import TenantGraph
from shared.messages import GroupInfo


@dataclass
class Snapshot:
    mode: str
    groups: list[GroupInfo]
    skipped: list[dict[str, str]] = field(default_factory=list)
    member_ids: Iterable[str] = field(default_factory=set)  # full: every member (Ids); delta: who joined
    gone_ids: list[str] = field(default_factory=list)
    left_ids: list[str] = field(default_factory=list)  # delta: those now in no synced group
    started_from: dict[str, str] = field(default_factory=dict)
    new_links: dict[str, str] = field(default_factory=dict)
    tree: Tree | None = None  # full: the graph as read
    nesting: Nesting = field(default_factory=dict)  # delta: the nesting after the changes
    gone_groups: list[str] = field(default_factory=list)  # full: synced groups the directory no longer has
    edges: list[tuple[str, str, bool]] = field(default_factory=list)  # delta: (user, group, present)


@dataclass(frozen=True)
class Reading:
    graph: TenantGraph
    group_ids: Sequence[str]
    select: str
    properties: Sequence[str]
    sink: PageSink
    filter: str | None = None  # R2 scope: the rules Graph answers, on a full read


async def full(r: Reading, window: int, track: bool) -> Snapshot:
    """Tracking starts before the read, so changes made during it are replayed by the next delta round."""
    links = await delta.start_tracking(r.graph, r.select) if track else {}
    groups, gone = await group_infos(r.graph, r.group_ids)
    # R9: a synced group the directory no longer has is not read; the reconciler holds its members.
    present = [g for g in r.group_ids if g not in gone]
    tree = await read_tree(r.graph, present, window)
    if links:
        links = await delta.finish_tracking(r.graph, links, tree, present)
    result = await read_records(
        r.graph, tree.routes(present), present, Query(r.select, r.filter), r.properties, r.sink
    )
    return Snapshot(
        "full", groups, result.skipped, result.member_ids, new_links=links, tree=tree, gone_groups=gone
    )


async def incremental(r: Reading, pool: asyncpg.Pool, team_id: str, stored: delta_store.Stored) -> Snapshot:
    """Raises NeedsFullRead or DeltaExpired before any page is sent."""
    changes = await delta.read_changes(r.graph, stored.links, stored.nesting.keys(), r.group_ids)
    after = graph_model.apply_nesting(stored.nesting, changes.groups)
    direct = await delta_store.direct_groups(
        pool,
        team_id,
        graph_model.candidates(changes.groups, changes.users),
        graph_model.affected_groups(stored.nesting, after, changes.groups),
    )
    diff = graph_model.diff(r.group_ids, stored.nesting, after, direct, changes.groups, changes.users)
    groups, gone_groups = await group_infos(r.graph, r.group_ids)
    if gone_groups:
        raise graph_model.NeedsFullRead(f"the synced group(s) {', '.join(gone_groups)} no longer exist")
    gone = await delta.send_diff(r.graph, diff, r.group_ids, r.select, r.properties, r.sink)
    return Snapshot(
        "delta",
        groups,
        member_ids=diff.joiners,
        gone_ids=gone,
        left_ids=diff.out,
        started_from=stored.links,
        new_links=changes.links,
        nesting=after,
        edges=diff.edges,
    )
