"""Cadence arithmetic (R14): per-team slots, short periods, month ends, leap years, catch-up, time zones."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from services.scheduler.cadence import Slot, next_after, next_run_at, slot_for


def at(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


SLOT = Slot(second_of_day=3 * 3600 + 17 * 60, weekday=2, day_of_month=31, month_of_quarter=1)


def test_off_has_no_next_run():
    assert next_run_at("off", at(2026, 1, 1), "team") is None


def test_unknown_cadence_and_naive_time_are_refused():
    with pytest.raises(ValueError):
        next_run_at("fortnightly", at(2026, 1, 1), "team")
    with pytest.raises(ValueError):
        next_run_at("daily", datetime(2026, 1, 1), "team")


def test_slot_is_stable_and_in_range():
    team = uuid.UUID("6f1c0d2e-8a7b-4c3d-9e8f-0a1b2c3d4e5f")
    assert slot_for(team) == slot_for(str(team)) == slot_for(str(team).upper())
    slot = slot_for(team)
    assert 0 <= slot.second_of_day < 86_400 and 0 <= slot.weekday < 7
    assert 1 <= slot.day_of_month <= 31 and 0 <= slot.month_of_quarter < 3


def test_teams_are_spread_over_the_day():
    seconds = [slot_for(uuid.UUID(int=i)).second_of_day for i in range(2000)]
    hours = {s // 3600 for s in seconds}
    assert hours == set(range(24))
    assert max(seconds.count(s) for s in set(seconds)) < 5  # not all at one moment, not at midnight


def test_daily_is_today_at_the_slot_or_tomorrow():
    assert next_after("daily", at(2026, 5, 1, 1, 0), SLOT) == at(2026, 5, 1, 3, 17)
    assert next_after("daily", at(2026, 5, 1, 3, 17), SLOT) == at(2026, 5, 2, 3, 17)  # strictly after now
    assert next_after("daily", at(2026, 12, 31, 23, 0), SLOT) == at(2027, 1, 1, 3, 17)


def test_daily_uses_utc_whatever_the_zone_of_now():
    paris = timezone(timedelta(hours=2))
    now = datetime(2026, 5, 1, 4, 0, tzinfo=paris)  # 02:00 UTC
    result = next_after("daily", now, SLOT)
    assert result == at(2026, 5, 1, 3, 17) and result.tzinfo == UTC


def test_weekly_lands_on_the_teams_weekday():
    # 2026-05-04 is a Monday; the slot's weekday 2 is Wednesday.
    assert next_after("weekly", at(2026, 5, 4, 12), SLOT) == at(2026, 5, 6, 3, 17)
    assert next_after("weekly", at(2026, 5, 6, 3, 17), SLOT) == at(2026, 5, 13, 3, 17)
    assert next_after("weekly", at(2026, 5, 6, 3, 16), SLOT) == at(2026, 5, 6, 3, 17)


def test_monthly_on_the_31st_uses_month_ends_and_returns_to_the_31st():
    now, seen = at(2026, 1, 1), []
    for _ in range(5):
        now = next_after("monthly", now, SLOT)
        seen.append(now.date().isoformat())
    assert seen == ["2026-01-31", "2026-02-28", "2026-03-31", "2026-04-30", "2026-05-31"]


def test_monthly_in_a_leap_year():
    assert next_after("monthly", at(2028, 2, 1), SLOT) == at(2028, 2, 29, 3, 17)
    thirtieth = Slot(0, 0, 30, 0)
    assert next_after("monthly", at(2028, 2, 1), thirtieth) == at(2028, 2, 29)
    assert next_after("monthly", at(2028, 2, 29), thirtieth) == at(2028, 3, 30)


def test_monthly_early_day():
    first = Slot(60, 0, 1, 0)
    assert next_after("monthly", at(2026, 12, 1, 0, 1), first) == at(2027, 1, 1, 0, 1)
    assert next_after("monthly", at(2026, 12, 1, 0, 0, 59), first) == at(2026, 12, 1, 0, 1)


def test_quarterly_is_every_three_months_in_the_teams_month():
    # month_of_quarter 1: February, May, August, November.
    now, seen = at(2026, 1, 15), []
    for _ in range(5):
        now = next_after("quarterly", now, SLOT)
        seen.append(now.date().isoformat())
    assert seen == ["2026-02-28", "2026-05-31", "2026-08-31", "2026-11-30", "2027-02-28"]
    assert next_after("quarterly", at(2028, 2, 1), SLOT) == at(2028, 2, 29, 3, 17)


@pytest.mark.parametrize(
    "cadence, period",
    [
        ("daily", timedelta(days=1)),
        ("weekly", timedelta(days=7)),
        ("monthly", timedelta(days=31)),
        ("quarterly", timedelta(days=92)),
    ],
)
def test_catch_up_after_downtime_is_computed_from_now(cadence, period):
    team = "c0ffee00-0000-4000-8000-000000000001"
    missed = next_run_at(cadence, at(2026, 1, 1), team)
    back = missed + 10 * period + timedelta(hours=5)  # the scheduler was down for ten periods
    after = next_run_at(cadence, back, team)
    assert back < after <= back + period  # one run now, then the next slot from now, no replay
    assert next_run_at(cadence, after, team) > after


@pytest.mark.parametrize("cadence", ["daily", "weekly", "monthly", "quarterly"])
def test_next_run_is_always_after_now_and_at_the_teams_second(cadence):
    for i in range(300):
        team = uuid.UUID(int=i * 7919)
        now = at(2025, 1, 1) + timedelta(hours=i * 37, seconds=i)
        result = next_run_at(cadence, now, team)
        slot = slot_for(team)
        assert result > now
        assert result.hour * 3600 + result.minute * 60 + result.second == slot.second_of_day


@pytest.mark.parametrize("cadence, period", [("every_15_minutes", 900), ("hourly", 3600)])
def test_short_cadences_run_each_period_at_the_teams_offset(cadence, period):
    for i in range(200):
        team = uuid.UUID(int=i * 104729)
        now = at(2026, 3, 1) + timedelta(seconds=i * 997)
        result = next_run_at(cadence, now, team)
        assert now < result <= now + timedelta(seconds=period)
        midnight = result.replace(hour=0, minute=0, second=0)
        assert (result - midnight).total_seconds() % period == slot_for(team).second_of_day % period
        assert next_run_at(cadence, result, team) == result + timedelta(seconds=period)


def test_short_cadences_spread_teams_over_the_period():
    offsets = {slot_for(uuid.UUID(int=i)).second_of_day % 900 for i in range(2000)}
    assert len(offsets) > 800


def test_a_chosen_time_of_day_is_local_to_the_zone():
    zone = "Europe/Berlin"
    result = next_run_at("daily", at(2026, 1, 10, 12), "team", time(6, 30), zone)
    assert result.astimezone(ZoneInfo(zone)).timetz().replace(tzinfo=None) == time(6, 30)
    assert result == at(2026, 1, 11, 5, 30)  # CET is UTC+1 in January
    summer = next_run_at("daily", at(2026, 7, 10, 12), "team", time(6, 30), zone)
    assert summer == at(2026, 7, 11, 4, 30)  # CEST is UTC+2


def test_daylight_saving_changes_neither_skip_nor_repeat_a_day():
    zone = "America/New_York"  # springs forward on 2026-03-08 at 02:00, falls back on 2026-11-01 at 02:00
    spring = next_run_at("daily", at(2026, 3, 8, 5), "team", time(2, 30), zone)
    assert spring.astimezone(ZoneInfo(zone)).date().isoformat() == "2026-03-08"
    assert spring.astimezone(ZoneInfo(zone)).hour == 3  # 02:30 does not exist that night: 03:30
    runs, now = [], at(2026, 10, 30)
    for _ in range(4):
        now = next_run_at("daily", now, "team", time(1, 30), zone)
        runs.append(now.astimezone(ZoneInfo(zone)))
    assert [r.day for r in runs] == [30, 31, 1, 2]  # 01:30 happens twice on Nov 1: one run
    assert all(r.hour == 1 and r.minute == 30 for r in runs)


def test_a_chosen_weekday_and_month_day_are_those_of_the_zone():
    zone = "Pacific/Auckland"  # UTC+13 in January: the local day starts the previous UTC day
    slot = slot_for("team")
    result = next_run_at("weekly", at(2026, 1, 1), "team", time(0, 15), zone)
    assert result.astimezone(ZoneInfo(zone)).weekday() == slot.weekday
    monthly = next_run_at("monthly", at(2026, 2, 1), "team", time(23, 45), zone)
    local = monthly.astimezone(ZoneInfo(zone))
    assert local.day == min(slot.day_of_month, 28 if local.month == 2 else 31) and local.hour == 23
