"""Sync Now end to end: four service processes, a 2,500-user simulated tenant, checked only through the
API."""

from __future__ import annotations

import pytest

from simulator import generate_tenant
from tests.e2e.helpers import until
from tests.fixtures.e2e import OPERATOR_TOKEN

pytestmark = pytest.mark.slow

CLIENT_ID = "2f1b7a52-8c1e-4f0e-9a53-7d3c9e1b4a21"
SECRET = "e2e~client-secret"


def expected_card(user: dict) -> dict:
    """R5, written out independently of the reconciler's mapping."""
    upn = user["userPrincipalName"]
    name = (
        user.get("displayName")
        or " ".join(p for p in (user.get("givenName"), user.get("surname")) if p)
        or upn.split("@")[0]
    )
    phones = user.get("businessPhones") or []
    location = ", ".join(
        user[k] for k in ("streetAddress", "city", "state", "postalCode", "country") if user.get(k)
    )
    return {
        "name": name,
        "email": user.get("mail") or upn,
        "job_title": user.get("jobTitle"),
        "company": user.get("companyName"),
        "phone": user.get("mobilePhone") or (phones[0] if phones else None),
        "location": location or None,
    }


async def fetch_all_members(api, team_id):
    members, cursor = [], None
    while True:
        url = f"api/v1/teams/{team_id}/members?limit=1000" + (f"&cursor={cursor}" if cursor else "")
        async with api.get(url) as resp:
            assert resp.status == 200, await resp.text()
            page = await resp.json()
        members += page["members"]
        cursor = page["next_cursor"]
        if not cursor:
            return members


async def test_sync_now_creates_every_member_with_card_subteams_and_invites(
    simulator, stack, stack_api, mail_sink
):
    tenant = simulator.add_tenant(
        generate_tenant(2500, 3, nesting=1, seed=11, client_id=CLIENT_ID, client_secret=SECRET)
    )
    groups = list(tenant.groups.values())
    # R5 fallbacks: no displayName, no mail, no mobile phone.
    target = groups[1]["id"]
    odd = [
        tenant.add_user(
            givenName="Ada", surname="Lovelace", userPrincipalName=f"ada@{tenant.domain}", accountEnabled=True
        ),
        tenant.add_user(
            userPrincipalName=f"nobody.named@{tenant.domain}",
            accountEnabled=True,
            businessPhones=["+44 20 7946 0000", "+44 20 7946 0001"],
        ),
    ]
    for uid in odd:
        tenant.add_member(target, uid)

    async with stack_api.post(
        "api/v1/teams",
        json={"name": "Contoso", "admins": [{"email": "boss@contoso.example", "name": "The Boss"}]},
    ) as resp:
        assert resp.status == 201, await resp.text()
        team = await resp.json()
    tid = team["id"]
    async with stack_api.put(
        f"api/v1/teams/{tid}/directory",
        json={"tenant_id": tenant.tenant_id, "client_id": CLIENT_ID, "client_secret": SECRET},
    ) as resp:
        assert resp.status == 200, await resp.text()
        assert "client_secret" not in await resp.json()
    async with stack_api.get(f"api/v1/teams/{tid}/sync/config") as resp:
        config = await resp.json()
        etag = resp.headers["ETag"]
    config.pop("next_run_at")
    config["groups"] = [{"id": g["id"], "display_name": g["displayName"]} for g in groups]
    config["addition_guard"] = {"max_count": 5000, "max_percent": 100}  # a first sync of 2,500 is not held
    async with stack_api.put(
        f"api/v1/teams/{tid}/sync/config", json=config, headers={"If-Match": etag}
    ) as resp:
        assert resp.status == 200, await resp.text()

    async with stack_api.post(f"api/v1/teams/{tid}/sync/runs", json={"dry_run": False}) as resp:
        assert resp.status == 202, await resp.text()
        run = await resp.json()
    assert run["status"] == "queued" and run["trigger"] == "manual"
    seen_statuses = {run["status"]}
    seen_progress = []

    async def get_run():
        async with stack_api.get(f"api/v1/teams/{tid}/sync/runs/{run['id']}") as resp:
            body = await resp.json()
            seen_statuses.add(body["status"])
            if body["progress"] is not None:
                seen_progress.append(body["progress"])
            return body

    run = await until(get_run, lambda r: r["status"] in ("succeeded", "failed", "held"), timeout=120)
    assert run["status"] == "succeeded", run
    assert "fetching" in seen_statuses or "reconciling" in seen_statuses
    assert seen_statuses <= {"queued", "fetching", "reconciling", "succeeded"}
    # An active run shows where it stands; its counters only grow.
    assert seen_progress and {p["phase"] for p in seen_progress} <= {"fetching", "reconciling", "photos"}
    for key in ("users_read", "members_applied", "photos_checked", "photos_stored"):
        assert [p[key] for p in seen_progress] == sorted(p[key] for p in seen_progress), key
    assert run["progress"] is None

    in_scope = set()
    for g in groups:
        in_scope |= set(tenant.transitive_member_ids(g["id"]))
    expected = {
        uid: tenant.users[uid]
        for uid in in_scope
        if uid in tenant.users and tenant.users[uid].get("accountEnabled", True) is not False
    }
    assert len(expected) > 2000
    assert run["counts"]["created"] == len(expected)
    assert run["counts"]["invited"] == len(expected)
    assert run["counts"]["skipped"] == 0
    assert run["graph_requests"] >= len(groups)

    members = await fetch_all_members(stack_api, tid)
    synced = {m["directory_id"]: m for m in members if m["managed"]}
    assert set(synced) == set(expected)
    assert len({m["login_email"].lower() for m in members}) == len(members)
    for uid, user in expected.items():
        member = synced[uid]
        card = {k: member["card"][k] for k in ("name", "email", "job_title", "company", "phone", "location")}
        assert card == expected_card(user), uid
        assert member["login_email"] == user["userPrincipalName"]
        assert member["status"] == "invited"
        links = {link["type"]: link["value"] for link in member["links"]}
        assert links.get("email") == f"mailto:{card['email']}"
        if card["phone"]:
            digits = "".join(c for c in card["phone"] if c.isdigit() or c == "+")
            assert links.get("phone", "").startswith("tel:")
            assert "".join(c for c in links["phone"] if c.isdigit() or c == "+") == digits
        assert len(member["links"]) == len(links)
        # R17: a succeeded run has its photos in.
        assert member["card"]["has_photo"] is (uid in tenant.photos), uid
    assert synced[odd[0]]["card"]["name"] == "Ada Lovelace"
    assert synced[odd[1]]["card"]["name"] == "nobody.named"
    assert synced[odd[1]]["card"]["phone"] == "+44 20 7946 0000"

    async with stack_api.get(f"api/v1/teams/{tid}/subteams") as resp:
        subteams = (await resp.json())["subteams"]
    by_group = {s["directory_group_id"]: s for s in subteams}
    for g in groups:
        users_in_group = {u for u in tenant.transitive_member_ids(g["id"]) if u in expected}
        assert by_group[g["id"]]["name"] == g["displayName"]
        assert by_group[g["id"]]["member_count"] == len(users_in_group)

    invited = {m["card"]["email"].lower() for m in synced.values()}
    await until(lambda: _count(mail_sink), lambda n: n >= len(expected) + 1, timeout=120)
    invites = [m for m in mail_sink.messages if m["To"] and m["To"].addresses[0].addr_spec.lower() in invited]
    assert len(invites) == len(expected)
    assert len({m["To"].addresses[0].addr_spec.lower() for m in invites}) == len(expected)
    body = invites[0].get_body(("plain",)).get_content()
    assert "/invites/" in body

    logs = stack.logs()
    assert SECRET not in logs
    assert OPERATOR_TOKEN not in logs
    assert not [address for address in invited if address in logs.lower()]


async def _count(sink):
    return len(sink.messages)
