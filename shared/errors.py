"""What a message handler raises to say how its message went, and what the bus makes of any failure.

A handler returns when its work is done; the bus acknowledges the message then. Otherwise:

- ``Retry(delay, reason)``: a passing failure; the message is handled again after ``delay`` seconds.
- ``Permanent(reason)``: the message can never be handled; it goes to the dead-letter queue at once.
- anything else: retried with a growing wait, until the delivery limit dead-letters it.
"""

from __future__ import annotations

import random
from dataclasses import dataclass


class Retry(Exception):
    """A passing failure: handle the message again after ``delay`` seconds (at most the bus's longest wait),
    counted against the delivery limit."""

    def __init__(self, delay: float, reason: str):
        super().__init__(reason)
        self.delay = delay
        self.reason = reason


class Permanent(Exception):
    """The message can never be handled: dead-letter it at once; ``reason`` goes with it."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Verdict:
    """What becomes of a failed message: dead-lettered, or retried after ``delay`` seconds."""

    dead: bool
    delay: float = 0.0
    reason: str = ""


def judge(exc: Exception, failures: int, limit: int, base: float, longest: float) -> Verdict:
    """The verdict on a message whose handler raised ``exc``, after ``failures`` failures before this one;
    waits grow from ``base`` to ``longest`` seconds, with jitter."""
    if isinstance(exc, Permanent):
        return Verdict(dead=True, reason=exc.reason)
    reason = exc.reason if isinstance(exc, Retry) else repr(exc)
    if failures + 1 > limit:
        return Verdict(dead=True, reason=f"failed {failures + 1} times, the last: {reason}")
    delay = min(exc.delay, longest) if isinstance(exc, Retry) else _backoff(failures, base, longest)
    return Verdict(dead=False, delay=max(0.0, delay), reason=reason)


def _backoff(attempt: int, base: float, longest: float) -> float:
    return min(longest, base * 2 ** (attempt + 1)) * random.uniform(0.5, 1.0)
