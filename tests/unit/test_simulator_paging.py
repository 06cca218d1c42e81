"""Paging, selection and query parsing of the simulated Graph, without a server."""

from __future__ import annotations

import pytest

from simulator import properties as props
from simulator.errors import GraphError
from simulator.listing import take
from simulator.odata import parse_filter, parse_search
from simulator.paging import decode_skiptoken, encode_skiptoken, next_link, page_after, parse_top
from simulator.router import resolve


def test_skiptoken_round_trips_and_rejects_forgeries():
    key = "0f6c5a1e-7b55-4d3c-9a57-1c2b3d4e5f60"
    token = encode_skiptoken(key)
    assert key not in token and decode_skiptoken(token) == key
    with pytest.raises(GraphError) as caught:
        decode_skiptoken("abc")
    assert caught.value.status == 400


@pytest.mark.parametrize("raw, expected", [(None, 100), ("1", 1), ("999", 999)])
def test_top_defaults_and_bounds(raw, expected):
    assert parse_top(raw) == expected


@pytest.mark.parametrize("raw", ["0", "1000", "ten"])
def test_top_out_of_range_is_a_bad_request(raw):
    with pytest.raises(GraphError) as caught:
        parse_top(raw)
    assert caught.value.status == 400


def test_pages_cut_by_key_survive_removals():
    keys = [f"{i:03}" for i in range(10)]
    first = page_after(keys, None, 4)
    assert first == ["000", "001", "002", "003"]
    del keys[1]  # an object gone between two pages shifts nothing
    assert page_after(keys, first[-1], 4) == ["004", "005", "006", "007"]
    assert take(keys, "003", 2, lambda k: int(k) % 2 == 0) == ["004", "006"]


def test_next_link_keeps_the_query_and_replaces_the_token():
    link = next_link("https://g/v1.0", "users", {"$select": "id,mail", "$skiptoken": "old"}, "new")
    assert link == "https://g/v1.0/users?$select=id,mail&$skiptoken=new"


def test_shape_uses_defaults_selection_and_nulls():
    user = {"id": "u1", "displayName": "Ana", "department": "Sales", "extension_abc_costCenter": "42"}
    default = props.shape(user, "user", None, typed=False)
    assert default["displayName"] == "Ana" and default["mobilePhone"] is None and "department" not in default
    chosen = props.shape(user, "user", ("department", "extension_abc_costCenter", "jobTitle"), typed=True)
    assert chosen == {
        "@odata.type": "#microsoft.graph.user",
        "department": "Sales",
        "extension_abc_costCenter": "42",
        "jobTitle": None,
        "id": "u1",
    }
    with pytest.raises(GraphError) as info:
        props.check_select(("nickname",), "user")
    assert info.value.status == 400 and "nickname" in str(info.value.body("x"))


def test_filter_doubles_quotes_and_refuses_unsupported_forms():
    match = parse_filter("startswith(displayName,'o''bri')", frozenset({"displayName"}))
    assert match({"displayName": "O'Brien Partners"}) and not match({"displayName": "Sales"})
    for bad in ["startswith(displayName,'o'bri')", "endswith(displayName,'x')"]:
        with pytest.raises(GraphError):
            parse_filter(bad, frozenset({"displayName"}))


def test_search_needs_eventual_consistency():
    with pytest.raises(GraphError):
        parse_search('"displayName:sales"', None)
    match = parse_search('"displayName:sal"', "eventual")
    assert match({"displayName": "EMEA Sales Team"}) and not match({"displayName": "Finance"})


def test_graph_takes_an_object_id_in_either_case():
    _, kind, params = resolve("GET", "groups/0C6D5E4F-0000-4000-8000-00000000000A/transitiveMembers")
    assert kind == "transitiveMembers" and params == {"group_id": "0c6d5e4f-0000-4000-8000-00000000000a"}
    assert resolve("GET", "users/Jane@Contoso.com")[2] == {"user_id": "Jane@Contoso.com"}
