"""Which application permissions a sync configuration needs, and reading them from a token's roles claim."""

from __future__ import annotations

import base64

import orjson

from shared.graph.permissions import needs, token_roles


def _token(claims: object) -> str:
    part = base64.urlsafe_b64encode(orjson.dumps(claims)).decode().rstrip("=")
    return f"eyJhbGciOiJSUzI1NiJ9.{part}.signature"


def test_the_configuration_decides_what_is_needed():
    assert [n.permission for n in needs(None)] == [
        "User.Read.All",
        "GroupMember.Read.All",
        "ProfilePhoto.Read.All",
    ]
    config = {"fields": {"photo": {"sync": False}}, "use_admin_roles": True, "realtime": True}
    assert [n.permission for n in needs(config)] == [
        "User.Read.All",
        "GroupMember.Read.All",
        "RoleManagement.Read.Directory",
        "Group.Read.All",
    ]


def test_a_broader_permission_serves_and_the_least_is_named():
    users, groups, photos = needs(None)
    roles = frozenset({"Directory.Read.All"})
    assert (
        users.granted_by(roles)
        == groups.granted_by(roles)
        == photos.granted_by(roles)
        == "Directory.Read.All"
    )
    assert photos.granted_by(frozenset({"User.Read.All"})) == "User.Read.All"
    assert groups.granted_by(frozenset({"User.Read.All"})) is None


def test_roles_are_read_from_the_token_and_nothing_else_counts():
    assert token_roles(_token({"roles": ["User.Read.All", 7, "GroupMember.Read.All"]})) == {
        "User.Read.All",
        "GroupMember.Read.All",
    }
    for bad in ("opaque-token", "a.b", "a.!!!.c", _token({"roles": "User.Read.All"}), _token(["x"])):
        assert token_roles(bad) == frozenset()
    assert token_roles(_token({"scp": "User.Read"})) == frozenset()
