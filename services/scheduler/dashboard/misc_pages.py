"""Invites (the pending count, Send pending invites), templates (list, make, edit) and the audit log (pages,
CSV)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aiohttp import web
from multidict import MultiMapping

from services.scheduler.dashboard import api
from services.scheduler.dashboard.page_render import back_to, html, page
from services.scheduler.dashboard.team_pages import team_context
from shared.config import LINK_TYPES

COUNT_PAGES = 20  # past 20,000 invited members the page says "at least"
LINK_ROWS = 5
MAX_LINKS = 50  # as many as a template may have
TEMPLATE_NOTICES = {
    "made": "The template is made.",
    "saved": "The template is saved. The members it is applied to show the change.",
}
_AUDIT = "/api/v1/teams/{team_id}/audit"
AUDIT_KINDS = {
    "auth": "Sign-ins",
    "directory": "Directory connections",
    "config": "Configuration saves",
    "run": "Sync Now, previews and approvals",
    "token": "Team tokens",
    "member": "Member edits and invites sent again",
    "template": "Template edits",
}


async def pending_invites(request: web.Request) -> tuple[int, bool]:
    """How many invites Send pending invites would send (never sent, failed); True when there may be more."""
    count, cursor = 0, ""
    for _ in range(COUNT_PAGES):
        listed = await api.get(
            request, "/api/v1/teams/{team_id}/members", status="invited", limit="1000", cursor=cursor
        )
        count += sum(
            1 for m in listed["members"] if m["invite"] and m["invite"]["status"] in ("pending", "failed")
        )
        cursor = listed["next_cursor"] or ""
        if not cursor:
            return count, False
    return count, True


@page
async def invites(request: web.Request) -> web.Response:
    ctx = await team_context(request)
    count, more = await pending_invites(request)
    queued = request.query.get("queued", "")
    notice = f"{queued} invite{'' if queued == '1' else 's'} queued for sending." if queued.isdigit() else ""
    return html(request, "invites.html.j2", **ctx, pending=count, more=more, notice=notice)


@page
async def send_invites(request: web.Request) -> web.Response:
    form = await request.post()
    answer = await api.call(
        request, "POST", "/api/v1/teams/{team_id}/invites/send", csrf=str(form.get("csrf_token", ""))
    )
    if not answer.ok:
        raise api.Failed(answer)
    raise back_to(f"/teams/{request.match_info['team_id']}/invites?queued={answer.body['queued']}")


async def _templates(request: web.Request, status: int = 200, **extra) -> web.Response:
    ctx = await team_context(request)
    listed = await api.get(request, "/api/v1/teams/{team_id}/templates")
    values = {
        "form": {},
        "errors": {},
        "error": "",
        "notice": TEMPLATE_NOTICES.get(request.query.get("done", ""), ""),
    }
    values.update(extra)
    return html(
        request,
        "templates.html.j2",
        status,
        **ctx,
        templates=listed["templates"],
        link_types=sorted(LINK_TYPES),
        rows=range(LINK_ROWS),
        **values,
    )


@page
async def templates(request: web.Request) -> web.Response:
    return await _templates(request)


def _template_body(form: MultiMapping[str], rows: int) -> dict[str, Any]:
    """The template the form's rows stand for; a row with neither label nor value is no link."""
    links = []
    for i in range(rows):
        label, value = str(form.get(f"label{i}", "")).strip(), str(form.get(f"value{i}", "")).strip()
        if label or value:
            links.append({"type": str(form.get(f"type{i}", "")), "label": label, "value": value})
    return {"name": str(form.get("name", "")).strip(), "links": links}


def _rows(form: MultiMapping[str]) -> int:
    text = str(form.get("rows", ""))
    return min(int(text), MAX_LINKS) if text.isdigit() else LINK_ROWS


@page
async def create_template(request: web.Request) -> web.Response:
    form = await request.post()
    body = _template_body(form, LINK_ROWS)
    answer = await api.call(
        request, "POST", "/api/v1/teams/{team_id}/templates", body=body, csrf=str(form.get("csrf_token", ""))
    )
    if answer.ok:
        raise back_to(f"/teams/{request.match_info['team_id']}/templates?done=made")
    return await _templates(
        request, answer.status, form=form, errors=answer.field_errors(), error=answer.detail
    )


async def _edit_page(
    request: web.Request,
    template: dict[str, Any],
    form: Mapping[str, Any],
    rows: int,
    status: int = 200,
    **extra: Any,
) -> web.Response:
    ctx = await team_context(request)
    values = {"errors": {}, "error": ""}
    values.update(extra)
    return html(
        request,
        "template_edit.html.j2",
        status,
        **ctx,
        template=template,
        form=form,
        rows=range(rows),
        link_types=sorted(LINK_TYPES),
        **values,
    )


async def _find_template(request: web.Request) -> dict[str, Any]:
    listed = await api.get(request, "/api/v1/teams/{team_id}/templates")
    wanted = request.match_info["template_id"]
    found = next((t for t in listed["templates"] if t["id"] == wanted), None)
    if found is None:
        raise api.Failed(api.Answer(404, {"detail": "no such template"}))
    return found


@page
async def edit_template(request: web.Request) -> web.Response:
    template = await _find_template(request)
    form: dict[str, Any] = {"name": template["name"]}
    for i, link in enumerate(template["links"]):
        form.update({f"type{i}": link["type"], f"label{i}": link["label"], f"value{i}": link["value"]})
    rows = min(len(template["links"]) + 2, MAX_LINKS)
    return await _edit_page(request, template, form, max(rows, LINK_ROWS))


@page
async def save_template(request: web.Request) -> web.Response:
    form = await request.post()
    template = await _find_template(request)
    rows = _rows(form)
    answer = await api.call(
        request,
        "PUT",
        "/api/v1/teams/{team_id}/templates/{template_id}",
        body=_template_body(form, rows),
        csrf=str(form.get("csrf_token", "")),
    )
    if answer.ok:
        raise back_to(f"/teams/{request.match_info['team_id']}/templates?done=saved")
    return await _edit_page(
        request, template, form, rows, answer.status, errors=answer.field_errors(), error=answer.detail
    )


@page
async def audit(request: web.Request) -> web.Response:
    ctx = await team_context(request)
    cursor = request.query.get("cursor", "")
    action = request.query.get("action", "")
    action = action if action in AUDIT_KINDS else ""
    listed = await api.get(request, _AUDIT, cursor=cursor, action=action, limit="50")
    return html(
        request,
        "audit.html.j2",
        **ctx,
        entries=listed["entries"],
        next_cursor=listed["next_cursor"],
        paged=bool(cursor),
        action=action,
        kinds=AUDIT_KINDS,
    )


@page
async def audit_csv(request: web.Request) -> web.StreamResponse:
    """The whole log as the API exports it (a link cannot ask for text/csv itself)."""
    action = request.query.get("action", "")
    query = {"action": action} if action in AUDIT_KINDS else {}
    answer = await api.call(request, "GET", _AUDIT, headers={"Accept": "text/csv"}, query=query)
    if not answer.ok:
        raise api.Failed(answer)
    return answer.body


ROUTES = (
    web.get("/teams/{team_id}/invites", invites),
    web.post("/teams/{team_id}/invites", send_invites),
    web.get("/teams/{team_id}/templates", templates),
    web.post("/teams/{team_id}/templates", create_template),
    web.get("/teams/{team_id}/templates/{template_id}", edit_template),
    web.post("/teams/{team_id}/templates/{template_id}", save_template),
    web.get("/teams/{team_id}/audit", audit),
    web.get("/teams/{team_id}/audit.csv", audit_csv),
)
