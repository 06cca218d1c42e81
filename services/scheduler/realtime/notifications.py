"""The address Graph posts change and lifecycle notifications to, and its URL validation handshake.

Graph waits 3 s for an answer to a notification (10 s to a validation request) and retries, then slows down an
endpoint that keeps it waiting: the answer comes as soon as what the notifications ask for is recorded. Each
notification is believed only when its ``clientState`` is the secret of the subscription it names; any other
is ignored and still answered 202, so that a stranger learns nothing from the answer.
"""

from __future__ import annotations

import hmac
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from aiohttp import web

from services.scheduler.api.endpoint import POOL, SETTINGS, read_limited
from services.scheduler.api.problems import Problem
from services.scheduler.realtime import notified_runs
from services.scheduler.realtime.address import LIFECYCLE_PATH, NOTIFICATIONS_PATH
from services.scheduler.realtime.subscription_records import client_state_hash

log = logging.getLogger(__name__)
MAX_TOKEN = 2048  # a validation token is opaque, but no longer than a URL can carry
MAX_ITEMS = 1000
LIFECYCLE_EVENTS = frozenset({"reauthorizationRequired", "subscriptionRemoved", "missed"})


@dataclass(frozen=True)
class Notification:
    subscription_id: str
    client_state: str
    tenant_id: str | None
    lifecycle_event: str | None  # None: a change to the subscribed resource


def parse(body: bytes) -> list[Notification]:
    """The notifications of a POST body (``{"value": [...]}``); Problem 400 when it is not one. An item
    without the strings to check it by is dropped: it could never be believed."""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise Problem(400, "the body is not JSON") from None
    items = data.get("value") if isinstance(data, dict) else None
    if not isinstance(items, list):
        raise Problem(400, 'a notification body is an object with a "value" list')
    if len(items) > MAX_ITEMS:
        raise Problem(413, f"at most {MAX_ITEMS} notifications a request")
    found = []
    for item in items:
        if not isinstance(item, dict):
            continue
        sub, state = item.get("subscriptionId"), item.get("clientState")
        tenant, event = item.get("tenantId"), item.get("lifecycleEvent")
        if not isinstance(sub, str) or not isinstance(state, str) or len(sub) > 128 or len(state) > 128:
            continue
        found.append(
            Notification(
                sub,
                state,
                tenant if isinstance(tenant, str) else None,
                event if isinstance(event, str) else None,
            )
        )
    return found


def believed(items: list[Notification], known: dict[str, Any]) -> list[tuple[Notification, Any]]:
    """The items whose subscription is on record and whose clientState and tenant are its own, with that
    record. Every item's secret is compared in constant time, the unknown ones' too."""
    kept = []
    for item in items:
        record = known.get(item.subscription_id)
        stored = record["client_state_hash"] if record is not None else b"\0" * 32
        same = hmac.compare_digest(client_state_hash(item.client_state), bytes(stored))
        if record is None or not same:
            continue
        if item.tenant_id is not None and item.tenant_id.lower() != record["tenant_id"].lower():
            continue
        if item.lifecycle_event is not None and item.lifecycle_event not in LIFECYCLE_EVENTS:
            continue
        kept.append((item, record))
    return kept


async def receive(request: web.Request) -> web.Response:
    token = request.query.get("validationToken")
    if token is not None:
        return _validation_answer(token)
    items = parse(await read_limited(request))
    pool, settings = request.app[POOL], request.app[SETTINGS]
    now = datetime.now(UTC)
    async with pool.acquire() as conn, conn.transaction():
        known = {
            r["graph_id"]: r
            for r in await conn.fetch(
                "SELECT graph_id, team_id, tenant_id, client_state_hash FROM graph_subscriptions"
                " WHERE graph_id = ANY($1::text[])",
                list({i.subscription_id for i in items}),
            )
        }
        kept = believed(items, known)
        await notified_runs.record(conn, kept, now, timedelta(seconds=settings.notification_window))
    if len(kept) < len(items):
        log.info(
            "ignored %d of %d notifications: unknown subscription or wrong secret",
            len(items) - len(kept),
            len(items),
        )
    return web.Response(status=202)


def _validation_answer(token: str) -> web.Response:
    """Graph's handshake: the token as it was sent (URL-decoded), as plain text, at once."""
    if not token or len(token) > MAX_TOKEN:
        raise Problem(400, "the validation token is empty or too long")
    return web.Response(text=token, content_type="text/plain", headers={"X-Content-Type-Options": "nosniff"})


ROUTES = [web.post(NOTIFICATIONS_PATH, receive), web.post(LIFECYCLE_PATH, receive)]
