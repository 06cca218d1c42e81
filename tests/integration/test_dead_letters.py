"""`cardsync dead-letters` against the real RabbitMQ: list, show, replay and purge what no handler could
take."""

from __future__ import annotations

from datetime import UTC, datetime

import aio_pika

from services import dead_letters
from services.cli import _parser
from shared.errors import Permanent
from shared.messages import InviteRequested
from tests.integration.test_bus import dead_letters as depth
from tests.integration.test_bus import wait_for, wait_for_async


async def command(settings, *argv: str) -> tuple[int, list[str]]:
    lines: list[str] = []
    code = await dead_letters.run(settings, _parser().parse_args(["dead-letters", *argv]), out=lines.append)
    return code, lines


async def test_dead_letters_are_listed_shown_replayed_and_purged(settings, bus):
    mended = False
    handled = []

    async def handler(message):
        if not mended:
            raise Permanent(f"member {message.member_id} is not an id")
        handled.append(message.member_id)

    await bus.consume("notifier", [InviteRequested], handler)
    first, second = InviteRequested(team_id="t", member_id="m1"), InviteRequested(team_id="t", member_id="m2")
    await bus.publish(first, second)
    await wait_for_async(lambda: depth(bus.prefix, "notifier"), 2)

    code, lines = await command(settings, "list", "--queue", "notifier")
    assert code == 0 and lines[0] == f"{bus.prefix}.notifier.dead: 2 message(s)"
    listed = {line.split()[0]: line for line in lines[1:]}
    assert set(listed) == {first.message_id, second.message_id}
    assert (
        "notify.invite" in listed[first.message_id] and "member m1 is not an id" in listed[first.message_id]
    )

    code, lines = await command(settings, "show", first.message_id)
    shown = "\n".join(lines)
    assert code == 0 and "error:    member m1 is not an id" in shown and '"member_id": "m1"' in shown
    assert await depth(bus.prefix, "notifier") == 2  # looking takes nothing away

    mended = True
    code, lines = await command(settings, "replay", first.message_id)
    assert (
        code == 0 and f"{bus.prefix}.notifier.dead: 1 message(s) replayed to {bus.prefix}.notifier" in lines
    )
    await wait_for(lambda: handled == ["m1"])
    assert await depth(bus.prefix, "notifier") == 1

    code, lines = await command(settings, "purge", "--all", "--queue", "notifier")
    assert code == 0 and lines == [f"{bus.prefix}.notifier.dead: 1 message(s) purged"]
    assert await depth(bus.prefix, "notifier") == 0 and handled == ["m1"]


async def test_a_dead_letter_of_the_broker_is_replayed_under_the_type_it_had(settings, bus):
    """A message the queue's delivery limit dead-lettered (its consumer kept dying) carries its routing key
    only in x-death."""
    handled = []

    async def handler(message):
        handled.append(message)

    await bus.consume("notifier", [InviteRequested], handler)
    sent = InviteRequested(team_id="t", member_id="m1")
    death = {
        "reason": "delivery_limit",
        "queue": f"{bus.prefix}.notifier",
        "routing-keys": [InviteRequested.routing_key],
        "time": datetime.now(UTC),
        "count": 1,
    }
    letter = aio_pika.Message(sent.to_bytes(), message_id=sent.message_id, headers={"x-death": [death]})
    await bus.send_to_queue(f"{bus.prefix}.notifier.dead", letter)
    await wait_for_async(lambda: depth(bus.prefix, "notifier"), 1)

    code, lines = await command(settings, "list")
    assert code == 0 and f"delivery_limit in {bus.prefix}.notifier" in "\n".join(lines)
    assert f"{bus.prefix}.fetcher.dead: no such queue" in lines[0]  # the fetcher never ran here

    code, _ = await command(settings, "replay", "--all")
    assert code == 0
    await wait_for(lambda: handled == [sent])


async def test_replay_and_purge_ask_which_messages(settings, bus, capsys):
    assert (await command(settings, "purge"))[0] == 1
    assert "MESSAGE_IDs, or --all" in capsys.readouterr().err
    await bus.declare("notifier", [InviteRequested])
    assert (await command(settings, "replay", "no-such-id"))[0] == 1
    assert "no dead letter has the id no-such-id" in capsys.readouterr().err
