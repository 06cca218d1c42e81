"""Properties of the plan: applied, a second plan over the same snapshot is empty; never two members for one
directory user, never two accounts for one email."""

from __future__ import annotations

from dataclasses import replace

from hypothesis import given, settings
from hypothesis import strategies as st

from services.reconciler.mapping import map_user
from services.reconciler.model import CurrentMember, MemberAction, Observed, email_key
from services.reconciler.plan import Plan, TeamState, make_plan
from services.reconciler.rules import Context
from shared.config import SyncConfig

GROUPS = ("g1", "g2")
CONFIG = SyncConfig(
    groups=[{"id": g} for g in GROUPS], removal_guard={"max_percent": 100, "min_count": 10**6}
)

users = st.builds(
    lambda n, mail, title, groups, enabled: (n, mail, title, groups, enabled),
    st.integers(0, 12),
    st.sampled_from([None, "shared@x.com", "Other@x.com"]),
    st.sampled_from([None, "A", "B"]),
    st.frozensets(st.sampled_from(GROUPS), min_size=1),
    st.booleans(),
)


def observed(spec) -> list[Observed]:
    out: dict[str, Observed] = {}
    for n, mail, title, groups, enabled in spec:
        props = {
            "displayName": f"U{n}",
            "userPrincipalName": f"u{n}@x.com",
            "jobTitle": title,
            "accountEnabled": enabled,
        }
        if mail:
            props["mail"] = mail
        card = map_user(props, CONFIG, f"id-{n:02d}")
        out[card.directory_id] = Observed(card.directory_id, card, groups)
    return list(out.values())


def apply(state: TeamState, plan: Plan) -> TeamState:
    """What the database apply does, on plain values."""
    members = {m.member_id: replace(m, subteams=dict(m.subteams), links=dict(m.links)) for m in state.members}
    emails, accounts = dict(state.emails), dict(state.accounts)
    for a in plan.actions:
        if a.kind == "create":
            account = a.account_id or f"acc-{a.directory_id}"
            if a.account_id is None:
                accounts[a.card.login_key] = account
                emails[account] = a.card.login_key
            members[f"m-{a.directory_id}"] = CurrentMember(
                f"m-{a.directory_id}",
                account,
                a.directory_id,
                True,
                "invited",
                dict(a.fields),
                dict(a.custom),
                {s: v.value for s, v in a.links.items() if v},
                dict(a.join),
                *(a.role or ("member", False)),
            )
        elif a.kind == "update":
            _update(members[a.member_id], a)
        elif a.kind == "remove" and not plan.held:
            m = members[a.member_id]
            m.status, m.subteams = "removed", {}
    return TeamState(list(members.values()), emails, accounts)


def _update(m: CurrentMember, a: MemberAction) -> None:
    m.fields, m.custom = dict(a.fields), dict(a.custom)
    for source, link in a.links.items():
        m.links.pop(source, None) if link is None else m.links.__setitem__(source, link.value)
    m.subteams = {g: r for g, r in m.subteams.items() if g not in a.leave} | a.join | a.subteam_roles
    m.status = a.status or m.status
    if a.bind:
        m.directory_id, m.managed = a.directory_id, True
    if a.role:
        m.role, m.role_from_sync = a.role


def hand_added(specs) -> TeamState:
    members, emails, accounts = [], {}, {}
    for n, email in specs:
        key = email_key(email)
        if key in accounts:
            continue
        accounts[key], emails[f"own-{key}"] = f"own-{key}", key
        if n % 2:
            members.append(
                CurrentMember(
                    f"hm-{key}",
                    f"own-{key}",
                    None,
                    False,
                    "active",
                    dict.fromkeys(("name", "email", "job_title", "company", "phone", "location")),
                )
            )
    return TeamState(members, emails, accounts)


existing = st.lists(
    st.tuples(st.integers(0, 12), st.sampled_from(["shared@x.com", "u3@x.com", "u4@x.com"])), max_size=3
)


@settings(max_examples=150, deadline=None)
@given(st.lists(users, max_size=10), st.lists(users, max_size=10), existing)
def test_applied_plan_replans_empty_and_never_duplicates(first, second, outside):
    ctx = Context(CONFIG)
    state = hand_added(outside)
    for spec in (first, second):
        snapshot = observed(spec)
        state = apply(state, make_plan(snapshot, state, ctx))
        again = make_plan(snapshot, state, ctx)
        assert again.empty, [a for a in again.actions if a.kind not in ("unchanged", "none", "skip")]
        bound = [m.directory_id for m in state.members if m.directory_id]
        assert len(bound) == len(set(bound))
        assert len(state.accounts) == len(set(state.accounts.values()))
        in_team = [m.account_id for m in state.members]
        assert len(in_team) == len(set(in_team))


@settings(max_examples=150, deadline=None)
@given(
    st.lists(users, max_size=10),
    st.lists(users, max_size=6),
    st.frozensets(st.integers(0, 12), max_size=4),
    existing,
)
def test_a_delta_plan_applied_replans_empty_and_never_duplicates(first, changed, gone, outside):
    """Delta runs list only what changed, and name users gone from every group: the same properties hold."""
    state = apply(hand_added(outside), make_plan(observed(first), hand_added(outside), Context(CONFIG)))
    ctx = Context(CONFIG, mode="delta")
    listed = observed(changed)
    snapshot = listed + [
        Observed(f"id-{n:02d}", None, gone=True)
        for n in sorted(gone)
        if f"id-{n:02d}" not in {o.directory_id for o in listed}
    ]
    state = apply(state, make_plan(snapshot, state, ctx))
    again = make_plan(snapshot, state, ctx)
    assert again.empty, [a for a in again.actions if a.kind not in ("unchanged", "none", "skip")]
    bound = [m.directory_id for m in state.members if m.directory_id]
    assert len(bound) == len(set(bound))
    in_team = [m.account_id for m in state.members]
    assert len(in_team) == len(set(in_team))
