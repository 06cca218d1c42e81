"""The aiohttp application of the control API."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable

import asyncpg
import orjson
from aiohttp import web

from services.scheduler.api.auth import authenticate
from services.scheduler.api.docs import BUNDLE, docs_page, problem_page, redoc_bundle
from services.scheduler.api.endpoint import GRAPH, MAX_BODY, POOL, SETTINGS, aiohttp_handler, read_limited
from services.scheduler.api.metrics import metrics, metrics_middleware
from services.scheduler.api.openapi import openapi_document
from services.scheduler.api.problem_types import PROBLEMS_PATH
from services.scheduler.api.problems import Problem, problem_middleware
from services.scheduler.api.routes import ENDPOINTS
from services.scheduler.api.routes.signin import ROUTES as SIGNIN_ROUTES
from services.scheduler.api.routes.signin import signin_ctx
from services.scheduler.dashboard.routes import ROUTES as DASHBOARD_ROUTES
from services.scheduler.realtime.notifications import ROUTES as NOTIFICATION_ROUTES
from shared.graph.client import GraphClient
from shared.health import Readiness, database_readiness, probe_routes
from shared.settings import Settings

log = logging.getLogger(__name__)
RequestHandler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _bounded(handler: RequestHandler) -> RequestHandler:
    """A plain route held to the same body limit as the endpoints."""

    async def handle(request: web.Request) -> web.StreamResponse:
        await read_limited(request)
        return await handler(request)

    return handle


def _operator_only(handler: RequestHandler) -> RequestHandler:
    """A plain route answered to the operator token alone, refused as the operator's endpoints refuse."""

    async def handle(request: web.Request) -> web.StreamResponse:
        caller = await authenticate(request, request.app[POOL], request.app[SETTINGS])
        if not caller.is_operator:
            raise Problem(403, "this needs the operator token")
        return await handler(request)

    return handle


async def _graph_client(app: web.Application):
    """One Graph client for the API's searches and checks, made once the loop runs, closed at shutdown."""
    app[GRAPH] = GraphClient.from_settings(app[SETTINGS])
    yield
    await app[GRAPH].close()


def create_app(
    pool: asyncpg.Pool,
    settings: Settings,
    *,
    ready: Readiness | None = None,
    extra_routes: Iterable[web.AbstractRouteDef] = (),
) -> web.Application:
    """The API on ``pool``; ``ready`` (its /readyz and /healthz) defaults to a database check;
    ``extra_routes`` are served alongside."""
    app = web.Application(middlewares=[metrics_middleware, problem_middleware], client_max_size=MAX_BODY)
    app[POOL] = pool
    app[SETTINGS] = settings
    app.cleanup_ctx.append(_graph_client)
    app.cleanup_ctx.append(signin_ctx)
    for ep in ENDPOINTS:
        app.router.add_route(ep.method, ep.path, aiohttp_handler(ep))
    document = orjson.dumps(openapi_document(ENDPOINTS, public_url=settings.public_url))

    async def openapi(_: web.Request) -> web.Response:
        return web.Response(body=document, content_type="application/json")

    app.router.add_get("/api/v1/openapi.json", _bounded(openapi))
    app.router.add_get("/api/docs", _bounded(docs_page))
    app.router.add_get(f"/api/docs/{BUNDLE}", _bounded(redoc_bundle))
    app.router.add_get(PROBLEMS_PATH + "/{kind}", _bounded(problem_page))
    for probe in probe_routes(ready or database_readiness(pool), detail=False):
        app.router.add_get(probe.path, _bounded(probe.handler))
    # The API's port may face the internet: what the metrics tell (teams' run counts, queue depths) is the
    # operator's. A worker serves its own on its health port, which stays private.
    app.router.add_get("/metrics", _bounded(_operator_only(metrics)))
    app.router.add_routes(SIGNIN_ROUTES)
    app.router.add_routes(DASHBOARD_ROUTES)
    app.router.add_routes(NOTIFICATION_ROUTES)
    app.router.add_routes(extra_routes)
    return app
