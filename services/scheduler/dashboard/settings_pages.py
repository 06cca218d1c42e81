"""The sync settings: groups (type-ahead search, chips), field toggles, cadence, switches and the removal
guard, saved whole with the ETag it was read at."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from services.scheduler.api.models.config import ConfigIn
from services.scheduler.dashboard import api
from services.scheduler.dashboard.forms import (
    FIELD_SOURCES,
    cadences,
    config_from_form,
    mapping_errors,
    mapping_rows,
    mappings_from_rows,
    rows_from_mappings,
    with_blank_row,
)
from services.scheduler.dashboard.page_render import back_to, html, page
from services.scheduler.dashboard.team_pages import team_context
from shared.config import LINK_TYPES, PLAIN_SOURCES, SINGLE_USER_SOURCES

_CONFIG = "/api/v1/teams/{team_id}/sync/config"
_GROUPS = "/api/v1/teams/{team_id}/directory/groups"
STALE = "Someone else saved this: reload to see their changes."
GROUP_PAGE = 25


async def _groups_found(
    request: web.Request, search: str, chosen: set[str], cursor: str = ""
) -> tuple[list[dict], str, str]:
    """A page of the directory's groups matching ``search``, less those already chosen, and the cursor of the
    next page ("" on the last); or why there are none."""
    query = {"search": search, "limit": str(GROUP_PAGE), "cursor": cursor}
    answer = await api.call(request, "GET", _GROUPS, query=query)
    if not answer.ok:
        return [], answer.detail, ""
    found = [g for g in answer.body["groups"] if g["id"] not in chosen]
    return found, "", answer.body.get("next_cursor") or ""


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
        "next_cursor": "",
        "paged": False,
        "notice": "Saved. The next run uses these settings." if request.query.get("done") == "saved" else "",
    }
    values.update(extra)
    if "mapping_rows" not in values:
        values["mapping_rows"] = rows_from_mappings(config.get("custom_mappings"))
    origin = values.pop("origin", list(range(len(values["mapping_rows"]))))
    values["row_errors"], values["mappings_error"] = mapping_errors(values["errors"], origin)
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
        **mapping_choices(),
        **values,
    )


def mapping_choices() -> dict[str, Any]:
    """What a custom mapping may read and write, for the editor's suggestions and choices."""
    return {
        "mapping_sources": sorted(PLAIN_SOURCES - SINGLE_USER_SOURCES, key=str.casefold),
        "link_types": sorted(LINK_TYPES),
    }


@page
async def settings(request: web.Request) -> web.Response:
    answer = await api.call(request, "GET", _CONFIG)
    if not answer.ok:
        raise api.Failed(answer)
    return await _show(request, answer.body, answer.headers.get("ETag", ""))


@page
async def groups(request: web.Request) -> web.Response:
    """The type-ahead's results, a fragment for the picker."""
    search, cursor = request.query.get("search", ""), request.query.get("cursor", "")
    chosen = {g.partition("|")[0] for g in request.query.getall("group", [])}
    found, error, next_cursor = await _groups_found(request, search, chosen, cursor)
    return html(
        request,
        "group_results.html.j2",
        found=found,
        search_error=error,
        search=search,
        next_cursor=next_cursor,
        paged=bool(cursor),
        team_id=request.match_info["team_id"],
    )


@page
async def save(request: web.Request) -> web.Response:
    form = await request.post()
    saved = await api.call(request, "GET", _CONFIG)
    if not saved.ok:
        raise api.Failed(saved)
    draft = config_from_form(form, saved.body)
    draft["next_run_at"] = saved.body.get("next_run_at")
    etag = str(form.get("etag", ""))
    rows = mapping_rows(form)
    typed = {"mapping_rows": with_blank_row(rows), "origin": mappings_from_rows(rows)[1]}
    if form.get("action") == "search" or form.get("more"):  # without script: the page again, with results
        search, cursor = str(form.get("search", "")), str(form.get("more", ""))
        chosen = {g["id"] for g in draft["groups"]}
        found, error, next_cursor = await _groups_found(request, search, chosen, cursor)
        return await _show(
            request,
            draft,
            etag,
            search=search,
            found=found,
            search_error=error,
            next_cursor=next_cursor,
            paged=bool(cursor),
            **typed,
        )
    answer = await api.call(
        request, "PUT", _CONFIG, body=draft, csrf=str(form.get("csrf_token", "")), headers={"If-Match": etag}
    )
    if answer.ok:
        raise back_to(f"/teams/{request.match_info['team_id']}/settings?done=saved")
    if answer.status == 412:
        return await _show(request, draft, etag, 412, stale=True, error=STALE, **typed)
    errors = answer.field_errors()
    return await _show(request, draft, etag, answer.status, errors=errors, error=answer.detail, **typed)


@page
async def check_mappings(request: web.Request) -> web.Response:
    """The custom mappings as typed so far, checked by the API as a save would check them, drawn again with
    each error beside its field (htmx, while the admin types)."""
    form = await request.post()
    saved = await api.call(request, "GET", _CONFIG)
    if not saved.ok:
        raise api.Failed(saved)
    draft = config_from_form(form, saved.body)
    rows = mapping_rows(form)
    _, origin = mappings_from_rows(rows)
    answer = await api.call(
        request, "POST", _CONFIG + "/check", body=draft, csrf=str(form.get("csrf_token", ""))
    )
    if not answer.ok and answer.status != 422:
        raise api.Failed(answer)
    row_errors, general = mapping_errors(answer.field_errors() if not answer.ok else {}, origin)
    return html(
        request,
        "mappings.html.j2",
        mapping_rows=with_blank_row(rows),
        row_errors=row_errors,
        mappings_error=general,
        team_id=request.match_info["team_id"],
        **mapping_choices(),
    )


ROUTES = (
    web.get("/teams/{team_id}/settings", settings),
    web.post("/teams/{team_id}/settings", save),
    web.get("/teams/{team_id}/settings/groups", groups),
    web.post("/teams/{team_id}/settings/check", check_mappings),
)
