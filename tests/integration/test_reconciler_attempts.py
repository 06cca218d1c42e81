"""Fetch attempts and early photos: a refetch never mixes with the interrupted attempt, and photos that arrive
while their run is still open wait staged, then land on the members the apply made."""

from __future__ import annotations

import asyncio
import base64
import uuid
from datetime import timedelta

import asyncpg

from services.reconciler import member_photos
from shared.errors import Permanent
from shared.messages import FetchedPhoto, MembersFetched, PhotosFetched, SnapshotCompleted
from tests.fixtures.reconciler import GROUP, user

USERS = [user(n) for n in range(1, 6)]


def _pages(team, run_id: str, attempt: str, pages: list[list]) -> list[MembersFetched]:
    return [
        MembersFetched(
            team_id=team.team_id, run_id=run_id, attempt=attempt, seq=seq, group_id=GROUP, users=users
        )
        for seq, users in enumerate(pages)
    ]


async def _status(team, run_id: str) -> str:
    return await team.pool.fetchval("SELECT status FROM sync_runs WHERE id = $1", run_id)


async def test_only_the_completed_attempt_makes_the_snapshot(team):
    await team.sync(USERS)
    run_id = await team.new_run()
    _, done = team.messages(run_id, {GROUP: USERS})
    # The first attempt was cut off after two pages that hold four users; the directory changed before the
    # refetch, so the second attempt's pages with the same numbers hold other users.
    for page in _pages(team, run_id, "first", [USERS[:2], USERS[2:4]]):
        await team.reconciler.on_members_fetched(page)
    second = _pages(team, run_id, "second", [[USERS[0], USERS[4]], USERS[1:4]])
    await team.reconciler.on_snapshot_completed(done.model_copy(update={"attempt": "second", "pages": 2}))
    await team.reconciler.on_members_fetched(second[0])
    assert (
        await _status(team, run_id) == "fetching"
    )  # the first attempt's page 1 does not complete the second
    await team.reconciler.on_members_fetched(second[1])
    run = await team.pool.fetchrow("SELECT status, counts FROM sync_runs WHERE id = $1", run_id)
    assert run["status"] == "succeeded"
    assert run["counts"]["unchanged"] == 5 and run["counts"]["removed"] == 0
    assert {m["status"] for m in (await team.members()).values()} == {"invited"}
    assert await team.pool.fetchval("SELECT count(*) FROM snapshot_users") == 0
    assert await team.pool.fetchval("SELECT count(*) FROM snapshot_listings") == 0


async def test_late_pages_of_an_abandoned_attempt_are_ignored(team):
    run_id = await team.new_run()
    pages = _pages(team, run_id, "second", [USERS[:3]])
    await team.reconciler.on_members_fetched(_pages(team, run_id, "first", [USERS])[0])
    await team.reconciler.on_members_fetched(pages[0])
    await team.reconciler.on_snapshot_completed(
        SnapshotCompleted(
            team_id=team.team_id,
            run_id=run_id,
            attempt="second",
            pages=1,
            groups=[{"id": GROUP, "display_name": "S"}],
        )
    )
    assert await _status(team, run_id) == "succeeded"
    assert sorted(await team.members()) == [u.id for u in USERS[:3]]


def _photo(team, run_id: str, n: int, etag: str | None, data: bytes | None, **kw) -> PhotosFetched:
    """A message of one photo of user ``n`` (gone, without ``data``)."""
    photo = FetchedPhoto(
        directory_id=USERS[n].id,
        etag=etag,
        content_type="image/jpeg" if data is not None else None,
        data_b64=base64.b64encode(data).decode() if data is not None else None,
    )
    return PhotosFetched(team_id=team.team_id, run_id=run_id, attempt="a", seq=n, photos=[photo], **kw)


async def test_photos_before_their_member_exists_wait_then_land(team):
    run_id = await team.new_run()
    pages, done = team.messages(run_id, {GROUP: USERS})
    for page in pages:
        await team.reconciler.on_members_fetched(page)
    early = _photo(team, run_id, 0, "e1", b"one")
    later = _photo(team, run_id, 0, "e2", b"two", sent_at=early.sent_at + timedelta(seconds=1))
    await team.reconciler.on_photos_fetched(later)
    await team.reconciler.on_photos_fetched(early)  # out of order: the later message wins
    await team.reconciler.on_photos_fetched(_photo(team, run_id, 1, "f1", b"other"))
    assert await team.pool.fetchval("SELECT count(*) FROM member_photos") == 0
    await team.reconciler.on_snapshot_completed(done)
    members = await team.members()
    photos = {
        r["member_id"]: (r["etag"], bytes(r["data"]))
        for r in await team.pool.fetch("SELECT member_id, etag, data FROM member_photos")
    }
    assert photos == {
        members[USERS[0].id]["id"]: ("e2", b"two"),
        members[USERS[1].id]["id"]: ("f1", b"other"),
    }
    assert await team.pool.fetchval("SELECT count(*) FROM staged_photos") == 0


async def test_photos_arriving_together_are_stored_together_each_message_its_own_outcome(team):
    run_id = str((await team.sync(USERS))["id"])
    unknown_team = _photo(team, run_id, 2, "x", b"x").model_copy(update={"team_id": str(uuid.uuid4())})
    not_base64 = _photo(team, run_id, 3, "y", b"y")
    not_base64 = not_base64.model_copy(
        update={"photos": [not_base64.photos[0].model_copy(update={"data_b64": "%%%"})]}
    )
    arriving = [
        _photo(team, run_id, 0, "e1", b"one"),
        _photo(team, run_id, 1, "f1", b"other"),
        unknown_team,
        not_base64,
        _photo(team, run_id, 4, "g1", b"last"),
    ]
    outcomes = await asyncio.gather(
        *(team.reconciler.on_photos_fetched(m) for m in arriving), return_exceptions=True
    )
    assert outcomes[:2] == [None, None] and outcomes[4] is None
    assert isinstance(outcomes[2], asyncpg.ForeignKeyViolationError)  # that message fails, and only it
    assert isinstance(outcomes[3], Permanent)
    members = await team.members()
    assert await _photos(team) == {
        members[USERS[0].id]["id"]: ("e1", b"one"),
        members[USERS[1].id]["id"]: ("f1", b"other"),
        members[USERS[4].id]["id"]: ("g1", b"last"),
    }
    assert await team.pool.fetchval("SELECT count(*) FROM staged_photos") == 0


async def test_of_two_photos_of_one_user_in_one_batch_the_later_message_wins(team):
    run_id = str((await team.sync(USERS))["id"])
    [early] = member_photos.decode(_photo(team, run_id, 0, "e1", b"one"))
    [later] = member_photos.decode(
        _photo(team, run_id, 0, "e2", b"two", sent_at=early.sent_at + timedelta(seconds=1))
    )
    for batch in ([later, early], [early, later]):
        async with team.pool.acquire() as conn, conn.transaction():
            await member_photos.store_many(conn, batch)
        assert list((await _photos(team)).values()) == [("e2", b"two")]


async def test_an_older_photo_message_coming_late_changes_nothing(team):
    run_id = str((await team.sync(USERS))["id"])
    early = _photo(team, run_id, 0, "e1", b"one")
    later = _photo(team, run_id, 0, "e2", b"two", sent_at=early.sent_at + timedelta(seconds=1))
    await team.reconciler.on_photos_fetched(later)
    await team.reconciler.on_photos_fetched(early)  # redelivered, after the later one landed
    assert list((await _photos(team)).values()) == [("e2", b"two")]
    await team.reconciler.on_photos_fetched(_photo(team, run_id, 0, None, None, sent_at=early.sent_at))
    assert list((await _photos(team)).values()) == [("e2", b"two")]
    assert await team.pool.fetchval("SELECT count(*) FROM staged_photos") == 0
    newest = _photo(team, run_id, 0, "e3", b"three", sent_at=later.sent_at + timedelta(seconds=1))
    await team.reconciler.on_photos_fetched(newest)
    assert list((await _photos(team)).values()) == [("e3", b"three")]


async def _photos(team) -> dict:
    return {
        r["member_id"]: (r["etag"], bytes(r["data"]))
        for r in await team.pool.fetch("SELECT member_id, etag, data FROM member_photos")
    }


async def test_r7_staged_photo_honours_the_toggles_of_the_applying_run(team):
    config = {**team.config, "fields": {"photo": {"sync": False, "overwrite": False}}}
    run_id = await team.new_run(config=config)
    pages, done = team.messages(run_id, {GROUP: USERS[:1]})
    await team.reconciler.on_members_fetched(pages[0])
    await team.reconciler.on_photos_fetched(_photo(team, run_id, 0, "e1", b"one"))
    await team.reconciler.on_snapshot_completed(done)
    assert await _status(team, run_id) == "succeeded"
    assert await team.pool.fetchval("SELECT count(*) FROM member_photos") == 0
    assert await team.pool.fetchval("SELECT count(*) FROM staged_photos") == 0
