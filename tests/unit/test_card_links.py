"""Which values a card link may hold: https, http, mailto and tel links, or text with no scheme."""

from __future__ import annotations

import pytest

from shared.card_links import link_problem


@pytest.mark.parametrize(
    "value",
    [
        "https://contoso.example/people/jsmith",
        "http://intranet.contoso.example",
        "HTTPS://Contoso.Example",
        "mailto:john.smith@contoso.com",
        "MailTo:john.smith@contoso.com?subject=Hello%20there",
        "tel:+14255550101",
        "  https://contoso.example",  # leading spaces: a browser drops them
        "https://contoso.example/a%3Ab?q=javascript:alert(1)",  # a scheme later in the link is no scheme
        "www.contoso.example",  # no scheme: text, or a link within the card's own site
        "contoso.example/jsmith",
        "+1 425 555 0101",
        "B12",
        "1 Main St, Redmond",
        "10:30",  # a scheme begins with a letter
        "Room 4: second floor",  # a scheme has no spaces
        "/people/jsmith",
        "100%",
        "50%25 off",
        "",
    ],
)
def test_allowed_links_and_plain_text(value):
    assert link_problem(value) is None


@pytest.mark.parametrize(
    "value, scheme",
    [
        ("javascript:alert(1)", "javascript"),
        ("JaVaScRiPt:alert(1)", "javascript"),
        (" javascript:alert(1)", "javascript"),
        ("\x01javascript:alert(1)", "javascript"),
        ("\x00\x1f javascript:alert(1)", "javascript"),
        ("java\tscript:alert(1)", "javascript"),
        ("java\nscr\ript:alert(1)", "javascript"),
        ("java\x00script:alert(1)", "javascript"),
        ("java\u200bscript:alert(1)", "javascript"),  # a zero-width space
        ("\ufeffjavascript:alert(1)", "javascript"),  # a byte order mark
        ("\u00a0javascript:alert(1)", "javascript"),  # a no-break space
        ("javascript%3Aalert(1)", "javascript"),  # percent-encoded, for an app that decodes before it opens
        ("%6A%61%76%61script:alert(1)", "javascript"),
        ("%256Aavascript:alert(1)", "javascript"),  # encoded twice
        ("%09javascript:alert(1)", "javascript"),
        ("&#106;avascript:alert(1)", "javascript"),  # HTML character references
        ("&#x6A;avascript:alert(1)", "javascript"),
        ("&#106avascript:alert(1)", "javascript"),
        ("javascript&colon;alert(1)", "javascript"),
        ("%26%23106;avascript:alert(1)", "javascript"),
        ("&#37;6Aavascript:alert(1)", "javascript"),
        ("data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==", "data"),
        ("vbscript:msgbox(1)", "vbscript"),
        ("file:///etc/passwd", "file"),
        ("FILE://server/share", "file"),
        ("ms-msdt:/id PCWDiagnostic", "ms-msdt"),
        ("ftp://files.contoso.example", "ftp"),
        ("sms:+14255550101", "sms"),
        ("C:\\Users\\jsmith", "c"),
        ("htps://contoso.example", "htps"),
    ],
)
def test_other_schemes_are_refused_however_they_are_dressed(value, scheme):
    problem = link_problem(value)
    assert problem is not None and problem.startswith(f"is a {scheme}: link, ")
    assert "https:, http:, mailto: or tel:" in problem


def test_a_value_encoded_over_and_over_is_refused():
    value = "javascript:alert(1)"
    for _ in range(6):
        value = value.replace("%", "%25").replace(":", "%3A")
    assert link_problem(value) is not None
    assert link_problem("https://contoso.example/%25252525") is None  # a scheme is read before any decoding
