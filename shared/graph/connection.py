"""Credentials for a team's directory connection (a ``directory_connections`` row, R1)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from shared.crypto import decrypt
from shared.graph.errors import GraphAuthError
from shared.graph.tokens import Credentials
from shared.settings import Settings


def credentials_for(settings: Settings, row: Mapping[str, Any]) -> Credentials:
    """An own app's secret is stored encrypted; an admin-consent connection uses the platform's app."""
    if row["kind"] == "own_app":
        keys = settings.secret_keys()
        if row["secret_encrypted"] is None or not keys:
            raise GraphAuthError(
                "the directory connection has no usable client secret; connect the directory again"
            )
        secret = decrypt(keys, row["secret_encrypted"])
        return Credentials(row["tenant_id"], row["client_id"], secret)
    if settings.app_client_secret is None:
        raise GraphAuthError(
            "the platform's app has no client secret set (CARDSYNC_APP_CLIENT_SECRET); ask the operator"
        )
    client_id = settings.app_client_id or row["client_id"]
    return Credentials(row["tenant_id"], client_id, settings.app_client_secret.get_secret_value())
