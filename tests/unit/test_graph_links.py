"""Where a Graph token may go: only under the configured Graph base."""

from __future__ import annotations

import pytest

from shared.graph.errors import GraphError, GraphLinkRefused
from shared.graph.links import check, within_base

BASE = "https://graph.microsoft.com/v1.0"


@pytest.mark.parametrize(
    "link",
    [
        "https://graph.microsoft.com/v1.0/users?$skiptoken=X%27Y",
        "https://graph.microsoft.com/v1.0/users/delta()?$deltatoken=abc",
        "https://graph.microsoft.com/v1.0/groups/1234/transitiveMembers?$top=999&$skiptoken=RFNwdAIAAQAAAA",
        "HTTPS://Graph.Microsoft.COM/v1.0/users",  # scheme and host compare without case
        "https://graph.microsoft.com:443/v1.0/users",  # the default port, written out
        "https://graph.microsoft.com/v1.0",
        "https://graph.microsoft.com/v1.0/directoryRoles(roleTemplateId='62e90394')/members",
    ],
)
def test_links_under_the_base_are_followed(link):
    assert within_base(BASE, link)
    assert check(BASE, link, "Graph answered with a next link") == link


@pytest.mark.parametrize(
    "link",
    [
        "http://graph.microsoft.com/v1.0/users",  # plain http: the token would cross the wire in clear
        "https://evil.example/v1.0/users",
        "https://graph.microsoft.com.evil.example/v1.0/users",
        "https://evil.example/graph.microsoft.com/v1.0/users",
        "https://graph.microsoft.com@evil.example/v1.0/users",  # user info: the host is evil.example
        "https://graph.microsoft.com:443@evil.example/v1.0/users",
        "https://user:pw@graph.microsoft.com/v1.0/users",  # user info even towards the right host
        "https://@graph.microsoft.com/v1.0/users",
        "https://graph.microsoft.com:8443/v1.0/users",  # another port
        "https://graph.microsoft.com/beta/users",  # a path outside the base's
        "https://graph.microsoft.com/v1.0evil/users",
        "https://graph.microsoft.com/",
        "https://graph.microsoft.com/v1.0/../beta/users",  # a server resolves dot segments
        "https://graph.microsoft.com/v1.0/%2e%2e/beta/users",
        "https://graph.microsoft.com/v1.0/..%2fbeta/users",
        "https://graph.microsoft.com/v1.0/x%5c..%5c..%5cbeta",
        "https://graph.microsoft.com\\@evil.example/v1.0/users",  # backslash: parsers disagree
        "https://graph.microsoft.com/v1.0/users\r\nHost: evil.example",
        "https://graph.microsoft.com/v1.0/us ers",
        "https://grаph.microsoft.com/v1.0/users",  # a Cyrillic a
        "//evil.example/v1.0/users",  # scheme-relative
        "/v1.0/users",  # relative: Graph's links are absolute
        "https:graph.microsoft.com/v1.0/users",
        "javascript:alert(1)",
        "",
        "https://[::1/v1.0",  # not a URL at all
    ],
)
def test_links_elsewhere_are_refused(link):
    assert not within_base(BASE, link)
    with pytest.raises(GraphLinkRefused) as refused:
        check(BASE, link, "Graph answered with a next link")
    assert refused.value.reason.startswith("Graph answered with a next link to ")
    assert f"which is not the configured Graph base {BASE}: the run stops and no token was sent there" in (
        refused.value.reason
    )


def test_the_refusal_is_a_permanent_graph_error_that_names_the_link_without_its_query():
    with pytest.raises(GraphError) as refused:
        check(
            BASE,
            "https://evil.example/v1.0/users?$skiptoken=secretish\x01",
            "Graph answered with a delta link",
        )
    assert not refused.value.transient
    assert refused.value.reason.startswith(
        "Graph answered with a delta link to https://evil.example/v1.0/users,"
    )
    assert "secretish" not in refused.value.reason
    with pytest.raises(GraphLinkRefused) as odd:  # the reason stays one line whatever the link holds
        check(BASE, "https://evil.example/\r\nx", "a request was to go")
    assert "\\x0d\\x0a" in odd.value.reason and "\n" not in odd.value.reason


def test_a_base_on_another_port_or_without_a_path():
    local = "http://127.0.0.1:8081/v1.0/"
    assert within_base(local, "http://127.0.0.1:8081/v1.0/users")
    assert not within_base(local, "http://127.0.0.1:8082/v1.0/users")
    assert not within_base(local, "http://localhost:8081/v1.0/users")
    assert within_base("https://graph.example", "https://graph.example/anything")
    assert not within_base("https://graph.example", "https://graph.example.org/anything")
