"""What the reconciler's apply does to a team, on plain values: the team after a plan."""

from __future__ import annotations

from dataclasses import replace

from services.reconciler.model import CurrentMember, MemberAction, email_key
from tests.oracle.plan import Plan, TeamState


def apply(state: TeamState, plan: Plan, send_invites: bool = True) -> TeamState:
    """The team after ``plan``: new members and accounts are named after their directory user."""
    members = {m.member_id: replace(m, subteams=dict(m.subteams), links=dict(m.links)) for m in state.members}
    after = TeamState([], dict(state.emails), dict(state.accounts), set(state.made))
    for a in plan.actions:
        if a.kind == "create":
            member = _create(a, after, send_invites)
            members[member.member_id] = member
        elif a.kind == "update":
            _update(members[a.member_id], a, after)
        elif a.kind == "remove" and not plan.held:
            if a.hard:
                _delete(members.pop(a.member_id), members, after)
            else:
                m = members[a.member_id]
                m.status, m.subteams = "removed", {}
    after.members = list(members.values())
    return after


def _create(a: MemberAction, state: TeamState, send_invites: bool) -> CurrentMember:
    """R4: a new member of the account its email claims, else of a new account with the user's login (R5)."""
    assert a.card is not None and a.directory_id is not None
    account, login = a.account_id, None
    if account is None:
        account = state.accounts.get(a.card.login_key)  # another run's, made meanwhile: used, not made again
    if account is None:
        account = state.accounts[a.card.login_key] = f"acc-{a.directory_id}"
        state.emails[account] = a.card.login_key
        state.made.add(account)
        login = a.card.login_email
    return CurrentMember(
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
        invite_status="queued" if send_invites else "pending",
        sync_login=login,
    )


def _update(m: CurrentMember, a: MemberAction, state: TeamState) -> None:
    m.fields, m.custom = dict(a.fields), dict(a.custom)
    for source, link in a.links.items():
        m.links.pop(source, None) if link is None else m.links.__setitem__(source, link.value)
    m.subteams = {g: r for g, r in m.subteams.items() if g not in a.leave} | a.join | a.subteam_roles
    m.status = a.status or m.status
    if a.bind:
        m.directory_id, m.managed = a.directory_id, True
    if a.role:
        m.role, m.role_from_sync = a.role
    if "login_email" in a.changes and a.card is not None:
        _relogin(m, a.card.login_email, state)


def _relogin(m: CurrentMember, login: str, state: TeamState) -> None:
    """R4, R5: an account this team's sync made follows its user's login, unless another account has it."""
    new, old = email_key(login), state.emails[m.account_id]
    if state.accounts.get(new, m.account_id) != m.account_id:
        return
    del state.accounts[old]
    state.accounts[new], state.emails[m.account_id], m.sync_login = m.account_id, new, login


def _delete(m: CurrentMember, members: dict[str, CurrentMember], state: TeamState) -> None:
    """R9, delete on removal: the account goes too when this team's sync made it and no member keeps it."""
    if m.account_id in state.made and all(x.account_id != m.account_id for x in members.values()):
        del state.accounts[state.emails.pop(m.account_id)]
        state.made.discard(m.account_id)
