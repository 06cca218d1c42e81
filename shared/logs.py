"""Structured logs: one JSON line per event, with the service and, where known, the team and the run."""

from __future__ import annotations

import contextvars
import logging
import re
import sys
from datetime import UTC, datetime

import orjson

team_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("team_id", default=None)
run_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("run_id", default=None)

# What never reaches a log line, whoever logged it and however: each pattern and what it becomes, in order.
# A pattern that begins with a run of characters starts only where such a run starts (the look-behinds): a
# long line without a match then costs one pass, not one per character.
_REDACTIONS: tuple[tuple[re.Pattern[str], str], ...] = (
    # Bearer tokens, and secrets named in query strings, headers or reprs.
    (re.compile(r"(?i)\b(bearer\s+)[A-Za-z0-9\-._~+/]+=*"), r"\1***"),
    (
        re.compile(r"(?i)(client_secret|access_token|password|token)([\"']?\s*[=:]\s*[\"']?)[^\s\"'&,}]+"),
        r"\1\2***",
    ),
    (re.compile(r"\beyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*"), "***"),  # a JWT
    # The user and password in a URL (amqp://user:pass@host, postgresql://user@host).
    (re.compile(r"(?i)(?<![a-z0-9+.\-])([a-z][a-z0-9+.\-]*://)[^/\s@\"'<>]+@"), r"\1***@"),
    # The claim token of an invite link; /invites/send is a route, and {token} its template.
    (re.compile(r"(/invites/)(?!send\b|\{)[^/\s?#\"'<>]+"), r"\1***"),
    # Email addresses, a guest's login (jane_fabrikam.com#EXT#@contoso.onmicrosoft.com) among them: the domain
    # stays. Quotes and braces around an address stay, so the local part is taken without them.
    (re.compile(r"(?<![\w.!#$%&*+^~\-])[\w.!#$%&*+^~\-]+@((?:[A-Za-z0-9\-]+\.)+[A-Za-z]{2,})\b"), r"***@\1"),
)


def redact(text: str) -> str:
    for pattern, replacement in _REDACTIONS:
        text = pattern.sub(replacement, text)
    return text


class Redacting(logging.Filter):
    """Rewrites a record's message, traceback and stack in place, so every handler after it sees them
    redacted."""

    _plain = logging.Formatter()

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg, record.args = redact(record.getMessage()), None
        if record.exc_info and not record.exc_text:
            record.exc_text = self._plain.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True


class JsonFormatter(logging.Formatter):
    def __init__(self, service: str):
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "service": getattr(record, "service", self.service),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        team_id, run_id = team_id_var.get(), run_id_var.get()
        if team_id:
            entry["team_id"] = team_id
        if run_id:
            entry["run_id"] = run_id
        if record.exc_info or record.exc_text:
            entry["exc"] = record.exc_text or self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack"] = record.stack_info
        return orjson.dumps(entry).decode()


def setup(service: str, level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter(service))
    root = logging.getLogger()
    handler.addFilter(Redacting())  # on the handler, not a logger: it then sees the records of every logger
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for noisy in ("aio_pika", "aiormq", "msal", "urllib3", "aiohttp.access", "mail.log"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def bind(team_id: str | None, run_id: str | None) -> None:
    """Tag the current task's log lines with a team and a run."""
    team_id_var.set(team_id)
    run_id_var.set(run_id)
