"""Signing in with Microsoft (OpenID Connect with PKCE through msal), sessions, CSRF and the break-glass
login."""

from __future__ import annotations

import uuid
from urllib.parse import parse_qs, urlsplit

import aiohttp
import pytest

from services.scheduler.api.routes.signin import safe_next
from simulator import generate_tenant
from tests.fixtures.api import make_team


def _user(tenant, index: int = 0) -> tuple[str, dict]:
    user_id = sorted(tenant.users)[index]
    return user_id, tenant.users[user_id]


async def test_login_redirects_to_the_platform_with_pkce(browsers, cloud_settings, simulator):
    browser = await browsers()
    resp = await browser.api.get("/auth/login?next=/teams", allow_redirects=False)
    assert resp.status == 302
    url = urlsplit(resp.headers["Location"])
    assert (
        f"{url.scheme}://{url.netloc}{url.path}"
        == f"{simulator.authority_url}/organizations/oauth2/v2.0/authorize"
    )
    query = {k: v[0] for k, v in parse_qs(url.query).items()}
    assert query["client_id"] == cloud_settings.app_client_id and query["response_type"] == "code"
    assert query["redirect_uri"] == cloud_settings.public_url + "/auth/callback"
    assert {"openid", "profile", "email"} <= set(query["scope"].split())
    assert query["code_challenge_method"] == "S256" and query["code_challenge"] and query["nonce"]
    assert query["state"]


async def test_an_admin_signs_in_and_acts_for_their_teams_only(browsers, operator, sim_tenant):
    user_id, user = _user(sim_tenant)
    browser = await browsers()
    mine = await make_team(browser.api, operator, "Mine", [{"email": user["mail"], "name": "Me"}])
    await make_team(browser.api, operator, "Theirs", [{"email": "someone@else.example", "name": "X"}])

    resp = await browser.finish_sign_in(await browser.start_sign_in(sim_tenant, user_id, "/teams?x=1"))
    assert resp.status == 303 and resp.headers["Location"] == "/teams?x=1"
    cookie = resp.headers["Set-Cookie"]
    assert "cardsync_session=" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert "Secure" not in cookie  # the test server is plain http

    me = await (await browser.api.get("/api/v1/me")).json()
    assert me["kind"] == "admin" and me["tenant_id"] == sim_tenant.tenant_id
    assert me["email"] == user["mail"] and me["teams"] == [{"id": mine["id"], "name": "Mine"}]
    browser.csrf = me["csrf_token"]
    assert (await browser.api.get(f"/api/v1/teams/{mine['id']}")).status == 200
    teams = [
        t["id"] for t in (await (await browser.api.get("/api/v1/teams", headers=operator)).json())["teams"]
    ]
    theirs = next(t for t in teams if t != mine["id"])
    assert (await browser.api.get(f"/api/v1/teams/{theirs}")).status == 404
    assert (
        await browser.api.post("/api/v1/teams", json={"name": "X"}, headers=browser.headers())
    ).status == 403


async def test_changes_made_with_the_cookie_need_the_csrf_token(browsers, operator, sim_tenant):
    user_id, user = _user(sim_tenant)
    browser = await browsers()
    team = await make_team(browser.api, operator, "Mine", [{"email": user["mail"], "name": "Me"}])
    await browser.sign_in(sim_tenant, user_id)
    path = f"/api/v1/teams/{team['id']}/sync/runs"
    assert (await browser.api.post(path, json={"dry_run": True})).status == 403
    wrong = {"X-CSRF-Token": "x" * 43}
    assert (await browser.api.post(path, json={"dry_run": True}, headers=wrong)).status == 403
    assert (await browser.api.post(path, json={"dry_run": True}, headers=browser.headers())).status == 202


async def test_a_member_made_from_the_directory_object_is_the_admin(browsers, operator, pool, sim_tenant):
    """A synced admin whose card email is not the sign-in name: known by (tenant, object id)."""
    user_id, _ = _user(sim_tenant, 3)
    browser = await browsers()
    team = await make_team(browser.api, operator, "Synced")
    team_id = uuid.UUID(team["id"])
    account = await pool.fetchval("INSERT INTO accounts (email) VALUES ('other@x.example') RETURNING id")
    await pool.execute(
        "INSERT INTO members (team_id, account_id, directory_id, managed, status, role)"
        " VALUES ($1, $2, $3, true, 'active', 'admin')",
        team_id,
        account,
        user_id,
    )
    await pool.execute(
        "INSERT INTO directory_connections (team_id, kind, tenant_id, client_id) VALUES ($1, 'consent', $2, "
        "'c')",
        team_id,
        sim_tenant.tenant_id,
    )
    me = await browser.sign_in(sim_tenant, user_id)
    assert [t["id"] for t in me["teams"]] == [team["id"]]

    # The same object id in another tenant's sign-in would be another person.
    await pool.execute(
        "UPDATE directory_connections SET tenant_id = $2 WHERE team_id = $1", team_id, str(uuid.uuid4())
    )
    assert (await (await browser.api.get("/api/v1/me")).json())["teams"] == []


async def test_a_hostile_tenants_email_claim_proves_nothing(browsers, operator, simulator, sim_tenant):
    """A tenant can write any address into a user's mail; only an address on its own domains counts."""
    hostile = simulator.add_tenant(generate_tenant(3, 1, seed=31))
    _user_id, victim = _user(sim_tenant)
    browser = await browsers()
    await make_team(browser.api, operator, "Victim", [{"email": victim["mail"], "name": "Admin"}])
    attacker_id = min(hostile.users)
    hostile.users[attacker_id]["mail"] = victim["mail"]
    me = await browser.sign_in(hostile, attacker_id)
    assert me["teams"] == [] and me["email"] != victim["mail"]


async def test_bad_replayed_or_refused_sign_ins_open_no_session(browsers, pool, sim_tenant):
    user_id, _ = _user(sim_tenant)
    browser = await browsers()
    answer = await browser.start_sign_in(sim_tenant, user_id)
    for bad in (
        {**answer, "state": "unknown"},
        {k: v for k, v in answer.items() if k != "state"},
        {"state": answer["state"], "error": "access_denied", "error_description": "AADSTS65004: declined"},
    ):
        resp = await browser.finish_sign_in(bad)
        assert resp.status == 400 and "cardsync_session" not in resp.headers.get("Set-Cookie", "")
    # The refused answer spent the state: the real one cannot be used after it.
    resp = await browser.finish_sign_in(answer)
    assert resp.status == 400
    assert (await browser.api.get("/api/v1/me")).status == 401

    # A state started in one browser and finished in another is refused (login CSRF).
    other = await browsers()
    answer = await browser.start_sign_in(sim_tenant, user_id)
    assert (await other.finish_sign_in(answer)).status == 400
    assert (await browser.finish_sign_in(answer)).status == 400  # and it is spent
    failed = await pool.fetchval("SELECT count(*) FROM audit_log WHERE action = 'auth.sign_in_failed'")
    assert failed >= 5

    answer = await browser.start_sign_in(sim_tenant, user_id)
    assert (await browser.finish_sign_in(answer)).status == 303
    assert (await browser.finish_sign_in(answer)).status == 400  # replayed


@pytest.mark.parametrize(
    "tamper",
    [
        {"aud": "00000000-0000-0000-0000-000000000001"},
        {"iss": "https://login.example/other/v2.0"},
        {"exp": 1_000_000_000},
        {"nonce": "another"},
        {"foreign_key": True},
    ],
    ids=["audience", "issuer", "expired", "nonce", "signature"],
)
async def test_an_id_token_that_fails_a_check_opens_no_session(browsers, simulator, sim_tenant, tamper):
    user_id, _ = _user(sim_tenant)
    browser = await browsers()
    answer = await browser.start_sign_in(sim_tenant, user_id)
    simulator.tamper_next_id_token(**tamper)
    resp = await browser.finish_sign_in(answer)
    assert resp.status == 400, await resp.text()
    assert (await browser.api.get("/api/v1/me")).status == 401


async def test_logout_and_idle_sessions_end(browsers, operator, pool, sim_tenant):
    user_id, user = _user(sim_tenant)
    browser = await browsers()
    await make_team(browser.api, operator, "Mine", [{"email": user["mail"], "name": "Me"}])
    await browser.sign_in(sim_tenant, user_id)
    assert (await browser.api.post("/auth/logout")).status == 403  # a cross-site form cannot sign anyone out
    assert (await browser.api.get("/api/v1/me")).status == 200
    assert (await browser.api.post("/auth/logout", data={"csrf_token": browser.csrf})).status == 204
    assert (await browser.api.get("/api/v1/me")).status == 401
    assert (await browser.api.post("/auth/logout")).status == 204  # no session: nothing to end

    await browser.sign_in(sim_tenant, user_id)
    await pool.execute("UPDATE auth_sessions SET last_seen_at = now() - interval '8 hours 1 minute'")
    assert (await browser.api.get("/api/v1/me")).status == 401
    await browser.sign_in(sim_tenant, user_id)
    await pool.execute("UPDATE auth_sessions SET created_at = now() - interval '7 days 1 minute'")
    assert (await browser.api.get("/api/v1/me")).status == 401


async def test_the_operator_token_is_a_break_glass_login(browsers, settings, pool):
    browser = await browsers()
    resp = await browser.api.post("/auth/operator", data={"token": "wrong"}, allow_redirects=False)
    assert resp.status == 401
    token = settings.operator_token.get_secret_value()
    resp = await browser.api.post(
        "/auth/operator", data={"token": token, "next": "//evil"}, allow_redirects=False
    )
    assert resp.status == 303 and resp.headers["Location"] == "/"
    me = await (await browser.api.get("/api/v1/me")).json()
    assert me["kind"] == "operator" and me["csrf_token"]
    created = await browser.api.post(
        "/api/v1/teams", json={"name": "T"}, headers={"X-CSRF-Token": me["csrf_token"]}
    )
    assert created.status == 201
    assert await pool.fetchval("SELECT count(*) FROM audit_log WHERE action = 'auth.sign_in_failed'") == 1


def test_next_is_a_path_on_this_site():
    assert safe_next("/teams/1?x=2") == "/teams/1?x=2"
    for bad in (None, "", "https://evil.example/", "//evil.example", "/\\evil.example", "teams", "/a\nb"):
        assert safe_next(bad) == "/"


async def test_a_sign_in_link_can_name_the_person(browsers, operator, sim_tenant):
    """The demo's sign-in link: a login_hint fills in the platform's page, which signs that person in."""
    _, user = _user(sim_tenant, 2)
    browser = await browsers()
    await make_team(browser.api, operator, "Mine", [{"email": user["mail"], "name": "Me"}])
    resp = await browser.api.get(
        "/auth/login", params={"login_hint": user["userPrincipalName"]}, allow_redirects=False
    )
    query = parse_qs(urlsplit(resp.headers["Location"]).query)
    assert query["login_hint"] == [user["userPrincipalName"]] and "prompt" not in query
    answer = await browser.visit_cloud(resp.headers["Location"])  # nobody was signed in at the simulator
    assert (await browser.finish_sign_in(answer)).status == 303
    me = await (await browser.api.get("/api/v1/me")).json()
    assert me["email"] == user["mail"] and len(me["teams"]) == 1

    odd = await browser.api.get("/auth/login", params={"login_hint": "a b\n"}, allow_redirects=False)
    assert "login_hint" not in parse_qs(urlsplit(odd.headers["Location"]).query)


async def test_the_platforms_sign_in_page_asks_for_a_username_and_keeps_the_request(browsers, simulator):
    browser = await browsers()
    resp = await browser.api.get("/auth/login", allow_redirects=False)
    connector = aiohttp.TCPConnector(ssl=simulator.client_ssl_context())
    async with aiohttp.ClientSession(connector=connector) as http, http.get(resp.headers["Location"]) as page:
        text = await page.text()
    assert page.status == 200 and "name='login_hint'" in text and "name='code_challenge'" in text
