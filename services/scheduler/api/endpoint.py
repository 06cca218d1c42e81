"""One declaration per endpoint: its models drive both the request checks and the OpenAPI document.

The checks run in the order the contract sets: the token (401), then the team (404), then the query and the
body (400, 413, 422). A handler receives a ``Call`` holding what passed.
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Literal
from uuid import UUID

import asyncpg
import pydantic_core
from aiohttp import web
from pydantic import BaseModel, ValidationError

from services.scheduler.api import audit
from services.scheduler.api.auth import Caller, authenticate
from services.scheduler.api.problems import TOO_LARGE, Problem, invalid, validation_errors
from shared.graph.client import GraphClient
from shared.settings import Settings

POOL = web.AppKey("pool", asyncpg.Pool)
SETTINGS = web.AppKey("settings", Settings)
GRAPH = web.AppKey("graph", GraphClient)
MAX_BODY = 1024 * 1024
_MAX_INT = 2**63 - 1


@dataclass(frozen=True)
class Call:
    request: web.Request
    pool: asyncpg.Pool
    settings: Settings
    caller: Caller | None
    team_id: UUID | None  # set on the paths under /teams/{team_id}
    body: Any
    query: Any

    @property
    def team(self) -> UUID:
        assert self.team_id is not None, "only for paths under /teams/{team_id}"
        return self.team_id

    def path_id(self, name: str) -> UUID:
        return parse_id(self.request.match_info[name])

    async def audit(self, action: str, details: dict[str, Any] | None = None, db: Any = None) -> None:
        """An audit entry for this call's team, by its caller; ``db`` a connection to write it in a
        transaction."""
        await audit.record(db or self.pool, self.request, self.caller, action, self.team_id, details)

    @property
    def graph(self) -> GraphClient:
        """The API's one Graph client: its msal apps and tokens serve every request, as a fetcher's do."""
        return self.request.app[GRAPH]


Handler = Callable[[Call], Awaitable[web.StreamResponse]]


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: str
    handler: Handler
    summary: str
    responses: dict[int, type[BaseModel] | None]
    body: type[BaseModel] | None = None
    query: type[BaseModel] | None = None
    access: Literal["team", "operator", "public", "session"] = (
        "team"  # session: a cookie, checked by the handler
    )
    raw_responses: dict[int, str] = field(default_factory=dict)  # status -> media type of a non-JSON answer
    # status -> why this endpoint answers it, beyond what its access, path, query and body imply (openapi.py)
    problems: dict[int, str] = field(default_factory=dict)
    versioned: bool = False  # answers an ETag, and a write takes If-Match (412 when stale)


def parse_id(value: str) -> UUID:
    try:
        return UUID(value)
    except ValueError:
        raise Problem(404, "no such resource") from None


def json_response(model: BaseModel, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(
        status=status, body=model.model_dump_json(), content_type="application/json", headers=headers
    )


def _check_values(value: Any, loc: list[str | int], errors: list[dict[str, Any]]) -> None:
    """Values JSON allows but the database cannot store: NUL in text, integers beyond 64 bits, infinities."""
    if isinstance(value, str):
        if "\x00" in value:
            errors.append({"loc": loc, "msg": "text may not contain NUL characters"})
    elif isinstance(value, bool):
        return
    elif isinstance(value, int):
        if abs(value) > _MAX_INT:
            errors.append({"loc": loc, "msg": "number out of range"})
    elif isinstance(value, float):
        if not math.isfinite(value):
            errors.append({"loc": loc, "msg": "number out of range"})
    elif isinstance(value, dict):
        for k, v in value.items():
            _check_values(k, [*loc, k], errors)
            _check_values(v, [*loc, k], errors)
    elif isinstance(value, list):
        for i, v in enumerate(value):
            _check_values(v, [*loc, i], errors)


async def read_limited(request: web.Request) -> bytes:
    """The whole body, refused with 413 past MAX_BODY. Every request is read, whether or not its endpoint
    takes a body, so the limit holds for all of them."""
    if request.content_length is not None and request.content_length > MAX_BODY:
        raise Problem(413, TOO_LARGE)
    return await request.read()  # client_max_size stops a chunked body at the same size


def _parse_body(raw: bytes, model: type[BaseModel]) -> BaseModel:
    """Strict: a JSON value of the wrong type is refused, never coerced (``"1"`` is not a number)."""
    text = raw if raw.strip() else b"{}"
    try:
        data = pydantic_core.from_json(text, allow_inf_nan=False)
    except ValueError:
        raise Problem(400, "the request body is not valid JSON") from None
    errors: list[dict[str, Any]] = []
    _check_values(data, [], errors)
    try:
        body = model.model_validate_json(text, strict=True)
    except ValidationError as exc:
        raise invalid(errors + validation_errors(exc)) from None
    if errors:
        raise invalid(errors)
    return body


def _read_query(request: web.Request, model: type[BaseModel]) -> BaseModel:
    """Query values are text, so they are converted; one that cannot be read as its type is a 400, one
    that reads but is out of bounds a 422. An empty value is no value (``?status=&limit=``: every status, the
    default page), as a form or a URL template sends it."""
    data = {k: v for k in request.query if k in model.model_fields and (v := request.query.getone(k)) != ""}
    errors: list[dict[str, Any]] = []
    _check_values(data, ["query"], errors)
    if errors:
        raise invalid(errors, 400)
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        unreadable = any(e["type"].endswith("_parsing") for e in exc.errors(include_input=False))
        raise invalid(validation_errors(exc, ("query",)), 400 if unreadable else 422) from None


async def _team(request: web.Request, pool: asyncpg.Pool, caller: Caller) -> UUID:
    team_id = parse_id(request.match_info["team_id"])
    if not await caller.may_act_for(pool, team_id) or not await pool.fetchval(
        "SELECT 1 FROM teams WHERE id = $1", team_id
    ):
        raise Problem(404, "no such team")
    return team_id


async def dispatch(ep: Endpoint, request: web.Request, raw: bytes | None = None) -> web.StreamResponse:
    """One call of ``ep``, checked in the contract's order. ``raw`` is the body when it is not the request's
    own: the dashboard calls endpoints in-process with the JSON its forms stand for."""
    pool, settings = request.app[POOL], request.app[SETTINGS]
    caller = None
    if ep.access not in ("public", "session"):
        caller = await authenticate(request, pool, settings)
        if ep.access == "operator" and not caller.is_operator:
            raise Problem(403, "this needs the operator token")
    team_id = await _team(request, pool, caller) if "{team_id}" in ep.path else None
    query = _read_query(request, ep.query) if ep.query else None
    raw = await read_limited(request) if raw is None else raw
    body = _parse_body(raw, ep.body) if ep.body else None
    return await ep.handler(Call(request, pool, settings, caller, team_id, body, query))


def aiohttp_handler(ep: Endpoint) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    async def handle(request: web.Request) -> web.StreamResponse:
        return await dispatch(ep, request)

    return handle
