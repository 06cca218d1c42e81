"""Change notifications as Graph sends them: the tenant's changes, some at a time, to each subscription's URL.

Every ``interval`` seconds the changes recorded since the last round become notifications (users and groups
notify ``updated``, creation and soft deletion included, and ``deleted`` for good). The ones bound for one URL
go out together, up to ``batch`` to a POST. As Graph does now and then, some are sent twice and the order is
not kept (both drawn from the simulator's seeded random numbers). A POST not answered 2xx within 3 s is sent
again later. Lifecycle notifications are sent when a test asks for them.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from simulator.changelog import Change
from simulator.subscriptions import Subscription, Subscriptions, iso
from simulator.tenant import Tenant

log = logging.getLogger(__name__)
ANSWER_WITHIN = 3.0  # Graph's wait for a notification's answer


@dataclass
class Delivery:
    url: str
    items: int
    status: int | None  # None: no answer in time


@dataclass
class Notifier:
    subscriptions: Subscriptions
    tenants: dict[str, Tenant]
    rng: random.Random
    interval: float = 0.2
    batch: int = 50
    duplicates: float = 0.05  # share of notifications sent twice
    shuffle: bool = True  # the order of a round's notifications is not kept
    retry_after: float = 1.0
    deliveries: list[Delivery] = field(default_factory=list)
    _failed: list[tuple[float, str, list[dict[str, Any]]]] = field(default_factory=list)  # when, where, what

    async def run(self) -> None:
        """Until cancelled: one round every ``interval`` seconds."""
        while True:
            await asyncio.sleep(self.interval)
            await self.round()

    async def round(self) -> None:
        """Notify of the changes since the last round, and send again what failed ``retry_after`` ago."""
        outgoing: dict[str, list[dict[str, Any]]] = {}
        for sub in self.subscriptions.live():
            tenant = self.tenants.get(sub.tenant_id)
            if tenant is None:
                continue
            kind = "user" if sub.resource.startswith("users") else "group"
            changes = tenant.changes.since(sub.seen, kind)
            sub.seen = tenant.changes.seq
            items = [n for c in changes if (n := notification(sub, c)) is not None]
            outgoing.setdefault(sub.notification_url, []).extend(items)
        for url, items in outgoing.items():
            if items:
                await self._send(url, self._jumbled(items))
        now = time.monotonic()
        due = [f for f in self._failed if f[0] <= now]
        self._failed = [f for f in self._failed if f[0] > now]
        for _, url, items in due:  # as they were sent the first time
            await self._send(url, items)

    async def lifecycle(self, subscription_id: str, event: str) -> int | None:
        """Send one lifecycle notification (``reauthorizationRequired``, ``subscriptionRemoved``, ``missed``)
        to the subscription's lifecycle URL; the answer's status. ``subscriptionRemoved`` removes it first."""
        sub = self.subscriptions.items[subscription_id]
        if event == "subscriptionRemoved":
            del self.subscriptions.items[subscription_id]
        item = {
            "subscriptionId": sub.id,
            "subscriptionExpirationDateTime": iso(sub.expires),
            "tenantId": sub.tenant_id,
            "clientState": sub.client_state,
            "lifecycleEvent": event,
        }
        return await self._post(sub.lifecycle_url or sub.notification_url, [item])

    def _jumbled(self, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        sent = [copy for item in items for copy in [item] * (2 if self.rng.random() < self.duplicates else 1)]
        if self.shuffle:
            self.rng.shuffle(sent)
        return sent

    async def _send(self, url: str, items: list[dict[str, Any]]) -> None:
        for start in range(0, len(items), self.batch):
            part = items[start : start + self.batch]
            status = await self._post(url, part)
            if status is None or not 200 <= status < 300:
                self._failed.append((time.monotonic() + self.retry_after, url, part))

    async def _post(self, url: str, items: list[dict[str, Any]]) -> int | None:
        session = self.subscriptions.session
        assert session is not None, "the simulator is not started"
        try:
            async with asyncio.timeout(ANSWER_WITHIN):
                async with session.post(url, json={"value": items}) as resp:
                    status: int | None = resp.status
        except (TimeoutError, aiohttp.ClientError) as exc:
            log.info("notifications to %s not delivered: %r", url, exc)
            status = None
        self.deliveries.append(Delivery(url, len(items), status))
        return status


def notification(sub: Subscription, change: Change) -> dict[str, Any] | None:
    """The notification ``sub`` gets of ``change``, or None when the change is not one it watches."""
    kind = "deleted" if change.op == "delete" and change.reason == "deleted" else "updated"
    parts = sub.resource.split("/")
    if kind not in sub.change_types or parts[0] != change.kind + "s":
        return None
    if len(parts) > 1 and parts[1] != change.object_id:
        return None
    if len(parts) > 2 and change.op not in ("member_add", "member_remove"):
        return None
    name = "Users" if change.kind == "user" else "Groups"
    data: dict[str, Any] = {
        "@odata.type": f"#Microsoft.Graph.{name[:-1]}",
        "@odata.id": f"{name}/{change.object_id}",
        "id": change.object_id,
        "organizationId": sub.tenant_id,
        "sequenceNumber": change.seq,
    }
    if change.member_id is not None:
        member = {"id": change.member_id}
        if change.op == "member_remove":
            member["@removed"] = "deleted"
        data["members@delta"] = [member]
    item = {
        "id": str(uuid.uuid4()),
        "subscriptionId": sub.id,
        "subscriptionExpirationDateTime": iso(sub.expires),
        "changeType": kind,
        "resource": f"{name}/{change.object_id}",
        "tenantId": sub.tenant_id,
        "resourceData": data,
    }
    if sub.client_state is not None:
        item["clientState"] = sub.client_state
    return item
