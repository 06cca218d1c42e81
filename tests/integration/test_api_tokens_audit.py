"""Team tokens that can be replaced, and the append-only audit log that records who did what."""

from __future__ import annotations

import csv
import io
import uuid

import asyncpg
import pytest

from tests.fixtures.api import bearer, make_team


async def test_a_team_token_is_issued_listed_and_revoked(api, operator):
    team = await make_team(api, operator)
    path = f"/api/v1/teams/{team['id']}/tokens"
    listed = (await (await api.get(path, headers=team["headers"])).json())["tokens"]
    assert [t["name"] for t in listed] == ["first token"] and "token" not in listed[0]

    resp = await api.post(path, json={"name": "ci"}, headers=team["headers"])
    assert resp.status == 201
    new = await resp.json()
    assert new["token"] and new["name"] == "ci"
    assert (await api.get(f"/api/v1/teams/{team['id']}", headers=bearer(new["token"]))).status == 200

    first = listed[0]["id"]
    assert (await api.delete(f"{path}/{first}", headers=bearer(new["token"]))).status == 204
    assert (await api.get(f"/api/v1/teams/{team['id']}", headers=team["headers"])).status == 401
    assert (await api.delete(f"{path}/{first}", headers=bearer(new["token"]))).status == 404
    remaining = (await (await api.get(path, headers=bearer(new["token"]))).json())["tokens"]
    assert [t["id"] for t in remaining] == [new["id"]] and remaining[0]["last_used_at"]


async def test_a_team_token_cannot_touch_another_teams_tokens(api, operator):
    a, b = await make_team(api, operator, "A"), await make_team(api, operator, "B")
    a_tokens = (await (await api.get(f"/api/v1/teams/{a['id']}/tokens", headers=a["headers"])).json())[
        "tokens"
    ]
    resp = await api.delete(f"/api/v1/teams/{b['id']}/tokens/{a_tokens[0]['id']}", headers=b["headers"])
    assert resp.status == 404
    assert (
        await api.delete(f"/api/v1/teams/{a['id']}/tokens/{a_tokens[0]['id']}", headers=b["headers"])
    ).status == 404
    assert (await api.get(f"/api/v1/teams/{a['id']}", headers=a["headers"])).status == 200


async def test_the_audit_log_records_changes_and_pages(api, operator, pool):
    team = await make_team(api, operator)
    base = f"/api/v1/teams/{team['id']}"
    await api.post(f"{base}/sync/runs", json={"dry_run": True}, headers=team["headers"])
    token = await (await api.post(f"{base}/tokens", json={"name": "n"}, headers=operator)).json()
    await api.delete(f"{base}/tokens/{token['id']}", headers=operator)
    await api.put(f"{base}/sync/config", json={"groups": [], "cadence": "weekly"}, headers=team["headers"])

    resp = await api.get(f"{base}/audit", params={"limit": 2}, headers=team["headers"])
    assert resp.status == 200
    page = await resp.json()
    assert [e["action"] for e in page["entries"]] == ["config.save", "token.revoke"]
    assert page["entries"][0]["actor_kind"] == "team_token" and page["entries"][0]["address"]
    assert "cadence" in page["entries"][0]["details"]["changed"]
    assert page["entries"][1]["actor_kind"] == "operator"
    rest = await (
        await api.get(f"{base}/audit", params={"cursor": page["next_cursor"]}, headers=team["headers"])
    ).json()
    assert [e["action"] for e in rest["entries"]] == ["token.issue", "run.request"]
    assert rest["entries"][1]["details"]["dry_run"] is True and rest["next_cursor"] is None
    assert (await api.get(f"{base}/audit", params={"cursor": "garbage"}, headers=operator)).status == 400
    tokens = await (await api.get(f"{base}/audit", params={"action": "token"}, headers=operator)).json()
    assert [e["action"] for e in tokens["entries"]] == ["token.revoke", "token.issue"]
    exact = await (await api.get(f"{base}/audit", params={"action": "run.request"}, headers=operator)).json()
    assert [e["action"] for e in exact["entries"]] == ["run.request"]
    assert (await api.get(f"{base}/audit", params={"action": "x%"}, headers=operator)).status == 422

    exported = await api.get(f"{base}/audit", headers={**operator, "Accept": "text/csv"})
    assert exported.status == 200 and exported.content_type == "text/csv"
    rows = list(csv.reader(io.StringIO(await exported.text())))
    assert rows[0][:3] == ["id", "at", "actor_kind"] and [r[6] for r in rows[1:]] == [
        "config.save",
        "token.revoke",
        "token.issue",
        "run.request",
    ]

    with pytest.raises(asyncpg.RaiseError, match="append-only"):
        await pool.execute("UPDATE audit_log SET action = 'x'")
    with pytest.raises(asyncpg.RaiseError, match="append-only"):
        await pool.execute("DELETE FROM audit_log WHERE team_id = $1", uuid.UUID(team["id"]))


async def test_the_csv_export_defuses_formulas(api, operator, pool):
    team = await make_team(api, operator)
    await pool.execute(
        "INSERT INTO audit_log (team_id, actor_kind, action, details) VALUES ($1, 'operator', "
        "'=HYPERLINK(1)', '{}')",
        uuid.UUID(team["id"]),
    )
    text = await (
        await api.get(f"/api/v1/teams/{team['id']}/audit", headers={**operator, "Accept": "text/csv"})
    ).text()
    assert "'=HYPERLINK(1)" in text
