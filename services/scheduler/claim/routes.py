"""The claim link of an invite (R11): GET shows the card, POST claims it (the member becomes active). Once,
until expiry."""

from __future__ import annotations

from dataclasses import asdict
from typing import Literal

import asyncpg
from aiohttp import web

from services.scheduler.claim.page import Card, render_page
from shared.crypto import hash_token
from shared.settings import Settings
from shared.text import PRODUCT

State = Literal["open", "used", "expired", "unknown"]
MAX_TOKEN_LENGTH = 200

# Status, title and detail of each way a link can be unusable.
PROBLEMS: dict[State, tuple[int, str, str]] = {
    "unknown": (
        404,
        "This invite link is not valid",
        "Check that the whole link was copied, or ask your team admin to send a new invite.",
    ),
    "used": (
        410,
        "This card has already been claimed",
        "The invite link works once and was used. Sign in to see your card.",
    ),
    "expired": (410, "This invite link has expired", "Ask your team admin to send you a new invite."),
}

_HEADERS = {
    # The token is in the URL: keep it out of caches and of the Referer sent to other sites.
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'",
}

_LOOKUP = """
    SELECT i.status, i.expires_at IS NULL OR i.expires_at <= now() AS expired, m.status AS member_status,
           t.name AS team_name, coalesce(nullif(m.card_name, ''), a.name) AS name, m.card_job_title,
           m.card_company, coalesce(nullif(m.card_email, ''), a.email) AS card_email, m.card_phone
      FROM invites i JOIN members m ON m.id = i.member_id JOIN accounts a ON a.id = m.account_id
      JOIN teams t ON t.id = m.team_id
     WHERE i.token_hash = $1
"""

_CLAIM = """
    WITH claimed AS (
        UPDATE invites i SET status = 'claimed', updated_at = now()
          FROM members m
         WHERE i.token_hash = $1 AND m.id = i.member_id AND m.status <> 'removed'
           AND i.status <> 'claimed' AND i.expires_at > now()
        RETURNING i.member_id)
    UPDATE members m SET status = 'active', updated_at = now()
      FROM claimed c WHERE m.id = c.member_id
    RETURNING m.id::text, m.team_id::text, (SELECT name FROM teams t WHERE t.id = m.team_id)
"""


def state_of(row: asyncpg.Record | None) -> State:
    if row is None or row["member_status"] == "removed":
        return "unknown"
    if row["status"] == "claimed":
        return "used"
    return "expired" if row["expired"] else "open"


def _card(row: asyncpg.Record) -> Card:
    return Card(
        row["name"] or "",
        row["card_job_title"] or "",
        row["card_company"] or "",
        row["card_email"] or "",
        row["card_phone"] or "",
    )


def _wants_json(request: web.Request) -> bool:
    accept = request.headers.get("Accept", "")
    return "application/json" in accept and "text/html" not in accept


def _problem(request: web.Request, state: State) -> web.Response:
    status, title, detail = PROBLEMS[state]
    if _wants_json(request):
        body = {"type": "about:blank", "title": title, "status": status, "detail": detail}
        return web.json_response(
            body, status=status, content_type="application/problem+json", headers=_HEADERS
        )
    page = render_page(subject=title, detail=detail, card=None, can_claim=False, link=None)
    return web.Response(text=page, status=status, content_type="text/html", headers=_HEADERS)


def claim_routes(pool: asyncpg.Pool, settings: Settings) -> list[web.RouteDef]:
    """The routes to mount on the public web app: GET and POST /invites/{token}."""

    async def lookup(token: str) -> asyncpg.Record | None:
        if len(token) > MAX_TOKEN_LENGTH:
            return None
        return await pool.fetchrow(_LOOKUP, hash_token(token))

    async def show(request: web.Request) -> web.Response:
        row = await lookup(request.match_info["token"])
        state = state_of(row)
        if state != "open":
            return _problem(request, state)
        card = _card(row)
        if _wants_json(request):
            return web.json_response(
                {"team": row["team_name"], "card": asdict(card), "claimable": True}, headers=_HEADERS
            )
        page = render_page(
            subject=f"Your card at {row['team_name']}",
            card=card,
            can_claim=True,
            link=None,
            detail=f"Claim this card to join {row['team_name']} on {PRODUCT}. The link works once.",
        )
        return web.Response(text=page, content_type="text/html", headers=_HEADERS)

    async def claim(request: web.Request) -> web.Response:
        token = request.match_info["token"]
        # One statement: two clicks at once claim once, the second finds the invite claimed.
        claimed = await pool.fetchrow(_CLAIM, hash_token(token)) if len(token) <= MAX_TOKEN_LENGTH else None
        if claimed is None:
            return _problem(request, state_of(await lookup(token)))
        if _wants_json(request):
            return web.json_response(
                {"member_id": claimed[0], "team_id": claimed[1], "status": "active"}, headers=_HEADERS
            )
        page = render_page(
            subject="Your card is claimed",
            card=None,
            can_claim=False,
            detail=f"Welcome to {claimed[2]}: your card is active.",
            link=settings.public_url,
        )
        return web.Response(text=page, content_type="text/html", headers=_HEADERS)

    return [web.get("/invites/{token}", show), web.post("/invites/{token}", claim)]
