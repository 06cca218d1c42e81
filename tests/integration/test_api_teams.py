"""Teams, accounts and authentication (api.md "General", "Teams and accounts")."""

from __future__ import annotations

import asyncio
import uuid

from tests.fixtures.api import bearer, make_team


async def test_create_team_makes_active_hand_added_admins(api, operator, pool):
    await api.post("/api/v1/accounts", json={"email": "Old@Contoso.com", "name": "Old"}, headers=operator)
    team = await make_team(
        api,
        operator,
        admins=[
            {"email": "ann@contoso.com", "name": "Ann"},
            {"email": "old@contoso.com", "name": "Old Timer"},
        ],
    )
    assert set(team) >= {"id", "name", "token"}
    rows = await pool.fetch(
        "SELECT a.email, m.role, m.status, m.managed FROM members m JOIN accounts a ON a.id = m.account_id"
        " WHERE m.team_id = $1 ORDER BY a.email_key",
        uuid.UUID(team["id"]),
    )
    assert [(r["email"], r["role"], r["status"], r["managed"]) for r in rows] == [
        ("ann@contoso.com", "admin", "active", False),
        ("Old@Contoso.com", "admin", "active", False),
    ]
    assert await pool.fetchval("SELECT count(*) FROM invites") == 0
    assert await pool.fetchval("SELECT count(*) FROM accounts") == 2  # the existing account was reused


async def test_team_token_is_stored_hashed(api, operator, pool):
    team = await make_team(api, operator)
    stored = await pool.fetchval(
        "SELECT token_hash FROM team_tokens WHERE team_id = $1", uuid.UUID(team["id"])
    )
    assert stored != team["token"] and team["token"] not in stored


async def test_get_team_with_operator_and_own_token(api, operator):
    team = await make_team(api, operator, name="Fabrikam")
    for headers in (operator, team["headers"]):
        resp = await api.get(f"/api/v1/teams/{team['id']}", headers=headers)
        assert resp.status == 200
        body = await resp.json()
        assert body["id"] == team["id"] and body["name"] == "Fabrikam" and body["created_at"].endswith("Z")


async def test_other_teams_token_gets_404_as_if_missing(api, operator):
    a, b = await make_team(api, operator, "A"), await make_team(api, operator, "B")
    cross = await api.get(f"/api/v1/teams/{b['id']}/sync/config", headers=a["headers"])
    missing = await api.get(f"/api/v1/teams/{uuid.uuid4()}/sync/config", headers=a["headers"])
    assert cross.status == missing.status == 404
    assert (await cross.json())["detail"] == (await missing.json())["detail"]


async def test_missing_or_wrong_token_is_401_before_anything_else(api, operator):
    team = await make_team(api, operator)
    for headers in ({}, bearer("nope"), {"Authorization": "Basic Zm9vOmJhcg=="}):
        resp = await api.put(f"/api/v1/teams/{uuid.uuid4()}/sync/config", data=b"{not json", headers=headers)
        assert resp.status == 401
        assert resp.content_type == "application/problem+json"
        assert (await resp.json())["status"] == 401
    resp = await api.get(f"/api/v1/teams/{team['id']}", headers=bearer(team["token"] + "x"))
    assert resp.status == 401


async def test_a_token_of_bytes_no_token_is_made_of_is_401(api, operator):
    team = await make_team(api, operator)
    url = api.make_url("/")
    reader, writer = await asyncio.open_connection(url.host, url.port)
    writer.write(
        f"GET /api/v1/teams/{team['id']} HTTP/1.1".encode()
        + b"\r\nHost: x\r\nAuthorization: Bearer \xff\xfe\xc3\r\n"
        b"Connection: close\r\n\r\n"
    )
    answer = await reader.read()
    writer.close()
    assert answer.startswith(b"HTTP/1.1 401 ") and b"application/problem+json" in answer, answer[:300]


async def test_operator_only_endpoints_refuse_team_tokens(api, operator):
    team = await make_team(api, operator)
    resp = await api.post("/api/v1/teams", json={"name": "X"}, headers=team["headers"])
    assert resp.status == 403


async def test_create_team_lists_every_bad_field(api, operator):
    resp = await api.post(
        "/api/v1/teams",
        json={"name": "", "admins": [{"email": "not-an-email"}, {"email": 5}], "x": 1},
        headers=operator,
    )
    assert resp.status == 422
    locs = {tuple(e["loc"]) for e in (await resp.json())["errors"]}
    assert {("name",), ("admins", 0, "email"), ("admins", 1, "email"), ("x",)} <= locs


async def test_account_is_made_once(api, operator):
    resp = await api.post(
        "/api/v1/accounts", json={"email": "pat@contoso.com", "name": "Pat"}, headers=operator
    )
    assert resp.status == 201
    body = await resp.json()
    assert body["email"] == "pat@contoso.com" and uuid.UUID(body["id"])
    again = await api.post(
        "/api/v1/accounts", json={"email": " PAT@contoso.com", "name": "P"}, headers=operator
    )
    assert again.status == 409
    assert again.content_type == "application/problem+json"
