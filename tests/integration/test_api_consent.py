"""Connecting by admin consent (R1 a) and searching groups, with the real msal against the simulated cloud."""

from __future__ import annotations

import uuid
from urllib.parse import parse_qs, urlsplit

from simulator import generate_tenant
from tests.fixtures.api import make_team
from tests.fixtures.sim import SIM_CLIENT_ID, SIM_CLIENT_SECRET

CALLBACK = "/api/v1/directory/consent-callback"


async def _admin_of(browser, operator, tenant, user_index: int = 0) -> dict:
    """A team whose admin is a user of ``tenant``, signed in in ``browser``; the team's id and token
    headers."""
    user_id = sorted(tenant.users)[user_index]
    email = tenant.users[user_id]["mail"]
    team = await make_team(browser.api, operator, f"Team of {email}", [{"email": email, "name": "Admin"}])
    await browser.sign_in(tenant, user_id)
    return team


async def _consent_url(browser, team: dict) -> str:
    resp = await browser.api.get(f"/api/v1/teams/{team['id']}/directory/consent-url")
    assert resp.status == 200, await resp.text()
    return (await resp.json())["url"]


async def _connected(pool, team: dict) -> str | None:
    return await pool.fetchval(
        "SELECT tenant_id FROM directory_connections WHERE team_id = $1", uuid.UUID(team["id"])
    )


async def test_admin_consent_connects_the_signed_in_tenant(browsers, operator, simulator, pool):
    customer = simulator.add_tenant(generate_tenant(5, 1, seed=11))  # the customer's tenant, without the app
    browser = await browsers()
    team = await _admin_of(browser, operator, customer)
    url = await _consent_url(browser, team)
    assert url.startswith(f"{simulator.authority_url}/{customer.tenant_id}/v2.0/adminconsent?")
    assert f"client_id={SIM_CLIENT_ID}" in url
    answer = await browser.visit_cloud(url)
    assert answer["tenant"] == customer.tenant_id and answer["admin_consent"] == "True"

    done = await browser.api.get(CALLBACK, params=answer, allow_redirects=False)
    assert done.status == 303 and done.headers["Location"] == f"/teams/{team['id']}/directory"
    row = await pool.fetchrow("SELECT * FROM directory_connections WHERE team_id = $1", uuid.UUID(team["id"]))
    assert row["kind"] == "consent" and row["tenant_id"] == customer.tenant_id
    assert row["client_id"] == SIM_CLIENT_ID and row["secret_encrypted"] is None
    actions = await pool.fetch(
        "SELECT action, actor_kind, details FROM audit_log WHERE team_id = $1 ORDER BY id",
        uuid.UUID(team["id"]),
    )
    assert ("directory.connect", "admin") in [(a["action"], a["actor_kind"]) for a in actions]


async def test_a_hostile_admin_cannot_connect_another_companys_tenant(
    browsers, operator, simulator, sim_tenant, pool
):
    """Tenant A consented to the platform app earlier; team B's admin replays every variation of the
    callback."""
    victim = simulator.add_tenant(generate_tenant(5, 1, seed=21))
    victim.register_app(SIM_CLIENT_ID, SIM_CLIENT_SECRET)  # A's earlier consent: a token for A can be taken
    hostile = simulator.add_tenant(generate_tenant(5, 1, seed=22))
    attacker = await browsers()
    team_b = await _admin_of(attacker, operator, hostile)
    forged = {"tenant": victim.tenant_id, "admin_consent": "True"}

    # A forged tenant on the attacker's own state.
    state = parse_qs(urlsplit(await _consent_url(attacker, team_b)).query)["state"][0]
    resp = await attacker.api.get(CALLBACK, params={**forged, "state": state})
    assert resp.status == 400 and resp.content_type == "application/problem+json"
    # The same state again, now naming the attacker's own tenant: it was spent.
    resp = await attacker.api.get(
        CALLBACK, params={"tenant": hostile.tenant_id, "admin_consent": "True", "state": state}
    )
    assert resp.status == 400

    # Another session's state: a victim admin's, carried in the attacker's session.
    victim_browser = await browsers()
    team_a = await _admin_of(victim_browser, operator, victim)
    state_a = parse_qs(urlsplit(await _consent_url(victim_browser, team_a)).query)["state"][0]
    assert (await attacker.api.get(CALLBACK, params={**forged, "state": state_a})).status == 400
    assert await _connected(pool, team_a) is None

    # A bearer token alone: no consent URL (a bearer wins over a cookie), no callback without the session.
    resp = await attacker.api.get(
        f"/api/v1/teams/{team_b['id']}/directory/consent-url", headers=team_b["headers"]
    )
    assert resp.status == 403 and "sign in with Microsoft" in (await resp.json())["detail"]
    bare = await browsers()
    state = parse_qs(urlsplit(await _consent_url(attacker, team_b)).query)["state"][0]
    resp = await bare.api.get(CALLBACK, params={**forged, "state": state}, headers=team_b["headers"])
    assert resp.status == 400
    # A state that is not one of ours, and garbage of every shape.
    for params in (
        {**forged, "state": "forged.sig"},
        {**forged},
        {**forged, "state": "s" * 3000},
        {"tenant": "../../evil", "admin_consent": "True", "state": state},
        {"error": "e" * 300, "error_description": "d" * 3000, "state": state},
    ):
        resp = await attacker.api.get(CALLBACK, params=params)
        assert resp.status == 400, (params, await resp.text())

    assert await _connected(pool, team_b) is None
    refused = await pool.fetchval(
        "SELECT count(*) FROM audit_log WHERE team_id = $1 AND action = 'directory.consent_refused'",
        uuid.UUID(team_b["id"]),
    )
    assert refused >= 2

    # Done honestly, the attacker connects their own tenant, and only that.
    answer = await attacker.visit_cloud(await _consent_url(attacker, team_b))
    assert answer["tenant"] == hostile.tenant_id
    done = await attacker.api.get(CALLBACK, params=answer, headers={"Accept": "application/json"})
    assert done.status == 200 and (await done.json())["tenant_id"] == hostile.tenant_id
    assert (await attacker.api.get(CALLBACK, params={**answer, **forged})).status == 400  # replayed
    assert await _connected(pool, team_b) == hostile.tenant_id


async def test_an_expired_state_connects_nothing(browsers, operator, simulator, pool):
    customer = simulator.add_tenant(generate_tenant(5, 1, seed=12))
    browser = await browsers()
    team = await _admin_of(browser, operator, customer)
    answer = await browser.visit_cloud(await _consent_url(browser, team))
    await pool.execute("UPDATE consent_states SET created_at = now() - interval '11 minutes'")
    assert (await browser.api.get(CALLBACK, params=answer)).status == 400
    assert await _connected(pool, team) is None


async def test_the_consent_redirect_stays_on_this_site(browsers, operator, simulator):
    customer = simulator.add_tenant(generate_tenant(5, 1, seed=13))
    browser = await browsers()
    team = await _admin_of(browser, operator, customer)
    resp = await browser.api.get(
        f"/api/v1/teams/{team['id']}/directory/consent-url",
        params={"redirect_uri": "https://evil.example/cb"},
    )
    assert resp.status == 422


async def test_group_search_through_graph(graph_api, operator, simulator, sim_tenant):
    team = await make_team(graph_api, operator)
    connected = await graph_api.put(
        f"/api/v1/teams/{team['id']}/directory",
        json={
            "tenant_id": sim_tenant.tenant_id,
            "client_id": SIM_CLIENT_ID,
            "client_secret": SIM_CLIENT_SECRET,
        },
        headers=team["headers"],
    )
    assert connected.status == 200, await connected.text()
    resp = await graph_api.get(
        f"/api/v1/teams/{team['id']}/directory/groups", params={"search": "All"}, headers=team["headers"]
    )
    assert resp.status == 200, await resp.text()
    groups = (await resp.json())["groups"]
    assert [g["display_name"] for g in groups] == ["All Staff"]
    assert set(groups[0]) == {"id", "display_name", "description", "mail"}

    sim_tenant.rotate_secret(SIM_CLIENT_ID)  # in the tenant, after the connection was made
    simulator.expire_tokens(sim_tenant.tenant_id)
    failed = await graph_api.get(f"/api/v1/teams/{team['id']}/directory/groups", headers=team["headers"])
    assert failed.status == 502
    assert SIM_CLIENT_SECRET not in await failed.text()
