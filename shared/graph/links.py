"""Where a Graph token may go: only to the configured Graph base, whatever link Graph (or the database) hands
back. Every request the client sends is checked here before a token is attached."""

from __future__ import annotations

from functools import lru_cache
from urllib.parse import unquote

from yarl import URL

from shared.graph.errors import GraphLinkRefused

SHOWN = 120  # characters of a refused link that its error shows


def within_base(base: str, link: str) -> bool:
    """Whether ``link`` is under ``base``: the same scheme, host and port, no user info, and a path at or
    below the base's path with no dot segment (which a server would resolve to a path outside it). ``link`` is
    read as the client sends it (yarl, encoded), and must be plain ASCII without spaces, control characters or
    backslashes, which parsers disagree about."""
    if not link.isascii() or any(c <= " " or c in "\\\x7f" for c in link):
        return False
    try:
        home, url = _parsed(base), URL(link, encoded=True)
    except ValueError:
        return False
    if not url.is_absolute() or "@" in (url.raw_authority or ""):
        return False
    if (url.scheme, url.host, url.port) != (home.scheme, home.host, home.port):
        return False
    root = home.raw_path.rstrip("/")
    path = url.raw_path
    if path != root and not path.startswith(root + "/"):
        return False
    segments = [unquote(part) for part in path.split("/")]
    return not any(s in (".", "..") or "/" in s or "\\" in s for s in segments)


@lru_cache(maxsize=16)
def _parsed(base: str) -> URL:
    """The configured base, parsed once: every Graph request is checked against it."""
    return URL(base)


def check(base: str, link: str, came: str) -> str:
    """``link`` when it is under ``base``; else GraphLinkRefused, a permanent failure of the run. ``came``
    says where the link came from ("Graph answered with a next link")."""
    if within_base(base, link):
        return link
    raise GraphLinkRefused(
        f"{came} to {_shown(link)}, which is not the configured Graph base {base}: the run stops and no "
        "token was sent there. Check CARDSYNC_GRAPH_URL, and whether something between this service and "
        "Microsoft Graph rewrites its answers"
    )


def _shown(link: str) -> str:
    """The link without its query (opaque tokens), short, with anything unprintable escaped."""
    bare = link.split("?", 1)[0]
    cut = bare[:SHOWN] + ("…" if len(bare) > SHOWN else "")
    return "".join(c if c.isprintable() else f"\\x{ord(c):02x}" for c in cut)
