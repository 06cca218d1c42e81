"""The TLS client context of every outside connection: the system's CAs, plus CARDSYNC_CA_FILE when set."""

from __future__ import annotations

import ssl


def ssl_context(ca_file: str | None) -> ssl.SSLContext:
    context = ssl.create_default_context()
    if ca_file:
        context.load_verify_locations(ca_file)
    return context
