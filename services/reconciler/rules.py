"""The decision for one member (R3, R7-R9, R11, R12) and the removal guard (R10). Pure."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

from services.reconciler import fields as card_fields
from services.reconciler.model import (
    GLOBAL_ADMIN,
    GROUPS_ADMIN,
    CurrentMember,
    MemberAction,
    Observed,
    Role,
    email_key,
)
from shared.config import RemovalGuard, SyncConfig


@dataclass(frozen=True)
class Context:
    config: SyncConfig
    mode: str = "full"
    roles: dict[str, frozenset[str]] = field(default_factory=dict)

    @cached_property
    def driven(self) -> frozenset[str]:
        return frozenset(g.id for g in self.config.groups)

    @cached_property
    def synced(self) -> card_fields.Synced:
        return card_fields.synced(self.config)

    def has_role(self, template: str, directory_id: str) -> bool:
        return directory_id in self.roles.get(template, ())


def target_groups(seen: Observed | None, current: CurrentMember | None, ctx: Context) -> frozenset[str]:
    """The synced groups the user belongs in after this run; empty means it should not be a member."""
    if seen is None:
        # Delta: an unlisted member keeps its groups; full: unseen means gone.
        return frozenset(current.subteams) & ctx.driven if current and ctx.mode == "delta" else frozenset()
    if seen.gone or (seen.card and not seen.card.enabled and ctx.config.remove_disabled_users):
        return frozenset()
    if ctx.mode == "full":
        return seen.groups & ctx.driven
    # A member taken over by another directory user (R4) keeps none of the old user's groups: the new one comes
    # with all of its own (a user a delta brings whole is on the page of every synced group it is in).
    had = (
        frozenset(current.subteams)
        if current and current.status != "removed" and current.directory_id in (None, seen.directory_id)
        else frozenset()
    )
    return ((had | seen.groups) - seen.left) & ctx.driven


def _team_role(directory_id: str, current: Role, ctx: Context) -> Role | None:
    if not ctx.config.use_admin_roles:
        return None
    role, from_sync = current
    if ctx.has_role(GLOBAL_ADMIN, directory_id):
        return ("admin", True) if role != "admin" else None
    return ("member", False) if role == "admin" and from_sync else None


def _subteam_role(directory_id: str, current: Role, ctx: Context) -> Role:
    if not ctx.config.use_admin_roles:
        return current
    role, from_sync = current
    if ctx.has_role(GROUPS_ADMIN, directory_id):
        return current if role == "admin" else ("admin", True)
    return ("member", False) if role == "admin" and from_sync else current


def decide(
    seen: Observed | None, current: CurrentMember | None, ctx: Context, account_id: str | None = None
) -> MemberAction:
    """What to do with one directory user and the member it is bound to (either may be missing).
    ``account_id``: an existing account outside the team that the user's email claims (R4)."""
    groups = target_groups(seen, current, ctx)
    if current is None:
        if seen is None or seen.card is None or not groups:
            return MemberAction("none", seen.directory_id if seen else None)
        return _create(seen, groups, ctx, account_id)
    if not groups:
        if seen is not None and seen.card is None and not seen.gone and not seen.left:
            return MemberAction("none", current.directory_id, current.member_id)
        return _remove(current, ctx)
    if seen is None or seen.card is None:
        return _memberships(
            MemberAction(
                "update",
                current.directory_id,
                current.member_id,
                current.account_id,
                fields=dict(current.fields),
                custom=dict(current.custom),
            ),
            current,
            groups,
            ctx,
        )
    return _update(seen, current, groups, ctx)


def _create(seen: Observed, groups: frozenset[str], ctx: Context, account_id: str | None) -> MemberAction:
    card = seen.card
    assert card is not None
    fields, custom, links = card_fields.created(card, ctx.config, ctx.synced)
    role = _team_role(card.directory_id, ("member", False), ctx)
    return MemberAction(
        "create",
        card.directory_id,
        account_id=account_id,
        card=card,
        fields=fields,
        custom=custom,
        links=links,
        join={g: _subteam_role(card.directory_id, ("member", False), ctx) for g in sorted(groups)},
        role=role,
        status="invited",
        bind=True,
        invite=True,
    )


def _remove(current: CurrentMember, ctx: Context) -> MemberAction:
    if not current.managed or current.status == "removed":
        return MemberAction("none", current.directory_id, current.member_id)
    return MemberAction(
        "remove",
        current.directory_id,
        current.member_id,
        current.account_id,
        fields=dict(current.fields),
        leave=frozenset(current.subteams),
        hard=ctx.config.delete_on_removal,
    )


def _update(seen: Observed, current: CurrentMember, groups: frozenset[str], ctx: Context) -> MemberAction:
    assert seen.card is not None
    fields, custom, changes, links = card_fields.updated(seen.card, current, ctx.config)
    action = MemberAction(
        "update",
        seen.directory_id,
        current.member_id,
        current.account_id,
        card=seen.card,
        fields=fields,
        custom=custom,
        changes=changes,
        links=links,
    )
    if current.status == "removed":
        action.status = "active" if current.invite_status == "claimed" else "invited"
        action.changes["status"] = {"old": "removed", "new": action.status}
    if current.sync_login is not None and email_key(current.sync_login) != seen.card.login_key:
        action.changes["login_email"] = {"old": current.sync_login, "new": seen.card.login_email}
    if not current.managed or current.directory_id != seen.directory_id:
        action.bind = True
        action.changes["directory_id"] = {"old": current.directory_id, "new": seen.directory_id}
    return _memberships(action, current, groups, ctx)


def _memberships(
    action: MemberAction, current: CurrentMember, groups: frozenset[str], ctx: Context
) -> MemberAction:
    directory_id = action.directory_id or ""
    had = {} if current.status == "removed" else current.subteams
    action.join = {
        g: _subteam_role(directory_id, ("member", False), ctx) for g in sorted(groups - had.keys())
    }
    action.leave = frozenset(had.keys() - groups)
    for g in sorted(groups & had.keys()):
        if (role := _subteam_role(directory_id, had[g], ctx)) != had[g]:
            action.subteam_roles[g] = role
    action.role = _team_role(directory_id, (current.role, current.role_from_sync), ctx)
    if action.role:
        action.changes["role"] = {"old": current.role, "new": action.role[0]}
    changed = action.changes or action.links or action.join or action.leave or action.subteam_roles
    if not changed:
        action.kind = "unchanged"
    return action


def guard_holds(removals: int, managed: int, guard: RemovalGuard) -> bool:
    """R10: hold the removals when they are more than max_percent of the managed members and more than
    min_count."""
    return removals > guard.min_count and removals * 100 > guard.max_percent * managed
