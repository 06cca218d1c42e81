"""Redirect URIs (reply URLs) as the identity platform matches them and answers to them."""

from __future__ import annotations

from urllib.parse import urlencode, urlsplit, urlunsplit

_LOOPBACK = ("localhost", "127.0.0.1")


def _without_loopback_port(uri: str) -> str:
    """The port of a localhost redirect URI does not count when matching (RFC 8252 as Entra applies it)."""
    parts = urlsplit(uri)
    if parts.hostname not in _LOOPBACK:
        return uri
    return urlunsplit(parts._replace(netloc=parts.hostname))


def reply_url_matches(registered: list[str], given: str) -> bool:
    """Exact, case-sensitive matching, the port of a loopback host aside."""
    return given in registered or _without_loopback_port(given) in map(_without_loopback_port, registered)


def reply_url_error(registered: list[str], client_id: str, given: str | None) -> tuple[int, str] | None:
    """The AADSTS code and message that stop a sign-in or consent on the page, before anything is
    redirected."""
    if not registered:
        return 500113, "No reply address is registered for the application."
    if not given:
        return 900971, "No reply address provided."
    if not reply_url_matches(registered, given):
        return 50011, (
            f"The redirect URI '{given}' specified in the request does not match the redirect URIs "
            "configured "
            f"for the application '{client_id}'. Make sure the redirect URI sent in the request matches one "
            "added to your application in the Azure portal. Navigate to "
            "https://aka.ms/redirectUriMismatchError "
            "to learn more about how to fix this."
        )
    return None


def response_url(redirect_uri: str, params: dict[str, str], mode: str = "query") -> str:
    """Where the browser goes back to; a redirect URI without a path comes back with a trailing slash."""
    parts = urlsplit(redirect_uri)
    if not parts.path:
        parts = parts._replace(path="/")
    encoded = urlencode(params)
    if mode == "fragment":
        return urlunsplit(parts._replace(fragment=encoded))
    return urlunsplit(parts._replace(query=f"{parts.query}&{encoded}" if parts.query else encoded))
