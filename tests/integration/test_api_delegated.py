"""Endpoints whose work other services do: sending invites and approving held runs (by a message),
templates."""

from __future__ import annotations

import uuid

from shared.messages import PendingInvitesRequested, RunApproved
from tests.fixtures.api import make_team
from tests.integration.test_api_members import seed_members


async def test_send_pending_invites(api, operator, pool):
    team = await make_team(api, operator)
    members = await seed_members(pool, team["id"], 3)
    await pool.execute(
        "INSERT INTO invites (member_id, status) SELECT unnest($1::uuid[]), 'pending'", members[:2]
    )
    await pool.execute(
        "INSERT INTO invites (member_id, status, sent_at) VALUES ($1, 'sent', now())", members[2]
    )
    resp = await api.post(f"/api/v1/teams/{team['id']}/invites/send", headers=team["headers"])
    assert resp.status == 202, await resp.text()
    assert await resp.json() == {"queued": 2}
    # The notifier queues and sends them: the API writes it one message, and touches no invite.
    sent = [
        PendingInvitesRequested.from_bytes(r["body"]) for r in await pool.fetch("SELECT body FROM outbox")
    ]
    assert [m.team_id for m in sent] == [team["id"]]
    assert await pool.fetchval("SELECT count(*) FROM invites WHERE status = 'pending'") == 2


async def test_sending_when_no_invite_is_pending_asks_nothing_of_the_notifier(api, operator, pool):
    team = await make_team(api, operator)
    resp = await api.post(f"/api/v1/teams/{team['id']}/invites/send", headers=team["headers"])
    assert resp.status == 202 and await resp.json() == {"queued": 0}
    assert await pool.fetchval("SELECT count(*) FROM outbox") == 0


async def held_run(pool, team_id: str) -> uuid.UUID:
    return await pool.fetchval(
        "INSERT INTO sync_runs (team_id, trigger, status, finished_at) VALUES ($1, 'manual', 'held', now())"
        " RETURNING id",
        uuid.UUID(team_id),
    )


async def test_approving_a_held_run(api, operator, pool):
    team = await make_team(api, operator)
    (member_id,) = await seed_members(pool, team["id"], 1)
    run_id = await held_run(pool, team["id"])
    await pool.execute("INSERT INTO held_removals (run_id, member_id) VALUES ($1, $2)", run_id, member_id)
    resp = await api.post(f"/api/v1/teams/{team['id']}/sync/runs/{run_id}/approve", headers=team["headers"])
    assert resp.status == 200, await resp.text()
    run = await resp.json()
    # Out of held at once; the reconciler applies the removals it held and ends the run.
    assert (run["id"], run["status"], run["finished_at"]) == (str(run_id), "reconciling", None)
    sent = [RunApproved.from_bytes(r["body"]) for r in await pool.fetch("SELECT body FROM outbox")]
    assert [(m.team_id, m.run_id) for m in sent] == [(team["id"], str(run_id))]
    assert await pool.fetchval("SELECT status FROM members WHERE id = $1", member_id) != "removed"
    again = await api.post(f"/api/v1/teams/{team['id']}/sync/runs/{run_id}/approve", headers=team["headers"])
    assert again.status == 409


async def test_a_held_run_waits_while_another_run_of_the_team_is_active(api, operator, pool):
    team = await make_team(api, operator)
    run_id = await held_run(pool, team["id"])
    active = await api.post(f"/api/v1/teams/{team['id']}/sync/runs", json={}, headers=team["headers"])
    assert active.status == 202
    resp = await api.post(f"/api/v1/teams/{team['id']}/sync/runs/{run_id}/approve", headers=team["headers"])
    assert (
        resp.status == 409
        and "another run of this team is queued or running" in (await resp.json())["detail"]
    )
    assert await pool.fetchval("SELECT status FROM sync_runs WHERE id = $1", run_id) == "held"
    assert (
        await pool.fetchval("SELECT count(*) FROM outbox WHERE routing_key = $1", RunApproved.routing_key)
        == 0
    )


async def test_applying_a_template(api, operator, pool):
    team = await make_team(api, operator)
    (member_id,) = await seed_members(pool, team["id"], 1)
    template = await (
        await api.post(
            f"/api/v1/teams/{team['id']}/templates",
            json={"name": "Sales", "links": [{"type": "email", "label": "Email"}]},
            headers=team["headers"],
        )
    ).json()
    resp = await api.put(
        f"/api/v1/teams/{team['id']}/members/{member_id}/template",
        json={"template_id": template["id"]},
        headers=team["headers"],
    )
    assert resp.status == 200, await resp.text()
    assert (await resp.json())["template_id"] == template["id"]
