"""The run metrics: a run's duration and the members it applied, counted once, when the run ends."""

from __future__ import annotations

from datetime import timedelta

import pytest
from prometheus_client import REGISTRY

from services.scheduler.stalled import fail_stalled_runs
from shared import metrics, runs
from shared.messages import RunApproved, SnapshotFailed
from tests.fixtures.reconciler import GROUP, user

USERS = [user(n) for n in range(1, 6)]
COUNTS = {"created": 3, "invited": 3, "updated": 2, "unchanged": 40, "removed": 1, "deleted": 0, "skipped": 1}


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def snapshot(status: str) -> dict[str, float]:
    found = {
        "runs": sample("cardsync_run_duration_seconds_count", status=status),
        "seconds": sample("cardsync_run_duration_seconds_sum", status=status),
    }
    for action in ("created", "updated", "removed", "deleted", "invited"):
        found[action] = sample("cardsync_members_applied_total", action=action)
    return found


def delta(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    return {k: after[k] - before[k] for k in before if after[k] != before[k]}


async def started_run(
    pool, dry_run: bool = False, started: timedelta | None = timedelta(seconds=90)
) -> object:
    """A run reconciling, queued 100 s ago and started ``started`` ago."""
    team = await pool.fetchval(
        "INSERT INTO teams (name, token_hash) VALUES ('T', md5(random()::text)) RETURNING id"
    )
    return await pool.fetchval(
        "INSERT INTO sync_runs (team_id, trigger, status, dry_run, created_at, started_at)"
        " VALUES ($1, 'manual', 'reconciling', $2, now() - interval '100 seconds', now() - $3::interval)"
        " RETURNING id",
        team,
        dry_run,
        started,
    )


async def end_run(
    pool, status: str, *, dry_run: bool = False, started: timedelta | None = timedelta(seconds=90)
) -> object:
    """A run ended as the services end one: its final status and finished_at = now() in one transaction, then
    run_ended in that same transaction."""
    run_id = await started_run(pool, dry_run, started)
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute(
            "UPDATE sync_runs SET status = $2, counts = $3, finished_at = now() WHERE id = $1",
            run_id,
            status,
            COUNTS,
        )
        await metrics.run_ended(conn, run_id)
    return run_id


@pytest.mark.parametrize("status", ["succeeded", "held"])
async def test_an_applied_run_counts_its_duration_and_the_members_it_wrote(pool, status):
    before = snapshot(status)
    await end_run(pool, status)
    change = delta(before, snapshot(status))
    assert change.pop("runs") == 1 and 89 < change.pop("seconds") < 95  # from its start
    assert change == {"created": 3, "updated": 2, "removed": 1}  # invites are the notifier's to count


async def test_a_dry_run_or_a_failed_run_applied_nobody(pool):
    for status, dry_run in (("succeeded", True), ("failed", False)):
        before = snapshot(status)
        await end_run(pool, status, dry_run=dry_run)
        assert delta(before, snapshot(status)).keys() == {"runs", "seconds"}


async def test_a_run_never_started_counts_from_its_queueing(pool):
    before = snapshot("failed")
    await end_run(pool, "failed", started=None)
    assert 99 < delta(before, snapshot("failed"))["seconds"] < 105


async def test_a_run_that_had_ended_already_is_not_counted_again(pool):
    run_id = await end_run(pool, "succeeded")
    before = snapshot("succeeded")
    async with pool.acquire() as conn, conn.transaction():
        # As a redelivered failure finds it: the statement that would end it changes nothing.
        await conn.execute(
            "UPDATE sync_runs SET status = 'failed' WHERE id = $1 AND status = 'fetching'", run_id
        )
        await metrics.run_ended(conn, run_id)
    assert delta(before, snapshot("succeeded")) == {}


async def test_the_reconciler_counts_a_run_once_however_often_its_messages_come(team):
    before = snapshot("succeeded")
    run_id = await team.new_run()
    pages, done = team.messages(run_id, {GROUP: USERS})
    for message in (*pages, done, done, *pages):
        await team.deliver(message)
    assert delta(before, snapshot("succeeded")) == {
        "runs": 1,
        "seconds": pytest.approx(0, abs=5),
        "created": 5,
    }


async def test_a_held_run_counts_its_removals_when_they_are_approved(team):
    users = [user(n) for n in range(1, 31)]
    await team.sync(users)
    before = snapshot("held")
    run = await team.sync(users[:10])
    assert run["status"] == "held" and delta(before, snapshot("held")).keys() == {"runs", "seconds"}
    async with team.pool.acquire() as conn, conn.transaction():
        await runs.approve(conn, run["id"])  # as the API approves it; the reconciler applies it
    await team.reconciler.on_run_approved(RunApproved(team_id=team.team_id, run_id=str(run["id"])))
    assert delta(before, snapshot("held")) == {
        "runs": 1,
        "seconds": pytest.approx(0, abs=5),
        "removed": 20,
    }


async def test_failed_runs_are_counted_by_the_reconciler_and_by_the_scheduler_once_each(team):
    before = snapshot("failed")
    run_id = await team.new_run()
    failed = SnapshotFailed(team_id=team.team_id, run_id=run_id, reason="the tenant is unreachable")
    await team.reconciler.on_snapshot_failed(failed)
    await team.reconciler.on_snapshot_failed(failed)  # redelivered: the run has ended already
    assert delta(before, snapshot("failed"))["runs"] == 1
    await team.pool.execute(
        "INSERT INTO sync_runs (team_id, trigger, status, created_at) VALUES ($1, 'manual', 'queued', now() "
        "- $2::interval)",
        team.team_id,
        timedelta(hours=3),
    )
    assert await fail_stalled_runs(team.pool, 3600) == 1
    change = delta(before, snapshot("failed"))
    assert change["runs"] == 2 and 3 * 3600 - 5 < change["seconds"] < 3 * 3600 + 5


@pytest.mark.parametrize(("error", "status"), [(None, "succeeded"), ("Graph was down", "failed")])
async def test_a_run_waiting_for_its_photos_counts_its_members_at_the_apply_and_ends_once_they_are_in(
    pool, error, status
):
    run_id = str(await started_run(pool))
    before = snapshot(status)
    async with pool.acquire() as conn, conn.transaction():
        await runs.finish(conn, run_id, runs.RunStatus.PHOTOS, COUNTS, [])
    assert delta(before, snapshot(status)) == {"created": 3, "updated": 2, "removed": 1}
    before = snapshot(status)
    async with pool.acquire() as conn, conn.transaction():
        await runs.end_photos(conn, run_id, error, graph_requests=2)
    change = delta(before, snapshot(status))
    assert change.pop("runs") == 1 and 89 < change.pop("seconds") < 95 and change == {}
