"""Pages for people: ``/api/docs``, the OpenAPI document rendered by a vendored Redoc (no CDN), and a page per
problem type, which is what a problem's ``type`` URI opens.

The pages' URLs are relative, so they work wherever a proxy mounts the API."""

from __future__ import annotations

from html import escape
from http import HTTPStatus
from pathlib import Path

from aiohttp import web

from services.scheduler.api.problem_types import kind_named
from services.scheduler.api.problems import Problem

STATIC = Path(__file__).parent / "static"
BUNDLE = "redoc.standalone.js"
_PAGE = (STATIC / "docs.html").read_bytes()
_PROBLEM_PAGE = """<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>{title} — CardSync control API</title></head>
<body>
<h1>{title}</h1>
<p>A problem of this type is answered with HTTP status {status}.</p>
<p>{text}</p>
<p><a href="../../docs">The control API</a></p>
</body>
</html>
"""


async def docs_page(_: web.Request) -> web.Response:
    return web.Response(body=_PAGE, content_type="text/html", charset="utf-8")


async def redoc_bundle(_: web.Request) -> web.FileResponse:
    # The bundle changes only with a CardSync release: a day's caching spares 1 MB a visit.
    return web.FileResponse(STATIC / BUNDLE, headers={"Cache-Control": "public, max-age=86400"})


async def problem_page(request: web.Request) -> web.Response:
    found = kind_named(request.match_info["kind"])
    if found is None:
        raise Problem(404, "there is no such problem type: the API's description at /api/docs lists them")
    status, text = found
    page = _PROBLEM_PAGE.format(title=escape(HTTPStatus(status).phrase), status=status, text=escape(text))
    return web.Response(text=page, content_type="text/html")
