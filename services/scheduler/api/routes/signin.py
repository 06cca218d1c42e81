"""Signing in: with Microsoft (OpenID Connect, PKCE) for team admins, with the operator token as a break-glass
login, and who the API takes a caller to be (``/api/v1/me``)."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

import asyncpg
import orjson
from aiohttp import web

from services.scheduler.api import audit
from services.scheduler.api.auth import CSRF_HEADER, Caller, csrf_matches, is_operator_token
from services.scheduler.api.endpoint import MAX_BODY, POOL, SETTINGS, Call, Endpoint
from services.scheduler.api.models.teams import MeOut, TeamRef
from services.scheduler.api.problems import Problem
from services.scheduler.api.sessions import (
    clear_cookie,
    end_session,
    load_session,
    open_session,
    set_cookie,
    set_session_cookie,
    sign,
    unsign,
)
from services.scheduler.signin import SignIn, SignInError, SignInUnavailable
from shared.crypto import hash_token

log = logging.getLogger(__name__)
SIGNIN = web.AppKey("signin", SignIn)
CALLBACK_PATH = "/auth/callback"
LOGIN_COOKIE = "cardsync_login"  # ties a sign-in's answer to the browser that asked for it
FLOW_TTL = timedelta(minutes=10)

_SPEND_FLOW = """
DELETE FROM auth_flows WHERE state_hash = $1
RETURNING flow, next_path, created_at > now() - $2::interval AS fresh
"""


def safe_next(value: str | None) -> str:
    """A path on this site to go to after signing in; anything else (another site, ``//host``) is ``/``."""
    if not value or not value.startswith("/") or value.startswith(("//", "/\\")) or not value.isprintable():
        return "/"
    return value


def _login_hint(value: str | None) -> str | None:
    """A username to fill in on the platform's sign-in page; anything that cannot be one is left out."""
    if not value or len(value) > 256 or not value.isprintable() or any(c.isspace() for c in value):
        return None
    return value


async def signin_ctx(app: web.Application):
    app[SIGNIN] = SignIn(app[SETTINGS])
    yield
    await app[SIGNIN].close()


async def login(request: web.Request) -> web.StreamResponse:
    settings, pool = request.app[SETTINGS], request.app[POOL]
    redirect_uri = settings.public_url.rstrip("/") + CALLBACK_PATH
    try:
        flow = await request.app[SIGNIN].start(redirect_uri, _login_hint(request.query.get("login_hint")))
    except SignInUnavailable as exc:
        raise Problem(503, str(exc)) from None
    await pool.execute(
        "WITH old AS (DELETE FROM auth_flows WHERE created_at < now() - $4::interval)"
        " INSERT INTO auth_flows (state_hash, flow, next_path) VALUES ($1, $2::jsonb, $3)",
        hash_token(flow["state"]),
        orjson.dumps(flow).decode(),
        safe_next(request.query.get("next")),
        FLOW_TTL,
    )
    response = web.Response(status=302, headers={"Location": flow["auth_uri"], "Cache-Control": "no-store"})
    set_cookie(response, settings, LOGIN_COOKIE, sign(settings, flow["state"]), int(FLOW_TTL.total_seconds()))
    return response


async def callback(request: web.Request) -> web.StreamResponse:
    settings, pool = request.app[SETTINGS], request.app[POOL]
    answer = {k: request.query.getone(k) for k in request.query}
    state = answer.get("state", "")
    spent = await pool.fetchrow(_SPEND_FLOW, hash_token(state), FLOW_TTL) if state else None
    started_here = unsign(settings, request.cookies.get(LOGIN_COOKIE, "")) == state
    if spent is None or not spent["fresh"] or not started_here:
        await _failed(
            request, pool, "the sign-in state is missing, unknown, used, expired or from another browser"
        )
        raise Problem(
            400, "this sign-in cannot be completed (its state is unknown, used or expired): sign in again"
        )
    if "error" in answer:
        reason = (
            f"the identity platform refused the sign-in: {answer.get('error_description') or answer['error']}"
        )
        await _failed(request, pool, reason)
        raise Problem(400, reason)
    try:
        person = await request.app[SIGNIN].finish(orjson.loads(spent["flow"]), answer)
    except SignInUnavailable as exc:
        raise Problem(503, str(exc)) from None
    except SignInError as exc:
        await _failed(request, pool, str(exc))
        raise Problem(400, str(exc)) from None
    cookie, session = await open_session(
        pool,
        settings,
        "admin",
        tenant_id=person.tenant_id,
        object_id=person.object_id,
        email=person.email,
        name=person.name,
    )
    caller = Caller(kind="admin", session=session)
    for team_id in await caller.teams(pool) or [None]:
        await audit.record(pool, request, caller, "auth.sign_in", team_id)
    log.info("an admin of tenant %s signed in", person.tenant_id)
    response = web.Response(status=303, headers={"Location": spent["next_path"], "Cache-Control": "no-store"})
    set_session_cookie(response, settings, cookie)
    clear_cookie(response, LOGIN_COOKIE)
    return response


async def operator_login(request: web.Request) -> web.StreamResponse:
    """The break-glass login: the operator token, typed into a form, opens an operator session."""
    settings, pool = request.app[SETTINGS], request.app[POOL]
    if request.content_length and request.content_length > MAX_BODY:
        raise Problem(413, "the request body is too large")
    form = await request.post()
    token = str(form.get("token", ""))
    if not is_operator_token(settings, token):
        await _failed(request, pool, "a wrong operator token was given to the break-glass login")
        raise Problem(401, "that is not the operator token")
    cookie, _ = await open_session(pool, settings, "operator")
    await audit.record(pool, request, Caller(kind="operator"), "auth.sign_in", None, {"break_glass": True})
    response = web.Response(status=303, headers={"Location": safe_next(str(form.get("next", "")))})
    set_session_cookie(response, settings, cookie)
    return response


async def logout(request: web.Request) -> web.StreamResponse:
    settings, pool = request.app[SETTINGS], request.app[POOL]
    session = await load_session(pool, settings, request)
    if session is not None:
        form = await request.post() if request.content_type == "application/x-www-form-urlencoded" else {}
        sent = request.headers.get(CSRF_HEADER) or str(form.get("csrf_token", ""))
        if not csrf_matches(session, sent):
            raise Problem(403, f"signing out needs the session's {CSRF_HEADER} header or csrf_token field")
        await end_session(pool, session)
    response = web.Response(status=204)
    clear_cookie(response, "cardsync_session")
    return response


async def _failed(request: web.Request, pool: asyncpg.Pool, reason: str) -> None:
    await audit.record(pool, request, None, "auth.sign_in_failed", None, {"reason": reason})


async def me(call: Call) -> web.Response:
    caller = call.caller
    assert caller is not None
    body: dict[str, Any] = {"kind": "team" if caller.kind == "team_token" else caller.kind}
    if not caller.is_operator:
        ids = await caller.teams(call.pool)
        rows = await call.pool.fetch(
            "SELECT id, name FROM teams WHERE id = ANY($1::uuid[]) ORDER BY name", ids
        )
        body["teams"] = [TeamRef(**dict(r)) for r in rows]
    if caller.session is not None:
        body["csrf_token"] = caller.session.csrf_token
        if caller.kind == "admin":
            s = caller.session
            body.update(email=s.email, name=s.name, tenant_id=s.tenant_id)
    return web.Response(
        body=MeOut(**body).model_dump_json(exclude_none=True), content_type="application/json"
    )


ROUTES = (
    web.get("/auth/login", login),
    web.get(CALLBACK_PATH, callback),
    web.post("/auth/operator", operator_login),
    web.post("/auth/logout", logout),
)

ENDPOINTS = (Endpoint("GET", "/api/v1/me", me, "Who the API takes the caller to be", {200: MeOut}),)
