"""The OpenAPI 3.1 document, generated from the endpoint declarations and their pydantic models."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from http import HTTPStatus
from typing import Any, get_args, get_origin

from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode, models_json_schema

from services.scheduler.api.endpoint import Endpoint
from services.scheduler.api.models.common import ProblemOut
from services.scheduler.api.openapi_problems import HEADERS, SAFE, problem_responses
from services.scheduler.api.openapi_text import TAGS, introduction

REF = "#/components/schemas/{model}"
_IF_MATCH = {
    "name": "If-Match",
    "in": "header",
    "required": False,
    "description": "the ETag the change was made from: the save is refused with 412 when it is stale",
    "schema": {"type": "string", "examples": ['"4"']},
}
_PARAM = re.compile(r"{(\w+)}")
_ROLE = re.compile(r"(Out|Created)$")
_WORD = re.compile(r"(?<!^)(?=[A-Z])")


def _models(endpoints: Iterable[Endpoint]) -> list[tuple[type[BaseModel], JsonSchemaMode]]:
    found: dict[tuple[type[BaseModel], JsonSchemaMode], None] = {(ProblemOut, "serialization"): None}
    for ep in endpoints:
        if ep.body:
            found[(ep.body, "validation")] = None
        for model in ep.responses.values():
            if model:
                found[(model, "serialization")] = None
    return list(found)


def _query_parameters(model: type[BaseModel], schemas: dict[str, Any]) -> list[dict[str, Any]]:
    schema = model.model_json_schema(ref_template=REF)
    schemas.update(schema.pop("$defs", {}))
    required = set(schema.get("required", []))
    return [
        {
            "name": name,
            "in": "query",
            "required": name in required,
            "description": prop.get("description", ""),
            "schema": prop,
        }
        for name, prop in schema["properties"].items()
    ]


def _id_parameter(model: type[BaseModel]) -> str | None:
    """The path parameter a model's ``id`` is: a ``RunOut`` (or ``RunCreated``) is the ``run_id`` of the
    paths."""
    if "id" not in model.model_fields:
        return None
    return _WORD.sub("_", _ROLE.sub("", model.__name__)).lower() + "_id"


def _produced_id(model: type[BaseModel]) -> tuple[str, str] | None:
    """The path parameter an answer holds a value of, and the JSON pointer to it: its own ``id``, or that of
    the first item of the list it carries (``RunsOut.runs``)."""
    if param := _id_parameter(model):
        return param, "/id"
    for name, field in model.model_fields.items():
        (item,) = get_args(field.annotation) if get_origin(field.annotation) is list else (None,)
        if isinstance(item, type) and issubclass(item, BaseModel) and (param := _id_parameter(item)):
            return param, f"/{name}/0/id"
    return None


def _links(ep: Endpoint, model: type[BaseModel], endpoints: Sequence[Endpoint]) -> dict[str, Any]:
    """OpenAPI links from an answer to every other operation it gives all the path parameters of: the id
    it holds, and the rest from the request's own path (a client, or a fuzzer, follows them to walk the
    API)."""
    found = _produced_id(model)
    if found is None:
        return {}
    param, pointer = found
    own = set(_PARAM.findall(ep.path))
    links: dict[str, Any] = {}
    for target in endpoints:
        wanted = _PARAM.findall(target.path)
        if target is ep or param not in wanted or not set(wanted) <= own | {param}:
            continue
        values = {p: f"$response.body#{pointer}" if p == param else f"$request.path.{p}" for p in wanted}
        links[target.handler.__name__] = {"operationId": target.handler.__name__, "parameters": values}
    return links


def _responses(
    ep: Endpoint, refs: dict[tuple[type[BaseModel], JsonSchemaMode], Any], endpoints: Sequence[Endpoint]
) -> dict[str, Any]:
    responses: dict[str, Any] = {}
    for status, model in ep.responses.items():
        answer: dict[str, Any] = {"description": ep.summary if model else HTTPStatus(status).phrase}
        if model:
            answer["content"] = {"application/json": {"schema": refs[(model, "serialization")]}}
            if links := _links(ep, model, endpoints):
                answer["links"] = links
        if status in ep.raw_responses:
            answer["content"] = {ep.raw_responses[status]: {"schema": {"type": "string", "format": "binary"}}}
        if ep.versioned and status < 300:
            answer["headers"] = {"ETag": {"$ref": "#/components/headers/ETag"}}
        responses[str(status)] = answer
    responses.update(problem_responses(ep, refs[(ProblemOut, "serialization")]))
    return responses


_SAME_TAG = {"run-days": "runs"}  # resources listed under another's tag


def _tag(path: str) -> str:
    """The resource a path is about: its first segment under the API or under a team (``sync/`` skipped)."""
    rest = path.removeprefix("/api/v1/").removeprefix("teams/{team_id}/")
    segments = rest.split("/")
    resource = segments[1] if segments[0] == "sync" else segments[0]
    return TAGS[_SAME_TAG.get(resource, resource)][0]


def _operation(
    ep: Endpoint, refs: dict, schemas: dict[str, Any], endpoints: Sequence[Endpoint]
) -> dict[str, Any]:
    params: list[dict[str, Any]] = [
        {
            "name": name,
            "in": "path",
            "required": True,
            "description": f"the {name.removesuffix('_id').replace('_', ' ')}'s id",
            "schema": {"type": "string", "format": "uuid"},
        }
        for name in _PARAM.findall(ep.path)
    ]
    if ep.query:
        params += _query_parameters(ep.query, schemas)
    if ep.versioned and ep.method not in SAFE:
        params.append(_IF_MATCH)
    op: dict[str, Any] = {
        "operationId": ep.handler.__name__,
        "summary": ep.summary,
        "tags": [_tag(ep.path)],
        "parameters": params,
        "responses": _responses(ep, refs, endpoints),
    }
    if ep.body:
        op["requestBody"] = {
            "required": any(f.is_required() for f in ep.body.model_fields.values()),
            "content": {"application/json": {"schema": refs[(ep.body, "validation")]}},
        }
    if ep.access == "public":
        op["security"] = []
    elif ep.access == "session":
        op["security"] = [{"session": []}]
    return op


def openapi_document(
    endpoints: Iterable[Endpoint], extra_paths: dict[str, Any] | None = None, public_url: str | None = None
) -> dict[str, Any]:
    """The document; ``public_url``, where the API is reached, becomes its server."""
    endpoints = list(endpoints)
    refs, defs = models_json_schema(_models(endpoints), ref_template=REF)
    schemas: dict[str, Any] = dict(defs.get("$defs", {}))
    paths: dict[str, Any] = {}
    for ep in endpoints:
        paths.setdefault(ep.path, {})[ep.method.lower()] = _operation(ep, refs, schemas, endpoints)
    paths.update(extra_paths or {})
    document: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {"title": "CardSync control API", "version": "1", "description": introduction()},
        "tags": [{"name": name, "description": text} for name, text in TAGS.values()],
        "paths": paths,
        "components": {
            "schemas": schemas,
            "headers": HEADERS,
            "securitySchemes": {
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "the operator token, or a team token",
                },
                "session": {
                    "type": "apiKey",
                    "in": "cookie",
                    "name": "cardsync_session",
                    "description": "a session signed in with Microsoft at /auth/login",
                },
            },
        },
        "security": [{"bearer": []}, {"session": []}],
    }
    if public_url:
        document["servers"] = [{"url": public_url.rstrip("/"), "description": "this installation"}]
    return document
