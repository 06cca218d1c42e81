"""Later runs: what changed since the last run, from ``/users/delta`` (the selected properties) and
``/groups/delta`` (names and members of the groups in the graph), turned against the stored group graph into
who joined or left each synced group, whose record changed and who was deleted.

Both delta streams are read to the end before any page is sent, so an expired token (or a group newly nested,
which the graph has not read) turns into a full read with nothing sent yet. Joined and changed users are then
read whole: pages always carry complete records, as in a full read."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from services.fetcher.graph_model import (
    Diff,
    GroupChanges,
    NeedsFullRead,
    UserChanges,
    merge_group_item,
    merge_user_item,
)
from services.fetcher.pages import PageSink
from services.fetcher.records import fetch_users
from services.fetcher.tree import Tree
from services.fetcher.user_properties import select_param
from shared.config import SyncConfig
from shared.graph.client import TenantGraph
from shared.graph.errors import DeltaExpired, GraphError

log = logging.getLogger(__name__)
GROUP_FILTER_MAX = 50
PAGE_USERS = 999


@dataclass
class Changes:
    groups: GroupChanges = field(default_factory=GroupChanges)
    users: UserChanges = field(default_factory=UserChanges)
    links: dict[str, str] = field(default_factory=dict)


def scope_of(config: SyncConfig, connection: Mapping[str, Any]) -> str:
    """What a delta round is good for: the tenant and app it was read with, the synced groups, the selected
    properties, and every setting that decides what a user's member should look like (mapping, sync and
    overwrite toggles, roles, disabled users, the scope rules of R2). A delta round brings only the users
    whose records changed: after any of these changed, every member must be looked at again, and the next
    run reads everyone (a team connected to another tenant or app since could not use the old delta links
    anyway)."""
    return hashlib.sha256(
        orjson.dumps(
            [
                connection["tenant_id"],
                connection["client_id"],
                sorted(g.id for g in config.groups),
                select_param(config),
                config.model_dump(
                    mode="json",
                    include={"fields", "custom_mappings", "use_admin_roles", "remove_disabled_users"}
                    | ({"scope"} if config.scope else set()),
                ),
            ]
        )
    ).hexdigest()[:32]


def id_filter(ids: Sequence[str]) -> str:
    return " or ".join("id eq '{}'".format(i.replace("'", "''")) for i in ids)


def groups_params(known: Collection[str] | None) -> dict[str, str]:
    """Delta on the graph's groups by id when the filter can name them all (50), else on every group."""
    params = {"$select": "displayName,members"}
    if known is not None and len(known) <= GROUP_FILTER_MAX:
        params["$filter"] = id_filter(sorted(known))
    return params


async def _read(graph: TenantGraph, link: str, merge: Callable[[dict[str, Any]], None]) -> str:
    """Every item up to the end of a delta round; the deltaLink the next round starts from."""
    final = None
    async for page in graph.get_pages(link):
        for item in page.get("value", []):
            merge(item)
        final = page.get("@odata.deltaLink") or final
    if not final:
        raise GraphError(f"Microsoft Graph ended a delta round without a delta link ({link.split('?')[0]})")
    return final


async def _latest(graph: TenantGraph, path: str, params: dict[str, str]) -> str:
    """A link that starts tracking now (``$deltatoken=latest``: no data)."""
    return await _read(graph, graph.url(path, {**params, "$deltatoken": "latest"}), lambda item: None)


async def start_tracking(graph: TenantGraph, select: str) -> dict[str, str]:
    """Taken before a full read, so that changes made during it are replayed by the next delta round. The
    graph's groups are not known yet: every group is tracked until ``finish_tracking``."""
    return {
        "users": await _latest(graph, "/users/delta", {"$select": select}),
        "groups": await _latest(graph, "/groups/delta", groups_params(None)),
    }


async def finish_tracking(
    graph: TenantGraph, links: dict[str, str], tree: Tree, synced: Collection[str]
) -> dict[str, str]:
    """Once the tree is read: a group link filtered on its groups, with the changes made while it was read
    applied to it (they are behind the new link). No links when delta could not follow (a newly nested
    group)."""
    known = set(tree.nesting)
    if len(known) > GROUP_FILTER_MAX:
        return links
    filtered = await _latest(graph, "/groups/delta", groups_params(known))
    changes = GroupChanges()
    try:
        await _read(graph, links["groups"], lambda item: merge_group_item(item, known, synced, changes))
    except (NeedsFullRead, DeltaExpired) as why:
        log.info("delta not set up, the next run reads everything: %s", why)
        return {}
    tree.apply(changes)
    return {"users": links["users"], "groups": filtered}


async def read_changes(
    graph: TenantGraph, links: dict[str, str], known: Collection[str], synced: Collection[str]
) -> Changes:
    changes = Changes()
    changes.links["users"] = await _read(graph, links["users"], lambda i: merge_user_item(i, changes.users))
    changes.links["groups"] = await _read(
        graph, links["groups"], lambda i: merge_group_item(i, known, synced, changes.groups)
    )
    return changes


async def send_diff(
    graph: TenantGraph,
    diff: Diff,
    group_ids: Sequence[str],
    select: str,
    properties: Sequence[str],
    sink: PageSink,
) -> list[str]:
    """Joined and changed users whole, each read once, on the page of every synced group they are in (left
    users by id beside them); then deleted users (and users who vanished before their record was read).
    Returns the ids sent as gone."""
    gone_all: list[str] = list(diff.gone)
    whole = sorted(diff.member_of)
    left = {g: list(diff.left.get(g, [])) for g in group_ids}
    for start in range(0, max(len(whole), 1), PAGE_USERS):
        users, gone = await fetch_users(graph, whole[start : start + PAGE_USERS], select, properties)
        gone_all.extend(gone)
        for group_id in group_ids:
            listed = [u for u in users if group_id in diff.member_of[u.id]]
            await sink.send(group_id, listed, left[group_id][:PAGE_USERS], out_of_scope_left=True)
            del left[group_id][:PAGE_USERS]
    for group_id in group_ids:
        for start in range(0, len(left[group_id]), PAGE_USERS):
            await sink.send(group_id, [], left[group_id][start : start + PAGE_USERS])
    gone_all = list(dict.fromkeys(gone_all))
    for start in range(0, len(gone_all), PAGE_USERS):
        await sink.send(None, [], gone_all[start : start + PAGE_USERS])
    return gone_all
