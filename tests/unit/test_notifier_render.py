"""Rendering of invites and admin digests: both parts, escaping, subjects, long lists, header safety."""

from __future__ import annotations

import email
import email.policy
from datetime import UTC, datetime

import pytest

from services.notifier.mime import BadAddress, compose
from services.notifier.render import (
    Card,
    Person,
    digest_subject,
    people,
    render_digest,
    render_invite,
)
from shared.text import one_line

NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
RUN_URL = "https://cards.example/teams/t1/runs/r1"


def parsed(outgoing) -> email.message.EmailMessage:
    message = email.message_from_bytes(outgoing.data, policy=email.policy.default)
    assert all(not part.defects for part in message.walk())
    return message


def persons(n: int, prefix: str = "p") -> list[dict]:
    return [{"name": f"{prefix}{i}", "email": f"{prefix}{i}@contoso.com"} for i in range(n)]


def test_invite_has_both_parts_with_the_card_and_the_link():
    card = Card("Jane Doe", "VP of Sales", "Contoso", "jane@contoso.com", "+1 425 555 0101")
    r = render_invite("Contoso", card, "https://cards.example/invites/tok123", NOW)
    assert r.subject == "You're invited to join Contoso on CardSync"
    for part in (r.text, r.html):
        for value in (
            "Jane Doe",
            "VP of Sales",
            "jane@contoso.com",
            "+1 425 555 0101",
            "https://cards.example/invites/tok123",
            "01 March 2025",
        ):
            assert value in part
    assert "<html" not in r.text and r.html.startswith("<!doctype html>")


def test_directory_values_are_escaped_in_html_and_kept_in_text():
    card = Card('<script>alert("x")</script>', company="Smith & Sons")
    r = render_invite("<b>Team</b>", card, "https://cards.example/invites/t", NOW)
    assert "<script>" not in r.html and "&lt;script&gt;" in r.html
    assert "Smith &amp; Sons" in r.html and "&lt;b&gt;Team&lt;/b&gt;" in r.html
    assert '<script>alert("x")</script>' in r.text and "Smith & Sons" in r.text


@pytest.mark.parametrize(
    ("kind", "added", "removed", "held", "subject"),
    [
        ("summary", 3, 1, 0, "3 people joined and 1 left Contoso on CardSync"),
        ("summary", 1, 0, 0, "1 person joined Contoso on CardSync"),
        ("summary", 0, 2, 0, "2 people left Contoso on CardSync"),
        ("summary", 0, 0, 0, "Contoso on CardSync: the sync changed no memberships"),
        ("held", 0, 0, 25, "Contoso: 25 removals are waiting for your approval"),
        ("held", 4, 0, 1, "Contoso: 1 removal is waiting for your approval"),
    ],
)
def test_digest_subject_says_what_happened(kind, added, removed, held, subject):
    assert digest_subject(kind, "Contoso", added, removed, held) == subject


def test_summary_digest_lists_people_counts_and_the_run():
    summary = {"added": persons(3, "a"), "removed": persons(1, "r")}
    r = render_digest("summary", "Contoso", RUN_URL, summary, {"created": 3, "removed": 1, "updated": 7})
    assert r.subject == "3 people joined and 1 left Contoso on CardSync"
    for part in (r.text, r.html):
        assert "a0" in part and "a2@contoso.com" in part and "r0@contoso.com" in part
        assert RUN_URL in part and "approve" not in part
    assert "updated    7" in r.text and "created    3" in r.text
    assert '<td style="text-align:right">7</td>' in r.html


def test_long_lists_end_with_and_n_more():
    r = render_digest("summary", "Contoso", RUN_URL, {"added": persons(120, "a")}, {}, limit=50)
    for part in (r.text, r.html):
        assert "a49@contoso.com" in part and "a50@contoso.com" not in part
        assert "and 70 more" in part
    assert r.subject.startswith("120 people joined")


def test_a_summary_that_keeps_the_first_of_a_long_list_counts_them_all():
    summary = {
        "added": persons(100, "a"),
        "removed": persons(1, "r"),
        "totals": {"added": 97029, "removed": 1},
    }
    r = render_digest("summary", "Contoso", RUN_URL, summary, {}, limit=50)
    assert r.subject == "97029 people joined and 1 left Contoso on CardSync"
    for part in (r.text, r.html):
        assert "a49@contoso.com" in part and "a50@contoso.com" not in part
        assert "and 96979 more" in part and "r0@contoso.com" in part


@pytest.mark.parametrize("totals", ["many", {"added": "lots"}, {"added": True}, {"added": 2}])
def test_totals_never_count_fewer_than_the_people_listed(totals):
    r = render_digest("summary", "Contoso", RUN_URL, {"added": persons(3, "a"), "totals": totals}, {})
    assert r.subject == "3 people joined Contoso on CardSync" and "more" not in r.text


def test_held_digest_says_what_is_held_and_how_to_approve():
    summary = {"added": persons(2, "a"), "held": persons(25, "h")}
    r = render_digest("held", "Contoso", RUN_URL, summary, {"created": 2})
    assert r.subject == "Contoso: 25 removals are waiting for your approval"
    for part in (r.text, r.html):
        assert "h24@contoso.com" in part and "a1@contoso.com" in part
        assert "open the run and press Approve" in part and RUN_URL in part


@pytest.mark.parametrize("summary", [None, "oops", {"added": "x"}, {"added": [1, None, {"name": None}]}, []])
def test_malformed_summaries_render_as_no_one(summary):
    r = render_digest("summary", "Contoso", RUN_URL, summary, {"created": "many", "removed": True})
    assert r.subject == "Contoso on CardSync: the sync changed no memberships"
    assert "created    0" in r.text and "removed    0" in r.text


def test_people_reads_what_it_can():
    raw = [{"name": "A\r\nB", "email": "a@x.com"}, {"email": "only@x.com"}, {"other": 1}, "text"]
    assert people(raw) == [Person("A B", "a@x.com"), Person("", "only@x.com")]


def test_one_line_collapses_controls_and_truncates():
    assert one_line("a\r\nBcc: x\t\u2028y") == "a Bcc: x y"
    assert one_line("x" * 300, 10) == "x" * 9 + "…"
    assert one_line(None) == ""


def test_compose_has_text_and_html_and_safe_headers():
    r = render_invite("Contoso\r\nBcc: evil@attacker.example", Card("Jo"), "https://c/invites/t", NOW)
    to = Person('Jo "The Boss" O\'Neil\r\nBcc: evil@attacker.example 😀' + "x" * 300, "jo@contoso.com")
    outgoing = compose(r, "CardSync <cards@cards.example>", to, NOW)
    assert (outgoing.sender, outgoing.recipient) == ("cards@cards.example", "jo@contoso.com")
    assert b"\nBcc:" not in outgoing.data and b"\rBcc:" not in outgoing.data
    back = parsed(outgoing)
    assert back["To"].addresses[0].addr_spec == "jo@contoso.com"
    name = back["To"].addresses[0].display_name
    assert name.startswith('Jo "The Boss" O\'Neil Bcc: evil@attacker.example') and "😀" in name
    assert "\r" not in name and "\n" not in name and len(name) < 110
    assert back["Subject"] == "You're invited to join Contoso Bcc: evil@attacker.example on CardSync"
    assert back["Message-ID"].endswith("@cards.example>") and back["Date"].datetime == NOW
    assert back.get_body(("plain",)).get_content().startswith("Hello Jo")
    assert "<!doctype html>" in back.get_body(("html",)).get_content()
    assert all(len(line) <= 78 for line in outgoing.data.split(b"\r\n"))


def test_compose_round_trips_any_text_through_quoted_printable():
    text = "Zoë 😀 =_cardsync-alternative_= trailing space \n.leading dot\n" + "long " * 40 + "\n"
    r = render_invite("Contoso", Card(text), "https://c/invites/t", NOW)
    back = parsed(compose(r, "cards@localhost", Person("Zoë", "zoe@bücher.example"), NOW))
    assert back["To"].addresses[0].domain == "xn--bcher-kva.example"
    assert back["To"].addresses[0].display_name == "Zoë"
    plain = back.get_body(("plain",)).get_content().replace("\r\n", "\n")
    assert plain == r.text.replace("\r\n", "\n")
    assert back.get_body(("html",)).get_content().replace("\r\n", "\n") == r.html


@pytest.mark.parametrize(
    "address", ["not-an-address", "a b@contoso.com", "x@y\r\nBcc: z@w", "", "@x.com", "ü@x.com", "a@b..c"]
)
def test_compose_refuses_bad_addresses(address):
    r = render_invite("Contoso", Card("Jo"), "https://c/invites/t", NOW)
    with pytest.raises(BadAddress):
        compose(r, "cards@localhost", Person("Jo", address), NOW)


def test_approved_digest_lists_who_left_not_who_joined_again():
    summary = {"added": persons(3, "a"), "removed": persons(2, "r"), "totals": {"added": 3, "removed": 2}}
    r = render_digest("approved", "Contoso", RUN_URL, summary, {"created": 3, "removed": 2})
    assert r.subject == "2 people left Contoso on CardSync"
    for part in (r.text, r.html):
        assert "were approved and are applied" in part and "r1@contoso.com" in part and "a0" not in part
