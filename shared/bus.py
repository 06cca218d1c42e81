"""The message bus on RabbitMQ (aio-pika).

One durable topic exchange. Each consumer owns a durable quorum queue, bound to the routing keys of the message
types it handles, with a delivery limit and a dead-letter queue of its own. Publishes are persistent, mandatory
and confirmed. A message is acked only after its handler returned (so after the handler's transaction committed);
a ``PermanentError`` dead-letters it at once, any other exception requeues it after a short backoff until the
delivery limit dead-letters it.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass

import aio_pika
from aio_pika.abc import AbstractIncomingMessage, AbstractRobustConnection

from shared.messages import Message

log = logging.getLogger(__name__)

Handler = Callable[[Message], Awaitable[Iterable[Message] | None]]


class PermanentError(Exception):
    """The message can never be handled: dead-letter it, do not retry."""


class Undelivered(RuntimeError):
    """The broker did not take a message (no queue is bound to its key, or it refused it): a failure to retry."""


@dataclass
class _Subscription:
    consumer: str
    types: tuple[type[Message], ...]
    handler: Handler


class Bus:
    def __init__(
        self,
        url: str,
        prefix: str = "cardsync",
        prefetch: int = 16,
        delivery_limit: int = 5,
        retry_base: float = 0.5,
    ):
        self.url = url
        self.retry_base = retry_base
        self.prefix = prefix
        self.prefetch = prefetch
        self.delivery_limit = delivery_limit
        self._connection: AbstractRobustConnection | None = None
        self._publish_channel: aio_pika.abc.AbstractChannel | None = None
        self._exchange: aio_pika.abc.AbstractExchange | None = None
        self._subscriptions: list[_Subscription] = []
        self._channels: list[aio_pika.abc.AbstractChannel] = []

    @property
    def connected(self) -> bool:
        # A robust connection stays open across a broker outage; `connected` says whether it is up now.
        return self._connection is not None and self._connection.connected.is_set()

    async def connect(self) -> None:
        self._connection = await aio_pika.connect_robust(
            self.url, client_properties={"connection_name": self.prefix}
        )
        # A message no queue takes comes back (mandatory) and fails its publish, instead of being dropped.
        self._publish_channel = await self._connection.channel(publisher_confirms=True, on_return_raises=True)
        self._publish_channel.return_callbacks.add(self._on_return)
        self._exchange = await self._publish_channel.declare_exchange(
            self.prefix, aio_pika.ExchangeType.TOPIC, durable=True
        )

    @staticmethod
    def _on_return(_channel, message) -> None:
        log.error(
            "message %s with key %s was not routed to any queue", message.message_id, message.routing_key
        )

    async def publish(self, *messages: Message) -> None:
        """Publish and wait for the broker's confirms; Undelivered when the broker did not take one."""
        undelivered = await self.publish_raw([(m.routing_key, m.message_id, m.to_bytes()) for m in messages])
        if undelivered:
            raise Undelivered(
                f"{len(undelivered)} of {len(messages)} messages reached no queue"
                f" ({messages[undelivered[0]].routing_key}): is every service's queue declared?"
            )

    async def publish_raw(self, items: list[tuple[str, str, bytes]]) -> list[int]:
        """Publish and wait for the broker's confirms; the positions of the messages the broker did not take
        (it returned them, for no queue was bound to their key, or refused them), for the caller to send again."""
        assert self._exchange is not None, "connect() first"
        outcomes = await asyncio.gather(
            *(
                self._exchange.publish(
                    aio_pika.Message(
                        body,
                        message_id=message_id,
                        content_type="application/json",
                        delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                    ),
                    routing_key=key,
                    mandatory=True,
                )
                for key, message_id, body in items
            ),
            return_exceptions=True,
        )
        for outcome in outcomes:
            if isinstance(outcome, BaseException) and not isinstance(
                outcome, aio_pika.exceptions.DeliveryError
            ):
                raise outcome
        return [
            i for i, outcome in enumerate(outcomes) if isinstance(outcome, aio_pika.exceptions.DeliveryError)
        ]

    def subscribe(self, consumer: str, types: Iterable[type[Message]], handler: Handler) -> None:
        self._subscriptions.append(_Subscription(consumer, tuple(types), handler))

    def queue_name(self, consumer: str) -> str:
        return f"{self.prefix}.{consumer}"

    async def declare(self, consumer: str, types: Iterable[type[Message]]) -> aio_pika.abc.AbstractQueue:
        """Declare a consumer's queue, its dead-letter queue and bindings (idempotent); return the queue."""
        assert self._connection is not None, "connect() first"
        channel = await self._connection.channel()
        self._channels.append(channel)
        await channel.set_qos(prefetch_count=self.prefetch)
        exchange = await channel.declare_exchange(self.prefix, aio_pika.ExchangeType.TOPIC, durable=True)
        dlx = await channel.declare_exchange(
            f"{self.prefix}.dead", aio_pika.ExchangeType.DIRECT, durable=True
        )
        name = self.queue_name(consumer)
        dead = await channel.declare_queue(f"{name}.dead", durable=True, arguments={"x-queue-type": "quorum"})
        await dead.bind(dlx, routing_key=name)
        queue = await channel.declare_queue(
            name,
            durable=True,
            arguments={
                "x-queue-type": "quorum",
                "x-delivery-limit": self.delivery_limit,
                "x-dead-letter-exchange": f"{self.prefix}.dead",
                "x-dead-letter-routing-key": name,
            },
        )
        for t in types:
            await queue.bind(exchange, routing_key=t.routing_key)
        return queue

    async def start(self) -> None:
        """Declare every subscription's queues and start consuming."""
        for sub in self._subscriptions:
            queue = await self.declare(sub.consumer, sub.types)
            await queue.consume(self._make_callback(sub))

    async def consume(self, consumer: str, types: Iterable[type[Message]], handler: Handler) -> None:
        """Subscribe and start consuming at once (for services started one after another)."""
        sub = _Subscription(consumer, tuple(types), handler)
        queue = await self.declare(sub.consumer, sub.types)
        await queue.consume(self._make_callback(sub))

    def _make_callback(self, sub: _Subscription):
        by_key = {t.routing_key: t for t in sub.types}

        async def on_message(incoming: AbstractIncomingMessage) -> None:
            kind = by_key.get(incoming.routing_key or "")
            try:
                if kind is None:
                    raise PermanentError(f"no handler for routing key {incoming.routing_key!r}")
                try:
                    message = kind.from_bytes(incoming.body)
                except ValueError as exc:
                    raise PermanentError(f"malformed {kind.__name__}: {exc}") from exc
                emitted = await sub.handler(message)
                if emitted:
                    await self.publish(*emitted)
            except PermanentError as exc:
                log.error("%s: dead-lettering message %s: %s", sub.consumer, incoming.message_id, exc)
                await incoming.reject(requeue=False)
            except asyncio.CancelledError:
                await _quietly(incoming.nack(requeue=True))
                raise
            except Exception as exc:
                attempt = int((incoming.headers or {}).get("x-delivery-count", 0) or 0) + 1
                delay = min(30.0, self.retry_base * 2**attempt) * random.uniform(0.5, 1.0)
                log.warning(
                    "%s: message %s failed (attempt %d of %d), retrying in %.1fs: %r",
                    sub.consumer,
                    incoming.message_id,
                    attempt,
                    self.delivery_limit + 1,
                    delay,
                    exc,
                    exc_info=attempt == 1,
                )
                await asyncio.sleep(delay)
                await _quietly(incoming.nack(requeue=True))
            else:
                await incoming.ack()

        return on_message

    async def queue_depth(self, consumer: str) -> int | None:
        """Messages ready in a consumer's queue, or None when it was not declared yet."""
        assert self._connection is not None, "connect() first"
        channel = await self._connection.channel()
        try:
            queue = await channel.declare_queue(self.queue_name(consumer), passive=True)
            return queue.declaration_result.message_count
        except aio_pika.exceptions.ChannelClosed:
            return None
        finally:
            await _quietly(channel.close())

    async def close(self) -> None:
        for channel in self._channels:
            await _quietly(channel.close())
        self._channels.clear()
        if self._connection is not None:
            await _quietly(self._connection.close())
            self._connection = None


async def _quietly(aw: Awaitable) -> None:
    try:
        await aw
    except Exception as exc:  # noqa: BLE001 - the connection may already be gone; the broker redelivers
        log.debug("ignored while closing: %r", exc)
