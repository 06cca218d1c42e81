"""RFC 9457 problem documents for every error the API answers, its own and aiohttp's."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from http import HTTPStatus
from typing import Any

import orjson
from aiohttp import web
from pydantic import ValidationError

from services.scheduler.api.problem_types import problem_type

log = logging.getLogger(__name__)
PROBLEM_TYPE = "application/problem+json"
TOO_LARGE = "the request body is larger than 1 MiB"


class Problem(Exception):
    """An error answer; raise it anywhere in a handler."""

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        errors: list[dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.errors = errors
        self.headers = headers or {}


def problem_body(status: int, detail: str, errors: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    phrase = HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else "Error"
    body: dict[str, Any] = {
        "type": problem_type(status),
        "title": phrase,
        "status": status,
        "detail": detail,
    }
    if errors is not None:
        body["errors"] = errors
    return body


def problem_response(
    status: int,
    detail: str,
    errors: list[dict[str, Any]] | None = None,
    headers: dict[str, str] | None = None,
) -> web.Response:
    return web.Response(
        status=status,
        body=orjson.dumps(problem_body(status, detail, errors)),
        content_type=PROBLEM_TYPE,
        headers=headers,
    )


def validation_errors(exc: ValidationError, prefix: tuple[str | int, ...] = ()) -> list[dict[str, Any]]:
    """Pydantic's errors as {"loc", "msg"} pairs, one per bad field; input values are left out (secrets)."""
    return [{"loc": [*prefix, *err["loc"]], "msg": err["msg"]} for err in exc.errors(include_input=False)]


def invalid(errors: list[dict[str, Any]], status: int = 422) -> Problem:
    """A 422 (or, for a value that cannot even be read, a 400) naming every bad field."""
    fields = ", ".join(".".join(str(p) for p in e["loc"]) or "body" for e in errors)
    what = "invalid values" if status == 422 else "values that cannot be read"
    return Problem(status, f"{what}: {fields}", errors=errors)


_AIOHTTP_DETAILS = {
    404: "no such resource",
    405: "this method is not allowed on this resource",
    413: TOO_LARGE,
}


@web.middleware
async def problem_middleware(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    try:
        return await handler(request)
    except Problem as exc:
        return problem_response(exc.status, exc.detail, exc.errors, exc.headers)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        headers = {k: v for k, v in exc.headers.items() if k.lower() == "allow"}
        detail = _AIOHTTP_DETAILS.get(exc.status, exc.reason)
        return problem_response(exc.status, detail, headers=headers)
    except Exception:
        # The route's template, not the path: a claim link's path is its token.
        resource = request.match_info.route.resource
        log.exception("unhandled error on %s %s", request.method, resource.canonical if resource else "?")
        return problem_response(500, "an internal error occurred; it has been logged")
