"""Which application permissions a team's sync needs from Microsoft Graph, and which of them an app-only
token carries (its ``roles`` claim, as the identity platform issues it), for the directory's connection test.

Each need names the least permission that serves it and the broader ones that serve it too (what Graph
accepts for the requests the services send: users and their fields, group members and the group search,
photos, directory roles, change notifications on groups)."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson

DIRECTORY_READ = "Directory.Read.All"


@dataclass(frozen=True)
class Need:
    permission: str  # the least permission that serves it
    serves: tuple[str, ...]  # every permission that does, the least first
    why: str

    def granted_by(self, roles: frozenset[str]) -> str | None:
        """The granted permission that serves this need, if any."""
        return next((p for p in self.serves if p in roles), None)


USERS = Need(
    "User.Read.All", ("User.Read.All", DIRECTORY_READ), "read the users of the synced groups and their fields"
)
GROUPS = Need(
    "GroupMember.Read.All",
    ("GroupMember.Read.All", "Group.Read.All", DIRECTORY_READ),
    "search the groups and list the members of the synced ones",
)
PHOTOS = Need(
    "ProfilePhoto.Read.All",
    ("ProfilePhoto.Read.All", "User.Read.All", DIRECTORY_READ),
    "read profile photos (the Profile picture field is synced)",
)
ROLES = Need(
    "RoleManagement.Read.Directory",
    ("RoleManagement.Read.Directory", DIRECTORY_READ),
    "read who holds directory admin roles (Use directory admin roles is on)",
)
REALTIME = Need(
    "Group.Read.All",
    ("Group.Read.All",),
    "be told of group changes within seconds (near-real-time sync is on)",
)


def needs(config: Mapping[str, Any] | None) -> list[Need]:
    """What a team with this sync configuration (the API's JSON shape; None: the defaults) needs."""
    config = config or {}
    found = [USERS, GROUPS]
    photo = (config.get("fields") or {}).get("photo") or {}
    if photo.get("sync", True):
        found.append(PHOTOS)
    if config.get("use_admin_roles"):
        found.append(ROLES)
    if config.get("realtime"):
        found.append(REALTIME)
    return found


def token_roles(token: str) -> frozenset[str]:
    """The application permissions an app-only access token carries: its ``roles`` claim, read without
    checking the signature (only Graph can; the token came straight from the identity platform over TLS).
    A token that is not a JWT, or has no ``roles``, carries none that can be told."""
    parts = token.split(".")
    if len(parts) != 3:
        return frozenset()
    try:
        claims = orjson.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
    except (binascii.Error, ValueError):
        return frozenset()
    roles = claims.get("roles") if isinstance(claims, dict) else None
    if not isinstance(roles, list):
        return frozenset()
    return frozenset(r for r in roles if isinstance(r, str))
