"""The address Graph posts notifications to: the validation handshake, clientState checks, lifecycle events,
and the runs notifications ask for, coalesced."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta

import pytest

from services.scheduler.realtime.notified_runs import queue_requested_runs
from services.scheduler.realtime.subscription_records import client_state_hash
from shared import runs
from shared.config import SyncConfig
from tests.fixtures.api import make_team

URL = "/api/v1/graph/notifications"
LIFECYCLE = "/api/v1/graph/lifecycle"
SECRET = "the-subscription-secret"
TENANT = "4f0c2a9e-0000-4000-8000-00000000c0de"
GROUP = {"id": "0c6d2f4e-1111-2222-3333-444455556666", "display_name": "Staff"}


async def subscribed_team(api, operator, pool, graph_id: str = "sub-1") -> str:
    """A team syncing in near-real time, connected, with one users subscription on record."""
    team = (await make_team(api, operator))["id"]
    config = SyncConfig(realtime=True, groups=[GROUP]).model_dump(mode="json")
    await pool.execute(
        "INSERT INTO sync_configs (team_id, config, cadence) VALUES ($1, $2, 'daily')", team, config
    )
    await pool.execute(
        "INSERT INTO directory_connections (team_id, kind, tenant_id, client_id)"
        " VALUES ($1, 'consent', $2, 'app')",
        team,
        TENANT,
    )
    await pool.execute(
        "INSERT INTO graph_subscriptions (graph_id, team_id, resource, tenant_id, client_id,"
        " client_state_hash, expires_at) VALUES ($1, $2, 'users', $3, 'app', $4, now() + interval '20 days')",
        graph_id,
        team,
        TENANT,
        client_state_hash(SECRET),
    )
    return team


def change(graph_id: str = "sub-1", client_state: str = SECRET, user: str = "u1", **extra) -> dict:
    return {
        "subscriptionId": graph_id,
        "clientState": client_state,
        "changeType": "updated",
        "resource": f"Users/{user}",
        "tenantId": TENANT,
        "resourceData": {"@odata.type": "#Microsoft.Graph.User", "id": user},
        **extra,
    }


async def notified_runs(pool, team) -> list:
    return await pool.fetch("SELECT * FROM sync_runs WHERE team_id = $1 AND trigger = 'notification'", team)


async def test_the_validation_token_is_answered_as_plain_text_at_once(api):
    token = "Validation: Testing client application reachability <script>&amp; 42"
    started = time.monotonic()
    resp = await api.post(
        URL, params={"validationToken": token}, data=b"", headers={"Content-Type": "text/plain"}
    )
    assert resp.status == 200 and await resp.text() == token
    assert resp.content_type == "text/plain" and resp.headers["X-Content-Type-Options"] == "nosniff"
    assert time.monotonic() - started < 1.0  # Graph gives up after 10 s
    lifecycle = await api.post(LIFECYCLE, params={"validationToken": "abc"})
    assert lifecycle.status == 200 and await lifecycle.text() == "abc"


async def test_a_change_queues_one_notification_run(api, operator, pool):
    team = await subscribed_team(api, operator, pool)
    resp = await api.post(URL, json={"value": [change(), change(user="u2")]})
    assert resp.status == 202
    assert await queue_requested_runs(pool, datetime.now(UTC)) == 0  # the window has not passed
    assert await queue_requested_runs(pool, datetime.now(UTC) + timedelta(seconds=10)) == 1
    [run] = await notified_runs(pool, team)
    assert run["status"] == "queued" and run["requested_by"] == "a change notification"
    assert await pool.fetchval("SELECT count(*) FROM outbox") == 1


@pytest.mark.parametrize(
    "item",
    [
        change(client_state="a-guess"),
        change(client_state=""),
        change(graph_id="unknown-subscription"),
        change(tenantId="another-tenant"),
        {"subscriptionId": "sub-1", "changeType": "updated"},
    ],
)
async def test_a_notification_that_is_not_believed_does_nothing(api, operator, pool, item):
    team = await subscribed_team(api, operator, pool)
    resp = await api.post(URL, json={"value": [item]})
    assert resp.status == 202  # a stranger learns nothing from the answer
    assert await pool.fetchval("SELECT count(*) FROM realtime_requests") == 0
    assert await queue_requested_runs(pool, datetime.now(UTC) + timedelta(minutes=1)) == 0
    assert await notified_runs(pool, team) == []


async def test_bodies_that_are_not_notifications_are_refused(api):
    assert (await api.post(URL, data=b"{not json")).status == 400
    assert (await api.post(URL, json={"values": []})).status == 400
    assert (await api.post(URL, json={"value": [change()] * 1001})).status == 413


async def test_a_burst_of_a_thousand_notifications_makes_a_few_runs(api, operator, pool, settings):
    team = await subscribed_team(api, operator, pool)
    settings.notification_window = 1.0
    stop = asyncio.Event()

    async def scheduler():  # the request loop, as the scheduler runs it
        while not stop.is_set():
            await queue_requested_runs(pool, datetime.now(UTC))
            await asyncio.sleep(0.05)

    async def fetcher():  # each run is taken a moment after it is queued, and ends a moment later
        while not stop.is_set():
            for run in await pool.fetch(
                "SELECT id, status FROM sync_runs WHERE status IN ('queued', 'fetching')"
            ):
                async with pool.acquire() as conn, conn.transaction():
                    if run["status"] == "queued":
                        await runs.start_fetching(conn, run["id"])
                    else:
                        await runs.fail(conn, run["id"], "ended by the test")
            await asyncio.sleep(0.2)

    loops = [asyncio.create_task(scheduler()), asyncio.create_task(fetcher())]
    try:
        for burst in range(20):  # 20 POSTs of 50, one after the other, as Graph delivers a burst
            items = [change(user=f"u{burst}-{i}") for i in range(50)]
            assert (await api.post(URL, json={"value": items})).status == 202
        await asyncio.sleep(2.5)
    finally:
        stop.set()
        await asyncio.gather(*loops)
    made = await notified_runs(pool, team)
    assert 1 <= len(made) <= 2, len(made)
    assert await pool.fetchval("SELECT count(*) FROM realtime_requests") == 0  # none left waiting


async def test_a_run_already_queued_absorbs_notifications(api, operator, pool):
    team = await subscribed_team(api, operator, pool)
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute(
            "INSERT INTO sync_runs (team_id, trigger, requested_by) VALUES ($1, 'manual', 'admin')", team
        )
    assert (await api.post(URL, json={"value": [change()]})).status == 202
    assert await queue_requested_runs(pool, datetime.now(UTC) + timedelta(minutes=1)) == 0
    assert await pool.fetchval("SELECT count(*) FROM realtime_requests") == 0
    assert await pool.fetchval("SELECT count(*) FROM sync_runs WHERE team_id = $1", team) == 1


async def test_a_run_under_way_gets_one_more_run_after_it(api, operator, pool):
    team = await subscribed_team(api, operator, pool)
    run = await pool.fetchval(
        "INSERT INTO sync_runs (team_id, trigger, status) VALUES ($1, 'manual', 'fetching') RETURNING id",
        team,
    )
    assert (await api.post(URL, json={"value": [change()]})).status == 202
    later = datetime.now(UTC) + timedelta(minutes=1)
    assert await queue_requested_runs(pool, later) == 0
    assert await pool.fetchval("SELECT count(*) FROM realtime_requests") == 1  # it waits for the run to end
    async with pool.acquire() as conn, conn.transaction():
        await runs.fail(conn, run, "ended by the test")
    assert await queue_requested_runs(pool, later + timedelta(minutes=1)) == 1
    assert len(await notified_runs(pool, team)) == 1


async def test_lifecycle_events(api, operator, pool):
    team = await subscribed_team(api, operator, pool)
    await pool.execute(
        "UPDATE realtime_teams SET check_at = now() + interval '1 day' WHERE team_id = $1", team
    )

    def event(name: str) -> dict:
        return {"subscriptionId": "sub-1", "clientState": SECRET, "tenantId": TENANT, "lifecycleEvent": name}

    assert (await api.post(LIFECYCLE, json={"value": [event("reauthorizationRequired")]})).status == 202
    assert await pool.fetchval("SELECT reauthorize FROM graph_subscriptions WHERE graph_id = 'sub-1'") is True
    assert await pool.fetchval("SELECT check_at <= now() FROM realtime_teams WHERE team_id = $1", team)
    assert await pool.fetchval("SELECT count(*) FROM realtime_requests") == 0

    assert (await api.post(LIFECYCLE, json={"value": [event("missed")]})).status == 202
    assert await pool.fetchval("SELECT team_id::text FROM realtime_requests") == team
    await pool.execute("DELETE FROM realtime_requests")

    assert (await api.post(LIFECYCLE, json={"value": [event("subscriptionRemoved")]})).status == 202
    assert await pool.fetchval("SELECT count(*) FROM graph_subscriptions") == 0  # the keeper makes a new one
    assert (
        await pool.fetchval("SELECT team_id::text FROM realtime_requests") == team
    )  # and a run reads what was missed
