"""Directory role holders, for ``use_admin_roles`` (R12)."""

from __future__ import annotations

from services.fetcher.pages import USER_TYPE
from shared.graph.client import TenantGraph
from shared.graph.errors import GraphNotFound

GLOBAL_ADMINISTRATOR = "62e90394-69f5-4237-9190-012177145e10"
GROUPS_ADMINISTRATOR = "fdd7a751-b60b-444a-984c-02652fe8fa1c"
ROLE_TEMPLATES = (GLOBAL_ADMINISTRATOR, GROUPS_ADMINISTRATOR)


async def role_holders(graph: TenantGraph, template_id: str) -> list[str]:
    """Ids of the users holding a role; a role never activated in the tenant (404) has none."""
    try:
        # Role members do not page (at most 1,000 come back at once).
        answer = await graph.get_json(
            f"/directoryRoles(roleTemplateId='{template_id}')/members", {"$select": "id"}
        )
    except GraphNotFound:
        return []
    return sorted(
        item["id"] for item in answer.get("value", []) if item.get("@odata.type", USER_TYPE) == USER_TYPE
    )


async def read_roles(graph: TenantGraph) -> dict[str, list[str]]:
    return {template_id: await role_holders(graph, template_id) for template_id in ROLE_TEMPLATES}
