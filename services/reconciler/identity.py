"""R4: binding directory users that no member is bound to yet, by email, without ever making a duplicate.
Pure."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from itertools import groupby


@dataclass(frozen=True, slots=True)
class Candidate:
    """An unbound directory user and what its email (mail, else UPN; or its UPN) already matches."""

    directory_id: str
    email_key: str
    team_member: str | None = None  # a member of the team whose account has the email
    team_member_directory_id: str | None = None
    account: str | None = None  # an account anywhere on the platform with the email
    taken: bool = False  # a user of the snapshot already bound to a member has the same email
    # The member is bound to another directory user that has left: the snapshot does not list that user, and
    # it is a full one (it lists everyone), or a delta one that names it gone, or a run removed the member. A
    # user with the member's email then takes the member over (a rehire, or a user deleted and made again,
    # under a new object id keeps its card) instead of being skipped on every run. A listed one keeps its
    # member: object id first.
    team_member_free: bool = False
    # The member was removed from the team: a user with its email under another object id (a rehire, or
    # someone new with a reused address) is proposed to the admin as a merge, who accepts (the same member)
    # or rejects (a new member); meanwhile the user is skipped.
    team_member_removed: bool = False


@dataclass(frozen=True, slots=True)
class Binding:
    """The user binds to ``member_id``, or becomes a new member of ``account_id`` (None: a new account),
    or is skipped for ``skip``; ``merge``: the removed member the user is proposed to merge with."""

    directory_id: str
    member_id: str | None = None
    account_id: str | None = None
    skip: str | None = None
    merge: str | None = None


def resolve(candidates: Iterable[Candidate]) -> Iterator[Binding]:
    """One binding per candidate. Users sharing an email: one already bound wins, else the lowest object id;
    the others are skipped. A member or account is claimed by one user at most."""
    claimed: set[str] = set()
    ordered = sorted(candidates, key=lambda c: (c.email_key, c.directory_id))
    for email, group in groupby(ordered, key=lambda c: c.email_key):
        users = list(group)
        winner = None if users[0].taken else users[0]
        for user in users:
            if user is not winner:
                yield Binding(
                    user.directory_id,
                    skip=f"{email} is also the email of another directory user; "
                    "each email can be one member only",
                )
        if winner is not None:
            yield _bind(winner, claimed)


_CLAIMED = "{email} matches an account another directory user of this run already claimed"


def _bind(user: Candidate, claimed: set[str]) -> Binding:
    if user.team_member is not None:
        if user.team_member_directory_id not in (None, user.directory_id) and not user.team_member_free:
            return Binding(
                user.directory_id,
                skip=f"{user.email_key} belongs to a member bound to another "
                f"directory user ({user.team_member_directory_id})",
            )
        target = user.team_member
        if user.team_member_removed and user.team_member_directory_id not in (None, user.directory_id):
            if target in claimed:
                return Binding(user.directory_id, skip=_CLAIMED.format(email=user.email_key))
            claimed.add(target)
            return Binding(
                user.directory_id,
                skip=f"{user.email_key} is the email of a removed member bound to another directory"
                f" user ({user.team_member_directory_id}); proposed to the admin as a merge: accept it to"
                " bring the member back, reject it to make a new one",
                merge=target,
            )
    else:
        target = user.account
    if target is None:
        return Binding(user.directory_id)
    if target in claimed:
        return Binding(user.directory_id, skip=_CLAIMED.format(email=user.email_key))
    claimed.add(target)
    if user.team_member is not None:
        return Binding(user.directory_id, member_id=target)
    return Binding(user.directory_id, account_id=target)
