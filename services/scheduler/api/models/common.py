"""Building blocks shared by the API's models."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

_EMAIL = re.compile(r"^[^@\s]+@[^@\s.]+(\.[^@\s.]+)+$")


def _email(value: str) -> str:
    value = value.strip()
    if len(value) > 254 or not _EMAIL.match(value):
        raise ValueError("not a valid email address")
    return value


Email = Annotated[str, AfterValidator(_email)]
Name = Annotated[str, Field(min_length=1, max_length=200)]


def examples(*values: dict) -> ConfigDict:
    """A model's examples, shown in the OpenAPI document (and checked against the model by the tests)."""
    return ConfigDict(json_schema_extra={"examples": list(values)})


class In(BaseModel):
    """A request body: unknown fields are refused, so a typo never passes silently."""

    model_config = ConfigDict(extra="forbid")


class Out(BaseModel):
    pass


class FieldError(Out):
    """One bad value of a request."""

    loc: list[str | int] = Field(
        description='where it is: body field names and list indexes, or "query" and the parameter'
    )
    msg: str = Field(description="what is wrong with it")


class ProblemOut(Out):
    """An error answer, an RFC 9457 problem document (application/problem+json)."""

    model_config = examples(
        {
            "type": "/api/v1/problems/not-found",
            "title": "Not Found",
            "status": 404,
            "detail": "no such team",
        },
        {
            "type": "/api/v1/problems/invalid-values",
            "title": "Unprocessable Content",
            "status": 422,
            "detail": "invalid values: admins.0.email",
            "errors": [{"loc": ["admins", 0, "email"], "msg": "Value error, not a valid email address"}],
        },
    )

    type: str = Field(
        description="a URI naming the kind of error, e.g. /api/v1/problems/not-found (relative to the API's"
        " host); it opens a page that explains it"
    )
    title: str = Field(description="the HTTP status's phrase, e.g. Not Found")
    status: int = Field(description="the HTTP status code of the answer")
    detail: str = Field(description="what happened and what to do, in words for a person")
    errors: list[FieldError] | None = Field(
        default=None, description="each bad value, when values were refused (400, 422)"
    )
