"""Credentials for a team's directory connection (a ``directory_connections`` row, R1)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from shared.crypto import decrypt
from shared.graph.certificates import CertificateKey
from shared.graph.errors import GraphAuthError
from shared.graph.tokens import Credentials
from shared.settings import Settings


def credentials_for(settings: Settings, row: Mapping[str, Any]) -> Credentials:
    """An own app's secret is stored encrypted; an admin-consent connection uses the platform's app."""
    if row["kind"] == "own_app":
        keys = settings.secret_keys()
        if row["secret_encrypted"] is None or not keys:
            raise GraphAuthError(
                "the directory connection has no usable client secret or certificate; connect the directory"
                " again"
            )
        secret = decrypt(keys, row["secret_encrypted"])
        certificate = CertificateKey.loads(secret)
        if certificate is None:
            return Credentials(row["tenant_id"], row["client_id"], secret)
        if certificate.expires_at is not None and certificate.expires_at <= datetime.now(UTC):
            raise GraphAuthError(
                f"the client certificate (thumbprint {certificate.thumbprint}) expired on"
                f" {certificate.expires_at:%Y-%m-%d %H:%M} UTC; add a new certificate to the app registration"
                " and connect the directory again with it",
                credential="certificate",
            )
        return Credentials(row["tenant_id"], row["client_id"], "", certificate)
    if settings.app_client_secret is None:
        raise GraphAuthError(
            "the platform's app has no client secret set (CARDSYNC_APP_CLIENT_SECRET); ask the operator"
        )
    client_id = settings.app_client_id or row["client_id"]
    return Credentials(row["tenant_id"], client_id, settings.app_client_secret.get_secret_value())
