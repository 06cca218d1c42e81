"""Typed Graph and identity failures, each with a reason an admin can act on (R17), and the mapping from
answers."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Literal

# Which application permission a path needs; the first matching pattern wins.
_PERMISSIONS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"/photos?\b"), "ProfilePhoto.Read.All"),
    (re.compile(r"/(directoryRoles|roleManagement)\b"), "RoleManagement.Read.Directory"),
    # A group whose membership is hidden lists its members only to an app that also has Member.Read.Hidden.
    (
        re.compile(r"/groups/[^/?]+/(transitiveMembers|members)\b"),
        "GroupMember.Read.All (and Member.Read.Hidden, should the group's membership be hidden)",
    ),
    (re.compile(r"/groups\b"), "GroupMember.Read.All"),
    (re.compile(r"/users\b"), "User.Read.All"),
)
_GROUP = re.compile(r"/groups/([^/?]+)")
# Graph's codes for a delta token it will not take any more, compared without case (both spellings are seen).
DELTA_EXPIRED_CODES = frozenset({"syncstatenotfound", "resyncrequired", "syncstateinvalid"})
# A link a delta round handed out (its next page, or the next round): not the round's first request.
_DELTA_LINK = re.compile(r"/delta\b.*[?&](?:\$|%24)(?:skiptoken|deltatoken)=(?!latest\b)", re.IGNORECASE)
Credential = Literal["tenant_id", "client_id", "secret", "certificate"]
# Entra's AADSTS codes for a refused token, by the credential at fault: a tenant not found or not a tenant id
# or domain at all; an app not in the tenant (never consented there) or disabled there; a secret wrong,
# expired or missing. The OAuth error is the fallback, as the codes are more precise but not promised.
_AADSTS_CREDENTIAL: dict[int, Credential] = {
    90002: "tenant_id",
    900023: "tenant_id",
    700016: "client_id",
    7000112: "client_id",
    7000215: "secret",
    7000222: "secret",
    7000216: "secret",
    # A client assertion: signed by a certificate the app does not have (or whose registration expired),
    # malformed, or outside its time range.
    700027: "certificate",
    50027: "certificate",
    700024: "certificate",
}
_ERROR_CREDENTIAL: dict[str, Credential] = {
    "invalid_tenant": "tenant_id",
    "unauthorized_client": "client_id",
    "invalid_client": "secret",
}
_TRANSIENT_ERRORS = frozenset({"temporarily_unavailable", "server_error"})
_AADSTS = re.compile(r"\bAADSTS(\d+)")


class GraphError(Exception):
    """A failure talking to Graph or the identity platform; ``reason`` is fit for a run record."""

    transient = False

    def __init__(self, reason: str, *, status: int | None = None, code: str | None = None):
        super().__init__(reason)
        self.reason = reason
        self.status = status
        self.code = code


class GraphAuthError(GraphError):
    """No token could be had, or Graph refused the one we had; ``credential`` names the part of the app's
    credentials the identity platform blamed, when it said which."""

    def __init__(
        self,
        reason: str,
        *,
        status: int | None = None,
        code: str | None = None,
        credential: Credential | None = None,
    ):
        super().__init__(reason, status=status, code=code)
        self.credential = credential


class GraphForbidden(GraphError):
    """The app lacks an application permission (or its admin consent)."""


class GraphNotFound(GraphError):
    pass


class GraphThrottled(GraphError):
    """Graph kept throttling past the run's patience."""


class GraphUnavailable(GraphError):
    """The tenant or the service could not be reached; a later attempt may work."""

    transient = True


class DeltaExpired(GraphError):
    """A delta token is no longer accepted: the caller must read everything again."""


class GraphLinkRefused(GraphError):
    """A link to follow leads outside the configured Graph base: it is not followed, the token stays home."""


def group_gone(group_id: str) -> GraphNotFound:
    return GraphNotFound(
        f"the synced group {group_id} no longer exists in the directory; take it off the synced groups",
        status=404,
    )


def permission_for(path: str) -> str:
    for pattern, permission in _PERMISSIONS:
        if pattern.search(path):
            return permission
    return "Directory.Read.All"


def error_code(payload: Any) -> tuple[str, str]:
    """(code, message) of a Graph error body, blank when the body is not one."""
    error = payload.get("error") if isinstance(payload, dict) else None
    if not isinstance(error, dict):
        return "", ""
    return str(error.get("code") or ""), str(error.get("message") or "")


def error_for(status: int, payload: Any, path: str) -> GraphError:
    """The typed error for a final (not retried) Graph answer to a request on ``path``."""
    code, message = error_code(payload)
    detail = f" ({status} {code}: {message})" if code or message else f" ({status})"
    # A delta link Graph refuses with a 400 of another code is no more use than an expired one: the run reads
    # everyone instead (a request that is wrong in itself fails that read, saying so).
    expired = code.lower() in DELTA_EXPIRED_CODES or _DELTA_LINK.search(path)
    if status == 410 or (status == 400 and expired):
        return DeltaExpired(f"the delta token expired{detail}", status=status, code=code)
    if status == 401:
        return GraphAuthError(
            f"Microsoft Graph refused the app's access token{detail}; reconnect the directory",
            status=status,
            code=code,
        )
    if status == 403:
        permission = permission_for(path)
        return GraphForbidden(
            f"the app is missing the application permission {permission} (with admin consent) to read "
            f"{_what(path)}{detail}",
            status=status,
            code=code,
        )
    if status == 404:
        group = _GROUP.search(path)
        if group and "/photo" not in path:
            return group_gone(group.group(1))
        return GraphNotFound(f"{_what(path)} was not found{detail}", status=status, code=code)
    if status == 429 or status >= 500:
        return GraphUnavailable(
            f"Microsoft Graph is unavailable for this tenant{detail}; the next run will try again",
            status=status,
            code=code,
        )
    return GraphError(
        f"Microsoft Graph refused a request for {_what(path)}{detail}", status=status, code=code
    )


def token_error(
    result: Mapping[str, Any], tenant_id: str, client_id: str, *, certificate: bool = False
) -> GraphError:
    """The typed error for the identity platform's refusal of a token (msal's error result), with a reason
    that says what to do: transient for an identity platform out of order, else naming the credential
    (``certificate``: the app signed in with a certificate, not a secret)."""
    error = str(result.get("error") or "unknown_error")
    # Entra appends trace and correlation ids and a timestamp: noise to an admin.
    description = (
        str(result.get("error_description") or "").split("\r\n", 1)[0].split(" Trace ID:", 1)[0].strip()
    )
    detail = f": {description.rstrip('. ')}" if description else f" ({error})"
    if error in _TRANSIENT_ERRORS:
        return GraphUnavailable(
            f"the identity platform gave no token for tenant {tenant_id} for now{detail}; a later attempt "
            "may "
            "work",
            code=error,
        )
    credential = _AADSTS_CREDENTIAL.get(_aadsts_code(result, description)) or _ERROR_CREDENTIAL.get(error)
    if certificate and credential == "secret":
        credential = "certificate"
    if credential == "tenant_id":
        reason = (
            f"the tenant {tenant_id} is unknown to Microsoft's identity platform{detail}; check the tenant "
            "id: "
            "the Directory (tenant) ID on the app registration's overview page, or a verified domain of the "
            "tenant"
        )
    elif credential == "client_id":
        reason = (
            f"the app {client_id} is not registered in the tenant {tenant_id} or has no admin consent "
            f"there{detail}; check the Application (client) ID and have an administrator of the tenant grant "
            "the app admin consent"
        )
    elif credential == "secret":
        reason = (
            f"the client secret is wrong or expired{detail}; create a new client secret in the app "
            "registration and give its Value, not its Secret ID"
        )
    elif credential == "certificate":
        what = "expired" if "expired" in description.lower() else "not registered on the app, or was refused"
        reason = (
            f"the client certificate is {what}{detail}; upload the certificate (its public part) to the app"
            " registration's Certificates & secrets, or connect the directory again with a valid one"
        )
    elif error == "invalid_scope":
        reason = f"the app cannot be granted Microsoft Graph access{detail}"
    else:
        reason = f"the identity platform refused a token for tenant {tenant_id}{detail}"
    return GraphAuthError(reason, code=error, credential=credential)


def _aadsts_code(result: Mapping[str, Any], description: str) -> int | None:
    codes = result.get("error_codes")
    if isinstance(codes, list) and codes and isinstance(codes[0], int):
        return codes[0]
    found = _AADSTS.search(description)
    return int(found.group(1)) if found else None


def _what(path: str) -> str:
    return path.split("?", 1)[0]
