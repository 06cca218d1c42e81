"""Structured logs: one JSON line per event, with the service and, where known, the team and the run."""

from __future__ import annotations

import contextvars
import logging
import re
import sys
from datetime import datetime, timezone

import orjson

team_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("team_id", default=None)
run_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("run_id", default=None)

# Bearer tokens, JWT-like strings and secrets in query strings never reach a log line.
_SECRETS = re.compile(
    r"(?i)(bearer\s+)[A-Za-z0-9\-._~+/]+=*|(client_secret|access_token|password|token)([\"']?\s*[=:]\s*[\"']?)[^\s\"'&,}]+"
)


def redact(text: str) -> str:
    return _SECRETS.sub(lambda m: (m.group(1) or "") + "***" if m.group(1) else f"{m.group(2)}{m.group(3)}***", text)


class JsonFormatter(logging.Formatter):
    def __init__(self, service: str):
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "service": getattr(record, "service", self.service),
            "logger": record.name,
            "msg": redact(record.getMessage()),
        }
        team_id, run_id = team_id_var.get(), run_id_var.get()
        if team_id:
            entry["team_id"] = team_id
        if run_id:
            entry["run_id"] = run_id
        if record.exc_info:
            entry["exc"] = redact(self.formatException(record.exc_info))
        return orjson.dumps(entry).decode()


def setup(service: str, level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter(service))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for noisy in ("aio_pika", "aiormq", "msal", "urllib3", "aiohttp.access", "mail.log"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def bind(team_id: str | None, run_id: str | None) -> None:
    """Tag the current task's log lines with a team and a run."""
    team_id_var.set(team_id)
    run_id_var.set(run_id)
