"""Page sizes, opaque continuation tokens and nextLinks. Pages are cut by key (the object id), so a change
between two requests neither repeats nor skips the objects that stay put."""

from __future__ import annotations

import base64
import binascii
import bisect
from collections.abc import Mapping, Sequence
from urllib.parse import quote

from simulator.errors import bad_request, unsupported_query

DEFAULT_TOP = 100
MAX_TOP = 999
_PREFIX = "RFNwdAIAAQAAAD"
_SAFE = "$,'()=:/"


def parse_top(raw: str | None, default: int = DEFAULT_TOP, maximum: int = MAX_TOP) -> int:
    if raw is None:
        return default
    try:
        top = int(raw)
    except ValueError:
        raise bad_request(f"Invalid value '{raw}' for query option $top.") from None
    if not 1 <= top <= maximum:
        raise unsupported_query(
            f"Invalid page size specified: '{raw}'. Must be between 1 and {maximum} inclusive."
        )
    return top


def encode_skiptoken(last_key: str) -> str:
    return _PREFIX + base64.urlsafe_b64encode(last_key.encode()[::-1]).decode().rstrip("=")


def decode_skiptoken(token: str) -> str:
    if not token.startswith(_PREFIX):
        raise bad_request("Unable to read the $skiptoken: it is not valid.")
    body = token[len(_PREFIX) :]
    try:
        return base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))[::-1].decode()
    except (binascii.Error, UnicodeDecodeError):
        raise bad_request("Unable to read the $skiptoken: it is not valid.") from None


def page_after(keys: Sequence[str], after: str | None, top: int) -> list[str]:
    """Up to ``top`` keys of a sorted sequence that come after ``after``."""
    start = 0 if after is None else bisect.bisect_right(keys, after)
    return list(keys[start : start + top])


def build_url(base: str, path: str, query: Mapping[str, str]) -> str:
    if not query:
        return f"{base}/{path}"
    parts = "&".join(f"{k}={quote(v, safe=_SAFE)}" for k, v in query.items())
    return f"{base}/{path}?{parts}"


def next_link(base: str, path: str, query: Mapping[str, str], token: str) -> str:
    """The original request's URL with the continuation token in place of any earlier one."""
    kept = {k: v for k, v in query.items() if k.lower() != "$skiptoken"}
    return build_url(base, path, {**kept, "$skiptoken": token})
