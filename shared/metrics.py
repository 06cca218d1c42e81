"""Prometheus metrics shared by the services (default registry, served on /metrics)."""

from prometheus_client import Counter, Gauge

RUNS = Gauge("cardsync_runs", "Sync runs in the database, by status", ["status"])
MESSAGES = Counter(
    "cardsync_messages_total", "Messages handled, by consumer and outcome", ["consumer", "outcome"]
)
GRAPH_REQUESTS = Counter("cardsync_graph_requests_total", "Requests sent to Microsoft Graph")
GRAPH_THROTTLED = Counter("cardsync_graph_throttled_total", "Graph answers of 429 or 503")
EMAILS = Counter("cardsync_emails_total", "Emails, by kind and outcome", ["kind", "outcome"])
OUTBOX_LAG = Gauge("cardsync_outbox_pending", "Outbox messages not yet published")
QUEUE_DEPTH = Gauge("cardsync_queue_messages", "Messages waiting in a service's queue", ["queue"])
TEAM_LAST_SUCCESS = Gauge(
    "cardsync_team_last_success_timestamp_seconds",
    "When each scheduled team's last run succeeded (until one has, when its configuration last changed)",
    ["team", "cadence"],
)
