"""Later runs read only what changed (delta), and fall back to a full read whenever delta cannot answer."""

from __future__ import annotations

from shared.messages import MembersFetched, SnapshotCompleted
from tests.fixtures.fetcher import add_users, config


async def first_run(b, group_ids: list[str]):
    team = await b.team()
    request = await b.run(team, config(*group_ids))
    await b.fetcher(photos=False).on_sync_requested(request)
    assert b.published.messages[-1].mode == "full"
    b.published.messages.clear()
    return team, request


async def test_a_later_run_sends_only_the_changes_with_removals_named(fetch_bench):
    b = fetch_bench
    group, other = b.tenant.add_group(displayName="Team"), b.tenant.add_group(displayName="Other")
    stay, leave, edit, doomed = add_users(b.tenant, group, 4, "u")
    outsider = add_users(b.tenant, other, 1, "o")[0]
    team, first = await first_run(b, [group])
    await b.finish(first)

    joined = b.tenant.add_user(
        displayName="New", userPrincipalName=f"new@{b.tenant.domain}", accountEnabled=True
    )
    b.tenant.add_member(group, joined)
    b.tenant.remove_member(group, leave)
    b.tenant.update_user(edit, jobTitle="Chief")
    b.tenant.delete_user(doomed)
    b.tenant.rename_group(group, "Team Blue")
    b.tenant.update_user(stay, officeLocation="unselected: not tracked")
    before = b.sim.requests[b.tenant.tenant_id]["transitiveMembers"]
    await b.fetcher(photos=False).on_sync_requested(await b.run(team, config(group)))

    pages = b.published.of(MembersFetched)
    done = b.published.messages[-1]
    assert isinstance(done, SnapshotCompleted) and done.mode == "delta" and done.pages == len(pages)
    assert done.groups[0].display_name == "Team Blue"
    by_group = [p for p in pages if p.group_id == group]
    assert [u.id for p in by_group for u in p.users] == [joined]
    assert by_group[0].users[0].properties["userPrincipalName"] == f"new@{b.tenant.domain}"
    assert [r for p in by_group for r in p.removed_ids] == [leave]
    changed = {u.id: u.properties for p in pages if p.group_id is None for u in p.users}
    assert set(changed) == {edit}  # the whole record, not only the changed property
    assert changed[edit]["jobTitle"] == "Chief" and changed[edit]["mail"]
    assert [r for p in pages if p.group_id is None for r in p.removed_ids] == [doomed]
    assert b.sim.requests[b.tenant.tenant_id]["transitiveMembers"] == before
    assert outsider not in changed


async def test_a_run_that_did_not_succeed_is_read_again_next_time(fetch_bench):
    b = fetch_bench
    group = b.tenant.add_group(displayName="Team")
    add_users(b.tenant, group, 2, "u")
    team, first = await first_run(b, [group])
    await b.finish(first)
    joined = add_users(b.tenant, group, 1, "new")[0]

    second = await b.run(team, config(group))
    await b.fetcher(photos=False).on_sync_requested(second)
    await b.finish(second, "failed")
    assert [u.id for p in b.published.of(MembersFetched) for u in p.users] == [joined]
    b.published.messages.clear()

    await b.fetcher(photos=False).on_sync_requested(await b.run(team, config(group)))
    assert b.published.messages[-1].mode == "delta"
    assert [u.id for p in b.published.of(MembersFetched) for u in p.users] == [joined]


async def test_expired_tokens_changed_groups_and_nesting_mean_a_full_read(fetch_bench):
    b = fetch_bench
    group, extra = b.tenant.add_group(displayName="Team"), b.tenant.add_group(displayName="Extra")
    add_users(b.tenant, group, 2, "u")
    team, first = await first_run(b, [group])
    await b.finish(first)

    b.sim.expire_delta_tokens(b.tenant.tenant_id)
    run = await b.run(team, config(group))
    await b.fetcher(photos=False).on_sync_requested(run)
    assert b.published.messages[-1].mode == "full"
    await b.finish(run)

    run = await b.run(team, config(group, extra))
    await b.fetcher(photos=False).on_sync_requested(run)
    assert b.published.messages[-1].mode == "full"
    await b.finish(run)

    b.tenant.add_member(group, extra)
    run = await b.run(team, config(group, extra))
    await b.fetcher(photos=False).on_sync_requested(run)
    assert b.published.messages[-1].mode == "full"  # the delta round saw a nested group appear
    await b.finish(run)
    await b.fetcher(photos=False).on_sync_requested(await b.run(team, config(group, extra)))
    assert b.published.messages[-1].mode == "full"  # and nested groups keep it on full reads


async def test_a_dry_run_moves_neither_delta_links_nor_photo_records(fetch_bench):
    b = fetch_bench
    group = b.tenant.add_group(displayName="Team")
    add_users(b.tenant, group, 2, "u")
    request = await b.run(await b.team(), config(group), dry_run=True)
    await b.fetcher().on_sync_requested(request)

    assert b.published.messages[-1].mode == "full"
    assert await b.pool.fetchval("SELECT count(*) FROM fetcher_delta_links") == 0
    assert await b.pool.fetchval("SELECT count(*) FROM fetcher_photos") == 0
