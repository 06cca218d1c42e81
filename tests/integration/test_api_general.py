"""What every endpoint shares: problem documents, 413, aiohttp's own errors, openapi.json, health, metrics."""

from __future__ import annotations

import uuid

from aiohttp.test_utils import TestClient, TestServer

from services.scheduler.api import create_app
from shared.health import Report
from tests.fixtures.api import make_team
from tests.fixtures.sim import SIM_CLIENT_ID, SIM_CLIENT_SECRET

PROBLEM_KEYS = {"type", "title", "status", "detail"}


async def _problem(resp, status: int) -> dict:
    assert resp.status == status, await resp.text()
    assert resp.content_type == "application/problem+json"
    body = await resp.json()
    assert PROBLEM_KEYS <= set(body) and body["status"] == status
    assert "Traceback" not in await resp.text()
    return body


async def test_aiohttp_errors_are_problems_too(api, operator):
    await _problem(await api.get("/api/v1/nothing-here"), 404)
    resp = await api.delete("/api/v1/teams", headers=operator)
    await _problem(resp, 405)
    assert "POST" in resp.headers["Allow"]


async def test_body_over_one_mebibyte_is_413(api, operator):
    team = await make_team(api, operator)
    big = b'{"name": "' + b"x" * (1024 * 1024 + 10) + b'"}'
    await _problem(
        await api.post(f"/api/v1/teams/{team['id']}/templates", data=big, headers=team["headers"]), 413
    )


async def test_endpoints_without_a_body_still_refuse_one_over_one_mebibyte(
    graph_api, operator, pool, sim_tenant
):
    team = await make_team(graph_api, operator)
    base, h = f"/api/v1/teams/{team['id']}", team["headers"]
    connection = {
        "tenant_id": sim_tenant.tenant_id,
        "client_id": SIM_CLIENT_ID,
        "client_secret": SIM_CLIENT_SECRET,
    }
    assert (await graph_api.put(base + "/directory", json=connection, headers=h)).status == 200
    big = b"x" * (1024 * 1024 + 1)
    for method, path in [
        ("DELETE", base + "/directory"),
        ("GET", base + "/members"),
        ("POST", f"{base}/sync/runs/{uuid.uuid4()}/approve"),
        ("GET", "/api/v1/openapi.json"),
        ("GET", "/healthz"),
    ]:
        await _problem(await graph_api.request(method, path, data=big, headers=h), 413)
    assert await pool.fetchval("SELECT count(*) FROM directory_connections") == 1  # not deleted

    async def chunked():
        for _ in range(17):
            yield b"x" * 65536

    await _problem(await graph_api.delete(base + "/directory", data=chunked(), headers=h), 413)
    await _problem(await graph_api.delete(base + "/directory", data=big), 401)  # the token comes first
    exactly = await graph_api.get(base + "/members", data=b" " * (1024 * 1024), headers=h)
    assert exactly.status == 200


async def test_unstorable_values_are_422_not_500(api, operator):
    team = await make_team(api, operator)
    path = f"/api/v1/teams/{team['id']}/templates"
    body = await _problem(await api.post(path, json={"name": "a\u0000b"}, headers=team["headers"]), 422)
    assert body["errors"] == [{"loc": ["name"], "msg": "text may not contain NUL characters"}]
    resp = await api.put(
        f"/api/v1/teams/{team['id']}/sync/config",
        json={"removal_guard": {"min_count": 2**70}},
        headers=team["headers"],
    )
    await _problem(resp, 422)
    await _problem(
        await api.get(f"/api/v1/teams/{team['id']}/members?cursor=%00", headers=team["headers"]), 400
    )
    body = await _problem(
        await api.post(path, json={"name": "a\u0000b", "links": "none"}, headers=team["headers"]), 422
    )
    assert [e["loc"] for e in body["errors"]] == [["name"], ["links"]]  # every bad field, whatever the check
    body = await _problem(
        await api.post(path, data=b'{"name": "t", "x": 1e400}', headers=team["headers"]), 422
    )
    assert {e["msg"] for e in body["errors"]} >= {"number out of range"}
    await _problem(await api.post(path, data=b'{"name": NaN}', headers=team["headers"]), 400)


async def test_unknown_ids_are_404(api, operator):
    await _problem(await api.get("/api/v1/teams/not-a-uuid", headers=operator), 404)
    await _problem(await api.get(f"/api/v1/teams/{uuid.uuid4()}", headers=operator), 404)
    team = await make_team(api, operator)
    await _problem(await api.get(f"/api/v1/teams/{team['id']}/members/{uuid.uuid4()}", headers=operator), 404)


async def test_openapi_needs_no_token(api, settings):
    resp = await api.get("/api/v1/openapi.json")
    assert resp.status == 200
    doc = await resp.json()
    assert doc["openapi"] == "3.1.0" and "/api/v1/teams/{team_id}/sync/runs" in doc["paths"]
    assert doc["servers"][0]["url"] == settings.public_url.rstrip("/")  # the installation it describes


async def test_metrics_are_for_the_operator_only(api, operator):
    await api.get("/api/v1/openapi.json")
    missing = await _problem(await api.get("/metrics"), 401)
    unauthorized = await api.get(f"/api/v1/teams/{uuid.uuid4()}")
    assert missing == await unauthorized.json()  # the API's own answer
    assert (await api.get("/metrics")).headers["WWW-Authenticate"] == 'Bearer realm="cardsync"'
    await _problem(await api.get("/metrics", headers={"Authorization": "Bearer not-a-token"}), 401)
    team = await make_team(api, operator)
    await _problem(await api.get("/metrics", headers=team["headers"]), 403)
    resp = await api.get("/metrics", headers=operator)
    assert resp.status == 200 and resp.content_type == "text/plain"
    assert "cardsync_api_requests_total" in await resp.text()


async def test_readiness_follows_its_checks_and_tells_the_internet_no_details(pool, settings):
    reports = iter([Report({"database": "ok"}), Report({"database": "PostgreSQL does not answer: refused"})])

    async def ready() -> Report:
        return next(reports)

    async def broken() -> Report:
        raise ConnectionError("broker down")

    async with TestClient(TestServer(create_app(pool, settings, ready=ready))) as client:
        ok = await client.get("/healthz")
        assert ok.status == 200 and await ok.json() == {"status": "ok", "checks": {"database": "ok"}}
        down = await client.get("/readyz")
        assert down.status == 503
        assert await down.json() == {"status": "unavailable", "checks": {"database": "failing"}}
        assert (await client.get("/livez")).status == 200  # the process itself is fine
    async with TestClient(TestServer(create_app(pool, settings, ready=broken))) as client:
        assert (await client.get("/healthz")).status == 503
    async with TestClient(TestServer(create_app(pool, settings))) as client:  # the database by default
        assert (await client.get("/healthz")).status == 200
