"""Delta queries on users and groups: a full round through nextLinks, then changes since a deltaLink.

Tokens are opaque and kept here; query options are baked into them. An update reports the object's id with
only the tracked properties that changed; a group's members come as ``members@delta`` and a group with many
members spans several items, the later ones carrying only the id and more members."""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import Any

from simulator import properties as props
from simulator.changelog import Change, Kind
from simulator.errors import GraphError, unsupported_query
from simulator.graph_routes import GROUPS, USERS
from simulator.odata import ids_in_filter
from simulator.request import GraphRequest, GraphResponse
from simulator.tenant import Tenant

Item = dict[str, Any]


@dataclass(frozen=True)
class DeltaState:
    kind: Kind
    select: tuple[str, ...] | None
    ids: frozenset[str] | None
    seq: int
    issued_at: float


@dataclass
class _Cursor:
    state: DeltaState
    items: Iterator[Item]
    pending: list[Item] = field(default_factory=list)


class DeltaStore:
    def __init__(self, lifetime: float = 7 * 86400, page_size: int = 100, member_chunk: int = 500) -> None:
        self.lifetime = lifetime
        self.page_size = page_size
        self.member_chunk = member_chunk
        self.expiry_code = "syncStateNotFound"
        self.links: dict[str, DeltaState] = {}
        self.cursors: dict[str, _Cursor] = {}

    def expire_all(self, answer: str = "syncStateNotFound") -> None:
        """Every token lapses; the next use is answered as Graph answers a lapsed token (400
        ``syncStateNotFound`` or ``resyncRequired``) or one made void by tenant maintenance (``gone``: 410
        with a ``Location``)."""
        self.expiry_code = answer
        self.links.clear()
        self.cursors.clear()

    def expired(self) -> GraphError:
        if self.expiry_code == "gone":
            return GraphError(
                410,
                "Gone",
                "The delta token is no longer valid after maintenance of the tenant: start over.",
                headers={"Location": "https://graph.microsoft.com/v1.0/users/delta"},
            )
        return GraphError(
            400,
            self.expiry_code,
            "The delta token is expired or unknown: start over with a full delta round.",
        )


def users_delta(req: GraphRequest) -> GraphResponse:
    req.require(*USERS)
    return _delta(req, "user")


def groups_delta(req: GraphRequest) -> GraphResponse:
    req.require(*GROUPS)
    return _delta(req, "group")


def _delta(req: GraphRequest, kind: Kind) -> GraphResponse:
    store, tenant, now = req.delta, req.tenant, time.monotonic()
    if token := req.q("$skiptoken"):
        cursor = store.cursors.pop(token, None)
        if cursor is None:
            raise store.expired()
        return _page(req, kind, cursor)
    for option in ("$top", "$expand", "$orderby", "$search"):
        if req.q(option) is not None:
            raise unsupported_query(f"The query option '{option}' is not supported with delta.")
    token = req.q("$deltatoken")
    if token and token.lower() != "latest":
        state = store.links.get(token)
        if state is None or state.issued_at + store.lifetime < now:
            raise store.expired()
        items = _changes(tenant, state, store.member_chunk)
        return _page(req, kind, _Cursor(replace(state, seq=tenant.changes.seq, issued_at=now), items))
    select = props.parse_select(req.q("$select"))
    props.check_select(select, kind, frozenset({"members"}) if kind == "group" else frozenset())
    raw_filter = req.q("$filter")
    ids = frozenset(ids_in_filter(raw_filter)) if raw_filter else None
    state = DeltaState(kind, select, ids, tenant.changes.seq, now)
    items = iter(()) if token else _everything(tenant, state, store.member_chunk)
    return _page(req, kind, _Cursor(state, items))


def _page(req: GraphRequest, kind: Kind, cursor: _Cursor) -> GraphResponse:
    store = req.delta
    value = cursor.pending[: store.page_size]
    del cursor.pending[: store.page_size]
    while len(value) < store.page_size and (item := next(cursor.items, None)) is not None:
        value.append(item)
    if not cursor.pending and (following := next(cursor.items, None)) is not None:
        cursor.pending.append(following)
    body: dict[str, Any] = {"@odata.context": f"{req.graph_url}/$metadata#{kind}s", "value": value}
    token = secrets.token_urlsafe(24)
    if cursor.pending:
        store.cursors[token] = cursor
        body["@odata.nextLink"] = f"{req.graph_url}/{kind}s/delta()?$skiptoken={token}"
    else:
        store.links[token] = cursor.state
        body["@odata.deltaLink"] = f"{req.graph_url}/{kind}s/delta()?$deltatoken={token}"
    return GraphResponse(200, body)


def _tracks_members(state: DeltaState) -> bool:
    return state.select is None or "members" in state.select


def _select(state: DeltaState) -> tuple[str, ...] | None:
    if state.select is None:
        return None
    return tuple(p for p in state.select if p != "members")


def _member_items(group_id: str, entries: list[Item], head: Item, chunk: int) -> Iterator[Item]:
    yield {**head, "members@delta": entries[:chunk]}
    for start in range(chunk, len(entries), chunk):
        yield {"id": group_id, "members@delta": entries[start : start + chunk]}


def _full(tenant: Tenant, state: DeltaState, oid: str, chunk: int) -> Iterator[Item]:
    if state.kind == "user":
        yield props.shape(tenant.users[oid], "user", _select(state), typed=False)
        return
    head = props.shape(tenant.groups[oid], "group", _select(state), typed=False)
    if not _tracks_members(state):
        yield head
        return
    entries = [
        props.bare(mid, tenant.object_type(mid) or "directoryObject") for mid in tenant.direct_member_ids(oid)
    ]
    yield from _member_items(oid, entries, head, chunk)


def _everything(tenant: Tenant, state: DeltaState, chunk: int) -> Iterator[Item]:
    table = tenant.users if state.kind == "user" else tenant.groups
    for oid in list(tenant.sorted_ids(state.kind)):
        if oid in table and (state.ids is None or oid in state.ids):
            yield from _full(tenant, state, oid, chunk)


def _changes(tenant: Tenant, state: DeltaState, chunk: int) -> Iterator[Item]:
    by_object: dict[str, list[Change]] = {}
    for change in tenant.changes.since(state.seq, state.kind):
        if state.ids is None or change.object_id in state.ids:
            by_object.setdefault(change.object_id, []).append(change)
    table = tenant.users if state.kind == "user" else tenant.groups
    default = props.USER_DEFAULT if state.kind == "user" else props.GROUP_DEFAULT
    tracked = [p for p in (_select(state) or default) if p != "id"]
    for oid, changes in by_object.items():
        last = changes[-1]
        if last.op == "delete":
            yield {"id": oid, "@removed": {"reason": last.reason}}
        elif oid not in table:
            continue
        elif any(c.op == "add" for c in changes):
            yield from _full(tenant, state, oid, chunk)
        else:
            yield from _update(tenant, state, oid, changes, tracked, chunk)


def _update(
    tenant: Tenant, state: DeltaState, oid: str, changes: list[Change], tracked: list[str], chunk: int
) -> Iterator[Item]:
    changed = set().union(*(c.props for c in changes))
    obj = tenant.users[oid] if state.kind == "user" else tenant.groups[oid]
    head: Item = {p: obj.get(p) for p in tracked if p in changed}
    head["id"] = oid
    membership: dict[str, bool] = {}
    if state.kind == "group" and _tracks_members(state):
        for change in changes:
            if change.member_id is not None:
                membership[change.member_id] = change.op == "member_add"
    if len(head) == 1 and not membership:
        return
    if not membership:
        yield head
        return
    entries = []
    for mid, present in membership.items():
        entry = props.bare(mid, tenant.object_type(mid) or "user")
        if not present:
            entry["@removed"] = {"reason": "deleted"}
        entries.append(entry)
    yield from _member_items(oid, entries, head, chunk)
