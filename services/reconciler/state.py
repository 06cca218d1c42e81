"""Reading a run's inputs from the database: unbound users' identity candidates, then every (directory user,
member) pair, streamed in chunks so memory does not grow with the team."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import asyncpg

from services.reconciler.identity import Candidate
from services.reconciler.model import CARD_COLUMNS, CurrentMember, MappedCard, Observed
from services.reconciler.staging import GONE

CHUNK = 2000

_CANDIDATES = """
SELECT s.directory_id, s.email_key, tm.id::text AS team_member, tm.directory_id AS team_member_directory_id,
       acc.id::text AS account,
       EXISTS (SELECT 1 FROM snapshot_users s2 JOIN members m2 ON m2.team_id = $2 AND m2.directory_id = s2.directory_id
                WHERE s2.run_id = $1 AND s2.email_key = s.email_key AND s2.skip IS NULL) AS taken
  FROM snapshot_users s
  LEFT JOIN LATERAL (SELECT a.id FROM accounts a WHERE a.email_key IN (s.email_key, s.login_key)
                      ORDER BY a.email_key = s.email_key DESC LIMIT 1) acc ON true
  LEFT JOIN members tm ON tm.team_id = $2 AND tm.account_id = acc.id
 WHERE s.run_id = $1 AND s.skip IS NULL
   AND NOT EXISTS (SELECT 1 FROM members bm WHERE bm.team_id = $2 AND bm.directory_id = s.directory_id)
"""

_PAIRS = """
WITH seen AS (
    SELECT d.directory_id, s.card, s.skip, b.skip AS bind_skip, b.account_id AS claim_account,
           coalesce(bm.id, b.member_id) AS member_id,
           (SELECT array_agg(sm.group_id) FROM snapshot_memberships sm
             WHERE sm.run_id = $1 AND sm.directory_id = d.directory_id AND NOT sm.removed) AS groups,
           (SELECT array_agg(sm.group_id) FROM snapshot_memberships sm
             WHERE sm.run_id = $1 AND sm.directory_id = d.directory_id AND sm.removed) AS left_groups
      FROM (SELECT directory_id FROM snapshot_users WHERE run_id = $1
            UNION SELECT directory_id FROM snapshot_memberships WHERE run_id = $1 AND removed) d
      LEFT JOIN snapshot_users s ON s.run_id = $1 AND s.directory_id = d.directory_id
      LEFT JOIN members bm ON bm.team_id = $2 AND bm.directory_id = d.directory_id
      LEFT JOIN rc_bind b ON b.directory_id = d.directory_id
), cur AS (
    SELECT m.id, m.account_id, m.directory_id, m.managed, m.status, m.role, m.role_from_sync,
           m.card_name, m.card_email, m.card_job_title, m.card_company, m.card_phone, m.card_location,
           m.card_fields, i.status AS invite_status,
           (SELECT jsonb_object_agg(l.source, nullif(l.value, '')) FROM links l
             WHERE l.member_id = m.id AND l.source IS NOT NULL) AS links,
           (SELECT jsonb_object_agg(s.directory_group_id, jsonb_build_array(sm.role, sm.role_from_sync))
              FROM subteam_members sm JOIN subteams s ON s.id = sm.subteam_id
             WHERE sm.member_id = m.id AND s.directory_group_id = ANY($3::text[])) AS subteams
      FROM members m LEFT JOIN invites i ON i.member_id = m.id
     WHERE m.team_id = $2 AND (m.managed OR m.id IN (SELECT member_id FROM rc_bind WHERE member_id IS NOT NULL))
)
SELECT seen.directory_id AS seen_id, seen.card, seen.skip, seen.bind_skip, seen.claim_account::text,
       seen.groups, seen.left_groups, cur.*
  FROM seen {join} cur ON cur.id = seen.member_id
"""


async def candidates(conn: asyncpg.Connection, run_id: str, team_id: str) -> list[Candidate]:
    return [Candidate(**dict(r)) for r in await conn.fetch(_CANDIDATES, run_id, team_id)]


@dataclass(frozen=True, slots=True)
class Pair:
    seen: Observed | None
    current: CurrentMember | None
    claim_account: str | None
    skip: str | None


def _current(r: asyncpg.Record) -> CurrentMember | None:
    if r["id"] is None:
        return None
    return CurrentMember(
        member_id=str(r["id"]), account_id=str(r["account_id"]), directory_id=r["directory_id"],
        managed=r["managed"], status=r["status"],
        fields={f: r[f"card_{f}"] for f in CARD_COLUMNS}, custom=r["card_fields"], links=r["links"] or {},
        subteams={g: (v[0], v[1]) for g, v in (r["subteams"] or {}).items()},
        role=r["role"], role_from_sync=r["role_from_sync"], invite_status=r["invite_status"],
    )


def _seen(r: asyncpg.Record) -> Observed | None:
    if r["seen_id"] is None:
        return None
    left = frozenset(r["left_groups"] or ())
    return Observed(
        directory_id=r["seen_id"], card=MappedCard.from_json(r["card"]) if r["card"] else None,
        groups=frozenset(r["groups"] or ()), left=left - {GONE}, gone=GONE in left,
    )


async def pairs(conn: asyncpg.Connection, run_id: str, team_id: str, driven: list[str],
                mode: str) -> AsyncIterator[Pair]:
    """Every staged user with its member, and (full mode) every managed member the snapshot did not list."""
    query = _PAIRS.format(join="FULL JOIN" if mode == "full" else "LEFT JOIN")
    async for r in conn.cursor(query, run_id, team_id, driven, prefetch=CHUNK):
        yield Pair(_seen(r), _current(r), r["claim_account"], r["skip"] or r["bind_skip"])
