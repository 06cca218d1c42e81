"""Drawing pages: the Jinja environment, the page wrapper that turns a failed API answer into words, and the
headers every page carries."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from aiohttp import web
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from services.scheduler.dashboard import api

HERE = Path(__file__).parent
STATIC = HERE / "static"
# Scripts and styles come from this site only: htmx is configured by a meta tag, and no page has inline code.
_HEADERS = {
    "Cache-Control": "no-store",
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; object-src 'none';"
    " frame-ancestors 'none'; base-uri 'none'; form-action 'self' https:",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}
PageHandler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _when(value: str | datetime | None) -> str:
    """A UTC time as people read it; the page's script shows it again in the viewer's own zone."""
    if not value:
        return ""
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    return moment.strftime("%Y-%m-%d %H:%M UTC")


def _duration(run: dict[str, Any]) -> str:
    if not run.get("started_at") or not run.get("finished_at"):
        return ""
    seconds = (
        datetime.fromisoformat(run["finished_at"]) - datetime.fromisoformat(run["started_at"])
    ).total_seconds()
    return f"{seconds:.1f} s" if seconds < 60 else f"{int(seconds // 60)} min {int(seconds % 60)} s"


_env = Environment(
    loader=FileSystemLoader(HERE / "templates"),
    autoescape=select_autoescape(default=True),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
_env.filters.update(when=_when, duration=_duration, urlencode=lambda q: urlencode(q))


def html(request: web.Request, template: str, code: int = 200, /, **context: Any) -> web.Response:
    """``template`` drawn with ``context``, answered with the HTTP status ``code``."""
    text = _env.get_template(template).render(path=request.path, **context)
    headers = dict(_HEADERS)
    if request.method == "GET" and "HX-Boosted" in request.headers:
        # A boosted form's POST ends here after its redirect: the address bar shows this page, not the form's.
        headers["HX-Push-Url"] = request.path_qs
    return web.Response(text=text, status=code, content_type="text/html", headers=headers)


async def viewer(request: web.Request) -> dict[str, Any]:
    """Who is looking (GET /api/v1/me): their kind, name, teams and the CSRF token their forms carry."""
    return await api.get(request, "/api/v1/me")


def page(handler: PageHandler) -> PageHandler:
    """A page: without a session it asks to sign in; a failed API answer is shown in words, with its
    status."""

    @functools.wraps(handler)
    async def handle(request: web.Request) -> web.StreamResponse:
        request[api.UNREAD] = request.clone()
        try:
            return await handler(request)
        except api.Failed as exc:
            if exc.answer.status == 401:
                raise web.HTTPSeeOther("/signin?" + urlencode({"next": request.path_qs})) from None
            return html(
                request,
                "error.html.j2",
                exc.answer.status,
                status=exc.answer.status,
                detail=exc.answer.detail,
            )

    return handle


def back_to(location: str) -> web.HTTPSeeOther:
    """After a change, the page that shows it (POST, redirect, GET: a reload never sends it twice)."""
    return web.HTTPSeeOther(location)
