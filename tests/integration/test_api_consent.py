"""Connecting by admin consent (R1 a) and searching groups, with the real msal against the simulated cloud."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone
from urllib.parse import parse_qs, urlsplit

import aiohttp
import pytest
from aiohttp.test_utils import TestClient, TestServer
from pydantic import SecretStr

from services.scheduler.api import create_app
from services.scheduler.consent_state import make_state
from simulator import generate_tenant
from tests.fixtures.api import make_team
from tests.fixtures.sim import SIM_CLIENT_ID, SIM_CLIENT_SECRET

CALLBACK = "/api/v1/directory/consent-callback"


@pytest.fixture
async def sim_api(pool, settings, simulator, sim_tenant):
    """The API configured with the simulator as the cloud and its home tenant's app as the platform app."""
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
        yield client


async def _consent(simulator, url: str) -> dict[str, str]:
    """What the browser brings back to the callback after the administrator consents."""
    connector = aiohttp.TCPConnector(ssl=simulator.client_ssl_context())
    async with (
        aiohttp.ClientSession(connector=connector) as http,
        http.get(url, allow_redirects=False) as resp,
    ):
        assert resp.status == 302, await resp.text()
        return {k: v[0] for k, v in parse_qs(urlsplit(resp.headers["Location"]).query).items()}


async def test_admin_consent_binds_the_tenant_to_the_team(sim_api, operator, simulator, pool):
    other = simulator.add_tenant(generate_tenant(5, 1, seed=11))  # the customer's tenant, without the app
    simulator.app_home(SIM_CLIENT_ID).add_redirect_uri(SIM_CLIENT_ID, "https://dash.example/cb")
    team = await make_team(sim_api, operator)
    resp = await sim_api.get(
        f"/api/v1/teams/{team['id']}/directory/consent-url?redirect_uri=https://dash.example/cb",
        headers=team["headers"],
    )
    assert resp.status == 200
    url = (await resp.json())["url"]
    assert url.startswith(simulator.authority_url) and f"client_id={SIM_CLIENT_ID}" in url
    answer = await _consent(simulator, url)
    assert answer["tenant"] == other.tenant_id and answer["admin_consent"] == "True"

    done = await sim_api.get(CALLBACK, params=answer)  # no bearer: the state authenticates
    assert done.status == 200, await done.text()
    body = await done.json()
    assert body["tenant_id"] == other.tenant_id and body["client_id"] == SIM_CLIENT_ID
    row = await pool.fetchrow("SELECT * FROM directory_connections WHERE team_id = $1", uuid.UUID(team["id"]))
    assert row["kind"] == "consent" and row["secret_encrypted"] is None


async def test_bad_expired_or_refused_consents_are_400(sim_api, operator, settings, simulator):
    team = await make_team(sim_api, operator)
    key = settings.secret_key.get_secret_value()
    tenant = next(iter(simulator.tenants))
    stale = make_state(key, uuid.UUID(team["id"]), datetime.now(timezone.utc) - timedelta(hours=2))
    fresh = make_state(key, uuid.UUID(team["id"]), datetime.now(timezone.utc))
    cases = [
        {"tenant": tenant, "admin_consent": "True"},
        {"tenant": tenant, "admin_consent": "True", "state": "forged.123.sig"},
        {"tenant": tenant, "admin_consent": "True", "state": stale},
        {"error": "access_denied", "error_description": "AADSTS65004: declined", "state": fresh},
        {"tenant": str(uuid.uuid4()), "admin_consent": "True", "state": fresh},  # no token for that tenant
        {"tenant": "../../evil", "admin_consent": "True", "state": fresh},
        {"tenant": tenant, "admin_consent": "True", "state": "s" * 3000},  # no length of its own: still 400
        {"tenant": "t" * 300, "admin_consent": "True", "state": fresh},
        {"error": "e" * 300, "error_description": "d" * 3000, "state": fresh},
    ]
    for params in cases:
        resp = await sim_api.get(CALLBACK, params=params)
        assert resp.status == 400, (params, await resp.text())
        assert resp.content_type == "application/problem+json"


async def test_group_search_through_graph(sim_api, operator, sim_tenant):
    team = await make_team(sim_api, operator)
    await sim_api.put(
        f"/api/v1/teams/{team['id']}/directory",
        json={
            "tenant_id": sim_tenant.tenant_id,
            "client_id": SIM_CLIENT_ID,
            "client_secret": SIM_CLIENT_SECRET,
        },
        headers=team["headers"],
    )
    resp = await sim_api.get(
        f"/api/v1/teams/{team['id']}/directory/groups", params={"search": "All"}, headers=team["headers"]
    )
    assert resp.status == 200, await resp.text()
    groups = (await resp.json())["groups"]
    assert [g["display_name"] for g in groups] == ["All Staff"]
    assert set(groups[0]) == {"id", "display_name", "description", "mail"}

    await sim_api.put(
        f"/api/v1/teams/{team['id']}/directory",
        json={"tenant_id": sim_tenant.tenant_id, "client_id": SIM_CLIENT_ID, "client_secret": "rotated-Xq7"},
        headers=team["headers"],
    )
    failed = await sim_api.get(f"/api/v1/teams/{team['id']}/directory/groups", headers=team["headers"])
    assert failed.status == 502
    assert "rotated-Xq7" not in await failed.text()
