"""Graph's ``/subscriptions``: change-notification subscriptions to users and groups, as Graph keeps them.

Creating one (and moving its notification URL) first validates the URL as Graph does: a POST to it with a
``validationToken`` query parameter, which must be answered 200, ``text/plain``, with the token, within 10 s.
Only https URLs are taken, and http ones on a loopback host, which the tests serve the API on. Subscriptions
expire at their ``expirationDateTime`` (at most 41,760 minutes ahead for users and groups), by ``now``, which
tests may set to move time on.
"""

from __future__ import annotations

import asyncio
import re
import secrets
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import aiohttp

from simulator.errors import GraphError, bad_request
from simulator.request import GraphRequest, GraphResponse

MAX_LIFETIME = timedelta(minutes=41760)
VALIDATION_TIMEOUT = 10.0
QUOTA = 100  # users and groups subscriptions per app and tenant
CHANGE_TYPES = frozenset({"updated", "deleted"})  # all that users and groups notify of
_RESOURCES = (
    (re.compile(r"users(/[^/]+)?"), ("User.Read.All",)),
    (re.compile(r"groups(/[^/]+(/(members|owners))?)?"), ("Group.Read.All",)),
)
_PATH = re.compile(r"subscriptions(?:/(?P<id>[^/]+)(?P<reauthorize>/reauthorize)?)?")


@dataclass
class Subscription:
    id: str
    tenant_id: str
    client_id: str
    resource: str
    change_types: frozenset[str]
    notification_url: str
    lifecycle_url: str | None
    client_state: str | None
    expires: datetime
    seen: int  # the tenant's last change this subscription has notified of

    def json(self) -> dict[str, Any]:
        return {
            "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#subscriptions/$entity",
            "id": self.id,
            "resource": self.resource,
            "applicationId": self.client_id,
            "changeType": ",".join(sorted(self.change_types)),
            "clientState": self.client_state,
            "notificationUrl": self.notification_url,
            "lifecycleNotificationUrl": self.lifecycle_url,
            "expirationDateTime": iso(self.expires),
            "latestSupportedTlsVersion": "v1_2",
        }


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f0Z")


class Subscriptions:
    def __init__(self, now: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.items: dict[str, Subscription] = {}
        self.now = now
        self.session: aiohttp.ClientSession | None = None  # for validation requests and notifications

    def live(self) -> list[Subscription]:
        """The subscriptions not yet expired; expired ones are dropped, as Graph drops them."""
        now = self.now()
        for sub_id in [s.id for s in self.items.values() if s.expires <= now]:
            del self.items[sub_id]
        return list(self.items.values())

    async def handle(self, req: GraphRequest) -> GraphResponse:
        match = _PATH.fullmatch(req.path.rstrip("/"))
        if match is None:
            raise bad_request(f"Resource not found for the segment '{req.path}'.", code="BadRequest")
        sub_id, reauthorize = match["id"], match["reauthorize"]
        if sub_id is None:
            if req.method == "POST":
                return await self._create(req)
            if req.method == "GET":
                return GraphResponse(200, {"value": [s.json() for s in self._mine(req)]})
        else:
            sub = self._find(req, sub_id)
            if reauthorize and req.method == "POST":
                return GraphResponse(204, b"")
            if not reauthorize and req.method == "GET":
                return GraphResponse(200, sub.json())
            if not reauthorize and req.method == "PATCH":
                return await self._update(req, sub)
            if not reauthorize and req.method == "DELETE":
                del self.items[sub.id]
                return GraphResponse(204, b"")
        raise GraphError(405, "Request_BadRequest", f"The HTTP method '{req.method}' is not allowed here.")

    def _mine(self, req: GraphRequest) -> list[Subscription]:
        return [s for s in self.live() if (s.tenant_id, s.client_id) == (req.tenant.tenant_id, req.client_id)]

    def _find(self, req: GraphRequest, sub_id: str) -> Subscription:
        found = next((s for s in self._mine(req) if s.id == sub_id), None)
        if found is None:
            raise GraphError(404, "ResourceNotFound", f"The object was not found. Subscription Id: {sub_id}")
        return found

    async def _create(self, req: GraphRequest) -> GraphResponse:
        body = req.body if isinstance(req.body, dict) else {}
        resource = str(body.get("resource") or "").strip("/")
        needs = next((p for pattern, p in _RESOURCES if pattern.fullmatch(resource)), None)
        if needs is None:
            raise bad_request(
                f"Resource '{resource}' is not supported for change notifications.", "InvalidRequest"
            )
        req.require(*needs)
        kinds = frozenset(t.strip() for t in str(body.get("changeType") or "").split(",") if t.strip())
        if not kinds or not kinds <= CHANGE_TYPES:
            raise bad_request(
                f"ChangeType '{body.get('changeType')}' is not supported for resource '{resource}'; users and"
                " groups notify of updated and deleted only.",
                "InvalidRequest",
            )
        client_state = body.get("clientState")
        if client_state is not None and (not isinstance(client_state, str) or len(client_state) > 128):
            raise bad_request("clientState must be a string of at most 128 characters.", "InvalidRequest")
        expires = self._expiry(body)
        url, lifecycle = _url(body, "notificationUrl"), body.get("lifecycleNotificationUrl")
        if lifecycle is not None:
            lifecycle = _url(body, "lifecycleNotificationUrl")
        if len(self._mine(req)) >= QUOTA:
            raise GraphError(
                403, "ExtensionError", f"Subscriptions quota of {QUOTA} per app and tenant reached."
            )
        for target in (url, lifecycle):
            if target is not None:
                await self._validate(target)
        sub = Subscription(
            str(uuid.uuid4()),
            req.tenant.tenant_id,
            req.client_id,
            resource,
            kinds,
            url,
            lifecycle,
            client_state,
            expires,
            req.tenant.changes.seq,
        )
        self.items[sub.id] = sub
        return GraphResponse(201, sub.json())

    async def _update(self, req: GraphRequest, sub: Subscription) -> GraphResponse:
        body = req.body if isinstance(req.body, dict) else {}
        expires = self._expiry(body) if "expirationDateTime" in body else sub.expires
        if "notificationUrl" in body:
            url = _url(body, "notificationUrl")
            await self._validate(url)
            sub.notification_url = url
        sub.expires = expires
        return GraphResponse(200, sub.json())

    def _expiry(self, body: dict[str, Any]) -> datetime:
        try:
            expires = datetime.fromisoformat(str(body.get("expirationDateTime")))
        except ValueError:
            raise bad_request(
                "expirationDateTime is missing or not a date and time.", "InvalidRequest"
            ) from None
        expires = expires if expires.tzinfo else expires.replace(tzinfo=UTC)
        now = self.now()
        if expires <= now:
            raise bad_request("Subscription expiration must be in the future.", "InvalidRequest")
        if expires > now + MAX_LIFETIME:
            raise bad_request(
                f"Subscription expiration can only be {MAX_LIFETIME.total_seconds() // 60:.0f} minutes in the"
                " future.",
                "InvalidRequest",
            )
        return expires

    async def _validate(self, url: str) -> None:
        """Graph's handshake: the endpoint echoes the token as text/plain within 10 s, or nothing is made."""
        assert self.session is not None, "the simulator is not started"
        token = "Validation: Testing client application reachability for subscription Request-Id: "
        token += secrets.token_hex(8)
        failed = bad_request(
            "Subscription validation request failed. Notification endpoint must respond with 200 OK to"
            " validation request.",
            "ValidationError",
        )
        try:
            async with asyncio.timeout(VALIDATION_TIMEOUT):
                async with self.session.post(
                    url,
                    params={"validationToken": token},
                    headers={"Content-Type": "text/plain; charset=utf-8"},
                ) as resp:
                    text = await resp.text()
                    plain = resp.content_type == "text/plain"
        except (TimeoutError, aiohttp.ClientError):
            raise failed from None
        if resp.status != 200 or not plain or text != token:
            raise failed


def _url(body: dict[str, Any], name: str) -> str:
    """An https URL; http only on a loopback host, which is where the tests serve the API."""
    url = body.get(name)
    parts = urlsplit(url) if isinstance(url, str) else None
    loopback = parts is not None and parts.hostname in ("127.0.0.1", "localhost", "::1")
    if (
        parts is None
        or not parts.hostname
        or not (parts.scheme == "https" or (parts.scheme == "http" and loopback))
    ):
        raise bad_request(f"{name} must be an https URL.", "InvalidRequest")
    return str(url)
