"""JSON batching: up to 20 GETs per ``$batch`` request, each throttled or failed item retried on its own."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from shared.graph import retry
from shared.graph.client import TenantGraph

MAX_BATCH = 20


@dataclass(frozen=True)
class BatchItem:
    id: str
    status: int
    headers: dict[str, str]
    body: Any


def chunks(items: Sequence[str], size: int = MAX_BATCH) -> Iterator[Sequence[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def batch_body(urls: dict[str, str]) -> dict[str, Any]:
    """The ``$batch`` body for GETs keyed by request id; urls are relative to the version (``/users/…``)."""
    return {"requests": [{"id": rid, "method": "GET", "url": url} for rid, url in urls.items()]}


def split_throttled(responses: list[dict[str, Any]]) -> tuple[list[BatchItem], list[str], float | None]:
    """(finished items, ids to send again, the longest Retry-After among the throttled ones)."""
    done: list[BatchItem] = []
    again: list[str] = []
    longest: float | None = None
    for r in responses:
        headers = {str(k): str(v) for k, v in (r.get("headers") or {}).items()}
        status = int(r.get("status") or 0)
        if status in retry.THROTTLE_STATUSES:
            again.append(str(r["id"]))
            after = retry.parse_retry_after(_header(headers, "Retry-After"))
            if after is not None:
                longest = max(longest or 0.0, after)
        else:
            done.append(BatchItem(str(r["id"]), status, headers, r.get("body")))
    return done, again, longest


async def batch_get(graph: TenantGraph, urls: dict[str, str]) -> list[BatchItem]:
    """GET every url (id -> relative url, at most MAX_BATCH) in one batch. Each item stands alone, as a
    request of its own would: a throttled one is sent again after its Retry-After, one that failed with a 500,
    502 or 504 is sent again after a backoff, a few times, and a refused one once with a new token when the
    one it went with may predate a grant, as ``TenantGraph.request`` does."""
    assert len(urls) <= MAX_BATCH, "split the requests with chunks() first"
    pending = dict(urls)
    finished: list[BatchItem] = []
    attempt = 0
    failures: Counter[str] = Counter()
    renewed = False
    while pending:
        answer = await graph.post_json("/$batch", batch_body(pending))
        done, again, after = split_throttled(list((answer or {}).get("responses") or []))
        failed = [
            i.id
            for i in done
            if i.status in retry.TRANSIENT_STATUSES and failures[i.id] < retry.MAX_TRANSIENT_ATTEMPTS
        ]
        # Refused items go again once with a new token, should the one they went with predate a grant.
        if not renewed and any(i.status == 403 for i in done):
            renewed = True
            if await graph.renew_refused():
                failed += [i.id for i in done if i.status == 403]
        finished.extend(i for i in done if i.id not in failed)
        missing = set(pending) - {item.id for item in done} - set(again)
        # An id the batch did not answer at all is sent again like a throttled one.
        throttled = [*again, *sorted(missing)]
        pending = {rid: pending[rid] for rid in [*throttled, *failed]}
        if throttled:
            await asyncio.sleep(graph.budget.spend(retry.throttle_delay(after, attempt), time.monotonic()))
            attempt += 1
        elif failed:
            await asyncio.sleep(retry.backoff(max(failures[rid] for rid in failed)))
        failures.update(failed)
    return finished


def _header(headers: dict[str, str], name: str) -> str | None:
    lowered = name.lower()
    return next((v for k, v in headers.items() if k.lower() == lowered), None)
