"""Log lines through the configured setup: addresses, claim tokens, URL credentials and bearer tokens masked,
in messages and in tracebacks alike."""

from __future__ import annotations

import logging
import time

import orjson
import pytest

from shared import logs

TOKEN = "Zr8Vq3xN0c_Secr3tClaimToken-AbCdEfGhIjK"


@pytest.fixture
def configured(capsys):
    """Sets up logging as `cardsync` does (the root logger is restored afterwards); returns a reader of the
    lines written since."""
    root = logging.getLogger()
    saved = root.handlers[:], root.level

    def lines() -> list[dict]:
        return [orjson.loads(line) for line in capsys.readouterr().err.splitlines()]

    def start():
        logs.setup("notifier", "DEBUG")  # once the test runs: its stderr is the one captured
        return lines

    yield start
    root.handlers[:], level = saved
    root.setLevel(level)


def test_recipients_claim_links_and_url_credentials_are_masked(configured):
    lines = configured()
    log = logging.getLogger("services.notifier.delivery")
    log.warning("sending to %s failed", "jane.doe@contoso.com")
    log.info(
        "invite link https://cards.example/invites/%s for %r",
        TOKEN,
        "jane_fabrikam.com#EXT#@contoso.onmicrosoft.com",
    )
    log.error(
        "cannot reach amqp://cardsync:hunter2@rabbit:5672/ or postgresql://postgres:s3cret@db.example.com/x"
    )
    logging.getLogger("aiohttp.server").warning("Authorization: Bearer %s; token=%s", TOKEN, TOKEN)
    said = [line["msg"] for line in lines()]
    assert said == [
        "sending to ***@contoso.com failed",
        "invite link https://cards.example/invites/*** for '***@contoso.onmicrosoft.com'",
        "cannot reach amqp://***@rabbit:5672/ or postgresql://***@db.example.com/x",
        "Authorization: Bearer ***; token=***",
    ]


def test_what_is_no_secret_is_left_as_it_is(configured):
    lines = configured()
    plain = "POST /api/v1/teams/7/invites/send answered 202; GET /invites/{token}; run 42 took 1.5 s at 10:00"
    logging.getLogger("x").info(plain)
    assert lines()[0]["msg"] == plain


def test_a_traceback_is_masked_too(configured):
    lines = configured()
    try:
        raise ValueError(f"jane@contoso.com refused https://cards.example/invites/{TOKEN}")
    except ValueError:
        logging.getLogger("shared.bus").exception("message failed for amqp://guest:guest@rabbit/")
    (line,) = lines()
    assert line["msg"] == "message failed for amqp://***@rabbit/"
    assert "ValueError: ***@contoso.com refused https://cards.example/invites/***" in line["exc"]
    assert "jane@" not in line["exc"] and TOKEN not in line["exc"]


def test_every_handler_after_the_filter_sees_the_masked_record(configured, caplog):
    lines = configured()
    logging.getLogger().addHandler(caplog.handler)  # another handler on the root, as a library might add
    try:
        raise RuntimeError(f"claim of https://cards.example/invites/{TOKEN} by bob@contoso.com")
    except RuntimeError:
        logging.getLogger("x").exception("claim /invites/%s failed", TOKEN)
    assert TOKEN not in lines()[0]["exc"]
    assert TOKEN not in caplog.text and "bob@" not in caplog.text
    assert "claim /invites/*** failed" in caplog.text and "***@contoso.com" in caplog.text


def test_a_long_line_costs_one_pass_not_one_per_character():
    started = time.perf_counter()
    assert logs.redact("x." * 100_000 + " jane@contoso.com") == "x." * 100_000 + " ***@contoso.com"
    assert time.perf_counter() - started < 2  # a pattern retried at every character took minutes here
