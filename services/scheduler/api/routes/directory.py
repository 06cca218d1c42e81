"""The team's directory connection (R1) and the group search used to pick synced groups (R2)."""

from __future__ import annotations

import base64
import binascii
import logging

from aiohttp import web
from yarl import URL

from services.scheduler.api.endpoint import Call, Endpoint, json_response
from services.scheduler.api.models.directory import (
    DirectoryIn,
    DirectoryOut,
    DirectoryTestIn,
    DirectoryTestOut,
    GroupOut,
    GroupsOut,
    GroupsQuery,
    PermissionOut,
)
from services.scheduler.api.problems import Problem
from shared.config import SyncConfig
from shared.crypto import encrypt
from shared.graph import links, permissions
from shared.graph.certificates import CertificateInvalid, CertificateKey, from_certificate, from_thumbprint
from shared.graph.connection import credentials_for
from shared.graph.errors import GraphAuthError, GraphError, GraphUnavailable
from shared.graph.groups import search_group_page
from shared.graph.tokens import Credentials

log = logging.getLogger(__name__)
_COLUMNS = (
    "tenant_id, client_id, connected_at, kind, credential_type, credential_expires_at, certificate_thumbprint"
)
_FIELDS = {"tenant_id": "tenant_id", "client_id": "client_id", "secret": "client_secret"}
_WAYS = ("client_secret", "client_certificate", "certificate_thumbprint")


def _certificate(body: DirectoryIn) -> CertificateKey | None:
    """The certificate credential the body gives, checked; None for a client secret; a 422 naming the field
    for a body that gives no way to sign in, or more than one, or a certificate that cannot be used."""
    given = [way for way in _WAYS if getattr(body, way) is not None]
    if len(given) != 1:
        what = "none was given" if not given else f"{' and '.join(given)} were given"
        raise Problem(
            422,
            f"give exactly one of client_secret, client_certificate or certificate_thumbprint: {what}",
            errors=[{"loc": [way], "msg": "give exactly one of these"} for way in (given or _WAYS)],
        )
    if given == ["client_secret"]:
        for extra in ("private_key",):
            if getattr(body, extra) is not None:
                raise Problem(
                    422,
                    f"{extra} goes with a certificate, not a client secret",
                    errors=[
                        {"loc": [extra], "msg": "only with client_certificate or certificate_thumbprint"}
                    ],
                )
        return None
    if body.client_secret_expires_at is not None:
        raise Problem(
            422,
            "client_secret_expires_at goes with a client secret: a certificate's expiry is read from it",
            errors=[{"loc": ["client_secret_expires_at"], "msg": "only with client_secret"}],
        )
    try:
        if body.client_certificate is not None:
            return from_certificate(body.client_certificate, body.private_key)
        if body.private_key is None:
            raise CertificateInvalid("private_key", "a thumbprint needs the certificate's private key")
        return from_thumbprint(str(body.certificate_thumbprint), body.private_key)
    except CertificateInvalid as exc:
        raise Problem(
            422, f"{exc.field}: {exc.message}", errors=[{"loc": [exc.field], "msg": exc.message}]
        ) from None


async def put_directory(call: Call) -> web.Response:
    body: DirectoryIn = call.body
    certificate = _certificate(body)
    keys = call.settings.secret_keys()
    if not keys:
        raise Problem(503, "CARDSYNC_SECRET_KEYS is not set, so client secrets cannot be stored")
    if certificate is None:
        assert body.client_secret is not None
        creds = Credentials(body.tenant_id, body.client_id, body.client_secret)
        stored, kind, expires, thumbprint = body.client_secret, "secret", body.client_secret_expires_at, None
    else:
        creds = Credentials(body.tenant_id, body.client_id, "", certificate)
        stored, kind = certificate.dumps(), "certificate"
        expires, thumbprint = certificate.expires_at, certificate.thumbprint
    await _take_a_token(call, creds)
    row = await call.pool.fetchrow(
        "INSERT INTO directory_connections (team_id, kind, tenant_id, client_id, secret_encrypted,"
        " credential_type, credential_expires_at, certificate_thumbprint)"
        " VALUES ($1, 'own_app', $2, $3, $4, $5, $6, $7)"
        " ON CONFLICT (team_id) DO UPDATE SET kind = 'own_app',"
        " tenant_id = EXCLUDED.tenant_id, client_id = EXCLUDED.client_id,"
        " secret_encrypted = EXCLUDED.secret_encrypted, credential_type = EXCLUDED.credential_type,"
        " credential_expires_at = EXCLUDED.credential_expires_at,"
        " certificate_thumbprint = EXCLUDED.certificate_thumbprint,"
        f" connected_at = now() RETURNING {_COLUMNS}",
        call.team,
        body.tenant_id,
        body.client_id,
        encrypt(keys, stored),
        kind,
        expires,
        thumbprint,
    )
    details = {
        "kind": "own_app",
        "tenant_id": body.tenant_id,
        "client_id": body.client_id,
        "credential": kind,
    }
    await call.audit("directory.connect", details)
    log.info("team %s connected tenant %s with its own app %s", call.team, body.tenant_id, body.client_id)
    return json_response(DirectoryOut(**dict(row)))


async def _take_a_token(call: Call, creds: Credentials) -> str:
    """Credentials that cannot give a token are refused before anything is saved: a 422 naming the field the
    identity platform blamed, or a 503 when it did not answer."""
    try:
        return await call.graph.tokens.check(creds)
    except GraphUnavailable as exc:
        log.warning("no token for tenant %s to connect team %s: %s", creds.tenant_id, call.team, exc.reason)
        raise Problem(
            503, f"the credentials could not be checked, so nothing was saved: {exc.reason}; try again later"
        ) from None
    except GraphAuthError as exc:
        field = _FIELDS.get(exc.credential or "")
        if exc.credential == "certificate":
            field = (
                "certificate_thumbprint"
                if creds.certificate and not creds.certificate.certificate
                else ("client_certificate")
            )
        raise Problem(
            422,
            f"no token could be taken with these credentials, so nothing was saved: {exc.reason}",
            errors=[{"loc": [field] if field else [], "msg": exc.reason}],
        ) from None


async def get_directory(call: Call) -> web.Response:
    row = await call.pool.fetchrow(
        f"SELECT {_COLUMNS} FROM directory_connections WHERE team_id = $1", call.team
    )
    if row is None:
        raise Problem(404, "this team has no directory connected")
    return json_response(DirectoryOut(**dict(row)))


async def delete_directory(call: Call) -> web.Response:
    async with call.pool.acquire() as conn, conn.transaction():
        tenant = await conn.fetchval(
            "DELETE FROM directory_connections WHERE team_id = $1 RETURNING tenant_id", call.team
        )
        if tenant is not None:
            await call.audit("directory.disconnect", {"tenant_id": tenant}, conn)
    return web.Response(status=204)


def _encode_link(link: str | None) -> str | None:
    return base64.urlsafe_b64encode(link.encode()).decode().rstrip("=") if link else None


def _decode_link(cursor: str, graph_url: str) -> str:
    """Graph's next link to a page of groups, as ``_encode_link`` wrapped it; a 400 for anything else."""
    try:
        link = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode("ascii")
        path = URL(link, encoded=True).raw_path
    except (binascii.Error, UnicodeDecodeError, ValueError):
        link, path = "", ""
    if not links.within_base(graph_url, link) or not path.rstrip("/").endswith("/groups"):
        raise Problem(400, "the cursor cannot be read: pass the next_cursor of a previous page")
    return link


async def search_directory_groups(call: Call) -> web.Response:
    query: GroupsQuery = call.query
    next_link = _decode_link(query.cursor, call.graph.graph_url) if query.cursor else None
    connection = await call.pool.fetchrow("SELECT * FROM directory_connections WHERE team_id = $1", call.team)
    if connection is None:
        raise Problem(409, "connect a directory first: PUT /api/v1/teams/{team_id}/directory")
    try:
        groups, link = await search_group_page(
            call.settings, connection, query.search, query.limit, next_link, graph=call.graph
        )
    except GraphError as exc:
        log.warning("group search for team %s failed: %s", call.team, exc.reason)
        raise Problem(502, f"the group search failed: {exc.reason}") from None
    return json_response(GroupsOut(groups=[GroupOut(**g) for g in groups], next_cursor=_encode_link(link)))


async def test_directory(call: Call) -> web.Response:
    """Take a token with the stored credentials (or the given ones, stored or not) and say which of the
    permissions the team's sync configuration needs it carries (R1): a real client learns its application
    permissions from the token's ``roles`` claim. Nothing is saved."""
    body: DirectoryTestIn = call.body
    if body.model_dump(exclude_none=True):
        absent = [n for n in ("tenant_id", "client_id") if getattr(body, n) is None]
        if absent:
            msg = "give the tenant, the app and its credential, or nothing to test the stored connection"
            raise Problem(422, msg, errors=[{"loc": [n], "msg": "missing"} for n in absent])
        # The same choice of credential a connection makes, its fields checked alike by the model.
        certificate = _certificate(
            DirectoryIn.model_construct(**body.model_dump(), client_secret_expires_at=None)
        )
        tenant, client = str(body.tenant_id), str(body.client_id)
        if certificate is None:
            creds = Credentials(tenant, client, str(body.client_secret))
        else:
            creds = Credentials(tenant, client, "", certificate)
        kind = "given"
    else:
        row = await call.pool.fetchrow("SELECT * FROM directory_connections WHERE team_id = $1", call.team)
        if row is None:
            raise Problem(409, "connect a directory first, or give the credentials to test")
        try:
            creds = credentials_for(call.settings, row)
        except GraphAuthError as exc:
            raise Problem(409, exc.reason) from None
        kind = row["kind"]
    token = await _take_a_token(call, creds)
    roles = permissions.token_roles(token)
    saved = await call.pool.fetchval("SELECT config FROM sync_configs WHERE team_id = $1", call.team)
    config = SyncConfig.model_validate(saved if saved is not None else {}).model_dump(mode="json")
    found = []
    for need in permissions.needs(config):
        granted_as = need.granted_by(roles)
        found.append(
            PermissionOut(
                permission=need.permission,
                granted=granted_as is not None,
                granted_as=granted_as,
                serves=list(need.serves),
                why=need.why,
            )
        )
    missing = [p.permission for p in found if not p.granted]
    await call.audit("directory.test", {"kind": kind, "tenant_id": creds.tenant_id, "missing": missing})
    return json_response(
        DirectoryTestOut(
            tenant_id=creds.tenant_id,
            client_id=creds.client_id,
            kind=kind,
            ok=not missing,
            granted=sorted(roles),
            missing=missing,
            permissions=found,
        )
    )


ENDPOINTS = (
    Endpoint(
        "PUT",
        "/api/v1/teams/{team_id}/directory",
        put_directory,
        "Connect (or reconnect) the team's tenant with an app registration of its own",
        {200: DirectoryOut},
        body=DirectoryIn,
        problems={
            422: "no token could be taken with these credentials, or the certificate cannot be used "
            "(malformed, expired, a key that is not its own) or more than one way to sign in was given (the "
            "errors name the field); nothing was saved",
            503: "the identity platform did not answer, or CARDSYNC_SECRET_KEYS is not set; nothing was "
            "saved",
        },
    ),
    Endpoint(
        "GET",
        "/api/v1/teams/{team_id}/directory",
        get_directory,
        "Read the directory connection",
        {200: DirectoryOut},
        problems={404: "the team has no directory connected"},
    ),
    Endpoint(
        "DELETE",
        "/api/v1/teams/{team_id}/directory",
        delete_directory,
        "Disconnect the directory",
        {204: None},
    ),
    Endpoint(
        "GET",
        "/api/v1/teams/{team_id}/directory/groups",
        search_directory_groups,
        "Search the tenant's groups by name",
        {200: GroupsOut},
        query=GroupsQuery,
        problems={409: "the team has no directory connected", 502: "the directory's group search failed"},
    ),
    Endpoint(
        "POST",
        "/api/v1/teams/{team_id}/directory/test",
        test_directory,
        "Test the connection: take a token and check the permissions the sync configuration needs",
        {200: DirectoryTestOut},
        body=DirectoryTestIn,
        problems={
            409: "no directory is connected and no credentials were given",
            422: "no token could be taken with these credentials (the errors name the field), or only some "
            "were given",
            503: "the identity platform did not answer",
        },
    ),
)
