"""The errors an operation of the OpenAPI document declares: each status it may answer, and why."""

from __future__ import annotations

import re
from collections import defaultdict
from http import HTTPStatus
from typing import Any

from services.scheduler.api.endpoint import Endpoint
from services.scheduler.api.problems import PROBLEM_TYPE, TOO_LARGE, problem_body

SAFE = frozenset({"GET", "HEAD", "OPTIONS"})
_BOUNDS = frozenset({"minimum", "maximum", "minLength", "maxLength", "pattern", "enum", "const"})
_PARAM = re.compile(r"{(\w+)}")
HEADERS = {
    "ETag": {
        "description": "the configuration's version, to send back in If-Match",
        "required": True,
        "schema": {"type": "string", "examples": ['"4"']},
    },
    "WWW-Authenticate": {
        "description": "the scheme to authenticate with",
        "required": True,
        "schema": {"type": "string", "examples": ['Bearer realm="cardsync"']},
    },
}


def _bounded(schema: Any) -> bool:
    """Whether a schema bounds a value (a range, a length, a choice): a value read but out of them is a
    422."""
    if isinstance(schema, dict):
        return not _BOUNDS.isdisjoint(schema) or any(_bounded(v) for v in schema.values())
    return isinstance(schema, list) and any(_bounded(v) for v in schema)


def _reasons(ep: Endpoint) -> dict[int, list[str]]:
    """Why the endpoint may answer each error status: what its access, path, query and body imply, in the
    order the checks run, then what it declares itself."""
    why: dict[int, list[str]] = defaultdict(list)
    authenticated = ep.access in ("team", "operator")
    if authenticated:
        why[401].append("no valid bearer token and no signed-in session")
    if ep.access == "operator":
        why[403].append("the caller is not the operator")
    if authenticated and ep.method not in SAFE:
        why[403].append("a signed-in session's change without its X-CSRF-Token header")
    for param in _PARAM.findall(ep.path):
        thing = param.removesuffix("_id").replace("_", " ")
        why[404].append(
            "no such team, or one the caller may not act for" if thing == "team" else f"no such {thing}"
        )
    if ep.query:
        why[400].append("a query value cannot be read (e.g. a cursor not from a previous page)")
        if _bounded(ep.query.model_json_schema()):
            why[422].append("a query value is out of bounds")
    why[413].append(TOO_LARGE)
    if ep.body:
        why[400].append("the body is not JSON")
        why[422].append("invalid values in the body")
    if ep.versioned and ep.method not in SAFE:
        why[412].append("If-Match names an older version: read it again, then save")
    for status, reason in ep.problems.items():
        why[status].append(reason)
    return why


def _answer(status: int, reasons: list[str], problem: dict[str, Any]) -> dict[str, Any]:
    answer: dict[str, Any] = {
        "description": f"{HTTPStatus(status).phrase}: {'; '.join(reasons)}",
        "content": {PROBLEM_TYPE: {"schema": problem, "example": problem_body(status, reasons[0])}},
    }
    header = {401: "WWW-Authenticate", 412: "ETag"}.get(status)
    if header:
        answer["headers"] = {header: {"$ref": f"#/components/headers/{header}"}}
    return answer


def problem_responses(ep: Endpoint, problem: dict[str, Any]) -> dict[str, Any]:
    """The operation's error answers, by status, then ``default`` for any other (a 405, a 500)."""
    responses = {str(s): _answer(s, why, problem) for s, why in sorted(_reasons(ep).items())}
    responses["default"] = {
        "description": "any other error, e.g. 405 for a method the path does not take",
        "content": {PROBLEM_TYPE: {"schema": problem}},
    }
    return responses
