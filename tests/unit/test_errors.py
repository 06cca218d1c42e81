"""The verdict on a failed message: dead-lettered at once, retried and counted, or retried uncounted."""

import asyncpg

from shared.errors import Permanent, Retry, judge, outage

LIMIT, BASE, LONGEST = 3, 0.5, 30.0


def test_a_permanent_error_is_dead_lettered_at_once():
    verdict = judge(Permanent("not an id"), 0, 0, LIMIT, BASE, LONGEST)
    assert verdict.dead and verdict.reason == "not an id"


def test_a_retry_waits_its_delay_at_most_the_longest_and_counts():
    verdict = judge(Retry(4, "later"), 0, 0, LIMIT, BASE, LONGEST)
    assert not verdict.dead and verdict.counted and verdict.delay == 4 and verdict.reason == "later"
    assert judge(Retry(3600, "much later"), 0, 0, LIMIT, BASE, LONGEST).delay == LONGEST


def test_failures_past_the_limit_are_dead_lettered_with_the_last_error():
    assert not judge(ValueError("bad"), LIMIT - 1, 0, LIMIT, BASE, LONGEST).dead
    verdict = judge(ValueError("bad"), LIMIT, 0, LIMIT, BASE, LONGEST)
    assert verdict.dead and "failed 4 times" in verdict.reason and "bad" in verdict.reason
    assert judge(Retry(1, "later"), LIMIT, 0, LIMIT, BASE, LONGEST).dead


def test_an_outage_is_never_counted_and_its_waits_grow_to_the_longest():
    for outages in (0, 5, 1000):
        verdict = judge(ConnectionResetError(), 1000, outages, LIMIT, BASE, LONGEST)
        assert not verdict.dead and not verdict.counted
        assert verdict.delay <= min(LONGEST, BASE * 2 ** (outages + 1))
    assert judge(ConnectionResetError(), 0, 1000, LIMIT, BASE, LONGEST).delay >= LONGEST / 2


def test_an_error_caused_by_a_lost_connection_is_an_outage():
    try:
        try:
            raise asyncpg.ConnectionDoesNotExistError("connection was closed in the middle of operation")
        except asyncpg.PostgresError:
            raise asyncpg.InterfaceError("connection is closed")
    except asyncpg.InterfaceError as exc:
        assert outage(exc)
    assert outage(asyncpg.AdminShutdownError("terminating connection due to administrator command"))
    assert not outage(asyncpg.UniqueViolationError("duplicate key"))
    assert not outage(ValueError("bad"))
