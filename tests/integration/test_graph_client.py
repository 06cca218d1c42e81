"""The Graph client against the simulator: group search, batches with throttled items, paging."""

from __future__ import annotations

import asyncio
import base64
import contextlib

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from services.fetcher.records import fetch_users
from shared.graph.batch import batch_get
from shared.graph.client import GraphClient
from shared.graph.errors import GraphForbidden
from shared.graph.groups import search_groups
from shared.graph.tokens import Credentials, TokenProvider
from simulator.images import jpeg


async def test_group_search_by_name(fetch_bench):
    b = fetch_bench
    for name in ("Sales EU", "Sales US", "Engineering", "O'Brien's team"):
        b.tenant.add_group(displayName=name, description=f"about {name}", mail=None)
    row = await b.pool.fetchrow("SELECT * FROM directory_connections WHERE team_id = $1", await b.team())

    found = await search_groups(b.settings, row, "sales", 10)
    assert [g["display_name"] for g in found] == ["Sales EU", "Sales US"]
    assert set(found[0]) == {"id", "display_name", "description", "mail"}
    assert [
        g["display_name"] for g in await search_groups(b.settings, row, "O'Brien", 10, graph=b.graph)
    ] == ["O'Brien's team"]
    assert len(await search_groups(b.settings, row, "", 3, graph=b.graph)) == 3


async def test_a_batch_resends_only_its_throttled_items(fetch_bench):
    b = fetch_bench
    users = [b.tenant.add_user(displayName=f"u{i}", userPrincipalName=f"u{i}@x") for i in range(5)]
    picture = jpeg((1, 2, 3))
    b.tenant.set_photo(users[0], picture)
    graph = b.graph.for_tenant(Credentials(b.tenant.tenant_id, b.client_id, b.secret))
    b.sim.throttle(b.tenant.tenant_id, times=2, retry_after=1)

    answers = await batch_get(graph, {str(i): f"/users/{u}/photo/$value" for i, u in enumerate(users)})
    statuses = {a.id: a.status for a in answers}
    assert statuses == {"0": 200, "1": 404, "2": 404, "3": 404, "4": 404}
    assert base64.b64decode(next(a.body for a in answers if a.id == "0")) == picture
    assert graph.requests == 2 and graph.budget.waited == 1


async def test_a_batch_item_that_failed_for_now_is_sent_again_as_a_request_of_its_own_would_be(fetch_bench):
    b = fetch_bench
    users = [b.tenant.add_user(displayName=f"u{i}", userPrincipalName=f"u{i}@x") for i in range(5)]
    graph = b.graph.for_tenant(Credentials(b.tenant.tenant_id, b.client_id, b.secret))
    for status in (504, 500):
        b.sim.throttle(b.tenant.tenant_id, times=1, retry_after=0, status=status)
    answers = await batch_get(graph, {str(i): f"/users/{u}?$select=id" for i, u in enumerate(users)})
    assert sorted((a.id, a.status) for a in answers) == [(str(i), 200) for i in range(5)]
    assert graph.requests == 2 and graph.budget.waited == 0  # the two failed items again, after a backoff

    b.sim.throttle(
        b.tenant.tenant_id, times=10, retry_after=0, status=502
    )  # more than a few: the answer stands
    answers = await batch_get(graph, {"0": f"/users/{users[0]}?$select=id"})
    assert [(a.id, a.status) for a in answers] == [("0", 502)]


async def test_a_refused_batch_item_names_the_permission_it_needs(fetch_bench):
    b = fetch_bench
    user = b.tenant.add_user(displayName="u", userPrincipalName="u@x")
    b.tenant.revoke(b.client_id, "User.Read.All")
    graph = b.graph.for_tenant(Credentials(b.tenant.tenant_id, b.client_id, b.secret))
    with pytest.raises(GraphForbidden, match="User.Read.All"):
        await fetch_users(graph, [user], "id,displayName", ["displayName"])


async def wait_for(predicate, timeout: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.01)


async def test_the_next_page_is_on_its_way_while_the_caller_reads_this_one(fetch_bench):
    b = fetch_bench
    for i in range(5):
        b.tenant.add_user(displayName=f"u{i}", userPrincipalName=f"u{i}@x")
    graph = b.graph.for_tenant(Credentials(b.tenant.tenant_id, b.client_id, b.secret))
    counted = b.sim.requests[b.tenant.tenant_id]
    params = {"$select": "id", "$top": 2}

    pages = graph.get_pages("/users", params)
    async with contextlib.aclosing(pages):
        first = await anext(pages)
        await wait_for(lambda: counted["users"] == 2)  # asked for before the first page is done with
        assert len(first["value"]) == 2
    assert graph.requests == 2 and counted["users"] == 2  # stopping early asks for nothing more

    listed = [u["id"] async for page in graph.get_pages("/users", params) for u in page["value"]]
    assert sorted(listed) == sorted(b.tenant.users) and graph.requests == 2 + 3


async def test_a_body_is_read_only_up_to_the_limit_and_one_byte(fetch_bench):
    """A stand-in for Graph: one photo 64 MiB long whose length is not announced (chunked), one whose length
    is announced, one small enough."""
    limit = 4 * 1024 * 1024
    written: list[int] = []
    endless = 64 * 1024 * 1024

    async def streamed(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "image/jpeg"})
        await response.prepare(request)
        with contextlib.suppress(ConnectionError):  # the client hangs up once it has read enough
            for _ in range(endless // (128 * 1024)):
                await response.write(bytes(128 * 1024))
                written.append(128 * 1024)
        return response

    async def announced(request: web.Request) -> web.Response:
        return web.Response(body=bytes(limit + 1))

    async def small(request: web.Request) -> web.Response:
        return web.Response(body=bytes(limit))

    app = web.Application()
    for handler in (streamed, announced, small):
        app.router.add_get(f"/v1.0/{handler.__name__}", handler)
    async with TestServer(app) as server:
        b = fetch_bench
        client = GraphClient(
            aiohttp.ClientSession(),
            TokenProvider(b.sim.authority_url, b.sim.ca_file),
            str(server.make_url("/v1.0")),
        )
        graph = client.for_tenant(Credentials(b.tenant.tenant_id, b.client_id, b.secret))
        try:
            cut = await graph.request("GET", graph.url("/streamed"), max_body=limit)
            announced = await graph.request("GET", graph.url("/announced"), max_body=limit)
            small = await graph.request("GET", graph.url("/small"), max_body=limit)
        finally:
            await client.close()
    assert (cut.complete, len(cut.body)) == (False, limit + 1)
    assert sum(written) < endless  # the rest was never asked for
    # Too long by its own account: not read at all.
    assert (announced.complete, announced.body) == (False, b"")
    assert (small.complete, len(small.body)) == (True, limit)
