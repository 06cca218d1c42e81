"""The fetcher's full read against the simulated tenant, with the real msal."""

from __future__ import annotations

import asyncio
from pathlib import Path

from shared.messages import MembersFetched, PhotosFetched, SnapshotCompleted, SnapshotFailed
from simulator.images import jpeg, png
from tests.fixtures.fetcher import add_users, applying, config

GA = "62e90394-69f5-4237-9190-012177145e10"
FETCHER = Path(__file__).resolve().parents[2] / "services" / "fetcher"


def nested_tenant(tenant) -> tuple[str, set[str]]:
    """3,000 users: 1,500 in the top group, 1,000 in a nested group, 500 a level deeper; plus non-users."""
    top, middle, bottom = (tenant.add_group(displayName=n) for n in ("All Staff", "Sales", "Sales EU"))
    tenant.add_member(top, middle)
    tenant.add_member(middle, bottom)
    users = (
        add_users(tenant, top, 1500, "a")
        + add_users(tenant, middle, 1000, "b")
        + add_users(tenant, bottom, 500, "c")
    )
    tenant.add_member(top, tenant.add_device(displayName="Printer"))
    tenant.add_member(middle, tenant.add_service_principal(displayName="Robot"))
    tenant.add_member(bottom, tenant.add_contact(displayName="Vendor", mail="v@example.com"))
    return top, set(users)


async def test_a_full_read_pages_through_nested_groups_with_the_fewest_requests(fetch_bench):
    b = fetch_bench
    top, users = nested_tenant(b.tenant)
    request = await b.run(await b.team(), config(top))
    await b.fetcher(photos=False).on_sync_requested(request)

    pages = b.published.of(MembersFetched)
    done = b.published.messages[-1]
    assert isinstance(done, SnapshotCompleted) and done.mode == "full" and not done.skipped
    assert [p.seq for p in pages] == list(range(done.pages)) == [0, 1, 2, 3]
    seen = [u.id for p in pages for u in p.users]
    assert len(seen) == len(set(seen)) and set(seen) == users  # no device, service principal, contact, group
    assert {p.group_id for p in pages} == {top}
    assert done.groups[0].display_name == "All Staff"
    assert set(pages[0].users[0].properties) >= {"mail", "userPrincipalName", "accountEnabled", "city"}
    # Two delta links taken at the start, the group's name, the graph (direct members: two pages, two, one),
    # the group link narrowed to the graph's groups and caught up, then four pages of 999 records.
    assert done.graph_requests == 2 + 1 + 5 + 2 + 4
    assert b.sim.requests[b.tenant.tenant_id]["transitiveMembers"] == 4
    status = await b.pool.fetchval("SELECT status FROM sync_runs WHERE id = $1", request.run_id)
    assert status == "fetching"


async def test_throttling_is_waited_out_as_graph_asks(fetch_bench):
    b = fetch_bench
    group = b.tenant.add_group(displayName="Team")
    add_users(b.tenant, group, 10, "u")
    request = await b.run(await b.team(), config(group))
    b.sim.throttle(b.tenant.tenant_id, times=2, retry_after=1)
    await b.fetcher(photos=False).on_sync_requested(request)

    assert isinstance(b.published.messages[-1], SnapshotCompleted)
    events = b.sim.throttle_events[b.tenant.tenant_id]
    assert len(events) == 2 and all(e.waited is not None and e.waited >= 1 for e in events)


async def test_a_run_throttled_past_its_patience_fails_saying_so(fetch_bench):
    b = fetch_bench
    b.settings = b.settings.model_copy(update={"graph_max_throttle_wait": 1.5})
    b.graph.max_throttle_wait = 1.5
    group = b.tenant.add_group(displayName="Team")
    request = await b.run(await b.team(), config(group))
    b.sim.throttle(b.tenant.tenant_id, times=10, retry_after=1, status=503)
    await b.fetcher(photos=False).on_sync_requested(request)

    [failed] = b.published.messages
    assert isinstance(failed, SnapshotFailed) and "kept throttling" in failed.reason
    assert failed.graph_requests == 2


async def test_a_token_expiring_mid_run_is_replaced_once(fetch_bench):
    b = fetch_bench
    group = b.tenant.add_group(displayName="Team")
    add_users(b.tenant, group, 2500, "u")
    request = await b.run(await b.team(), config(group))
    b.published.on_message = lambda m: (
        isinstance(m, MembersFetched) and m.seq == 0 and b.sim.expire_tokens(b.tenant.tenant_id)
    )
    await b.fetcher(photos=False).on_sync_requested(request)

    done = b.published.messages[-1]
    assert isinstance(done, SnapshotCompleted) and done.pages == 3
    assert b.sim.requests[b.tenant.tenant_id]["token"] == 2


async def test_a_wrong_secret_fails_the_run_with_its_reason(fetch_bench):
    b = fetch_bench
    group = b.tenant.add_group(displayName="Team")
    request = await b.run(await b.team(secret="not-the-secret"), config(group))
    await b.fetcher().on_sync_requested(request)

    [failed] = b.published.messages
    assert isinstance(failed, SnapshotFailed)
    assert failed.reason.startswith("the client secret is wrong or expired: AADSTS7000215")
    assert "Trace ID" not in failed.reason and failed.graph_requests == 0
    assert failed.cause == "secret"  # it needs a person: scheduled runs wait for a new secret


async def test_a_deleted_group_is_named_and_a_missing_permission_too(fetch_bench):
    b = fetch_bench
    team = await b.team()
    gone = b.tenant.add_group(displayName="Old")
    b.tenant.delete_group(gone, permanent=True)
    await b.fetcher().on_sync_requested(await b.run(team, config(gone)))
    # Not a failure: the snapshot names the group, and the reconciler holds its members (R9).
    [*_, done] = b.published.messages
    assert isinstance(done, SnapshotCompleted) and done.gone_groups == [gone] and done.groups == []

    await b.pool.execute("UPDATE sync_runs SET status = 'failed'")
    group = b.tenant.add_group(displayName="Team")
    add_users(b.tenant, group, 3, "u")
    b.tenant.revoke(b.client_id, "User.Read.All")
    b.sim.expire_tokens(b.tenant.tenant_id)  # a token keeps the permissions it was issued with
    await b.fetcher().on_sync_requested(await b.run(team, config(group)))
    assert "User.Read.All" in b.published.messages[-1].reason
    assert b.published.messages[-1].cause == "permission"

    await b.pool.execute("UPDATE sync_runs SET status = 'failed'")
    b.tenant.grant(b.client_id, "User.Read.All")
    b.tenant.revoke(b.client_id, "GroupMember.Read.All")
    b.sim.expire_tokens(b.tenant.tenant_id)
    await b.fetcher().on_sync_requested(await b.run(team, config(group)))
    assert "GroupMember.Read.All" in b.published.messages[-1].reason


async def test_a_permission_granted_after_a_refused_run_is_used_by_the_next_one(fetch_bench):
    """An app-only token keeps the permissions it was issued with: after the admin's grant, the next run takes
    a new one instead of failing with the old one until it expires."""
    b = fetch_bench
    team = await b.team()
    group = b.tenant.add_group(displayName="Team")
    add_users(b.tenant, group, 3, "u")
    b.tenant.revoke(b.client_id, "User.Read.All")
    await b.fetcher(photos=False).on_sync_requested(await b.run(team, config(group)))
    assert "User.Read.All" in b.published.messages[-1].reason
    tokens = b.sim.requests[b.tenant.tenant_id]["token"]
    assert tokens == 1  # refused with a token just issued: no new one asked for, however many requests failed

    await b.pool.execute("UPDATE sync_runs SET status = 'failed'")
    b.tenant.grant(b.client_id, "User.Read.All")  # the process still holds the token issued before the grant
    b.graph.renew_refused_after = 0.0  # which now counts as older than the grant
    await b.fetcher(photos=False).on_sync_requested(await b.run(team, config(group)))
    assert isinstance(b.published.messages[-1], SnapshotCompleted), b.published.messages[-1]
    assert b.sim.requests[b.tenant.tenant_id]["token"] == tokens + 1


async def test_redelivered_requests_refetch_only_a_run_still_fetching(fetch_bench):
    b = fetch_bench
    group = b.tenant.add_group(displayName="Team")
    add_users(b.tenant, group, 1200, "u")
    request = await b.run(await b.team(), config(group))
    fetcher = b.fetcher(photos=False)
    await fetcher.on_sync_requested(request)
    first = [(m.seq, [u.id for u in m.users]) for m in b.published.of(MembersFetched)]

    b.published.messages.clear()
    await fetcher.on_sync_requested(request)  # still 'fetching': read again, numbered the same
    assert [(m.seq, [u.id for u in m.users]) for m in b.published.of(MembersFetched)] == first

    b.published.messages.clear()
    await b.finish(request)
    await fetcher.on_sync_requested(request)
    assert b.published.messages == []


async def test_the_request_is_done_once_the_snapshot_is_sent_and_photos_follow_the_apply(fetch_bench):
    # Nothing applies this run: the fetcher still returns (its message is acknowledged) as soon as the
    # snapshot is sent, and sends no photo until the reconciler says the run is applied.
    b = fetch_bench
    group = b.tenant.add_group(displayName="Team")
    [pictured] = add_users(b.tenant, group, 1, "u")
    b.tenant.set_photo(pictured, jpeg((200, 30, 30)), "image/jpeg")
    request = await b.run(await b.team(), config(group))
    wired = applying(b)
    await asyncio.wait_for(b.fetcher().on_sync_requested(request), timeout=10)
    assert isinstance(b.published.messages[-1], SnapshotCompleted) and not b.published.photos()
    status = await b.pool.fetchval("SELECT status FROM sync_runs WHERE id = $1", request.run_id)
    assert status == "fetching"

    await wired.deliver(*b.published.messages)
    [applied] = await wired.relay_applied()
    assert applied.run_id == request.run_id
    assert [p.directory_id for p in b.published.photos()] == [pictured]


def test_no_handler_waits_for_a_run_by_polling_it():
    source = "\n".join(p.read_text() for p in FETCHER.glob("*.py"))
    assert "asyncio.sleep" not in source and "wait_applied" not in source


async def test_r12_a_role_held_through_a_group_is_held_by_its_members(fetch_bench):
    b = fetch_bench
    group = b.tenant.add_group(displayName="Team")
    direct, nested, _ = add_users(b.tenant, group, 3, "u")
    admins = b.tenant.add_group(displayName="Tenant admins", isAssignableToRole=True)
    inner = b.tenant.add_group(displayName="On call")
    b.tenant.add_member(admins, inner)
    b.tenant.add_member(inner, nested)
    b.tenant.assign_role(GA, admins)
    b.tenant.assign_role(GA, direct)
    request = await b.run(await b.team(), config(group, use_admin_roles=True))
    await b.fetcher(photos=False).on_sync_requested(request)
    done = next(m for m in b.published.messages if isinstance(m, SnapshotCompleted))
    assert done.roles[GA] == sorted([direct, nested])


async def test_roles_and_photos(fetch_bench):
    b = fetch_bench
    group = b.tenant.add_group(displayName="Team")
    admin, _, pictured = add_users(b.tenant, group, 3, "u")
    b.tenant.assign_role(GA, admin)
    b.tenant.set_photo(pictured, jpeg((200, 30, 30)), "image/jpeg")
    b.tenant.set_photo(admin, png((30, 30, 200)), "image/png")
    team = await b.team()
    await applying(b).sync(await b.run(team, config(group, use_admin_roles=True)))

    done = next(m for m in b.published.messages if isinstance(m, SnapshotCompleted))
    assert done.roles[GA] == [admin]
    [sent] = b.published.of(PhotosFetched)
    assert b.published.messages.index(done) < b.published.messages.index(sent)
    assert {(p.directory_id, p.content_type) for p in sent.photos} == {
        (pictured, "image/jpeg"),
        (admin, "image/png"),
    }

    b.published.messages.clear()
    b.tenant.remove_photo(admin)
    b.settings = b.settings.model_copy(update={"photo_slice_days": 1})
    await b.later()  # a day on: the slice is every photo
    await applying(b, use_delta=False).sync(await b.run(team, config(group)))
    [cleared] = b.published.photos()
    assert cleared.directory_id == admin and cleared.content_type is None and cleared.data_b64 is None


async def test_groups_holding_most_of_the_tenant_are_read_from_the_user_list(fetch_bench):
    b = fetch_bench
    top, users = nested_tenant(b.tenant)
    [middle] = b.tenant.members[top] & b.tenant.groups.keys()
    [bottom] = b.tenant.members[middle] & b.tenant.groups.keys()
    request = await b.run(await b.team(), config(top, middle, bottom))
    await b.fetcher(photos=False).on_sync_requested(request)

    done = b.published.messages[-1]
    assert isinstance(done, SnapshotCompleted) and done.mode == "full" and not done.skipped
    listed: dict[str, list[str]] = {}
    for page in b.published.of(MembersFetched):
        listed.setdefault(page.group_id, []).extend(u.id for u in page.users)
    assert {g: len(ids) for g, ids in listed.items()} == {top: 3000, middle: 1500, bottom: 500}
    assert set(listed[top]) == users and len(set(listed[middle])) == 1500
    # Three groups' transitive lists would take 4 + 2 + 1 pages; the tenant's 3,000 users take four.
    requests = b.sim.requests[b.tenant.tenant_id]
    assert requests["users"] == 1 + 4 and requests["transitiveMembers"] == 0


async def test_delta_runs_check_the_photos_no_check_recorded_and_of_users_back_in_a_group(fetch_bench):
    b = fetch_bench
    group = b.tenant.add_group(displayName="Team")
    pictured, leaver, _ = add_users(b.tenant, group, 3, "u")
    for user in (pictured, leaver):
        b.tenant.set_photo(user, jpeg((200, 30, 30)), "image/jpeg")
    team = await b.team()
    await applying(b).sync(await b.run(team, config(group)))
    assert {p.directory_id for p in b.published.photos()} == {pictured, leaver}

    async def delta_photos() -> set[str]:
        b.published.messages.clear()
        await applying(b).sync(await b.run(team, config(group)))
        assert b.published.of(SnapshotCompleted)[0].mode == "delta"
        return {p.directory_id for p in b.published.photos()}

    # A check that never recorded its answer (it failed, or the run stopped short) is made by a later delta
    # run.
    await b.pool.execute("DELETE FROM fetcher_photos WHERE directory_id = $1", pictured)
    assert await delta_photos() == {pictured}
    # A user back in the group after leaving it (its member, photo and all, may have been deleted meanwhile)
    # has its photo sent again.
    b.tenant.remove_member(group, leaver)
    assert await delta_photos() == set()
    b.tenant.add_member(group, leaver)
    assert await delta_photos() == {leaver}


async def test_a_saved_mapping_of_a_property_graph_lists_for_no_group_fails_the_run_saying_so(fetch_bench):
    b = fetch_bench
    group = b.tenant.add_group(displayName="Team")
    add_users(b.tenant, group, 2, "u")
    mapping = {"source": "aboutMe", "target": {"kind": "field", "name": "About"}}
    await b.fetcher().on_sync_requested(await b.run(await b.team(), config(group, custom_mappings=[mapping])))
    [failed] = b.published.messages
    assert isinstance(failed, SnapshotFailed)
    assert "custom mapping 0 reads aboutMe" in failed.reason and b.sim.requests[b.tenant.tenant_id] == {}
