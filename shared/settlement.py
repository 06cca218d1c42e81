"""How a delivered message is settled: the one place where a handler's outcome becomes an ack, a retry or a
dead letter.

A retry is a copy of the message in the consumer's retry queue, with a per-message expiration: it waits there,
holding no consumer's prefetch slot, then expires back into the consumer's queue. A dead letter is a copy in
the consumer's dead-letter queue, with the error that put it there. The original is acked once its copy is
confirmed, so a broker that fails in between delivers the original again rather than lose it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime

import aio_pika
from aio_pika.abc import AbstractIncomingMessage

from shared.errors import Retry, Verdict, judge

log = logging.getLogger(__name__)

# Headers that travel with a message between its deliveries: counted failures, uncounted outages, last error.
FAILURES, OUTAGES, ERROR = "cardsync-failures", "cardsync-outages", "cardsync-error"
ERROR_LENGTH = 2000
SendToQueue = Callable[[str, aio_pika.Message], Awaitable[None]]


class Settlement:
    """The policy of one bus: its delivery limit and waits, and how it sends a copy into a queue."""

    def __init__(self, send: SendToQueue, delivery_limit: int, retry_base: float, retry_longest: float):
        self.send = send
        self.delivery_limit = delivery_limit
        self.retry_base = retry_base
        self.retry_longest = retry_longest

    @asynccontextmanager
    async def settled(self, queue: str, incoming: AbstractIncomingMessage) -> AsyncIterator[None]:
        """Ack the message once the block returns; after a failure, retry or dead-letter it as the error
        says."""
        try:
            yield
        except asyncio.CancelledError:
            # Stopped past the shutdown grace, or the channel went: the broker delivers it again.
            await quietly(incoming.nack(requeue=True))
            raise
        except Exception as exc:  # noqa: BLE001 - every failure is judged here, and none escapes
            await self._after_failure(queue, incoming, exc)
        else:
            await incoming.ack()

    async def _after_failure(self, queue: str, incoming: AbstractIncomingMessage, exc: Exception) -> None:
        headers = {k: v for k, v in (incoming.headers or {}).items() if not k.startswith("x-")}
        failures, outages = int(headers.get(FAILURES) or 0), int(headers.get(OUTAGES) or 0)
        verdict = judge(exc, failures, outages, self.delivery_limit, self.retry_base, self.retry_longest)
        if not verdict.dead:
            failures, outages = (failures + 1, outages) if verdict.counted else (failures, outages + 1)
        _log(queue, incoming.message_id, verdict, exc, failures, self.delivery_limit)
        headers.update({FAILURES: failures, OUTAGES: outages, ERROR: verdict.reason[:ERROR_LENGTH]})
        copy = aio_pika.Message(
            incoming.body,
            message_id=incoming.message_id,
            type=incoming.type or incoming.routing_key,
            content_type=incoming.content_type,
            headers=headers,
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            expiration=None if verdict.dead else verdict.delay,
            timestamp=datetime.now(UTC),  # when it failed last: a dead letter's listing shows it
        )
        try:
            await self.send(f"{queue}.dead" if verdict.dead else f"{queue}.retry", copy)
        except Exception as err:  # noqa: BLE001 - the broker keeps the original and delivers it again
            log.warning("%s: message %s goes back to its queue: %r", queue, incoming.message_id, err)
            await quietly(incoming.nack(requeue=True))
            return
        await incoming.ack()


def _log(
    queue: str, message_id: str | None, verdict: Verdict, exc: Exception, failures: int, limit: int
) -> None:
    if verdict.dead:
        log.error("%s: dead-lettering message %s: %s", queue, message_id, verdict.reason)
    elif verdict.counted:
        log.warning(
            "%s: message %s failed (attempt %d of %d), retrying in %.1f s: %s",
            queue,
            message_id,
            failures,
            limit + 1,
            verdict.delay,
            verdict.reason,
            exc_info=failures == 1 and not isinstance(exc, Retry),
        )
    else:
        log.warning(
            "%s: message %s waits %.1f s for the database or the broker (not counted as a failure): %s",
            queue,
            message_id,
            verdict.delay,
            verdict.reason,
        )


async def quietly(aw: Awaitable) -> None:
    try:
        await aw
    except Exception as exc:  # noqa: BLE001 - the connection may already be gone; the broker redelivers
        log.debug("ignored while closing: %r", exc)
