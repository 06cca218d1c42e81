"""Composition root of the scheduler: the control API, the cadence loop and the outbox relay."""

from __future__ import annotations

from aiohttp import web

from services.scheduler.api.app import create_app
from services.scheduler.claim.routes import claim_routes
from services.scheduler.credential_expiry import run_credential_expiry
from services.scheduler.due import run_scheduler
from services.scheduler.realtime.loops import run_keeper, run_requested_runs
from services.scheduler.run_days import run_day_counts
from services.scheduler.stats import run_stats
from shared.health import readiness
from shared.outbox import run_relay
from shared.runtime import Infra


class SchedulerService:
    name = "scheduler"

    def __init__(self, infra: Infra):
        self.infra = infra
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        settings, pool = self.infra.settings, self.infra.pool
        app = create_app(
            pool, settings, extra_routes=claim_routes(pool, settings), ready=readiness(self.infra)
        )
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, settings.api_host, settings.api_port).start()
        self.infra.spawn("cadence", lambda: run_scheduler(pool, settings))
        self.infra.spawn("outbox-relay", lambda: run_relay(pool, self.infra.bus, settings.outbox_interval))
        self.infra.spawn("stats", lambda: run_stats(pool, self.infra.bus))
        self.infra.spawn("notified-runs", lambda: run_requested_runs(pool))
        self.infra.spawn("subscriptions", lambda: run_keeper(pool, settings))
        self.infra.spawn("run-days", lambda: run_day_counts(pool, settings))
        self.infra.spawn("credential-expiry", lambda: run_credential_expiry(pool))

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()


def bootstrap(infra: Infra, standalone: bool = True) -> SchedulerService:
    return SchedulerService(infra)
