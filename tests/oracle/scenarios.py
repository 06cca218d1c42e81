"""Random small directories and teams for the property tests: a snapshot's users, the team's members as
earlier runs and people left them, the accounts outside the team, the sync configuration, the directory roles.

Emails are drawn from a few local parts, in either case, so that users and members share them often (R4); a
scenario's emails end in a domain of its own, so that scenarios can share one database."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field, replace
from typing import Any

from hypothesis import strategies as st

from services.reconciler.model import GLOBAL_ADMIN, GROUPS_ADMIN, PLAIN, Role

G1, G2 = "0c6d5e4f-0000-4000-8000-00000000000a", "0c6d5e4f-0000-4000-8000-00000000000b"
OTHER = "0c6d5e4f-0000-4000-8000-00000000000c"  # a subteam whose group the team no longer syncs (R3)
SYNCED = (G1, G2)
IDS = [f"00000000-0000-4000-8000-{n:012d}" for n in range(6)]
ROLES: list[Role] = [PLAIN, ("admin", True), ("admin", False)]
SHARED = ("a", "b")
LOGINS = (*SHARED, *(f"u{n}" for n in range(len(IDS))), *(f"v{n}" for n in range(len(IDS))))
_domains = itertools.count()


@dataclass(frozen=True)
class Email:
    local: str
    upper: bool = False

    def at(self, domain: str) -> str:
        address = f"{self.local}@{domain}"
        return address.upper() if self.upper else address


@dataclass(frozen=True)
class User:
    n: int  # its object id is IDS[n]
    mail: Email | None
    upn: Email
    title: str | None
    phone: str | None
    enabled: bool
    groups: frozenset[str]  # its synced groups, on whose pages it is listed


@dataclass(frozen=True)
class Member:
    login: Email  # its account's
    made: bool  # the team's sync made its account
    n: int | None  # bound to the directory user IDS[n]; None: added by hand
    status: str
    name: str
    email: Email | None
    title: str | None
    phone: str | None
    linked: bool  # has the links its email and phone make
    places: dict[str, Role]
    role: Role
    invite: str | None
    synced: bool = False  # as a run left it: the card, links, login and places of a listed user


@dataclass(frozen=True)
class Scenario:
    config: dict[str, Any]
    mode: str
    dry_run: bool
    users: list[User]
    left: dict[int, frozenset[str]]  # delta: the groups a user left
    gone: frozenset[int]  # delta: the users gone from every group
    roles: dict[str, frozenset[int]]  # role template -> the users that hold it
    members: list[Member]
    outside: list[Email]  # accounts of no member of the team
    domain: str = field(default_factory=lambda: f"d{next(_domains)}.test", compare=False)

    def properties(self, user: User) -> dict[str, Any]:
        """The user as Graph gives it."""
        props = {
            "displayName": f"U{user.n}",
            "userPrincipalName": user.upn.at(self.domain),
            "jobTitle": user.title,
            "mobilePhone": user.phone,
            "accountEnabled": user.enabled,
            "mail": user.mail.at(self.domain) if user.mail else None,
        }
        return {k: v for k, v in props.items() if v is not None}


def _email(*locals_: str) -> st.SearchStrategy[Email]:
    return st.builds(Email, st.sampled_from(locals_), st.booleans())


@st.composite
def users(draw) -> list[User]:
    out, upns = [], set()
    for n in sorted(draw(st.sets(st.integers(0, len(IDS) - 1), max_size=5))):
        upn = draw(_email(f"u{n}", f"v{n}", *SHARED))
        if upn.local in upns:
            upn = Email(f"u{n}")  # a login is one user's
        upns.add(upn.local)
        out.append(
            User(
                n,
                draw(st.none() | _email(f"u{n}", *SHARED)),
                upn,
                draw(st.sampled_from([None, "A", "B"])),
                draw(st.sampled_from([None, "+1 555 0100", "+1 555 0101"])),
                draw(st.booleans()),
                frozenset(draw(st.sets(st.sampled_from(SYNCED), min_size=1))),
            )
        )
    return out


@st.composite
def members(draw, listed: list[User]) -> list[Member]:
    """Members whose logins, card emails and object ids are mostly the listed users': where the rules are."""
    theirs = sorted({e.local for u in listed for e in (u.mail, u.upn) if e})
    email = _email(*theirs) | _email(*LOGINS) if theirs else _email(*LOGINS)
    ns = st.integers(0, len(IDS) - 1)
    if listed:
        ns = st.sampled_from([u.n for u in listed]) | ns
    places = st.dictionaries(st.sampled_from((*SYNCED, OTHER)), st.sampled_from(ROLES), max_size=3)
    out, logins, bound = [], set(), set()
    for _ in range(draw(st.integers(0, 6))):
        login = draw(email)
        if login.local in logins:
            continue  # an email is one account's
        logins.add(login.local)
        n = draw(st.none() | ns)
        if n in bound:
            n = None  # a directory user is one member's
        bound.add(n)
        status = draw(st.sampled_from(["invited", "active", "removed"]))
        out.append(
            Member(
                login,
                draw(st.booleans()),
                n,
                status,
                draw(st.sampled_from(["U", "Edited"])),
                draw(st.sampled_from([login, None]) | email),
                draw(st.sampled_from([None, "A", "B"])),
                draw(st.sampled_from([None, "+1 555 0100"])),
                draw(st.booleans()),
                {} if status == "removed" else draw(places),  # a removal takes every place
                draw(st.sampled_from(ROLES)),
                draw(st.sampled_from([None, "pending", "sent", "claimed"])),
                draw(st.booleans()),
            )
        )
    return out


def _as_synced(m: Member, listed: list[User], logins: set[str], bound: set[int | None]) -> Member:
    """``m`` as a run left it for its user (or for a listed user no member has), so that this run may leave
    it unchanged."""
    if not m.synced:
        return m
    user = next((u for u in listed if u.n == m.n), None) or next(
        (u for u in listed if u.n not in bound), None
    )
    if user is None:
        return m
    bound.add(user.n)
    login = m.login
    if m.made and user.upn.local not in logins:
        logins.discard(login.local)
        logins.add(user.upn.local)
        login = user.upn
    in_groups = {g: m.places.get(g, PLAIN) for g in user.groups}
    return replace(
        m,
        login=login,
        n=user.n,
        name=f"U{user.n}",
        email=user.mail or user.upn,
        title=user.title,
        phone=user.phone,
        linked=True,
        places={} if m.status == "removed" else {g: r for g, r in m.places.items() if g == OTHER} | in_groups,
    )


@st.composite
def scenarios(draw) -> Scenario:
    mode = draw(st.sampled_from(["full", "delta"]))
    listed = draw(users())
    team = draw(members(listed))
    logins, bound = {m.login.local for m in team}, {m.n for m in team}
    team = [_as_synced(m, listed, logins, bound) for m in team]
    ns = st.integers(0, len(IDS) - 1)
    left, gone = {}, frozenset()
    if mode == "delta":
        gone = frozenset(draw(st.sets(ns, max_size=2))) - {u.n for u in listed}
        groups = {u.n: u.groups for u in listed}
        left = draw(st.dictionaries(ns, st.frozensets(st.sampled_from(SYNCED), min_size=1), max_size=2))
        left = {n: g - groups.get(n, frozenset()) for n, g in left.items() if n not in gone}
        left = {n: g for n, g in left.items() if g}
    config = {
        "groups": [{"id": G1, "display_name": "Sales"}, {"id": G2, "display_name": "Ops"}],
        "use_admin_roles": draw(st.booleans()),
        "remove_disabled_users": draw(st.booleans()),
        "delete_on_removal": draw(st.booleans()),
        "send_invites": draw(st.booleans()),
        "fields": {"job_title": {"overwrite": draw(st.booleans())}, "phone": {"sync": draw(st.booleans())}},
    }
    if draw(st.booleans()):
        config["removal_guard"] = {"max_percent": 0, "min_count": 0}  # any removal is held (R10)
    outside = {
        e.local: e for e in draw(st.lists(_email(*SHARED, *(u.upn.local for u in listed)), max_size=2))
    }
    for m in team:
        outside.pop(m.login.local, None)
    return Scenario(
        config,
        mode,
        draw(st.sampled_from([False, False, False, True])),
        listed,
        left,
        gone,
        {
            GLOBAL_ADMIN: frozenset(draw(st.sets(ns, max_size=2))),
            GROUPS_ADMIN: frozenset(draw(st.sets(ns, max_size=2))),
        },
        team,
        list(outside.values()),
    )
