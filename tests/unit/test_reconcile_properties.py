"""Properties of the oracle's plan: applied, a second plan over the same snapshot is empty; never two members
for one directory user, never two accounts for one email."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from services.reconciler.mapping import map_user
from services.reconciler.model import CurrentMember, Observed, email_key
from services.reconciler.rules import Context
from shared.config import SyncConfig
from tests.oracle.apply import apply
from tests.oracle.plan import TeamState, make_plan

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
