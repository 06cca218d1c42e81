"""The sign-in page (Microsoft, or the operator's break-glass token), signing out, and where ``/`` leads."""

from __future__ import annotations

from aiohttp import web

from services.scheduler.api.problems import Problem
from services.scheduler.api.routes.signin import logout, operator_login, safe_next
from services.scheduler.dashboard.page_render import html, page, viewer


async def signin(request: web.Request) -> web.Response:
    return html(request, "signin.html.j2", next=safe_next(request.query.get("next")), error="")


async def operator(request: web.Request) -> web.StreamResponse:
    """The break-glass form, answered by the API's own operator login; a wrong token is said beside the
    field."""
    try:
        return await operator_login(request)
    except Problem as exc:
        if exc.status != 401:
            raise
        form = await request.post()
        error = "That is not the operator token. Check it and try again."
        return html(request, "signin.html.j2", 401, next=safe_next(str(form.get("next", ""))), error=error)


async def signout(request: web.Request) -> web.StreamResponse:
    await logout(request)
    response = web.HTTPSeeOther("/signin")
    response.del_cookie("cardsync_session", path="/")
    return response


@page
async def home(request: web.Request) -> web.StreamResponse:
    """The operator's teams; an admin of one team goes straight to it."""
    me = await viewer(request)
    teams = me.get("teams")
    if me["kind"] != "operator" and teams and len(teams) == 1:
        raise web.HTTPSeeOther(f"/teams/{teams[0]['id']}")
    raise web.HTTPSeeOther("/teams")


ROUTES = (
    web.get("/", home),
    web.get("/signin", signin),
    web.post("/signin/operator", operator),
    web.post("/signout", signout),
)
