"""Runs that changed nothing, counted by day once they are past the newest few kept whole."""

from __future__ import annotations

from aiohttp import web

from services.scheduler.api.endpoint import Call, Endpoint, json_response
from services.scheduler.api.models.runs import RunDayOut, RunDaysOut, RunsQuery


async def list_run_days(call: Call) -> web.Response:
    query: RunsQuery = call.query
    rows = await call.pool.fetch(
        "SELECT day, runs, graph_requests FROM sync_run_days WHERE team_id = $1 ORDER BY day DESC LIMIT $2",
        call.team,
        query.limit,
    )
    return json_response(RunDaysOut(days=[RunDayOut(**dict(r)) for r in rows]))


ENDPOINTS = (
    Endpoint(
        "GET",
        "/api/v1/teams/{team_id}/sync/run-days",
        list_run_days,
        "Runs that changed nothing and are no longer kept one by one: how many each day (UTC), newest first",
        {200: RunDaysOut},
        query=RunsQuery,
    ),
)
