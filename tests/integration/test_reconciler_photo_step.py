"""R17 through the reconciler's handlers: a run whose snapshot promised photos lists its members at the apply,
stays active (``photos``) until the fetcher's completion and every message of photos it counts are stored, in
whichever order they come, and then succeeds; or fails saying why the photo check stopped short."""

from __future__ import annotations

import base64

from shared.messages import FetchedPhoto, PhotosCompleted, PhotosFetched, RunApplied
from tests.fixtures.reconciler import GROUP, user

USERS = [user(n) for n in range(1, 6)]


async def applied(team, users=USERS, **config) -> str:
    """A run of ``users`` whose snapshot promises photos, applied; its id."""
    run_id = await team.new_run(config={**team.config, **config} if config else None)
    pages, done = team.messages(run_id, {GROUP: users})
    for page in pages:
        await team.reconciler.on_members_fetched(page)
    await team.reconciler.on_snapshot_completed(done.model_copy(update={"photos": True}))
    return run_id


def photos(team, run_id: str, seq: int, *numbers: int, attempt: str = "a1") -> PhotosFetched:
    return PhotosFetched(
        team_id=team.team_id,
        run_id=run_id,
        attempt=attempt,
        seq=seq,
        photos=[
            FetchedPhoto(
                directory_id=USERS[n].id,
                etag=f"e{n}",
                content_type="image/png",
                data_b64=base64.b64encode(b"png %d" % n).decode(),
            )
            for n in numbers
        ],
    )


def completed(
    team, run_id: str, messages: int, error: str | None = None, attempt: str = "a1"
) -> PhotosCompleted:
    return PhotosCompleted(
        team_id=team.team_id, run_id=run_id, attempt=attempt, messages=messages, graph_requests=3, error=error
    )


async def run_row(team, run_id: str) -> dict:
    return dict(await team.pool.fetchrow("SELECT * FROM sync_runs WHERE id = $1", run_id))


async def stored(team) -> int:
    return await team.pool.fetchval("SELECT count(*) FROM member_photos")


async def test_the_members_are_listed_at_the_apply_and_the_run_succeeds_once_every_photo_is_stored(team):
    run_id = await applied(team)
    run = await run_row(team, run_id)
    assert run["status"] == "photos" and run["finished_at"] is None
    assert run["counts"]["created"] == 5 and len(await team.members()) == 5
    body = await team.pool.fetchval("SELECT body FROM outbox WHERE routing_key = 'run.applied'")
    assert RunApplied.from_bytes(body).photos is True

    await team.reconciler.on_photos_fetched(photos(team, run_id, 0, 0, 1))
    await team.reconciler.on_photos_completed(completed(team, run_id, 2))
    await team.reconciler.on_photos_fetched(photos(team, run_id, 0, 0, 1))  # redelivered: counted once
    run = await run_row(team, run_id)
    assert run["status"] == "photos" and run["progress"]["photos_stored"] == 2
    await team.reconciler.on_photos_fetched(photos(team, run_id, 1, 2))
    run = await run_row(team, run_id)
    assert run["status"] == "succeeded" and run["finished_at"] is not None and run["error"] is None
    assert run["graph_requests"] == 2 + 3  # the snapshot's and the photo check's
    assert await stored(team) == 3
    for table in ("photo_deliveries", "photo_completions"):
        assert await team.pool.fetchval(f"SELECT count(*) FROM {table}") == 0


async def test_a_completion_after_its_last_message_ends_the_run_and_other_attempts_do_not_count(team):
    run_id = await applied(team)
    await team.reconciler.on_photos_fetched(photos(team, run_id, 0, 0, attempt="interrupted"))
    await team.reconciler.on_photos_fetched(photos(team, run_id, 0, 1))
    await team.reconciler.on_photos_completed(completed(team, run_id, 2))
    assert (await run_row(team, run_id))["status"] == "photos"  # message 1 of attempt a1 is still on its way
    await team.reconciler.on_photos_fetched(photos(team, run_id, 1, 2))
    assert (await run_row(team, run_id))["status"] == "succeeded"

    nothing = await applied(team)  # a check that found nothing to send
    await team.reconciler.on_photos_completed(completed(team, nothing, 0))
    assert (await run_row(team, nothing))["status"] == "succeeded"


async def test_a_photo_check_that_stopped_short_fails_the_run_once_what_it_sent_is_in(team):
    run_id = await applied(team)
    reason = "the members were applied, but their profile photos could not all be synced: Graph is down"
    await team.reconciler.on_photos_completed(completed(team, run_id, 1, error=reason))
    assert (await run_row(team, run_id))["status"] == "photos"
    await team.reconciler.on_photos_fetched(photos(team, run_id, 0, 0))
    run = await run_row(team, run_id)
    assert (run["status"], run["error"]) == ("failed", reason)
    assert run["counts"]["created"] == 5 and len(await team.members()) == 5 and await stored(team) == 1


async def test_the_snapshot_again_does_not_apply_a_run_waiting_for_its_photos(team):
    run_id = await applied(team, USERS[:3])
    pages, done = team.messages(run_id, {GROUP: USERS})
    for page in pages:
        await team.reconciler.on_members_fetched(page)
    await team.reconciler.on_snapshot_completed(done)
    assert (await run_row(team, run_id))["status"] == "photos"
    assert len(await team.members()) == 3
    assert await team.pool.fetchval("SELECT count(*) FROM snapshot_pages") == 0


async def test_a_run_holding_removals_is_held_at_its_apply_and_its_photos_still_land(team):
    await team.sync(USERS)
    guard = {"removal_guard": {"max_percent": 10, "min_count": 1}}
    run_id = await applied(team, USERS[:2], **guard)
    assert (await run_row(team, run_id))["status"] == "held"
    await team.reconciler.on_photos_fetched(photos(team, run_id, 0, 0))
    await team.reconciler.on_photos_completed(completed(team, run_id, 1))
    assert (await run_row(team, run_id))["status"] == "held" and await stored(team) == 1
