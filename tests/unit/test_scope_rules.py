"""R2 scope rules: their OData form, and the same answer whether Graph filters or the fetcher tests the
record (the simulator's filter stands in for Graph's)."""

from __future__ import annotations

import random

import pytest
from pydantic import ValidationError

from services.fetcher.scope import ScopeFilter, graph_filter, judge
from shared.config import Scope
from shared.messages import DirectoryUser
from simulator.user_filter import parse_user_filter

VALUES = ["Sales", "sales", "Sa", "O'Brien", "R and D", None]


def test_the_rules_graph_can_answer_become_one_filter():
    scope = Scope.model_validate(
        {
            "include": [
                {"attribute": "userType", "op": "eq", "value": "Member"},
                {"attribute": "department", "op": "in", "values": ["Sales", "O'Brien"]},
                {"attribute": "userPrincipalName", "op": "matches", "value": "*@a.test"},
            ],
            "exclude": [
                {"attribute": "accountEnabled", "op": "eq", "value": False},
                {"attribute": "companyName", "op": "not_in", "values": ["A", "B"]},
                {"attribute": "userPrincipalName", "op": "endswith", "value": "@x.test"},
                {
                    "attribute": "onPremisesExtensionAttributes.extensionAttribute2",
                    "op": "startswith",
                    "value": "X",
                },
            ],
        }
    )
    assert graph_filter(scope) == (
        "userType eq 'Member' and department in ('Sales', 'O''Brien') and accountEnabled ne false"
        " and companyName in ('A', 'B') and not(endswith(userPrincipalName, '@x.test'))"
        " and not(startswith(onPremisesExtensionAttributes/extensionAttribute2, 'X'))"
    )
    assert graph_filter(Scope()) is None
    assert graph_filter(Scope.model_validate({"include": [scope.include[2].model_dump()]})) is None


def _rule(rng: random.Random) -> dict:
    attribute = rng.choice(["department", "userPrincipalName", "accountEnabled", "userType"])
    if attribute == "accountEnabled":
        return {"attribute": attribute, "op": rng.choice(["eq", "ne"]), "value": rng.random() < 0.5}
    ops = ["eq", "ne", "in", "not_in"] + (["startswith"] if attribute != "userType" else [])
    ops += ["endswith"] if attribute == "userPrincipalName" else []
    op = rng.choice(ops)
    texts = [v for v in VALUES if v]
    if op in ("in", "not_in"):
        return {"attribute": attribute, "op": op, "values": rng.sample(texts, rng.randint(1, 3))}
    return {"attribute": attribute, "op": op, "value": rng.choice(texts)}


def test_graph_and_the_fetcher_agree_on_who_is_in_scope():
    rng = random.Random(7)
    for _ in range(300):
        scope = Scope.model_validate(
            {
                "include": [_rule(rng) for _ in range(rng.randint(0, 2))],
                "exclude": [_rule(rng) for _ in range(rng.randint(0, 2))],
            }
        )
        users = [
            {
                "department": rng.choice(VALUES),
                "userPrincipalName": rng.choice(VALUES),
                "userType": rng.choice(VALUES),
                "accountEnabled": rng.choice([True, False, None]),
            }
            for _ in range(20)
        ]
        verdict = judge(scope)
        text = graph_filter(scope)
        graph = parse_user_filter(text, advanced=True) if text else (lambda u: True)
        for user in users:
            assert graph(user) == (verdict(user) is None), (text, user)


def test_the_filter_names_whom_it_leaves_out_once():
    scope = Scope.model_validate({"exclude": [{"attribute": "userType", "op": "eq", "value": "guest"}]})
    f = ScopeFilter(scope)
    guest = DirectoryUser("g", {"userType": "Guest", "displayName": "G", "userPrincipalName": "g@x.test"})
    member = DirectoryUser("m", {"userType": "Member"})
    assert f.split([guest, member]) == ([member], ["g"])
    assert f.split([guest]) == ([], ["g"])
    assert f.count == 1
    assert f.excluded == {
        "g": {
            "directory_id": "g",
            "name": "G",
            "email": "g@x.test",
            "rule": "exclude[0]: userType eq 'guest'",
        }
    }


@pytest.mark.parametrize(
    "rule",
    [
        {"attribute": "userType", "op": "eq"},
        {"attribute": "userType", "op": "eq", "value": "a", "values": ["a"]},
        {"attribute": "userType", "op": "in", "value": "a"},
        {"attribute": "userType", "op": "in", "values": ["a"] * 51},
        {"attribute": "accountEnabled", "op": "eq", "value": "true"},
        {"attribute": "department", "op": "eq", "value": True},
        {"attribute": "department", "op": "eq", "value": 3},
        {"attribute": "department", "op": "eq", "value": ""},
        {"attribute": "department", "op": "eq", "value": "a\nb"},
        {"attribute": "department", "op": "endswith", "value": "a"},
        {"attribute": "onPremisesExtensionAttributes.extensionAttribute16", "op": "eq", "value": "a"},
        {"attribute": "mail", "op": "eq", "value": "a"},
    ],
)
def test_a_malformed_rule_is_refused(rule):
    with pytest.raises(ValidationError) as refused:
        Scope.model_validate({"include": [rule]})
    assert refused.value.errors()[0]["loc"][:2] == ("include", 0)
