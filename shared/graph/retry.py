"""When to retry a Graph request and how long to wait: pure decisions, no clock and no sleeping here."""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

from shared.graph.errors import GraphThrottled

THROTTLE_STATUSES = frozenset({429, 503})
TRANSIENT_STATUSES = frozenset({500, 502, 504})
MAX_TRANSIENT_ATTEMPTS = 4
BACKOFF_BASE = 1.0
BACKOFF_CAP = 60.0


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (seconds or an HTTP date); None if absent or bad."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def backoff(attempt: int, rand: Callable[[], float] = random.random) -> float:
    """Full-jitter exponential backoff for the ``attempt``-th retry (from 0)."""
    return rand() * min(BACKOFF_CAP, BACKOFF_BASE * 2**attempt)


def throttle_delay(
    retry_after: float | None, attempt: int, rand: Callable[[], float] = random.random
) -> float:
    """Graph's own ``Retry-After`` when it gave one, else (or when it said 0, which would retry at once for as
    long as Graph keeps refusing) backoff with jitter."""
    return retry_after if retry_after else backoff(attempt, rand)


class ThrottleBudget:
    """The time one run tolerates being throttled in all (R17), shared by every request of the run. It is time
    the run spends waiting, not the sum of its requests' waits: requests that wait side by side spend it once,
    so a run that sends several at a time is not given up after a fraction of the limit."""

    def __init__(self, limit: float):
        self.limit = limit
        self.waited = 0.0
        self._until = float("-inf")  # when the latest wait under way ends

    def spend(self, delay: float, now: float) -> float:
        """Account for a wait of ``delay`` starting at ``now`` (a monotonic clock); raise GraphThrottled when
        it would take the run's waiting past the limit."""
        end = now + delay
        more = max(0.0, end - max(now, self._until))
        if self.waited + more > self.limit:
            raise GraphThrottled(
                f"Microsoft Graph kept throttling this tenant: the run gave up after {self.waited:.0f} s of "
                f"waiting (the limit is {self.limit:.0f} s); the next run will try again",
                status=429,
            )
        self.waited += more
        self._until = max(self._until, end)
        return delay
