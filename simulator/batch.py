"""JSON batching: up to 20 requests in one POST, each answered (and throttled) on its own; the outer answer
is 200 even when inner ones fail, and the answers come back in no particular order."""

from __future__ import annotations

import base64
import random
from dataclasses import replace
from typing import Any

from simulator import router
from simulator.errors import GraphError, bad_request
from simulator.limits import Limits
from simulator.request import GraphRequest, GraphResponse, split_url

MAX_REQUESTS = 20
_JSON = (
    "application/json; odata.metadata=minimal; odata.streaming=true; IEEE754Compatible=false; charset=utf-8"
)


def _validate(body: Any) -> list[dict[str, Any]]:
    requests = body.get("requests") if isinstance(body, dict) else None
    if not isinstance(requests, list) or not requests:
        raise bad_request(
            "Invalid batch payload format: a non-empty 'requests' array is required.", "BadRequest"
        )
    if len(requests) > MAX_REQUESTS:
        raise bad_request(
            f"Invalid batch payload: the number of requests exceeds the limit of {MAX_REQUESTS}.",
            "BadRequest",
        )
    seen: set[str] = set()
    for item in requests:
        if not isinstance(item, dict) or not all(
            isinstance(item.get(k), str) for k in ("id", "method", "url")
        ):
            raise bad_request(
                "Invalid batch payload: every request needs string 'id', 'method' and 'url'.", "BadRequest"
            )
        if item["id"].lower() in seen:
            raise bad_request(
                f"Invalid batch payload: request id '{item['id']}' is not unique.", "BadRequest"
            )
        for dependency in item.get("dependsOn") or []:
            if str(dependency).lower() not in seen:
                raise bad_request(
                    f"Invalid batch payload: dependsOn '{dependency}' names no earlier request.", "BadRequest"
                )
        seen.add(item["id"].lower())
    return requests


def _inner(item: dict[str, Any], response: GraphResponse) -> dict[str, Any]:
    headers = dict(response.headers)
    body = response.body
    if isinstance(body, bytes):
        body = base64.b64encode(body).decode()
    else:
        headers.setdefault("Content-Type", _JSON)
    return {"id": item["id"], "status": response.status, "headers": headers, "body": body}


def run(outer: GraphRequest, limits: Limits, rng: random.Random) -> GraphResponse:
    if outer.method != "POST":
        raise GraphError(405, "Request_BadRequest", "Batch requests must be POSTed.")
    requests = _validate(outer.body)
    limits.requests[outer.tenant.tenant_id]["batch"] += 1
    statuses: dict[str, int] = {}
    answers = []
    for item in requests:
        failed = [d for d in item.get("dependsOn") or [] if statuses.get(str(d).lower(), 200) >= 400]
        if failed:
            error = GraphError(424, "FailedDependency", f"Request depends on failed request '{failed[0]}'.")
            response = GraphResponse(424, error.body())
        else:
            path, query = split_url(item["url"])
            headers = {k.lower(): str(v) for k, v in (item.get("headers") or {}).items()}
            inner = replace(
                outer,
                method=item["method"].upper(),
                path=path,
                query=query,
                headers=headers,
                body=item.get("body"),
            )
            response = (
                router.run(inner, limits)
                if path != "$batch"
                else GraphResponse(400, bad_request("Batches cannot be nested.", "BadRequest").body())
            )
        statuses[item["id"].lower()] = response.status
        answers.append(_inner(item, response))
    rng.shuffle(answers)
    return GraphResponse(200, {"responses": answers})
