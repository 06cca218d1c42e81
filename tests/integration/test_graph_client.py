"""The Graph client against the simulator: group search, and batches with throttled items."""

from __future__ import annotations

import base64

from shared.graph.batch import batch_get
from shared.graph.groups import search_groups
from shared.graph.tokens import Credentials
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
