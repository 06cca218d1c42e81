"""Problem documents (RFC 9457) and the pure request helpers: cursors, If-Match, consent state."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from pydantic import SecretStr, ValidationError

from services.scheduler.api.cursor import decode_cursor, encode_cursor
from services.scheduler.api.models.teams import TeamIn
from services.scheduler.api.openapi import openapi_document
from services.scheduler.api.problem_types import KINDS
from services.scheduler.api.problems import invalid, problem_body, problem_middleware, validation_errors
from services.scheduler.api.routes import ENDPOINTS
from services.scheduler.api.routes.config import if_match_versions
from services.scheduler.api.routes.members import photo_etag
from services.scheduler.api.sessions import sign, unsign
from shared.settings import Settings

NOW = datetime(2026, 6, 1, 12, tzinfo=UTC)


def test_problem_body_has_the_rfc_members():
    assert problem_body(404, "no such team") == {
        "type": "/api/v1/problems/not-found",
        "title": "Not Found",
        "status": 404,
        "detail": "no such team",
    }
    assert problem_body(422, "bad", [{"loc": ["x"], "msg": "m"}])["errors"] == [{"loc": ["x"], "msg": "m"}]


def test_each_status_the_api_answers_has_a_problem_type_of_its_own():
    types = {status: problem_body(status, "d")["type"] for status in KINDS}
    assert len(set(types.values())) == len(types)
    assert all(t.startswith("/api/v1/problems/") for t in types.values())
    assert types[412] == "/api/v1/problems/stale-version" and types[422] == "/api/v1/problems/invalid-values"
    assert problem_body(418, "d")["type"] == "about:blank"  # a status with no meaning of its own here
    declared = {
        int(status)
        for op in (op for item in openapi_document(ENDPOINTS)["paths"].values() for op in item.values())
        for status in op["responses"]
        if status[0] in "45"
    }
    assert declared <= set(KINDS)


def test_validation_errors_name_every_field_and_leave_inputs_out():
    with pytest.raises(ValidationError) as info:
        TeamIn.model_validate({"name": "", "admins": [{"email": "secret-value"}], "extra": 1})
    errors = validation_errors(info.value)
    assert {tuple(e["loc"]) for e in errors} == {("name",), ("admins", 0, "email"), ("extra",)}
    assert all(set(e) == {"loc", "msg"} for e in errors)
    assert "secret-value" not in str(errors)
    problem = invalid(validation_errors(info.value, ("query",)))
    assert problem.status == 422 and all(e["loc"][0] == "query" for e in problem.errors)
    assert "admins.0.email" in problem.detail and invalid(errors, 400).status == 400


def test_cursor_round_trip_and_garbage():
    when, row = NOW.replace(microsecond=123456), uuid.uuid4()
    assert decode_cursor(encode_cursor(when, row)) == (when, row)
    for garbage in (
        "",
        "!!!",
        "WzEsMl0",
        "bnVsbA",
        encode_cursor(when, row)[:-4],
        "WyIyMDI2LTAxLTAxIiwiYSJd",
        # year 10000
        "WyI5OTk5LTEyLTMxVDIzOjU5OjU5LTE0OjAwIiwiZDZkNGJkYWEtYzUyMi00MTY0LWE5ZmQtZDViYmE5YjlhYmI4Il0",
        "x" * 100_000,
    ):
        with pytest.raises(ValueError):
            decode_cursor(garbage)


@pytest.mark.parametrize(
    "header, versions",
    [
        (None, None),
        ("*", None),
        ('"3"', {3}),
        ('"1", "2"', {1, 2}),
        ('W/"3"', set()),  # strong comparison: a weak tag matches nothing
        ('W/"3", "4"', {4}),
        ("3", set()),  # not an entity tag
        ('"x"', set()),
        ("", set()),
    ],
)
def test_if_match(header, versions):
    assert if_match_versions(header) == versions


def test_signed_values_are_refused_when_forged_or_signed_elsewhere():
    ours = Settings(secret_key=SecretStr("k" * 32))
    theirs = Settings(secret_key=SecretStr("o" * 32))
    signed = sign(ours, "state-value")
    assert unsign(ours, signed) == "state-value"
    assert unsign(theirs, signed) is None
    assert unsign(ours, signed.replace("state", "other")) is None
    for junk in ("", ".", "a.b", "state-value", "é.x", signed + "x"):
        assert unsign(ours, junk) is None


def test_photo_etag_is_one_valid_quoted_tag():
    assert photo_etag('W/"abc"') == photo_etag('"abc"') == photo_etag("abc") == '"abc"'
    odd = photo_etag('"a"b\r\nX: é"')
    assert odd.count('"') == 2 and odd.isascii() and "\n" not in odd


async def test_an_unhandled_error_is_logged_by_route_never_by_a_claim_links_token(caplog):
    async def broken(_: web.Request) -> web.Response:
        raise RuntimeError("a bug")

    app = web.Application(middlewares=[problem_middleware])
    app.router.add_get("/invites/{token}", broken)
    async with TestClient(TestServer(app)) as client:
        resp = await client.get("/invites/the-claim-token-0123456789")
        assert resp.status == 500 and (await resp.json())["detail"].startswith("an internal error occurred")
    assert "unhandled error on GET /invites/{token}" in caplog.text
    assert "the-claim-token" not in caplog.text
