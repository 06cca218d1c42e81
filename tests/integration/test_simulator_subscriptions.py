"""The simulated Graph's subscriptions and change notifications: the URL validation handshake, Graph's limits,
batches with duplicates and out-of-order delivery, retries, and lifecycle notifications."""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from simulator import Simulator, Tenant
from simulator.subscriptions import MAX_LIFETIME
from tests.fixtures.sim import SIM_CLIENT_ID


class Receiver:
    """An endpoint that answers the handshake (or not, as told) and keeps what it is sent."""

    def __init__(self) -> None:
        self.received: list[list[dict[str, Any]]] = []
        self.answer = "echo"  # echo, wrong, json, error
        self.status = 202

    async def handle(self, request: web.Request) -> web.Response:
        token = request.query.get("validationToken")
        if token is not None:
            if self.answer == "echo":
                return web.Response(text=token, content_type="text/plain")
            if self.answer == "wrong":
                return web.Response(text=token + "!", content_type="text/plain")
            if self.answer == "json":
                return web.json_response(token)
            return web.Response(status=500)
        self.received.append((await request.json())["value"])
        return web.Response(status=self.status)

    def items(self) -> list[dict[str, Any]]:
        return [item for batch in self.received for item in batch]


@pytest.fixture
async def receiver():
    found = Receiver()
    app = web.Application()
    app.router.add_post("/{tail:.*}", found.handle)
    async with TestServer(app) as server:
        found.url = str(server.make_url("/hook"))
        yield found


@pytest.fixture
async def graph(simulator: Simulator, sim_tenant: Tenant):
    """Calls Graph with a token carrying the app's permissions at the time of the call."""
    sim_tenant.grant(SIM_CLIENT_ID, "Group.Read.All")
    async with aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(ssl=simulator.client_ssl_context())
    ) as session:

        async def call(method: str, path: str, body: Any = None) -> tuple[int, Any]:
            granted = frozenset(sim_tenant.permissions[SIM_CLIENT_ID])
            token = simulator.tokens.issue(sim_tenant.tenant_id, SIM_CLIENT_ID, granted, 3600)
            url, headers = f"{simulator.graph_url}/{path}", {"Authorization": f"Bearer {token}"}
            async with session.request(method, url, json=body, headers=headers) as resp:
                return resp.status, await resp.json(content_type=None) if resp.status != 204 else None

        yield call


def subscription(receiver: Receiver, **changes: Any) -> dict[str, Any]:
    return {
        "changeType": "updated,deleted",
        "notificationUrl": receiver.url,
        "lifecycleNotificationUrl": receiver.url + "/lifecycle",
        "resource": "/users",
        "expirationDateTime": (datetime.now(UTC) + timedelta(days=2)).isoformat(),
        "clientState": "secret-state",
        **changes,
    }


async def test_a_subscription_is_made_only_once_its_urls_answer_the_handshake(graph, receiver):
    status, made = await graph("POST", "subscriptions", subscription(receiver))
    assert status == 201 and made["resource"] == "users" and made["clientState"] == "secret-state"
    assert (await graph("GET", f"subscriptions/{made['id']}"))[1]["id"] == made["id"]
    for answer in ("wrong", "json", "error"):
        receiver.answer = answer
        status, body = await graph("POST", "subscriptions", subscription(receiver))
        assert status == 400 and "validation request failed" in body["error"]["message"]
    status, listed = await graph("GET", "subscriptions")
    assert [s["id"] for s in listed["value"]] == [made["id"]]


@pytest.mark.parametrize(
    ("changes", "status", "words"),
    [
        ({"changeType": "created,updated"}, 400, "ChangeType"),
        ({"resource": "/users/x/messages"}, 400, "not supported"),
        ({"notificationUrl": "http://cards.example.com/hook"}, 400, "https"),
        ({"expirationDateTime": "2020-01-01T00:00:00Z"}, 400, "future"),
        ({"clientState": "x" * 129}, 400, "clientState"),
    ],
)
async def test_graphs_limits_on_a_subscription(graph, receiver, changes, status, words):
    answer, body = await graph("POST", "subscriptions", subscription(receiver, **changes))
    assert answer == status and words in body["error"]["message"]


async def test_the_longest_lifetime_and_the_permissions(graph, receiver, sim_tenant):
    too_long = (datetime.now(UTC) + MAX_LIFETIME + timedelta(minutes=5)).isoformat()
    status, body = await graph("POST", "subscriptions", subscription(receiver, expirationDateTime=too_long))
    assert status == 400 and "41760 minutes" in body["error"]["message"]
    sim_tenant.revoke(SIM_CLIENT_ID, "Group.Read.All")
    assert (await graph("POST", "subscriptions", subscription(receiver, resource="groups")))[0] == 403


async def test_renewal_deletion_and_expiry(simulator, graph, receiver):
    _, made = await graph("POST", "subscriptions", subscription(receiver))
    later = (datetime.now(UTC) + timedelta(days=20)).isoformat()
    status, renewed = await graph("PATCH", f"subscriptions/{made['id']}", {"expirationDateTime": later})
    assert status == 200 and renewed["expirationDateTime"] != made["expirationDateTime"]
    assert (await graph("POST", f"subscriptions/{made['id']}/reauthorize"))[0] == 204
    assert (await graph("DELETE", f"subscriptions/{made['id']}"))[0] == 204
    assert (await graph("PATCH", f"subscriptions/{made['id']}", {"expirationDateTime": later}))[0] == 404

    _, short = await graph("POST", "subscriptions", subscription(receiver))
    simulator.subscriptions.now = lambda: datetime.now(UTC) + timedelta(days=3)  # past its expiry
    assert (await graph("GET", f"subscriptions/{short['id']}"))[0] == 404


async def test_changes_arrive_in_batches_with_duplicates_out_of_order(simulator, graph, receiver, sim_tenant):
    _, users = await graph("POST", "subscriptions", subscription(receiver))
    _, groups = await graph(
        "POST", "subscriptions", subscription(receiver, resource="groups", clientState="g")
    )
    simulator.notifier.batch, simulator.notifier.duplicates = 5, 0.3
    simulator.notifier.rng = random.Random(7)  # as Simulator(seed=7) draws them
    changed = sorted(sim_tenant.users)[:12]
    for i, uid in enumerate(changed):
        sim_tenant.update_user(uid, jobTitle=f"Title {i}")
    group, member = next((g, m) for g, ms in sim_tenant.members.items() for m in ms if m in sim_tenant.users)
    sim_tenant.remove_member(group, member)
    gone = changed[0]
    sim_tenant.delete_user(gone, permanent=True)
    await simulator.notifier.round()

    items = receiver.items()
    assert all(len(batch) <= 5 for batch in receiver.received) and len(receiver.received) >= 3
    user_items = [i for i in items if i["subscriptionId"] == users["id"]]
    assert {i["resourceData"]["id"] for i in user_items} == set(changed)
    assert len(user_items) > 13  # some sent twice
    sequence = [i["resourceData"]["sequenceNumber"] for i in items]
    assert sequence != sorted(sequence)  # not in the order they happened
    deleted = [i for i in user_items if i["changeType"] == "deleted"]
    assert deleted and {i["resource"] for i in deleted} == {f"Users/{gone}"}
    assert all(
        i["clientState"] == "secret-state" and i["tenantId"] == sim_tenant.tenant_id for i in user_items
    )
    [membership, *_] = [i for i in items if i["subscriptionId"] == groups["id"]]
    assert membership["resource"] == f"Groups/{group}" and membership["changeType"] == "updated"
    assert membership["resourceData"]["members@delta"] == [{"id": member, "@removed": "deleted"}]
    assert membership["clientState"] == "g"


async def test_a_failed_delivery_is_sent_again(simulator, graph, receiver, sim_tenant):
    await graph("POST", "subscriptions", subscription(receiver))
    simulator.notifier.retry_after = 0.1
    receiver.status = 503
    sim_tenant.update_user(next(iter(sim_tenant.users)), jobTitle="Again")
    await simulator.notifier.round()
    assert [d.status for d in simulator.notifier.deliveries] == [503]
    receiver.status = 202
    for _ in range(50):  # the simulator's own rounds send it again
        if simulator.notifier.deliveries[-1].status == 202:
            break
        await asyncio.sleep(0.05)
    assert simulator.notifier.deliveries[-1].status == 202
    assert receiver.received[-1] == receiver.received[0]


async def test_lifecycle_notifications_on_demand(simulator, graph, receiver):
    _, made = await graph("POST", "subscriptions", subscription(receiver))
    assert await simulator.notifier.lifecycle(made["id"], "reauthorizationRequired") == 202
    [[event]] = receiver.received
    assert event == {
        "subscriptionId": made["id"],
        "subscriptionExpirationDateTime": made["expirationDateTime"],
        "tenantId": made and event["tenantId"],
        "clientState": "secret-state",
        "lifecycleEvent": "reauthorizationRequired",
    }
    await simulator.notifier.lifecycle(made["id"], "subscriptionRemoved")
    assert (await graph("GET", f"subscriptions/{made['id']}"))[0] == 404


async def test_notifications_flow_without_being_asked(simulator, graph, receiver, sim_tenant):
    """The simulator's own loop sends them, a moment after the change."""
    await graph("POST", "subscriptions", subscription(receiver))
    sim_tenant.update_user(next(iter(sim_tenant.users)), jobTitle="Soon")
    for _ in range(50):
        if receiver.received:
            break
        await asyncio.sleep(0.05)
    assert receiver.received
