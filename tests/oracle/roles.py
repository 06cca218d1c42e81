"""R12 over plain values: the roles a sync gives, and takes back only when a sync gave them."""

from __future__ import annotations

from services.reconciler.model import (
    GLOBAL_ADMIN,
    GROUPS_ADMIN,
    NO_ROLES,
    PLAIN,
    CurrentMember,
    MemberAction,
    Observed,
    Role,
    Roles,
)
from services.reconciler.rules import Context
from services.reconciler.rules import decide as decide_with

GIVEN: Role = ("admin", True)


def _role(holds: bool, current: Role) -> Role | None:
    role, from_sync = current
    if holds:
        return None if role == "admin" else GIVEN
    return PLAIN if role == "admin" and from_sync else None


def roles(directory_id: str | None, current: CurrentMember | None, ctx: Context) -> Roles:
    """What R12 does to the member of ``directory_id`` (``current``, or a new one)."""
    if not ctx.config.use_admin_roles:
        return NO_ROLES
    team_admin = directory_id in ctx.roles.get(GLOBAL_ADMIN, ())
    group_admin = directory_id in ctx.roles.get(GROUPS_ADMIN, ())
    places = current.subteams if current else {}
    return Roles(
        _role(team_admin, (current.role, current.role_from_sync) if current else PLAIN),
        {g: r for g, had in places.items() if (r := _role(group_admin, had))},
        GIVEN if group_admin else PLAIN,
    )


def decide(
    seen: Observed | None, current: CurrentMember | None, ctx: Context, account_id: str | None = None
) -> MemberAction:
    """The reconciler's decision, with the roles R12 gives the user that would be the member's."""
    holder = seen.directory_id if seen is not None else current.directory_id if current else None
    return decide_with(seen, current, ctx, account_id, roles(holder, current, ctx))
