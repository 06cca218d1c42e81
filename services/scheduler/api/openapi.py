"""The OpenAPI 3.1 document, generated from the endpoint declarations and their pydantic models."""

from __future__ import annotations

import re
from collections.abc import Iterable
from http import HTTPStatus
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode, models_json_schema

from services.scheduler.api.endpoint import Endpoint
from services.scheduler.api.models.common import ProblemOut

REF = "#/components/schemas/{model}"
_PARAM = re.compile(r"{(\w+)}")


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
        {"name": name, "in": "query", "required": name in required, "schema": prop}
        for name, prop in schema["properties"].items()
    ]


def _responses(ep: Endpoint, refs: dict[tuple[type[BaseModel], JsonSchemaMode], Any]) -> dict[str, Any]:
    responses: dict[str, Any] = {}
    for status, model in ep.responses.items():
        answer: dict[str, Any] = {"description": ep.summary if model else "no content"}
        if model is ProblemOut:  # an error the endpoint declares, beyond those every endpoint may answer
            answer = {
                "description": f"{HTTPStatus(status).phrase} (RFC 9457)",
                "content": {"application/problem+json": {"schema": refs[(model, "serialization")]}},
            }
        elif model:
            answer["content"] = {"application/json": {"schema": refs[(model, "serialization")]}}
        if status in ep.raw_responses:
            answer["content"] = {ep.raw_responses[status]: {"schema": {"type": "string", "format": "binary"}}}
        responses[str(status)] = answer
    problem = refs[(ProblemOut, "serialization")]
    responses["default"] = {
        "description": "an error (RFC 9457)",
        "content": {"application/problem+json": {"schema": problem}},
    }
    return responses


def _operation(ep: Endpoint, refs: dict, schemas: dict[str, Any]) -> dict[str, Any]:
    params = [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string", "format": "uuid"}}
        for name in _PARAM.findall(ep.path)
    ]
    if ep.query:
        params += _query_parameters(ep.query, schemas)
    op: dict[str, Any] = {
        "operationId": ep.handler.__name__,
        "summary": ep.summary,
        "parameters": params,
        "responses": _responses(ep, refs),
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
    endpoints: Iterable[Endpoint], extra_paths: dict[str, Any] | None = None
) -> dict[str, Any]:
    endpoints = list(endpoints)
    refs, defs = models_json_schema(_models(endpoints), ref_template=REF)
    schemas: dict[str, Any] = dict(defs.get("$defs", {}))
    paths: dict[str, Any] = {}
    for ep in endpoints:
        paths.setdefault(ep.path, {})[ep.method.lower()] = _operation(ep, refs, schemas)
    paths.update(extra_paths or {})
    return {
        "openapi": "3.1.0",
        "info": {"title": "CardSync control API", "version": "1"},
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer"},
                "session": {"type": "apiKey", "in": "cookie", "name": "cardsync_session"},
            },
        },
        "security": [{"bearer": []}, {"session": []}],
    }
