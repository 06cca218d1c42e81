"""Browser sessions, kept in PostgreSQL: the cookie carries a random id signed with the signing key, the table
its hash, so neither a copy of the table nor a forged cookie opens one."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Literal

import asyncpg
from aiohttp import web

from shared.crypto import hash_token, signing_key
from shared.settings import Settings

COOKIE = "cardsync_session"
IDLE = timedelta(hours=8)
ABSOLUTE = timedelta(days=7)
_COLUMNS = "id_hash, kind, tenant_id, object_id, email, name, csrf_token"

# A live session, its idle clock reset at most once a minute (the idle limit is hours).
_LIVE = f"""
WITH s AS (
    SELECT {_COLUMNS}, last_seen_at FROM auth_sessions
     WHERE id_hash = $1 AND ended_at IS NULL
       AND last_seen_at > now() - $2::interval AND created_at > now() - $3::interval
),
seen AS (
    UPDATE auth_sessions SET last_seen_at = now() FROM s
     WHERE auth_sessions.id_hash = s.id_hash AND s.last_seen_at < now() - interval '1 minute'
)
SELECT {_COLUMNS} FROM s
"""


@dataclass(frozen=True)
class Session:
    id_hash: str
    kind: Literal["admin", "operator"]
    tenant_id: str | None
    object_id: str | None
    email: str | None
    name: str
    csrf_token: str


def sign(settings: Settings, value: str) -> str:
    """``value`` with a MAC by the signing key (never the key that encrypts secrets)."""
    return f"{value}.{_mac(settings, value)}"


def unsign(settings: Settings, signed: str) -> str | None:
    """The value of a signed string; None when it is not one this deployment signed."""
    value, _, mac = signed.rpartition(".")
    if not value or not signed.isascii() or not hmac.compare_digest(mac, _mac(settings, value)):
        return None
    return value


def _mac(settings: Settings, value: str) -> str:
    digest = hmac.new(signing_key(settings.secret_keys()), value.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


async def open_session(
    pool: asyncpg.Pool,
    settings: Settings,
    kind: Literal["admin", "operator"],
    *,
    tenant_id: str | None = None,
    object_id: str | None = None,
    email: str | None = None,
    name: str = "",
) -> tuple[str, Session]:
    """A new session and the cookie value that carries it. Sessions long over are dropped on the way."""
    session_id = secrets.token_urlsafe(32)
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute(
            "DELETE FROM auth_sessions WHERE last_seen_at < now() - $1::interval OR created_at < now() - "
            "$2::interval",
            IDLE,
            ABSOLUTE,
        )
        row = await conn.fetchrow(
            "INSERT INTO auth_sessions (id_hash, kind, tenant_id, object_id, email, name, csrf_token)"
            f" VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING {_COLUMNS}",
            hash_token(session_id),
            kind,
            tenant_id,
            object_id,
            email,
            name,
            secrets.token_urlsafe(32),
        )
    return sign(settings, session_id), Session(**dict(row))


async def load_session(pool: asyncpg.Pool, settings: Settings, request: web.Request) -> Session | None:
    """The live session the request's cookie carries, its idle time reset; None without one."""
    cookie = request.cookies.get(COOKIE)
    session_id = unsign(settings, cookie) if cookie else None
    if session_id is None:
        return None
    row = await pool.fetchrow(_LIVE, hash_token(session_id), IDLE, ABSOLUTE)
    return Session(**dict(row)) if row else None


async def end_session(pool: asyncpg.Pool, session: Session) -> None:
    await pool.execute("UPDATE auth_sessions SET ended_at = now() WHERE id_hash = $1", session.id_hash)


def set_cookie(response: web.StreamResponse, settings: Settings, name: str, value: str, max_age: int) -> None:
    """An HttpOnly, SameSite=Lax cookie for the whole site, Secure when the site is served over https."""
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path="/",
        httponly=True,
        samesite="Lax",
        secure=settings.public_url.lower().startswith("https://"),
    )


def set_session_cookie(response: web.StreamResponse, settings: Settings, value: str) -> None:
    set_cookie(response, settings, COOKIE, value, int(ABSOLUTE.total_seconds()))


def clear_cookie(response: web.StreamResponse, name: str) -> None:
    response.del_cookie(name, path="/")
