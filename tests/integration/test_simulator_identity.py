"""The real msal against the simulator's identity endpoints, and Graph's answers to bad or stale tokens."""

from __future__ import annotations

import asyncio

import aiohttp
import jwt
import msal
import pytest

from simulator import Simulator, Tenant
from tests.fixtures.sim import SIM_CLIENT_ID, SIM_CLIENT_SECRET, trusting_session

SCOPE = ["https://graph.microsoft.com/.default"]


def _acquire(sim: Simulator, tenant_id: str, secret: str, validate_authority: bool = True) -> dict:
    app = msal.ConfidentialClientApplication(
        SIM_CLIENT_ID,
        client_credential=secret,
        authority=f"{sim.authority_url}/{tenant_id}",
        instance_discovery=False,
        validate_authority=validate_authority,
        http_client=trusting_session(sim.ca_file),
    )
    return app.acquire_token_for_client(SCOPE)


@pytest.fixture
async def http(simulator: Simulator):
    async with aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(ssl=simulator.client_ssl_context())
    ) as session:
        yield session


@pytest.mark.parametrize("validate_authority", [True, False])
async def test_msal_gets_a_token_that_graph_accepts(simulator, sim_tenant: Tenant, http, validate_authority):
    result = await asyncio.to_thread(
        _acquire, simulator, sim_tenant.tenant_id, SIM_CLIENT_SECRET, validate_authority
    )
    assert result["token_type"] == "Bearer" and result["expires_in"] > 3000
    headers = {"Authorization": f"Bearer {result['access_token']}"}
    async with http.get(f"{simulator.graph_url}/users?$top=5", headers=headers) as resp:
        assert resp.status == 200
        assert len((await resp.json())["value"]) == 5


async def test_an_app_token_names_the_permissions_granted_at_issue_in_its_roles_claim(simulator, sim_tenant):
    """A client learns its application permissions from the token's ``roles``, as from the identity
    platform: a permission revoked (or granted) shows in the next token, and none at all leaves the claim
    out."""
    first = await asyncio.to_thread(_acquire, simulator, sim_tenant.tenant_id, SIM_CLIENT_SECRET)
    claims = jwt.decode(first["access_token"], options={"verify_signature": False})
    assert claims["aud"] == "https://graph.microsoft.com" and claims["tid"] == sim_tenant.tenant_id
    assert claims["appid"] == SIM_CLIENT_ID and claims["idtyp"] == "app"
    assert set(claims["roles"]) == sim_tenant.permissions[SIM_CLIENT_ID]
    for permission in list(sim_tenant.permissions[SIM_CLIENT_ID]):
        sim_tenant.revoke(SIM_CLIENT_ID, permission)
    bare = simulator.tokens.issue(sim_tenant.tenant_id, SIM_CLIENT_ID, frozenset(), 3600)
    assert "roles" not in jwt.decode(bare, options={"verify_signature": False})


async def test_wrong_secret_is_invalid_client(simulator, sim_tenant):
    result = await asyncio.to_thread(_acquire, simulator, sim_tenant.tenant_id, "not-the-secret")
    assert result["error"] == "invalid_client"
    assert result["error_codes"] == [7000215]


async def test_unknown_tenant_and_unknown_app(simulator, sim_tenant, http):
    form = {
        "grant_type": "client_credentials",
        "client_id": SIM_CLIENT_ID,
        "client_secret": SIM_CLIENT_SECRET,
        "scope": SCOPE[0],
    }
    async with http.post(
        f"{simulator.authority_url}/00000000-0000-4000-8000-000000000000/oauth2/v2.0/token", data=form
    ) as resp:
        assert resp.status == 400
        assert "AADSTS90002" in (await resp.json())["error_description"]
    form["client_id"] = "ffffffff-0000-4000-8000-000000000000"
    async with http.post(
        f"{simulator.authority_url}/{sim_tenant.tenant_id}/oauth2/v2.0/token", data=form
    ) as resp:
        body = await resp.json()
        assert (resp.status, body["error"], body["error_codes"]) == (400, "unauthorized_client", [700016])


async def test_graph_refuses_missing_and_expired_tokens(simulator, sim_tenant, http):
    async with http.get(f"{simulator.graph_url}/users") as resp:
        assert resp.status == 401
        assert (await resp.json())["error"]["code"] == "InvalidAuthenticationToken"
    token = (await asyncio.to_thread(_acquire, simulator, sim_tenant.tenant_id, SIM_CLIENT_SECRET))[
        "access_token"
    ]
    simulator.expire_tokens(sim_tenant.tenant_id)
    async with http.get(f"{simulator.graph_url}/users", headers={"Authorization": f"Bearer {token}"}) as resp:
        assert resp.status == 401
        assert "expired" in (await resp.json())["error"]["message"]
        assert "WWW-Authenticate" in resp.headers


async def test_admin_consent_redirects_back_with_the_tenant(simulator, sim_tenant, http):
    sim_tenant.add_redirect_uri(SIM_CLIENT_ID, "https://app.example/callback")
    query = {
        "client_id": SIM_CLIENT_ID,
        "scope": SCOPE[0],
        "redirect_uri": "https://app.example/callback",
        "state": "signed-state",
    }
    url = f"{simulator.authority_url}/organizations/v2.0/adminconsent"
    async with http.get(url, params=query, allow_redirects=False) as resp:
        assert resp.status == 302
        location = resp.headers["Location"]
    assert location.startswith("https://app.example/callback?")
    assert f"tenant={sim_tenant.tenant_id}" in location and "admin_consent=True" in location
    assert "state=signed-state" in location
    simulator.consent_denied = True
    async with http.get(url, params=query, allow_redirects=False) as resp:
        assert "error=access_denied" in resp.headers["Location"]


async def test_admin_consent_only_returns_to_a_registered_reply_url(simulator, sim_tenant, http):
    url = f"{simulator.authority_url}/organizations/v2.0/adminconsent"
    query = {"client_id": SIM_CLIENT_ID, "scope": SCOPE[0], "redirect_uri": "https://app.example/callback"}
    async with http.get(url, params=query, allow_redirects=False) as resp:
        assert (resp.status, resp.content_type) == (400, "text/html")
        assert "AADSTS500113" in await resp.text()  # the app has no reply URL at all
    sim_tenant.add_redirect_uri(SIM_CLIENT_ID, "https://app.example/callback")
    for other in (
        "https://evil.example/callback",
        "https://app.example/Callback",
        "https://app.example/callback/",
    ):
        async with http.get(url, params={**query, "redirect_uri": other}, allow_redirects=False) as resp:
            assert resp.status == 400 and "Location" not in resp.headers
            assert "AADSTS50011" in await resp.text()
    async with http.get(url, params={**query, "redirect_uri": ""}, allow_redirects=False) as resp:
        assert resp.status == 400 and "AADSTS900971" in await resp.text()
