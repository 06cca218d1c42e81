"""R2 scope rules in the fetcher: Graph answers the rules it can (``$filter`` on the members cast to users, an
advanced query), the rest are tested after the read; a dry run reads everyone to list whom the rules leave
out. And the simulator takes the filters Graph takes and refuses, as Graph does, those it refuses."""

from __future__ import annotations

from urllib.parse import quote

import aiohttp
import pytest

from shared.messages import MembersFetched, SnapshotCompleted
from simulator import Simulator, Tenant
from tests.fixtures.fetcher import add_users, config
from tests.integration.test_simulator_graph import bearer, get


@pytest.fixture
async def http(simulator: Simulator):
    async with aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(ssl=simulator.client_ssl_context())
    ) as session:
        yield session


GUESTS_OUT = {"include": [{"attribute": "userType", "op": "eq", "value": "Member"}]}


def guests_and_members(tenant: Tenant) -> tuple[str, set[str]]:
    """3,000 users in one group, one in ten a member, the rest guests."""
    group = tenant.add_group(displayName="Everyone")
    users = add_users(tenant, group, 3000, "u")
    members = set(users[::10])
    for uid in users:
        tenant.update_user(uid, userType="Member" if uid in members else "Guest")
    return group, members


async def test_a_pushed_rule_reads_only_the_users_in_scope(fetch_bench):
    b = fetch_bench
    group, members = guests_and_members(b.tenant)
    request = await b.run(await b.team(), config(group, scope=GUESTS_OUT))
    await b.fetcher(photos=False, use_delta=False).on_sync_requested(request)

    done = b.published.messages[-1]
    assert isinstance(done, SnapshotCompleted), done
    seen = {u.id for p in b.published.of(MembersFetched) for u in p.users}
    assert seen == members
    assert b.sim.requests[b.tenant.tenant_id]["transitiveMembers"] == 1  # 300 users: one page, not four
    assert done.excluded == [] and done.excluded_count == 0  # Graph left them out


async def test_a_rule_graph_cannot_answer_is_tested_after_the_read(fetch_bench):
    b = fetch_bench
    group, members = guests_and_members(b.tenant)
    # u0, u10, u20...: the members (a pattern, which has no OData form)
    scope = {"include": [{"attribute": "userPrincipalName", "op": "matches", "value": "U*0@*"}]}
    request = await b.run(await b.team(), config(group, scope=scope))
    await b.fetcher(photos=False, use_delta=False).on_sync_requested(request)

    seen = {u.id for p in b.published.of(MembersFetched) for u in p.users}
    assert seen == members
    assert b.sim.requests[b.tenant.tenant_id]["transitiveMembers"] == 4  # everyone read, then tested


async def test_a_dry_run_reads_everyone_and_names_whom_the_rules_leave_out(fetch_bench):
    b = fetch_bench
    group, members = guests_and_members(b.tenant)
    request = await b.run(await b.team(), config(group, scope=GUESTS_OUT), dry_run=True)
    await b.fetcher(photos=False).on_sync_requested(request)

    done = b.published.messages[-1]
    assert isinstance(done, SnapshotCompleted) and done.mode == "full"
    assert {u.id for p in b.published.of(MembersFetched) for u in p.users} == members
    assert done.excluded_count == 2700 and len(done.excluded) == 1000
    assert done.excluded[0]["rule"] == "include[0]: userType eq 'Member'"
    assert not {e["directory_id"] for e in done.excluded} & members


@pytest.mark.parametrize(
    ("path", "query", "advanced", "status"),
    [
        # the members cast to users, as an advanced query: taken
        ("/transitiveMembers/microsoft.graph.user", "userType eq 'Guest'", True, 200),
        ("/transitiveMembers/microsoft.graph.user", "not(endswith(userPrincipalName, '@x.test'))", True, 200),
        (
            "/transitiveMembers/microsoft.graph.user",
            "department in ('A', 'B') and accountEnabled eq true",
            True,
            200,
        ),
        # refused as Graph refuses them
        ("/transitiveMembers/microsoft.graph.user", "userType eq 'Guest'", False, 400),  # not advanced
        ("/transitiveMembers", "userType eq 'Guest'", True, 400),  # no cast to users
        ("/transitiveMembers/microsoft.graph.user", "endswith(department, 'x')", True, 400),
        ("/transitiveMembers/microsoft.graph.user", "startswith(userType, 'G')", True, 400),
        (
            "/transitiveMembers/microsoft.graph.user",
            "jobTitle eq 'x' or userType eq 'Guest' and a eq 'b'",
            True,
            400,
        ),
        ("/transitiveMembers/microsoft.graph.user", "nosuch eq 'x'", True, 400),
        ("/transitiveMembers/microsoft.graph.user", "userType eq 'Guest", True, 400),
        # on the user list: department only in an advanced query, userType eq by default
        ("/users", "department eq 'Sales'", False, 400),
        ("/users", "department eq 'Sales'", True, 200),
        ("/users", "userType eq 'Guest'", False, 200),
        ("/users", "userType ne 'Guest'", False, 400),
    ],
)
async def test_the_simulator_filters_users_as_graph_does(
    simulator: Simulator, http, path, query, advanced, status
):
    tenant = simulator.add_tenant(Tenant())
    tenant.register_app("11111111-2222-4333-8444-555555555555", "secret~x")
    group = tenant.add_group(displayName="G")
    add_users(tenant, group, 3, "u")
    headers = bearer(simulator, tenant)
    base = (
        f"{simulator.graph_url}/users" if path == "/users" else f"{simulator.graph_url}/groups/{group}{path}"
    )
    url = f"{base}?$filter={quote(query)}"
    if advanced:
        url += "&$count=true"
        headers["ConsistencyLevel"] = "eventual"
    got, body = await get(http, url, headers)
    assert got == status, body
    if status == 400:
        assert body["error"]["code"] in ("Request_UnsupportedQuery", "Request_BadRequest")
