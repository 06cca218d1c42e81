"""The directory connection (R1): saved only once a token is taken with it, stored encrypted, never returned,
replaced by a second PUT."""

from __future__ import annotations

import socket
import uuid

import pytest
from aiohttp.test_utils import TestClient, TestServer
from pydantic import SecretStr

from services.scheduler.api import create_app
from services.scheduler.api.endpoint import GRAPH
from shared.crypto import decrypt
from tests.fixtures.api import make_team
from tests.fixtures.sim import SIM_CLIENT_ID, SIM_CLIENT_SECRET

UNKNOWN = "72f988bf-86f1-41af-91ab-2d7cd011db47"


def _connection(tenant, **wrong: str) -> dict[str, str]:
    return {
        "tenant_id": tenant.tenant_id,
        "client_id": SIM_CLIENT_ID,
        "client_secret": SIM_CLIENT_SECRET,
        **wrong,
    }


async def _row(pool, team: dict):
    return await pool.fetchrow(
        "SELECT * FROM directory_connections WHERE team_id = $1", uuid.UUID(team["id"])
    )


async def test_put_get_delete_directory(graph_api, operator, pool, settings, simulator, sim_tenant):
    team = await make_team(graph_api, operator)
    path = f"/api/v1/teams/{team['id']}/directory"
    assert (await graph_api.get(path, headers=team["headers"])).status == 404

    resp = await graph_api.put(path, json=_connection(sim_tenant), headers=team["headers"])
    assert resp.status == 200, await resp.text()
    body = await resp.json()
    assert body["tenant_id"] == sim_tenant.tenant_id and body["client_id"] == SIM_CLIENT_ID
    assert body["connected_at"].endswith("Z") and SIM_CLIENT_SECRET not in await resp.text()
    assert simulator.requests[sim_tenant.tenant_id]["token"] == 1

    row = await _row(pool, team)
    assert row["kind"] == "own_app"
    assert SIM_CLIENT_SECRET.encode() not in bytes(row["secret_encrypted"])
    assert decrypt(settings.secret_keys(), row["secret_encrypted"]) == SIM_CLIENT_SECRET

    # The token the check took serves the next Graph request.
    search = await graph_api.get(f"{path}/groups", params={"search": "All"}, headers=team["headers"])
    assert search.status == 200 and simulator.requests[sim_tenant.tenant_id]["token"] == 1

    rotated = sim_tenant.rotate_secret(SIM_CLIENT_ID)
    resp = await graph_api.put(
        path, json=_connection(sim_tenant, client_secret=rotated), headers=team["headers"]
    )
    assert resp.status == 200
    assert decrypt(settings.secret_keys(), (await _row(pool, team))["secret_encrypted"]) == rotated

    got = await graph_api.get(path, headers=team["headers"])
    assert got.status == 200 and "client_secret" not in await got.json()

    assert (await graph_api.delete(path, headers=team["headers"])).status == 204
    assert (await graph_api.get(path, headers=team["headers"])).status == 404


@pytest.mark.parametrize(
    ("field", "wrong", "says"),
    [
        ("tenant_id", UNKNOWN, "check the tenant id"),
        ("client_id", "0c6f7a4e-1d2b-4c3a-9e8f-7a6b5c4d3e2f", "grant the app admin consent"),
        ("client_secret", "not-the-secret", "create a new client secret"),
    ],
)
async def test_refused_credentials_are_422_naming_the_field_and_save_nothing(
    graph_api, operator, pool, sim_tenant, field, wrong, says
):
    team = await make_team(graph_api, operator)
    path = f"/api/v1/teams/{team['id']}/directory"
    for connected in (False, True):
        if connected:
            assert (
                await graph_api.put(path, json=_connection(sim_tenant), headers=team["headers"])
            ).status == 200
        before = await _row(pool, team)

        resp = await graph_api.put(
            path, json=_connection(sim_tenant, **{field: wrong}), headers=team["headers"]
        )
        assert resp.status == 422 and resp.content_type == "application/problem+json"
        problem = await resp.json()
        assert [e["loc"] for e in problem["errors"]] == [[field]]
        assert says in problem["errors"][0]["msg"] and "Trace ID" not in problem["errors"][0]["msg"]
        assert "not-the-secret" not in await resp.text()

        assert await _row(pool, team) == before  # an existing connection stays exactly as it was
        got = await graph_api.get(path, headers=team["headers"])
        assert got.status == (200 if connected else 404)
        if connected:
            assert (await got.json())["tenant_id"] == sim_tenant.tenant_id
    assert not graph_api.app[GRAPH].tokens._apps  # no msal app is kept for a refused credential


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def test_an_identity_platform_that_does_not_answer_is_503(
    graph_api, operator, pool, settings, sim_tenant
):
    team = await make_team(graph_api, operator)
    path = f"/api/v1/teams/{team['id']}/directory"
    assert (await graph_api.put(path, json=_connection(sim_tenant), headers=team["headers"])).status == 200
    before = await _row(pool, team)

    offline = settings.model_copy(update={"authority_url": f"https://127.0.0.1:{_closed_port()}"})
    async with TestClient(TestServer(create_app(pool, offline))) as api:
        resp = await api.put(
            path, json=_connection(sim_tenant, client_secret="a-new-secret"), headers=team["headers"]
        )
        assert resp.status == 503 and resp.content_type == "application/problem+json"
        detail = (await resp.json())["detail"]
    assert "could not be reached" in detail and "try again" in detail and "a-new-secret" not in detail
    assert await _row(pool, team) == before


async def test_one_tenant_serves_several_teams(graph_api, operator, pool, sim_tenant):
    for name in ("A", "B"):
        team = await make_team(graph_api, operator, name)
        resp = await graph_api.put(
            f"/api/v1/teams/{team['id']}/directory", headers=team["headers"], json=_connection(sim_tenant)
        )
        assert resp.status == 200
    count = "SELECT count(*) FROM directory_connections WHERE tenant_id = $1"
    assert await pool.fetchval(count, sim_tenant.tenant_id) == 2


async def test_directory_body_errors(api, operator):
    team = await make_team(api, operator)
    path = f"/api/v1/teams/{team['id']}/directory"
    resp = await api.put(
        path, json={"tenant_id": "bad tenant/..", "client_secret": ""}, headers=team["headers"]
    )
    assert resp.status == 422
    locs = {tuple(e["loc"]) for e in (await resp.json())["errors"]}
    assert locs == {("tenant_id",), ("client_id",), ("client_secret",)}
    resp = await api.put(path, data=b'{"tenant_id": ', headers=team["headers"])
    assert resp.status == 400


async def test_group_search_needs_a_connection(api, operator):
    team = await make_team(api, operator)
    resp = await api.get(f"/api/v1/teams/{team['id']}/directory/groups?search=sales", headers=team["headers"])
    assert resp.status == 409
    resp = await api.get(f"/api/v1/teams/{team['id']}/directory/groups?limit=0", headers=team["headers"])
    assert resp.status == 422


async def test_r1_the_connection_test_names_each_permission_the_configuration_needs(
    graph_api, operator, pool, settings, simulator, sim_tenant
):
    team = await make_team(graph_api, operator)
    path = f"/api/v1/teams/{team['id']}/directory"
    assert (await graph_api.post(f"{path}/test", json={}, headers=team["headers"])).status == 409
    await graph_api.put(path, json=_connection(sim_tenant), headers=team["headers"])

    resp = await graph_api.post(f"{path}/test", json={}, headers=team["headers"])
    assert resp.status == 200, await resp.text()
    body = await resp.json()
    assert body["ok"] and body["kind"] == "own_app" and body["missing"] == []
    assert [p["permission"] for p in body["permissions"]] == [
        "User.Read.All",
        "GroupMember.Read.All",
        "ProfilePhoto.Read.All",
    ]

    # Admin roles need one more; a revoked permission is named, and one that serves too counts.
    config = await (await graph_api.get(f"/api/v1/teams/{team['id']}/sync/config", headers=operator)).json()
    config.pop("next_run_at"), config.pop("realtime_status", None)
    saved = await graph_api.put(
        f"/api/v1/teams/{team['id']}/sync/config", json={**config, "use_admin_roles": True}, headers=operator
    )
    assert saved.status == 200, await saved.text()
    sim_tenant.revoke(SIM_CLIENT_ID, "RoleManagement.Read.Directory")
    sim_tenant.revoke(SIM_CLIENT_ID, "ProfilePhoto.Read.All")
    body = await (await graph_api.post(f"{path}/test", json={}, headers=team["headers"])).json()
    assert not body["ok"] and body["missing"] == ["RoleManagement.Read.Directory"]
    photo = next(p for p in body["permissions"] if p["permission"] == "ProfilePhoto.Read.All")
    assert photo["granted"] and photo["granted_as"] == "User.Read.All"
    assert "RoleManagement.Read.Directory" not in body["granted"]

    # Given credentials are tested, not stored; a wrong secret is the 422 a connection gets.
    wrong = await graph_api.post(
        f"{path}/test", json=_connection(sim_tenant, client_secret="wrong"), headers=team["headers"]
    )
    assert wrong.status == 422
    assert [e["loc"] for e in (await wrong.json())["errors"]] == [["client_secret"]]
    partial = await graph_api.post(f"{path}/test", json={"tenant_id": "x"}, headers=team["headers"])
    assert partial.status == 422
    tests = await pool.fetchval("SELECT count(*) FROM audit_log WHERE action = 'directory.test'")
    assert tests == 2  # each test that took a token


async def test_r1_a_consented_connection_is_tested_with_the_platform_app(
    pool, settings, simulator, sim_tenant, operator
):
    cloud = settings.model_copy(
        update={
            "authority_url": simulator.authority_url,
            "graph_url": simulator.graph_url,
            "ca_file": simulator.ca_file,
            "app_client_id": SIM_CLIENT_ID,
            "app_client_secret": SecretStr(SIM_CLIENT_SECRET),
        }
    )
    async with TestClient(TestServer(create_app(pool, cloud))) as client:
        team = await make_team(client, operator)
        await pool.execute(
            "INSERT INTO directory_connections (team_id, kind, tenant_id, client_id)"
            " VALUES ($1, 'consent', $2, $3)",
            uuid.UUID(team["id"]),
            sim_tenant.tenant_id,
            SIM_CLIENT_ID,
        )
        sim_tenant.revoke(SIM_CLIENT_ID, "GroupMember.Read.All")
        resp = await client.post(f"/api/v1/teams/{team['id']}/directory/test", headers=team["headers"])
        body = await resp.json()
    assert resp.status == 200 and body["kind"] == "consent" and body["missing"] == ["GroupMember.Read.All"]


async def test_the_group_search_pages_past_its_first_page(graph_api, operator, sim_tenant):
    for n in range(4):
        sim_tenant.add_group(displayName=f"Paged {n}")
    team = await make_team(graph_api, operator)
    path = f"/api/v1/teams/{team['id']}/directory"
    await graph_api.put(path, json=_connection(sim_tenant), headers=team["headers"])
    seen, cursor = [], None
    for _ in range(10):
        params = {"search": "Paged", "limit": "3", **({"cursor": cursor} if cursor else {})}
        page = await (await graph_api.get(f"{path}/groups", params=params, headers=team["headers"])).json()
        seen += [g["display_name"] for g in page["groups"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert sorted(seen) == [f"Paged {n}" for n in range(4)]
    for bad in (
        "garbage!",
        "aHR0cHM6Ly9ldmlsLmV4YW1wbGUvZ3JvdXBz",
    ):  # the second: https://evil.example/groups
        resp = await graph_api.get(f"{path}/groups", params={"cursor": bad}, headers=team["headers"])
        assert resp.status == 400
