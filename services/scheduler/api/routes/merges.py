"""Merges a run proposed (R4, continuity on re-hire), and the admin's decision on each: the reconciler applies
it as a run of its own."""

from __future__ import annotations

from aiohttp import web

from services.scheduler.api.endpoint import Call, Endpoint, json_response
from services.scheduler.api.models.merges import MergeOut, MergesOut
from services.scheduler.api.problems import Problem
from services.scheduler.run_queue import saved_config
from shared import db, runs
from shared.messages import MergeDecided

_COLUMNS = (
    "id, run_id, member_id, old_directory_id, directory_id, email, seen -> 'card' -> 'f' ->> 'name' AS name,"
    " status, decided_by, decided_at, decision_run_id, created_at"
)


async def list_merges(call: Call) -> web.Response:
    run_id = call.path_id("run_id")
    async with call.pool.acquire() as conn:
        if not await conn.fetchval(
            "SELECT EXISTS (SELECT 1 FROM sync_runs WHERE id = $1 AND team_id = $2)", run_id, call.team
        ):
            raise Problem(404, "no such run")
        rows = await conn.fetch(
            f"SELECT {_COLUMNS} FROM member_merges WHERE run_id = $1 AND team_id = $2"
            " ORDER BY created_at, id",
            run_id,
            call.team,
        )
    return json_response(MergesOut(merges=[MergeOut(**dict(r)) for r in rows]))


async def _decide(call: Call, decision: str) -> web.Response:
    run_id, merge_id = call.path_id("run_id"), call.path_id("merge_id")
    async with call.pool.acquire() as conn, conn.transaction():
        status = await conn.fetchval(
            "SELECT status FROM member_merges WHERE id = $1 AND run_id = $2 AND team_id = $3 FOR UPDATE",
            merge_id,
            run_id,
            call.team,
        )
        if status is None:
            raise Problem(404, "no such merge")
        if status != "proposed":
            raise Problem(409, f"this merge was {status} already")
        config = await saved_config(conn, call.team)
        run = await runs.queue(conn, call.team, "manual", call.caller.name, False, config, "id")
        if run is None:
            raise Problem(409, "another run of this team is queued or running; decide once it has ended")
        row = await conn.fetchrow(
            f"UPDATE member_merges SET status = $2, decided_by = $3, decided_at = now(), decision_run_id = $4"
            f" WHERE id = $1 RETURNING {_COLUMNS}",
            merge_id,
            decision,
            call.caller.name,
            run["id"],
        )
        await db.enqueue(
            conn, MergeDecided(team_id=str(call.team), run_id=str(run["id"]), merge_id=str(merge_id))
        )
        await call.audit(
            f"merge.{decision.removesuffix('ed')}",
            {"run_id": str(run_id), "merge_id": str(merge_id), "decision_run_id": str(run["id"])},
            conn,
        )
    return json_response(MergeOut(**dict(row)), 202)


async def accept_merge(call: Call) -> web.Response:
    return await _decide(call, "accepted")


async def reject_merge(call: Call) -> web.Response:
    return await _decide(call, "rejected")


_MERGES = "/api/v1/teams/{team_id}/sync/runs/{run_id}/merges"
_BUSY = "the merge was decided already, or another run of the team is queued or running"
ENDPOINTS = (
    Endpoint("GET", _MERGES, list_merges, "The merges a run proposed", {200: MergesOut}),
    Endpoint(
        "POST",
        _MERGES + "/{merge_id}/accept",
        accept_merge,
        "Accept a proposed merge: the removed member comes back, bound to the new directory user (a run"
        " applies it: decision_run_id)",
        {202: MergeOut},
        problems={409: _BUSY},
    ),
    Endpoint(
        "POST",
        _MERGES + "/{merge_id}/reject",
        reject_merge,
        "Reject a proposed merge: the directory user becomes a new member, invited, and the removed member"
        " goes (a run applies it: decision_run_id)",
        {202: MergeOut},
        problems={409: _BUSY},
    ),
)
