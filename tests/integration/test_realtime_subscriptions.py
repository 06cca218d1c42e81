"""Keeping a team's Graph subscriptions, against the simulated Graph: made when near-real-time is on, renewed
before they expire (on a clock the test moves), made again or renewed when Graph says so, deleted when the
directory or the groups go, and what stops them shown with the configuration."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from services.scheduler.api import create_app
from services.scheduler.realtime.keeper import keep_due_teams
from services.scheduler.realtime.subscription_plan import LIFETIME
from services.scheduler.realtime.subscription_records import client_state_hash
from shared.graph.client import GraphClient
from shared.settings import Settings
from simulator import Simulator, Tenant
from tests.fixtures.api import make_team
from tests.fixtures.sim import SIM_CLIENT_ID, SIM_CLIENT_SECRET


@dataclass
class Bench:
    api: TestClient
    settings: Settings
    graph: GraphClient
    sim: Simulator
    tenant: Tenant
    pool: Any
    operator: dict[str, str]
    # The test's clock: ahead of the database's, whose triggers ask for a look at the time a change is saved.
    t: datetime = field(
        default_factory=lambda: datetime.now(UTC).replace(microsecond=0) + timedelta(minutes=1)
    )

    async def team(self, realtime: bool = True) -> dict[str, Any]:
        team = await make_team(self.api, self.operator)
        connection = {
            "tenant_id": self.tenant.tenant_id,
            "client_id": SIM_CLIENT_ID,
            "client_secret": SIM_CLIENT_SECRET,
        }
        resp = await self.api.put(
            f"/api/v1/teams/{team['id']}/directory", json=connection, headers=team["headers"]
        )
        assert resp.status == 200, await resp.text()
        group = next(iter(self.tenant.groups))
        await self.configure(team, realtime=realtime, groups=[{"id": group, "display_name": "G"}])
        return team

    async def config(self, team: dict[str, Any]) -> tuple[dict[str, Any], str]:
        resp = await self.api.get(f"/api/v1/teams/{team['id']}/sync/config", headers=team["headers"])
        return await resp.json(), resp.headers["ETag"]

    async def configure(self, team: dict[str, Any], **changes: Any) -> None:
        config, tag = await self.config(team)
        resp = await self.api.put(
            f"/api/v1/teams/{team['id']}/sync/config",
            json={**config, **changes},
            headers={**team["headers"], "If-Match": tag},
        )
        assert resp.status == 200, await resp.text()

    async def keep(self, now: datetime | None = None) -> None:
        now = now or self.t
        self.sim.subscriptions.now = lambda: now  # Graph's clock and ours move together
        await keep_due_teams(self.pool, self.graph, self.settings, now)

    def subscriptions(self) -> dict[str, Any]:
        return {s.resource: s for s in self.sim.subscriptions.live()}

    async def records(self) -> dict[str, Any]:
        rows = await self.pool.fetch("SELECT * FROM graph_subscriptions")
        return {r["resource"]: r for r in rows}


@pytest.fixture
async def bench(pool, settings, simulator, sim_tenant, operator):
    sim_tenant.grant(SIM_CLIENT_ID, "Group.Read.All")  # Graph's permission for group subscriptions
    cloud = settings.model_copy(
        update={
            "authority_url": simulator.authority_url,
            "graph_url": simulator.graph_url,
            "ca_file": simulator.ca_file,
        }
    )
    async with TestClient(TestServer(create_app(pool, cloud))) as client:
        cloud.notification_url = str(client.make_url("")).rstrip("/")  # where the simulator reaches the API
        graph = GraphClient.from_settings(cloud)
        try:
            yield Bench(client, cloud, graph, simulator, sim_tenant, pool, operator)
        finally:
            await graph.close()


async def test_near_real_time_on_subscribes_to_users_and_groups(bench):
    team = await bench.team()
    await bench.keep()
    made = bench.subscriptions()
    assert set(made) == {"users", "groups"}
    records = await bench.records()
    for resource, sub in made.items():
        assert sub.change_types == {"updated", "deleted"}
        assert sub.notification_url == bench.settings.notification_url + "/api/v1/graph/notifications"
        assert sub.lifecycle_url == bench.settings.notification_url + "/api/v1/graph/lifecycle"
        assert sub.expires == bench.t + LIFETIME
        record = records[resource]
        assert record["graph_id"] == sub.id and str(record["team_id"]) == team["id"]
        assert bytes(record["client_state_hash"]) == client_state_hash(sub.client_state)
        assert sub.client_state.encode() not in bytes(record["client_state_hash"])  # only its hash is kept
    assert made["users"].client_state != made["groups"].client_state
    status = (await bench.config(team))[0]["realtime_status"]
    assert status["state"] == "on" and status["reason"] is None and status["checked_at"]

    await bench.keep()  # a look with nothing to do does nothing
    assert {s.id for s in bench.subscriptions().values()} == {s.id for s in made.values()}


async def test_subscriptions_are_renewed_before_they_expire(bench):
    await bench.team()
    await bench.keep(bench.t)
    first = {r: s.id for r, s in bench.subscriptions().items()}

    await bench.keep(bench.t + timedelta(days=1))  # still far from expiry: nothing to do
    assert all(s.expires == bench.t + LIFETIME for s in bench.subscriptions().values())

    renewal = bench.t + timedelta(days=26)  # under three days left
    await bench.keep(renewal)
    renewed = bench.subscriptions()
    assert {r: s.id for r, s in renewed.items()} == first  # the same subscriptions, renewed
    assert all(s.expires == renewal + LIFETIME for s in renewed.values())
    assert {r["expires_at"] for r in (await bench.records()).values()} == {renewal + LIFETIME}
    next_look = await bench.pool.fetchval("SELECT check_at FROM realtime_teams")
    assert next_look == renewal + timedelta(hours=6)


async def test_graph_asking_for_reauthorization_renews(bench):
    await bench.team()
    await bench.keep(bench.t)
    users = bench.subscriptions()["users"]
    assert await bench.sim.notifier.lifecycle(users.id, "reauthorizationRequired") == 202
    assert (await bench.records())["users"]["reauthorize"] is True
    later = bench.t + timedelta(hours=1)
    await bench.keep(later)
    assert bench.subscriptions()["users"].expires == later + LIFETIME
    assert bench.subscriptions()["groups"].expires == bench.t + LIFETIME
    assert (await bench.records())["users"]["reauthorize"] is False


async def test_a_subscription_graph_removed_is_made_again_and_a_run_asked_for(bench):
    team = await bench.team()
    await bench.keep(bench.t)
    removed = bench.subscriptions()["groups"]
    assert await bench.sim.notifier.lifecycle(removed.id, "subscriptionRemoved") == 202
    assert "groups" not in await bench.records()
    assert str(await bench.pool.fetchval("SELECT team_id FROM realtime_requests")) == team["id"]
    await bench.keep(bench.t)
    again = bench.subscriptions()["groups"]
    assert again.id != removed.id and (await bench.records())["groups"]["graph_id"] == again.id


async def test_unselecting_the_groups_or_disconnecting_deletes_the_subscriptions(bench):
    team = await bench.team()
    await bench.keep()
    groups = (await bench.config(team))[0]["groups"]
    await bench.configure(team, groups=[])
    await bench.keep()
    assert bench.subscriptions() == {} and await bench.records() == {}
    assert (await bench.config(team))[0]["realtime_status"]["reason"] == "no groups are synced"

    await bench.configure(team, groups=groups)
    await bench.keep()
    assert set(bench.subscriptions()) == {"users", "groups"}
    resp = await bench.api.delete(f"/api/v1/teams/{team['id']}/directory", headers=team["headers"])
    assert resp.status == 204
    await bench.keep()  # with the credentials the subscriptions kept of the connection
    assert bench.subscriptions() == {} and await bench.records() == {}


async def test_turning_near_real_time_off_deletes_the_subscriptions(bench):
    team = await bench.team()
    await bench.keep()
    await bench.configure(team, realtime=False)
    await bench.keep()
    assert bench.subscriptions() == {} and await bench.records() == {}
    status = (await bench.config(team))[0]["realtime_status"]
    assert status == {
        "state": "off",
        "reason": "near-real-time sync is off in the sync configuration",
        "checked_at": None,
    }


async def test_a_refused_subscription_is_shown_with_what_to_do(bench):
    bench.tenant.revoke(SIM_CLIENT_ID, "Group.Read.All")
    team = await bench.team()
    await bench.keep()
    assert set(bench.subscriptions()) == {"users"}
    status = (await bench.config(team))[0]["realtime_status"]
    assert status["state"] == "failed"
    assert "Group.Read.All" in status["reason"] and "403" in status["reason"]
    bench.tenant.grant(SIM_CLIENT_ID, "Group.Read.All")
    bench.sim.expire_tokens(bench.tenant.tenant_id)  # a token taken before the grant does not carry it
    await bench.keep(bench.t + timedelta(minutes=6))  # tried again after a failure
    assert set(bench.subscriptions()) == {"users", "groups"}


async def test_an_address_graph_cannot_reach_makes_no_subscription(bench):
    bench.settings.notification_url = None  # left with CARDSYNC_PUBLIC_URL, on 127.0.0.1
    team = await bench.team()
    await bench.keep()
    assert bench.subscriptions() == {} and await bench.records() == {}
    status = (await bench.config(team))[0]["realtime_status"]
    assert status["state"] == "off"
    assert "CARDSYNC_PUBLIC_URL is http://127.0.0.1:8080, not https" in status["reason"]
    assert "CARDSYNC_NOTIFICATION_URL" in status["reason"]


async def test_an_address_that_fails_validation_makes_no_subscription(bench):
    bench.settings.notification_url = bench.settings.notification_url + "/nowhere"
    team = await bench.team()
    await bench.keep()
    assert bench.subscriptions() == {}
    status = (await bench.config(team))[0]["realtime_status"]
    assert status["state"] == "failed" and "validation request failed" in status["reason"]


async def test_directory_changes_reach_the_api_as_notifications(bench):
    team = await bench.team()
    await bench.keep()
    group, member = next(
        (g, m) for g, ms in bench.tenant.members.items() for m in ms if m in bench.tenant.users
    )
    bench.tenant.remove_member(group, member)
    bench.tenant.update_user(member, jobTitle="Moved on")

    async def asked() -> bool:
        return await bench.pool.fetchval("SELECT team_id::text FROM realtime_requests") == team["id"]

    for _ in range(50):
        if await asked():
            break
        await asyncio.sleep(0.1)
    assert await asked()
    delivered = [d for d in bench.sim.notifier.deliveries if d.url.endswith("/notifications")]
    assert delivered and all(d.status == 202 for d in delivered)
