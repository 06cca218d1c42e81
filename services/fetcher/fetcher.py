"""The fetcher's handlers: for each SyncRequested, read the directory and send the snapshot; for each
RunApplied, check the photos of the run's members.

Every fetch ends in exactly one SnapshotCompleted (after all its pages) or one SnapshotFailed (and nothing
else for that run), and the request is done: it is acknowledged then, whatever the reconciler does next.
Photos follow the applied run (the reconciler's RunApplied), so they never hold it up: on a first sync of a
large team the photo checks and the apply would share the machine's CPU and the database, and the cards would
come later; and a photo needs its member. The snapshot says whether a photo check follows, and the run waits
for it: the check ends in exactly one PhotosCompleted (after all its PhotosFetched), saying why when it
stopped short. A dry run reads the whole directory (as does a run applying one, so that their plans compare)
but moves neither the delta state (links and group graph) nor the photo records, and applies nothing, so no
photo follows it."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg

from services.fetcher import delta, delta_store, photo_etags, run_claim, snapshot
from services.fetcher.graph_model import NeedsFullRead
from services.fetcher.pages import PageSink
from services.fetcher.photo_download import PhotoCheck, photo_candidates
from services.fetcher.roles import read_roles
from services.fetcher.scope import ScopeFilter, graph_filter
from services.fetcher.snapshot import Reading, Snapshot
from services.fetcher.user_properties import select_param, user_properties
from shared import runs
from shared.config import UNLISTABLE, unlistable_sources
from shared.errors import Permanent
from shared.failures import Cause, cause_of
from shared.graph.client import GraphClient, TenantGraph
from shared.graph.connection import credentials_for
from shared.graph.errors import DeltaExpired, GraphError
from shared.messages import (
    Message,
    PhotosCompleted,
    PhotosStored,
    RunApplied,
    SnapshotCompleted,
    SnapshotFailed,
    SyncRequested,
)
from shared.runs import Run, RunStatus
from shared.settings import Settings

log = logging.getLogger(__name__)
Publish = Callable[[Message], Awaitable[None]]


class RunFailed(Exception):
    """The run cannot be fetched, for a reason the admin reads on the run."""


class Fetcher:
    def __init__(
        self,
        pool: asyncpg.Pool,
        settings: Settings,
        graph: GraphClient,
        publish: Publish,
        *,
        group_window: int | None = None,
        photos: bool = True,
        use_delta: bool = True,
    ):
        self.pool = pool
        self.settings = settings
        self.graph = graph
        self.publish = publish
        # Groups paged at once while reading the graph: a group's pages come one after another, so each
        # holds at most one request in flight.
        self.group_window = group_window or settings.graph_concurrency
        self.photos = photos
        self.use_delta = use_delta

    async def on_sync_requested(self, msg: SyncRequested) -> None:
        claimed = await run_claim.claim(self.pool, msg.run_id)
        if claimed is None:
            log.info("run %s is not waiting for a fetch; request ignored", msg.run_id)
            return
        run, connection = claimed
        if run.config is None:
            reason = run.config_error or "the run has no sync configuration"
            await self._fail(msg, reason, None, Cause.CONFIGURATION)
            return
        graph: TenantGraph | None = None
        sink = PageSink(msg, self.publish, scope=ScopeFilter(run.config.scope) if run.config.scope else None)
        progress = runs.Progress(self.pool, run.id, RunStatus.FETCHING, lambda: {"users_read": sink.users})
        try:
            async with progress:  # its last word is in before the completion moves the run on
                graph = self._tenant(run, connection)
                snap = await self._snapshot(run, connection, graph, sink)
                roles = await read_roles(graph) if run.config.use_admin_roles else {}
                await sink.flush()
        except (GraphError, RunFailed, ValueError) as exc:
            reason = exc.reason if isinstance(exc, GraphError) else str(exc)
            log.warning("fetch failed: %s", reason)
            await sink.settle()
            await self._fail(
                msg, reason, graph, Cause.CONFIGURATION if isinstance(exc, RunFailed) else cause_of(exc)
            )
            return
        finally:
            sink.cancel()  # pages still in flight only when the fetch broke off with another error
        await self.publish(
            SnapshotCompleted(
                team_id=msg.team_id,
                run_id=msg.run_id,
                attempt=sink.attempt,
                pages=sink.pages,
                mode=snap.mode,
                groups=snap.groups,
                roles=roles,
                graph_requests=graph.requests,
                skipped=snap.skipped,
                excluded=list(sink.scope.excluded.values()) if sink.scope else [],
                excluded_count=sink.scope.count if sink.scope else 0,
                photos=self._syncs_photos(run),
                gone_groups=snap.gone_groups,
            )
        )
        log.info("%s snapshot sent: %d pages, %d Graph requests", snap.mode, sink.pages, graph.requests)
        if not msg.dry_run:
            await self._remember(run, delta.scope_of(run.config, connection), snap)

    async def on_run_applied(self, msg: RunApplied) -> None:
        """The photo check the run's snapshot promised (``photo_download``), of the members as the apply left
        them. It ends in one PhotosCompleted, saying why when the check stopped short."""
        if not msg.photos:
            return
        claimed = await run_claim.applied(self.pool, msg.run_id)
        if claimed is None or claimed[0].status not in (RunStatus.PHOTOS, RunStatus.HELD):
            log.info("run %s is not waiting for its photos; message ignored", msg.run_id)
            return
        run, connection = claimed
        attempt, graph, check, error, cause = uuid.uuid4().hex, None, None, None, None
        try:
            if connection is None:
                raise RunFailed("the team's directory was disconnected meanwhile")
            graph = self.graph.for_tenant(credentials_for(self.settings, connection))
            # Twice the requests a tenant may have in flight: a worker between two batches holds none.
            check = PhotoCheck(
                graph, self.pool, msg, self.publish, 2 * self.settings.graph_concurrency, attempt
            )
            candidates = await photo_candidates(self.pool, run.team_id, self.settings.photo_slice_days)
            async with runs.Progress(self.pool, run.id, RunStatus.PHOTOS, check.progress):
                await check.check(candidates)
        except (GraphError, RunFailed) as exc:
            reason = exc.reason if isinstance(exc, GraphError) else str(exc)
            log.warning("photos not synced: %s", reason)
            error = f"the members were applied, but their profile photos could not all be synced: {reason}"
            cause = Cause.CONFIGURATION if isinstance(exc, RunFailed) else cause_of(exc)
        await self.publish(
            PhotosCompleted(
                team_id=msg.team_id,
                run_id=msg.run_id,
                attempt=attempt,
                messages=check.sent if check else 0,
                graph_requests=graph.requests if graph else 0,
                error=error,
                cause=cause,
            )
        )

    async def on_photos_stored(self, msg: PhotosStored) -> None:
        """The reconciler stored these photos: their etags are recorded, and they are not fetched again until
        they change."""
        try:
            team_id = str(uuid.UUID(msg.team_id))
        except ValueError as exc:
            raise Permanent(f"{msg.team_id!r} is not a team id") from exc
        await photo_etags.record(self.pool, team_id, msg.etags)
        if msg.forget:
            await photo_etags.forget_ids(self.pool, team_id, msg.forget)

    def _syncs_photos(self, run: Run) -> bool:
        if not self.photos or run.dry_run or run.config is None:
            return False
        toggles = run.config.toggles("photo")
        return toggles.sync or toggles.overwrite

    def _tenant(self, run: Run, connection: dict[str, Any] | None) -> TenantGraph:
        if connection is None:
            raise RunFailed("the team has no directory connected; connect a Microsoft Entra tenant first")
        if not run.config.groups:
            raise RunFailed("no directory groups are selected for syncing; select groups first")
        if bad := unlistable_sources(run.config.custom_mappings):
            raise RunFailed(f"{bad[0]}: {UNLISTABLE}; remove it from the configuration")
        return self.graph.for_tenant(credentials_for(self.settings, connection))

    async def _snapshot(
        self, run: Run, connection: dict[str, Any] | None, graph: TenantGraph, sink: PageSink
    ) -> Snapshot:
        group_ids = [g.id for g in run.config.groups]
        scope = run.config.scope
        # R2 scope: a run has Graph leave out the users its rules exclude; a dry run reads them all, to list
        # in its plan whom the rules leave out.
        reading = Reading(
            graph,
            group_ids,
            select_param(run.config),
            user_properties(run.config),
            sink,
            None if run.dry_run else graph_filter(scope),
        )
        if run.dry_run or run.applies_run:
            # R18: a preview, and a run applying one, read everyone, so that their plans compare alike.
            return await snapshot.full(reading, self.group_window, track=self.use_delta and not run.dry_run)
        if self.use_delta:
            scope = delta.scope_of(run.config, connection)
            stored = await delta_store.load(self.pool, run.team_id, scope, self.graph.graph_url)
            if stored is None:
                log.info(
                    "full read: no delta state for this configuration (groups, properties, mapping, toggles)"
                )
            else:
                try:
                    return await snapshot.incremental(reading, self.pool, run.team_id, stored)
                except (NeedsFullRead, DeltaExpired) as why:
                    log.info("full read: %s", why)
        return await snapshot.full(reading, self.group_window, track=self.use_delta)

    async def _remember(self, run: Run, scope: str, snap: Snapshot) -> None:
        if snap.mode == "delta":
            await delta_store.save_delta(
                self.pool,
                run.team_id,
                run.id,
                scope,
                snap.started_from,
                snap.new_links,
                snap.nesting,
                snap.edges,
            )
        elif snap.new_links and snap.tree is not None:
            await delta_store.save_full(
                self.pool, run.team_id, run.id, scope, snap.new_links, snap.tree.nesting, snap.tree.members
            )
        else:
            await delta_store.clear(self.pool, run.team_id)
        if not self._syncs_photos(run):
            return
        if snap.mode == "full":
            await photo_etags.forget(self.pool, run.team_id, snap.member_ids)
        else:
            # A user who left may come back after its member (and photo) was deleted: checked afresh.
            await photo_etags.forget_ids(self.pool, run.team_id, {*snap.gone_ids, *snap.left_ids})

    async def _fail(self, msg: SyncRequested, reason: str, graph: TenantGraph | None, cause: Cause) -> None:
        await self.publish(
            SnapshotFailed(
                team_id=msg.team_id,
                run_id=msg.run_id,
                reason=reason,
                cause=cause,
                graph_requests=graph.requests if graph else 0,
            )
        )
