"""The reconciler held to its oracle: a random small directory and team, one run through the real handlers on
PostgreSQL, and then the team, the counts, the member errors and a dry run's plan as the oracle's plan says
(R2-R4, R7-R12, R17, R18).

All examples share the test's database, each with a team and an email domain of its own.
CARDSYNC_ORACLE_EXAMPLES sets how many run (default 150; ``scripts/oracle`` runs 500)."""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass
from typing import Any

import asyncpg
import orjson
from hypothesis import HealthCheck, given, note, settings

from services.reconciler.handlers import Reconciler
from services.reconciler.mapping import map_user
from services.reconciler.model import CARD_COLUMNS, CurrentMember, Observed, Role, email_key
from services.reconciler.rules import Context
from shared.config import SyncConfig
from shared.messages import DirectoryUser, GroupInfo, MembersFetched, SnapshotCompleted
from tests.oracle.apply import apply
from tests.oracle.plan import TeamState, counts, make_plan, preview_plan
from tests.oracle.scenarios import IDS, SYNCED, Member, Scenario, scenarios

EXAMPLES = int(os.environ.get("CARDSYNC_ORACLE_EXAMPLES", "150"))


@dataclass
class Team:
    """A scenario's team on the database: the state the oracle plans over, with the ids its rows got."""

    id: str
    state: TeamState
    other_places: dict[str, dict[str, Role]]  # member id -> its places in subteams no synced group drives


async def _set_up(conn: asyncpg.Connection, s: Scenario) -> Team:
    team = Team(str(uuid.uuid4()), TeamState([]), {})
    await conn.execute("INSERT INTO teams (id, name, token_hash) VALUES ($1, 'T', $2)", team.id, team.id)
    subteams = {g: str(uuid.uuid4()) for g in (*SYNCED, *(g for m in s.members for g in m.places))}
    await conn.executemany(
        "INSERT INTO subteams (id, team_id, name, directory_group_id) VALUES ($1, $2, $3, $3)",
        [(sid, team.id, g) for g, sid in subteams.items()],
    )
    for login, made in [(e, False) for e in s.outside] + [(m.login, m.made) for m in s.members]:
        account, key = str(uuid.uuid4()), email_key(login.at(s.domain))
        await conn.execute(
            "INSERT INTO accounts (id, email, created_by_team) VALUES ($1, $2, $3)",
            account,
            login.at(s.domain),
            team.id if made else None,
        )
        team.state.accounts[key], team.state.emails[account] = account, key
        if made:
            team.state.made.add(account)
    for m in s.members:
        member = _member(m, team, s.domain)
        await conn.execute(
            "INSERT INTO members (id, team_id, account_id, directory_id, managed, status, role,"
            " role_from_sync, subscription_active, card_name, card_email, card_job_title, card_phone)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
            member.member_id,
            team.id,
            member.account_id,
            member.directory_id,
            member.managed,
            member.status,
            member.role,
            member.role_from_sync,
            member.status != "removed",
            *(member.fields[f] for f in ("name", "email", "job_title", "phone")),
        )
        await conn.executemany(
            "INSERT INTO links (member_id, type, label, value, source) VALUES ($1, $2, $2, $3, $2)",
            [(member.member_id, source, value) for source, value in member.links.items()],
        )
        await conn.executemany(
            "INSERT INTO subteam_members (subteam_id, member_id, role, role_from_sync)"
            " VALUES ($1, $2, $3, $4)",
            [(subteams[g], member.member_id, *role) for g, role in m.places.items()],
        )
        if m.invite:
            await conn.execute(
                "INSERT INTO invites (member_id, status) VALUES ($1, $2)", member.member_id, m.invite
            )
        team.state.members.append(member)
        team.other_places[member.member_id] = {g: r for g, r in m.places.items() if g not in SYNCED}
    return team


def _member(m: Member, team: Team, domain: str) -> CurrentMember:
    """The member as the reconciler reads it: its places in the synced groups' subteams only."""
    email = m.email.at(domain) if m.email else None
    links = {
        "email": f"mailto:{email}" if email else None,
        "phone": f"tel:{m.phone.replace(' ', '')}" if m.phone else None,
    }
    return CurrentMember(
        str(uuid.uuid4()),
        team.state.accounts[email_key(m.login.at(domain))],
        IDS[m.n] if m.n is not None else None,
        m.n is not None,
        m.status,
        {
            "name": m.name,
            "email": email,
            "job_title": m.title,
            "company": None,
            "phone": m.phone,
            "location": None,
        },
        links={k: v for k, v in links.items() if v and m.linked},
        subteams={g: r for g, r in m.places.items() if g in SYNCED},
        role=m.role[0],
        role_from_sync=m.role[1],
        invite_status=m.invite,
        sync_login=m.login.at(domain) if m.made else None,
    )


def _messages(s: Scenario, team_id: str, run_id: str) -> tuple[list[MembersFetched], SnapshotCompleted]:
    """The pages a fetch sends: each synced group's users with the ids that left it; then the ids gone."""
    pages: list[MembersFetched] = []

    def page(group_id: str | None, users: list[DirectoryUser], removed: list[str]) -> None:
        pages.append(
            MembersFetched(
                team_id=team_id,
                run_id=run_id,
                seq=len(pages),
                group_id=group_id,
                users=users,
                removed_ids=removed,
            )
        )

    for g in SYNCED:
        listed = [DirectoryUser(id=IDS[u.n], properties=s.properties(u)) for u in s.users if g in u.groups]
        left = [IDS[n] for n, groups in s.left.items() if g in groups]
        if listed or left:
            page(g, listed, left)
    if s.gone:
        page(None, [], [IDS[n] for n in sorted(s.gone)])
    done = SnapshotCompleted(
        team_id=team_id,
        run_id=run_id,
        pages=len(pages),
        mode=s.mode,
        groups=[GroupInfo(id=g["id"], display_name=g["display_name"]) for g in s.config["groups"]],
        roles={k: [IDS[n] for n in sorted(v)] for k, v in s.roles.items()},
        graph_requests=1,
    )
    return pages, done


def _observed(s: Scenario, config: SyncConfig) -> list[Observed]:
    seen = {
        IDS[u.n]: Observed(
            IDS[u.n], map_user(s.properties(u), config, IDS[u.n]), u.groups, s.left.get(u.n, frozenset())
        )
        for u in s.users
    }
    for n, groups in s.left.items():
        seen.setdefault(IDS[n], Observed(IDS[n], None, left=groups))
    for n in s.gone:
        seen[IDS[n]] = Observed(IDS[n], None, gone=True)
    return list(seen.values())


def _shape(directory_id, managed, status, fields, links, places, role, invite) -> dict[str, Any]:
    return {
        "directory_id": directory_id,
        "managed": managed,
        "status": status,
        "fields": dict(fields),
        "links": dict(links),
        "places": {g: tuple(r) for g, r in places.items()},
        "role": tuple(role),
        "invite": invite,
    }


def _expected(team: Team, after: TeamState) -> dict[str, Any]:
    """The team as ``_read`` reads it, from the oracle's state after the run: a removal takes every place."""
    members = {
        after.emails[m.account_id]: _shape(
            m.directory_id,
            m.managed,
            m.status,
            m.fields,
            m.links,
            m.subteams | (team.other_places.get(m.member_id, {}) if m.status != "removed" else {}),
            (m.role, m.role_from_sync),
            m.invite_status,
        )
        for m in after.members
    }
    return {"members": members, "accounts": {k: a in after.made for k, a in after.accounts.items()}}


_READ = f"""
SELECT a.email_key, m.directory_id, m.managed, m.status, m.subscription_active, m.role, m.role_from_sync,
       {", ".join(f"m.card_{f}" for f in CARD_COLUMNS)}, i.status AS invite,
       (SELECT coalesce(jsonb_object_agg(l.source, l.value), '{{}}') FROM links l
         WHERE l.member_id = m.id) AS links,
       (SELECT coalesce(jsonb_object_agg(s.directory_group_id, jsonb_build_array(sm.role, sm.role_from_sync)),
                        '{{}}')
          FROM subteam_members sm JOIN subteams s ON s.id = sm.subteam_id WHERE sm.member_id = m.id) AS places
  FROM members m JOIN accounts a ON a.id = m.account_id LEFT JOIN invites i ON i.member_id = m.id
 WHERE m.team_id = $1
"""


async def _read(conn: asyncpg.Connection, team_id: str, domain: str) -> dict[str, Any]:
    """The team's members by login, and the scenario's accounts with whether the team's sync made them."""
    members = {}
    for r in await conn.fetch(_READ, team_id):
        assert r["subscription_active"] == (r["status"] != "removed"), dict(r)  # R9: a removal ends it
        fields = {f: r[f"card_{f}"] for f in CARD_COLUMNS}
        role = (r["role"], r["role_from_sync"])
        members[r["email_key"]] = _shape(
            r["directory_id"], r["managed"], r["status"], fields, r["links"], r["places"], role, r["invite"]
        )
    accounts = await conn.fetch(
        "SELECT email_key, created_by_team IS NOT NULL AS made FROM accounts WHERE email_key LIKE $1",
        f"%@{domain}",
    )
    return {"members": members, "accounts": {r["email_key"]: r["made"] for r in accounts}}


def _sorted(plan: dict[str, list]) -> dict[str, list[bytes]]:
    return {k: sorted(orjson.dumps(e, option=orjson.OPT_SORT_KEYS) for e in v) for k, v in plan.items()}


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)
@given(s=scenarios())
async def test_the_reconciler_ends_where_its_oracle_says(pool, settings, s):
    note(repr(s))
    config = SyncConfig.model_validate(s.config)
    async with pool.acquire() as conn, conn.transaction():
        team = await _set_up(conn, s)
        before = await _read(conn, team.id, s.domain)
    ctx = Context(config, s.mode, {k: frozenset(IDS[n] for n in v) for k, v in s.roles.items()})
    plan = make_plan(_observed(s, config), team.state, ctx)
    note(repr(plan))
    run_id = str(
        await pool.fetchval(
            "INSERT INTO sync_runs (team_id, trigger, dry_run, status, config)"
            " VALUES ($1, 'manual', $2, 'fetching', $3) RETURNING id",
            team.id,
            s.dry_run,
            s.config,
        )
    )
    reconciler = Reconciler(pool, settings)
    pages, done = _messages(s, team.id, run_id)
    for page in pages:
        await reconciler.on_members_fetched(page)
    await reconciler.on_snapshot_completed(done)
    run = await pool.fetchrow(
        "SELECT status, counts, member_errors, plan, error FROM sync_runs WHERE id = $1", run_id
    )

    assert run["status"] == ("held" if plan.held and not s.dry_run else "succeeded"), run["error"]
    assert run["counts"] == counts(plan.actions, plan.held, config.send_invites, team.state)
    assert sorted(e["directory_id"] for e in run["member_errors"]) == sorted(
        e["directory_id"] for e in plan.errors
    )
    async with pool.acquire() as conn:
        after = await _read(conn, team.id, s.domain)
    if s.dry_run:
        assert after == before
        assert _sorted(run["plan"]) == _sorted(preview_plan(plan, config.send_invites))
    else:
        assert after == _expected(team, apply(team.state, plan, config.send_invites))
