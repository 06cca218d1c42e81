"""A synced group deleted from the directory (Graph answers 404) does not fail the run: the members who are
only in it are held, the run says which group is gone, the admins are told, and saving the configuration
without the group ends the hold (R9)."""

from __future__ import annotations

import pytest

from shared.messages import RunNoticeRequested
from tests.fixtures.fetcher import add_users, applying, config


async def notices(pool) -> list[RunNoticeRequested]:
    rows = await pool.fetch(
        "UPDATE outbox SET published_at = now() WHERE routing_key = $1 AND published_at IS NULL"
        " RETURNING body",
        RunNoticeRequested.routing_key,
    )
    return [RunNoticeRequested.from_bytes(r["body"]) for r in rows]


async def memberships(pool, team: str) -> dict[str, tuple[str, set[str]]]:
    rows = await pool.fetch(
        "SELECT m.directory_id, m.status, array_remove(array_agg(g.directory_group_id), NULL) AS groups"
        "  FROM members m LEFT JOIN subteam_members sm ON sm.member_id = m.id"
        "  LEFT JOIN subteams g ON g.id = sm.subteam_id WHERE m.team_id = $1 GROUP BY m.id",
        team,
    )
    return {r["directory_id"]: (r["status"], set(r["groups"])) for r in rows}


@pytest.mark.parametrize("use_delta", [False, True])
async def test_members_only_in_a_deleted_group_are_held_until_the_configuration_drops_it(
    fetch_bench, use_delta
):
    b = fetch_bench
    kept = b.tenant.add_group(displayName="Sales")
    gone = b.tenant.add_group(displayName="Marketing")
    [both] = add_users(b.tenant, kept, 1, "both")
    b.tenant.add_member(gone, both)
    [only] = add_users(b.tenant, gone, 1, "only")
    [left] = add_users(b.tenant, kept, 1, "left")
    team = await b.team()
    wired = applying(b, use_delta=use_delta, photos=False)
    synced = config(kept, gone)
    first = await wired.sync(await b.run(team, synced))
    assert first["status"] == "succeeded", first["error"]
    assert await notices(b.pool) == []

    b.tenant.delete_group(gone)
    b.tenant.remove_member(kept, left)  # an ordinary removal goes on as usual
    run = await wired.sync(await b.run(team, synced))
    assert run["status"] == "succeeded", run["error"]
    assert await memberships(b.pool, team) == {
        both: ("invited", {kept, gone}),
        only: ("invited", {gone}),
        left: ("removed", set()),
    }
    words = (
        f"the synced group Marketing ({gone}) no longer exists in the directory: its members who are in no"
        " other synced group are kept, not removed, until the sync configuration is saved without it"
    )
    assert [e["message"] for e in run["member_errors"]] == [words]
    assert run["summary"]["gone_groups"] == [{"id": gone, "display_name": "Marketing"}]
    [notice] = await notices(b.pool)
    assert (notice.kind, notice.run_id, notice.groups) == ("group_gone", str(run["id"]), ["Marketing"])

    # The configuration saved without the group: the next run removes who is only in it.
    after = await wired.sync(await b.run(team, config(kept)))
    assert after["status"] == "succeeded", after["error"]
    assert after["member_errors"] == []
    # (A subteam of a group no longer synced is left as it is, as for any group taken off the configuration.)
    assert {k: status for k, (status, _) in (await memberships(b.pool, team)).items()} == {
        both: "invited",
        only: "removed",
        left: "removed",
    }
