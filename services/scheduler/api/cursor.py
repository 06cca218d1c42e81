"""Opaque page cursors over (created_at, id): stable while rows are added, unreadable by design."""

from __future__ import annotations

import base64
import binascii
from datetime import UTC, datetime
from uuid import UUID

import orjson


def encode_cursor(created_at: datetime, row_id: UUID) -> str:
    raw = orjson.dumps([created_at.isoformat(), str(row_id)])
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, UUID]:
    """Raise ValueError for anything that ``encode_cursor`` did not make."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        created_at, row_id = orjson.loads(raw)
        when = datetime.fromisoformat(created_at)
        if when.tzinfo is None:
            raise ValueError("cursor time has no zone")
        return when.astimezone(UTC), UUID(row_id)
    except (binascii.Error, orjson.JSONDecodeError, TypeError, AttributeError, OverflowError) as exc:
        raise ValueError("not a cursor") from exc
