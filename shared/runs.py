"""The sync run's lifecycle (R17): its states, the moves allowed between them, its progress, and the only SQL
that writes ``sync_runs``. The scheduler queues a run and approves a held one, the fetcher starts its fetch,
the reconciler applies it and ends it, the stall sweep fails it, the fetcher and the notifier add member
errors, and each service records its progress: all of them through here.

A run whose snapshot promised photos is ``photos`` once applied (its members listed) and ends when they are
stored: the API shows that state as ``reconciling`` in phase ``photos``, so that the statuses it answers stay
the six of the spec.

A move the table does not allow raises ``TransitionRefused``: it is a bug, or a race a caller must rule out
under the run's lock. Redelivered messages re-enter a state they already reached: those are self-moves in the
table (``fetching`` again restarts a fetch, ``reconciling`` again finds the snapshot whole again), and a call
site that may see a run past its step asks ``allowed`` first and ignores the message.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Literal, Self

import asyncpg
from pydantic import ValidationError

from shared import metrics, run_notices
from shared.config import SyncConfig
from shared.failures import Cause
from shared.messages import WebhookEvent

log = logging.getLogger(__name__)


class RunStatus(StrEnum):
    QUEUED = "queued"
    FETCHING = "fetching"
    RECONCILING = "reconciling"
    PHOTOS = "photos"  # applied; the photos the fetcher checks after the apply are not all stored yet
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    HELD = "held"


ACTIVE = (RunStatus.QUEUED, RunStatus.FETCHING, RunStatus.RECONCILING, RunStatus.PHOTOS)
# Written out: PostgreSQL answers from the partial index of active runs only for the same literal list.
ACTIVE_SQL = "(" + ", ".join(f"'{s}'" for s in ACTIVE) + ")"
# The states the API answers: ``photos`` is shown as the end of ``reconciling``.
PUBLIC = tuple(s for s in RunStatus if s != RunStatus.PHOTOS)
PUBLIC_STATUS_SQL = f"CASE status WHEN '{RunStatus.PHOTOS}' THEN '{RunStatus.RECONCILING}' ELSE status END"
# An active run's progress as the API answers it; NULL for a queued run (nothing started) and an ended one.
PUBLIC_PROGRESS_SQL = (
    f"CASE WHEN status IN {ACTIVE_SQL} THEN progress || jsonb_build_object('updated_at', progress_at) END"
)


class Phase(StrEnum):
    FETCHING = "fetching"
    RECONCILING = "reconciling"
    PHOTOS = "photos"


COUNTERS = ("users_read", "members_applied", "photos_checked", "photos_stored")
PROGRESS_EVERY = 2.0  # seconds between a working service's progress writes (the API promises at most 5)

TRANSITIONS: Mapping[RunStatus, frozenset[RunStatus]] = {
    # queued -> reconciling: an undo run, or one applying a merge decision, reads no directory.
    RunStatus.QUEUED: frozenset({RunStatus.FETCHING, RunStatus.RECONCILING, RunStatus.FAILED}),
    # fetching -> fetching: a redelivered SyncRequested starts the fetch over.
    RunStatus.FETCHING: frozenset({RunStatus.FETCHING, RunStatus.RECONCILING, RunStatus.FAILED}),
    # reconciling -> reconciling: a redelivered page or completion finds the snapshot whole again (the apply
    # itself runs once, under the run's lock).
    RunStatus.RECONCILING: frozenset(
        {RunStatus.RECONCILING, RunStatus.PHOTOS, RunStatus.SUCCEEDED, RunStatus.HELD, RunStatus.FAILED}
    ),
    # photos -> succeeded once they are stored, -> failed when their check could not finish.
    RunStatus.PHOTOS: frozenset({RunStatus.SUCCEEDED, RunStatus.FAILED}),
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
    applies_run: str | None = None  # the dry run whose plan this run applies, only while it is the same

    @property
    def active(self) -> bool:
        return self.status in ACTIVE


def _run(run_id: str, row: asyncpg.Record) -> Run:
    try:
        config, error = SyncConfig.model_validate(row["config"] or {}), None
    except ValidationError as exc:
        config, error = None, f"the run's sync configuration is invalid: {exc.errors()[0]['msg']}"
    applies = str(row["applies_run"]) if row["applies_run"] else None
    return Run(run_id, str(row["team_id"]), RunStatus(row["status"]), row["dry_run"], config, error, applies)


_WITH_CONFIG = (
    "SELECT r.team_id, r.status, r.dry_run, coalesce(r.config, c.config) AS config, r.applies_run"
    " FROM sync_runs r"
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
    undoes: Any = None,
    applies_run: Any = None,
) -> asyncpg.Record | None:
    """A new queued run (its ``returning`` columns); None when the team has an active run already.
    ``undoes``: the run this one reverses (an undo run, ``start_direct``); ``applies_run``: the dry run whose
    plan the new run is to apply (R18)."""
    return await conn.fetchrow(
        "INSERT INTO sync_runs (team_id, trigger, requested_by, dry_run, config, undoes, applies_run)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7)"
        f" ON CONFLICT (team_id) WHERE status IN {ACTIVE_SQL} DO NOTHING RETURNING {returning}",
        team_id,
        trigger,
        requested_by,
        dry_run,
        config,
        undoes,
        applies_run,
    )


async def configure_queued(conn: asyncpg.Connection, team_id: Any, config: dict[str, Any]) -> None:
    """R15: a saved configuration applies from the next run, and a run no fetcher has taken yet is the
    next."""
    await conn.execute(
        "UPDATE sync_runs SET config = $2 WHERE team_id = $1 AND status = 'queued'", team_id, config
    )


async def _move(
    conn: asyncpg.Connection,
    run_id: str,
    to: RunStatus | str,
    sets: str = "",
    args: tuple[Any, ...] = (),
    only_from: RunStatus | frozenset[RunStatus] | None = None,
) -> RunStatus:
    """Move the run to ``to`` (from ``only_from`` alone, a state or a set of them, when given), setting
    ``sets`` too (its parameters from $3); the status it left. Locks the run's row until the caller's
    transaction ends."""
    to = RunStatus(to)
    was = await conn.fetchval("SELECT status FROM sync_runs WHERE id = $1 FOR UPDATE", run_id)
    if was is None:
        raise UnknownRun(f"no run {run_id}")
    froms = {only_from} if isinstance(only_from, RunStatus) else only_from
    if not allowed(was, to) or (froms is not None and was not in froms):
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
    await _move(
        conn,
        run_id,
        RunStatus.FETCHING,
        ", started_at = coalesce(started_at, now()), progress = $3, progress_at = now()",
        ({"phase": Phase.FETCHING.value} | dict.fromkeys(COUNTERS, 0),),
    )
    return _run(run_id, dict(row) | {"status": RunStatus.FETCHING})


_SNAPSHOT_WHOLE = frozenset({RunStatus.FETCHING, RunStatus.RECONCILING})


async def start_reconciling(conn: asyncpg.Connection, run_id: str) -> bool:
    """The run's snapshot is whole: mark it ``reconciling``; False when it was already. A queued run has no
    snapshot: only runs that read none go from there (``start_direct``)."""
    was = await _move(conn, run_id, RunStatus.RECONCILING, only_from=_SNAPSHOT_WHOLE)
    if was == RunStatus.RECONCILING:
        return False
    await _set_phase(conn, run_id, Phase.RECONCILING)
    return True


async def start_direct(conn: asyncpg.Connection, run_id: str) -> bool:
    """Take a queued run that reads no directory (an undo, an admin's decision on a merge): it goes straight
    to ``reconciling``; False, and nothing moves, when it is not queued (a redelivered request)."""
    was = await conn.fetchval("SELECT status FROM sync_runs WHERE id = $1 FOR UPDATE", run_id)
    if was != RunStatus.QUEUED:
        return False
    await _move(
        conn,
        run_id,
        RunStatus.RECONCILING,
        ", started_at = now(), progress = $3, progress_at = now()",
        ({"phase": Phase.RECONCILING.value} | dict.fromkeys(COUNTERS, 0),),
    )
    return True


async def _set_phase(conn: asyncpg.Connection, run_id: str, phase: Phase) -> None:
    await conn.execute(
        "UPDATE sync_runs SET progress = coalesce(progress, '{}') || jsonb_build_object('phase', $2::text),"
        " progress_at = now() WHERE id = $1",
        run_id,
        phase.value,
    )


async def approve(conn: asyncpg.Connection, run_id: str) -> None:
    """R10: move a held run back to ``reconciling``, for the reconciler to apply the removals it held. An
    approved run starts again: the stall sweep counts its progress from now."""
    try:
        async with conn.transaction():  # a savepoint: the caller's transaction survives a refusal
            sets = (
                ", started_at = now(), finished_at = NULL, progress_at = now(),"
                " progress = coalesce(progress, '{}') || jsonb_build_object('phase', $3::text)"
            )
            await _move(conn, run_id, RunStatus.RECONCILING, sets, (Phase.RECONCILING.value,), RunStatus.HELD)
    except asyncpg.UniqueViolationError as exc:
        raise TeamBusy(f"another run of the team is queued or running; run {run_id} stays held") from exc


async def _announce_end(conn: asyncpg.Connection, run_id: str) -> None:
    """A run ended (succeeded or failed): ``run.finished`` for the team's webhooks that take it, written to
    the outbox in the transaction that ends the run; nothing when the team has none."""
    team_id = await conn.fetchval(
        "SELECT r.team_id::text FROM sync_runs r WHERE r.id = $1 AND EXISTS (SELECT 1 FROM webhooks w"
        " WHERE w.team_id = r.team_id AND 'run.finished' = ANY(w.events))",
        run_id,
    )
    if team_id is not None:
        message = WebhookEvent(team_id=team_id, run_id=str(run_id), event="run.finished")
        await conn.execute(
            "INSERT INTO outbox (routing_key, message_id, body) VALUES ($1, $2, $3)",
            message.routing_key,
            message.message_id,
            message.to_bytes(),
        )


async def finish(
    conn: asyncpg.Connection,
    run_id: str,
    status: Literal[RunStatus.SUCCEEDED, RunStatus.HELD, RunStatus.PHOTOS],
    counts: dict[str, int],
    member_errors: list[dict[str, str]],
    plan: dict[str, Any] | None = None,
    summary: dict[str, Any] | None = None,
    plan_hash: str | None = None,
) -> None:
    """End an applied (or, dry, previewed) run, or, ``photos``, leave it waiting for its photos
    (``end_photos``); its member errors are added to the ones it has (the fetcher's)."""
    applied = sum(counts.get(k, 0) for k in ("created", "updated", "unchanged", "removed", "deleted"))
    ends = status != RunStatus.PHOTOS
    await _move(
        conn,
        run_id,
        status,
        ", counts = $3, member_errors = member_errors || $4::jsonb, plan = $5, summary = $6, error = NULL,"
        " plan_hash = $9,"
        " progress = coalesce(progress, '{}') || jsonb_build_object('phase', $7::text, 'members_applied', "
        "$8::int),"
        f" progress_at = now(){', finished_at = now()' if ends else ''}",
        (
            counts,
            member_errors,
            plan,
            summary,
            (Phase.RECONCILING if ends else Phase.PHOTOS).value,
            applied,
            plan_hash,
        ),
    )
    await metrics.run_ended(conn, run_id)
    if not ends:  # applied now, whatever the photos: the run's end is counted once they are in
        metrics.members_applied(counts)
    else:
        await run_notices.after_end(conn, run_id)
    if status == RunStatus.SUCCEEDED:
        await _announce_end(conn, run_id)
    await drop_staging(conn, run_id)


async def end_photos(
    conn: asyncpg.Connection,
    run_id: str,
    error: str | None,
    graph_requests: int,
    cause: str | None = Cause.UNKNOWN,
) -> None:
    """End a run whose photos are in: succeeded, or failed saying why its photo check stopped short (its
    members stay as the apply left them), and for what ``cause``. The photo check's Graph requests join the
    run's."""
    sets = ", finished_at = now(), graph_requests = graph_requests + $3"
    if error is None:
        await _move(conn, run_id, RunStatus.SUCCEEDED, sets, (graph_requests,), RunStatus.PHOTOS)
    else:
        await _move(
            conn,
            run_id,
            RunStatus.FAILED,
            sets + ", error = $4, failure_cause = $5",
            (graph_requests, error, str(cause or Cause.UNKNOWN)),
            RunStatus.PHOTOS,
        )
    await metrics.run_ended(conn, run_id, members=False)  # its members were counted at its apply
    await _announce_end(conn, run_id)
    await run_notices.after_end(conn, run_id)
    await drop_staging(conn, run_id)


async def finish_approved(
    conn: asyncpg.Connection,
    run_id: str,
    removed: int,
    deleted: int,
    summary: dict[str, Any],
    created: int = 0,
    invited: int = 0,
) -> None:
    """End an approved run: the removals and the new members it applied join its counts and its summary
    (``apply.summary``; the new members as ``approved_added``, beside whom the held run added itself)."""
    await _move(
        conn,
        run_id,
        RunStatus.SUCCEEDED,
        """, finished_at = now(),
           counts = counts || jsonb_build_object('removed', $3::int, 'deleted', $4::int)
                   || CASE WHEN $7::int > 0
                      THEN jsonb_build_object('created', $7::int, 'invited', $8::int) ELSE '{}' END,
           summary = coalesce(summary, '{}') || jsonb_build_object(
             'removed', $5::jsonb,
             'totals', coalesce(summary -> 'totals', '{}') || jsonb_build_object('removed', $6::int))
             || CASE WHEN $7::int > 0 THEN jsonb_build_object(
                  'approved_added', $9::jsonb,
                  'totals', coalesce(summary -> 'totals', '{}')
                    || jsonb_build_object('removed', $6::int, 'approved_added', $10::int))
                ELSE '{}' END""",
        (
            removed,
            deleted,
            summary["removed"],
            summary["totals"]["removed"],
            created,
            invited,
            summary.get("added", []),
            summary["totals"].get("added", 0),
        ),
    )
    # the run's end was counted as it held
    metrics.members_applied({"removed": removed, "deleted": deleted, "created": created})
    await _announce_end(conn, run_id)
    await run_notices.after_end(conn, run_id)
    await drop_staging(conn, run_id)


async def fail(
    conn: asyncpg.Connection,
    run_id: str,
    reason: str,
    graph_requests: int | None = None,
    cause: str | None = Cause.UNKNOWN,
) -> None:
    """End an active run as failed, saying why (``reason``, in words) and for what ``cause``
    (``shared.failures``); what it had not applied is not (a run failed before its apply removes nobody),
    and the staged snapshot is dropped. The admins hear of it (``run_notices``)."""
    await _move(
        conn,
        run_id,
        RunStatus.FAILED,
        ", error = $3, finished_at = now(), graph_requests = coalesce($4, graph_requests),"
        " failure_cause = $5",
        (reason, graph_requests, str(cause or Cause.UNKNOWN)),
    )
    await metrics.run_ended(conn, run_id)
    await _announce_end(conn, run_id)
    await run_notices.after_end(conn, run_id)
    await drop_staging(conn, run_id)


async def record_graph_requests(conn: asyncpg.Connection, run_id: str, requests: int) -> None:
    await conn.execute("UPDATE sync_runs SET graph_requests = $2 WHERE id = $1", run_id, requests)


async def record_progress(
    database: asyncpg.Connection | asyncpg.Pool, run_id: str, status: RunStatus, counters: Mapping[str, int]
) -> None:
    """Merge ``counters`` into the run's progress, and stamp it, while the run is still ``status`` (a late
    write from a phase the run has left changes nothing)."""
    await database.execute(
        "UPDATE sync_runs SET progress = coalesce(progress, '{}') || $3::jsonb, progress_at = now()"
        " WHERE id = $1 AND status = $2",
        run_id,
        status.value,
        dict(counters),
    )


class Progress:
    """A service's part of a run's progress while it works on the run in ``status``: ``read()`` is written
    every ``every`` seconds, whether it changed or not (the API promises progress at most 5 s old, and the
    stall sweep reads the writes as the run moving), and, with ``last_word``, once more when the work ends
    without an error. Writes go through the pool, outside the caller's transaction, which nobody sees before
    it commits; one still waiting when the work ends is cancelled, so that a caller holding a connection (or
    the run's row) never waits for another."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        run_id: str,
        status: RunStatus,
        read: Callable[[], Mapping[str, int]],
        *,
        last_word: bool = True,
        every: float = PROGRESS_EVERY,
    ):
        self.pool, self.run_id, self.status, self.read = pool, run_id, status, read
        self.last_word, self.every = last_word, every
        self._beat: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Self:
        self._beat = asyncio.create_task(self._beating())
        return self

    async def __aexit__(self, kind: type[BaseException] | None, *_: object) -> None:
        if self._beat is not None:
            self._beat.cancel()
            await asyncio.gather(self._beat, return_exceptions=True)
        if kind is None and self.last_word:
            await self.write()

    async def _beating(self) -> None:
        while True:
            await asyncio.sleep(self.every)
            await self.write()

    async def write(self) -> None:
        try:
            await record_progress(self.pool, self.run_id, self.status, self.read())
        except (OSError, asyncpg.PostgresError) as exc:  # progress is for show; the work goes on
            log.warning("run %s: progress not recorded: %r", self.run_id, exc)


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
    "photo_deliveries",
    "photo_completions",
)


# One statement, one round trip, for the seven tables.
_DROP_STAGING = (
    "WITH "
    + ", ".join(f"d{n} AS (DELETE FROM {table} WHERE run_id = $1)" for n, table in enumerate(_STAGING))
    + " SELECT 1"
)


async def drop_staging(conn: asyncpg.Connection, run_id: str) -> None:
    await conn.execute(_DROP_STAGING, run_id)


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
