"""What the reconciler's apply does to a team, on plain values."""

from __future__ import annotations

from dataclasses import replace

from services.reconciler.model import CurrentMember, MemberAction
from tests.oracle.plan import Plan, TeamState


def apply(state: TeamState, plan: Plan) -> TeamState:
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
