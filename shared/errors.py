"""What a message handler raises to say how its message went, and what the bus makes of any failure.

A handler returns when its work is done; the bus acknowledges the message then. Otherwise:

- ``Retry(delay, reason)``: a passing failure; the message is handled again after ``delay`` seconds.
- ``Permanent(reason)``: the message can never be handled; it goes to the dead-letter queue at once.
- a lost connection to PostgreSQL or RabbitMQ (``outage``): the message waits and comes back, as often as it
  takes, without counting against the delivery limit, for it is not the message's fault.
- anything else: retried with a growing wait, until the delivery limit dead-letters it.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import aiormq.exceptions
import asyncpg

# A connection failed, or the server at its other end is shutting down or starting up.
OUTAGE_ERRORS: tuple[type[BaseException], ...] = (
    OSError,  # refused, reset or timed out, and aiormq's AMQPConnectionError
    asyncpg.PostgresConnectionError,
    asyncpg.CannotConnectNowError,
    asyncpg.AdminShutdownError,
    asyncpg.CrashShutdownError,
    aiormq.exceptions.ChannelInvalidStateError,  # the broker's connection went while the channel was in use
)


class Retry(Exception):
    """A passing failure: handle the message again after ``delay`` seconds (at most the bus's longest wait),
    counted against the delivery limit."""

    def __init__(self, delay: float, reason: str):
        super().__init__(reason)
        self.delay = delay
        self.reason = reason


class Permanent(Exception):
    """The message can never be handled: dead-letter it at once; ``reason`` goes with it."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def outage(exc: BaseException) -> bool:
    """Whether the failure came from a lost connection to the database or the broker (or was caused by
    one)."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, OUTAGE_ERRORS):
            return True
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return False


@dataclass(frozen=True)
class Verdict:
    """What becomes of a failed message: dead-lettered, or retried after ``delay`` seconds."""

    dead: bool
    delay: float = 0.0
    counted: bool = True  # the retry counts against the delivery limit
    reason: str = ""


def judge(exc: Exception, failures: int, outages: int, limit: int, base: float, longest: float) -> Verdict:
    """The verdict on a message whose handler raised ``exc``, after ``failures`` counted failures and
    ``outages`` uncounted ones before this one; waits grow from ``base`` to ``longest`` seconds, with
    jitter."""
    if isinstance(exc, Permanent):
        return Verdict(dead=True, reason=exc.reason)
    if not isinstance(exc, Retry) and outage(exc):
        return Verdict(dead=False, delay=_backoff(outages, base, longest), counted=False, reason=repr(exc))
    reason = exc.reason if isinstance(exc, Retry) else repr(exc)
    if failures + 1 > limit:
        return Verdict(dead=True, reason=f"failed {failures + 1} times, the last: {reason}")
    delay = min(exc.delay, longest) if isinstance(exc, Retry) else _backoff(failures, base, longest)
    return Verdict(dead=False, delay=max(0.0, delay), reason=reason)


def _backoff(attempt: int, base: float, longest: float) -> float:
    return min(longest, base * 2 ** (attempt + 1)) * random.uniform(0.5, 1.0)
