"""From notifications to runs: what the believed notifications ask for, and the runs queued for it.

Notifications of one team are gathered for ``notification_window`` seconds from the first and then asked for
one run together; a run still queued takes in whatever arrives before it starts. A run already fetching may
have read past a change that came after it started: the team then gets one more run once that one has ended.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import asyncpg

from services.scheduler.due import BATCH, in_batches
from services.scheduler.run_queue import queue_run

log = logging.getLogger(__name__)
BUSY_RETRY = timedelta(seconds=2)  # a team whose run is under way is asked again this much later
NOTIFICATION = "a change notification"  # who asked for the run, as the run record says


async def record(
    conn: asyncpg.Connection, kept: Sequence[tuple[Any, Any]], now: datetime, window: timedelta
) -> None:
    """In the caller's transaction: runs asked for by changes and by ``missed`` and ``subscriptionRemoved``
    events (whatever changed meanwhile went unannounced), a renewal by ``reauthorizationRequired``, and a new
    subscription by ``subscriptionRemoved``."""
    syncs = {r["team_id"] for n, r in kept if n.lifecycle_event in (None, "missed", "subscriptionRemoved")}
    reauthorize = [n.subscription_id for n, _ in kept if n.lifecycle_event == "reauthorizationRequired"]
    removed = [n.subscription_id for n, _ in kept if n.lifecycle_event == "subscriptionRemoved"]
    if syncs:
        await conn.execute(
            "INSERT INTO realtime_requests (team_id, due_at, notified_at) SELECT t, $2, $3"
            " FROM unnest($1::uuid[]) t ORDER BY t ON CONFLICT (team_id) DO NOTHING",
            sorted(syncs),
            now + window,
            now,
        )
    if reauthorize:
        await conn.execute(
            "UPDATE graph_subscriptions SET reauthorize = true WHERE graph_id = ANY($1::text[])", reauthorize
        )
    if removed:
        await conn.execute("DELETE FROM graph_subscriptions WHERE graph_id = ANY($1::text[])", removed)
    if reauthorize or removed:
        teams = sorted({r["team_id"] for n, r in kept if n.subscription_id in {*reauthorize, *removed}})
        await conn.execute(
            "UPDATE realtime_teams SET check_at = least(check_at, $2) WHERE team_id = ANY($1::uuid[])",
            teams,
            now,
        )


async def _queue_batch(conn: asyncpg.Connection, now: datetime) -> tuple[int, int]:
    """(requests claimed, runs queued), in the caller's transaction."""
    due = await conn.fetch(
        "SELECT r.team_id, coalesce((c.config ->> 'realtime')::boolean, false) AS realtime,"
        " EXISTS (SELECT 1 FROM directory_connections d WHERE d.team_id = r.team_id) AS connected,"
        " coalesce(jsonb_typeof(c.config -> 'groups') = 'array' AND c.config -> 'groups' <> '[]', false)"
        " AS has_groups FROM realtime_requests r LEFT JOIN sync_configs c ON c.team_id = r.team_id"
        " WHERE r.due_at <= $1 ORDER BY r.due_at LIMIT $2 FOR UPDATE OF r SKIP LOCKED",
        now,
        BATCH,
    )
    queued = 0
    for team in due:
        done = True
        if team["realtime"] and team["connected"] and team["has_groups"]:
            run, new = await queue_run(
                conn, team["team_id"], trigger="notification", requested_by=NOTIFICATION
            )
            queued += new
            # A queued sync has not read the directory yet: it takes the changes in. A fetch under way, or a
            # preview, does not.
            done = new or (run["status"] == "queued" and not run["dry_run"])
        if done:
            await conn.execute("DELETE FROM realtime_requests WHERE team_id = $1", team["team_id"])
        else:
            await conn.execute(
                "UPDATE realtime_requests SET due_at = $2 WHERE team_id = $1",
                team["team_id"],
                now + BUSY_RETRY,
            )
    return len(due), queued


async def queue_requested_runs(pool: asyncpg.Pool, now: datetime) -> int:
    """Queue the runs notifications asked for that are due at ``now``; how many new runs were queued."""
    return await in_batches(pool, now, _queue_batch)
