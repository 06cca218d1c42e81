"""The tenant model, its generator and the pieces it is made of, without a server."""

from __future__ import annotations

import time

import pytest

from simulator import GLOBAL_ADMINISTRATOR, GROUPS_ADMINISTRATOR, Tenant, generate_tenant
from simulator.errors import GraphError
from simulator.images import dimensions, jpeg, png
from simulator.limits import Limits, budget_for, cost
from simulator.membership import flatten
from simulator.reply_urls import reply_url_error, reply_url_matches, response_url


def test_flatten_includes_nested_groups_and_survives_cycles():
    members = {"a": {"b", "u1"}, "b": {"a", "c", "u2"}, "c": {"u1", "u3"}}
    assert flatten("a", members, members.keys()) == ["b", "c", "u1", "u2", "u3"]


def test_mutations_are_logged_and_invalidate_the_membership_cache():
    tenant = Tenant()
    gid = tenant.add_group(displayName="Team")
    uid = tenant.add_user(displayName="Ana", userPrincipalName="ana@x.test")
    assert tenant.transitive_member_ids(gid) == tenant.direct_member_ids(gid) == []
    tenant.add_member(gid, uid)
    assert tenant.transitive_member_ids(gid) == tenant.direct_member_ids(gid) == [uid]
    tenant.update_user(uid, jobTitle="Lead", displayName="Ana")
    tenant.delete_user(uid, permanent=True)
    assert tenant.transitive_member_ids(gid) == tenant.direct_member_ids(gid) == []
    ops = [(c.kind, c.op, c.props, c.reason) for c in tenant.changes.since(0, "user")]
    assert ops == [
        ("user", "add", frozenset(), None),
        ("user", "update", frozenset({"jobTitle"}), None),
        ("user", "delete", frozenset(), "deleted"),
    ]


def test_photo_etag_changes_and_app_secrets_rotate():
    tenant = Tenant()
    uid = tenant.add_user(displayName="Ana")
    tenant.set_photo(uid, png((1, 2, 3)), "image/png")
    first = tenant.photo_etags[uid]
    tenant.set_photo(uid, png((1, 2, 3)), "image/png")
    assert tenant.photo_etags[uid] != first
    client_id, secret = tenant.register_app()
    assert tenant.rotate_secret(client_id) != secret and "User.Read.All" in tenant.permissions[client_id]


def test_reply_urls_are_checked_on_registration_and_matched_exactly():
    tenant = Tenant()
    client_id, _ = tenant.register_app(redirect_uris=["https://app.example/cb"])
    for bad in ("http://app.example/cb", "https://*.example/cb", "https://app.example/cb#x", "cb", "x" * 257):
        with pytest.raises(ValueError):
            tenant.add_redirect_uri(client_id, bad)
    tenant.add_redirect_uri(client_id, "http://localhost:5000/signin")
    tenant.add_redirect_uri(client_id, "https://app.example/cb")
    registered = tenant.redirect_uris[client_id]
    assert registered == ["https://app.example/cb", "http://localhost:5000/signin"]
    assert reply_url_matches(registered, "http://localhost:61234/signin")  # a loopback port does not count
    for other in (
        "https://app.example/CB",
        "https://app.example/cb/",
        "https://app.example:444/cb",
        "http://127.0.0.1:5000/signin",
        "http://localhost:5000/signin/x",
    ):
        assert not reply_url_matches(registered, other)
    assert reply_url_error([], client_id, "https://app.example/cb")[0] == 500113
    assert reply_url_error(registered, client_id, None)[0] == 900971
    assert reply_url_error(registered, client_id, "https://app.example/cb2")[0] == 50011
    assert reply_url_error(registered, client_id, "https://app.example/cb") is None
    assert response_url("https://app.example", {"code": "a b"}) == "https://app.example/?code=a+b"
    assert response_url("https://app.example/cb?x=1", {"state": "s"}) == "https://app.example/cb?x=1&state=s"
    assert (
        response_url("https://app.example/cb", {"code": "c"}, "fragment") == "https://app.example/cb#code=c"
    )


def test_generated_tenant_is_deterministic_and_shaped():
    one, two = generate_tenant(300, 9, seed=5), generate_tenant(300, 9, seed=5)
    assert one.tenant_id == two.tenant_id and list(one.users) == list(two.users)
    all_staff = next(gid for gid, g in one.groups.items() if g["displayName"] == "All Staff")
    flat = set(one.transitive_member_ids(all_staff))
    assert set(one.users) <= flat and flat & set(one.devices) and flat & set(one.groups)
    assert len(one.roles[GLOBAL_ADMINISTRATOR]) == 2 and len(one.roles[GROUPS_ADMINISTRATOR]) == 2
    assert 0.15 < len(one.photos) / 300 < 0.45
    assert len({data for data, _ in one.photos.values()}) <= 8
    assert one.changes.entries == []


def test_a_hundred_thousand_users_generate_quickly():
    started = time.monotonic()
    tenant = generate_tenant(100_000, 100, seed=2)
    assert len(tenant.users) == 100_000
    assert time.monotonic() - started < 15


def test_images_are_valid_and_sized():
    assert dimensions(png((0, 0, 0), 48)) == (48, 48)
    image = jpeg((200, 30, 90), 64)
    assert image.startswith(b"\xff\xd8") and image.endswith(b"\xff\xd9") and dimensions(image) == (64, 64)


def test_costs_and_budget():
    assert cost("transitiveMembers", selected=True, expanded=False) == 4
    assert cost("photo", selected=True, expanded=False) == 1
    assert (budget_for(10), budget_for(200), budget_for(5000)) == (3500, 5000, 8000)
    limits = Limits()
    limits.budget["t"] = 5
    limits.admit("t", "app", "transitiveMembers", "k", 5)
    with pytest.raises(GraphError) as caught:
        limits.admit("t", "app", "users", "k2", 1)
    assert caught.value.status == 429 and "Retry-After" in caught.value.headers
