"""``/api/docs``: the OpenAPI document as a page for people, rendered by a vendored Redoc (no CDN).

The page's URLs are relative, so it works wherever a proxy mounts the API."""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

STATIC = Path(__file__).parent / "static"
BUNDLE = "redoc.standalone.js"
_PAGE = (STATIC / "docs.html").read_bytes()


async def docs_page(_: web.Request) -> web.Response:
    return web.Response(body=_PAGE, content_type="text/html", charset="utf-8")


async def redoc_bundle(_: web.Request) -> web.FileResponse:
    # The bundle changes only with a CardSync release: a day's caching spares 1 MB a visit.
    return web.FileResponse(STATIC / BUNDLE, headers={"Cache-Control": "public, max-age=86400"})
