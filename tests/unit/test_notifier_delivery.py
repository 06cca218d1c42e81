"""The pure parts of sending: what an SMTP error means, the backoff, the claim link states, waiting for a
claim."""

from __future__ import annotations

import aiosmtplib
import pytest

from services.notifier.delivery import backoff
from services.notifier.sentlog import Claimed, settle
from services.notifier.smtp import PermanentMailError, TemporaryMailError, classify
from services.scheduler.claim.routes import state_of


@pytest.mark.parametrize(
    ("exc", "meaning"),
    [
        (
            aiosmtplib.SMTPRecipientsRefused([aiosmtplib.SMTPRecipientRefused(550, "no such user", "a@x")]),
            PermanentMailError,
        ),
        (
            aiosmtplib.SMTPRecipientsRefused([aiosmtplib.SMTPRecipientRefused(451, "greylisted", "a@x")]),
            TemporaryMailError,
        ),
        (aiosmtplib.SMTPDataError(554, "rejected"), PermanentMailError),
        (aiosmtplib.SMTPDataError(452, "no space"), TemporaryMailError),
        (aiosmtplib.SMTPSenderRefused(451, "try later", "cards@x"), TemporaryMailError),
        (aiosmtplib.SMTPSenderRefused(553, "not allowed", "cards@x"), TemporaryMailError),
        (aiosmtplib.SMTPAuthenticationError(535, "bad credentials"), TemporaryMailError),
        (aiosmtplib.SMTPConnectResponseError(421, "busy"), TemporaryMailError),
        (aiosmtplib.SMTPServerDisconnected("gone"), TemporaryMailError),
        (aiosmtplib.SMTPConnectTimeoutError("slow"), TemporaryMailError),
        (ConnectionRefusedError(111, "refused"), TemporaryMailError),
        (ConnectionResetError(104, "reset"), TemporaryMailError),
        (TimeoutError(), TemporaryMailError),
        (aiosmtplib.SMTPNotSupported("SMTPUTF8"), PermanentMailError),
        (KeyError("bug"), type(None)),
    ],
)
def test_classify(exc, meaning):
    assert type(classify(exc)) is meaning


def test_permanent_error_names_recipient_and_reply():
    exc = aiosmtplib.SMTPRecipientsRefused([aiosmtplib.SMTPRecipientRefused(550, "5.1.1 no\r\nsuch", "a@x")])
    assert str(classify(exc)) == "the mail server refused a@x: 550 5.1.1 no such"


def test_backoff_doubles_up_to_the_cap_with_jitter():
    assert [backoff(a, 30, rand=lambda: 1.0) for a in range(8)] == [0.5, 1, 2, 4, 8, 16, 30, 30]
    assert backoff(3, 30, rand=lambda: 0.0) == 2.0


@pytest.mark.parametrize(
    ("row", "state"),
    [
        (None, "unknown"),
        ({"status": "sent", "expired": False, "member_status": "removed"}, "unknown"),
        ({"status": "claimed", "expired": False, "member_status": "active"}, "used"),
        ({"status": "sent", "expired": True, "member_status": "invited"}, "expired"),
        ({"status": "sent", "expired": False, "member_status": "invited"}, "open"),
    ],
)
def test_claim_link_state(row, state):
    assert state_of(row) == state


async def test_settle_waits_while_another_holder_is_busy_then_takes_its_answer():
    answers = iter(["busy", "busy", "done"])
    assert await settle(lambda: _answer(next(answers))) is None
    claimed = Claimed(lease=None)
    answers = iter(["busy", claimed])
    assert await settle(lambda: _answer(next(answers))) is claimed


async def _answer(value):
    return value
