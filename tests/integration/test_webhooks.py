"""Outgoing webhooks end to end: registered through the API, member and run events written to the outbox by
the reconciler's apply and the run's end, turned into deliveries by the notifier's handler, and sent to a
local HTTPS receiver, signed (Standard Webhooks), retried under the same id, given up after 24 hours."""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass, field

import orjson
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from services.notifier.bootstrap import handler_map
from services.notifier.handlers import Notifier
from services.notifier.smtp import SmtpTransport
from services.reconciler.handlers import Reconciler
from services.scheduler.api import create_app
from shared.crypto import encrypt
from shared.messages import WEBHOOK_BATCH, WebhookEvent
from shared.webhooks import sign
from shared.worker import dispatch
from tests.fixtures.api import make_team
from tests.fixtures.reconciler import TeamRuns, user


@dataclass
class Receiver:
    """An HTTPS endpoint on 127.0.0.1 that keeps what it is sent, and answers ``fail`` with a 500 first."""

    url: str = ""
    received: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    fail: int = 0
    hold: asyncio.Event | None = None  # when set: each request waits for it before answering
    ca_file: str = ""

    async def handle(self, request: web.Request) -> web.Response:
        self.received.append((dict(request.headers), await request.read()))
        if self.hold is not None:
            await self.hold.wait()
        if self.fail:
            self.fail -= 1
            return web.Response(status=500)
        return web.Response(status=204)

    def events(self) -> list[dict]:
        return [orjson.loads(body) for _, body in self.received]


@pytest.fixture
async def receiver(server_tls):
    found = Receiver()
    app = web.Application()
    app.router.add_post("/hook", found.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=server_tls.context)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    found.url = f"https://127.0.0.1:{port}/hook"
    found.ca_file = server_tls.ca_file
    yield found
    await runner.cleanup()


@pytest.fixture
def hook_settings(settings, server_tls):
    return settings.model_copy(update={"webhooks_allow_private": True, "ca_file": server_tls.ca_file})


@pytest.fixture
async def client(pool, hook_settings):
    async with TestClient(TestServer(create_app(pool, hook_settings))) as test_client:
        yield test_client


@pytest.fixture
async def notifier(pool, hook_settings):
    transport = SmtpTransport(hook_settings)
    notifier = Notifier(pool, hook_settings, transport)
    yield notifier
    await notifier.webhooks.close()
    await transport.close()


async def _relay(pool, notifier: Notifier, twice: bool = True) -> list[WebhookEvent]:
    """What the outbox holds for the notifier's webhooks, handed to it as its consumer would (twice: a
    redelivery), then every due delivery sent."""
    rows = await pool.fetch(
        "DELETE FROM outbox WHERE routing_key = $1 RETURNING body", WebhookEvent.routing_key
    )
    events = [WebhookEvent.from_bytes(bytes(r["body"])) for r in rows]
    for event in events * (2 if twice else 1):
        await dispatch(handler_map(notifier), event)
    while await notifier.webhooks.send_due():
        pass
    return events


def _verified(secret: str, headers: dict[str, str], body: bytes) -> bool:
    stamp = int(headers["webhook-timestamp"])
    return abs(time.time() - stamp) < 60 and headers["webhook-signature"] == sign(
        secret, headers["webhook-id"], stamp, body
    )


async def test_webhook_urls_are_checked(api, operator):
    team = await make_team(api, operator)
    path = f"/api/v1/teams/{team['id']}/webhooks"
    for url in [
        "http://hooks.example.com/x",
        "https://127.0.0.1/x",
        "https://10.1.2.3/x",
        "https://[::1]/x",
        "https://169.254.169.254/latest",
        "https://localhost/x",
        "https://printer.local/x",
        "https://user:pw@hooks.example.com/x",
        "ftp://hooks.example.com/x",
    ]:
        resp = await api.post(path, json={"url": url, "events": ["run.finished"]}, headers=team["headers"])
        problem = await resp.json()
        assert resp.status == 422 and problem["errors"][0]["loc"][-1] == "url", (url, problem)
    resp = await api.post(
        path, json={"url": "https://hooks.example.com/x", "events": []}, headers=team["headers"]
    )
    assert resp.status == 422
    resp = await api.post(
        path,
        json={"url": "https://hooks.example.com/x", "events": ["member.created"]},
        headers=team["headers"],
    )
    assert resp.status == 201 and (await resp.json())["secret"].startswith("whsec_")
    listed = await (await api.get(path, headers=team["headers"])).json()
    assert [h["url"] for h in listed["webhooks"]] == ["https://hooks.example.com/x"]
    assert "secret" not in listed["webhooks"][0]


async def test_events_reach_an_https_receiver_signed_once_each(
    pool, settings, client, operator, notifier, receiver
):
    team = await make_team(client, operator)
    path = f"/api/v1/teams/{team['id']}/webhooks"
    made = await client.post(
        path,
        json={"url": receiver.url, "events": ["member.created", "member.removed", "run.finished"]},
        headers=team["headers"],
    )
    assert made.status == 201, await made.text()
    hook = await made.json()
    runs = TeamRuns(pool, Reconciler(pool, settings), team["id"])

    first = await runs.sync([user(1), user(2), user(3)])
    assert first["status"] == "succeeded"
    events = await _relay(pool, notifier)
    assert sorted(e.event for e in events) == ["member.created", "run.finished"]
    assert len(receiver.received) == 2  # a redelivered message made no second delivery
    assert all(_verified(hook["secret"], h, b) for h, b in receiver.received)
    assert len({h["webhook-id"] for h, _ in receiver.received}) == 2
    created = next(e for e in receiver.events() if e["type"] == "member.created")
    assert sorted(m["name"] for m in created["data"]["members"]) == ["User 00001", "User 00002", "User 00003"]
    assert {m["email"] for m in created["data"]["members"]} >= {"user00001@contoso.com"}
    finished = next(e for e in receiver.events() if e["type"] == "run.finished")
    assert finished["data"]["status"] == "succeeded" and finished["data"]["counts"]["created"] == 3
    assert finished["data"]["run_id"] == str(first["id"])

    # The receiver fails once: the delivery waits with backoff and goes again under the same id.
    receiver.received.clear()
    receiver.fail = 1
    await runs.sync([user(1), user(2, jobTitle="Boss")])  # user 3 left; user 2's update is not subscribed
    await _relay(pool, notifier, twice=False)
    listed = await (await client.get(f"{path}/{hook['id']}/deliveries", headers=team["headers"])).json()
    pending = [d for d in listed["deliveries"] if d["status"] == "pending"]
    assert len(pending) == 1 and pending[0]["attempts"] == 1 and pending[0]["last_status"] == 500
    assert pending[0]["next_attempt_at"] is not None
    assert len(receiver.received) == 2
    await pool.execute("UPDATE webhook_deliveries SET next_attempt_at = now() WHERE status = 'pending'")
    while await notifier.webhooks.send_due():
        pass
    assert len(receiver.received) == 3
    retried = [h["webhook-id"] for h, _ in receiver.received]
    assert retried[-1] in retried[:-1]  # the same delivery, the same id
    assert {e["type"] for e in receiver.events()} == {"member.removed", "run.finished"}
    removed = next(e for e in receiver.events() if e["type"] == "member.removed")
    (gone,) = removed["data"]["members"]
    assert (gone["name"], gone["status"]) == ("User 00003", "removed")
    assert gone["directory_id"] == user(3).id
    listed = await (await client.get(f"{path}/{hook['id']}/deliveries", headers=team["headers"])).json()
    assert [d["status"] for d in listed["deliveries"]] == ["delivered"] * 4

    # A receiver that fails for 24 hours: the delivery is given up, and says why.
    receiver.fail = 100
    await runs.sync([user(1)])
    await _relay(pool, notifier, twice=False)
    await pool.execute(
        "UPDATE webhook_deliveries SET created_at = now() - interval '25 hours', next_attempt_at = now()"
        " WHERE status = 'pending'"
    )
    while await notifier.webhooks.send_due():
        pass
    listed = await (await client.get(f"{path}/{hook['id']}/deliveries", headers=team["headers"])).json()
    failed = [d for d in listed["deliveries"] if d["status"] == "failed"]
    assert failed and all("answered 500" in d["last_error"] for d in failed)

    # Deleting the webhook deletes its deliveries; another team sees none of it.
    assert (await client.delete(f"{path}/{hook['id']}", headers=team["headers"])).status == 204
    assert await pool.fetchval("SELECT count(*) FROM webhook_deliveries") == 0


async def test_member_events_are_batched_per_run(pool, settings, client, operator, notifier, receiver):
    team = await make_team(client, operator)
    made = await client.post(
        f"/api/v1/teams/{team['id']}/webhooks",
        json={"url": receiver.url, "events": ["member.created"]},
        headers=team["headers"],
    )
    assert made.status == 201
    runs = TeamRuns(pool, Reconciler(pool, settings), team["id"])
    count = 2 * WEBHOOK_BATCH + 7
    await runs.sync([user(n) for n in range(count)])
    rows = await pool.fetch(
        "SELECT body FROM outbox WHERE routing_key = $1 ORDER BY id", WebhookEvent.routing_key
    )
    batches = [WebhookEvent.from_bytes(bytes(r["body"])) for r in rows]
    assert sorted(len(b.member_ids) for b in batches) == [7, WEBHOOK_BATCH, WEBHOOK_BATCH]
    assert len({m for b in batches for m in b.member_ids}) == count
    await _relay(pool, notifier)
    assert sorted(e["data"]["batch"] for e in receiver.events()) == [0, 1, 2]


async def test_a_team_without_webhooks_writes_no_events(pool, team):
    await team.sync([user(1)])
    assert (
        await pool.fetchval("SELECT count(*) FROM outbox WHERE routing_key = $1", WebhookEvent.routing_key)
        == 0
    )


async def test_a_private_address_is_not_reached_unless_allowed(
    pool, settings, operator, receiver, server_tls
):
    """A webhook made while private addresses were allowed is not sent once they are not."""
    strict = settings.model_copy(update={"ca_file": server_tls.ca_file})
    transport = SmtpTransport(strict)
    notifier = Notifier(pool, strict, transport)
    team_id = await pool.fetchval(
        "INSERT INTO teams (name, token_hash) VALUES ('Contoso', $1) RETURNING id::text", uuid.uuid4().hex
    )
    await pool.execute(
        "INSERT INTO webhooks (team_id, url, events, secret_encrypted) VALUES ($1, $2, '{run.finished}', $3)",
        uuid.UUID(team_id),
        receiver.url,
        encrypt(settings.secret_keys(), "whsec_c2VjcmV0"),
    )
    runs = TeamRuns(pool, Reconciler(pool, settings), team_id)
    await runs.sync([user(1)])
    try:
        await _relay(pool, notifier, twice=False)
    finally:
        await notifier.webhooks.close()
        await transport.close()
    assert receiver.received == []
    error = await pool.fetchval("SELECT last_error FROM webhook_deliveries")
    assert "loopback, private or reserved" in error


async def test_a_crash_after_sending_sends_again_under_the_same_id(
    pool, settings, client, operator, receiver
):
    """The notifier stops (its task cancelled) while the receiver holds the request: nothing was recorded, so
    once the claim's lease is over another replica sends the delivery again, with the same webhook-id."""
    team = await make_team(client, operator)
    made = await client.post(
        f"/api/v1/teams/{team['id']}/webhooks",
        json={"url": receiver.url, "events": ["run.finished"]},
        headers=team["headers"],
    )
    assert made.status == 201
    hook_settings = settings.model_copy(update={"webhooks_allow_private": True, "ca_file": receiver.ca_file})
    first, second = (Notifier(pool, hook_settings, SmtpTransport(hook_settings)) for _ in range(2))
    try:
        await TeamRuns(pool, Reconciler(pool, settings), team["id"]).sync([user(1)])
        receiver.hold = asyncio.Event()
        for event in [
            WebhookEvent.from_bytes(bytes(r["body"]))
            for r in await pool.fetch(
                "DELETE FROM outbox WHERE routing_key = $1 RETURNING body", WebhookEvent.routing_key
            )
        ]:
            await dispatch(handler_map(first), event)
        sending = asyncio.create_task(first.webhooks.send_due())
        while not receiver.received:
            await asyncio.sleep(0.01)
        sending.cancel()  # the replica dies with the request in flight
        await asyncio.gather(sending, return_exceptions=True)
        receiver.hold.set()
        assert await second.webhooks.send_due() == 0  # claimed: the lease holds it
        await pool.execute("UPDATE webhook_deliveries SET next_attempt_at = now()")  # the lease runs out
        assert await second.webhooks.send_due() == 1
    finally:
        for notifier in (first, second):
            await notifier.webhooks.close()
            await notifier.transport.close()
    ids = [h["webhook-id"] for h, _ in receiver.received]
    assert len(ids) == 2 and ids[0] == ids[1]
    assert await pool.fetchval("SELECT status FROM webhook_deliveries") == "delivered"
