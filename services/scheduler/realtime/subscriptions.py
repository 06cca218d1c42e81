"""Graph's subscription calls: create (Graph checks the notification URL before it answers), renew, delete."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from services.scheduler.realtime.address import Endpoints
from services.scheduler.realtime.subscription_plan import CHANGE_TYPES, GROUPS
from shared.graph.client import Response, TenantGraph
from shared.graph.errors import GraphError, error_code

# The application permission Graph wants for a subscription to each resource.
PERMISSION = {GROUPS: "Group.Read.All"}
_ID = re.compile(r"[A-Za-z0-9-]{1,128}")


class SubscriptionGone(GraphError):
    """Graph has no such subscription (any more)."""


async def create(
    graph: TenantGraph, resource: str, urls: Endpoints, client_state: str, expires: datetime
) -> tuple[str, datetime]:
    """A new subscription to ``resource``: its id and its expiry, as Graph set them."""
    body = {
        "changeType": CHANGE_TYPES,
        "notificationUrl": urls.notification_url,
        "lifecycleNotificationUrl": urls.lifecycle_url,
        "resource": resource,
        "expirationDateTime": _iso(expires),
        "clientState": client_state,
        "latestSupportedTlsVersion": "v1_2",
    }
    response = await graph.request("POST", graph.url("subscriptions"), body=body)
    if response.status not in (200, 201):
        raise _refused(response, f"subscribe to changes of the tenant's {resource}", resource)
    data = response.json()
    graph_id = data.get("id") if isinstance(data, dict) else None
    if not isinstance(graph_id, str) or not _ID.fullmatch(graph_id):
        raise GraphError(f"Microsoft Graph answered a new subscription to {resource} without a usable id")
    return graph_id, _expiry(data, expires)


async def renew(graph: TenantGraph, graph_id: str, resource: str, expires: datetime) -> datetime:
    """Move the subscription's expiry to ``expires``; this reauthorizes it as well."""
    body = {"expirationDateTime": _iso(expires)}
    response = await graph.request("PATCH", graph.url(f"subscriptions/{graph_id}"), body=body)
    if response.status == 404:
        raise SubscriptionGone(
            f"the subscription to {resource} no longer exists at Microsoft Graph", status=404
        )
    if response.status != 200:
        raise _refused(response, f"renew the subscription to changes of the tenant's {resource}", resource)
    return _expiry(response.json(), expires)


async def delete(graph: TenantGraph, graph_id: str, resource: str) -> None:
    """Delete the subscription; one Graph no longer has is deleted as well."""
    response = await graph.request("DELETE", graph.url(f"subscriptions/{graph_id}"))
    if response.status not in (200, 204, 404):
        raise _refused(response, f"delete the subscription to changes of the tenant's {resource}", resource)


def _refused(response: Response, what: str, resource: str) -> GraphError:
    code, message = error_code(response.json())
    detail = f" ({response.status} {code}: {message})" if code or message else f" ({response.status})"
    if response.status == 403:
        needed = PERMISSION.get(resource, "User.Read.All")
        return GraphError(
            f"Microsoft Graph refused to {what}: the app needs the application permission {needed}, with"
            f" admin consent{detail}",
            status=403,
            code=code,
        )
    return GraphError(f"Microsoft Graph refused to {what}{detail}", status=response.status, code=code)


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _expiry(data: object, asked: datetime) -> datetime:
    """The expiry Graph answered (it may shorten the one asked for); the one asked for when it gave none."""
    value = data.get("expirationDateTime") if isinstance(data, dict) else None
    if isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            return asked
        return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return asked
