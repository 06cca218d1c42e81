"""Where Microsoft Graph sends change notifications, and whether it can reach that address at all.

Graph delivers only over https, from the internet: a loopback, private or link-local address, a name with no
public meaning, or plain http is never reached, and subscribing there fails (or worse, is left to time out).
So ``CARDSYNC_PUBLIC_URL`` is used only when it is https on a public host. ``CARDSYNC_NOTIFICATION_URL``
overrides it as the operator's word that Graph reaches the API there (a tunnel, a reverse proxy, a simulated
Graph).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from urllib.parse import urlsplit

from shared.settings import Settings

NOTIFICATIONS_PATH = "/api/v1/graph/notifications"
LIFECYCLE_PATH = "/api/v1/graph/lifecycle"
# Names that never resolve on the internet (RFC 6761, RFC 8375, and the usual private suffixes).
_PRIVATE_SUFFIXES = (
    ".localhost",
    ".local",
    ".internal",
    ".lan",
    ".home.arpa",
    ".test",
    ".example",
    ".invalid",
)


@dataclass(frozen=True)
class Endpoints:
    notification_url: str
    lifecycle_url: str


@dataclass(frozen=True)
class Unreachable:
    reason: str


def endpoints(settings: Settings) -> Endpoints | Unreachable:
    """The URLs to subscribe with, or why near-real-time is off on this installation."""
    if settings.notification_url:
        base, name = settings.notification_url, "CARDSYNC_NOTIFICATION_URL"
        if not _absolute(base):
            return Unreachable(f"{name} ({base}) is not an absolute http or https URL")
    else:
        base, name = settings.public_url, "CARDSYNC_PUBLIC_URL"
        if why := _unreachable_why(base):
            return Unreachable(
                f"{name} is {base}, {why}: Microsoft Graph sends change notifications only to an https"
                " address on a public host, so none are asked for; set CARDSYNC_PUBLIC_URL to the address the"
                " API has on the internet, or CARDSYNC_NOTIFICATION_URL to one that reaches it"
            )
    root = base.rstrip("/")
    return Endpoints(root + NOTIFICATIONS_PATH, root + LIFECYCLE_PATH)


def _absolute(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme in ("http", "https") and bool(parts.hostname)


def _unreachable_why(url: str) -> str | None:
    parts = urlsplit(url)
    host = (parts.hostname or "").rstrip(".").lower()
    if parts.scheme != "https":
        return "not https"
    if not host:
        return "without a host"
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        if host == "localhost" or "." not in host or host.endswith(_PRIVATE_SUFFIXES):
            return "a name only this network knows"
        return None
    return None if address.is_global else "an address the internet cannot reach"
