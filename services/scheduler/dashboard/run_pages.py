"""Runs: Sync Now and Preview, the list that follows active runs, and one run's page (its plan, errors,
held removals and Approve)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from services.scheduler.dashboard import api
from services.scheduler.dashboard.render import back_to, html, page, viewer
from services.scheduler.dashboard.team_pages import team_context

_RUNS = "/api/v1/teams/{team_id}/sync/runs"
ACTIVE = ("queued", "fetching", "reconciling")
PLAN_PAGE = 50
PLAN_LISTS = {
    "create": "Joins",
    "update": "Changes",
    "remove": "Leaves",
    "invite": "Invited",
    "roles": "Roles",
}


def plan_rows(plan: dict[str, Any]) -> list[dict[str, Any]]:
    """The dry-run plan as one list of rows a person reads: what happens, to whom, and the details."""
    rows = []
    for kind, title in PLAN_LISTS.items():
        for entry in plan.get(kind) or []:
            rows.append({"kind": kind, "title": title, "who": _who(entry), "details": _details(kind, entry)})
    return rows


def _who(entry: dict[str, Any]) -> str:
    name, email = entry.get("name"), entry.get("email")
    if name and email:
        return f"{name} <{email}>"
    return name or email or entry.get("member_id") or entry.get("directory_id") or ""


def _details(kind: str, entry: dict[str, Any]) -> str:
    if kind == "update":
        parts = [
            f"{f.replace('_', ' ')}: {c.get('old') or '(empty)'} → {c.get('new') or '(empty)'}"
            for f, c in (entry.get("changes") or {}).items()
        ]
        subteams = entry.get("subteams") or {}
        parts += [f"joins group {g}" for g in subteams.get("join", [])]
        parts += [f"leaves group {g}" for g in subteams.get("leave", [])]
        return "; ".join(parts)
    if kind == "remove":
        return ("deleted" if entry.get("delete") else "deactivated") + (
            " (held by the guard)" if entry.get("held") else ""
        )
    if kind == "roles":
        return f"{entry.get('role')} of the {'team' if entry.get('scope') == 'team' else 'subteam'}"
    return ""


def search_rows(rows: list[dict[str, Any]], text: str, kind: str) -> list[dict[str, Any]]:
    needle = text.strip().lower()
    return [
        r
        for r in rows
        if (not kind or r["kind"] == kind)
        and (not needle or needle in r["who"].lower() or needle in r["details"].lower())
    ]


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
    number = _page_number(request.query.get("page", "1"))
    shown = rows[(number - 1) * PLAN_PAGE : number * PLAN_PAGE]
    return html(
        request,
        "run.html.j2",
        **ctx,
        run=found,
        active=found["status"] in ACTIVE,
        rows=shown,
        total=len(rows),
        number=number,
        pages=max(1, -(-len(rows) // PLAN_PAGE)),
        q=text,
        kind=kind,
        lists=PLAN_LISTS,
        notice="The held removals are approved and applied."
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


ROUTES = (
    web.post("/teams/{team_id}/runs", start),
    web.get("/teams/{team_id}/runs", runs),
    web.get("/teams/{team_id}/runs/{run_id}", run),
    web.post("/teams/{team_id}/runs/{run_id}/approve", approve),
)
