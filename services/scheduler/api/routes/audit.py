"""A team's audit log, newest first: pages of JSON, or the whole log as CSV (``Accept: text/csv``)."""

from __future__ import annotations

import base64
import binascii
import csv
import io
from collections.abc import Iterable

import asyncpg
import orjson
from aiohttp import web

from services.scheduler.api.endpoint import Call, Endpoint, json_response
from services.scheduler.api.models.audit import AuditEntryOut, AuditOut, AuditQuery
from services.scheduler.api.problems import Problem

_PAGE = """
SELECT id, at, actor_kind, actor_id, actor_email, address, action, details
  FROM audit_log WHERE team_id = $1 AND ($2::bigint IS NULL OR id < $2)
   AND ($4::text IS NULL OR action = $4 OR action LIKE $4 || '.%')
 ORDER BY id DESC LIMIT $3
"""
_CSV_BATCH = 1000
_CSV_COLUMNS = ("id", "at", "actor_kind", "actor_id", "actor_email", "address", "action", "details")


def _encode(entry_id: int) -> str:
    return base64.urlsafe_b64encode(orjson.dumps([entry_id])).decode().rstrip("=")


def _decode(cursor: str) -> int:
    try:
        (entry_id,) = orjson.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (binascii.Error, orjson.JSONDecodeError, TypeError, ValueError):
        raise Problem(400, "the cursor cannot be read: pass the next_cursor of a previous page") from None
    if not isinstance(entry_id, int) or not 0 < entry_id < 2**63:
        raise Problem(400, "the cursor cannot be read: pass the next_cursor of a previous page")
    return entry_id


async def _page(
    pool: asyncpg.Pool, team_id, before: int | None, limit: int, action: str | None
) -> list[asyncpg.Record]:
    return await pool.fetch(_PAGE, team_id, before, limit, action)


def _json(value: object) -> str:
    return orjson.dumps(value).decode()


def _cell(value: object) -> str:
    """A CSV cell a spreadsheet shows as text: a leading =, +, - or @ would make it a formula."""
    text = "" if value is None else value.isoformat() if hasattr(value, "isoformat") else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def _csv(rows: Iterable[Iterable[object]]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerows([_cell(v) for v in row] for row in rows)
    return out.getvalue().encode()


async def read_audit(call: Call) -> web.StreamResponse:
    query: AuditQuery = call.query
    before = _decode(query.cursor) if query.cursor else None
    if "text/csv" in call.request.headers.get("Accept", ""):
        return await _export(call, before, query.action)
    rows = await _page(call.pool, call.team, before, query.limit, query.action)
    entries = [AuditEntryOut(**dict(r)) for r in rows]
    more = len(rows) == query.limit
    return json_response(AuditOut(entries=entries, next_cursor=_encode(rows[-1]["id"]) if more else None))


async def _export(call: Call, before: int | None, action: str | None) -> web.StreamResponse:
    response = web.StreamResponse(
        headers={
            "Content-Type": "text/csv; charset=utf-8",
            "Content-Disposition": f'attachment; filename="audit-{call.team}.csv"',
        }
    )
    await response.prepare(call.request)
    await response.write(_csv([_CSV_COLUMNS]))
    while rows := await _page(call.pool, call.team, before, _CSV_BATCH, action):
        await response.write(_csv([*(r[c] for c in _CSV_COLUMNS[:-1]), _json(r["details"])] for r in rows))
        before = rows[-1]["id"]
    await response.write_eof()
    return response


ENDPOINTS = (
    Endpoint(
        "GET",
        "/api/v1/teams/{team_id}/audit",
        read_audit,
        "Read the team's audit log, newest first (Accept: text/csv exports all of it)",
        {200: AuditOut},
        query=AuditQuery,
    ),
)
