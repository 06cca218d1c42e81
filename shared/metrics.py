"""Prometheus metrics shared by the services (default registry, served on /metrics).

The gauges are read from the database and the broker by every scheduler replica, which all report the same
value: a query takes their ``max``, never their ``sum``. Counters and histograms count what each process did:
a query sums them."""

from __future__ import annotations

from collections.abc import Mapping

import asyncpg
from prometheus_client import Counter, Gauge, Histogram

RUNS = Gauge("cardsync_runs", "Sync runs in the database, by status", ["status"])
MESSAGES = Counter(
    "cardsync_messages_total", "Messages handled, by consumer and outcome", ["consumer", "outcome"]
)
GRAPH_REQUESTS = Counter("cardsync_graph_requests_total", "Requests sent to Microsoft Graph")
GRAPH_THROTTLED = Counter("cardsync_graph_throttled_total", "Graph answers of 429 or 503")
EMAILS = Counter("cardsync_emails_total", "Emails, by kind and outcome", ["kind", "outcome"])
WEBHOOK_ATTEMPTS = Counter(
    "cardsync_webhook_attempts_total",
    "Webhook delivery attempts, by outcome (delivered, retried, failed: given up after 24 hours)",
    ["outcome"],
)
OUTBOX_LAG = Gauge("cardsync_outbox_pending", "Outbox messages not yet published")
QUEUE_DEPTH = Gauge("cardsync_queue_messages", "Messages waiting in a service's queue", ["queue"])
DEAD_LETTERS = Gauge(
    "cardsync_dead_letter_messages", "Messages in a service's dead-letter queue, given up on", ["queue"]
)
TEAM_LAST_SUCCESS = Gauge(
    "cardsync_team_last_success_timestamp_seconds",
    "When each scheduled team's last run succeeded (until one has, when its configuration last changed)",
    ["team", "cadence"],
)
RUN_DURATION = Histogram(
    "cardsync_run_duration_seconds",
    "Runs that ended, by how: from their start (their queueing, for one never started) to their end",
    ["status"],
    buckets=(5, 15, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200, 14400),
)
MEMBERS_APPLIED = Counter(
    "cardsync_members_applied_total", "Members that runs created, updated, removed or deleted", ["action"]
)
APPLIED = ("created", "updated", "removed", "deleted")

# The run the caller's transaction ended: a statement that ends a run sets finished_at = now(), the start of
# that transaction, so a run that had ended before (a redelivered message) is not counted twice.
_ENDED = """
SELECT status, dry_run, counts,
       extract(epoch FROM finished_at - coalesce(started_at, created_at))::float8 AS seconds
  FROM sync_runs WHERE id = $1 AND finished_at = now()
"""


def members_applied(counts: Mapping[str, int]) -> None:
    for action in APPLIED:
        MEMBERS_APPLIED.labels(action).inc(counts.get(action, 0))


async def run_ended(conn: asyncpg.Connection, run_id: object, members: bool = True) -> None:
    """Count a run the caller's transaction has just ended: its duration and, unless it was dry or failed (or,
    ``members`` false, they were counted at its apply), the members it applied. Call it right after the
    statement that ends the run, in the same transaction."""
    row = await conn.fetchrow(_ENDED, run_id)
    if row is None:
        return
    RUN_DURATION.labels(row["status"]).observe(row["seconds"])
    if members and row["status"] in ("succeeded", "held") and not row["dry_run"]:
        members_applied(row["counts"] or {})
