"""Photos through the fetcher and the reconciler: only JPEG, PNG and GIF images of 4 MiB at most are stored,
with the type their bytes are; any other is reported on the run, not fetched again until it changes, and the
member keeps the photo it had."""

from __future__ import annotations

import pytest

from services.fetcher.bootstrap import handler_map as fetcher_handlers
from shared.errors import Permanent
from shared.messages import FetchedPhoto, PhotosFetched, PhotosStored
from shared.worker import dispatch
from simulator.images import jpeg, png
from tests.fixtures.fetcher import Applying, add_users, applying, config

HTML = b"<!doctype html><script>fetch('/api/v1/teams').then(r => r.text()).then(alert)</script>"
HUGE = b"\xff\xd8\xff\xe0" + bytes(5 * 1024 * 1024)  # a JPEG's first bytes, 5 MiB long


async def sync(b, team: str, group: str) -> tuple[dict, list[FetchedPhoto]]:
    """One run of the team syncing ``group``, photos included: the run row afterwards, and the photos sent."""
    b.published.messages.clear()
    wired: Applying = applying(b, use_delta=False)
    run = await wired.sync(await b.run(team, config(group)))
    return run, b.published.photos()


async def stored_photos(b) -> dict[str, tuple[str, bytes]]:
    rows = await b.pool.fetch(
        "SELECT m.directory_id, p.content_type, p.data FROM member_photos p"
        " JOIN members m ON m.id = p.member_id"
    )
    return {r["directory_id"]: (r["content_type"], bytes(r["data"])) for r in rows}


async def test_html_labelled_jpeg_and_an_oversized_photo_are_skipped_with_member_errors(fetch_bench):
    b = fetch_bench
    group = b.tenant.add_group(displayName="Team")
    good, mislabelled, html, huge = add_users(b.tenant, group, 4, "u")
    b.tenant.set_photo(good, jpeg((200, 30, 30)), "image/jpeg")
    b.tenant.set_photo(mislabelled, png((30, 30, 200)), "image/jpeg")  # stored as what it is
    b.tenant.set_photo(html, HTML, "image/jpeg")
    b.tenant.set_photo(huge, HUGE, "image/jpeg")
    team = await b.team()

    run, photos = await sync(b, team, group)
    assert run["status"] == "succeeded", run["error"]
    assert {(p.directory_id, p.content_type) for p in photos} == {
        (good, "image/jpeg"),
        (mislabelled, "image/png"),
    }
    assert await stored_photos(b) == {
        good: ("image/jpeg", jpeg((200, 30, 30))),
        mislabelled: ("image/png", png((30, 30, 200))),
    }
    assert sorted(run["member_errors"], key=lambda e: e["directory_id"] != html) == [
        {
            "directory_id": html,
            "message": "the profile photo was not stored: it is not a JPEG, PNG or GIF image (it was sent as"
            " image/jpeg); the member keeps the photo it had",
        },
        {
            "directory_id": huge,
            "message": "the profile photo was not stored: it is larger than 4 MiB; the member keeps the photo"
            " it had",
        },
    ]
    # Their etags are recorded: the next check does not fetch them again while they stay as they are.
    recorded = await b.pool.fetch("SELECT directory_id, etag FROM fetcher_photos WHERE team_id = $1", team)
    assert {r["directory_id"]: r["etag"] for r in recorded} == {
        u: b.tenant.photo_etags[u] for u in (good, mislabelled, html, huge)
    }
    b.settings = b.settings.model_copy(update={"photo_slice_days": 1})  # every photo checked each run
    await b.later()  # a day on: the slice is every photo
    downloads = b.sim.requests[b.tenant.tenant_id]["photoValue"]
    again, photos = await sync(b, team, group)
    assert again["member_errors"] == [] and photos == []
    assert b.sim.requests[b.tenant.tenant_id]["photoValue"] == downloads


async def test_a_photo_replaced_by_one_that_is_not_kept_leaves_the_previous_one(fetch_bench):
    b = fetch_bench
    group = b.tenant.add_group(displayName="Team")
    [user] = add_users(b.tenant, group, 1, "u")
    b.tenant.set_photo(user, png((1, 2, 3)), "image/png")
    team = await b.team()
    await sync(b, team, group)
    assert await stored_photos(b) == {user: ("image/png", png((1, 2, 3)))}

    b.settings = b.settings.model_copy(update={"photo_slice_days": 1})

    await b.later()  # a day on: the slice is every photo
    b.tenant.set_photo(user, b"GIF87" + HTML, "image/gif")  # one byte short of a GIF's signature
    run, _ = await sync(b, team, group)
    assert [e["directory_id"] for e in run["member_errors"]] == [user]
    assert "(it was sent as image/gif)" in run["member_errors"][0]["message"]
    assert await stored_photos(b) == {user: ("image/png", png((1, 2, 3)))}


async def test_a_run_lists_its_members_at_the_apply_and_succeeds_once_its_photos_are_stored(fetch_bench):
    b = fetch_bench
    group = b.tenant.add_group(displayName="Team")
    users = add_users(b.tenant, group, 3, "u")
    for n, user in enumerate(users[:2]):
        b.tenant.set_photo(user, png((n, 2, 3)), "image/png")
    wired = applying(b, use_delta=False)
    request = await b.run(await b.team(), config(group))

    await wired.fetcher.on_sync_requested(request)
    run = await b.pool.fetchrow("SELECT * FROM sync_runs WHERE id = $1", request.run_id)
    assert run["status"] == "photos" and run["progress"]["phase"] == "photos"
    assert run["progress"]["users_read"] == 3 and run["progress"]["members_applied"] == 3
    assert await b.pool.fetchval("SELECT count(*) FROM members") == 3 and await stored_photos(b) == {}

    await wired.relay_applied()
    after = await b.pool.fetchrow("SELECT * FROM sync_runs WHERE id = $1", request.run_id)
    assert after["status"] == "succeeded" and after["error"] is None
    assert set(await stored_photos(b)) == set(users[:2])
    assert after["graph_requests"] == run["graph_requests"] + 1 + 2  # one $batch, two photos


async def test_a_photo_check_graph_gives_up_on_fails_the_run_saying_so_and_keeps_its_members(fetch_bench):
    b = fetch_bench
    group = b.tenant.add_group(displayName="Team")
    add_users(b.tenant, group, 2, "u")
    wired = applying(b, use_delta=False)
    request = await b.run(await b.team(), config(group))
    await wired.fetcher.on_sync_requested(request)

    b.graph.max_throttle_wait = 0.5
    b.sim.throttle(b.tenant.tenant_id, times=50, retry_after=1, status=503)
    await wired.relay_applied()
    run = await b.pool.fetchrow("SELECT status, error, counts FROM sync_runs WHERE id = $1", request.run_id)
    assert run["status"] == "failed" and run["counts"]["created"] == 2
    assert run["error"].startswith(
        "the members were applied, but their profile photos could not all be synced: Microsoft Graph kept"
        " throttling this tenant"
    )
    assert await b.pool.fetchval("SELECT count(*) FROM members WHERE status <> 'removed'") == 2


async def test_with_the_photo_field_off_a_run_succeeds_at_its_apply_and_checks_no_photo(fetch_bench):
    b = fetch_bench
    group = b.tenant.add_group(displayName="Team")
    [user] = add_users(b.tenant, group, 1, "u")
    b.tenant.set_photo(user, png((1, 2, 3)), "image/png")
    wired = applying(b, use_delta=False)
    off = {"photo": {"sync": False, "overwrite": False}}
    request = await b.run(await b.team(), config(group, fields=off))

    await wired.fetcher.on_sync_requested(request)
    assert await b.pool.fetchval("SELECT status FROM sync_runs WHERE id = $1", request.run_id) == "succeeded"
    [applied] = await wired.relay_applied()
    assert applied.photos is False and b.published.photos() == []
    assert b.sim.requests[b.tenant.tenant_id]["photo"] == 0


async def test_a_photo_whose_message_was_lost_is_fetched_again_by_the_next_run(fetch_bench):
    """A photo's etag is recorded once the reconciler stored its bytes (PhotosStored): a message of photos
    that never got stored (dead-lettered, say) leaves nothing recorded, and the next run fetches it again."""
    b = fetch_bench
    group = b.tenant.add_group(displayName="Team")
    [user] = add_users(b.tenant, group, 1, "u")
    b.tenant.set_photo(user, png((9, 9, 9)), "image/png")
    team = await b.team()
    wired = applying(b, use_delta=False)
    deliver = wired.deliver

    async def lose_photos(*messages):
        await deliver(*(m for m in messages if not isinstance(m, PhotosFetched)))

    wired.deliver = lose_photos
    request = await b.run(team, config(group))
    await wired.fetcher.on_sync_requested(request)
    await wired.relay_applied()
    assert len(b.published.photos()) == 1 and await stored_photos(b) == {}
    assert await b.pool.fetchval("SELECT count(*) FROM fetcher_photos WHERE team_id = $1", team) == 0
    await b.pool.execute("UPDATE sync_runs SET status = 'failed' WHERE id = $1", request.run_id)

    wired.deliver = deliver
    run, photos = await sync(b, team, group)
    assert run["status"] == "succeeded", run["error"]
    assert [p.directory_id for p in photos] == [user]
    assert await stored_photos(b) == {user: ("image/png", png((9, 9, 9)))}
    etag = await b.pool.fetchval("SELECT etag FROM fetcher_photos WHERE directory_id = $1", user)
    assert etag == b.tenant.photo_etags[user]


async def test_a_photos_stored_message_with_a_bad_team_id_is_refused_for_good(fetch_bench):
    msg = PhotosStored(team_id="not-a-team", run_id="r", etags={"u": "e"})
    with pytest.raises(Permanent, match="not a team id"):
        await dispatch(fetcher_handlers(fetch_bench.fetcher()), msg)


async def test_photos_the_reconciler_took_away_are_forgotten_and_fetched_again(fetch_bench):
    """An undo deletes members a run made; PhotosStored's ``forget`` drops their photo records, so the sync
    that makes them again downloads their photos instead of calling them unchanged."""
    b = fetch_bench
    group = b.tenant.add_group(displayName="Team")
    [user] = add_users(b.tenant, group, 1, "u")
    b.tenant.set_photo(user, png((1, 2, 3)), "image/png")
    team = await b.team()
    run, photos = await sync(b, team, group)
    assert run["status"] == "succeeded" and [p.directory_id for p in photos] == [user]
    await b.pool.execute("DELETE FROM members WHERE team_id = $1", team)  # as an undo takes them away
    forget = PhotosStored(team_id=team, run_id=str(run["id"]), etags={}, forget=[user])
    await dispatch(fetcher_handlers(b.fetcher()), forget)
    assert await b.pool.fetchval("SELECT count(*) FROM fetcher_photos WHERE team_id = $1", team) == 0
    run, photos = await sync(b, team, group)
    assert run["status"] == "succeeded", run["error"]
    assert [p.directory_id for p in photos] == [user]
    assert await stored_photos(b) == {user: ("image/png", png((1, 2, 3)))}


async def test_a_full_read_forgets_the_photo_records_of_users_it_did_not_read(fetch_bench):
    """A full read keeps the photo records of the users it read (sent to the server by COPY) and drops the
    others': a user who left the group, and an id no read gives."""
    b = fetch_bench
    group = b.tenant.add_group(displayName="Team")
    stays, leaves = add_users(b.tenant, group, 2, "u")
    for user in (stays, leaves):
        b.tenant.set_photo(user, png((4, 5, 6)), "image/png")
    team = await b.team()
    run, _ = await sync(b, team, group)
    assert run["status"] == "succeeded", run["error"]
    await b.pool.execute(
        "INSERT INTO fetcher_photos (team_id, directory_id, etag) VALUES ($1, 'not-a-guid', NULL)", team
    )
    b.tenant.remove_member(group, leaves)
    wired = applying(b, use_delta=False)
    await wired.fetcher.on_sync_requested(await b.run(team, config(group)))
    rows = await b.pool.fetch("SELECT directory_id FROM fetcher_photos WHERE team_id = $1", team)
    assert {r["directory_id"] for r in rows} == {stays}
