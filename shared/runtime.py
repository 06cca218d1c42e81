"""Running services: opening the shared connections, starting, and stopping cleanly on a signal."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import asyncpg

from shared import db
from shared.bus import Bus
from shared.loops import Loop
from shared.settings import Settings

log = logging.getLogger(__name__)


class Service(Protocol):
    name: str

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


@dataclass
class Infra:
    """The process-wide connections (one database pool, one broker connection) and background loops."""

    settings: Settings
    pool: asyncpg.Pool
    bus: Bus
    loops: list[Loop] = field(default_factory=list)

    def spawn(self, name: str, factory: Callable[[], Awaitable[None]]) -> Loop:
        """Run ``factory()`` in the background, started again should it crash; readiness watches it."""
        loop = Loop(name, factory)
        loop.start()
        self.loops.append(loop)
        return loop

    async def stop_loops(self) -> None:
        tasks = [loop.task for loop in self.loops if loop.task is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    async def close(self) -> None:
        await self.stop_loops()
        await self.bus.close()
        await self.pool.close()


class StartupError(RuntimeError):
    """A service cannot start; the message says why and what to do, and is all the operator sees."""


class Unreachable(RuntimeError):
    """PostgreSQL or RabbitMQ did not answer at start-up."""


def check_settings(settings: Settings, names: Sequence[str]) -> None:
    """Refuse to start the named services on settings they cannot work with, before connecting anywhere."""
    problems = settings.startup_problems(names)
    if problems:
        raise StartupError("; ".join(problems))


async def open_infra(settings: Settings) -> Infra:
    try:
        pool = await db.create_pool(
            settings.database_url,
            size=settings.db_pool_size,
            statement_timeout=settings.db_statement_timeout,
            acquire_timeout=settings.db_acquire_timeout,
        )
    except (OSError, TimeoutError) as exc:
        raise Unreachable(
            f"cannot reach PostgreSQL at CARDSYNC_DATABASE_URL ({exc}); is it running?"
        ) from exc
    try:
        await db.require_migrated(pool)
        bus = await connect_bus(settings)
    except BaseException:
        await pool.close()
        raise
    return Infra(settings, pool, bus)


async def connect_bus(settings: Settings) -> Bus:
    bus = Bus(
        settings.amqp_url,
        settings.amqp_prefix,
        settings.prefetch,
        settings.delivery_limit,
        publish_timeout=settings.publish_timeout,
    )
    try:
        await asyncio.wait_for(bus.connect(), 30)
    except Exception as exc:
        raise Unreachable(f"cannot reach RabbitMQ at CARDSYNC_AMQP_URL ({exc}); is it running?") from exc
    return bus


async def finish_in_hand(infra: Infra) -> None:
    """Take no more messages, and give the ones in hand the shutdown grace to finish; the broker delivers any
    still unfinished again, to another replica or after the restart."""
    await infra.bus.stop_consuming()
    if infra.bus.in_hand:
        log.info("finishing %d message(s) in hand", infra.bus.in_hand)
    if not await infra.bus.drain(infra.settings.shutdown_grace):
        log.warning(
            "%d message(s) still in hand after %.0f s (CARDSYNC_SHUTDOWN_GRACE): they are delivered again",
            infra.bus.in_hand,
            infra.settings.shutdown_grace,
        )


async def run_until_signalled(
    services: list[Service],
    on_started: Callable[[], Awaitable[None]] | None = None,
    infra: Infra | None = None,
) -> None:
    """Start the services, and on SIGTERM or SIGINT stop them: the messages in hand first (``infra``'s)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    started: list[Service] = []
    try:
        for service in services:
            try:
                await service.start()
            except OSError as exc:  # most often a port another process holds
                raise StartupError(f"the {service.name} service cannot start: {exc}") from exc
            started.append(service)
            log.info("%s started", service.name)
        if on_started is not None:
            await on_started()
        await stop.wait()
        log.info("stopping")
    finally:
        if infra is not None and started:
            await finish_in_hand(infra)
        for service in reversed(started):
            with contextlib.suppress(Exception):
                await service.stop()
