"""Sending one email through an outage: retry temporary failures with capped exponential backoff and
jitter."""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable
from typing import Protocol

from services.notifier.mime import Outgoing
from services.notifier.smtp import TemporaryMailError

log = logging.getLogger(__name__)

Ready = Callable[[], Awaitable[None]]


class Transport(Protocol):
    attempt_timeout: float  # the longest one attempt can take

    async def send(self, message: Outgoing, *, ready: Ready | None = None) -> None:
        """Send one email; ``ready`` is awaited once a connection is free, just before the email goes out."""


class GaveUp(Exception):
    """The mail server stayed unavailable for the whole retry window."""


def backoff(attempt: int, cap: float, rand: Callable[[], float] = random.random) -> float:
    """Seconds to wait before retry ``attempt`` (0-based): 0.5 s doubling up to ``cap``, jittered to 50-100
    %."""
    return min(cap, 0.5 * 2**attempt) * (0.5 + rand() / 2)


async def deliver(
    transport: Transport,
    message: Outgoing,
    *,
    retry_for: float,
    max_backoff: float,
    ready: Ready | None = None,
) -> None:
    """Send, retrying temporary failures for up to ``retry_for`` seconds; PermanentMailError passes through,
    and so does whatever ``ready`` raises to stop an attempt."""
    deadline = time.monotonic() + retry_for
    attempt = 0
    while True:
        try:
            await transport.send(message, ready=ready)
            return
        except TemporaryMailError as exc:
            delay = backoff(attempt, max_backoff)
            if time.monotonic() + delay > deadline:
                raise GaveUp(f"{exc} (still failing after {retry_for:.0f} s of retries)") from exc
            # No recipient: an address stays out of the logs (the line's team and run say whose email it is).
            log.warning("an email failed (attempt %d), retrying in %.1f s: %s", attempt + 1, delay, exc)
            await asyncio.sleep(delay)
            attempt += 1
