"""Confirming an admin consent (R1 a): the platform's app takes a Graph token (msal) for the consenting
tenant."""

from __future__ import annotations

from shared.graph.errors import GraphError
from shared.graph.tokens import Credentials, TokenProvider
from shared.settings import Settings


class ConsentError(Exception):
    """The tenant cannot be confirmed; the message says why, for the admin."""


async def confirm_tenant(settings: Settings, tenant_id: str) -> None:
    """Raise ConsentError unless the platform app can take a Graph token for ``tenant_id``."""
    if not settings.app_client_id or settings.app_client_secret is None:
        raise ConsentError(
            "the platform app is not configured (CARDSYNC_APP_CLIENT_ID, CARDSYNC_APP_CLIENT_SECRET)"
        )
    credentials = Credentials(
        tenant_id, settings.app_client_id, settings.app_client_secret.get_secret_value()
    )
    try:
        await TokenProvider(settings.authority_url, settings.ca_file).token(credentials)
    except GraphError as exc:
        raise ConsentError(exc.reason) from exc
