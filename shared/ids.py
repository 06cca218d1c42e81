"""Time-ordered UUIDs (the layout of RFC 9562's version 7) for rows written in bulk.

Random (version 4) keys scatter a large insert over every page of a b-tree; keys that grow with time land at
its right edge, so the primary key, and every index that leads with the key (a member's links, subteam places
and invite), takes a 100,000-row insert in cache-friendly order. The 12 bits after the millisecond count a
sequence, so ids made by one process are strictly increasing."""

from __future__ import annotations

import os
import random
import threading
import time
from collections.abc import Iterator

_VERSION = 0x7 << 76
_VARIANT = 1 << 63
_lock = threading.Lock()
# The random bits need to be unique, not secret: a seeded generator, seeded afresh in each forked child.
_random = random.Random()
os.register_at_fork(after_in_child=_random.seed)
_last = 0  # the last stamp given out: milliseconds << 12 | sequence


def _stamps(n: int) -> int:
    """The first of ``n`` consecutive stamps (milliseconds << 12 | sequence), each after every stamp given out
    before: a sequence that runs past 4,095 borrows the next millisecond."""
    global _last
    with _lock:
        first = max((time.time_ns() // 1_000_000) << 12, _last + 1)
        _last = first + n - 1
        return first


def time_ordered_uuids(n: int) -> list[str]:
    """``n`` ids at once, increasing: a bulk writer's (about a third of the cost of one at a time)."""
    first, bits = _stamps(n), _random.getrandbits
    ids = []
    for stamp in range(first, first + n):
        # 48 bits of milliseconds, the version, 12 of sequence, the variant (0b10) over 62 random bits.
        h = "%032x" % ((stamp >> 12) << 80 | _VERSION | (stamp & 0xFFF) << 64 | _VARIANT | bits(62))
        ids.append(f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}")
    return ids


def time_ordered_uuid() -> str:
    return time_ordered_uuids(1)[0]


def time_ordered_stream(batch: int = 1024) -> Iterator[str]:
    """Endless ids, made ``batch`` at a time: for one run's writer (a stream kept for long would hand out ids
    whose time lags the clock)."""
    while True:
        yield from time_ordered_uuids(batch)
