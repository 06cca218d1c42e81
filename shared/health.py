"""Health: /livez (the process's event loop answers), /readyz (the process can do its work: the database, the
broker, each background loop and each consumer), /healthz (the same as /readyz), and a worker's /metrics."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import asyncpg
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from shared.bus import Bus
from shared.runtime import Infra

log = logging.getLogger(__name__)
OK = "ok"
CHECK_TIMEOUT = 2.0


@dataclass(frozen=True)
class Report:
    """Each check's answer, ``ok`` or what is wrong, ready when every one is ok; and what an operator should
    know that does not keep the process from its work (``notices``)."""

    checks: dict[str, str]
    notices: dict[str, str] = field(default_factory=dict)

    @property
    def ready(self) -> bool:
        return all(answer == OK for answer in self.checks.values())

    def body(self) -> dict:
        body: dict = {"status": OK if self.ready else "unavailable", "checks": self.checks}
        if self.notices:
            body["notices"] = self.notices
        return body


Readiness = Callable[[], Awaitable[Report]]


async def _database(pool: asyncpg.Pool) -> str:
    try:
        await pool.fetchval("SELECT 1", timeout=CHECK_TIMEOUT)
    except Exception as exc:  # noqa: BLE001 - any failure is an answer, not an error
        return f"PostgreSQL does not answer: {exc!r}"
    return OK


def database_readiness(pool: asyncpg.Pool) -> Readiness:
    async def report() -> Report:
        return Report({"database": await _database(pool)})

    return report


def readiness(infra: Infra) -> Readiness:
    """The process's readiness: its database, its broker, and every loop and consumer it runs."""

    async def report() -> Report:
        checks = {
            "database": await _database(infra.pool),
            "broker": OK if infra.bus.connected else "RabbitMQ is not connected; reconnecting",
        }
        for loop in infra.loops:
            checks[f"loop {loop.name}"] = OK if loop.alive else f"not running: {loop.problem or 'stopped'}"
        for consumer in infra.bus.consumers:
            checks[f"consumer {consumer}"] = OK if infra.bus.consuming(consumer) else "not consuming"
        return Report(checks, await _dead_letters(infra.bus) if infra.bus.connected else {})

    return report


async def _dead_letters(bus: Bus) -> dict[str, str]:
    """A note for each of the process's consumers whose dead-letter queue holds messages."""
    notices = {}
    for consumer in bus.consumers:
        try:
            depth = await asyncio.wait_for(bus.queue_depth(f"{consumer}.dead"), CHECK_TIMEOUT)
        except Exception as exc:  # noqa: BLE001 - the broker check answers for the broker
            log.debug("dead letters of %s not counted: %r", consumer, exc)
            continue
        if depth:
            notices[f"dead letters {consumer}"] = (
                f"{depth} message{'s' * (depth != 1)} in {bus.queue_name(consumer)}.dead: see them with"
                f" `cardsync dead-letters list --queue {consumer}`, then replay or purge them"
            )
    return notices


def probe_routes(ready: Readiness, detail: bool = True) -> list[web.RouteDef]:
    """/livez, /readyz and /healthz; without ``detail`` (a port that may face the internet) the answer names
    each check and whether it is ok, and only the log says what is wrong."""

    async def livez(_request: web.Request) -> web.Response:
        return web.json_response({"status": OK})

    async def readyz(_request: web.Request) -> web.Response:
        try:
            report = await ready()
        except Exception as exc:  # noqa: BLE001 - a failing check is an unready answer, not an error page
            report = Report({"readiness": f"the check failed: {exc!r}"})
        if not report.ready:
            log.warning("not ready: %s", "; ".join(f"{k}: {v}" for k, v in report.checks.items() if v != OK))
        if not detail:  # nor notices: what the queues hold is the operator's
            report = Report(
                {name: OK if answer == OK else "failing" for name, answer in report.checks.items()}
            )
        return web.json_response(report.body(), status=200 if report.ready else 503)

    return [web.get("/livez", livez), web.get("/readyz", readyz), web.get("/healthz", readyz)]


def health_routes(ready: Readiness) -> list[web.RouteDef]:
    """A worker's private port: the probes and its /metrics."""

    async def metrics(_request: web.Request) -> web.Response:
        return web.Response(body=generate_latest(), headers={"Content-Type": CONTENT_TYPE_LATEST})

    return [*probe_routes(ready), web.get("/metrics", metrics)]


async def serve(routes: list[web.RouteDef], host: str, port: int) -> web.AppRunner:
    app = web.Application()
    app.add_routes(routes)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    return runner
