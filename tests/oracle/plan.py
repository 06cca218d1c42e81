"""A whole plan over plain values: identity, every member's decision, the guard, the counts and the preview.

The reconciler streams its decisions from the database (``services/reconciler/reconcile.py``); this is their
composition over in-memory sets, as the rules read."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from typing import Any

from services.reconciler.identity import Binding, Candidate, resolve
from services.reconciler.model import CurrentMember, MemberAction, Observed, email_key
from services.reconciler.plan import COUNT_KEYS, preview, tally
from services.reconciler.rules import Context, guard_holds
from tests.oracle.roles import decide


@dataclass
class TeamState:
    members: list[CurrentMember]
    emails: dict[str, str] = field(default_factory=dict)  # account id -> its email key
    accounts: dict[str, str] = field(default_factory=dict)  # email key -> account id, the whole platform
    made: set[str] = field(default_factory=set)  # the accounts this team's sync made


@dataclass
class Plan:
    actions: list[MemberAction]
    errors: list[dict[str, str]]
    held: bool

    def kind(self, kind: str) -> list[MemberAction]:
        return [a for a in self.actions if a.kind == kind]

    @property
    def empty(self) -> bool:
        return all(a.kind in ("unchanged", "none", "skip") for a in self.actions)


def candidates(observed: Iterable[Observed], state: TeamState, full: bool = True) -> Iterator[Candidate]:
    """R4: what each unbound user's email matches (the reconciler reads it in SQL: ``state._CANDIDATES``)."""
    observed = list(observed)
    bound = {m.directory_id for m in state.members if m.directory_id}
    # Listed: on a page of the snapshot; a user a delta only names as having left a group is not.
    listed = {o.directory_id for o in observed if o.card is not None or not (o.gone or o.left)}
    gone = {o.directory_id for o in observed if o.gone}
    cards = [o.card for o in observed if o.card]
    taken = {c.email_key for c in cards if c.directory_id in bound}
    in_team = {state.emails.get(m.account_id): m for m in state.members}
    for card in cards:
        if card.directory_id in bound:
            continue
        member = in_team.get(card.email_key) or in_team.get(card.login_key)
        account = state.accounts.get(card.email_key) or state.accounts.get(card.login_key)
        free = (
            member is not None
            and member.directory_id not in listed
            and (full or member.status == "removed" or member.directory_id in gone)
        )
        yield Candidate(
            card.directory_id,
            card.email_key,
            member and member.member_id,
            member and member.directory_id,
            account,
            card.email_key in taken,
            free,
            member is not None and member.status == "removed",
        )


def make_plan(observed: list[Observed], state: TeamState, ctx: Context) -> Plan:
    bindings: dict[str, Binding] = {
        b.directory_id: b for b in resolve(candidates(observed, state, ctx.mode == "full"))
    }
    by_directory = {m.directory_id: m for m in state.members if m.directory_id}
    by_id = {m.member_id: m for m in state.members}
    seen_members: set[str] = set()
    taken = {b.member_id for b in bindings.values() if b.member_id}  # members another user takes over
    actions, errors = [], []
    for seen in observed:
        binding = bindings.get(seen.directory_id)
        if binding and binding.skip:
            actions.append(MemberAction("skip", seen.directory_id, reason=binding.skip))
            errors.append({"directory_id": seen.directory_id, "message": binding.skip})
            continue
        if seen.directory_id in by_directory and by_directory[seen.directory_id].member_id in taken:
            continue  # its user left, and the member goes to the one who took it over
        current = by_directory.get(seen.directory_id) or (by_id.get(binding.member_id) if binding else None)
        if current:
            seen_members.add(current.member_id)
            if login := _login_taken(seen, current, state):
                # R4: one login is never two accounts; the member keeps its login, the rest of it changes.
                current = replace(current, sync_login=None)
                errors.append({"directory_id": seen.directory_id, "message": f"the login {login} is taken"})
        actions.append(decide(seen, current, ctx, binding.account_id if binding else None))
    unlisted = [m for m in state.members if m.managed and m.member_id not in seen_members | taken]
    if ctx.mode == "full":
        actions += [decide(None, m, ctx) for m in unlisted]
    elif ctx.config.use_admin_roles:
        # R12: the directory roles are read whole every run; a delta changes the roles of members it does not
        # list. One in no synced subteam has nowhere to be (a decision would remove it): it waits for a
        # record.
        waiting = [m for m in unlisted if m.status != "removed" and m.subteams]
        actions += [a for m in waiting if (a := decide(None, m, ctx)).kind != "unchanged"]
    managed = sum(1 for m in state.members if m.managed and m.status != "removed")
    held = guard_holds(sum(a.kind == "remove" for a in actions), managed, ctx.config.removal_guard)
    return Plan(actions, errors, held)


def _login_taken(seen: Observed, current: CurrentMember, state: TeamState) -> str | None:
    """The user's new login, when the account the team's sync made would follow it and another account has
    it."""
    card = seen.card
    if card is None or current.sync_login is None or email_key(current.sync_login) == card.login_key:
        return None
    return card.login_email if card.login_key in state.accounts else None


def counts(
    actions: Iterable[MemberAction],
    held: bool = False,
    send_invites: bool = True,
    found: TeamState | None = None,
) -> dict[str, int]:
    """A run's counts (R17). They describe the whole team however the directory was read: with ``found``,
    the team as the run found it, unchanged counts every synced member in it that the run left as it was,
    listed or not (not those it updates, removes, held or not, or skips). A full read lists them all, so
    this is the count of its unchanged actions; a delta read lists only who changed."""
    actions = list(actions)
    counter: Counter[str] = Counter()
    for action in actions:
        tally(action, counter)
    if found is not None:
        changed = {a.member_id for a in actions if a.kind in ("update", "remove", "skip")}
        counter["unchanged"] = sum(
            1 for m in found.members if m.managed and m.status != "removed" and m.member_id not in changed
        )
    if held:
        counter["removed"] = counter["deleted"] = 0
    if not send_invites:
        counter["invited"] = 0  # R11: the invites wait, pending, until they are sent on request
    return {k: counter[k] for k in COUNT_KEYS}


def preview_plan(plan: Plan, send_invites: bool = True) -> dict[str, list[dict[str, Any]]]:
    """R18: the plan a dry run records, as the run would go: no invite is emailed while invites are off (R11),
    and each removal says whether the guard would hold it (R10)."""
    shaped: dict[str, list[dict[str, Any]]] = {
        k: [] for k in ("create", "update", "remove", "invite", "roles")
    }
    for action in plan.actions:
        for name, entry in preview(action):
            if name == "remove":
                entry["held"] = plan.held
            if name != "invite" or send_invites:
                shaped[name].append(entry)
    return shaped
