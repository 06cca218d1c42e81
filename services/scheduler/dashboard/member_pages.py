"""Members: the list (status filter, cursor paging), a member's card, card edits and templates."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from services.scheduler.dashboard import api
from services.scheduler.dashboard.page_render import back_to, html, page
from services.scheduler.dashboard.team_pages import team_context

_MEMBER = "/api/v1/teams/{team_id}/members/{member_id}"
STATUSES = ("invited", "active", "removed")
EDITABLE = ("name", "email", "job_title", "company", "phone", "location")
NOTICES = {
    "saved": "The card is saved.",
    "template": "The template is applied.",
    "invite": "The invite is on its way again, with a new link; the one sent before no longer works.",
}


@page
async def members(request: web.Request) -> web.Response:
    ctx = await team_context(request)
    status = request.query.get("status", "")
    status = status if status in STATUSES else ""
    cursor = request.query.get("cursor", "")
    search = request.query.get("q", "").strip()[:200]
    subteams = (await api.get(request, "/api/v1/teams/{team_id}/subteams"))["subteams"]
    subteam = request.query.get("subteam", "")
    subteam = subteam if any(s["id"] == subteam for s in subteams) else ""
    listed = await api.get(
        request,
        "/api/v1/teams/{team_id}/members",
        status=status,
        q=search,
        subteam=subteam,
        cursor=cursor,
        limit="50",
    )
    return html(
        request,
        "members.html.j2",
        **ctx,
        members=listed["members"],
        next_cursor=listed["next_cursor"],
        status=status,
        statuses=STATUSES,
        search=search,
        subteam=subteam,
        subteams=subteams,
        filters={"status": status, "q": search, "subteam": subteam},
        paged=bool(cursor),
    )


async def _show(request: web.Request, status: int = 200, **extra: Any) -> web.Response:
    ctx = await team_context(request)
    member = await api.get(request, _MEMBER)
    config = await api.get(request, "/api/v1/teams/{team_id}/sync/config")
    templates = await api.get(request, "/api/v1/teams/{team_id}/templates")
    overwritten = [f for f in EDITABLE if member["managed"] and config["fields"].get(f, {}).get("overwrite")]
    values = {
        "errors": {},
        "error": "",
        "form": member["card"],
        "notice": NOTICES.get(request.query.get("done", ""), ""),
    }
    values.update(extra)
    return html(
        request,
        "member.html.j2",
        status,
        **ctx,
        member=member,
        templates=templates["templates"],
        overwritten=overwritten,
        editable=EDITABLE,
        **values,
    )


@page
async def member(request: web.Request) -> web.Response:
    return await _show(request)


@page
async def edit(request: web.Request) -> web.Response:
    """Only the fields that changed are sent: the API records them as edits made on the platform."""
    form = await request.post()
    current = await api.get(request, _MEMBER)
    card = {f: str(form.get(f, "")).strip() for f in EDITABLE}
    changed = {f: v for f, v in card.items() if v != (current["card"].get(f) or "")}
    answer = await api.call(
        request, "PATCH", _MEMBER, body={"card": changed}, csrf=str(form.get("csrf_token", ""))
    )
    if answer.ok:
        raise back_to(
            f"/teams/{request.match_info['team_id']}/members/{request.match_info['member_id']}?done=saved"
        )
    errors = {k.removeprefix("card."): v for k, v in answer.field_errors().items()}
    return await _show(request, answer.status, errors=errors, error=answer.detail, form=card)


@page
async def template(request: web.Request) -> web.Response:
    form = await request.post()
    body = {"template_id": str(form.get("template_id", ""))}
    answer = await api.call(
        request, "PUT", _MEMBER + "/template", body=body, csrf=str(form.get("csrf_token", ""))
    )
    if answer.ok:
        raise back_to(
            f"/teams/{request.match_info['team_id']}/members/{request.match_info['member_id']}?done=template"
        )
    return await _show(request, answer.status, error=answer.detail)


@page
async def resend_invite(request: web.Request) -> web.Response:
    form = await request.post()
    answer = await api.call(request, "POST", _MEMBER + "/invite", csrf=str(form.get("csrf_token", "")))
    if answer.ok:
        raise back_to(
            f"/teams/{request.match_info['team_id']}/members/{request.match_info['member_id']}?done=invite"
        )
    if answer.status == 409:
        return await _show(request, 409, error=answer.detail)
    raise api.Failed(answer)


ROUTES = (
    web.get("/teams/{team_id}/members", members),
    web.get("/teams/{team_id}/members/{member_id}", member),
    web.post("/teams/{team_id}/members/{member_id}", edit),
    web.post("/teams/{team_id}/members/{member_id}/template", template),
    web.post("/teams/{team_id}/members/{member_id}/invite", resend_invite),
)
