"""The photo slice costs the same per day whatever the cadence: runs in quick succession re-check no photo
beyond the share of the time that passed."""

from __future__ import annotations

from simulator.images import jpeg
from tests.fixtures.fetcher import add_users, applying, config


async def photo_checks(b, team: str, group: str) -> int:
    """Photo metadata requests of one run of the team: the fetch, the apply, and the photo step on
    RunApplied."""
    before = b.sim.requests[b.tenant.tenant_id]["photo"]
    await applying(b).sync(await b.run(team, config(group)))
    return b.sim.requests[b.tenant.tenant_id]["photo"] - before


async def test_runs_close_together_recheck_no_more_than_the_time_allows(fetch_bench):
    b = fetch_bench
    group = b.tenant.add_group(displayName="Team")
    for user in add_users(b.tenant, group, 70, "u"):
        b.tenant.set_photo(user, jpeg((10, 20, 30)), "image/jpeg")
    team = await b.team()
    assert await photo_checks(b, team, group) == 70  # every member's photo, once
    assert await photo_checks(b, team, group) == 0  # seconds later: each was just checked, nothing is due
    await b.later(86400)
    assert await photo_checks(b, team, group) == 10  # the first rotation: a day's share of a 7-day round
    assert await photo_checks(b, team, group) == 0  # seconds later: nothing is due

    checked = 0
    for _ in range(24):  # a day of hourly runs
        await b.later(3600)
        checked += await photo_checks(b, team, group)
    assert checked == 10  # what one daily run would have checked
