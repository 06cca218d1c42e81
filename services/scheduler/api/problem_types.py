"""The kinds of error the API answers, each named by a problem ``type`` URI (RFC 9457) with a page of its own.

The URIs are relative to the API's host (``/api/v1/problems/not-found``): the same string on every
installation, so a client may compare it, and a page wherever the API is reached. Each status the API uses
has one kind; a status without one (aiohttp's rarer answers) keeps ``about:blank``."""

from __future__ import annotations

from typing import NamedTuple

PROBLEMS_PATH = "/api/v1/problems"


class Kind(NamedTuple):
    name: str  # the last segment of its URI
    meaning: str  # what it means and what to do


KINDS: dict[int, Kind] = {
    400: Kind(
        "bad-request",
        "The request cannot be used as sent: a body that is not JSON, a query value that cannot be parsed (a"
        " cursor not from a previous page), or a sign-in or consent answer whose state is unknown, used or"
        " expired. Correct the request, or start the sign-in again.",
    ),
    401: Kind(
        "unauthenticated",
        "No valid credentials came with the request: send the operator token or a team token in an"
        " Authorization: Bearer header, or sign in at /auth/login.",
    ),
    403: Kind(
        "forbidden",
        "The caller may not do this: an action for the operator alone, a signed-in session's change without "
        "its"
        " X-CSRF-Token header, or an admin consent asked for without signing in with Microsoft.",
    ),
    404: Kind(
        "not-found",
        "There is no such resource, or the caller may not see it: another team's paths answer 404 as if the "
        "team"
        " did not exist.",
    ),
    405: Kind(
        "method-not-allowed", "The path does not take this method; the Allow header lists those it does."
    ),
    409: Kind(
        "conflict",
        "The request conflicts with the current state: an account email that exists already, approving a run"
        " that is not held, or searching groups before a directory is connected. The detail says which.",
    ),
    412: Kind(
        "stale-version",
        "If-Match names a version that is no longer current: another save came first. Read the configuration"
        " again (its ETag), apply the change to it, and save.",
    ),
    413: Kind("body-too-large", "The request body is larger than 1 MiB."),
    422: Kind(
        "invalid-values",
        "The request is well-formed but holds invalid values; errors lists each one, with where it is (loc)"
        " and what is wrong with it (msg).",
    ),
    500: Kind(
        "internal-error",
        "An error CardSync did not foresee; it has been logged. Try again; if it persists, report the time of"
        " the request to the operator.",
    ),
    502: Kind(
        "directory-error",
        "Microsoft Graph answered a request for the team's directory with an error; the detail says which. "
        "Check"
        " the directory connection and its permissions, or try again later.",
    ),
    503: Kind(
        "unavailable",
        "Something CardSync needs did not answer (the identity platform) or is not set up (a setting); the"
        " detail says which. Try again later, or ask the operator.",
    ),
}
_BY_NAME = {kind.name: (status, kind.meaning) for status, kind in KINDS.items()}


def problem_type(status: int) -> str:
    kind = KINDS.get(status)
    return f"{PROBLEMS_PATH}/{kind.name}" if kind else "about:blank"


def kind_named(name: str) -> tuple[int, str] | None:
    """(status, meaning) of the kind with this name, if there is one."""
    return _BY_NAME.get(name)
