from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field

from services.scheduler.api.models.common import In, Out, examples

_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9.\-]{0,127}$"
_TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"
_CLIENT = "4a1aa1d5-c567-49d0-ad0b-cd957a47f842"


_PEM_MAX = 65536


class DirectoryIn(In):
    """An app registration of the team's own in its Entra tenant, checked by taking a token before it is
    saved. It signs in with exactly one of: a client secret; a client certificate (PEM, with its private key
    in the same text or in ``private_key``); or the certificate's thumbprint with ``private_key``."""

    model_config = examples(
        {"tenant_id": _TENANT, "client_id": _CLIENT, "client_secret": "Zx8Q~k3…"},
        {
            "tenant_id": _TENANT,
            "client_id": _CLIENT,
            "client_secret": "Zx8Q~k3…",
            "client_secret_expires_at": "2027-05-04T00:00:00Z",
        },
        {
            "tenant_id": _TENANT,
            "client_id": _CLIENT,
            "client_certificate": "-----BEGIN CERTIFICATE-----\n…\n-----END CERTIFICATE-----\n"
            "-----BEGIN PRIVATE KEY-----\n…\n-----END PRIVATE KEY-----\n",
        },
    )

    tenant_id: str = Field(pattern=_ID_PATTERN, description="tenant id (GUID) or a verified domain")
    client_id: str = Field(pattern=_ID_PATTERN, description="application (client) id of the app registration")
    client_secret: str | None = Field(
        default=None, min_length=1, max_length=1024, description="stored encrypted, never returned"
    )
    client_secret_expires_at: datetime | None = Field(
        default=None,
        description="when the client secret expires (the app registration shows it): admins are emailed 30 "
        "and 7 days before",
    )
    client_certificate: str | None = Field(
        default=None,
        min_length=1,
        max_length=_PEM_MAX,
        description="the certificate uploaded to the app registration, PEM; its private key may follow in "
        "the same text (unencrypted). Its expiry is read from it",
    )
    private_key: str | None = Field(
        default=None,
        min_length=1,
        max_length=_PEM_MAX,
        description="the certificate's RSA private key, PEM, unencrypted; stored encrypted, never returned",
    )
    certificate_thumbprint: str | None = Field(
        default=None,
        pattern=r"^[0-9A-Fa-f]{40}$",
        description="instead of the certificate: its SHA-1 thumbprint as the app registration shows it "
        "(then private_key is needed, and the expiry is unknown)",
    )


class DirectoryOut(Out):
    """The team's directory connection; its secret is never returned."""

    model_config = examples(
        {
            "tenant_id": _TENANT,
            "client_id": _CLIENT,
            "connected_at": "2026-05-04T09:30:00Z",
            "kind": "own_app",
        }
    )

    tenant_id: str = Field(description="the connected tenant (GUID or domain, as given)")
    client_id: str = Field(description="the app registration that reads it")
    connected_at: datetime = Field(description="when it was last connected")
    kind: Literal["own_app", "consent"] = Field(
        description="own_app: the team's own app registration; consent: the platform's app, by admin consent"
    )
    credential_type: Literal["secret", "certificate"] | None = Field(
        default=None, description="how the own app signs in; none for an admin-consent connection"
    )
    credential_expires_at: datetime | None = Field(
        default=None, description="when that credential expires, when known"
    )
    certificate_thumbprint: str | None = Field(
        default=None, description="the certificate's SHA-1 thumbprint (hex), for a certificate"
    )


class ConsentUrlQuery(In):
    """Where the identity platform should return after the consent."""

    redirect_uri: str | None = Field(
        default=None, max_length=2048, description="a page of this site; by default the consent callback"
    )


class ConsentUrlOut(Out):
    """The admin-consent URL for the signed-in admin's tenant."""

    url: str = Field(description="open it in the browser; its single-use state expires in 10 minutes")


class ConsentCallbackQuery(In):
    """What the identity platform appends to the redirect; any of it may be missing or forged (then 400)."""

    tenant: str | None = Field(default=None, description="the tenant that consented")
    admin_consent: str | None = Field(default=None, description='"True" when an admin granted the consent')
    state: str | None = Field(default=None, description="the state of the consent URL")
    error: str | None = Field(default=None, description="the identity platform's error code, on a refusal")
    error_description: str | None = Field(default=None, description="its explanation of the error")


class GroupsQuery(In):
    """A search of the tenant's groups."""

    search: str = Field(
        default="", max_length=256, description="words of the group's name to find; empty: every group"
    )
    limit: int = Field(default=25, ge=1, le=100, description="the most groups to return")
    cursor: str | None = Field(
        default=None,
        max_length=8192,
        description="the next_cursor of a previous page: the page after it (search and limit as then)",
    )


class GroupOut(Out):
    """A directory group that can be synced."""

    id: str = Field(description="the group's object id")
    display_name: str | None = Field(description="its name in the directory")
    description: str | None = Field(default=None, description="its description in the directory")
    mail: str | None = Field(default=None, description="its email address, if mail-enabled")


class GroupsOut(Out):
    """Groups found by a search."""

    model_config = examples(
        {
            "groups": [
                {
                    "id": "0c6d5e4f-0000-4000-8000-00000000000a",
                    "display_name": "Sales",
                    "description": "Everyone in sales",
                    "mail": "sales@contoso.com",
                }
            ]
        }
    )

    groups: list[GroupOut] = Field(description="the groups whose name matches, by name within the page")
    next_cursor: str | None = Field(
        default=None, description="pass it as cursor for the next page; null on the last page"
    )


class DirectoryTestIn(In):
    """Credentials to test instead of the stored ones, as a connection takes them (the tenant, the app, and
    exactly one of a client secret, a certificate, or a thumbprint with its private key); none: the team's
    connection. A test saves nothing."""

    model_config = examples({}, {"tenant_id": _TENANT, "client_id": _CLIENT, "client_secret": "Zx8Q~k3…"})

    tenant_id: str | None = Field(default=None, pattern=_ID_PATTERN, description="tenant id (GUID) or domain")
    client_id: str | None = Field(default=None, pattern=_ID_PATTERN, description="application (client) id")
    client_secret: str | None = Field(
        default=None, min_length=1, max_length=1024, description="its client secret; never stored by a test"
    )
    client_certificate: str | None = Field(
        default=None,
        min_length=1,
        max_length=_PEM_MAX,
        description="or its certificate, PEM, as for a connection",
    )
    private_key: str | None = Field(
        default=None, min_length=1, max_length=_PEM_MAX, description="the certificate's private key, PEM"
    )
    certificate_thumbprint: str | None = Field(
        default=None, pattern=r"^[0-9A-Fa-f]{40}$", description="or the certificate's SHA-1 thumbprint"
    )


class PermissionOut(Out):
    """An application permission the team's sync needs, and whether the app holds it."""

    permission: str = Field(description="the least permission that serves the need")
    granted: bool = Field(description="whether the app holds it or a broader one that serves too")
    granted_as: str | None = Field(description="the granted permission that serves it")
    serves: list[str] = Field(description="every permission that serves the need, the least first")
    why: str = Field(description="what the sync does with it")


class DirectoryTestOut(Out):
    """A connection test: a token was taken; the permissions it carries against what the sync needs."""

    model_config = examples(
        {
            "tenant_id": _TENANT,
            "client_id": _CLIENT,
            "kind": "own_app",
            "ok": False,
            "granted": ["GroupMember.Read.All", "User.Read.All"],
            "missing": ["ProfilePhoto.Read.All"],
            "permissions": [
                {
                    "permission": "ProfilePhoto.Read.All",
                    "granted": False,
                    "granted_as": None,
                    "serves": ["ProfilePhoto.Read.All", "User.Read.All", "Directory.Read.All"],
                    "why": "read profile photos (the Profile picture field is synced)",
                }
            ],
        }
    )

    tenant_id: str = Field(description="the tenant tested")
    client_id: str = Field(description="the app tested")
    kind: Literal["own_app", "consent", "given"] = Field(
        description="the stored own app, the stored admin consent, or the credentials in the request"
    )
    ok: bool = Field(description="a token was taken and it carries every permission the sync needs")
    granted: list[str] = Field(description="the application permissions the token carries (its roles)")
    missing: list[str] = Field(description="the permissions needed and not granted, by their least name")
    permissions: list[PermissionOut] = Field(description="each permission the configuration needs")
