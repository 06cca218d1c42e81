"""Links Graph hands back are followed only under the Graph base: a stand-in Graph whose pages link to a
second server, which must never hear from the client (so never see its token)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Self

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from shared.graph.client import GraphClient
from shared.graph.errors import GraphLinkRefused
from shared.graph.tokens import Credentials, TokenProvider
from shared.messages import SnapshotCompleted
from tests.fixtures.fetcher import add_users, config


class Recording:
    """A local HTTP server answering every request with ``answer(its own base URL)``, keeping what it was
    sent."""

    def __init__(self, answer: Callable[[str], dict[str, Any]] = lambda base: {"value": []}):
        self.answer = answer
        self.seen: list[tuple[str, str | None]] = []  # (path with query, Authorization header)
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self.server = TestServer(app)

    async def _handle(self, request: web.Request) -> web.Response:
        self.seen.append((request.path_qs, request.headers.get("Authorization")))
        return web.json_response(self.answer(self.base))

    @property
    def base(self) -> str:
        return str(self.server.make_url("/v1.0"))

    async def __aenter__(self) -> Self:
        await self.server.start_server()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.server.close()


@pytest.fixture
async def elsewhere():
    async with Recording() as server:
        yield server


async def tenant_graph(b, graph_url: str):
    """A client whose tokens come from the simulated identity platform (real msal) and whose Graph is
    ``graph_url``."""
    client = GraphClient(
        aiohttp.ClientSession(), TokenProvider(b.sim.authority_url, b.sim.ca_file), graph_url
    )
    return client, client.for_tenant(Credentials(b.tenant.tenant_id, b.client_id, b.secret))


@pytest.mark.parametrize(
    "key, make_link, what",
    [
        ("@odata.nextLink", lambda home, other: f"{other}/users?$skiptoken=2", "a next link"),
        ("@odata.deltaLink", lambda home, other: f"{other}/users/delta()?$deltatoken=2", "a delta link"),
        # Graph's host as user info: the request would go to the host after the @.
        (
            "@odata.nextLink",
            lambda home, other: (
                other.replace("//", f"//{home.split('//')[1].split('/')[0]}@") + "/users?$skiptoken=2"
            ),
            "a next link",
        ),
    ],
)
async def test_a_link_to_another_server_fails_the_read_and_nothing_is_sent_there(
    fetch_bench, elsewhere, key, make_link, what
):
    home_links: dict[str, str] = {}
    async with Recording(lambda base: {"value": [{"id": "1"}], **home_links}) as home:
        base = home.base
        home_links[key] = make_link(base, elsewhere.base)
        client, graph = await tenant_graph(fetch_bench, base)
        try:
            with pytest.raises(GraphLinkRefused) as refused:
                _ = [page async for page in graph.get_pages("/users")]
        finally:
            await client.close()
    shown = home_links[key].split("?")[0]
    assert refused.value.reason.startswith(
        f"Graph answered with {what} to {shown}, which is not the configured Graph base {base}: "
        "the run stops and no token was sent there"
    )
    assert [path for path, _ in home.seen] == ["/v1.0/users"]
    assert home.seen[0][1].startswith("Bearer ")  # the token went to Graph, and only there
    assert elsewhere.seen == [] and graph.requests == 1


async def test_a_next_link_outside_the_base_path_is_not_followed_even_on_the_same_server(fetch_bench):
    async with Recording(lambda base: {"value": [], "@odata.nextLink": base + "/../beta/users"}) as home:
        client, graph = await tenant_graph(fetch_bench, home.base)
        try:
            with pytest.raises(GraphLinkRefused, match="a next link to .*/v1.0/../beta/users"):
                _ = [page async for page in graph.get_pages("/users")]
        finally:
            await client.close()
    assert [path for path, _ in home.seen] == ["/v1.0/users"]


async def test_a_stored_delta_link_to_another_server_is_not_followed_the_run_reads_everything(
    fetch_bench, elsewhere
):
    b = fetch_bench
    group = b.tenant.add_group(displayName="Team")
    add_users(b.tenant, group, 3, "u")
    team = await b.team()
    first = await b.run(team, config(group))
    await b.fetcher(photos=False).on_sync_requested(first)
    await b.finish(first)
    # The run's links wait as pending until the next run finds it succeeded: both are outside input.
    changed = await b.pool.execute(
        "UPDATE fetcher_delta_links SET pending_link = $2 WHERE team_id = $1 AND kind = 'users'",
        team,
        f"{elsewhere.base}/users/delta()?$deltatoken=stolen",
    )
    assert changed == "UPDATE 1"

    b.published.messages.clear()
    await b.fetcher(photos=False).on_sync_requested(await b.run(team, config(group)))
    done = b.published.messages[-1]
    assert isinstance(done, SnapshotCompleted) and done.mode == "full"
    assert elsewhere.seen == []
