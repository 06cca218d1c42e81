"""Runs: Sync Now (coalesced with an active run, R15; a dry run previews, R18), the run records (R17),
approving held removals and additions (R10; the reconciler applies them), and undoing a run (the reconciler
applies the undo from the run's journal, as a run of its own)."""

from __future__ import annotations

from datetime import timedelta

import asyncpg
from aiohttp import web

from services.scheduler.api.endpoint import Call, Endpoint, json_response
from services.scheduler.api.models.runs import (
    HeldQuery,
    HeldRemovalOut,
    HeldRemovalsOut,
    RunIn,
    RunOut,
    RunsOut,
    RunsQuery,
)
from services.scheduler.api.problems import Problem
from services.scheduler.run_queue import RUN_COLUMNS, queue_run, saved_config
from shared import db, runs, undo
from shared.messages import RunApproved, RunUndoRequested


async def create_run(call: Call) -> web.Response:
    body: RunIn = call.body
    async with call.pool.acquire() as conn, conn.transaction():
        run, new = await queue_run(
            conn,
            call.team,
            trigger="manual",
            requested_by=body.requested_by or call.caller.name,
            dry_run=body.dry_run,
        )
        if new:
            await call.audit("run.request", {"run_id": str(run["id"]), "dry_run": body.dry_run}, conn)
    return json_response(RunOut(**dict(run)), 202 if new else 200)


async def list_runs(call: Call) -> web.Response:
    query: RunsQuery = call.query
    rows = await call.pool.fetch(
        f"SELECT {RUN_COLUMNS} FROM sync_runs WHERE team_id = $1 ORDER BY created_at DESC, id DESC LIMIT $2",
        call.team,
        query.limit,
    )
    return json_response(RunsOut(runs=[RunOut(**dict(r)) for r in rows]))


async def get_run(call: Call) -> web.Response:
    row = await call.pool.fetchrow(
        f"SELECT {RUN_COLUMNS} FROM sync_runs WHERE id = $1 AND team_id = $2",
        call.path_id("run_id"),
        call.team,
    )
    if row is None:
        raise Problem(404, "no such run")
    return json_response(RunOut(**dict(row)))


async def list_held(call: Call) -> web.Response:
    """Whom a held run would remove (R10), for the admin deciding whether to approve."""
    query: HeldQuery = call.query
    run_id = call.path_id("run_id")
    async with call.pool.acquire() as conn:
        if not await conn.fetchval(
            "SELECT 1 FROM sync_runs WHERE id = $1 AND team_id = $2", run_id, call.team
        ):
            raise Problem(404, "no such run")
        total = await conn.fetchval("SELECT count(*) FROM held_removals WHERE run_id = $1", run_id)
        rows = await conn.fetch(
            "SELECT m.id AS member_id, coalesce(nullif(m.card_name, ''), a.name, '') AS name,"
            " coalesce(nullif(m.card_email, ''), a.email) AS email, m.status"
            " FROM held_removals h JOIN members m ON m.id = h.member_id"
            " JOIN accounts a ON a.id = m.account_id"
            " WHERE h.run_id = $1 AND m.team_id = $2 ORDER BY 2, 3, 1 LIMIT $3",
            run_id,
            call.team,
            query.limit,
        )
    removals = [HeldRemovalOut(**dict(r)) for r in rows]
    return json_response(HeldRemovalsOut(total=total, removals=removals))


async def approve_run(call: Call) -> web.Response:
    run_id = call.path_id("run_id")
    async with call.pool.acquire() as conn, conn.transaction():
        status = await conn.fetchval(
            "SELECT status FROM sync_runs WHERE id = $1 AND team_id = $2 FOR UPDATE", run_id, call.team
        )
        if status is None:
            raise Problem(404, "no such run")
        if status != "held":
            raise Problem(409, f"only a held run can be approved; this run is {status}")
        try:
            await runs.approve(conn, run_id)
        except runs.TeamBusy:
            raise Problem(
                409,
                "another run of this team is queued or running; once it has ended, approve the newest held "
                "run"
                " (a run that ends removes, or holds again, whoever is still gone)",
            ) from None
        # The reconciler applies the removals; the answer is the run, already out of ``held``.
        await db.enqueue(conn, RunApproved(team_id=str(call.team), run_id=str(run_id)))
        await call.audit("run.approve", {"run_id": str(run_id)}, conn)
        row = await conn.fetchrow(f"SELECT {RUN_COLUMNS} FROM sync_runs WHERE id = $1", run_id)
    return json_response(RunOut(**dict(row)))


async def undo_run(call: Call) -> web.Response:
    run_id = call.path_id("run_id")
    async with call.pool.acquire() as conn, conn.transaction():
        refused = await undo.refusal(conn, call.team, run_id)
        if refused is not None:
            if not refused.found:
                raise Problem(404, "no such run")
            errors = [
                {"loc": ["members", m["member_id"]], "msg": f"{m['name'] or m['email'] or ''}: {m['reason']}"}
                for m in refused.members
            ]
            raise Problem(409, refused.reason, errors=errors or None)
        # A run that ends between this look and the reconciler's is looked at again there: the undo run
        # fails then, saying which members a later run changed.
        config = await saved_config(conn, call.team)
        try:
            async with conn.transaction():
                row = await runs.queue(
                    conn, call.team, "manual", call.caller.name, False, config, RUN_COLUMNS, undoes=run_id
                )
        except asyncpg.UniqueViolationError:
            row = None
        if row is None:
            raise Problem(
                409, "another run of this team is queued or running; undo the run once it has ended"
            ) from None
        await db.enqueue(
            conn, RunUndoRequested(team_id=str(call.team), run_id=str(row["id"]), undoes=str(run_id))
        )
        await call.audit("run.undo", {"run_id": str(run_id), "undo_run_id": str(row["id"])}, conn)
    return json_response(RunOut(**dict(row)), 202)


PREVIEW_LIFE = timedelta(hours=24)


async def apply_preview(call: Call) -> web.Response:
    """R18: queue a run that applies a succeeded dry run's plan, while it is under 24 hours old, made with the
    configuration saved now, and no run has changed the team since. The run decides again from the directory
    and applies only when its plan has the preview's hash; else it fails, saying what moved."""
    run_id = call.path_id("run_id")
    async with call.pool.acquire() as conn, conn.transaction():
        preview = await conn.fetchrow(
            "SELECT dry_run, status, created_at, config, plan_hash, now() - finished_at AS age"
            " FROM sync_runs WHERE id = $1 AND team_id = $2 FOR UPDATE",
            run_id,
            call.team,
        )
        if preview is None:
            raise Problem(404, "no such run")
        if not preview["dry_run"]:
            raise Problem(409, "only a dry run's plan can be applied; this run is not a preview")
        if preview["status"] != "succeeded" or preview["plan_hash"] is None:
            raise Problem(409, f"only a succeeded preview can be applied; this one is {preview['status']}")
        if preview["age"] > PREVIEW_LIFE:
            hours = int(preview["age"].total_seconds() // 3600)
            raise Problem(
                409, f"the preview is {hours} hours old; a preview can be applied for 24 hours: preview again"
            )
        taken = await conn.fetchval("SELECT id FROM sync_runs WHERE applies_run = $1", run_id)
        if taken is not None:
            raise Problem(409, f"run {taken} was made to apply this preview already")
        later = await conn.fetchval(
            "SELECT id FROM sync_runs WHERE team_id = $1 AND NOT dry_run AND created_at > $2"
            " AND status IN ('succeeded', 'held', 'reconciling') ORDER BY created_at DESC LIMIT 1",
            call.team,
            preview["created_at"],
        )
        if later is not None:
            raise Problem(409, f"run {later} changed the team since the preview: preview again")
        saved = await saved_config(conn, call.team)
        changed = sorted(
            k
            for k in {*saved, *(preview["config"] or {})}
            if saved.get(k) != (preview["config"] or {}).get(k)
        )
        if changed:
            raise Problem(
                409, f"the sync configuration changed since the preview ({', '.join(changed)}): preview again"
            )
        run, new = await queue_run(
            conn, call.team, trigger="manual", requested_by=call.caller.name, applies_run=run_id
        )
        if not new:
            raise Problem(409, f"another run of this team is queued or running ({run['id']}); wait for it")
        await call.audit("run.apply", {"run_id": str(run["id"]), "preview": str(run_id)}, conn)
    return json_response(RunOut(**dict(run)), 202)


_RUN = "/api/v1/teams/{team_id}/sync/runs"
ENDPOINTS = (
    Endpoint(
        "POST",
        _RUN,
        create_run,
        "Sync Now: queue a run, or get the one already queued or running",
        {202: RunOut, 200: RunOut},
        body=RunIn,
    ),
    Endpoint("GET", _RUN, list_runs, "The team's runs, newest first", {200: RunsOut}, query=RunsQuery),
    Endpoint("GET", _RUN + "/{run_id}", get_run, "Read a run", {200: RunOut}),
    Endpoint(
        "GET",
        _RUN + "/{run_id}/held",
        list_held,
        "The removals a held run holds, by name",
        {200: HeldRemovalsOut},
        query=HeldQuery,
    ),
    Endpoint(
        "POST",
        _RUN + "/{run_id}/approve",
        approve_run,
        "Apply the removals and the new members (with their invites) a held run holds",
        {200: RunOut},
        problems={409: "the run is not held"},
    ),
    Endpoint(
        "POST",
        _RUN + "/{run_id}/undo",
        undo_run,
        "Undo a succeeded run: queue a run that puts back every member it created, changed, removed or"
        " deleted, as they were before it",
        {202: RunOut},
        problems={
            409: "the run cannot be undone: not succeeded, a dry run, an undo, undone already, more than 30"
            " days old, a member a later run changed (listed in errors), or another run is active"
        },
    ),
    Endpoint(
        "POST",
        _RUN + "/{run_id}/apply",
        apply_preview,
        "Apply exactly the plan a dry run previewed (a run that fails, saying what moved, if the directory "
        "changed it)",
        {202: RunOut},
        problems={
            409: "not a succeeded preview, older than 24 hours, applied already, or the configuration or the "
            "team changed since, or another run is active"
        },
    ),
)
