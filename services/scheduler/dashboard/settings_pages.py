"""The sync settings: groups (type-ahead search, chips), field toggles, cadence, switches and the removal
guard, saved whole with the ETag it was read at."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from services.scheduler.api.models.config import ConfigIn
from services.scheduler.dashboard import api
from services.scheduler.dashboard.forms import FIELD_SOURCES, cadences, config_from_form
from services.scheduler.dashboard.page_render import back_to, html, page
from services.scheduler.dashboard.team_pages import team_context

_CONFIG = "/api/v1/teams/{team_id}/sync/config"
_GROUPS = "/api/v1/teams/{team_id}/directory/groups"
STALE = "Someone else saved this: reload to see their changes."


async def _groups_found(request: web.Request, search: str, chosen: set[str]) -> tuple[list[dict], str]:
    """The directory's groups matching ``search``, less those already chosen; or why there are none."""
    answer = await api.call(request, "GET", _GROUPS, query={"search": search, "limit": "25"})
    if not answer.ok:
        return [], answer.detail
    return [g for g in answer.body["groups"] if g["id"] not in chosen], ""


async def _show(
    request: web.Request, config: dict[str, Any], etag: str, status: int = 200, **extra: Any
) -> web.Response:
    ctx = await team_context(request)
    subteams = await api.get(request, "/api/v1/teams/{team_id}/subteams")
    counts = {s["directory_group_id"]: s["member_count"] for s in subteams["subteams"]}
    values: dict[str, Any] = {
        "errors": {},
        "error": "",
        "stale": False,
        "search": "",
        "found": None,
        "search_error": "",
        "notice": "Saved. The next run uses these settings." if request.query.get("done") == "saved" else "",
    }
    values.update(extra)
    return html(
        request,
        "settings.html.j2",
        status,
        **ctx,
        config=config,
        etag=etag,
        counts=counts,
        sources=FIELD_SOURCES,
        cadences=cadences(ConfigIn),
        **values,
    )


@page
async def settings(request: web.Request) -> web.Response:
    answer = await api.call(request, "GET", _CONFIG)
    if not answer.ok:
        raise api.Failed(answer)
    return await _show(request, answer.body, answer.headers.get("ETag", ""))


@page
async def groups(request: web.Request) -> web.Response:
    """The type-ahead's results, a fragment for the picker."""
    search = request.query.get("search", "")
    found, error = await _groups_found(request, search, set(request.query.getall("group", [])))
    return html(request, "group_results.html.j2", found=found, search_error=error, search=search)


@page
async def save(request: web.Request) -> web.Response:
    form = await request.post()
    saved = await api.call(request, "GET", _CONFIG)
    if not saved.ok:
        raise api.Failed(saved)
    draft = config_from_form(form, saved.body)
    draft["next_run_at"] = saved.body.get("next_run_at")
    etag = str(form.get("etag", ""))
    if form.get("action") == "search":  # without script, the search button draws the page again with results
        search = str(form.get("search", ""))
        found, error = await _groups_found(request, search, {g["id"] for g in draft["groups"]})
        return await _show(request, draft, etag, search=search, found=found, search_error=error)
    answer = await api.call(
        request, "PUT", _CONFIG, body=draft, csrf=str(form.get("csrf_token", "")), headers={"If-Match": etag}
    )
    if answer.ok:
        raise back_to(f"/teams/{request.match_info['team_id']}/settings?done=saved")
    if answer.status == 412:
        return await _show(request, draft, etag, 412, stale=True, error=STALE)
    errors = answer.field_errors()
    return await _show(request, draft, etag, answer.status, errors=errors, error=answer.detail)


ROUTES = (
    web.get("/teams/{team_id}/settings", settings),
    web.post("/teams/{team_id}/settings", save),
    web.get("/teams/{team_id}/settings/groups", groups),
)
