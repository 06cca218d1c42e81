"""Delta rounds against the simulator over HTTPS: a full round, changes since the deltaLink, token expiry."""

from __future__ import annotations

import aiohttp
import pytest

from simulator import Simulator, Tenant


@pytest.fixture
async def http(simulator: Simulator):
    async with aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(ssl=simulator.client_ssl_context())
    ) as session:
        yield session


@pytest.fixture
def headers(simulator: Simulator, sim_tenant: Tenant) -> dict[str, str]:
    client_id = next(iter(sim_tenant.apps))
    token = simulator.tokens.issue(
        sim_tenant.tenant_id, client_id, frozenset(sim_tenant.permissions[client_id]), 600
    )
    return {"Authorization": f"Bearer {token}"}


async def round_trip(
    http: aiohttp.ClientSession, url: str, headers: dict[str, str]
) -> tuple[list[dict], str]:
    """Follow nextLinks to the deltaLink; return every item and the deltaLink."""
    items: list[dict] = []
    while True:
        async with http.get(url, headers=headers) as resp:
            assert resp.status == 200, await resp.text()
            body = await resp.json()
        items += body["value"]
        if "@odata.deltaLink" in body:
            return items, body["@odata.deltaLink"]
        url = body["@odata.nextLink"]


async def test_users_delta_full_round_then_changes(simulator, sim_tenant, http, headers):
    simulator.delta_store(sim_tenant.tenant_id).page_size = 20
    items, link = await round_trip(
        http, f"{simulator.graph_url}/users/delta?$select=displayName,jobTitle", headers
    )
    assert sorted(i["id"] for i in items) == sorted(sim_tenant.users)
    changed, gone, ignored = list(sim_tenant.users)[:3]
    sim_tenant.update_user(changed, jobTitle="Chief Cartographer")
    sim_tenant.update_user(ignored, city="Lisbon")  # not selected, so not reported
    sim_tenant.delete_user(gone)
    new = sim_tenant.add_user(displayName="Nia New", jobTitle="Intern", userPrincipalName="nia@example.test")
    items, link = await round_trip(http, link, headers)
    by_id = {i["id"]: i for i in items}
    assert by_id == {
        changed: {"id": changed, "jobTitle": "Chief Cartographer"},
        gone: {"id": gone, "@removed": {"reason": "changed"}},
        new: {"displayName": "Nia New", "jobTitle": "Intern", "id": new},
    }
    items, _ = await round_trip(http, link, headers)
    assert items == []


async def test_groups_delta_reports_member_changes(simulator, sim_tenant, http, headers):
    _, link = await round_trip(
        http, f"{simulator.graph_url}/groups/delta?$select=displayName,members", headers
    )
    gid = max(sim_tenant.groups, key=lambda g: len(sim_tenant.members[g] & sim_tenant.users.keys()))
    joined = next(uid for uid in sim_tenant.users if uid not in sim_tenant.members[gid])
    left = next(uid for uid in sim_tenant.members[gid] if uid in sim_tenant.users)
    sim_tenant.add_member(gid, joined)
    sim_tenant.remove_member(gid, left)
    items, _ = await round_trip(http, link, headers)
    [item] = items
    assert item["id"] == gid and "displayName" not in item
    assert {m["id"]: m.get("@removed") for m in item["members@delta"]} == {
        joined: None,
        left: {"reason": "deleted"},
    }


async def test_latest_token_and_expiry(simulator, sim_tenant, http, headers):
    items, link = await round_trip(http, f"{simulator.graph_url}/users/delta?$deltatoken=latest", headers)
    assert items == []
    simulator.expire_delta_tokens(sim_tenant.tenant_id)
    async with http.get(link, headers=headers) as resp:
        assert resp.status == 400
        assert (await resp.json())["error"]["code"] == "syncStateNotFound"


async def test_a_token_voided_by_tenant_maintenance_is_410_with_a_location(
    simulator, sim_tenant, http, headers
):
    _, link = await round_trip(http, f"{simulator.graph_url}/users/delta?$deltatoken=latest", headers)
    simulator.expire_delta_tokens(sim_tenant.tenant_id, "gone")
    async with http.get(link, headers=headers) as resp:
        assert resp.status == 410 and resp.headers["Location"]
