"""The ``state`` of the admin-consent round trip: signed with a key derived from the secret key, bound to a team,
expiring."""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import datetime, timedelta
from uuid import UUID

from shared.crypto import signing_key

STATE_TTL = timedelta(hours=1)


def _sign(secret_key: str, payload: str) -> str:
    mac = hmac.new(signing_key([secret_key]), payload.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).decode().rstrip("=")


def make_state(secret_key: str, team_id: UUID, now: datetime, ttl: timedelta = STATE_TTL) -> str:
    payload = f"{team_id.hex}.{int((now + ttl).timestamp())}"
    return f"{payload}.{_sign(secret_key, payload)}"


def read_state(secret_key: str, state: str, now: datetime) -> UUID | None:
    """The team the state was made for; None when it is malformed, forged or expired."""
    parts = state.split(".")
    if len(parts) != 3:
        return None
    team_hex, expires, signature = parts
    if not hmac.compare_digest(signature.encode(), _sign(secret_key, f"{team_hex}.{expires}").encode()):
        return None
    try:
        team_id, expires_at = UUID(hex=team_hex), int(expires)
    except ValueError:
        return None
    return team_id if now.timestamp() < expires_at else None
