"""Throttling as Graph does it: injected 429/503 answers, a resource-unit budget per app and tenant per
window, the request counters, and a record of each throttle answer and when the client came back."""

from __future__ import annotations

import math
import time
from collections import Counter, defaultdict, deque
from dataclasses import dataclass

from simulator.errors import GraphError

BASE_COST = {"users": 2, "user": 2, "members": 3, "transitiveMembers": 5}


def cost(kind: str, selected: bool, expanded: bool) -> int:
    """Resource units of one request, by the identity and access service's published table."""
    return max(1, BASE_COST.get(kind, 1) - selected + expanded)


def budget_for(user_count: int) -> int:
    """The per-app, per-tenant limit for a tenant of this size, in resource units per 10 s."""
    return 3500 if user_count < 50 else 5000 if user_count <= 500 else 8000


@dataclass
class ThrottleEvent:
    tenant_id: str
    request_key: str
    status: int
    retry_after: float
    answered_at: float
    came_back_at: float | None = None

    @property
    def waited(self) -> float | None:
        return None if self.came_back_at is None else self.came_back_at - self.answered_at


@dataclass
class _Window:
    start: float
    used: int = 0


class Limits:
    def __init__(self, window: float = 10.0) -> None:
        self.window = window
        self.budget: dict[str, int] = {}
        self.requests: dict[str, Counter[str]] = defaultdict(Counter)
        self.events: dict[str, list[ThrottleEvent]] = defaultdict(list)
        self._faults: dict[str, deque[tuple[int, float]]] = defaultdict(deque)
        self._windows: dict[tuple[str, str], _Window] = {}

    def inject(self, tenant_id: str, times: int, retry_after: float, status: int) -> None:
        self._faults[tenant_id].extend([(status, retry_after)] * times)

    def admit(self, tenant_id: str, client_id: str, kind: str, key: str, units: int) -> dict[str, str]:
        """Count the request; raise the throttle answer it gets, or return the usage headers it carries."""
        now = time.monotonic()
        self.requests[tenant_id]["total"] += 1
        self.requests[tenant_id][kind] += 1
        for event in self.events[tenant_id]:
            if event.came_back_at is None and event.request_key == key:
                event.came_back_at = now
        if self._faults[tenant_id]:
            status, retry_after = self._faults[tenant_id].popleft()
            raise self._answer(tenant_id, key, status, retry_after, now, {})
        headers = {"x-ms-resource-unit": str(units)}
        limit = self.budget.get(tenant_id)
        if limit is None:
            return headers
        window = self._windows.get((tenant_id, client_id))
        if window is None or now - window.start >= self.window:
            window = self._windows[(tenant_id, client_id)] = _Window(now)
        if window.used + units > limit:
            retry_after = max(1, math.ceil(window.start + self.window - now))
            scope = {
                "x-ms-throttle-scope": f"Tenant_Application/ReadWrite/{client_id}/{tenant_id}",
                "x-ms-throttle-information": "ResourceUnitLimitExceeded",
            }
            raise self._answer(tenant_id, key, 429, retry_after, now, scope)
        window.used += units
        if window.used > 0.8 * limit:
            headers["x-ms-throttle-limit-percentage"] = f"{window.used / limit:.1f}"
        return headers

    def _answer(
        self, tenant_id: str, key: str, status: int, retry_after: float, now: float, headers: dict[str, str]
    ) -> GraphError:
        seconds = math.ceil(retry_after)
        self.events[tenant_id].append(ThrottleEvent(tenant_id, key, status, seconds, now))
        headers = {**headers, "Retry-After": str(seconds)}
        if status == 429:
            return GraphError(429, "TooManyRequests", "Too many requests.", headers)
        return GraphError(status, "serviceNotAvailable", "The service is temporarily unavailable.", headers)
