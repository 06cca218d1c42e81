"""Composition root of the reconciler: its queue's handlers and, when it runs alone, an outbox relay."""

from __future__ import annotations

from services.reconciler.handlers import Reconciler
from shared.messages import (
    MembersFetched,
    MergeDecided,
    PhotosCompleted,
    PhotosFetched,
    RunApproved,
    RunUndoRequested,
    SnapshotCompleted,
    SnapshotFailed,
)
from shared.outbox import run_relay
from shared.runtime import Infra
from shared.worker import Handlers, Worker


def handler_map(reconciler: Reconciler) -> Handlers:
    """The reconciler's HANDLERS: the consumer and the tests deliver through this map alone."""
    return {
        MembersFetched: reconciler.on_members_fetched,
        SnapshotCompleted: reconciler.on_snapshot_completed,
        SnapshotFailed: reconciler.on_snapshot_failed,
        PhotosFetched: reconciler.on_photos_fetched,
        PhotosCompleted: reconciler.on_photos_completed,
        RunApproved: reconciler.on_run_approved,
        RunUndoRequested: reconciler.on_run_undo_requested,
        MergeDecided: reconciler.on_merge_decided,
    }


def bootstrap(infra: Infra, standalone: bool = True) -> Worker:
    handlers = handler_map(Reconciler(infra.pool, infra.settings))
    # In one process with the scheduler, the scheduler's relay serves both.
    background = [("outbox-relay", lambda: run_relay(infra.pool, infra.bus, infra.settings.outbox_interval))]
    return Worker("reconciler", infra, handlers, standalone, background if standalone else [])
