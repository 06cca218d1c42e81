"""A sync run's record and the locks on its work, shared by the services that move a run: the reconciler, which
ends it, and the scheduler, whose API approves a held run and whose sweep fails a run that stopped moving."""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg
from pydantic import ValidationError

from shared.config import SyncConfig

ACTIVE = ("queued", "fetching", "reconciling")
# Where a run's snapshot waits for its apply; an ended run's goes.
_STAGING = (
    "snapshot_users",
    "snapshot_listings",
    "snapshot_removals",
    "snapshot_pages",
    "snapshot_completions",
)


@dataclass(frozen=True)
class Run:
    id: str
    team_id: str
    status: str
    dry_run: bool
    config: SyncConfig | None
    config_error: str | None = None

    @property
    def active(self) -> bool:
        return self.status in ACTIVE


async def load(conn: asyncpg.Connection, run_id: str) -> Run | None:
    """The run with the configuration it runs with (the team's, when the run has none of its own)."""
    row = await conn.fetchrow(
        "SELECT r.team_id, r.status, r.dry_run, coalesce(r.config, c.config) AS config FROM sync_runs r"
        " LEFT JOIN sync_configs c ON c.team_id = r.team_id WHERE r.id = $1",
        run_id,
    )
    if row is None:
        return None
    try:
        config, error = SyncConfig.model_validate(row["config"] or {}), None
    except ValidationError as exc:
        config, error = None, f"the run's sync configuration is invalid: {exc.errors()[0]['msg']}"
    return Run(run_id, str(row["team_id"]), row["status"], row["dry_run"], config, error)


async def lock(conn: asyncpg.Connection, scope: str, key: str, shared: bool = False) -> None:
    """A transaction-scoped advisory lock: ``run`` serialises a run's messages, ``team`` a team's applies,
    ``photos`` (shared by photo messages) the end of a team's apply with its photos."""
    function = "pg_advisory_xact_lock_shared" if shared else "pg_advisory_xact_lock"
    await conn.execute(f"SELECT {function}(hashtextextended($1, 0))", _lock_name(scope, key))


async def try_lock(conn: asyncpg.Connection, scope: str, key: str) -> bool:
    """``lock``, exclusive, without waiting: False when another transaction holds it (shared or not)."""
    return await conn.fetchval(
        "SELECT pg_try_advisory_xact_lock(hashtextextended($1, 0))", _lock_name(scope, key)
    )


def _lock_name(scope: str, key: str) -> str:
    return f"reconciler:{scope}:{key}"


async def fail(conn: asyncpg.Connection, run_id: str, reason: str, graph_requests: int | None = None) -> None:
    """End an active run as failed; nobody is removed, the staged snapshot is dropped."""
    await conn.execute(
        "UPDATE sync_runs SET status = 'failed', error = $2, finished_at = now(),"
        " graph_requests = coalesce($3, graph_requests) WHERE id = $1 AND status = ANY($4::text[])",
        run_id,
        reason,
        graph_requests,
        list(ACTIVE),
    )
    await drop_staging(conn, run_id)


class TeamBusy(Exception):
    """Another run of the team is queued or running: one team, one run at a time."""


async def approve(conn: asyncpg.Connection, run_id: str) -> None:
    """Move a held run back to ``reconciling``, for the reconciler to apply the removals it held; call it in the
    caller's transaction, with the run known to be ``held``. An approved run starts again: the stall sweep counts
    its progress from now."""
    try:
        async with conn.transaction():  # a savepoint: the caller's transaction survives a refusal
            await conn.execute(
                "UPDATE sync_runs SET status = 'reconciling', started_at = now(), finished_at = NULL"
                " WHERE id = $1 AND status = 'held'",
                run_id,
            )
    except asyncpg.UniqueViolationError as exc:
        raise TeamBusy(f"another run of the team is queued or running; run {run_id} stays held") from exc


async def drop_staging(conn: asyncpg.Connection, run_id: str) -> None:
    for table in _STAGING:
        await conn.execute(f"DELETE FROM {table} WHERE run_id = $1", run_id)
