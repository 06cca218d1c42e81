"""Outgoing webhooks: which URLs may receive them, how a delivery is signed, and the events there are.

Deliveries follow the Standard Webhooks specification (standardwebhooks.com, as Svix sends them): headers
``webhook-id`` (the delivery's id, the same on every attempt: receivers drop the ones they have seen, since
delivery is at least once), ``webhook-timestamp`` (Unix seconds of the attempt) and ``webhook-signature``
(``v1,`` and the base64 HMAC-SHA256 of ``{id}.{timestamp}.{body}`` under the secret's bytes). The secret is
``whsec_`` and base64 of 32 random bytes, shown once when the webhook is made.

A webhook URL is https, and its host must not be a loopback, private, link-local or otherwise non-public
address, unless CARDSYNC_WEBHOOKS_ALLOW_PRIVATE is set (for tests and development). A name is checked when
the webhook is made (the names of the local network) and, resolved, at every delivery, which connects only
to public addresses: a name that resolves to a private one later (DNS rebinding) reaches nothing.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import secrets
import socket
from typing import Any
from urllib.parse import urlsplit

from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver

EVENTS = ("member.created", "member.updated", "member.removed", "run.finished")
SECRET_PREFIX = "whsec_"
_LOCAL_NAMES = ("localhost", ".localhost", ".local", ".internal", ".home.arpa", ".lan")


class UrlRefused(ValueError):
    """A webhook URL that may not be used, and why."""


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def sign(secret: str, delivery_id: str, timestamp: int, body: bytes) -> str:
    """The ``webhook-signature`` header's value."""
    key = base64.b64decode(secret.removeprefix(SECRET_PREFIX))
    content = f"{delivery_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(key, content, hashlib.sha256).digest()).decode()


# IPv6 prefixes that a translator on the way turns into the IPv4 address they embed (RFC 6052, RFC 8215).
_NAT64 = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))


def public_address(address: str) -> bool:
    """Whether ``address`` reaches the public internet, and only it: an IPv6 address that carries an IPv4
    one (mapped, 6to4, Teredo, NAT64) is judged by the IPv4 address it leads to."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address):
        if any(ip in net for net in _NAT64):
            return public_address(str(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)))
        carried = ip.ipv4_mapped or ip.sixtofour or (ip.teredo[1] if ip.teredo else None)
        if carried is not None:
            return public_address(str(carried))
    return ip.is_global and not ip.is_multicast


def check_url(url: str, allow_private: bool) -> str:
    """``url`` when it may receive webhooks; UrlRefused saying why not."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise UrlRefused("not a URL") from None
    if parts.scheme != "https":
        raise UrlRefused("the URL must be https")
    host = (parts.hostname or "").rstrip(".").lower()
    if not host:
        raise UrlRefused("the URL has no host")
    if parts.username is not None or parts.password is not None:
        raise UrlRefused("the URL may not carry a user name or password")
    if parts.fragment:
        raise UrlRefused("the URL may not have a fragment")
    if port == 0:
        raise UrlRefused("the URL's port may not be 0")
    if allow_private:
        return url
    try:
        literal = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        if host == "localhost" or host.endswith(_LOCAL_NAMES) or "." not in host:
            raise UrlRefused(f"{host} is a name of the local network, not a public host") from None
        return url
    if not public_address(str(literal)):
        raise UrlRefused(f"{host} is a loopback, private or reserved address, not a public one")
    return url


class PublicResolver(AbstractResolver):
    """aiohttp's resolver, keeping only public addresses (all of them when private ones are allowed)."""

    def __init__(self, allow_private: bool) -> None:
        self._inner = DefaultResolver()
        self._allow_private = allow_private

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        found = await self._inner.resolve(host, port, family)
        kept = [r for r in found if self._allow_private or public_address(r["host"])]
        if not kept:
            raise OSError(f"{host} resolves to no public address")
        return kept

    async def close(self) -> None:
        await self._inner.close()


def payload(event: str, timestamp: str, data: dict[str, Any]) -> dict[str, Any]:
    return {"type": event, "timestamp": timestamp, "data": data}
