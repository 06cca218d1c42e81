"""Later runs: what changed since the last run, from ``/users/delta`` and ``/groups/delta``.

Used only while every synced group is flat (no nested groups): then a group's direct member changes are its
transitive ones. The delta streams are read to the end (ids only) before any page is sent, so an expired
token (or a group that became nested) turns into a full read with nothing sent yet. Changed and added users
are then read whole through ``$batch``: pages always carry complete records, as in a full read."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from services.fetcher.full import group_path
from services.fetcher.pages import GROUP_TYPE, USER_TYPE, PageSink, user_of
from shared.graph.batch import batch_get, chunks
from shared.graph.client import TenantGraph
from shared.graph.errors import GraphError, group_gone
from shared.messages import DirectoryUser, GroupInfo

GROUP_FILTER_MAX = 50
PAGE_USERS = 999


class NeedsFullRead(Exception):
    """Delta cannot answer this run (no usable links, a nested group appeared): read everything."""


@dataclass
class Changes:
    added: dict[str, dict[str, None]] = field(default_factory=dict)  # group -> ordered set of user ids
    removed: dict[str, dict[str, None]] = field(default_factory=dict)
    changed_users: dict[str, None] = field(default_factory=dict)
    deleted_users: dict[str, None] = field(default_factory=dict)
    links: dict[str, str] = field(default_factory=dict)


def scope_of(group_ids: Sequence[str], select: str) -> str:
    return hashlib.sha256(orjson.dumps([sorted(group_ids), select])).hexdigest()[:32]


def link_kinds(group_ids: Sequence[str]) -> list[str]:
    return ["users", *(f"groups:{n}" for n in range(len(list(chunks(list(group_ids), GROUP_FILTER_MAX)))))]


def id_filter(ids: Sequence[str]) -> str:
    return " or ".join("id eq '{}'".format(i.replace("'", "''")) for i in ids)


def merge_group_item(item: dict[str, Any], changes: Changes) -> None:
    """One ``/groups/delta`` item into the per-group changes; later entries win over earlier ones."""
    group_id = str(item["id"])
    if "@removed" in item:
        raise group_gone(group_id)
    added = changes.added.setdefault(group_id, {})
    removed = changes.removed.setdefault(group_id, {})
    for member in item.get("members@delta") or []:
        kind, member_id = member.get("@odata.type", USER_TYPE), str(member["id"])
        if kind == GROUP_TYPE and "@removed" not in member:
            raise NeedsFullRead(f"group {group_id} now has a nested group")
        if kind != USER_TYPE:
            continue
        if "@removed" in member:
            added.pop(member_id, None)
            removed[member_id] = None
        else:
            removed.pop(member_id, None)
            added[member_id] = None


def merge_user_item(item: dict[str, Any], changes: Changes) -> None:
    user_id = str(item["id"])
    if "@removed" in item:
        changes.changed_users.pop(user_id, None)
        changes.deleted_users[user_id] = None
    else:
        changes.deleted_users.pop(user_id, None)
        changes.changed_users[user_id] = None


async def latest_links(graph: TenantGraph, group_ids: Sequence[str], select: str) -> dict[str, str]:
    """Links that start tracking now (``$deltatoken=latest``: no data), taken before a full read."""
    links = {"users": await _final_link(graph, "/users/delta", {"$select": select, "$deltatoken": "latest"})}
    for n, ids in enumerate(chunks(list(group_ids), GROUP_FILTER_MAX)):
        params = {"$select": "displayName,members", "$filter": id_filter(ids), "$deltatoken": "latest"}
        links[f"groups:{n}"] = await _final_link(graph, "/groups/delta", params)
    return links


async def _final_link(graph: TenantGraph, path: str, params: dict[str, str]) -> str:
    link = None
    async for page in graph.get_pages(path, params):
        link = page.get("@odata.deltaLink")
    if not link:
        raise GraphError(f"Microsoft Graph returned no delta link for {path}")
    return link


async def read_changes(graph: TenantGraph, links: dict[str, str | None], kinds: Sequence[str]) -> Changes:
    if set(links) != set(kinds) or any(links[k] is None for k in kinds):
        raise NeedsFullRead("no usable delta links")
    changes = Changes()
    for kind in kinds:
        merge = merge_user_item if kind == "users" else merge_group_item
        async for page in graph.get_pages(str(links[kind])):
            for item in page.get("value", []):
                merge(item, changes)
            if page.get("@odata.deltaLink"):
                changes.links[kind] = page["@odata.deltaLink"]
    return changes


async def group_infos(graph: TenantGraph, group_ids: Sequence[str]) -> list[GroupInfo]:
    """Every synced group's current name, twenty to a batch; a deleted group fails the run."""
    infos: dict[str, GroupInfo] = {}
    for ids in chunks(list(group_ids)):
        urls = {str(i): group_path(g) + "?$select=id,displayName" for i, g in enumerate(ids)}
        for item in await batch_get(graph, urls):
            group_id = ids[int(item.id)]
            if item.status == 404:
                raise group_gone(group_id)
            if item.status != 200:
                raise GraphError(f"Microsoft Graph refused to read group {group_id} ({item.status})")
            infos[group_id] = GroupInfo(id=group_id, display_name=item.body.get("displayName") or "")
    return [infos[g] for g in group_ids]


async def fetch_users(
    graph: TenantGraph,
    ids: Sequence[str],
    select: str,
    properties: Sequence[str],
) -> tuple[list[DirectoryUser], list[str]]:
    """Whole records of ``ids`` (users gone since are returned apart)."""
    found: list[DirectoryUser] = []
    gone: list[str] = []
    for batch in chunks(list(ids)):
        urls = {str(i): f"/users/{u}?$select={select}" for i, u in enumerate(batch)}
        for item in await batch_get(graph, urls):
            user_id = batch[int(item.id)]
            if item.status == 200 and isinstance(item.body, dict):
                found.append(user_of(item.body, properties))
            elif item.status == 404:
                gone.append(user_id)
            else:
                raise GraphError(f"Microsoft Graph refused to read user {user_id} ({item.status})")
    return found, gone


async def send_changes(
    graph: TenantGraph,
    changes: Changes,
    group_ids: Sequence[str],
    select: str,
    properties: Sequence[str],
    sink: PageSink,
) -> None:
    """Group pages (joined users, whole; left users, by id), then changed users and deleted users."""
    sent: set[str] = set()
    gone_all: list[str] = list(changes.deleted_users)
    for group_id in group_ids:
        added = list(changes.added.get(group_id, {}))
        removed = list(changes.removed.get(group_id, {}))
        for start in range(0, max(len(added), 1), PAGE_USERS):
            users, gone = await fetch_users(graph, added[start : start + PAGE_USERS], select, properties)
            gone_all.extend(gone)
            sent.update(u.id for u in users)
            await sink.send(group_id, users, removed if start == 0 else ())
    pending = [u for u in changes.changed_users if u not in sent]
    for start in range(0, len(pending), PAGE_USERS):
        users, gone = await fetch_users(graph, pending[start : start + PAGE_USERS], select, properties)
        gone_all.extend(gone)
        await sink.send(None, users)
    for start in range(0, len(gone_all), PAGE_USERS):
        await sink.send(None, [], gone_all[start : start + PAGE_USERS])
