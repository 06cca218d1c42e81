"""Directory role holders, for ``use_admin_roles`` (R12)."""

from __future__ import annotations

from services.fetcher.pages import GROUP_TYPE, USER_TYPE
from services.fetcher.tree import gather_all, group_path
from shared.graph.client import TenantGraph
from shared.graph.errors import GraphNotFound

GLOBAL_ADMINISTRATOR = "62e90394-69f5-4237-9190-012177145e10"
GROUPS_ADMINISTRATOR = "fdd7a751-b60b-444a-984c-02652fe8fa1c"
ROLE_TEMPLATES = (GLOBAL_ADMINISTRATOR, GROUPS_ADMINISTRATOR)


async def role_holders(graph: TenantGraph, template_id: str) -> list[str]:
    """Ids of the users holding a role, themselves or through a role-assignable group they are in; a role
    never activated in the tenant (404) has none."""
    try:
        # Role members do not page (at most 1,000 come back at once).
        answer = await graph.get_json(
            f"/directoryRoles(roleTemplateId='{template_id}')/members", {"$select": "id"}
        )
    except GraphNotFound:
        return []
    members = answer.get("value", [])
    holders = {item["id"] for item in members if item.get("@odata.type", USER_TYPE) == USER_TYPE}
    groups = sorted(item["id"] for item in members if item.get("@odata.type") == GROUP_TYPE)
    for users in await gather_all(_users_in(graph, group) for group in groups):
        holders.update(users)
    return sorted(holders)


async def _users_in(graph: TenantGraph, group_id: str) -> list[str]:
    # The plain relationship, non-users dropped by type, as ``full`` reads a group: the cast to
    # microsoft.graph.user is an advanced query for Graph (eventual consistency, $count).
    users: list[str] = []
    params = {"$select": "id", "$top": 999}
    async for page in graph.get_pages(group_path(group_id, "/transitiveMembers"), params):
        users.extend(item["id"] for item in page.get("value", []) if item.get("@odata.type") == USER_TYPE)
    return users


async def read_roles(graph: TenantGraph) -> dict[str, list[str]]:
    return {template_id: await role_holders(graph, template_id) for template_id in ROLE_TEMPLATES}
