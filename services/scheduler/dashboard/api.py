"""The dashboard's only way to the data: the control API's endpoints, called in-process as the page's own
request (its cookie, its address), so a page can do nothing the API would not let the same person do."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiohttp import web
from multidict import CIMultiDict
from yarl import URL

from services.scheduler.api.auth import CSRF_HEADER
from services.scheduler.api.endpoint import dispatch
from services.scheduler.api.problems import Problem, problem_body
from services.scheduler.api.routes import ENDPOINTS

_BY_ROUTE = {(ep.method, ep.path): ep for ep in ENDPOINTS}
# aiohttp clones only a request whose body is unread: a page keeps such a copy before it reads its form.
UNREAD = web.RequestKey("unread_request", web.Request)
_DROPPED = ("Content-Type", "Content-Length", "Transfer-Encoding", CSRF_HEADER, "If-Match", "Accept")


@dataclass(frozen=True)
class Answer:
    status: int
    body: Any
    headers: Mapping[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    @property
    def detail(self) -> str:
        return str(self.body.get("detail", "")) if isinstance(self.body, dict) else ""

    def field_errors(self) -> dict[str, str]:
        """A 422's errors by field path (``removal_guard.max_percent``), to show each beside its field."""
        errors = self.body.get("errors") if isinstance(self.body, dict) else None
        found: dict[str, str] = {}
        for error in errors or []:
            key = ".".join(str(p) for p in error.get("loc", []))
            found[key] = f"{found[key]}; {error['msg']}" if key in found else str(error.get("msg", ""))
        return found


class Failed(Exception):
    """An answer a page cannot be drawn without; the page's wrapper shows it (or asks to sign in)."""

    def __init__(self, answer: Answer) -> None:
        super().__init__(answer.detail)
        self.answer = answer


async def call(
    request: web.Request,
    method: str,
    path: str,
    *,
    query: Mapping[str, str] | None = None,
    body: Any = None,
    csrf: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> Answer:
    """``method path`` of the API (a path template of ENDPOINTS, its ids taken from the page's own path)."""
    endpoint = _BY_ROUTE[(method, path)]
    sent = CIMultiDict(request.headers)
    for name in _DROPPED:
        sent.popall(name, None)
    sent["Accept"] = "application/json"
    if csrf:
        sent[CSRF_HEADER] = csrf
    sent.update(headers or {})
    url = URL.build(
        path=path.format_map(request.match_info), query={k: v for k, v in (query or {}).items() if v}
    )
    inner = request.get(UNREAD, request).clone(method=method, rel_url=url, headers=sent)
    try:
        response = await dispatch(endpoint, inner, orjson.dumps(body) if body is not None else b"")
    except Problem as exc:
        return Answer(exc.status, problem_body(exc.status, exc.detail, exc.errors), exc.headers)
    if not isinstance(response, web.Response):  # a streamed answer (a CSV export) goes out as it is
        return Answer(response.status, response, response.headers)
    data = orjson.loads(response.text) if response.body else None
    return Answer(response.status, data, response.headers)


async def get(request: web.Request, path: str, **query: str) -> Any:
    """The JSON of a GET that a page needs; Failed otherwise."""
    answer = await call(request, "GET", path, query=query)
    if not answer.ok:
        raise Failed(answer)
    return answer.body
