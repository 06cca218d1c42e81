"""The causes of failed runs: which pass and which need a person, and when a scheduled run is tried again."""

from __future__ import annotations

from datetime import timedelta

import pytest

from shared.failures import Cause, advice, cause_of, needs_a_person, retry_after, when_retried
from shared.graph.errors import GraphThrottled, error_for, token_error


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (token_error({"error": "invalid_client", "error_codes": [7000222]}, "t", "c"), Cause.SECRET),
        (token_error({"error": "invalid_client", "error_codes": [700027]}, "t", "c"), Cause.CERTIFICATE),
        (
            token_error({"error": "invalid_client", "error_codes": [7000222]}, "t", "c", certificate=True),
            Cause.CERTIFICATE,
        ),
        (token_error({"error": "invalid_request", "error_codes": [90002]}, "t", "c"), Cause.TENANT),
        (token_error({"error": "unauthorized_client", "error_codes": [700016]}, "t", "c"), Cause.APP),
        (token_error({"error": "temporarily_unavailable"}, "t", "c"), Cause.GRAPH),
        (error_for(401, {}, "/users"), Cause.TOKEN),
        (error_for(403, {}, "/users/delta"), Cause.PERMISSION),
        (error_for(503, {}, "/users"), Cause.GRAPH),
        (error_for(429, {}, "/users"), Cause.GRAPH),
        (GraphThrottled("throttled"), Cause.THROTTLED),
        (ValueError("odd"), Cause.UNKNOWN),
    ],
)
def test_each_failure_has_its_cause(error, expected):
    assert cause_of(error) == expected


def test_retries_wait_5_minutes_30_minutes_2_hours_then_the_cadence():
    waits = [retry_after(Cause.GRAPH, n) for n in range(1, 5)]
    assert waits == [timedelta(minutes=5), timedelta(minutes=30), timedelta(hours=2), None]
    assert retry_after(Cause.SECRET, 1) is None and needs_a_person("permission")
    assert retry_after("a cause of a later version", 1) == timedelta(minutes=5)


def test_every_cause_has_words():
    for cause in Cause:
        assert advice(cause).what and advice(cause).todo
    assert "Entra admin center" in advice("secret").todo
    assert "tried again in 2 hours" in when_retried("timeout", 3, "schedule")
    assert "saved again" in when_retried("tenant", 1, "schedule")
