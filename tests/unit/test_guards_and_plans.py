"""The addition guard's arithmetic (R10's counterpart) and a plan's fingerprint and differences (R18)."""

from __future__ import annotations

from services.reconciler.plan import plan_hash, plan_moves
from services.reconciler.rules import addition_guard_holds
from shared.config import AdditionGuard


def test_the_addition_guard_holds_above_both_bounds():
    default = AdditionGuard()
    assert not addition_guard_holds(2000, 0, default)  # a first sync of 2,000: not held
    assert addition_guard_holds(2001, 0, default)
    assert not addition_guard_holds(2500, 3000, default)  # under 100 % of the team
    assert addition_guard_holds(3001, 3000, default)
    assert not addition_guard_holds(0, 0, AdditionGuard(max_count=0))
    assert addition_guard_holds(1, 0, AdditionGuard(max_count=0))


PLAN = {
    "create": [
        {"directory_id": "a", "email": "a@x.test", "subteams": ["g"]},
        {"directory_id": "b", "email": "b@x.test", "subteams": ["g"]},
    ],
    "update": [{"member_id": "m1", "changes": {"job_title": {"old": "A", "new": "B"}}}],
    "remove": [],
    "invite": [{"directory_id": "a", "email": "a@x.test"}],
    "roles": [],
}


def test_a_plans_hash_ignores_order_and_held_marks_but_not_content():
    shuffled = {**PLAN, "create": [{**e, "held": True} for e in reversed(PLAN["create"])]}
    assert plan_hash(shuffled) == plan_hash(PLAN)
    assert plan_hash({**PLAN, "exclude": [{"directory_id": "z"}]}) == plan_hash(PLAN)
    moved = {**PLAN, "update": [{"member_id": "m1", "changes": {"job_title": {"old": "A", "new": "C"}}}]}
    assert plan_hash(moved) != plan_hash(PLAN)
    assert plan_hash({**PLAN, "remove": [{"member_id": "m2"}]}) != plan_hash(PLAN)


def test_plan_moves_names_what_differs():
    now = {**PLAN, "create": PLAN["create"][:1], "remove": [{"member_id": "m2", "email": "c@x.test"}]}
    assert plan_moves(PLAN, now) == "create no longer: b@x.test; remove now also: c@x.test"
    assert plan_moves(PLAN, PLAN) == "nothing"
