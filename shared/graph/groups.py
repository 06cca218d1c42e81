"""Searching a tenant's groups by name, for the admin choosing which groups to sync (R2)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from shared.graph import links
from shared.graph.client import GraphClient
from shared.graph.connection import credentials_for
from shared.settings import Settings

GROUP_FIELDS = "id,displayName,description,mail"


def search_clause(term: str) -> str:
    """``"displayName:<term>"``. Double quotes and backslashes, which would end or escape the clause, become
    spaces (the search matches the words of a name, so it finds what it found with them); control characters
    go."""
    return f'"displayName:{_words(term)}"'


def _words(term: str) -> str:
    return " ".join("".join(" " if ch in '"\\' else ch for ch in term if ch.isprintable()).split())


def search_params(search: str, limit: int) -> dict[str, str]:
    params = {"$select": GROUP_FIELDS, "$top": str(max(1, min(limit, 999)))}
    if _words(search):
        params["$search"] = search_clause(search)
    return params


def group_summary(group: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "id": group["id"],
        "display_name": group.get("displayName") or "",
        "description": group.get("description"),
        "mail": group.get("mail"),
    }


async def search_groups(
    settings: Settings,
    connection_row: Mapping[str, Any],
    search: str,
    limit: int,
    graph: GraphClient | None = None,
) -> list[dict[str, Any]]:
    """Up to ``limit`` groups whose display name matches ``search`` (every group when blank), by name.

    Raises shared.graph.errors.GraphError subclasses with an admin-readable ``reason``."""
    groups, _ = await search_group_page(settings, connection_row, search, limit, graph=graph)
    return groups


async def search_group_page(
    settings: Settings,
    connection_row: Mapping[str, Any],
    search: str,
    limit: int,
    next_link: str | None = None,
    graph: GraphClient | None = None,
) -> tuple[list[dict[str, Any]], str | None]:
    """A page of at most ``limit`` groups matching ``search`` (by name within the page) and Graph's whole
    ``@odata.nextLink`` to the next one, if any; with ``next_link``, the page it leads to (its query, $top and
    $search included, is Graph's own; only the header is sent again). A link outside the Graph base is
    refused before anything is sent (GraphLinkRefused).

    Raises shared.graph.errors.GraphError subclasses with an admin-readable ``reason``."""
    own = graph is None
    client = graph or GraphClient.from_settings(settings)
    try:
        tenant = client.for_tenant(credentials_for(settings, connection_row))
        # $search on directory objects needs the eventual-consistency index, on every page.
        consistency = {"ConsistencyLevel": "eventual"}
        if next_link:
            page = await tenant.get_json(next_link, headers=consistency)
        else:
            page = await tenant.get_json("/groups", search_params(search, limit), consistency)
    finally:
        if own:
            await client.close()
    page = page or {}
    link = page.get("@odata.nextLink")
    if link is not None:
        link = links.check(client.graph_url, str(link), "Graph answered with a next link")
    groups = [group_summary(g) for g in page.get("value", [])][:limit]
    return sorted(groups, key=lambda g: (g["display_name"].casefold(), g["id"])), link
