"""Every route of the dashboard, and its static files."""

from __future__ import annotations

from aiohttp import web

from services.scheduler.dashboard import (
    directory_pages,
    member_pages,
    misc_pages,
    run_pages,
    settings_pages,
    signin_pages,
    team_pages,
)
from services.scheduler.dashboard.page_render import STATIC

ROUTES: tuple[web.AbstractRouteDef, ...] = (
    *signin_pages.ROUTES,
    *team_pages.ROUTES,
    *directory_pages.ROUTES,
    *settings_pages.ROUTES,
    *run_pages.ROUTES,
    *member_pages.ROUTES,
    *misc_pages.ROUTES,
    web.static("/static", STATIC),
)
