"""Delta and listing logic of the simulated Graph, driven through its router without HTTP."""

from __future__ import annotations

import pytest

from simulator import Tenant, router
from simulator.delta import DeltaStore
from simulator.limits import Limits
from simulator.request import GraphRequest, split_url
from simulator.tenant import GRAPH_PERMISSIONS

GRAPH = "https://graph.test/v1.0"


@pytest.fixture
def tenant() -> Tenant:
    tenant = Tenant()
    gid = tenant.add_group(id="g-big", displayName="Big")
    for i in range(25):
        tenant.add_member(gid, tenant.add_user(id=f"u{i:02}", displayName=f"User {i}"))
    return tenant


def call(tenant: Tenant, store: DeltaStore, url: str) -> tuple[int, dict]:
    path, query = split_url(url)
    req = GraphRequest("GET", path, query, {}, tenant, "app", GRAPH_PERMISSIONS, GRAPH, store)
    response = router.run(req, Limits())
    return response.status, response.body


def follow(tenant: Tenant, store: DeltaStore, url: str) -> tuple[list[dict], str, int]:
    items, pages = [], 0
    while True:
        status, body = call(tenant, store, url)
        assert status == 200, body
        items, pages = items + body["value"], pages + 1
        if "@odata.deltaLink" in body:
            return items, body["@odata.deltaLink"], pages
        url = body["@odata.nextLink"]


def test_a_big_group_spans_items_and_pages(tenant):
    store = DeltaStore(page_size=2, member_chunk=10)
    items, _, pages = follow(tenant, store, f"{GRAPH}/groups/delta?$select=displayName,members")
    assert [len(i["members@delta"]) for i in items] == [10, 10, 5]
    assert items[0]["displayName"] == "Big" and set(items[1]) == {"id", "members@delta"}
    assert pages == 2


def test_changes_during_a_round_are_replayed_next_round(tenant):
    store = DeltaStore(page_size=10)
    _status, first = call(tenant, store, f"{GRAPH}/users/delta")
    tenant.update_user("u24", displayName="Renamed")  # while the round is under way
    items, link, _ = follow(tenant, store, first["@odata.nextLink"])
    assert {"id": "u24", "displayName": "Renamed"} in [
        {k: i[k] for k in ("id", "displayName")} for i in items
    ]
    items, _, _ = follow(tenant, store, link)
    assert items == [{"displayName": "Renamed", "id": "u24"}]


def test_delta_refuses_top_and_unknown_tokens(tenant):
    store = DeltaStore()
    assert call(tenant, store, f"{GRAPH}/users/delta?$top=5")[0] == 400
    status, body = call(tenant, store, f"{GRAPH}/users/delta?$deltatoken=forged")
    assert (status, body["error"]["code"]) == (400, "syncStateNotFound")


def test_delta_filter_by_ids(tenant):
    items, _, _ = follow(tenant, DeltaStore(), f"{GRAPH}/users/delta?$filter=id eq 'u01' or id eq 'u07'")
    assert [i["id"] for i in items] == ["u01", "u07"]


def test_a_full_last_page_is_followed_by_an_empty_one(tenant):
    _, body = call(tenant, DeltaStore(), f"{GRAPH}/groups/g-big/members?$top=25")
    assert len(body["value"]) == 25 and "@odata.nextLink" in body
    _status, body = call(tenant, DeltaStore(), body["@odata.nextLink"])
    assert body["value"] == [] and "@odata.nextLink" not in body


def test_count_needs_eventual_consistency(tenant):
    status, _body = call(tenant, DeltaStore(), f"{GRAPH}/groups/g-big/members?$count=true")
    assert status == 400
