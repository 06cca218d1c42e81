"""The Grafana dashboard and the Prometheus alert rules name only metrics that CardSync's /metrics exports
(the API's and a worker's, scraped in-process), with labels those metrics have; every expression parses as
PromQL."""

from __future__ import annotations

import json
import re
from pathlib import Path

import promql_parser
import pytest
import yaml
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

import services.fetcher.bootstrap
import services.notifier.bootstrap
import services.reconciler.bootstrap
import services.scheduler.bootstrap  # noqa: F401 - each service's modules register the metrics it exports
from services.scheduler.api import create_app
from services.scheduler.stats import refresh
from shared.health import health_routes, readiness
from shared.runtime import Infra

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = ROOT / "deploy/grafana/cardsync.json"
ALERTS = ROOT / "deploy/prometheus/alerts.yml"
SUFFIXES = {"counter": ("_total", "_created"), "histogram": ("_bucket", "_sum", "_count", "_created")}
GRAFANA_INTERVALS = {"$__rate_interval": "5m", "$__interval": "1m", "$__range": "1d"}


@pytest.fixture
async def exported(pool, bus, settings) -> dict[str, set[str]]:
    """Every metric name /metrics shows, on the API port and on a worker's health port, with its labels."""
    await refresh(pool, bus)  # the scheduler's gauges, read from the database and the broker
    worker = web.Application()
    worker.add_routes(health_routes(readiness(Infra(settings, pool, bus))))
    token = settings.operator_token.get_secret_value()
    texts = []
    for app, headers in ((create_app(pool, settings), {"Authorization": f"Bearer {token}"}), (worker, {})):
        async with TestClient(TestServer(app)) as client:
            resp = await client.get("/metrics", headers=headers)
            assert resp.status == 200
            texts.append(await resp.text())
    names: dict[str, set[str]] = {}
    for family in (f for text in texts for f in text_string_to_metric_families(text)):
        labels = set(getattr(REGISTRY._names_to_collectors.get(family.name), "_labelnames", ()))
        for name in (family.name, *(family.name + s for s in SUFFIXES.get(family.type, ()))):
            names[name] = labels | ({"le"} if name.endswith("_bucket") else set())
        for sample in family.samples:
            names.setdefault(sample.name, set()).update(sample.labels)
    assert "cardsync_team_last_success_timestamp_seconds" in names and "cardsync_api_requests_total" in names
    return names


def selectors(expr: str) -> list[tuple[str, set[str]]]:
    """Each metric an expression reads, with the labels it matches on."""
    return [(name, labels) for name, labels, _ in aggregated_selectors(expr)]


def aggregated_selectors(expr: str) -> list[tuple[str, set[str], str | None]]:
    """Each metric an expression reads, with the labels it matches on and the aggregation nearest above it."""
    found: list[tuple[str, set[str], str | None]] = []

    def walk(node: object, aggregation: str | None) -> None:
        if isinstance(node, promql_parser.VectorSelector):
            found.append((node.name, {m.name for m in node.matchers.matchers}, aggregation))
            return
        if isinstance(node, promql_parser.AggregateExpr):
            aggregation = str(node.op)
        for attr in ("lhs", "rhs", "expr", "param", "vector_selector"):
            child = getattr(node, attr, None)
            if child is not None:
                walk(child, aggregation)
        for arg in getattr(node, "args", None) or ():
            walk(arg, aggregation)

    walk(promql_parser.parse(expr), None)
    return found


def check_names(expr: str, exported: dict[str, set[str]]) -> set[str]:
    used = set()
    for name, labels in selectors(expr):
        known = exported.get(name)
        assert known is not None, f"{name} is not exported by /metrics (in {expr!r})"
        assert labels <= known, f"{name} has no label {labels - known} (in {expr!r})"
        used.add(name)
    assert used, expr
    return used


def test_selectors_are_found_everywhere_in_an_expression():
    found = selectors(
        'sum by (a) (rate(x_total{k="v"}[5m])) / clamp_min(max(y offset 1h), 1) or -min_over_time(z[1h:1m])'
    )
    assert sorted(found, key=lambda f: f[0]) == [("x_total", {"k"}), ("y", set()), ("z", set())]
    nearest = aggregated_selectors("max(sum by (q) (g) or g2) - time() + g3")
    assert nearest == [("g", set(), "sum"), ("g2", set(), "max"), ("g3", set(), None)]


def test_the_scheduler_replicas_gauges_are_never_added_up():
    """Every scheduler replica reads the same gauges from the database and the broker: a sum would count each
    value once per replica, so every expression takes their max (or min)."""
    expressions = [expr for _, expr in dashboard_targets()] + [rule["expr"] for rule in alert_rules()]
    gauges = 0
    for expr in expressions:
        for name, _, aggregation in aggregated_selectors(expr):
            collector = REGISTRY._names_to_collectors.get(name)
            if getattr(collector, "_type", None) == "gauge":
                gauges += 1
                assert aggregation in ("max", "min"), f"{name} is aggregated by {aggregation} in {expr!r}"
    assert gauges >= 8


def dashboard_targets() -> list[tuple[str, str]]:
    board = json.loads(DASHBOARD.read_text())
    assert board["uid"] == "cardsync" and board["title"] and isinstance(board["schemaVersion"], int)
    [source] = [v for v in board["templating"]["list"] if v["type"] == "datasource"]
    ids = [p["id"] for p in board["panels"]]
    assert len(ids) == len(set(ids))
    targets = []
    for panel in board["panels"]:
        if panel["type"] == "row":
            continue
        assert panel["datasource"]["uid"] == f"${{{source['name']}}}" and panel["description"], panel["title"]
        assert (
            set(panel["gridPos"]) == {"h", "w", "x", "y"}
            and panel["gridPos"]["x"] + panel["gridPos"]["w"] <= 24
        )
        for target in panel["targets"]:
            expr = target["expr"]
            for variable, value in GRAFANA_INTERVALS.items():
                expr = expr.replace(variable, value)
            assert "$" not in expr, f"an unknown dashboard variable in {target['expr']!r}"
            targets.append((panel["title"], expr))
    return targets


async def test_the_dashboard_names_only_exported_metrics(exported):
    used = set()
    for _title, expr in dashboard_targets():
        used |= check_names(expr, exported)
    # runs by status, run duration, members applied, Graph requests and throttling, queue depths, emails, dead
    # letters, teams' last success, the API's answers and their duration
    assert {
        "cardsync_runs",
        "cardsync_run_duration_seconds_bucket",
        "cardsync_members_applied_total",
        "cardsync_graph_requests_total",
        "cardsync_graph_throttled_total",
        "cardsync_queue_messages",
        "cardsync_emails_total",
        "cardsync_dead_letter_messages",
        "cardsync_team_last_success_timestamp_seconds",
        "cardsync_api_requests_total",
        "cardsync_api_request_duration_seconds_bucket",
    } <= used


def alert_rules() -> list[dict]:
    document = yaml.safe_load(ALERTS.read_text())
    assert set(document) == {"groups"}
    rules = []
    for group in document["groups"]:
        assert set(group) <= {"name", "interval", "rules"} and group["name"] and group["rules"]
        rules += group["rules"]
    return rules


async def test_each_alert_rule_is_well_formed_and_names_only_exported_metrics(exported):
    rules = alert_rules()
    names = [r["alert"] for r in rules]
    assert len(names) == len(set(names))
    for rule in rules:
        assert set(rule) <= {"alert", "expr", "for", "labels", "annotations", "keep_firing_for"}, rule[
            "alert"
        ]
        assert re.fullmatch(r"CardSync[A-Z][A-Za-z]+", rule["alert"])
        check_names(rule["expr"], exported)
        if "for" in rule:
            assert promql_parser.parse_duration(rule["for"]).total_seconds() > 0
        assert rule["labels"]["severity"] in ("warning", "critical")
        assert set(rule["annotations"]) == {"summary", "description"}
        for label in re.findall(r"\$labels\.(\w+)", " ".join(rule["annotations"].values())):
            assert re.search(rf"\bby \([^)]*\b{label}\b", rule["expr"]), f"{rule['alert']} drops {label}"
    required = {"TeamNotSynced", "DeadLetters", "RunStuck", "SmtpFailing"}
    assert {f"CardSync{n}" for n in required} <= set(names)


def test_a_misspelt_metric_or_label_is_caught():
    exported = {"cardsync_runs": {"status"}}
    check_names('max(cardsync_runs{status="failed"})', exported)
    with pytest.raises(AssertionError, match="not exported"):
        check_names("max(cardsync_run)", exported)
    with pytest.raises(AssertionError, match="no label"):
        check_names('max(cardsync_runs{state="failed"})', exported)
