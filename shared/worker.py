"""What every worker service shares: consuming its queues (``shared.topology``), and its own /healthz and
/metrics port."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any

from aiohttp import web

from shared import logs, metrics, topology
from shared.errors import Permanent
from shared.health import health_routes, readiness, serve
from shared.messages import Message, RunMessage
from shared.runtime import Infra

log = logging.getLogger(__name__)

# A service's HANDLERS: which of its functions handles each type of message on its queue.
Handlers = Mapping[type[Message], Callable[[Any], Awaitable[Any]]]


async def dispatch(handlers: Handlers, message: Message) -> Any:
    """Hand ``message`` to its handler: how the consumer delivers, and how the tests deliver."""
    handler = handlers.get(type(message))
    if handler is None:
        raise Permanent(f"no handler for {type(message).__name__}")
    return await handler(message)


def instrumented(consumer: str, handler: Callable[[Message], Awaitable]) -> Callable[[Message], Awaitable]:
    """Tag log lines with the message's team and run, and count outcomes."""

    async def handle(message: Message):
        if isinstance(message, RunMessage):
            logs.bind(message.team_id, message.run_id)
        else:
            logs.bind(getattr(message, "team_id", None), getattr(message, "run_id", None))
        try:
            result = await handler(message)
        except Exception:
            metrics.MESSAGES.labels(consumer, "failed").inc()
            raise
        metrics.MESSAGES.labels(consumer, "handled").inc()
        return result

    return handle


class Worker:
    """A service that consumes messages; serves health on its own port when it runs alone."""

    def __init__(
        self,
        name: str,
        infra: Infra,
        handlers: Handlers,
        standalone: bool,
        background: Iterable[tuple[str, Callable[[], Awaitable]]] = (),
    ):
        self.name = name
        self.infra = infra
        self.handlers = handlers
        self.standalone = standalone
        self.background = list(background)
        self._runner: web.AppRunner | None = None

    async def _dispatch(self, message: Message):
        return await dispatch(self.handlers, message)

    async def start(self) -> None:
        settings = self.infra.settings
        handle = instrumented(self.name, self._dispatch)
        # Each of its queues is bound to its own types, and handles any of the service's.
        for queue, bound in topology.queues_of(self.name, self.handlers).items():
            await self.infra.bus.consume(queue, self.handlers, handle, bind=bound)
        for task_name, factory in self.background:
            self.infra.spawn(f"{self.name}-{task_name}", factory)
        if self.standalone:
            self._runner = await serve(
                health_routes(readiness(self.infra)), settings.api_host, settings.health_port_for(self.name)
            )

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
