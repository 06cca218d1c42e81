"""Connecting the team's directory: admin consent or the team's own app, and disconnecting."""

from __future__ import annotations

from aiohttp import web

from services.scheduler.dashboard import api
from services.scheduler.dashboard.page_render import back_to, html, page
from services.scheduler.dashboard.team_pages import team_context

_DIRECTORY = "/api/v1/teams/{team_id}/directory"
NOTICES = {
    "connected": "The directory is connected.",
    "disconnected": "The directory is disconnected. Syncs stop until you connect it again.",
}


async def _show(request: web.Request, status: int = 200, **extra) -> web.Response:
    ctx = await team_context(request)
    answer = await api.call(request, "GET", _DIRECTORY)
    if not answer.ok and answer.status != 404:
        raise api.Failed(answer)
    values = {
        "form": {},
        "errors": {},
        "error": "",
        "notice": NOTICES.get(request.query.get("done", ""), ""),
        "test": None,
    }
    values.update(extra)
    return html(
        request, "directory.html.j2", status, **ctx, connection=answer.body if answer.ok else None, **values
    )


@page
async def directory(request: web.Request) -> web.Response:
    return await _show(request)


@page
async def consent(request: web.Request) -> web.StreamResponse:
    """Off to the identity platform: it comes back to the API's consent callback, which returns here."""
    form = await request.post()
    answer = await api.call(request, "GET", _DIRECTORY + "/consent-url", csrf=str(form.get("csrf_token", "")))
    if not answer.ok:
        return await _show(request, answer.status, error=answer.detail)
    raise web.HTTPSeeOther(answer.body["url"])


@page
async def own_app(request: web.Request) -> web.Response:
    form = await request.post()
    body = {k: str(form.get(k, "")).strip() for k in ("tenant_id", "client_id")}
    secret, certificate = (str(form.get(k, "")).strip() for k in ("client_secret", "client_certificate"))
    if certificate and not secret:
        body["client_certificate"] = certificate
    else:  # a secret, or neither (the API says what is missing)
        body["client_secret"] = secret
    answer = await api.call(request, "PUT", _DIRECTORY, body=body, csrf=str(form.get("csrf_token", "")))
    if answer.ok:
        raise back_to(f"/teams/{request.match_info['team_id']}/directory?done=connected")
    errors = answer.field_errors()
    general = errors.pop("", "") if answer.status == 422 else ""
    kept = {k: body[k] for k in ("tenant_id", "client_id")}  # no secret or key goes back to the page
    return await _show(request, answer.status, form=kept, errors=errors, error=general or answer.detail)


@page
async def test(request: web.Request) -> web.Response:
    """Test connection: the stored one, or the own-app form's credentials when they are filled in (nothing is
    saved either way); the answer, permission by permission, is shown on the page."""
    form = await request.post()
    given = {k: str(form.get(k, "")).strip() for k in ("tenant_id", "client_id")}
    secret, certificate = (str(form.get(k, "")).strip() for k in ("client_secret", "client_certificate"))
    body: dict[str, str] = {}
    if any(given.values()) or secret or certificate:  # else the stored connection
        body = dict(given)
        if certificate and not secret:
            body["client_certificate"] = certificate
        else:
            body["client_secret"] = secret
    answer = await api.call(
        request, "POST", _DIRECTORY + "/test", body=body, csrf=str(form.get("csrf_token", ""))
    )
    kept = {k: given[k] for k in ("tenant_id", "client_id")}
    if answer.ok:
        return await _show(request, form=kept, test=answer.body)
    errors = answer.field_errors()
    general = errors.pop("", "") if answer.status == 422 else ""
    return await _show(request, answer.status, form=kept, errors=errors, error=general or answer.detail)


@page
async def confirm_disconnect(request: web.Request) -> web.Response:
    ctx = await team_context(request)
    return html(request, "disconnect.html.j2", **ctx)


@page
async def disconnect(request: web.Request) -> web.Response:
    form = await request.post()
    answer = await api.call(request, "DELETE", _DIRECTORY, csrf=str(form.get("csrf_token", "")))
    if not answer.ok:
        raise api.Failed(answer)
    raise back_to(f"/teams/{request.match_info['team_id']}/directory?done=disconnected")


ROUTES = (
    web.get("/teams/{team_id}/directory", directory),
    web.post("/teams/{team_id}/directory/consent", consent),
    web.post("/teams/{team_id}/directory", own_app),
    web.post("/teams/{team_id}/directory/test", test),
    web.get("/teams/{team_id}/directory/disconnect", confirm_disconnect),
    web.post("/teams/{team_id}/directory/disconnect", disconnect),
)
