"""`cardsync dead-letters`: list, show, replay or purge the messages in the services' dead-letter queues.

The messages are taken from a queue unacknowledged, one by one, all held until the command is done: the ones
it acts on are acked after their copy (a replay) is confirmed; the others go back to the queue, in their
order, when its channel closes. A replayed message goes to its service's queue alone, with a fresh count of
failures."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import aio_pika
import orjson
from aio_pika.abc import AbstractChannel, AbstractIncomingMessage

from shared.bus import Bus
from shared.runtime import StartupError, Unreachable, connect_bus
from shared.settings import Settings
from shared.settlement import ERROR, FAILURES, OUTAGES
from shared.topology import CONSUMERS

BUS_HEADERS = frozenset({FAILURES, OUTAGES, ERROR})
Out = Callable[[str], None]


@dataclass
class Letter:
    """One dead-lettered message, read from its queue and still held."""

    message: AbstractIncomingMessage

    @property
    def death(self) -> dict:
        """What the broker recorded when it dead-lettered the message itself (its queue's delivery limit)."""
        deaths = (self.message.headers or {}).get("x-death") or [{}]
        return deaths[0] if isinstance(deaths[0], dict) else {}

    @property
    def kind(self) -> str:
        keys = self.death.get("routing-keys") or ["?"]
        return self.message.type or str(keys[0])

    @property
    def when(self) -> str:
        at = self.message.timestamp or self.death.get("time")
        return at.isoformat(timespec="seconds") if isinstance(at, datetime) else "?"

    @property
    def error(self) -> str:
        headers = self.message.headers or {}
        if ERROR in headers:
            return str(headers[ERROR])
        return f"{self.death.get('reason', 'dead-lettered')} in {self.death.get('queue', 'its queue')}"


async def run(settings: Settings, args: argparse.Namespace, out: Out = print) -> int:
    if args.action == "list" and args.ids:
        return _refuse("list takes no MESSAGE_ID; `cardsync dead-letters show MESSAGE_ID` shows one")
    if args.action == "show" and len(args.ids) != 1:
        return _refuse("show takes one MESSAGE_ID (`cardsync dead-letters list` shows them)")
    if args.action in ("replay", "purge") and bool(args.ids) == args.all:
        return _refuse(f"{args.action} takes MESSAGE_IDs, or --all for every message of the queues")
    try:
        bus = await connect_bus(settings)
    except Unreachable as exc:
        raise StartupError(str(exc)) from exc
    try:
        found = set()
        for consumer in (args.queue,) if args.queue else CONSUMERS:
            found |= await _one_queue(bus, consumer, args, out)
    finally:
        await bus.close()
    missing = [i for i in args.ids if i not in found]
    if missing:
        return _refuse(f"no dead letter has the id {', '.join(missing)}")
    return 0


async def _one_queue(bus: Bus, consumer: str, args: argparse.Namespace, out: Out) -> set[str]:
    """Act on one dead-letter queue; the ids of the messages acted on."""
    name = f"{bus.queue_name(consumer)}.dead"
    channel = await bus.channel()
    try:
        try:
            queue = await channel.declare_queue(name, passive=True)
        except aio_pika.exceptions.ChannelClosed:
            out(f"{name}: no such queue (the {consumer} has never run against this broker)")
            return set()
        letters = await _take(queue, args.limit)
        chosen = [x for x in letters if args.all or x.message.message_id in args.ids]
        if args.action == "list":
            out(f"{name}: {queue.declaration_result.message_count} message(s)")
            for x in letters:
                out(f"  {x.message.message_id}  {x.kind}  {x.when}  {' '.join(x.error.split())[:160]}")
            if queue.declaration_result.message_count > len(letters):
                out(
                    f"  and {queue.declaration_result.message_count - len(letters)} more (--limit reads more)"
                )
        elif args.action == "show":
            for x in chosen:
                out(_shown(name, x))
        elif args.action == "replay":
            for x in chosen:
                await bus.send_to_queue(bus.queue_name(consumer), _fresh(x))
                await x.message.ack()
            out(f"{name}: {len(chosen)} message(s) replayed to {bus.queue_name(consumer)}")
        else:
            for x in chosen:
                await x.message.ack()
            out(f"{name}: {len(chosen)} message(s) purged")
        return {x.message.message_id or "" for x in chosen}
    finally:
        await _close(channel)  # the messages not acted on go back to the queue


async def _take(queue: aio_pika.abc.AbstractQueue, limit: int) -> list[Letter]:
    letters = []
    while len(letters) < limit and (message := await queue.get(no_ack=False, fail=False)) is not None:
        letters.append(Letter(message))
    return letters


def _fresh(letter: Letter) -> aio_pika.Message:
    """A copy to send again: its type kept (a broker's dead letter names it only in x-death), its failures
    forgotten."""
    message = letter.message
    headers = {
        k: v for k, v in (message.headers or {}).items() if k not in BUS_HEADERS and not k.startswith("x-")
    }
    return aio_pika.Message(
        message.body,
        message_id=message.message_id,
        type=letter.kind,
        content_type=message.content_type,
        headers=headers,
        delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
    )


def _shown(queue: str, letter: Letter) -> str:
    message = letter.message
    try:
        body = orjson.dumps(orjson.loads(message.body), option=orjson.OPT_INDENT_2).decode()
    except orjson.JSONDecodeError:
        body = message.body.decode(errors="replace")
    return "\n".join(
        [
            f"queue:    {queue}",
            f"id:       {message.message_id}",
            f"type:     {letter.kind}",
            f"failed:   {letter.when}",
            f"failures: {(message.headers or {}).get(FAILURES, '?')}",
            f"error:    {letter.error}",
            body,
        ]
    )


async def _close(channel: AbstractChannel) -> None:
    if not channel.is_closed:
        await channel.close()


def _refuse(sentence: str) -> int:
    print(f"cardsync: {sentence}", file=sys.stderr)
    return 1
