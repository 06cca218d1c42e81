"""Queuing a run: one row and its SyncRequested in the caller's transaction, at most one active run a team
(R15)."""

from __future__ import annotations

from typing import Any, Literal
from uuid import UUID

import asyncpg

from shared import runs
from shared.config import SyncConfig
from shared.db import enqueue
from shared.messages import SyncRequested

RUN_COLUMNS = (
    f"id, team_id, trigger, requested_by, dry_run, {runs.PUBLIC_STATUS_SQL} AS status, created_at, "
    "started_at,"
    f" finished_at, counts, graph_requests, error, member_errors, plan, {runs.PUBLIC_PROGRESS_SQL} AS "
    "progress, undoes, (SELECT u.id FROM sync_runs u WHERE u.undoes = sync_runs.id AND u.status <> 'failed')"
    " AS undone_by, applies_run"
)


async def saved_config(conn: asyncpg.Connection, team_id: UUID) -> dict[str, Any]:
    """The team's configuration as saved, or the defaults when it never saved one."""
    config = await conn.fetchval("SELECT config FROM sync_configs WHERE team_id = $1", team_id)
    return config if config is not None else SyncConfig().model_dump(mode="json")


async def queue_run(
    conn: asyncpg.Connection,
    team_id: UUID,
    *,
    trigger: Literal["manual", "schedule", "notification"],
    requested_by: str | None,
    dry_run: bool = False,
    applies_run: UUID | None = None,
) -> tuple[asyncpg.Record, bool]:
    """(the run, True) for a new run; (the team's active run, False) when one is queued or running.

    Must run inside a transaction, so that the run and its message commit together.
    """
    config = await saved_config(conn, team_id)
    while True:
        run = await runs.queue(
            conn, team_id, trigger, requested_by, dry_run, config, RUN_COLUMNS, applies_run=applies_run
        )
        if run is not None:
            await enqueue(
                conn,
                SyncRequested(team_id=str(team_id), run_id=str(run["id"]), dry_run=dry_run, trigger=trigger),
            )
            return run, True
        active = await conn.fetchrow(
            f"SELECT {RUN_COLUMNS} FROM sync_runs WHERE team_id = $1 AND status = ANY($2::text[])",
            team_id,
            list(runs.ACTIVE),
        )
        if active is not None:
            return active, False
        # The active run ended between the two statements: try the insert again.
