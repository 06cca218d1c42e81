"""Certificate credentials (R1): msal signs a client assertion with the team's certificate, the simulated
identity platform checks it as Entra documents, the key is stored encrypted, and a certificate that cannot be
used is a 422 naming the field."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta

import aiohttp
import jwt
import pytest
from cryptography.hazmat.primitives import hashes

from shared.crypto import decrypt, encrypt
from shared.graph.certificates import CertificateKey, from_certificate
from shared.graph.connection import credentials_for
from shared.graph.errors import GraphAuthError
from simulator.assertions import JWT_BEARER
from tests.fixtures.api import make_team
from tests.fixtures.certificates import make_certificate
from tests.fixtures.fetcher import config
from tests.fixtures.sim import SIM_CLIENT_ID


@pytest.fixture(scope="module")
def registered():
    return make_certificate(90)


def _body(tenant, **fields) -> dict:
    return {"tenant_id": tenant.tenant_id, "client_id": SIM_CLIENT_ID, **fields}


async def test_certificate_pem_connects_and_is_stored_encrypted(
    graph_api, operator, pool, settings, simulator, sim_tenant, registered
):
    sim_tenant.add_certificate(SIM_CLIENT_ID, registered.certificate)
    team = await make_team(graph_api, operator)
    path = f"/api/v1/teams/{team['id']}/directory"
    resp = await graph_api.put(
        path,
        json=_body(sim_tenant, client_certificate=registered.cert_pem + registered.key_pem),
        headers=team["headers"],
    )
    assert resp.status == 200, await resp.text()
    body = await resp.json()
    assert body["credential_type"] == "certificate"
    assert body["certificate_thumbprint"] == registered.thumbprint
    assert datetime.fromisoformat(body["credential_expires_at"]) == registered.expires_at
    assert "PRIVATE KEY" not in await resp.text()
    row = await pool.fetchrow("SELECT * FROM directory_connections WHERE team_id = $1", uuid.UUID(team["id"]))
    assert b"PRIVATE KEY" not in bytes(row["secret_encrypted"])
    stored = CertificateKey.loads(decrypt(settings.secret_keys(), row["secret_encrypted"]))
    assert stored is not None and stored.thumbprint == registered.thumbprint
    # The token the check took (PS256 under x5t#S256) reads Graph.
    search = await graph_api.get(f"{path}/groups", params={"search": "All"}, headers=team["headers"])
    assert search.status == 200 and simulator.requests[sim_tenant.tenant_id]["token"] == 1

    # The thumbprint and the key alone (RS256 under x5t), the key given apart; then a secret with its expiry.
    resp = await graph_api.put(
        path,
        json=_body(
            sim_tenant, certificate_thumbprint=registered.thumbprint.lower(), private_key=registered.key_pem
        ),
        headers=team["headers"],
    )
    assert resp.status == 200, await resp.text()
    assert (await resp.json())["credential_expires_at"] is None
    expires = (datetime.now(UTC) + timedelta(days=200)).replace(microsecond=0)
    resp = await graph_api.put(
        path,
        json=_body(
            sim_tenant,
            client_secret=sim_tenant.apps[SIM_CLIENT_ID],
            client_secret_expires_at=expires.isoformat(),
        ),
        headers=team["headers"],
    )
    body = await resp.json()
    assert resp.status == 200 and body["credential_type"] == "secret"
    assert datetime.fromisoformat(body["credential_expires_at"]) == expires


async def test_unusable_certificates_are_422_naming_the_field(graph_api, operator, sim_tenant, registered):
    sim_tenant.add_certificate(SIM_CLIENT_ID, registered.certificate)
    team = await make_team(graph_api, operator)
    path = f"/api/v1/teams/{team['id']}/directory"
    other = make_certificate(90)
    expired = make_certificate(-1)
    cases = [
        (_body(sim_tenant), "client_secret"),
        (_body(sim_tenant, client_secret="x", client_certificate=registered.cert_pem), "client_secret"),
        (
            _body(
                sim_tenant, client_certificate="-----BEGIN CERTIFICATE-----\nnope\n-----END CERTIFICATE-----"
            ),
            "client_certificate",
        ),
        (_body(sim_tenant, client_certificate="not a pem"), "client_certificate"),
        (_body(sim_tenant, client_certificate=registered.cert_pem), "client_certificate"),  # no key
        (_body(sim_tenant, client_certificate=registered.cert_pem, private_key=other.key_pem), "private_key"),
        (_body(sim_tenant, client_certificate=expired.cert_pem + expired.key_pem), "client_certificate"),
        (_body(sim_tenant, certificate_thumbprint=registered.thumbprint), "private_key"),
        (
            _body(sim_tenant, certificate_thumbprint="12", private_key=registered.key_pem),
            "certificate_thumbprint",
        ),
        # Well formed, but not registered on the app: the platform's AADSTS700027.
        (_body(sim_tenant, client_certificate=other.cert_pem + other.key_pem), "client_certificate"),
        (
            _body(sim_tenant, certificate_thumbprint=other.thumbprint, private_key=other.key_pem),
            "certificate_thumbprint",
        ),
    ]
    for body, field in cases:
        resp = await graph_api.put(path, json=body, headers=team["headers"])
        problem = await resp.json()
        assert resp.status == 422, (body, problem)
        assert field in [e["loc"][-1] for e in problem["errors"]], (field, problem)
    resp = await graph_api.put(
        path,
        json=_body(sim_tenant, client_certificate=other.cert_pem + other.key_pem),
        headers=team["headers"],
    )
    assert "AADSTS700027" in (await resp.json())["detail"]
    assert (await graph_api.get(path, headers=team["headers"])).status == 404


async def test_certificate_expired_on_the_app_is_refused(graph_api, operator, sim_tenant):
    """A certificate whose registration ran out: Entra's AADSTS700027 with "The key used is expired"."""
    lapsed = make_certificate(-2)
    sim_tenant.add_certificate(SIM_CLIENT_ID, lapsed.certificate)
    team = await make_team(graph_api, operator)
    resp = await graph_api.put(
        f"/api/v1/teams/{team['id']}/directory",
        json=_body(sim_tenant, certificate_thumbprint=lapsed.thumbprint, private_key=lapsed.key_pem),
        headers=team["headers"],
    )
    problem = await resp.json()
    assert resp.status == 422 and problem["errors"][0]["loc"] == ["certificate_thumbprint"]
    assert "client certificate is expired" in problem["detail"] and "AADSTS700027" in problem["detail"]


async def test_a_stored_certificate_that_expired_fails_the_run_saying_so(settings, registered):
    """What the fetcher (and every Graph reader) takes its credentials from refuses an expired certificate,
    saying when it expired: the run fails with that reason."""
    credential = from_certificate(registered.cert_pem, registered.key_pem)
    row = {
        "kind": "own_app",
        "tenant_id": "t",
        "client_id": SIM_CLIENT_ID,
        "secret_encrypted": encrypt(settings.secret_keys(), credential.dumps()),
    }
    assert credentials_for(settings, row).certificate == credential
    expired = make_certificate(-1, key=registered.key)
    lapsed = CertificateKey(credential.private_key, expired.thumbprint, expired.cert_pem)
    row["secret_encrypted"] = encrypt(settings.secret_keys(), lapsed.dumps())
    with pytest.raises(GraphAuthError, match=f"client certificate .*{expired.thumbprint}.* expired on"):
        credentials_for(settings, row)


def _assertion(cert, endpoint: str, **claims) -> str:
    now = time.time()
    body = {
        "aud": endpoint,
        "iss": SIM_CLIENT_ID,
        "sub": SIM_CLIENT_ID,
        "jti": str(uuid.uuid4()),
        "nbf": now,
        "exp": now + 600,
    } | claims
    x5t = jwt.utils.base64url_encode(cert.certificate.fingerprint(hashes.SHA1())).decode()
    return jwt.encode(body, cert.key, algorithm="RS256", headers={"x5t": x5t})


@pytest.mark.parametrize(
    ("change", "aadsts"),
    [
        ({}, None),
        ({"exp": time.time() - 3600, "nbf": time.time() - 7200}, 700024),
        ({"aud": "https://login.microsoftonline.com/common/oauth2/v2.0/token"}, 700023),
        ({"iss": "someone-else"}, 700021),
    ],
)
async def test_token_endpoint_checks_the_assertion(simulator, sim_tenant, registered, change, aadsts):
    sim_tenant.add_certificate(SIM_CLIENT_ID, registered.certificate)
    endpoint = f"{simulator.authority_url}/{sim_tenant.tenant_id}/oauth2/v2.0/token"
    form = {
        "grant_type": "client_credentials",
        "client_id": SIM_CLIENT_ID,
        "scope": "https://graph.microsoft.com/.default",
        "client_assertion_type": JWT_BEARER,
        "client_assertion": _assertion(registered, endpoint, **change),
    }
    connector = aiohttp.TCPConnector(ssl=simulator.client_ssl_context())
    async with aiohttp.ClientSession(connector=connector) as http, http.post(endpoint, data=form) as resp:
        body = await resp.json()
    if aadsts is None:
        assert resp.status == 200 and body["access_token"]
    else:
        assert resp.status == 401 and body["error"] == "invalid_client" and body["error_codes"] == [aadsts]


async def test_runs_read_with_the_certificate_and_fail_once_it_expired(fetch_bench):
    """A run takes its token with the stored certificate; one whose certificate expired fails saying so, and
    one whose certificate was taken off the app fails with the platform's reason."""
    b = fetch_bench
    group = b.tenant.add_group(displayName="Team")
    current, lapsed, removed = make_certificate(30), make_certificate(-1), make_certificate(30)
    for made in (current, lapsed):
        b.tenant.add_certificate(b.client_id, made.certificate)
    stored = {
        "current": from_certificate(current.cert_pem, current.key_pem).dumps(),
        "lapsed": CertificateKey(lapsed.key_pem, lapsed.thumbprint, lapsed.cert_pem).dumps(),
        "removed": from_certificate(removed.cert_pem, removed.key_pem).dumps(),
    }
    reasons = {}
    for name, credential in stored.items():
        b.published.messages.clear()
        request = await b.run(await b.team(secret=credential), config(group))
        await b.fetcher(photos=False).on_sync_requested(request)
        last = b.published.messages[-1]
        reasons[name] = getattr(last, "reason", type(last).__name__)
    assert reasons["current"] == "SnapshotCompleted"
    assert f"client certificate (thumbprint {lapsed.thumbprint}) expired on" in reasons["lapsed"]
    assert reasons["removed"].startswith("the client certificate is not registered on the app")
    assert "AADSTS700027" in reasons["removed"]


async def test_the_dashboard_connects_with_a_certificate(
    graph_api, operator, settings, sim_tenant, registered
):
    sim_tenant.add_certificate(SIM_CLIENT_ID, registered.certificate)
    team = await make_team(graph_api, operator)
    token = settings.operator_token.get_secret_value()
    signed_in = await graph_api.post(
        "/signin/operator", data={"token": token, "next": "/teams"}, allow_redirects=False
    )
    assert signed_in.status == 303
    path = f"/teams/{team['id']}/directory"
    page = await (await graph_api.get(path)).text()
    form = {
        "csrf_token": page.split('name="csrf_token" value="')[1].split('"')[0],
        "tenant_id": sim_tenant.tenant_id,
        "client_id": SIM_CLIENT_ID,
        "client_secret": "",
        "client_certificate": "-----BEGIN CERTIFICATE-----\nnope\n-----END CERTIFICATE-----",
    }
    refused = await graph_api.post(path, data=form, allow_redirects=False)
    text = await refused.text()
    assert refused.status == 422 and 'id="client_certificate-error"' in text and "nope" not in text
    form["client_certificate"] = registered.cert_pem + registered.key_pem
    saved = await graph_api.post(path, data=form, allow_redirects=False)
    assert saved.status == 303, await saved.text()
    page = await (await graph_api.get(path)).text()
    assert f"A certificate (thumbprint {registered.thumbprint})" in page and "Expires" in page
    assert "PRIVATE KEY" not in page


async def test_r1_a_certificate_is_tested_given_or_stored_and_a_test_stores_nothing(
    graph_api, operator, pool, sim_tenant, registered
):
    sim_tenant.add_certificate(SIM_CLIENT_ID, registered.certificate)
    team = await make_team(graph_api, operator)
    path = f"/api/v1/teams/{team['id']}/directory"
    pem = registered.cert_pem + registered.key_pem
    given = await graph_api.post(
        f"{path}/test", json=_body(sim_tenant, client_certificate=pem), headers=team["headers"]
    )
    assert given.status == 200, await given.text()
    assert (await given.json())["kind"] == "given" and (await given.json())["ok"]
    assert await pool.fetchval("SELECT count(*) FROM directory_connections") == 0
    both = await graph_api.post(
        f"{path}/test",
        json=_body(sim_tenant, client_secret="x", client_certificate=pem),
        headers=team["headers"],
    )
    assert both.status == 422
    await graph_api.put(path, json=_body(sim_tenant, client_certificate=pem), headers=team["headers"])
    stored = await (await graph_api.post(f"{path}/test", headers=team["headers"])).json()
    assert stored["kind"] == "own_app" and stored["ok"]
