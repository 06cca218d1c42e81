"""The teams: the list, making one with its first admins (the operator), and a team's home page."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from services.scheduler.dashboard import api
from services.scheduler.dashboard.forms import parse_admins
from services.scheduler.dashboard.page_render import html, page, viewer


@page
async def teams(request: web.Request) -> web.Response:
    me = await viewer(request)
    listed = await api.get(request, "/api/v1/teams")
    return html(request, "teams.html.j2", me=me, teams=listed["teams"], form={}, errors={}, created=None)


@page
async def create_team(request: web.Request) -> web.Response:
    me = await viewer(request)
    form = await request.post()
    body = {"name": str(form.get("name", "")).strip(), "admins": parse_admins(str(form.get("admins", "")))}
    answer = await api.call(request, "POST", "/api/v1/teams", body=body, csrf=str(form.get("csrf_token", "")))
    listed = await api.get(request, "/api/v1/teams")
    if answer.ok:
        return html(
            request,
            "teams.html.j2",
            201,
            me=me,
            teams=listed["teams"],
            form={},
            errors={},
            created=answer.body,
        )
    errors: dict[str, Any] = answer.field_errors() or {"": answer.detail}
    return html(
        request,
        "teams.html.j2",
        answer.status,
        me=me,
        teams=listed["teams"],
        form=form,
        errors=errors,
        created=None,
    )


async def team_context(request: web.Request) -> dict[str, Any]:
    """What every page of a team shows: who is looking and the team."""
    me = await viewer(request)
    team = await api.get(request, "/api/v1/teams/{team_id}")
    return {"me": me, "team": team}


@page
async def team_home(request: web.Request) -> web.Response:
    ctx = await team_context(request)
    directory = await api.call(request, "GET", "/api/v1/teams/{team_id}/directory")
    config = await api.get(request, "/api/v1/teams/{team_id}/sync/config")
    runs = await api.get(request, "/api/v1/teams/{team_id}/sync/runs", limit="5")
    return html(
        request,
        "team.html.j2",
        **ctx,
        directory=directory.body if directory.ok else None,
        config=config,
        runs=runs["runs"],
    )


ROUTES = (
    web.get("/teams", teams),
    web.post("/teams", create_team),
    web.get("/teams/{team_id}", team_home),
)
