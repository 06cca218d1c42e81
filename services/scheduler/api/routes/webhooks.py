"""A team's outgoing webhooks: made (secret shown once), listed, deleted, and their deliveries listed."""

from __future__ import annotations

from aiohttp import web

from services.scheduler.api.endpoint import Call, Endpoint, json_response
from services.scheduler.api.models.webhooks import (
    DeliveriesOut,
    DeliveriesQuery,
    DeliveryOut,
    WebhookCreated,
    WebhookIn,
    WebhookOut,
    WebhooksOut,
)
from services.scheduler.api.problems import Problem
from shared.crypto import encrypt
from shared.webhooks import UrlRefused, check_url, new_secret

_COLUMNS = "id, url, events, description, created_at"
MAX_PER_TEAM = 20


async def create_webhook(call: Call) -> web.Response:
    body: WebhookIn = call.body
    try:
        url = check_url(body.url, call.settings.webhooks_allow_private)
    except UrlRefused as exc:
        raise Problem(422, f"url: {exc}", errors=[{"loc": ["url"], "msg": str(exc)}]) from None
    keys = call.settings.secret_keys()
    if not keys:
        raise Problem(503, "CARDSYNC_SECRET_KEYS is not set, so webhook secrets cannot be stored")
    secret = new_secret()
    async with call.pool.acquire() as conn, conn.transaction():
        await conn.execute("SELECT 1 FROM teams WHERE id = $1 FOR UPDATE", call.team)  # one maker at a time
        count = await conn.fetchval("SELECT count(*) FROM webhooks WHERE team_id = $1", call.team)
        if count >= MAX_PER_TEAM:
            raise Problem(409, f"a team has at most {MAX_PER_TEAM} webhooks: delete one first")
        row = await conn.fetchrow(
            "INSERT INTO webhooks (team_id, url, events, description, secret_encrypted)"
            f" VALUES ($1, $2, $3, $4, $5) RETURNING {_COLUMNS}",
            call.team,
            url,
            list(body.events),
            body.description,
            encrypt(keys, secret),
        )
        await call.audit("webhook.create", {"webhook_id": str(row["id"]), "url": url}, conn)
    return json_response(WebhookCreated(**dict(row), secret=secret), 201)


async def list_webhooks(call: Call) -> web.Response:
    rows = await call.pool.fetch(
        f"SELECT {_COLUMNS} FROM webhooks WHERE team_id = $1 ORDER BY created_at, id", call.team
    )
    return json_response(WebhooksOut(webhooks=[WebhookOut(**dict(r)) for r in rows]))


async def delete_webhook(call: Call) -> web.Response:
    webhook_id = call.path_id("webhook_id")
    async with call.pool.acquire() as conn, conn.transaction():
        url = await conn.fetchval(
            "DELETE FROM webhooks WHERE id = $1 AND team_id = $2 RETURNING url", webhook_id, call.team
        )
        if url is None:
            raise Problem(404, "this team has no such webhook")
        await call.audit("webhook.delete", {"webhook_id": str(webhook_id), "url": url}, conn)
    return web.Response(status=204)


async def list_deliveries(call: Call) -> web.Response:
    query: DeliveriesQuery = call.query
    webhook_id = call.path_id("webhook_id")
    if not await call.pool.fetchval(
        "SELECT true FROM webhooks WHERE id = $1 AND team_id = $2", webhook_id, call.team
    ):
        raise Problem(404, "this team has no such webhook")
    rows = await call.pool.fetch(
        "SELECT id, event, status, attempts, last_status, last_error, created_at, finished_at,"
        " CASE WHEN status = 'pending' THEN next_attempt_at END AS next_attempt_at"
        " FROM webhook_deliveries WHERE webhook_id = $1 ORDER BY created_at DESC, id LIMIT $2",
        webhook_id,
        query.limit,
    )
    return json_response(DeliveriesOut(deliveries=[DeliveryOut(**dict(r)) for r in rows]))


ENDPOINTS = (
    Endpoint(
        "POST",
        "/api/v1/teams/{team_id}/webhooks",
        create_webhook,
        "Register a webhook for the team's events (its signing secret is shown once)",
        {201: WebhookCreated},
        body=WebhookIn,
        problems={
            409: "the team has as many webhooks as it may",
            422: "the URL is not https, or its host is a loopback, private or local-network address",
            503: "CARDSYNC_SECRET_KEYS is not set",
        },
    ),
    Endpoint(
        "GET",
        "/api/v1/teams/{team_id}/webhooks",
        list_webhooks,
        "List the team's webhooks",
        {200: WebhooksOut},
    ),
    Endpoint(
        "DELETE",
        "/api/v1/teams/{team_id}/webhooks/{webhook_id}",
        delete_webhook,
        "Delete a webhook (and its deliveries)",
        {204: None},
    ),
    Endpoint(
        "GET",
        "/api/v1/teams/{team_id}/webhooks/{webhook_id}/deliveries",
        list_deliveries,
        "List a webhook's deliveries, newest first, with how each went",
        {200: DeliveriesOut},
        query=DeliveriesQuery,
    ),
)
