"""Searching a tenant's groups by name, for the admin choosing which groups to sync (R2)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

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
    own = graph is None
    client = graph or GraphClient.from_settings(settings)
    try:
        tenant = client.for_tenant(credentials_for(settings, connection_row))
        # $search on directory objects needs the eventual-consistency index.
        page = await tenant.get_json(
            "/groups", search_params(search, limit), {"ConsistencyLevel": "eventual"}
        )
    finally:
        if own:
            await client.close()
    groups = [group_summary(g) for g in (page or {}).get("value", [])][:limit]
    return sorted(groups, key=lambda g: (g["display_name"].casefold(), g["id"]))
