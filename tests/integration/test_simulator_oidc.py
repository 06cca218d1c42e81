"""OpenID Connect sign-in against the simulated identity platform: the real msal's authorization-code flow with
PKCE, ID tokens verified with PyJWT against the published keys, and the platform's answers to what goes wrong."""

from __future__ import annotations

import base64

import aiohttp
import jwt
import pytest
from cryptography import x509

from simulator import Simulator, Tenant


@pytest.fixture
async def http(simulator: Simulator):
    async with aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(ssl=simulator.client_ssl_context())
    ) as session:
        yield session


async def _get_json(http: aiohttp.ClientSession, url: str) -> dict:
    async with http.get(url) as resp:
        assert resp.status == 200, await resp.text()
        return await resp.json()


async def test_keys_are_published_where_discovery_says(simulator, sim_tenant: Tenant, http):
    config = await _get_json(
        http, f"{simulator.authority_url}/{sim_tenant.tenant_id}/v2.0/.well-known/openid-configuration"
    )
    assert config["issuer"] == f"{simulator.authority_url}/{sim_tenant.tenant_id}/v2.0"
    (key,) = (await _get_json(http, config["jwks_uri"]))["keys"]
    assert (key["kty"], key["use"], key["e"]) == ("RSA", "sig", "AQAB")
    assert key["kid"] == key["x5t"] and key["issuer"] == config["issuer"]
    certificate = x509.load_der_x509_certificate(base64.b64decode(key["x5c"][0]))
    numbers = certificate.public_key().public_numbers()
    assert jwt.PyJWK(key).key.public_numbers() == numbers and numbers.n.bit_length() == 2048

    common = await _get_json(http, f"{simulator.authority_url}/organizations/discovery/v2.0/keys")
    assert common["keys"][0]["kid"] == key["kid"]
    assert common["keys"][0]["issuer"] == f"{simulator.authority_url}/{{tenantid}}/v2.0"
    async with http.get(f"{simulator.authority_url}/nowhere.example/discovery/v2.0/keys") as resp:
        assert resp.status == 400 and "AADSTS90002" in (await resp.json())["error_description"]
