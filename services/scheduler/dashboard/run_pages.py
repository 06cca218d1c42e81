"""Runs: Sync Now and Preview, the list that follows active runs, and one run's page (its plan, errors,
held removals and Approve)."""

from __future__ import annotations

from aiohttp import web

from services.scheduler.dashboard import api
from services.scheduler.dashboard.page_render import back_to, html, page, viewer
from services.scheduler.dashboard.plan_view import PLAN_LISTS, plan_rows, search_rows
from services.scheduler.dashboard.team_pages import team_context

_RUNS = "/api/v1/teams/{team_id}/sync/runs"
ACTIVE = ("queued", "fetching", "reconciling")
PLAN_PAGE = 50
HELD_SHOWN = 200


def _page_number(text: str) -> int:
    return int(text) if text.isdigit() and 0 < int(text) < 1_000_000 else 1


@page
async def start(request: web.Request) -> web.Response:
    """Sync Now or Preview; either way, to the run's page to watch it."""
    form = await request.post()
    me = await viewer(request)
    body = {"dry_run": form.get("dry_run") == "true", "requested_by": me.get("email")}
    answer = await api.call(request, "POST", _RUNS, body=body, csrf=str(form.get("csrf_token", "")))
    if not answer.ok:
        raise api.Failed(answer)
    raise back_to(f"/teams/{request.match_info['team_id']}/runs/{answer.body['id']}")


@page
async def runs(request: web.Request) -> web.Response:
    ctx = await team_context(request)
    listed = await api.get(request, _RUNS, limit="50")
    active = any(r["status"] in ACTIVE for r in listed["runs"])
    return html(request, "runs.html.j2", **ctx, runs=listed["runs"], active=active)


@page
async def run(request: web.Request) -> web.Response:
    ctx = await team_context(request)
    found = await api.get(request, _RUNS + "/{run_id}")
    text, kind = request.query.get("q", ""), request.query.get("kind", "")
    rows = (
        search_rows(plan_rows(found["plan"]), text, kind if kind in PLAN_LISTS else "")
        if found["plan"]
        else []
    )
    held, delete = None, False
    if found["status"] == "held":  # whom Approve would remove (R10)
        held = await api.get(request, _RUNS + "/{run_id}/held", limit=str(HELD_SHOWN))
        delete = (await api.get(request, "/api/v1/teams/{team_id}/sync/config"))["delete_on_removal"]
    number = _page_number(request.query.get("page", "1"))
    shown = rows[(number - 1) * PLAN_PAGE : number * PLAN_PAGE]
    return html(
        request,
        "run.html.j2",
        **ctx,
        run=found,
        active=found["status"] in ACTIVE,
        held=held,
        delete_on_removal=delete,
        rows=shown,
        total=len(rows),
        number=number,
        pages=max(1, -(-len(rows) // PLAN_PAGE)),
        q=text,
        kind=kind,
        lists=PLAN_LISTS,
        notice="The held changes are approved and applied."
        if request.query.get("done") == "approved"
        else "",
        error="",
    )


@page
async def approve(request: web.Request) -> web.Response:
    form = await request.post()
    answer = await api.call(
        request, "POST", _RUNS + "/{run_id}/approve", csrf=str(form.get("csrf_token", ""))
    )
    if not answer.ok:
        raise api.Failed(answer)
    raise back_to(f"/teams/{request.match_info['team_id']}/runs/{request.match_info['run_id']}?done=approved")


@page
async def apply_plan(request: web.Request) -> web.Response:
    """Apply a preview's plan (R18): the page of the run that applies it follows."""
    form = await request.post()
    answer = await api.call(request, "POST", _RUNS + "/{run_id}/apply", csrf=str(form.get("csrf_token", "")))
    if not answer.ok:
        raise api.Failed(answer)
    raise back_to(f"/teams/{request.match_info['team_id']}/runs/{answer.body['id']}")


ROUTES = (
    web.post("/teams/{team_id}/runs", start),
    web.get("/teams/{team_id}/runs", runs),
    web.get("/teams/{team_id}/runs/{run_id}", run),
    web.post("/teams/{team_id}/runs/{run_id}/approve", approve),
    web.post("/teams/{team_id}/runs/{run_id}/apply", apply_plan),
)
