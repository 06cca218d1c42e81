"""Later runs read only what changed (delta), nested groups included, and fall back to a full read whenever
delta cannot answer."""

from __future__ import annotations

import pytest

from shared.messages import MembersFetched, SnapshotCompleted
from tests.fixtures.fetcher import add_users, config


def nested(tenant) -> tuple[str, str, str]:
    """All Staff > Sales > Sales EU, with users at each level."""
    top, middle, bottom = (tenant.add_group(displayName=n) for n in ("All Staff", "Sales", "Sales EU"))
    tenant.add_member(top, middle)
    tenant.add_member(middle, bottom)
    return top, middle, bottom


async def run_once(b, team: str, groups: list[str], succeed: bool = True, **kw) -> SnapshotCompleted:
    b.published.messages.clear()
    request = await b.run(team, config(*groups))
    await b.fetcher(photos=False, **kw).on_sync_requested(request)
    if succeed:
        await b.finish(request)
    return b.published.messages[-1]


def by_group(b) -> dict[str | None, tuple[list[str], list[str]]]:
    """Group -> (users listed, ids removed) over the run's pages."""
    out: dict[str | None, tuple[list[str], list[str]]] = {}
    for page in b.published.of(MembersFetched):
        listed, removed = out.setdefault(page.group_id, ([], []))
        listed += [u.id for u in page.users]
        removed += page.removed_ids
    return out


async def test_nested_changes_come_as_joins_leaves_changes_and_deletions(fetch_bench):
    b = fetch_bench
    top, middle, bottom = nested(b.tenant)
    other = b.tenant.add_group(displayName="Other")
    add_users(b.tenant, top, 3, "t")
    stay, leave = add_users(b.tenant, middle, 2, "m")
    edit, doomed = add_users(b.tenant, bottom, 2, "b")
    outsider = add_users(b.tenant, other, 1, "o")[0]
    team = await b.team()
    assert (await run_once(b, team, [top, middle])).mode == "full"

    joined = b.tenant.add_user(
        displayName="New", userPrincipalName=f"new@{b.tenant.domain}", accountEnabled=True
    )
    b.tenant.add_member(bottom, joined)
    b.tenant.remove_member(middle, leave)
    b.tenant.update_user(edit, jobTitle="Chief")
    b.tenant.update_user(outsider, jobTitle="Elsewhere")
    b.tenant.delete_user(doomed)
    b.tenant.rename_group(top, "Everyone")
    b.tenant.update_user(stay, officeLocation="unselected: not tracked")
    before = dict(b.sim.requests[b.tenant.tenant_id])
    done = await run_once(b, team, [top, middle])

    assert isinstance(done, SnapshotCompleted) and done.mode == "delta"
    assert done.pages == len(b.published.of(MembersFetched))
    assert [g.display_name for g in done.groups] == ["Everyone", "Sales"]
    pages = by_group(b)
    # The joiner and the edited user come whole on the page of every synced group they are in (so that a
    # member a run removed or never made comes back with all its groups); the outsider's change is none of
    # this team's business.
    for group in (top, middle):
        assert sorted(pages[group][0]) == sorted([joined, edit]) and pages[group][1] == [leave]
    assert pages[None] == ([], [doomed])
    whole = {u.id: u.properties for p in b.published.of(MembersFetched) for u in p.users}
    assert whole[joined]["userPrincipalName"] == f"new@{b.tenant.domain}"
    assert whole[edit]["jobTitle"] == "Chief" and whole[edit]["mail"]
    spent = {k: v - before.get(k, 0) for k, v in b.sim.requests[b.tenant.tenant_id].items()}
    assert spent.get("transitiveMembers", 0) == spent.get("members", 0) == spent.get("users", 0) == 0
    # users delta, groups delta, one batch of group names, one batch for the joiner and the edited user.
    assert done.graph_requests == 4

    done = await run_once(b, team, [top, middle])
    assert done.mode == "delta" and done.pages == 0 and done.graph_requests == 3


async def test_a_nested_group_moved_under_another_brings_its_users(fetch_bench):
    b = fetch_bench
    top, middle, bottom = nested(b.tenant)
    loose = b.tenant.add_group(displayName="Loose")
    add_users(b.tenant, top, 1, "t")
    lows = add_users(b.tenant, bottom, 2, "b")
    team = await b.team()
    await run_once(b, team, [top, loose])

    b.tenant.remove_member(middle, bottom)
    b.tenant.add_member(loose, bottom)
    done = await run_once(b, team, [top, loose])
    assert done.mode == "delta"
    assert by_group(b) == {top: ([], sorted(lows)), loose: (sorted(lows), [])}

    stranger = b.tenant.add_group(displayName="Stranger")  # never read: delta cannot tell who is in it
    b.tenant.add_member(top, stranger)
    assert (await run_once(b, team, [top, loose])).mode == "full"
    assert (await run_once(b, team, [top, loose])).mode == "delta"


async def test_a_run_that_did_not_succeed_is_read_again_next_time(fetch_bench):
    b = fetch_bench
    top, _, bottom = nested(b.tenant)
    add_users(b.tenant, bottom, 2, "u")
    team = await b.team()
    await run_once(b, team, [top])
    joined = add_users(b.tenant, bottom, 1, "new")[0]

    request = await b.run(team, config(top))
    b.published.messages.clear()
    await b.fetcher(photos=False).on_sync_requested(request)
    await b.finish(request, "failed")
    assert by_group(b) == {top: ([joined], [])}

    done = await run_once(b, team, [top])
    assert done.mode == "delta" and by_group(b) == {top: ([joined], [])}
    assert (await run_once(b, team, [top])).pages == 0  # that run succeeded: its changes are the graph's now


@pytest.mark.parametrize("answer", ["syncStateNotFound", "resyncRequired", "gone"])
async def test_each_answer_graph_gives_a_lapsed_delta_token_means_a_full_read(fetch_bench, answer):
    b = fetch_bench
    top, _, bottom = nested(b.tenant)
    add_users(b.tenant, bottom, 2, "u")
    team = await b.team()
    await run_once(b, team, [top])
    b.sim.expire_delta_tokens(b.tenant.tenant_id, answer)
    done = await run_once(b, team, [top])
    assert done.mode == "full" and len(by_group(b)[top][0]) == 2
    assert (await run_once(b, team, [top])).mode == "delta"


async def test_expired_tokens_changed_groups_or_properties_mean_a_full_read(fetch_bench):
    b = fetch_bench
    top, middle, bottom = nested(b.tenant)
    add_users(b.tenant, bottom, 2, "u")
    team = await b.team()
    await run_once(b, team, [top])

    b.sim.expire_delta_tokens(b.tenant.tenant_id)
    assert (await run_once(b, team, [top])).mode == "full"
    assert (await run_once(b, team, [top, middle])).mode == "full"
    b.published.messages.clear()
    request = await b.run(
        team, config(top, middle, fields={"job_title": {"sync": False, "overwrite": False}})
    )
    await b.fetcher(photos=False).on_sync_requested(request)
    assert b.published.messages[-1].mode == "full"


async def test_a_dry_run_moves_neither_delta_state_nor_photo_records(fetch_bench):
    b = fetch_bench
    top, _, bottom = nested(b.tenant)
    add_users(b.tenant, bottom, 2, "u")
    request = await b.run(await b.team(), config(top), dry_run=True)
    await b.fetcher().on_sync_requested(request)

    assert b.published.messages[-1].mode == "full"
    for table in ("fetcher_delta_links", "fetcher_photos", "fetcher_graphs", "fetcher_graph_members"):
        assert await b.pool.fetchval(f"SELECT count(*) FROM {table}") == 0


async def test_a_setting_that_changes_what_members_look_like_reads_everyone_again(fetch_bench):
    # R15: a saved configuration applies from the next run, to every member, not only to users whose records
    # change: an overwrite toggle turned on (nothing new to select) makes the next run a full read; a change
    # of cadence or of the invite setting does not.
    b = fetch_bench
    top, _, bottom = nested(b.tenant)
    add_users(b.tenant, bottom, 2, "u")
    team = await b.team()

    async def mode(**settings) -> str:
        b.published.messages.clear()
        request = await b.run(team, config(top, **settings))
        await b.fetcher(photos=False).on_sync_requested(request)
        await b.finish(request)
        return b.published.messages[-1].mode

    assert await mode() == "full"
    assert await mode(cadence="weekly", send_invites=False) == "delta"
    assert await mode(fields={"job_title": {"sync": True, "overwrite": False}}) == "full"
    assert await mode(fields={"job_title": {"sync": True, "overwrite": False}}) == "delta"
    assert await mode(remove_disabled_users=False) == "full"
