"""What a card link may hold: an https, http, mailto or tel link, or text with no scheme at all (which a
browser reads as a link within the page's own site). Never another scheme: javascript:, data: and vbscript:
run code in the page, file: and the like open something on the reader's device. And which card fields the sync
also writes as links of their own."""

from __future__ import annotations

import html
import re
import unicodedata
from urllib.parse import unquote

# A synced email or phone is a link too: its source -> (link type, label).
LINK_FIELDS = {"email": ("email", "Email"), "phone": ("phone", "Phone")}
ALLOWED_SCHEMES = ("https", "http", "mailto", "tel")
# Rounds of percent- and HTML-decoding looked through; no honest link is encoded this many times over.
DECODINGS = 4
_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.\-]*):")
_ALLOWED = ", ".join(f"{s}:" for s in ALLOWED_SCHEMES[:-1]) + f" or {ALLOWED_SCHEMES[-1]}:"
_ONLY = f"a card link may only be an {_ALLOWED} link (or text with no scheme)"


def link_problem(value: str) -> str | None:
    """Why ``value`` may not be a card link ("is a javascript: link, …"), None when it may be one.

    The scheme is read as a browser reads it, and more warily: without case, after leading spaces and control
    characters, and with every control and invisible formatting character taken out (a browser drops tabs and
    line breaks anywhere, "java\\tscript:" is javascript:). A value with no scheme is read again after
    percent- and HTML-decoding, as an app that decodes a link before it opens it would read it."""
    seen = value
    for _ in range(DECODINGS):
        scheme = _scheme(seen)
        if scheme is not None:
            return None if scheme in ALLOWED_SCHEMES else f"is a {scheme[:20]}: link, and {_ONLY}"
        decoded = html.unescape(unquote(seen))
        if decoded == seen:
            return None
        seen = decoded
    return "is encoded over and over, as no link is, and may hide a scheme a card link may not have"


def _scheme(value: str) -> str | None:
    """The value's scheme in lower case; None when it has none."""
    bare = "".join(c for c in value if unicodedata.category(c) not in ("Cc", "Cf")).lstrip()
    found = _SCHEME.match(bare)
    return found.group(1).lower() if found else None
