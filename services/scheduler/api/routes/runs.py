"""Runs: Sync Now (coalesced with an active run, R15; a dry run previews, R18), the run records (R17), and
approving held removals (R10; the reconciler applies them)."""

from __future__ import annotations

from aiohttp import web

from services.scheduler.api.endpoint import Call, Endpoint, json_response
from services.scheduler.api.models.runs import RunIn, RunOut, RunsOut, RunsQuery
from services.scheduler.api.problems import Problem
from services.scheduler.run_queue import RUN_COLUMNS, queue_run
from shared import db, runs
from shared.messages import RunApproved


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
        "POST",
        _RUN + "/{run_id}/approve",
        approve_run,
        "Apply the removals a held run holds",
        {200: RunOut},
        problems={409: "the run is not held"},
    ),
)
