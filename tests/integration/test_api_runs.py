"""Runs: Sync Now coalescing (R15), the run record (R17), approving held runs."""

from __future__ import annotations

import asyncio
import uuid

from shared.messages import SyncRequested
from tests.fixtures.api import make_team

RUN_KEYS = {
    "id",
    "trigger",
    "requested_by",
    "dry_run",
    "status",
    "created_at",
    "started_at",
    "finished_at",
    "counts",
    "graph_requests",
    "error",
    "member_errors",
    "plan",
    "progress",
}
COUNTS = {"created": 0, "invited": 0, "updated": 0, "unchanged": 0, "removed": 0, "deleted": 0, "skipped": 0}


async def test_sync_now_queues_one_run_and_its_message(api, operator, pool):
    team = await make_team(api, operator)
    await api.put(
        f"/api/v1/teams/{team['id']}/sync/config", json={"send_invites": False}, headers=team["headers"]
    )
    resp = await api.post(
        f"/api/v1/teams/{team['id']}/sync/runs", json={"dry_run": True}, headers=team["headers"]
    )
    assert resp.status == 202
    run = await resp.json()
    assert RUN_KEYS <= set(run)
    assert run["status"] == "queued" and run["trigger"] == "manual" and run["dry_run"] is True
    assert run["requested_by"] == "team token" and run["counts"] == COUNTS and run["member_errors"] == []
    assert run["created_at"].endswith("Z") and run["started_at"] is None and run["plan"] is None

    stored = await pool.fetchrow("SELECT config FROM sync_runs WHERE id = $1", uuid.UUID(run["id"]))
    assert stored["config"]["send_invites"] is False  # the configuration snapshot
    outbox = await pool.fetch("SELECT routing_key, body FROM outbox")
    assert [r["routing_key"] for r in outbox] == ["sync.requested"]
    message = SyncRequested.from_bytes(outbox[0]["body"])
    assert (message.run_id, message.team_id, message.dry_run, message.trigger) == (
        run["id"],
        team["id"],
        True,
        "manual",
    )


async def test_r15_a_save_applies_to_the_run_no_fetcher_has_taken_yet(api, operator, pool):
    team = await make_team(api, operator)
    config, h = f"/api/v1/teams/{team['id']}/sync/config", team["headers"]
    await api.put(config, json={"send_invites": True}, headers=h)
    queued = await api.post(f"/api/v1/teams/{team['id']}/sync/runs", json={}, headers=h)
    run = uuid.UUID((await queued.json())["id"])
    invites = "SELECT (config ->> 'send_invites')::bool FROM sync_runs WHERE id = $1"
    await api.put(config, json={"send_invites": False}, headers=h)
    assert await pool.fetchval(invites, run) is False  # still queued: the save is its configuration
    await pool.execute("UPDATE sync_runs SET status = 'fetching' WHERE id = $1", run)
    await api.put(config, json={"send_invites": True}, headers=h)
    assert await pool.fetchval(invites, run) is False  # being read: it keeps what it started with


async def test_sync_now_while_a_run_is_active_returns_that_run(api, operator, pool):
    team = await make_team(api, operator)
    path = f"/api/v1/teams/{team['id']}/sync/runs"
    answers = await asyncio.gather(*[api.post(path, json={}, headers=operator) for _ in range(6)])
    statuses = sorted(a.status for a in answers)
    assert statuses == [200] * 5 + [202]
    assert len({(await a.json())["id"] for a in answers}) == 1
    assert await pool.fetchval("SELECT count(*) FROM outbox") == 1

    run_id = (await answers[0].json())["id"]
    await pool.execute("UPDATE sync_runs SET status = 'fetching' WHERE id = $1", uuid.UUID(run_id))
    again = await api.post(path, headers=operator)
    assert again.status == 200 and (await again.json())["id"] == run_id
    await pool.execute("UPDATE sync_runs SET status = 'succeeded' WHERE id = $1", uuid.UUID(run_id))
    fresh = await api.post(path, json={"requested_by": "ann@contoso.com"}, headers=operator)
    assert fresh.status == 202
    assert (await fresh.json())["requested_by"] == "ann@contoso.com"


async def test_an_active_run_answers_its_progress_and_waiting_for_photos_reads_as_reconciling(
    api, operator, pool
):
    team = await make_team(api, operator)
    path = f"/api/v1/teams/{team['id']}/sync/runs"
    run = await (await api.post(path, headers=team["headers"])).json()
    assert run["progress"] is None  # queued: nothing started
    progress = {
        "phase": "photos",
        "users_read": 10,
        "members_applied": 10,
        "photos_checked": 4,
        "photos_stored": 2,
    }
    await pool.execute(
        "UPDATE sync_runs SET status = 'photos', progress = $2, progress_at = now() WHERE id = $1",
        uuid.UUID(run["id"]),
        progress,
    )
    got = await (await api.get(f"{path}/{run['id']}", headers=team["headers"])).json()
    listed = (await (await api.get(path, headers=team["headers"])).json())["runs"]
    assert listed == [got] and got["status"] == "reconciling"
    assert {k: v for k, v in got["progress"].items() if k != "updated_at"} == progress
    assert got["progress"]["updated_at"].endswith("Z")
    again = await api.post(path, headers=team["headers"])
    assert again.status == 200 and (await again.json())["id"] == run["id"]  # still the team's active run

    await pool.execute("UPDATE sync_runs SET status = 'succeeded' WHERE id = $1", uuid.UUID(run["id"]))
    ended = await (await api.get(f"{path}/{run['id']}", headers=team["headers"])).json()
    assert ended["status"] == "succeeded" and ended["progress"] is None


async def test_list_and_get_runs(api, operator, pool):
    team = await make_team(api, operator)
    path = f"/api/v1/teams/{team['id']}/sync/runs"
    ids = []
    for _ in range(3):
        run = await (await api.post(path, headers=team["headers"])).json()
        ids.append(run["id"])
        await pool.execute("UPDATE sync_runs SET status = 'succeeded' WHERE id = $1", uuid.UUID(run["id"]))
    listed = await (await api.get(path, headers=team["headers"])).json()
    assert [r["id"] for r in listed["runs"]] == ids[::-1]
    limited = await (await api.get(path + "?limit=2", headers=team["headers"])).json()
    assert len(limited["runs"]) == 2
    for bad, status in (("0", 422), ("1001", 422), ("many", 400), ("2.5", 400)):
        resp = await api.get(path + f"?limit={bad}", headers=team["headers"])
        assert resp.status == status and resp.content_type == "application/problem+json", bad

    got = await api.get(f"{path}/{ids[0]}", headers=team["headers"])
    assert got.status == 200 and (await got.json())["status"] == "succeeded"
    assert (await api.get(f"{path}/{uuid.uuid4()}", headers=team["headers"])).status == 404
    assert (await api.get(f"{path}/not-a-uuid", headers=team["headers"])).status == 404
    other = await make_team(api, operator, "Other")
    assert (await api.get(f"/api/v1/teams/{other['id']}/sync/runs/{ids[0]}", headers=operator)).status == 404


async def test_approve_needs_a_held_run(api, operator):
    team = await make_team(api, operator)
    path = f"/api/v1/teams/{team['id']}/sync/runs"
    run = await (await api.post(path, headers=team["headers"])).json()
    resp = await api.post(f"{path}/{run['id']}/approve", headers=team["headers"])
    assert resp.status == 409
    assert "queued" in (await resp.json())["detail"]
    assert (await api.post(f"{path}/{uuid.uuid4()}/approve", headers=team["headers"])).status == 404


async def test_run_body_errors(api, operator):
    team = await make_team(api, operator)
    path = f"/api/v1/teams/{team['id']}/sync/runs"
    resp = await api.post(path, json={"dry_run": "perhaps", "extra": 1}, headers=team["headers"])
    assert resp.status == 422
    assert {tuple(e["loc"]) for e in (await resp.json())["errors"]} == {("dry_run",), ("extra",)}
    assert (await api.post(path, data=b"[1, 2", headers=team["headers"])).status == 400


async def _merge(pool, team: dict, run_id: str) -> str:
    member = await pool.fetchval(
        "INSERT INTO members (team_id, account_id, directory_id, managed, status) VALUES"
        " ($1, (SELECT id FROM accounts WHERE email_key = 'gone@contoso.com'), 'old-id', true, 'removed')"
        " RETURNING id",
        uuid.UUID(team["id"]),
    )
    return str(
        await pool.fetchval(
            "INSERT INTO member_merges"
            " (team_id, run_id, member_id, old_directory_id, directory_id, email, seen)"
            " VALUES ($1, $2, $3, 'old-id', 'new-id', 'gone@contoso.com', $4) RETURNING id",
            uuid.UUID(team["id"]),
            uuid.UUID(run_id),
            member,
            {"card": {"f": {"name": "Gone Again"}}, "groups": []},
        )
    )


async def test_merges_are_listed_under_their_run_and_decided_once(api, operator, pool):
    team = await make_team(api, operator)
    path, h = f"/api/v1/teams/{team['id']}/sync/runs", team["headers"]
    proposing = await (await api.post(path, json={}, headers=h)).json()
    await pool.execute("UPDATE sync_runs SET status = 'succeeded' WHERE id = $1", uuid.UUID(proposing["id"]))
    await pool.execute("INSERT INTO accounts (email) VALUES ('gone@contoso.com')")
    merge_id = await _merge(pool, team, proposing["id"])
    listed = await (await api.get(f"{path}/{proposing['id']}/merges", headers=h)).json()
    assert [(m["id"], m["name"], m["status"], m["directory_id"]) for m in listed["merges"]] == [
        (merge_id, "Gone Again", "proposed", "new-id")
    ]
    assert (await api.get(f"{path}/{uuid.uuid4()}/merges", headers=h)).status == 404
    merges = f"{path}/{proposing['id']}/merges"
    assert (await api.post(f"{merges}/{uuid.uuid4()}/accept", headers=h)).status == 404
    assert (await api.post(f"{merges}/not-an-id/accept", headers=h)).status == 404
    assert (await api.post(f"{path}/{uuid.uuid4()}/merges/{merge_id}/accept", headers=h)).status == 404

    resp = await api.post(f"{merges}/{merge_id}/reject", headers=h)
    assert resp.status == 202
    decided = await resp.json()
    assert decided["status"] == "rejected" and decided["decided_by"] == "team token"
    run = await pool.fetchrow(
        "SELECT status, trigger FROM sync_runs WHERE id = $1", uuid.UUID(decided["decision_run_id"])
    )
    assert (run["status"], run["trigger"]) == ("queued", "manual")
    outbox = [r["routing_key"] for r in await pool.fetch("SELECT routing_key FROM outbox ORDER BY id")]
    assert outbox[-1] == "merge.decided"
    again = await api.post(f"{merges}/{merge_id}/accept", headers=h)
    assert again.status == 409 and "rejected already" in (await again.json())["detail"]
    audit = await (await api.get(f"/api/v1/teams/{team['id']}/audit", headers=h)).json()
    assert audit["entries"][0]["action"] == "merge.reject"


async def test_a_merge_waits_while_another_run_is_active(api, operator, pool):
    team = await make_team(api, operator)
    path, h = f"/api/v1/teams/{team['id']}/sync/runs", team["headers"]
    active = await (await api.post(path, json={}, headers=h)).json()
    await pool.execute("INSERT INTO accounts (email) VALUES ('gone@contoso.com')")
    merge_id = await _merge(pool, team, active["id"])
    resp = await api.post(f"{path}/{active['id']}/merges/{merge_id}/accept", headers=h)
    assert resp.status == 409 and "queued or running" in (await resp.json())["detail"]
    status = await pool.fetchval("SELECT status FROM member_merges WHERE id = $1", uuid.UUID(merge_id))
    assert status == "proposed"


async def test_a_held_run_lists_its_held_removals_by_name(api, operator, pool):
    team = await make_team(api, operator)
    path = f"/api/v1/teams/{team['id']}/sync/runs"
    run = await (await api.post(path, headers=team["headers"])).json()
    await pool.execute("UPDATE sync_runs SET status = 'held' WHERE id = $1", uuid.UUID(run["id"]))
    members = []
    for name in ("Zoe", "Adele", "Megan"):
        account = await pool.fetchval(
            "INSERT INTO accounts (email, name) VALUES ($1, $2) RETURNING id", f"{name}@contoso.com", name
        )
        members.append(
            await pool.fetchval(
                "INSERT INTO members (team_id, account_id, directory_id, managed, status, card_name)"
                " VALUES ($1, $2, $3, true, 'active', $4) RETURNING id",
                uuid.UUID(team["id"]),
                account,
                f"dir-{name}",
                name,
            )
        )
        await pool.execute(
            "INSERT INTO held_removals (run_id, member_id) VALUES ($1, $2)", uuid.UUID(run["id"]), members[-1]
        )
    resp = await api.get(f"{path}/{run['id']}/held?limit=2", headers=team["headers"])
    assert resp.status == 200
    body = await resp.json()
    assert body["total"] == 3
    assert [(r["name"], r["email"], r["status"]) for r in body["removals"]] == [
        ("Adele", "Adele@contoso.com", "active"),
        ("Megan", "Megan@contoso.com", "active"),
    ]
    assert (await api.get(f"{path}/{uuid.uuid4()}/held", headers=team["headers"])).status == 404
    other = await make_team(api, operator, "Other")
    assert (await api.get(f"{path}/{run['id']}/held", headers=other["headers"])).status == 404
