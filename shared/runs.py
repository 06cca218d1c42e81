"""The sync run's lifecycle (R17): its states, the moves allowed between them, and the only SQL that writes
``sync_runs``. The scheduler queues a run and approves a held one, the fetcher starts its fetch, the reconciler
ends it, the stall sweep fails it, the fetcher and the notifier add member errors: all of them through here.

A move the table does not allow raises ``TransitionRefused``: it is a bug, or a race a caller must rule out
under the run's lock. Redelivered messages re-enter a state they already reached: those are self-moves in the
table (``fetching`` again restarts a fetch, ``reconciling`` again finds the snapshot whole again), and a call
site that may see a run past its step asks ``allowed`` first and ignores the message.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Literal

import asyncpg
from pydantic import ValidationError

from shared import metrics
from shared.config import SyncConfig


class RunStatus(StrEnum):
    QUEUED = "queued"
    FETCHING = "fetching"
    RECONCILING = "reconciling"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    HELD = "held"


ACTIVE = (RunStatus.QUEUED, RunStatus.FETCHING, RunStatus.RECONCILING)
# Written out: PostgreSQL answers from the partial index of active runs only for the same literal list.
ACTIVE_SQL = "(" + ", ".join(f"'{s}'" for s in ACTIVE) + ")"

TRANSITIONS: Mapping[RunStatus, frozenset[RunStatus]] = {
    RunStatus.QUEUED: frozenset({RunStatus.FETCHING, RunStatus.FAILED}),
    # fetching -> fetching: a redelivered SyncRequested starts the fetch over.
    RunStatus.FETCHING: frozenset({RunStatus.FETCHING, RunStatus.RECONCILING, RunStatus.FAILED}),
    # reconciling -> reconciling: a redelivered page or completion finds the snapshot whole again (the apply
    # itself runs once, under the run's lock).
    RunStatus.RECONCILING: frozenset(
        {RunStatus.RECONCILING, RunStatus.SUCCEEDED, RunStatus.HELD, RunStatus.FAILED}
    ),
    # held -> reconciling: an admin approved the removals it holds (R10).
    RunStatus.HELD: frozenset({RunStatus.RECONCILING}),
    RunStatus.SUCCEEDED: frozenset(),
    RunStatus.FAILED: frozenset(),
}


class TransitionRefused(RuntimeError):
    """A move the lifecycle does not allow."""


class UnknownRun(LookupError):
    """No run has this id."""


class TeamBusy(Exception):
    """Another run of the team is queued or running: one team, one run at a time."""


def allowed(old: RunStatus | str, new: RunStatus | str) -> bool:
    return RunStatus(new) in TRANSITIONS[RunStatus(old)]


@dataclass(frozen=True)
class Run:
    """A run with the configuration it runs with; ``config`` is None (and ``config_error`` says why) when that
    configuration is no longer valid."""

    id: str
    team_id: str
    status: RunStatus
    dry_run: bool
    config: SyncConfig | None
    config_error: str | None = None

    @property
    def active(self) -> bool:
        return self.status in ACTIVE


def _run(run_id: str, row: asyncpg.Record) -> Run:
    try:
        config, error = SyncConfig.model_validate(row["config"] or {}), None
    except ValidationError as exc:
        config, error = None, f"the run's sync configuration is invalid: {exc.errors()[0]['msg']}"
    return Run(run_id, str(row["team_id"]), RunStatus(row["status"]), row["dry_run"], config, error)


_WITH_CONFIG = (
    "SELECT r.team_id, r.status, r.dry_run, coalesce(r.config, c.config) AS config FROM sync_runs r"
    " LEFT JOIN sync_configs c ON c.team_id = r.team_id WHERE r.id = $1"
)


async def load(conn: asyncpg.Connection, run_id: str) -> Run | None:
    """The run with its configuration (the team's, when the run has none of its own)."""
    row = await conn.fetchrow(_WITH_CONFIG, run_id)
    return None if row is None else _run(run_id, row)


async def queue(
    conn: asyncpg.Connection,
    team_id: Any,
    trigger: Literal["manual", "schedule", "notification"],
    requested_by: str | None,
    dry_run: bool,
    config: dict[str, Any],
    returning: str,
) -> asyncpg.Record | None:
    """A new queued run (its ``returning`` columns); None when the team has an active run already."""
    return await conn.fetchrow(
        "INSERT INTO sync_runs (team_id, trigger, requested_by, dry_run, config) VALUES ($1, $2, $3, $4, $5)"
        f" ON CONFLICT (team_id) WHERE status IN {ACTIVE_SQL} DO NOTHING RETURNING {returning}",
        team_id,
        trigger,
        requested_by,
        dry_run,
        config,
    )


async def configure_queued(conn: asyncpg.Connection, team_id: Any, config: dict[str, Any]) -> None:
    """R15: a saved configuration applies from the next run, and a run no fetcher has taken yet is the next."""
    await conn.execute(
        "UPDATE sync_runs SET config = $2 WHERE team_id = $1 AND status = 'queued'", team_id, config
    )


async def _move(
    conn: asyncpg.Connection,
    run_id: str,
    to: RunStatus | str,
    sets: str = "",
    args: tuple[Any, ...] = (),
    only_from: RunStatus | None = None,
) -> RunStatus:
    """Move the run to ``to`` (from ``only_from`` alone, when given), setting ``sets`` too (its parameters from
    $3); the status it left. Locks the run's row until the caller's transaction ends."""
    to = RunStatus(to)
    was = await conn.fetchval("SELECT status FROM sync_runs WHERE id = $1 FOR UPDATE", run_id)
    if was is None:
        raise UnknownRun(f"no run {run_id}")
    if not allowed(was, to) or only_from not in (None, was):
        raise TransitionRefused(f"run {run_id} is {was}; it cannot become {to} here")
    if was != to or sets:  # a bare self-move writes nothing
        await conn.execute(f"UPDATE sync_runs SET status = $2{sets} WHERE id = $1", run_id, to.value, *args)
    return RunStatus(was)


async def start_fetching(conn: asyncpg.Connection, run_id: str) -> Run | None:
    """Mark the run ``fetching`` (a redelivered request for a run still fetching starts it over); None, and
    nothing moves, when the run is unknown or past fetching: the request is stale."""
    row = await conn.fetchrow(_WITH_CONFIG + " FOR UPDATE OF r", run_id)
    if row is None or not allowed(row["status"], RunStatus.FETCHING):
        return None
    await _move(conn, run_id, RunStatus.FETCHING, ", started_at = coalesce(started_at, now())")
    return _run(run_id, dict(row) | {"status": RunStatus.FETCHING})


async def start_reconciling(conn: asyncpg.Connection, run_id: str) -> bool:
    """The run's snapshot is whole: mark it ``reconciling``; False when it was already."""
    return await _move(conn, run_id, RunStatus.RECONCILING) != RunStatus.RECONCILING


async def approve(conn: asyncpg.Connection, run_id: str) -> None:
    """R10: move a held run back to ``reconciling``, for the reconciler to apply the removals it held. An
    approved run starts again: the stall sweep counts its progress from now."""
    try:
        async with conn.transaction():  # a savepoint: the caller's transaction survives a refusal
            sets = ", started_at = now(), finished_at = NULL"
            await _move(conn, run_id, RunStatus.RECONCILING, sets, only_from=RunStatus.HELD)
    except asyncpg.UniqueViolationError as exc:
        raise TeamBusy(f"another run of the team is queued or running; run {run_id} stays held") from exc


async def finish(
    conn: asyncpg.Connection,
    run_id: str,
    status: Literal[RunStatus.SUCCEEDED, RunStatus.HELD],
    counts: dict[str, int],
    member_errors: list[dict[str, str]],
    plan: dict[str, Any] | None = None,
    summary: dict[str, Any] | None = None,
) -> None:
    """End an applied (or, dry, previewed) run; its member errors are added to the ones it has (the fetcher's)."""
    await _move(
        conn,
        run_id,
        status,
        ", counts = $3, member_errors = member_errors || $4::jsonb, plan = $5, summary = $6,"
        " finished_at = now(), error = NULL",
        (counts, member_errors, plan, summary),
    )
    await metrics.run_ended(conn, run_id)
    await drop_staging(conn, run_id)


async def finish_approved(
    conn: asyncpg.Connection, run_id: str, removed: int, deleted: int, summary: dict[str, Any]
) -> None:
    """End an approved run: the removals it applied join its counts and its summary (``apply.summary``)."""
    await _move(
        conn,
        run_id,
        RunStatus.SUCCEEDED,
        """, finished_at = now(),
           counts = counts || jsonb_build_object('removed', $3::int, 'deleted', $4::int),
           summary = coalesce(summary, '{}') || jsonb_build_object(
             'removed', $5::jsonb,
             'totals', coalesce(summary -> 'totals', '{}') || jsonb_build_object('removed', $6::int))""",
        (removed, deleted, summary["removed"], summary["totals"]["removed"]),
    )
    metrics.members_applied({"removed": removed, "deleted": deleted})  # the run's end was counted as it held
    await drop_staging(conn, run_id)


async def fail(conn: asyncpg.Connection, run_id: str, reason: str, graph_requests: int | None = None) -> None:
    """End an active run as failed; nobody is removed, the staged snapshot is dropped."""
    await _move(
        conn,
        run_id,
        RunStatus.FAILED,
        ", error = $3, finished_at = now(), graph_requests = coalesce($4, graph_requests)",
        (reason, graph_requests),
    )
    await metrics.run_ended(conn, run_id)
    await drop_staging(conn, run_id)


async def record_graph_requests(conn: asyncpg.Connection, run_id: str, requests: int) -> None:
    await conn.execute("UPDATE sync_runs SET graph_requests = $2 WHERE id = $1", run_id, requests)


async def add_member_errors(
    database: asyncpg.Connection | asyncpg.Pool, run_id: str, errors: list[dict[str, str | None]]
) -> None:
    """Errors about single members found outside the apply (a photo, an invite that could not be sent)."""
    if errors:
        await database.execute(
            "UPDATE sync_runs SET member_errors = member_errors || $2::jsonb WHERE id = $1", run_id, errors
        )


# Where a run's snapshot waits for its apply; an ended run's goes.
_STAGING = (
    "snapshot_users",
    "snapshot_listings",
    "snapshot_removals",
    "snapshot_pages",
    "snapshot_completions",
)


async def drop_staging(conn: asyncpg.Connection, run_id: str) -> None:
    for table in _STAGING:
        await conn.execute(f"DELETE FROM {table} WHERE run_id = $1", run_id)


# A run that changed nothing (the partial index sync_runs_no_change has the same predicate, word for word).
NO_CHANGE_SQL = (
    "status = 'succeeded' AND NOT dry_run AND error IS NULL AND member_errors = '[]'::jsonb"
    " AND counts ->> 'created' = '0' AND counts ->> 'invited' = '0' AND counts ->> 'updated' = '0'"
    " AND counts ->> 'removed' = '0' AND counts ->> 'deleted' = '0'"
)


async def count_unchanged_by_day(pool: asyncpg.Pool, keep: int) -> int:
    """Past each team's newest ``keep`` runs that changed nothing, turn the older ones into counts per day
    (``sync_run_days``); how many runs went. Safe with several callers: whoever deletes a run counts it."""
    teams = await pool.fetch(
        f"SELECT team_id FROM sync_runs WHERE {NO_CHANGE_SQL} GROUP BY team_id HAVING count(*) > $1", keep
    )
    gone = 0
    for team in teams:
        gone += await pool.fetchval(
            f"""WITH old AS (
                  SELECT id FROM sync_runs WHERE team_id = $1 AND {NO_CHANGE_SQL}
                   ORDER BY created_at DESC, id DESC OFFSET $2),
                gone AS (
                  DELETE FROM sync_runs r USING old WHERE r.id = old.id
                  RETURNING r.team_id, (r.created_at AT TIME ZONE 'UTC')::date AS day, r.graph_requests),
                counted AS (
                  INSERT INTO sync_run_days (team_id, day, runs, graph_requests)
                  SELECT team_id, day, count(*), sum(graph_requests) FROM gone GROUP BY team_id, day
                  ON CONFLICT (team_id, day) DO UPDATE SET runs = sync_run_days.runs + EXCLUDED.runs,
                    graph_requests = sync_run_days.graph_requests + EXCLUDED.graph_requests)
                SELECT count(*) FROM gone""",
            team["team_id"],
            keep,
        )
    return gone
