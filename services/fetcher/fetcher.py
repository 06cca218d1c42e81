"""The fetcher's handler: for each SyncRequested, read the directory and send the snapshot.

Every run ends in exactly one SnapshotCompleted (after all its pages) or one SnapshotFailed (and nothing else
for that run). Photos follow the completed snapshot, so they never hold it up. A dry run reads like any
other but moves neither the delta links nor the photo records."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import asyncpg
from pydantic import ValidationError

from services.fetcher import delta, delta_store, photo_store, runs
from services.fetcher.full import read_groups
from services.fetcher.pages import PageSink
from services.fetcher.photos import photo_candidates, sync_photos
from services.fetcher.roles import read_roles
from services.fetcher.select import select_param, user_properties
from shared.graph.client import GraphClient, TenantGraph
from shared.graph.connection import credentials_for
from shared.graph.errors import DeltaExpired, GraphError
from shared.messages import GroupInfo, Message, SnapshotCompleted, SnapshotFailed, SyncRequested
from shared.settings import Settings

log = logging.getLogger(__name__)
Publish = Callable[[Message], Awaitable[None]]


class RunFailed(Exception):
    """The run cannot be fetched, for a reason the admin reads on the run."""


@dataclass
class Snapshot:
    mode: str
    groups: list[GroupInfo]
    skipped: list[dict[str, str]] = field(default_factory=list)
    member_ids: set[str] = field(default_factory=set)  # full: every member; delta: those who joined
    gone_ids: list[str] = field(default_factory=list)
    started_from: dict[str, str | None] = field(default_factory=dict)
    new_links: dict[str, str] = field(default_factory=dict)


class Fetcher:
    def __init__(
        self,
        pool: asyncpg.Pool,
        settings: Settings,
        graph: GraphClient,
        publish: Publish,
        *,
        group_window: int = 4,
        photos: bool = True,
        use_delta: bool = True,
    ):
        self.pool = pool
        self.settings = settings
        self.graph = graph
        self.publish = publish
        self.group_window = group_window
        self.photos = photos
        self.use_delta = use_delta

    async def on_sync_requested(self, msg: SyncRequested) -> None:
        try:
            run = await runs.claim(self.pool, msg.run_id)
        except ValidationError as exc:
            await self._fail(msg, f"the run's sync configuration is invalid: {exc.errors()[0]['msg']}", None)
            return
        if run is None:
            log.info("run %s is not waiting for a fetch; request ignored", msg.run_id)
            return
        graph: TenantGraph | None = None
        try:
            graph = self._tenant(run)
            sink = PageSink(msg, self.publish)
            snapshot = await self._snapshot(run, graph, sink)
            roles = await read_roles(graph) if run.config.use_admin_roles else {}
        except (GraphError, RunFailed, ValueError) as exc:
            reason = exc.reason if isinstance(exc, GraphError) else str(exc)
            log.warning("fetch failed: %s", reason)
            await self._fail(msg, reason, graph)
            return
        await self.publish(
            SnapshotCompleted(
                team_id=msg.team_id,
                run_id=msg.run_id,
                attempt=sink.attempt,
                pages=sink.pages,
                mode=snapshot.mode,
                groups=snapshot.groups,
                roles=roles,
                graph_requests=graph.requests,
                skipped=snapshot.skipped,
            )
        )
        log.info("%s snapshot sent: %d pages, %d Graph requests", snapshot.mode, sink.pages, graph.requests)
        if not msg.dry_run:
            await self._remember(msg, run, graph, snapshot)

    def _tenant(self, run: runs.Run) -> TenantGraph:
        if run.connection is None:
            raise RunFailed("the team has no directory connected; connect a Microsoft Entra tenant first")
        if not run.config.groups:
            raise RunFailed("no directory groups are selected for syncing; select groups first")
        return self.graph.for_tenant(credentials_for(self.settings, run.connection))

    async def _snapshot(self, run: runs.Run, graph: TenantGraph, sink: PageSink) -> Snapshot:
        group_ids = [g.id for g in run.config.groups]
        select, properties = select_param(run.config), user_properties(run.config)
        scope = delta.scope_of(group_ids, select)
        if self.use_delta:
            links = await delta_store.usable_links(self.pool, run.team_id, scope)
            try:
                changes = await delta.read_changes(graph, links, delta.link_kinds(group_ids))
            except (delta.NeedsFullRead, DeltaExpired) as why:
                log.info("full read: %s", why)
            else:
                groups = await delta.group_infos(graph, group_ids)
                await delta.send_changes(graph, changes, group_ids, select, properties, sink)
                joined = {u for added in changes.added.values() for u in added}
                return Snapshot(
                    "delta",
                    groups,
                    member_ids=joined,
                    gone_ids=list(changes.deleted_users),
                    started_from=links,
                    new_links=changes.links,
                )
        # Tracking starts before the read, so changes made during it are replayed by the next delta round.
        new_links = await delta.latest_links(graph, group_ids, select) if self.use_delta else {}
        result = await read_groups(graph, group_ids, select, properties, sink, self.group_window)
        return Snapshot(
            "full",
            result.groups,
            result.skipped,
            result.member_ids,
            new_links={} if result.nested else new_links,
        )

    async def _remember(
        self, msg: SyncRequested, run: runs.Run, graph: TenantGraph, snapshot: Snapshot
    ) -> None:
        scope = delta.scope_of([g.id for g in run.config.groups], select_param(run.config))
        if snapshot.new_links:
            await delta_store.save(
                self.pool, run.team_id, run.id, scope, snapshot.started_from, snapshot.new_links
            )
        else:
            await delta_store.clear(self.pool, run.team_id)
        toggles = run.config.toggles("photo")
        if not self.photos or not (toggles.sync or toggles.overwrite):
            return
        if snapshot.mode == "full":
            await photo_store.forget(self.pool, run.team_id, snapshot.member_ids)
        else:
            await photo_store.forget_ids(self.pool, run.team_id, snapshot.gone_ids)
        candidates = await photo_candidates(
            self.pool, run.team_id, sorted(snapshot.member_ids), self.settings.photo_slice_days
        )
        await sync_photos(graph, self.pool, msg, candidates, self.publish)

    async def _fail(self, msg: SyncRequested, reason: str, graph: TenantGraph | None) -> None:
        await self.publish(
            SnapshotFailed(
                team_id=msg.team_id,
                run_id=msg.run_id,
                reason=reason,
                graph_requests=graph.requests if graph else 0,
            )
        )
