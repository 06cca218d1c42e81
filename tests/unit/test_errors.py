"""The verdict on a failed message: dead-lettered at once, or retried after a wait."""

from shared.errors import Permanent, Retry, judge

LIMIT, BASE, LONGEST = 3, 0.5, 30.0


def test_a_permanent_error_is_dead_lettered_at_once():
    verdict = judge(Permanent("not an id"), 0, LIMIT, BASE, LONGEST)
    assert verdict.dead and verdict.reason == "not an id"


def test_a_retry_waits_its_delay_at_most_the_longest():
    verdict = judge(Retry(4, "later"), 0, LIMIT, BASE, LONGEST)
    assert not verdict.dead and verdict.delay == 4 and verdict.reason == "later"
    assert judge(Retry(3600, "much later"), 0, LIMIT, BASE, LONGEST).delay == LONGEST


def test_failures_past_the_limit_are_dead_lettered_with_the_last_error():
    assert not judge(ValueError("bad"), LIMIT - 1, LIMIT, BASE, LONGEST).dead
    verdict = judge(ValueError("bad"), LIMIT, LIMIT, BASE, LONGEST)
    assert verdict.dead and "failed 4 times" in verdict.reason and "bad" in verdict.reason
    assert judge(Retry(1, "later"), LIMIT, LIMIT, BASE, LONGEST).dead
