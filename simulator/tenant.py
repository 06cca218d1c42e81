"""An in-memory Entra tenant: directory objects, roles, photos, registered apps and a change log."""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

from cryptography import x509

from simulator.changelog import ChangeLog
from simulator.membership import flatten

GRAPH_PERMISSIONS = frozenset(
    {"User.Read.All", "GroupMember.Read.All", "RoleManagement.Read.Directory", "ProfilePhoto.Read.All"}
)
GLOBAL_ADMINISTRATOR = "62e90394-69f5-4237-9190-012177145e10"
GROUPS_ADMINISTRATOR = "fdd7a751-b60b-444a-984c-02652fe8fa1c"


def new_id() -> str:
    return str(uuid.uuid4())


class Tenant:
    """Directory state. Group members live in ``members`` (group id -> member ids), not in the group dicts.

    Every user and group mutation goes through a method so that delta queries see it. A user's deletion
    removes its memberships without recording them as group changes, as Entra does.
    """

    def __init__(self, tenant_id: str | None = None, domain: str | None = None) -> None:
        self.tenant_id = tenant_id or new_id()
        self.domain = domain or f"tenant{self.tenant_id[:8]}.onmicrosoft.com"
        self.users: dict[str, dict[str, Any]] = {}
        self.groups: dict[str, dict[str, Any]] = {}
        self.members: dict[str, set[str]] = {}
        self.devices: dict[str, dict[str, Any]] = {}
        self.service_principals: dict[str, dict[str, Any]] = {}
        self.contacts: dict[str, dict[str, Any]] = {}
        self.roles: dict[str, list[str]] = {GLOBAL_ADMINISTRATOR: [], GROUPS_ADMINISTRATOR: []}
        self.photos: dict[str, tuple[bytes, str]] = {}
        self.photo_etags: dict[str, str] = {}
        self.apps: dict[str, str] = {}
        self.certificates: dict[str, list[x509.Certificate]] = {}  # an app's registered certificates
        self.permissions: dict[str, set[str]] = {}
        self.redirect_uris: dict[str, list[str]] = {}
        self.changes = ChangeLog()
        self.membership_version = 0
        self.object_version = 0
        self._sorted: dict[str, tuple[int, list[str]]] = {}
        self._upn_index: dict[str, str] = {}
        self._flat_cache: dict[str, list[str]] = {}
        self._direct_cache: dict[str, list[str]] = {}
        self._flat_version = -1
        self._tables = (
            ("user", self.users),
            ("group", self.groups),
            ("device", self.devices),
            ("servicePrincipal", self.service_principals),
            ("orgContact", self.contacts),
        )

    # Lookups
    def object_type(self, object_id: str) -> str | None:
        return self.typed_object(object_id)[0]

    def get_object(self, object_id: str) -> dict[str, Any] | None:
        return self.typed_object(object_id)[1]

    def typed_object(self, object_id: str) -> tuple[str | None, dict[str, Any] | None]:
        """(type, object) in one look-up; (None, None) for an unknown id."""
        for name, table in self._tables:
            found = table.get(object_id)
            if found is not None:
                return name, found
        return None, None

    def find_user(self, id_or_upn: str) -> dict[str, Any] | None:
        user = self.users.get(id_or_upn)
        if user is None and "@" in id_or_upn:
            uid = self._upn_index.get(id_or_upn.lower())
            user = self.users.get(uid) if uid else None
        return user

    def sorted_ids(self, kind: str) -> list[str]:
        """Sorted user or group ids, cached until an object is added or deleted."""
        cached = self._sorted.get(kind)
        if cached is None or cached[0] != self.object_version:
            cached = (self.object_version, sorted(self.users if kind == "user" else self.groups))
            self._sorted[kind] = cached
        return cached[1]

    def direct_member_ids(self, group_id: str) -> list[str]:
        """Sorted ids of the group's own members; cached until members change (every page of a large group
        would sort it again otherwise). Callers must not modify the list."""
        self._check_member_caches()
        if group_id not in self._direct_cache:
            self._direct_cache[group_id] = sorted(self.members.get(group_id, ()))
        return self._direct_cache[group_id]

    def transitive_member_ids(self, group_id: str) -> list[str]:
        """Sorted ids of everything under the group, nested groups included; cached until members change."""
        self._check_member_caches()
        if group_id not in self._flat_cache:
            self._flat_cache[group_id] = flatten(group_id, self.members, self.groups.keys())
        return self._flat_cache[group_id]

    # Users
    def add_user(self, **props: Any) -> str:
        uid = props.setdefault("id", props.get("id") or new_id())
        self.users[uid] = props
        if upn := props.get("userPrincipalName"):
            self._upn_index[upn.lower()] = uid
        self.object_version += 1
        self.changes.record("user", uid, "add")
        return uid

    def update_user(self, user_id: str, **props: Any) -> None:
        """Set properties; a value of None clears one. Unchanged values record nothing."""
        user = self.users[user_id]
        changed = frozenset(k for k, v in props.items() if user.get(k) != v)
        if not changed:
            return
        if "userPrincipalName" in changed:
            self._upn_index.pop(str(user.get("userPrincipalName", "")).lower(), None)
            self._upn_index[props["userPrincipalName"].lower()] = user_id
        for key in changed:
            if props[key] is None:
                user.pop(key, None)
            else:
                user[key] = props[key]
        self.changes.record("user", user_id, "update", props=changed)

    def disable_user(self, user_id: str) -> None:
        self.update_user(user_id, accountEnabled=False)

    def enable_user(self, user_id: str) -> None:
        self.update_user(user_id, accountEnabled=True)

    def delete_user(self, user_id: str, permanent: bool = False) -> None:
        """Soft delete by default (delta reports reason "changed"); ``permanent`` reports "deleted"."""
        user = self.users.pop(user_id)
        self._upn_index.pop(str(user.get("userPrincipalName", "")).lower(), None)
        self._drop_memberships(user_id)
        for holders in self.roles.values():
            if user_id in holders:
                holders.remove(user_id)
        self.photos.pop(user_id, None)
        self.photo_etags.pop(user_id, None)
        self.object_version += 1
        self.changes.record("user", user_id, "delete", reason="deleted" if permanent else "changed")

    # Groups
    def add_group(self, **props: Any) -> str:
        gid = props.setdefault("id", props.get("id") or new_id())
        props.setdefault("securityEnabled", True)
        props.setdefault("mailEnabled", False)
        props.setdefault("groupTypes", [])
        self.groups[gid] = props
        self.members[gid] = set()
        self.object_version += 1
        self.changes.record("group", gid, "add")
        return gid

    def update_group(self, group_id: str, **props: Any) -> None:
        group = self.groups[group_id]
        changed = frozenset(k for k, v in props.items() if group.get(k) != v)
        for key in changed:
            if props[key] is None:
                group.pop(key, None)
            else:
                group[key] = props[key]
        if changed:
            self.changes.record("group", group_id, "update", props=changed)

    def rename_group(self, group_id: str, display_name: str) -> None:
        self.update_group(group_id, displayName=display_name)

    def delete_group(self, group_id: str, permanent: bool = False) -> None:
        del self.groups[group_id]
        del self.members[group_id]
        self._drop_memberships(group_id)
        self.object_version += 1
        self.changes.record("group", group_id, "delete", reason="deleted" if permanent else "changed")

    def add_member(self, group_id: str, member_id: str) -> None:
        if self.object_type(member_id) is None:
            raise KeyError(f"no directory object {member_id}")
        if member_id not in self.members[group_id]:
            self.members[group_id].add(member_id)
            self.membership_version += 1
            self.changes.record("group", group_id, "member_add", member_id=member_id)

    def remove_member(self, group_id: str, member_id: str) -> None:
        if member_id in self.members[group_id]:
            self.members[group_id].discard(member_id)
            self.membership_version += 1
            self.changes.record("group", group_id, "member_remove", member_id=member_id)

    # Other directory objects
    def add_device(self, **props: Any) -> str:
        return self._add_plain(self.devices, props)

    def add_service_principal(self, **props: Any) -> str:
        return self._add_plain(self.service_principals, props)

    def add_contact(self, **props: Any) -> str:
        return self._add_plain(self.contacts, props)

    # Roles and photos
    def assign_role(self, role_template_id: str, principal_id: str) -> None:
        """An active role assignment: to a user, or to a role-assignable group, whose members hold it."""
        holders = self.roles.setdefault(role_template_id, [])
        if principal_id not in holders:
            holders.append(principal_id)

    def unassign_role(self, role_template_id: str, user_id: str) -> None:
        self.roles.get(role_template_id, []).remove(user_id)

    def set_photo(self, user_id: str, data: bytes, content_type: str = "image/jpeg") -> None:
        """Photo changes bypass the change log: delta never reports them."""
        self.photos[user_id] = (data, content_type)
        self.photo_etags[user_id] = f'W/"{secrets.token_hex(16)}"'

    def remove_photo(self, user_id: str) -> None:
        self.photos.pop(user_id, None)
        self.photo_etags.pop(user_id, None)

    # Registered applications
    def register_app(
        self,
        client_id: str | None = None,
        secret: str | None = None,
        permissions: set[str] | frozenset[str] = GRAPH_PERMISSIONS,
        redirect_uris: Iterable[str] = (),
    ) -> tuple[str, str]:
        client_id = client_id or new_id()
        self.apps[client_id] = secret or secrets.token_urlsafe(30)
        self.permissions[client_id] = set(permissions)
        self.redirect_uris[client_id] = []
        for uri in redirect_uris:
            self.add_redirect_uri(client_id, uri)
        return client_id, self.apps[client_id]

    def add_certificate(self, client_id: str, certificate: x509.Certificate) -> None:
        """Upload a certificate's public part to the app (Certificates & secrets): its key may sign client
        assertions until the certificate's end date."""
        self.certificates.setdefault(client_id, []).append(certificate)

    def add_redirect_uri(self, client_id: str, uri: str) -> None:
        """A reply URL of the app, refused as app registrations refuse it: https only (http for loopback
        hosts), at most 256 characters, no wildcard or fragment."""
        parts = urlsplit(uri)
        loopback = parts.hostname in ("localhost", "127.0.0.1")
        if (
            not (parts.scheme == "https" or (parts.scheme == "http" and loopback))
            or not parts.hostname
            or len(uri) > 256
            or "*" in uri
            or parts.fragment
        ):
            raise ValueError(
                f"not a valid redirect URI for an app registration: {uri!r} (https, or http on localhost or "
                "127.0.0.1; at most 256 characters; no wildcard or fragment)"
            )
        if uri not in self.redirect_uris[client_id]:
            self.redirect_uris[client_id].append(uri)

    def rotate_secret(self, client_id: str) -> str:
        self.apps[client_id] = secrets.token_urlsafe(30)
        return self.apps[client_id]

    def grant(self, client_id: str, permission: str) -> None:
        self.permissions[client_id].add(permission)

    def revoke(self, client_id: str, permission: str) -> None:
        self.permissions[client_id].discard(permission)

    # Internals
    def _check_member_caches(self) -> None:
        if self._flat_version != self.membership_version:
            self._flat_cache.clear()
            self._direct_cache.clear()
            self._flat_version = self.membership_version

    def _add_plain(self, table: dict[str, dict[str, Any]], props: dict[str, Any]) -> str:
        oid = props.setdefault("id", props.get("id") or new_id())
        table[oid] = props
        return oid

    def _drop_memberships(self, object_id: str) -> None:
        for member_ids in self.members.values():
            member_ids.discard(object_id)
        self.membership_version += 1
