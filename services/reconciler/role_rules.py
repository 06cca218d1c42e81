"""R12, the one place it is decided: the roles a sync gives and takes back, as SQL over a member's roles.

With ``use_admin_roles`` on, a Global Administrator (role template ``GLOBAL_ADMIN``) is a team admin and a
Groups Administrator (``GROUPS_ADMIN``) an admin of each subteam it is in; a role a sync gave
(``role_from_sync``) is taken back once the directory no longer gives it; a role given by hand stays. Off, a
sync changes no role. A role is a JSON pair ``[role, given by a sync]``; NULL means none to give or take.
``unchanged`` sorts out the members none of these change, and ``state`` hands the rules the others' roles,
which they apply as they stand."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from services.reconciler.model import GLOBAL_ADMIN, GROUPS_ADMIN

_GIVEN = "jsonb_build_array('admin', true)"
_TAKEN_BACK = "jsonb_build_array('member', false)"


@dataclass(frozen=True)
class RoleRules:
    """R12 for one run, as SQL expressions. ``global_admins`` and ``groups_admins``: placeholders of the
    directory ids that hold each role (``text[]``); None while admin roles are off."""

    global_admins: str | None = None
    groups_admins: str | None = None

    def team(self, holder: str, role: str, from_sync: str) -> str:
        """The team role of the member of directory user ``holder`` (NULL ``role`` for a new member), when it
        changes; else NULL."""
        if self.global_admins is None:
            return "NULL::jsonb"
        return (
            f"CASE WHEN {holder} = ANY({self.global_admins}) THEN"
            f" CASE WHEN {role} IS DISTINCT FROM 'admin' THEN {_GIVEN} END"
            f" WHEN {role} = 'admin' AND {from_sync} THEN {_TAKEN_BACK} END"
        )

    def place(self, holder: str, role: str, from_sync: str) -> str:
        """The role of a subteam place the member already has, when it changes; else NULL."""
        if self.groups_admins is None:
            return "NULL::jsonb"
        return (
            f"CASE WHEN {holder} = ANY({self.groups_admins}) THEN"
            f" CASE WHEN {role} <> 'admin' THEN {_GIVEN} END"
            f" WHEN {role} = 'admin' AND {from_sync} THEN {_TAKEN_BACK} END"
        )

    def joined(self, holder: str) -> str:
        """The role of a subteam place the member joins, when it is not a plain member's; else NULL."""
        if self.groups_admins is None:
            return "NULL::jsonb"
        return f"CASE WHEN {holder} = ANY({self.groups_admins}) THEN {_GIVEN} END"


def role_rules(holders: dict[str, frozenset[str]], param: Callable[[list[str]], str]) -> RoleRules:
    """The rules, admin roles on, of a run whose directory roles are ``holders`` (role template -> directory
    ids); ``param`` turns a value into the placeholder the statement passes it as."""
    return RoleRules(
        param(sorted(holders.get(GLOBAL_ADMIN, ()))), param(sorted(holders.get(GROUPS_ADMIN, ())))
    )
