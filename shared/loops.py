"""Background loops that stay up: one that crashes (or ends, which a loop never should) is logged and started
again after a wait that grows while it keeps failing."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

log = logging.getLogger(__name__)
FIRST_WAIT, LONGEST_WAIT = 1.0, 60.0
# A loop that ran this long before it failed starts again after the first wait: its failure is news, not a
# habit.
SETTLED = 300.0


class Loop:
    """One supervised loop; ``problem`` says why it is not running, while it waits to start again."""

    def __init__(self, name: str, factory: Callable[[], Awaitable[None]], first_wait: float = FIRST_WAIT):
        self.name = name
        self.factory = factory
        self.first_wait = first_wait
        self.problem: str | None = None
        self.restarts = 0
        self.task: asyncio.Task | None = None

    def start(self) -> asyncio.Task:
        self.task = asyncio.ensure_future(self._supervise())
        self.task.set_name(self.name)
        return self.task

    @property
    def alive(self) -> bool:
        return self.task is not None and not self.task.done() and self.problem is None

    async def _supervise(self) -> None:
        loop = asyncio.get_running_loop()
        wait = self.first_wait
        while True:
            started = loop.time()
            crash: Exception | None = None
            try:
                await self.factory()
                self.problem = "it ended"
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - any crash is logged and the loop started again
                crash, self.problem = exc, f"it crashed: {exc!r}"
            if loop.time() - started >= SETTLED:
                wait = self.first_wait
            log.error(
                "background loop %s stopped (%s); starting it again in %.0f s",
                self.name,
                self.problem,
                wait,
                exc_info=crash,
            )
            self.problem += f"; starting again in {wait:.0f} s"
            await asyncio.sleep(wait)
            wait = min(LONGEST_WAIT, wait * 2)
            self.restarts += 1
            self.problem = None
