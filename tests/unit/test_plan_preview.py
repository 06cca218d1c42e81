"""The dry-run plan keeps api.md's shape: an update's ``changes`` are only ``{"field": {"old", "new"}}``."""

from __future__ import annotations

from services.reconciler.model import CurrentMember, MemberAction
from services.reconciler.plan import preview
from services.reconciler.rules import Context
from tests.oracle.plan import TeamState, make_plan, preview_plan
from tests.unit.test_reconcile_rules import G1, G2, config, member, seen

PLAN_LISTS = {"create", "update", "remove", "invite", "roles"}


def _is_change(value: object) -> bool:
    return isinstance(value, dict) and set(value) == {"old", "new"}


def test_subteam_moves_sit_beside_the_changes():
    current: CurrentMember = member(1, fields={**member(1).fields, "job_title": "Chief"})
    plan = make_plan([seen(1, groups=(G2,))], TeamState([current]), Context(config()))
    shaped = preview_plan(plan)
    assert set(shaped) == PLAN_LISTS
    assert shaped["update"] == [
        {
            "member_id": "m-1",
            "changes": {"job_title": {"old": "Chief", "new": "Engineer"}},
            "subteams": {"join": [G2], "leave": [G1]},
        }
    ]


def test_a_move_alone_is_an_update_with_no_field_changes():
    plan = make_plan([seen(1, groups=(G1, G2))], TeamState([member(1)]), Context(config()))
    (entry,) = preview_plan(plan)["update"]
    assert entry == {"member_id": "m-1", "changes": {}, "subteams": {"join": [G2], "leave": []}}


def test_every_change_of_an_update_is_old_and_new():
    action = MemberAction(
        "update",
        member_id="m-9",
        changes={"email": {"old": "a@x.com", "new": "b@x.com"}, "fields.Team": {"old": None, "new": "B"}},
        join={G1: ("member", True)},
        leave=frozenset({G2}),
    )
    ((name, entry),) = list(preview(action))
    assert name == "update" and all(_is_change(v) for v in entry["changes"].values())
    assert entry["subteams"] == {"join": [G1], "leave": [G2]}
