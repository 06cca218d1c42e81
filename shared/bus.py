"""The message bus on RabbitMQ (aio-pika).

One durable topic exchange. Each consumer owns a durable quorum queue, bound to the routing keys of the
message types it handles, with a retry queue and a dead-letter queue of its own. Publishes are persistent,
mandatory and confirmed, within a timeout. A message is settled in one place (``shared.settlement``): acked
once its handler returned (so after the handler's transaction committed), else retried through the retry queue
or dead-lettered. A consumer that dies with messages in hand has them redelivered by the broker, and the
queue's delivery limit dead-letters a message that keeps killing its consumer.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable

import aio_pika
from aio_pika.abc import AbstractIncomingMessage, AbstractQueue, AbstractRobustConnection

from shared.errors import Permanent
from shared.messages import Message
from shared.settlement import Settlement, quietly

log = logging.getLogger(__name__)

Handler = Callable[[Message], Awaitable[Iterable[Message] | None]]


class Undelivered(RuntimeError):
    """The broker did not take a message (no queue is bound to its key, or it refused it): a failure to
    retry."""


class Bus:
    def __init__(
        self,
        url: str,
        prefix: str = "cardsync",
        prefetch: int = 16,
        delivery_limit: int = 5,
        retry_base: float = 0.5,
        retry_longest: float = 30.0,
        publish_timeout: float = 30.0,
    ):
        self.url = url
        self.prefix = prefix
        self.prefetch = prefetch
        self.delivery_limit = delivery_limit
        # RabbitMQ expires messages from a queue's head only: a message waits in the retry queue for its own
        # delay, and at most for the longest one queued before it.
        self.settlement = Settlement(self.send_to_queue, delivery_limit, retry_base, retry_longest)
        self.publish_timeout = publish_timeout
        self._connection: AbstractRobustConnection | None = None
        self._publish_channel: aio_pika.abc.AbstractChannel | None = None
        self._exchange: aio_pika.abc.AbstractExchange | None = None
        self._channels: list[aio_pika.abc.AbstractChannel] = []
        self._consumers: dict[str, tuple[AbstractQueue, str]] = {}
        self.consumers: list[str] = []  # every consumer this process was asked to run, for readiness
        self.in_hand = 0  # messages delivered and not yet settled
        self._idle = asyncio.Event()
        self._idle.set()

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
        (it returned them, for no queue was bound to their key, or refused them), for the caller to send
        again."""
        assert self._exchange is not None, "connect() first"
        outcomes = await asyncio.gather(
            *(
                self._exchange.publish(
                    # The type names the message wherever it travels: a retried or replayed message comes back
                    # with its queue's name for its routing key.
                    aio_pika.Message(
                        body,
                        message_id=message_id,
                        type=key,
                        content_type="application/json",
                        delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                    ),
                    routing_key=key,
                    mandatory=True,
                    timeout=self.publish_timeout,
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

    async def send_to_queue(self, queue: str, message: aio_pika.Message) -> None:
        """Publish straight into one queue (the default exchange), confirmed; Undelivered when it is
        missing."""
        assert self._publish_channel is not None, "connect() first"
        try:
            await self._publish_channel.default_exchange.publish(message, routing_key=queue, mandatory=True)
        except aio_pika.exceptions.DeliveryError as exc:
            raise Undelivered(f"the broker did not take a message for queue {queue}") from exc

    async def channel(self) -> aio_pika.abc.AbstractChannel:
        """A channel of its own, for the caller to close."""
        assert self._connection is not None, "connect() first"
        return await self._connection.channel()

    def queue_name(self, consumer: str) -> str:
        return f"{self.prefix}.{consumer}"

    async def declare(
        self, consumer: str, types: Iterable[type[Message]], unbind: Iterable[type[Message]] = ()
    ) -> AbstractQueue:
        """Declare a consumer's queue, its retry and dead-letter queues and bindings (idempotent), and take
        away the bindings of ``unbind`` (types another queue of the service now takes); return the queue."""
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
        # Expired messages go back into the consumer's queue alone (the default exchange), not to every queue
        # bound to their key; at least once, so that a retry is never lost on its way back.
        await channel.declare_queue(
            f"{name}.retry",
            durable=True,
            arguments={
                "x-queue-type": "quorum",
                "x-dead-letter-exchange": "",
                "x-dead-letter-routing-key": name,
                "x-dead-letter-strategy": "at-least-once",
                "x-overflow": "reject-publish",
            },
        )
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
        for t in unbind:
            await queue.unbind(exchange, routing_key=t.routing_key)
        return queue

    async def consume(
        self,
        consumer: str,
        types: Iterable[type[Message]],
        handler: Handler,
        bind: Iterable[type[Message]] | None = None,
    ) -> None:
        """Declare the consumer's queues and start handing its messages to ``handler``. The queue is bound to
        the keys of ``bind`` (by default all of ``types``) and unbound from the other types, which it still
        handles: a message that was routed to it before another queue took its type is not lost."""
        by_key = {t.routing_key: t for t in types}
        bound = list(by_key.values()) if bind is None else list(bind)
        queue = await self.declare(consumer, bound, [t for t in by_key.values() if t not in bound])

        async def handle(incoming: AbstractIncomingMessage) -> None:
            key = incoming.type or incoming.routing_key or ""
            kind = by_key.get(key)
            if kind is None:
                raise Permanent(f"no handler for messages of type {key!r}")
            try:
                message = kind.from_bytes(incoming.body)
            except ValueError as exc:
                raise Permanent(f"malformed {kind.__name__}: {exc}") from exc
            emitted = await handler(message)
            if emitted:
                await self.publish(*emitted)

        async def on_message(incoming: AbstractIncomingMessage) -> None:
            self.in_hand += 1
            self._idle.clear()
            try:
                async with self.settlement.settled(queue.name, incoming):
                    await handle(incoming)
            finally:
                self.in_hand -= 1
                if self.in_hand == 0:
                    self._idle.set()

        self.consumers.append(consumer)
        self._consumers[consumer] = (queue, await queue.consume(on_message))

    def consuming(self, consumer: str) -> bool:
        """Whether the consumer takes messages now: subscribed, and its channel open."""
        entry = self._consumers.get(consumer)
        return entry is not None and self.connected and not entry[0].channel.is_closed

    async def stop_consuming(self) -> None:
        """Take no more messages; the ones in hand go on to their end."""
        for queue, tag in self._consumers.values():
            await quietly(queue.cancel(tag))
        self._consumers.clear()

    async def drain(self, grace: float) -> bool:
        """Wait up to ``grace`` seconds for the messages in hand to be settled; True when none is left."""
        try:
            await asyncio.wait_for(self._idle.wait(), grace)
        except TimeoutError:
            return False
        return True

    async def queue_depth(self, queue: str) -> int | None:
        """Messages ready in a queue (a consumer's, or ``<consumer>.dead``), or None when it was not declared
        yet."""
        assert self._connection is not None, "connect() first"
        channel = await self._connection.channel()
        try:
            declared = await channel.declare_queue(self.queue_name(queue), passive=True)
            return declared.declaration_result.message_count
        except aio_pika.exceptions.ChannelClosed:
            return None
        finally:
            await quietly(channel.close())

    async def close(self) -> None:
        for channel in self._channels:
            await quietly(channel.close())
        self._channels.clear()
        self._consumers.clear()
        if self._connection is not None:
            await quietly(self._connection.close())
            self._connection = None
