"""The directory connection (R1): stored encrypted, never returned, replaced by a second PUT."""

from __future__ import annotations

import uuid

from shared.crypto import decrypt
from tests.fixtures.api import make_team

TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"
CLIENT = "11111111-2222-3333-4444-555555555555"


async def test_put_get_delete_directory(api, operator, pool, settings):
    team = await make_team(api, operator)
    path = f"/api/v1/teams/{team['id']}/directory"
    assert (await api.get(path, headers=team["headers"])).status == 404

    resp = await api.put(
        path,
        json={"tenant_id": TENANT, "client_id": CLIENT, "client_secret": "s3cr3t~1"},
        headers=team["headers"],
    )
    assert resp.status == 200
    body = await resp.json()
    assert body["tenant_id"] == TENANT and body["client_id"] == CLIENT and body["connected_at"].endswith("Z")
    assert "s3cr3t~1" not in await resp.text()

    row = await pool.fetchrow("SELECT * FROM directory_connections WHERE team_id = $1", uuid.UUID(team["id"]))
    assert row["kind"] == "own_app"
    assert b"s3cr3t~1" not in bytes(row["secret_encrypted"])
    assert decrypt(settings.secret_keys(), row["secret_encrypted"]) == "s3cr3t~1"

    rotated = await api.put(
        path, json={"tenant_id": TENANT, "client_id": CLIENT, "client_secret": "new"}, headers=team["headers"]
    )
    assert rotated.status == 200
    row = await pool.fetchrow("SELECT * FROM directory_connections WHERE team_id = $1", uuid.UUID(team["id"]))
    assert decrypt(settings.secret_keys(), row["secret_encrypted"]) == "new"

    got = await api.get(path, headers=team["headers"])
    assert got.status == 200 and "client_secret" not in await got.json()

    assert (await api.delete(path, headers=team["headers"])).status == 204
    assert (await api.get(path, headers=team["headers"])).status == 404


async def test_one_tenant_serves_several_teams(api, operator, pool):
    for name in ("A", "B"):
        team = await make_team(api, operator, name)
        resp = await api.put(
            f"/api/v1/teams/{team['id']}/directory",
            headers=team["headers"],
            json={"tenant_id": TENANT, "client_id": CLIENT, "client_secret": "x"},
        )
        assert resp.status == 200
    assert await pool.fetchval("SELECT count(*) FROM directory_connections WHERE tenant_id = $1", TENANT) == 2


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
