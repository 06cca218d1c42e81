"""When a team's next scheduled run is due (R14). Pure: the time, the team and its schedule in, the next run
out.

Teams are spread out: each gets a stable slot derived from a hash of its id (a second of the day, a weekday, a
day of the month, a month of the quarter), so a thousand daily teams do not all start at midnight, nor a
thousand hourly ones on the hour. For daily and longer cadences an admin may pick the time of day (``at``) in
a time zone; days, weekdays and month days are then those of that zone, and a time that a daylight-saving
change skips runs as the clock reads after the change (02:30 on a spring-forward night runs at 03:30), one
that it repeats runs once, the first time. The next run is always strictly after ``now``, so a scheduler that
was down runs each team once on return and then goes on from the present, never replaying the missed periods.
"""

from __future__ import annotations

import calendar
import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from uuid import UUID
from zoneinfo import ZoneInfo

SECONDS_PER_DAY = 86_400
PERIOD_SECONDS = {"every_15_minutes": 900, "hourly": 3600}  # cadences shorter than a day: a fixed period


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


def next_run_at(
    cadence: str, now: datetime, team_id: str | UUID, at: time | None = None, zone: str = "UTC"
) -> datetime | None:
    """The first run of the team strictly after ``now`` (UTC); None for ``off``. ``at`` is a local time of day
    in ``zone`` (daily and longer); without it the team's own second of the day is used."""
    slot = slot_for(team_id)
    if at is not None:
        slot = Slot(
            at.hour * 3600 + at.minute * 60 + at.second,
            slot.weekday,
            slot.day_of_month,
            slot.month_of_quarter,
        )
    return next_after(cadence, now, slot, ZoneInfo(zone))


def next_after(cadence: str, now: datetime, slot: Slot, zone: tzinfo = UTC) -> datetime | None:
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    now = now.astimezone(UTC)
    if cadence == "off":
        return None
    if cadence in PERIOD_SECONDS:
        return _next_in_period(now, slot, PERIOD_SECONDS[cadence])
    days = _CANDIDATE_DAYS.get(cadence)
    if days is None:
        raise ValueError(f"unknown cadence {cadence!r}")
    today = now.astimezone(zone).date()
    for day in days(today - timedelta(days=1), slot):
        candidate = _at(day, slot, zone)
        if candidate > now:
            return candidate
    raise AssertionError("no slot found")


def _next_in_period(now: datetime, slot: Slot, period: int) -> datetime:
    """Periods counted in UTC from midnight, offset by the team's slot so teams do not all start together."""
    midnight = datetime(now.year, now.month, now.day, tzinfo=UTC)
    offset = slot.second_of_day % period
    elapsed = int((now - midnight).total_seconds()) - offset
    return midnight + timedelta(seconds=offset + (elapsed // period + 1) * period)


def _at(day: date, slot: Slot, zone: tzinfo) -> datetime:
    """The slot's time of day on a local day, as a UTC instant (a skipped time reads as after the change)."""
    local = datetime.combine(day, time(), tzinfo=zone) + timedelta(seconds=slot.second_of_day)
    return datetime.fromtimestamp(local.timestamp(), UTC)


def _daily(start: date, _: Slot) -> Iterator[date]:
    for n in range(4):
        yield start + timedelta(days=n)


def _weekly(start: date, slot: Slot) -> Iterator[date]:
    first = start + timedelta(days=(slot.weekday - start.weekday()) % 7)
    for n in range(3):
        yield first + timedelta(days=7 * n)


def _months(every: int):
    def days(start: date, slot: Slot) -> Iterator[date]:
        year, month = start.year, start.month
        for _ in range(2 * every + 2):
            if every == 1 or (month - 1) % every == slot.month_of_quarter:
                yield date(year, month, min(slot.day_of_month, calendar.monthrange(year, month)[1]))
            year, month = (year + 1, 1) if month == 12 else (year, month + 1)

    return days


_CANDIDATE_DAYS = {"daily": _daily, "weekly": _weekly, "monthly": _months(1), "quarterly": _months(3)}
