"""OpenID Connect sign-in against the simulated identity platform: the real msal's authorization-code flow
with PKCE, ID tokens verified with PyJWT against the published keys, and the platform's answers to what goes
wrong."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import html
import json
import re
import time
from urllib.parse import parse_qs, urlencode, urlsplit

import aiohttp
import jwt
import msal
import pytest
from cryptography import x509

from simulator import Simulator, Tenant, generate_tenant
from tests.fixtures.sim import SIM_CLIENT_ID, SIM_CLIENT_SECRET, trusting_session

# msal warns about every response mode but form_post; the query mode is what these tests read most easily
pytestmark = pytest.mark.filterwarnings("ignore:response_mode='form_post' is recommended")


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


REDIRECT = "https://app.example/signin"


def _app(sim: Simulator, authority: str, client_id: str = SIM_CLIENT_ID, secret: str = SIM_CLIENT_SECRET):
    return msal.ConfidentialClientApplication(
        client_id,
        client_credential=secret,
        authority=f"{sim.authority_url}/{authority}",
        instance_discovery=False,
        http_client=trusting_session(sim.ca_file),
    )


async def _start(sim: Simulator, authority: str, **kwargs) -> tuple[msal.ConfidentialClientApplication, dict]:
    """An msal app and the flow it begins, as the product would keep it in the admin's session."""
    app = await asyncio.to_thread(_app, sim, authority)
    flow = app.initiate_auth_code_flow(scopes=["email"], redirect_uri=REDIRECT, **kwargs)
    return app, flow


async def _browse(http: aiohttp.ClientSession, url: str) -> dict[str, str]:
    """The browser at the authorize URL: where it is sent back to, as the query the app's callback
    receives."""
    async with http.get(url, allow_redirects=False) as resp:
        assert resp.status == 302, await resp.text()
        location = resp.headers["Location"]
    assert location.startswith(REDIRECT + "?")
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


async def _redeem(app, flow: dict, answer: dict) -> dict:
    return await asyncio.to_thread(app.acquire_token_by_auth_code_flow, flow, answer)


def _person(tenant: Tenant) -> dict:
    return next(u for u in tenant.users.values() if u["accountEnabled"])


@pytest.fixture
def reply_url(sim_tenant: Tenant) -> str:
    sim_tenant.add_redirect_uri(SIM_CLIENT_ID, REDIRECT)
    return REDIRECT


async def test_msal_signs_a_person_in_and_pyjwt_verifies_the_id_token(simulator, sim_tenant, reply_url, http):
    person = _person(sim_tenant)
    app, flow = await _start(simulator, "organizations", login_hint=person["mail"].upper())
    query = parse_qs(urlsplit(flow["auth_uri"]).query)
    assert query["code_challenge_method"] == ["S256"] and query["client_info"] == ["1"]
    answer = await _browse(http, flow["auth_uri"])
    assert answer["state"] == flow["state"] and answer["session_state"]
    assert json.loads(jwt.utils.base64url_decode(answer["client_info"])) == {
        "uid": person["id"],
        "utid": sim_tenant.tenant_id,
    }

    result = await _redeem(app, flow, answer)
    assert "error" not in result, result
    claims = result["id_token_claims"]
    assert (claims["tid"], claims["oid"], claims["email"]) == (
        sim_tenant.tenant_id,
        person["id"],
        person["mail"],
    )
    assert (
        claims["preferred_username"] == person["userPrincipalName"]
        and claims["name"] == person["displayName"]
    )
    assert (
        claims["nonce"] == hashlib.sha256(flow["nonce"].encode()).hexdigest()
    )  # msal sends the nonce hashed
    assert claims["ver"] == "2.0" and claims["exp"] - claims["iat"] == 3600
    assert result["token_type"] == "Bearer" and "offline_access" not in result["scope"]
    account = (await asyncio.to_thread(app.get_accounts))[0]
    assert account["home_account_id"] == f"{person['id']}.{sim_tenant.tenant_id}"  # from the client_info

    config = await _get_json(
        http, f"{simulator.authority_url}/organizations/v2.0/.well-known/openid-configuration"
    )
    keys = jwt.PyJWKSet.from_dict(await _get_json(http, config["jwks_uri"]))
    raw = result["id_token"]
    verified = jwt.decode(
        raw,
        keys[jwt.get_unverified_header(raw)["kid"]].key,
        algorithms=config["id_token_signing_alg_values_supported"],
        audience=SIM_CLIENT_ID,
        issuer=config["issuer"].replace("{tenantid}", sim_tenant.tenant_id),
    )
    assert verified == claims

    token = simulator.tokens.lookup(result["access_token"])
    assert (token.user_id, token.permissions) == (person["id"], frozenset())  # delegated, no app permissions
    headers = {"Authorization": f"Bearer {result['access_token']}"}
    async with http.get(f"{simulator.graph_url}/users", headers=headers) as resp:
        assert resp.status == 403


async def test_the_signed_in_user_and_a_tenant_specific_authority(simulator, sim_tenant, reply_url, http):
    person = _person(sim_tenant)
    app, flow = await _start(simulator, sim_tenant.domain)
    async with http.get(flow["auth_uri"], allow_redirects=False) as resp:
        assert (resp.status, resp.content_type) == (200, "text/html")  # the sign-in page waits for a person
        assert "Location" not in resp.headers
    simulator.sign_in(sim_tenant.tenant_id, person["id"])
    first = (await _redeem(app, flow, await _browse(http, flow["auth_uri"])))["id_token_claims"]
    assert first["iss"] == f"{simulator.authority_url}/{sim_tenant.tenant_id}/v2.0"
    assert first["oid"] == person["id"] and first["aud"] == SIM_CLIENT_ID

    app, flow = await _start(simulator, sim_tenant.domain)
    again = (await _redeem(app, flow, await _browse(http, flow["auth_uri"])))["id_token_claims"]
    other_id, other_secret = sim_tenant.register_app(redirect_uris=[REDIRECT])
    other = await asyncio.to_thread(_app, simulator, sim_tenant.domain, other_id, other_secret)
    flow = other.initiate_auth_code_flow(scopes=[], redirect_uri=REDIRECT)
    elsewhere = (await _redeem(other, flow, await _browse(http, flow["auth_uri"])))["id_token_claims"]
    assert again["sub"] == first["sub"] != elsewhere["sub"]  # pairwise: one subject per person and app
    assert again["oid"] == elsewhere["oid"] and again["uti"] != first["uti"]
    assert "email" in first and "email" not in elsewhere  # only the email scope brings the email claim


async def _token_endpoint(http, sim: Simulator, authority: str, form: dict) -> tuple[int, dict]:
    async with http.post(f"{sim.authority_url}/{authority}/oauth2/v2.0/token", data=form) as resp:
        return resp.status, await resp.json()


async def test_a_code_is_spent_once_by_its_app_with_its_verifier_and_redirect_uri(
    simulator, sim_tenant, reply_url, http
):
    simulator.sign_in(sim_tenant.tenant_id, _person(sim_tenant)["id"])
    app, flow = await _start(simulator, "organizations")
    answer = await _browse(http, flow["auth_uri"])
    refused = []
    for change in ({"code_verifier": "x" * 43}, {"code_verifier": ""}, {"redirect_uri": REDIRECT + "/"}):
        refused.append(await _redeem(app, {**flow, **change}, answer))
    assert [(r["error"], r["error_codes"]) for r in refused] == [
        ("invalid_grant", [501481]),
        ("invalid_grant", [501481]),
        ("invalid_client", [500112]),
    ]
    form = {"grant_type": "authorization_code", "code": answer["code"], "redirect_uri": REDIRECT}
    form |= {"code_verifier": flow["code_verifier"], "scope": "openid profile email offline_access"}
    other_id, other_secret = sim_tenant.register_app(redirect_uris=[REDIRECT])
    status, body = await _token_endpoint(
        http, simulator, "organizations", {**form, "client_id": other_id, "client_secret": other_secret}
    )
    assert (status, body["error"], body["error_codes"]) == (400, "invalid_grant", [70000])
    mine = {**form, "client_id": SIM_CLIENT_ID}
    status, body = await _token_endpoint(
        http, simulator, sim_tenant.tenant_id, {**mine, "client_secret": "no"}
    )
    assert (status, body["error"], body["error_codes"]) == (401, "invalid_client", [7000215])
    status, body = await _token_endpoint(
        http, simulator, sim_tenant.tenant_id, {**mine, "client_secret": SIM_CLIENT_SECRET}
    )
    assert (status, body["error_codes"]) == (400, [700005])  # asked for at organizations, redeemed elsewhere

    assert "access_token" in await _redeem(app, flow, answer)
    replay = await _redeem(app, flow, answer)
    assert (replay["error"], replay["error_codes"]) == ("invalid_grant", [54005])

    simulator.codes.lifetime = 0
    app, flow = await _start(simulator, "organizations")
    late = await _redeem(app, flow, await _browse(http, flow["auth_uri"]))
    assert (late["error"], late["error_codes"]) == ("invalid_grant", [70008])


async def test_errors_about_the_app_or_its_redirect_uri_stay_on_the_page(
    simulator, sim_tenant, reply_url, http
):
    good = {
        "client_id": SIM_CLIENT_ID,
        "response_type": "code",
        "redirect_uri": REDIRECT,
        "scope": "openid",
        "state": "s1",
    }
    bare_app, _ = sim_tenant.register_app()
    cases = [
        ("organizations", {"client_id": ""}, 900144),
        ("nowhere.example", {}, 90002),
        ("organizations", {"client_id": "ffffffff-0000-4000-8000-000000000000"}, 700016),
        ("organizations", {"client_id": bare_app}, 500113),
        ("organizations", {"redirect_uri": ""}, 900971),
        ("organizations", {"redirect_uri": "https://evil.example/signin"}, 50011),
        (sim_tenant.tenant_id, {"redirect_uri": REDIRECT.upper()}, 50011),
    ]
    for authority, change, aadsts in cases:
        url = f"{simulator.authority_url}/{authority}/oauth2/v2.0/authorize?{urlencode({**good, **change})}"
        async with http.get(url, allow_redirects=False) as resp:
            assert (resp.status, resp.content_type) == (400, "text/html"), (change, aadsts)
            assert "Location" not in resp.headers and f"AADSTS{aadsts}:" in await resp.text()


async def test_errors_about_the_request_go_back_to_the_app_with_its_state(
    simulator, sim_tenant, reply_url, http
):
    good = {
        "client_id": SIM_CLIENT_ID,
        "response_type": "code",
        "redirect_uri": REDIRECT,
        "scope": "openid email",
        "state": "s2",
    }
    cases = [
        ({"response_type": "token"}, "unsupported_response_type", 700054),
        ({"response_type": ""}, "invalid_request", 900144),
        ({"scope": ""}, "invalid_request", 900144),
        ({"code_challenge": "short", "code_challenge_method": "S256"}, "invalid_request", 501491),
        ({"code_challenge": "c" * 43, "code_challenge_method": "S512"}, "invalid_request", 90100),
        ({"code_challenge_method": "S256"}, "invalid_request", 900144),
        ({"prompt": "none"}, "login_required", 50058),  # nobody is signed in
    ]
    for change, error, aadsts in cases:
        url = f"{simulator.authority_url}/organizations/oauth2/v2.0/authorize?{urlencode({**good, **change})}"
        answer = await _browse(http, url)
        assert (answer["error"], answer["state"]) == (error, "s2"), change
        assert answer["error_description"].startswith(f"AADSTS{aadsts}: ")

    simulator.deny_sign_in = True
    app, flow = await _start(simulator, "organizations", login_hint=_person(sim_tenant)["mail"])
    result = await _redeem(app, flow, await _browse(http, flow["auth_uri"]))
    assert result["error"] == "access_denied" and "AADSTS65004" in result["error_description"]


async def test_who_may_sign_in_where(simulator, sim_tenant, reply_url, http):
    other = simulator.add_tenant(generate_tenant(5, 1, seed=11))
    outsider = _person(other)
    app, flow = await _start(simulator, sim_tenant.tenant_id, login_hint=outsider["userPrincipalName"])
    async with http.get(flow["auth_uri"], allow_redirects=False) as resp:
        assert resp.status == 400 and "Location" not in resp.headers
        assert "AADSTS50020:" in await resp.text()  # not a member of the tenant the app asked for

    app, flow = await _start(simulator, "organizations", login_hint=outsider["userPrincipalName"])
    claims = (await _redeem(app, flow, await _browse(http, flow["auth_uri"])))["id_token_claims"]
    assert (
        claims["tid"] == other.tenant_id
        and claims["iss"] == f"{simulator.authority_url}/{other.tenant_id}/v2.0"
    )

    sim_tenant.disable_user(_person(sim_tenant)["id"])
    disabled = next(u for u in sim_tenant.users.values() if u["accountEnabled"] is False)
    app, flow = await _start(simulator, "organizations", login_hint=disabled["userPrincipalName"])
    async with http.get(flow["auth_uri"], allow_redirects=False) as resp:
        assert resp.status == 400 and "AADSTS50057:" in await resp.text()
    app, flow = await _start(simulator, "organizations", login_hint="nobody@nowhere.example")
    async with http.get(flow["auth_uri"], allow_redirects=False) as resp:
        assert resp.status == 200 and "nobody@nowhere.example" in await resp.text()  # the page asks again


async def test_form_post_returns_the_code_in_a_form_the_browser_submits(
    simulator, sim_tenant, reply_url, http
):
    simulator.sign_in(sim_tenant.tenant_id, _person(sim_tenant)["id"])
    app, flow = await _start(simulator, "organizations", response_mode="form_post")
    async with http.get(flow["auth_uri"], allow_redirects=False) as resp:
        assert resp.status == 200
        page = await resp.text()
    assert f"action='{REDIRECT}'" in page and "method='POST'" in page
    fields = {k: html.unescape(v) for k, v in re.findall(r"name='([^']+)' value='([^']*)'", page)}
    assert set(fields) == {"code", "state", "session_state", "client_info"}
    assert "id_token" in await _redeem(app, flow, fields)


async def test_a_tampered_id_token_is_one_pyjwt_refuses(simulator, sim_tenant, reply_url, http):
    simulator.sign_in(sim_tenant.tenant_id, _person(sim_tenant)["id"])
    config = await _get_json(
        http, f"{simulator.authority_url}/{sim_tenant.tenant_id}/v2.0/.well-known/openid-configuration"
    )
    key = jwt.PyJWKSet.from_dict(await _get_json(http, config["jwks_uri"])).keys[0].key

    async def id_token(**tamper) -> str:
        simulator.tamper_next_id_token(**tamper)
        app, flow = await _start(simulator, sim_tenant.tenant_id)
        return (await _redeem(app, flow, await _browse(http, flow["auth_uri"])))["id_token"]

    def verify(token: str) -> dict:
        return jwt.decode(
            token,
            key,
            algorithms=["RS256"],
            audience=SIM_CLIENT_ID,
            issuer=config["issuer"],
            options={"require": ["exp", "iat", "nbf", "aud", "iss"]},
        )

    cases = [
        ({"aud": "00000000-0000-4000-8000-000000000000"}, jwt.InvalidAudienceError),
        ({"iss": "https://login.example/evil/v2.0"}, jwt.InvalidIssuerError),
        ({"exp": int(time.time()) - 60}, jwt.ExpiredSignatureError),
        ({"exp": None}, jwt.MissingRequiredClaimError),
        ({"foreign_key": True}, jwt.InvalidSignatureError),
    ]
    for tamper, refusal in cases:
        with pytest.raises(refusal):
            verify(await id_token(**tamper))
    assert verify(await id_token())["tid"] == sim_tenant.tenant_id  # the hook spends itself on one token
    assert verify(await id_token(tid="00000000-0000-4000-8000-000000000000"))["tid"] != sim_tenant.tenant_id

    simulator.tamper_next_id_token(nonce="replayed")
    app, flow = await _start(simulator, sim_tenant.tenant_id)
    with pytest.raises(RuntimeError, match="nonce"):  # msal checks the nonce itself
        await _redeem(app, flow, await _browse(http, flow["auth_uri"]))
