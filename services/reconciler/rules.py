"""The decision for one member (R2, R3, R4's binding, R7, R8, R9, R11; R12's roles as SQL decided them) and
the removal guard (R10). Pure."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

from services.reconciler import fields as card_fields
from services.reconciler.model import NO_ROLES, CurrentMember, MemberAction, Observed, Roles, email_key
from shared.config import AdditionGuard, RemovalGuard, SyncConfig


@dataclass(frozen=True)
class Context:
    config: SyncConfig
    mode: str = "full"
    roles: dict[str, frozenset[str]] = field(default_factory=dict)  # role template -> the ids that hold it
    gone: frozenset[str] = frozenset()  # synced groups the directory no longer has (a full snapshot's)

    @cached_property
    def driven(self) -> frozenset[str]:
        return frozenset(g.id for g in self.config.groups)

    @cached_property
    def synced(self) -> card_fields.Synced:
        return card_fields.synced(self.config)


def target_groups(seen: Observed | None, current: CurrentMember | None, ctx: Context) -> frozenset[str]:
    """The synced groups the user belongs in after this run; empty means it should not be a member.

    R9: a synced group the directory no longer has was not read, so its members are held where they are:
    a member keeps its place in that group's subteam, and one in no other synced group is not removed,
    until the configuration is saved without the group. A user the snapshot lists but says must go (disabled,
    with remove_disabled_users) goes all the same."""
    target = _target(seen, current, ctx)
    held = frozenset(current.subteams) & ctx.gone if current and current.status != "removed" else frozenset()
    return target | held if held and (seen is None or target) else target


def _target(seen: Observed | None, current: CurrentMember | None, ctx: Context) -> frozenset[str]:
    if seen is None:
        # Delta: an unlisted member keeps its groups; full: unseen means gone.
        return frozenset(current.subteams) & ctx.driven if current and ctx.mode == "delta" else frozenset()
    if seen.gone or (seen.card and not seen.card.enabled and ctx.config.remove_disabled_users):
        return frozenset()
    if ctx.mode == "full":
        return seen.groups & ctx.driven
    # A member taken over by another directory user (R4) keeps none of the old user's groups: the new one
    # comes with all of its own (a user a delta brings whole is on the page of every synced group it is in).
    had = (
        frozenset(current.subteams)
        if current and current.status != "removed" and current.directory_id in (None, seen.directory_id)
        else frozenset()
    )
    return ((had | seen.groups) - seen.left) & ctx.driven


def decide(
    seen: Observed | None,
    current: CurrentMember | None,
    ctx: Context,
    account_id: str | None = None,
    roles: Roles = NO_ROLES,
) -> MemberAction:
    """What to do with one directory user and the member it is bound to (either may be missing).
    ``account_id``: an existing account outside the team that the user's email claims (R4)."""
    groups = target_groups(seen, current, ctx)
    if current is None:
        if seen is None or seen.card is None or not groups:
            return MemberAction("none", seen.directory_id if seen else None)
        return _create(seen, groups, ctx, account_id, roles)
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
            roles,
        )
    return _update(seen, current, groups, ctx, roles)


def _create(
    seen: Observed, groups: frozenset[str], ctx: Context, account_id: str | None, roles: Roles
) -> MemberAction:
    card = seen.card
    assert card is not None
    fields, custom, links = card_fields.created(card, ctx.config, ctx.synced)
    return MemberAction(
        "create",
        card.directory_id,
        account_id=account_id,
        card=card,
        fields=fields,
        custom=custom,
        links=links,
        join=dict.fromkeys(sorted(groups), roles.joined),
        role=roles.team,
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


def _update(
    seen: Observed, current: CurrentMember, groups: frozenset[str], ctx: Context, roles: Roles
) -> MemberAction:
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
    return _memberships(action, current, groups, roles)


def _memberships(
    action: MemberAction, current: CurrentMember, groups: frozenset[str], roles: Roles
) -> MemberAction:
    """R3: the subteams the member joins and leaves; R12: the roles it takes with them."""
    had = {} if current.status == "removed" else current.subteams
    action.join = dict.fromkeys(sorted(groups - had.keys()), roles.joined)
    action.leave = frozenset(had.keys() - groups)
    action.subteam_roles = {g: roles.places[g] for g in sorted(groups & had.keys()) if g in roles.places}
    action.role = roles.team
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


def addition_guard_holds(additions: int, managed: int, guard: AdditionGuard) -> bool:
    """R10's counterpart for new members: hold them (and their invites) when they are more than max_count and
    more than max_percent of the managed members the team had (a first sync: more than max_count)."""
    return additions > guard.max_count and additions * 100 > guard.max_percent * managed
