"""The reconciler's message handlers: stage a snapshot's pages, then reconcile it once it is whole.

A run's messages are serialised by an advisory lock on the run, so whichever of the last page and the
completion commits second sees the snapshot whole and starts the reconcile; a team's reconciles are serialised
by a lock on the team. The run is marked ``reconciling`` in its own small transaction first: a crash during
the apply leaves it there, and the redelivered message applies it again from the start. The photos that follow
an apply are ``photo_handlers``'."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Awaitable, Callable

import asyncpg

from services.reconciler import planner_statistics, rehires, staging, undo
from services.reconciler.approve import apply_approved
from services.reconciler.photo_handlers import PhotoHandlers
from services.reconciler.reconcile import reconcile
from shared import run_locks, runs
from shared.messages import (
    MembersFetched,
    MergeDecided,
    RunApproved,
    RunUndoRequested,
    SnapshotCompleted,
    SnapshotFailed,
)
from shared.settings import Settings

log = logging.getLogger(__name__)
# The states in which a run takes its snapshot's messages (a run waiting for its photos is past them).
SNAPSHOT_OPEN = (runs.RunStatus.QUEUED, runs.RunStatus.FETCHING, runs.RunStatus.RECONCILING)
APPLIED = ("created", "updated", "unchanged", "removed", "deleted")


class Reconciler:
    def __init__(self, pool: asyncpg.Pool, settings: Settings):
        self.pool = pool
        self.settings = settings
        self.mapped = staging.Mapped()
        self.photos = PhotoHandlers(pool)
        self.on_photos_fetched = self.photos.on_photos_fetched
        self.on_photos_completed = self.photos.on_photos_completed

    async def on_members_fetched(self, msg: MembersFetched) -> None:
        async with self.pool.acquire() as conn:
            # Pages of one run stage side by side, under the run's lock shared; whether the snapshot is whole
            # is asked under the lock alone, once this page has committed.
            async with conn.transaction():
                run = await self._locked_run(conn, msg.run_id, shared=True)
                if run is None or run.config is None:
                    return
                known = self.mapped.of(msg.run_id, msg.attempt)
                staged = await staging.stage_page(conn, msg, run.config, known)
                if staged is None:
                    log.debug("page %d of run %s was staged before", msg.seq, msg.run_id)
            known.update(staged or ())
            # Before its completion is recorded the snapshot cannot be whole, and most pages stop here instead
            # of queueing for the run's lock behind the pages still staging. This page committed first, under
            # the run's lock shared: a completion that commits after this look counts it.
            if not await staging.completion_recorded(conn, msg.run_id):
                return
            async with conn.transaction():
                ready = await self._locked_run(conn, msg.run_id) is not None and await self._mark_ready(
                    conn, msg.run_id
                )
            if ready:
                await self._reconcile(conn, msg.run_id)

    async def on_snapshot_completed(self, msg: SnapshotCompleted) -> None:
        async with self.pool.acquire() as conn:
            async with conn.transaction():
                if await self._locked_run(conn, msg.run_id) is None:
                    return
                await staging.record_completion(conn, msg)
                ready = await self._mark_ready(conn, msg.run_id)
            if ready:
                await self._reconcile(conn, msg.run_id)

    async def on_snapshot_failed(self, msg: SnapshotFailed) -> None:
        async with self.pool.acquire() as conn, conn.transaction():
            if await self._locked_run(conn, msg.run_id) is not None:
                await runs.fail(conn, msg.run_id, msg.reason, msg.graph_requests, msg.cause)

    async def on_run_approved(self, msg: RunApproved) -> None:
        """Apply the removals an approved run held; a redelivery finds the run ended and changes nothing."""
        async with self.pool.acquire() as conn, conn.transaction():
            await run_locks.lock(conn, "run", msg.run_id)
            run = await runs.load(conn, msg.run_id)
            if run is None or run.status != runs.RunStatus.RECONCILING:
                log.info("run %s is not waiting for its approval to be applied; message ignored", msg.run_id)
                return
            await apply_approved(conn, run)

    async def on_run_undo_requested(self, msg: RunUndoRequested) -> None:
        """Undo a run from its journal, as the queued undo run; a redelivery finds that run past ``queued``
        and changes nothing."""
        await self._direct(
            "undo", msg.run_id, lambda conn, run: undo.apply_undo(conn, run.team_id, msg.run_id, msg.undoes)
        )

    async def on_merge_decided(self, msg: MergeDecided) -> None:
        """Apply an admin's decision on a proposed merge, as the queued run that carries it; a redelivery
        finds that run past ``queued`` and changes nothing."""
        await self._direct(
            "merge", msg.run_id, lambda conn, run: rehires.apply_decision(conn, run, msg.merge_id)
        )

    async def _direct(
        self, kind: str, run_id: str, work: Callable[[asyncpg.Connection, runs.Run], Awaitable[None]]
    ) -> None:
        """Take the queued run that reads no directory, under its lock and then its team's, and do its work
        in the same transaction."""
        async with self.pool.acquire() as conn, conn.transaction():
            await run_locks.lock(conn, "run", run_id)
            run = await runs.load(conn, run_id)
            if run is None or not await runs.start_direct(conn, run_id):
                log.info("%s run %s is unknown or already taken; message ignored", kind, run_id)
                return
            await run_locks.lock(conn, "team", run.team_id)
            await work(conn, run)

    @staticmethod
    async def _locked_run(conn: asyncpg.Connection, run_id: str, shared: bool = False) -> runs.Run | None:
        """The run under its lock, when it is still waiting for its snapshot; None once it is applied or
        ended."""
        await run_locks.lock(conn, "run", run_id, shared)
        run = await runs.load(conn, run_id)
        if run is None or run.status not in SNAPSHOT_OPEN:
            log.info("run %s is unknown or already past its snapshot; message ignored", run_id)
            return None
        return run

    @staticmethod
    async def _mark_ready(conn: asyncpg.Connection, run_id: str) -> bool:
        if await staging.complete(conn, run_id) is None:
            return False
        if await runs.start_reconciling(conn, run_id):
            log.info("run %s: the snapshot is whole; reconciling", run_id)
        return True

    async def _reconcile(self, conn: asyncpg.Connection, run_id: str) -> None:
        self.mapped.forget(run_id)
        async with conn.transaction():
            await run_locks.lock(conn, "run", run_id)
            run = await runs.load(conn, run_id)
            completion = await staging.complete(conn, run_id)
            if run is None or run.status != runs.RunStatus.RECONCILING or completion is None:
                return  # another delivery applied it meanwhile
            await run_locks.lock(conn, "team", run.team_id)
            decided: Counter[str] = Counter()
            # Its last word is the run's move on (``runs.finish``).
            progress = runs.Progress(
                self.pool,
                run_id,
                runs.RunStatus.RECONCILING,
                lambda: {"members_applied": sum(decided[k] for k in APPLIED)},
                last_word=False,
            )
            async with progress:
                written = await reconcile(conn, run, completion, decided)
        await planner_statistics.after(conn, written)
