"""/healthz and /metrics for the worker services (the scheduler serves them on its API port)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import asyncpg
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from shared.bus import Bus

HealthCheck = Callable[[], Awaitable[bool]]


def checker(pool: asyncpg.Pool, bus: Bus) -> HealthCheck:
    async def healthy() -> bool:
        if not bus.connected:
            return False
        try:
            await pool.fetchval("SELECT 1", timeout=2)
        except Exception:  # noqa: BLE001 - any failure is an unhealthy answer
            return False
        return True

    return healthy


def health_routes(healthy: HealthCheck) -> list[web.RouteDef]:
    async def healthz(_request: web.Request) -> web.Response:
        if await healthy():
            return web.json_response({"status": "ok"})
        return web.json_response({"status": "unavailable"}, status=503)

    async def metrics(_request: web.Request) -> web.Response:
        return web.Response(body=generate_latest(), headers={"Content-Type": CONTENT_TYPE_LATEST})

    return [web.get("/healthz", healthz), web.get("/metrics", metrics)]


async def serve(routes: list[web.RouteDef], host: str, port: int) -> web.AppRunner:
    app = web.Application()
    app.add_routes(routes)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    return runner
