"""When a team's next scheduled run is due. Pure: the time and the team in, the next run time out.

Teams are spread out: each gets a stable slot derived from a hash of its id (a second of the day, a
weekday, a day of the month, a month of the quarter), so a thousand daily teams do not all start at
midnight. Everything is UTC. The next run is always strictly after ``now``, so a scheduler that was down
runs each team once on return and then goes on from the present, never replaying the missed periods.
"""

from __future__ import annotations

import calendar
import hashlib
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from uuid import UUID

SECONDS_PER_DAY = 86_400


@dataclass(frozen=True)
class Slot:
    second_of_day: int  # 0..86399
    weekday: int  # 0 = Monday .. 6
    day_of_month: int  # 1..31; a shorter month uses its last day
    month_of_quarter: int  # 0..2: January/April/July/October is 0


def slot_for(team_id: str | UUID) -> Slot:
    digest = hashlib.sha256(str(team_id).lower().encode()).digest()
    n = int.from_bytes(digest[:8], "big")
    return Slot(
        second_of_day=n % SECONDS_PER_DAY,
        weekday=(n // SECONDS_PER_DAY) % 7,
        day_of_month=(n // (SECONDS_PER_DAY * 7)) % 31 + 1,
        month_of_quarter=(n // (SECONDS_PER_DAY * 7 * 31)) % 3,
    )


def next_run_at(cadence: str, now: datetime, team_id: str | UUID) -> datetime | None:
    """The first slot of the team strictly after ``now``; None for ``off``."""
    return next_after(cadence, now, slot_for(team_id))


def next_after(cadence: str, now: datetime, slot: Slot) -> datetime | None:
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    now = now.astimezone(UTC)
    if cadence == "off":
        return None
    if cadence == "daily":
        return _next_daily(now, slot)
    if cadence == "weekly":
        return _next_weekly(now, slot)
    if cadence == "monthly":
        return _next_in_months(now, slot, every=1)
    if cadence == "quarterly":
        return _next_in_months(now, slot, every=3)
    raise ValueError(f"unknown cadence {cadence!r}")


def _at(day: date, slot: Slot) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC) + timedelta(seconds=slot.second_of_day)


def _next_daily(now: datetime, slot: Slot) -> datetime:
    candidate = _at(now.date(), slot)
    return candidate if candidate > now else candidate + timedelta(days=1)


def _next_weekly(now: datetime, slot: Slot) -> datetime:
    day = now.date() + timedelta(days=(slot.weekday - now.weekday()) % 7)
    candidate = _at(day, slot)
    return candidate if candidate > now else candidate + timedelta(days=7)


def _month_day(year: int, month: int, slot: Slot) -> date:
    return date(year, month, min(slot.day_of_month, calendar.monthrange(year, month)[1]))


def _next_in_months(now: datetime, slot: Slot, every: int) -> datetime:
    year, month = now.year, now.month
    # At most every + 1 months ahead holds the next slot; the loop bound only guards against a logic error.
    for _ in range(every + 2):
        in_cycle = every == 1 or (month - 1) % every == slot.month_of_quarter
        if in_cycle:
            candidate = _at(_month_day(year, month, slot), slot)
            if candidate > now:
                return candidate
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    raise AssertionError("no slot found")
