"""Paged collection answers: one page of objects cut by id, with @odata.context, nextLink and count."""

from __future__ import annotations

import bisect
from collections.abc import Callable, Sequence
from typing import Any

from simulator.errors import bad_request
from simulator.paging import decode_skiptoken, encode_skiptoken, next_link, parse_top
from simulator.request import GraphRequest, GraphResponse

Shaper = Callable[[str], dict[str, Any] | None]


def take(keys: Sequence[str], after: str | None, top: int, keep: Callable[[str], bool] | None) -> list[str]:
    """Up to ``top`` keys after ``after`` that ``keep`` accepts, scanning no further than needed."""
    start = 0 if after is None else bisect.bisect_right(keys, after)
    if keep is None:
        return list(keys[start : start + top])
    out: list[str] = []
    for key in keys[start:]:
        if keep(key):
            out.append(key)
            if len(out) == top:
                break
    return out


def page(
    req: GraphRequest,
    context: str,
    keys: Sequence[str],
    shaper: Shaper,
    keep: Callable[[str], bool] | None = None,
) -> GraphResponse:
    """A page in Graph's shape. A full page always gets a nextLink, so, as in Graph, the last may be empty."""
    top = parse_top(req.q("$top"))
    token = req.q("$skiptoken")
    after = decode_skiptoken(token) if token else None
    chosen = take(keys, after, top, keep)
    body: dict[str, Any] = {"@odata.context": f"{req.graph_url}/$metadata#{context}"}
    counted = (req.q("$count") or "").lower() == "true"
    if counted and (req.header("ConsistencyLevel") or "").lower() != "eventual":
        raise bad_request(
            "$count on directory objects needs the header 'ConsistencyLevel: eventual'.",
            code="Request_UnsupportedQuery",
        )
    if after is None and counted:
        body["@odata.count"] = len(keys) if keep is None else sum(1 for k in keys if keep(k))
    if len(chosen) == top:
        body["@odata.nextLink"] = next_link(req.graph_url, req.path, req.query, encode_skiptoken(chosen[-1]))
    body["value"] = [obj for obj in map(shaper, chosen) if obj is not None]
    return GraphResponse(200, body)
