"""The per-member decision and the plan over sets, rule by rule (R3, R4, R7-R10, R12, R18)."""

from __future__ import annotations

from services.reconciler.mapping import map_user
from services.reconciler.model import GLOBAL_ADMIN, GROUPS_ADMIN, CurrentMember, Observed, Roles
from services.reconciler.rules import Context, decide, guard_holds
from shared.config import RemovalGuard, SyncConfig
from tests.oracle.plan import TeamState, counts, make_plan, preview_plan
from tests.oracle.roles import decide as oracle_decide

G1, G2 = "group-1", "group-2"


def config(**kw) -> SyncConfig:
    return SyncConfig(groups=[{"id": G1}, {"id": G2}], **kw)


def seen(n: int, groups=(G1,), cfg: SyncConfig | None = None, **props) -> Observed:
    base = {
        "displayName": f"User {n}",
        "mail": f"user{n}@contoso.com",
        "userPrincipalName": f"u{n}@contoso.com",
        "jobTitle": "Engineer",
        "mobilePhone": "+1 555 0100",
    }
    base.update(props)
    card = map_user({k: v for k, v in base.items() if v is not None}, cfg or config(), f"id-{n}")
    return Observed(card.directory_id, card, frozenset(groups))


def member(n: int, **kw) -> CurrentMember:
    defaults = {
        "member_id": f"m-{n}",
        "account_id": f"a-{n}",
        "directory_id": f"id-{n}",
        "managed": True,
        "status": "invited",
        "fields": {
            "name": f"User {n}",
            "email": f"user{n}@contoso.com",
            "job_title": "Engineer",
            "company": None,
            "phone": "+1 555 0100",
            "location": None,
        },
        "links": {"email": f"mailto:user{n}@contoso.com", "phone": "tel:+15550100"},
        "subteams": {G1: ("member", False)},
    }
    defaults.update(kw)
    return CurrentMember(**defaults)


def test_r5_create_has_fields_links_subteams_and_invite():
    action = decide(seen(1, groups=(G1, G2)), None, Context(config()))
    assert action.kind == "create" and action.invite and action.status == "invited"
    assert action.fields["job_title"] == "Engineer"
    assert {s: link.value for s, link in action.links.items()} == {
        "email": "mailto:user1@contoso.com",
        "phone": "tel:+15550100",
    }
    assert set(action.join) == {G1, G2}


def test_r7_sync_off_leaves_the_field_empty_at_creation():
    cfg = config(fields={"job_title": {"sync": False}, "phone": {"sync": False}})
    action = decide(seen(1, cfg=cfg), None, Context(cfg))
    assert (
        action.fields["job_title"] is None and action.fields["phone"] is None and "phone" not in action.links
    )


def test_r8_unchanged_member_is_unchanged():
    assert decide(seen(1), member(1), Context(config())).kind == "unchanged"


def test_r8_overwrite_on_replaces_a_platform_edit():
    current = member(1, fields={**member(1).fields, "job_title": "Chief"})
    action = decide(seen(1), current, Context(config()))
    assert action.kind == "update" and action.changes == {"job_title": {"old": "Chief", "new": "Engineer"}}


def test_r8_overwrite_off_keeps_platform_edit():
    cfg = config(fields={"job_title": {"overwrite": False}})
    current = member(1, fields={**member(1).fields, "job_title": "Chief"})
    assert decide(seen(1, cfg=cfg), current, Context(cfg)).kind == "unchanged"


def test_r8_value_emptied_in_directory_empties_field_and_link():
    action = decide(seen(1, mobilePhone=None), member(1), Context(config()))
    assert action.fields["phone"] is None and action.links == {"phone": None}


def test_r3_joins_and_leaves_subteams():
    action = decide(seen(1, groups=(G2,)), member(1), Context(config()))
    assert set(action.join) == {G2} and action.leave == {G1}


def test_r9_unseen_managed_member_is_removed_soft_or_hard():
    assert decide(None, member(1), Context(config())).kind == "remove"
    assert decide(None, member(1), Context(config(delete_on_removal=True))).hard
    assert decide(None, member(1, managed=False, directory_id=None), Context(config())).kind == "none"


def test_r9_a_synced_group_gone_from_the_directory_holds_its_members():
    gone = Context(config(), gone=frozenset({G2}))
    only_there = member(1, subteams={G2: ("member", False)})
    assert decide(None, only_there, Context(config())).kind == "remove"
    assert decide(None, only_there, gone).kind == "unchanged"  # held, not removed
    # In a group still there too: it keeps both places.
    both = member(2, subteams={G1: ("member", False), G2: ("member", False)})
    assert decide(seen(2, groups=(G1,)), both, gone).kind == "unchanged"
    assert decide(seen(2, groups=(G1,)), both, Context(config())).leave == {G2}
    # Listed, but disabled: it goes all the same.
    assert decide(seen(2, groups=(G1,), accountEnabled=False), both, gone).kind == "remove"


def test_r2_disabled_user_counts_as_gone_unless_setting_off():
    disabled = seen(1, accountEnabled=False)
    assert decide(disabled, member(1), Context(config())).kind == "remove"
    assert decide(disabled, member(1), Context(config(remove_disabled_users=False))).kind == "unchanged"


def test_r9_return_reactivates_the_same_member_without_invite():
    action = decide(
        seen(1), member(1, status="removed", subteams={}, invite_status="claimed"), Context(config())
    )
    assert (action.kind, action.member_id, action.status, action.invite) == ("update", "m-1", "active", False)


def test_r10_guard_needs_both_percent_and_count():
    guard = RemovalGuard()
    assert guard_holds(11, 50, guard)
    assert not guard_holds(10, 20, guard)
    assert not guard_holds(11, 100, guard)


def test_r12_the_oracle_gives_roles_and_takes_back_only_those_a_sync_gave():
    cfg = config(use_admin_roles=True)
    ctx = Context(cfg, roles={GLOBAL_ADMIN: frozenset({"id-1"}), GROUPS_ADMIN: frozenset({"id-1"})})
    action = oracle_decide(seen(1), member(1), ctx)
    assert action.role == ("admin", True) and action.subteam_roles == {G1: ("admin", True)}
    lost = Context(cfg)
    assert oracle_decide(seen(1), member(1, role="admin", role_from_sync=True), lost).role == (
        "member",
        False,
    )
    assert oracle_decide(seen(1), member(1, role="admin", role_from_sync=False), lost).kind == "unchanged"
    assert oracle_decide(seen(1), member(1), Context(config(), roles=ctx.roles)).kind == "unchanged"


def test_r12_roles_as_sql_decided_them_go_with_the_member():
    roles = Roles(
        team=("admin", True), places={G1: ("admin", True), G2: ("member", False)}, joined=("admin", True)
    )
    action = decide(seen(1, groups=(G1, "group-3")), member(1), Context(config()), roles=roles)
    assert action.role == ("admin", True) and action.changes["role"] == {"old": "member", "new": "admin"}
    assert action.subteam_roles == {G1: ("admin", True)}  # G2 is no place of the member's
    created = decide(seen(1, groups=(G1, G2)), None, Context(config()), roles=roles)
    assert created.role == ("admin", True) and created.join == {G1: ("admin", True), G2: ("admin", True)}


def test_r4_email_claims_a_hand_added_member_and_an_outside_account():
    hand = member(1, directory_id=None, managed=False, subteams={})
    state = TeamState(
        [hand],
        emails={"a-1": "user1@contoso.com"},
        accounts={"user1@contoso.com": "a-1", "user2@contoso.com": "a-9"},
    )
    plan = make_plan([seen(1), seen(2)], state, Context(config()))
    bound, created = plan.actions
    assert (bound.kind, bound.member_id, bound.bind, bound.invite) == ("update", "m-1", True, False)
    assert (created.kind, created.account_id, created.invite) == ("create", "a-9", True)


def test_r4_duplicate_email_lowest_object_id_wins_else_the_bound_one():
    a, b = seen(2, mail="same@contoso.com"), seen(1, mail="SAME@contoso.com ")
    plan = make_plan([a, b], TeamState([]), Context(config()))
    assert [(x.kind, x.directory_id) for x in plan.actions] == [("skip", "id-2"), ("create", "id-1")]
    bound = make_plan([a, b], TeamState([member(2)]), Context(config()))
    assert [x.kind for x in bound.actions] == ["update", "skip"] and len(bound.errors) == 1


def test_r4_a_new_object_id_takes_over_the_member_of_its_email_only_once_the_old_one_has_left():
    rehired = seen(9, mail="user1@contoso.com", userPrincipalName="u1@contoso.com")
    state = TeamState([member(1)], emails={"a-1": "u1@contoso.com"})
    full = make_plan([rehired], state, Context(config()))  # the old object id is not listed: it has left
    assert [(a.kind, a.member_id, a.directory_id, a.bind) for a in full.actions] == [
        ("update", "m-1", "id-9", True)
    ]
    delta = make_plan([rehired], state, Context(config(), mode="delta"))  # not listed says nothing in a delta
    assert [a.kind for a in delta.actions] == ["skip"]
    removed = TeamState([member(1, status="removed", subteams={})], emails={"a-1": "u1@contoso.com"})
    back = make_plan([rehired], removed, Context(config(), mode="delta"))  # a removed one: the admin decides
    assert [a.kind for a in back.actions] == ["skip"] and "as a merge" in back.actions[0].reason
    moved = seen(1, mail="moved@contoso.com", userPrincipalName="moved@contoso.com")
    listed = make_plan([rehired, moved], state, Context(config()))  # the old one is still there
    gone = make_plan([rehired, Observed("id-1", None, gone=True)], state, Context(config(), mode="delta"))
    assert [(a.kind, a.member_id, a.directory_id) for a in gone.actions] == [("update", "m-1", "id-9")]
    assert [a.kind for a in listed.actions if a.directory_id == "id-9"] == ["skip"]


def test_delta_unlisted_member_is_unchanged_and_explicit_leave_removes():
    ctx = Context(config(), mode="delta")
    plan = make_plan([], TeamState([member(1)]), ctx)
    assert plan.empty
    left = Observed("id-1", None, left=frozenset({G1}))
    assert decide(left, member(1), ctx).kind == "remove"
    assert decide(Observed("id-1", None, gone=True), member(1), ctx).kind == "remove"


def test_r18_preview_shape_and_counts():
    state = TeamState([member(1, fields={**member(1).fields, "job_title": "Chief"}), member(3)])
    plan = make_plan([seen(1), seen(2)], state, Context(config()))
    shaped = preview_plan(plan)
    assert [e["directory_id"] for e in shaped["create"]] == ["id-2"]
    assert shaped["update"] == [
        {"member_id": "m-1", "changes": {"job_title": {"old": "Chief", "new": "Engineer"}}}
    ]
    assert [e["member_id"] for e in shaped["remove"]] == ["m-3"] and len(shaped["invite"]) == 1
    assert counts(plan.actions) == {
        "created": 1,
        "invited": 1,
        "updated": 1,
        "unchanged": 0,
        "removed": 1,
        "deleted": 0,
        "skipped": 0,
    }


def test_r4_changed_upn_moves_the_login_of_a_sync_made_account():
    current = member(1, sync_login="u1@contoso.com")
    assert decide(seen(1), current, Context(config())).kind == "unchanged"
    action = decide(seen(1, userPrincipalName="Renamed@contoso.com"), current, Context(config()))
    assert action.kind == "update" and action.member_id == "m-1" and not action.invite
    assert action.changes == {"login_email": {"old": "u1@contoso.com", "new": "Renamed@contoso.com"}}


def test_r4_changed_upn_leaves_the_login_of_a_persons_own_account():
    action = decide(
        seen(1, userPrincipalName="renamed@contoso.com"), member(1, sync_login=None), Context(config())
    )
    assert action.kind == "unchanged"
