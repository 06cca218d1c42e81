"""Near-real-time sync under a steady churn: how long from a directory change to the card, at full size.

    python -m bench.e2e --realtime [--users 100000] [--realtime-changes 120] [--realtime-rate 1]

After the end-to-end bench's first sync, the services start again with the simulated Graph's notifications
reaching the API (``CARDSYNC_NOTIFICATION_URL``), the team turns ``realtime`` on and waits for its
subscriptions. Then, at ``--realtime-rate`` changes a second, one user at a time leaves the one synced group
it is in, and so the team: the simulated Graph notifies the scheduler's ``/api/v1/graph/notifications``,
which queues delta runs. The latency of a change is from the moment the bench made it in the tenant to the
moment its member is seen ``removed`` in the database (polled every 50 ms), so it holds Graph's delivery of
the notification, the notification window, the wait for a run under way and the delta run itself.

It prints one table line with the latencies' p50, p95 and maximum (the wall time is the whole churn, until
the last member was removed), and how the notification runs went: how many, how long they waited to start,
and how long from queued to succeeded.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import statistics
import time
from collections.abc import Awaitable, Callable
from typing import Any

from bench._common import until

TARGET_P95 = 30.0  # seconds
POLL = 0.05
STATUS_WAIT = 120.0  # for the subscriptions to be made
DRAIN = 300.0  # after the last change, for the last removal


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--realtime",
        action="store_true",
        help="after the first sync: notification → member removed, under a steady churn (bench/realtime.py)",
    )
    parser.add_argument("--realtime-changes", type=int, default=120, help="users removed, one at a time")
    parser.add_argument("--realtime-rate", type=float, default=1.0, help="changes a second")


def percentile(values: list[float], share: float) -> float:
    """The nearest-rank percentile: the smallest value at least ``share`` of the values are not above."""
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered), math.ceil(len(ordered) * share)) - 1)]


async def _api(b: Any, method: str, path: str, **kwargs: Any) -> tuple[Any, Any]:
    async with b.api.request(method, f"{b.stack.api}/{path}", **kwargs) as resp:
        body = await resp.json(content_type=None)
        if resp.status >= 300:
            raise RuntimeError(f"{method} {path} answered {resp.status}: {body}")
        return body, resp.headers


async def _turn_on(b: Any, team: str) -> None:
    """Restart the services so that notifications reach the API, then turn the team's realtime on and wait
    for its subscriptions."""
    b.stack.stop()
    b.stack.env["CARDSYNC_NOTIFICATION_URL"] = b.stack.env["CARDSYNC_PUBLIC_URL"]
    b.stack.start({})
    await b.stack.wait_healthy()
    await b.sim.call("grant", "Group.Read.All")
    config, headers = await _api(b, "GET", f"teams/{team}/sync/config")
    config.pop("next_run_at", None)
    config.pop("realtime_status", None)
    config["realtime"] = True
    await _api(b, "PUT", f"teams/{team}/sync/config", json=config, headers={"If-Match": headers["ETag"]})

    async def state() -> dict[str, Any]:
        b.stack.check_alive()
        return (await _api(b, "GET", f"teams/{team}/sync/config"))[0]["realtime_status"]

    status = await asyncio.wait_for(until(state, lambda s: s["state"] != "pending", every=0.5), STATUS_WAIT)
    if status["state"] != "on":
        raise RuntimeError(f"realtime did not turn on: {status}")


async def _watch(b: Any, team: str, made: dict[str, float], removed: dict[str, float]) -> None:
    """Until cancelled: when each changed user's member is first seen removed."""
    while True:
        waiting = [u for u in made if u not in removed]
        if waiting:
            rows = await b.pool.fetch(
                "SELECT directory_id FROM members WHERE team_id = $1 AND directory_id = ANY($2::text[])"
                " AND status = 'removed'",
                team,
                waiting,
            )
            now = time.perf_counter()
            removed.update((r["directory_id"], now) for r in rows)
        await asyncio.sleep(POLL)


async def _runs(b: Any, team: str, since: float) -> list[dict[str, Any]]:
    return [
        dict(r)
        for r in await b.pool.fetch(
            "SELECT status, counts, extract(epoch FROM started_at - created_at) AS waited,"
            " extract(epoch FROM finished_at - created_at) AS took"
            " FROM sync_runs WHERE team_id = $1 AND trigger = 'notification'"
            " AND created_at >= to_timestamp($2) ORDER BY created_at",
            team,
            since,
        )
    ]


async def measure(
    b: Any,
    team: str,
    begin: Callable[[Any], Awaitable[Any]],
    finish: Callable[..., Awaitable[Any]],
) -> None:
    """The realtime row of ``bench.e2e`` for ``team``, synced: ``begin`` and ``finish`` are the bench's own,
    which measure the requests, writes and CPU of the whole churn."""
    print("(f) realtime: turning it on", flush=True)
    await _turn_on(b, team)
    count, rate = b.args.realtime_changes, b.args.realtime_rate
    leavers = await b.sim.call("sole_group_members", count)
    if len(leavers) < count:
        b.problems.append(f"(f) realtime: only {len(leavers)} users are in one group alone")
    made: dict[str, float] = {}
    removed: dict[str, float] = {}
    print(f"(f) realtime: {len(leavers)} leavers, {rate:g} a second", flush=True)
    wall_start = time.time()
    start = await begin(b)
    watcher = asyncio.ensure_future(_watch(b, team, made, removed))
    try:
        for n, (group, user) in enumerate(leavers):
            await asyncio.sleep(max(0.0, start.at + n / rate - time.perf_counter()))
            made[user] = time.perf_counter()
            await b.sim.call("remove_member", group, user)

        async def seen() -> int:
            return len(removed)

        try:
            await asyncio.wait_for(until(seen, lambda n: n >= len(made)), DRAIN)
        except TimeoutError:
            late = len(made) - len(removed)
            b.problems.append(f"(f) realtime: {late} members not removed {DRAIN:.0f} s after the last change")
    finally:
        watcher.cancel()
    latencies = [removed[u] - made[u] for u in made if u in removed]
    if not latencies:
        b.problems.append("(f) realtime: no member was removed")
        return
    p50, p95 = percentile(latencies, 0.5), percentile(latencies, 0.95)
    label = (
        f"(f) realtime, {len(made)} leavers at {rate:g}/s → member removed:"
        f" p50 {p50:.1f} s, p95 {p95:.1f} s, max {max(latencies):.1f} s"
    )
    await finish(b, label, start, len(made))
    if p95 > TARGET_P95:
        b.problems.append(f"(f) realtime: p95 {p95:.1f} s, above the {TARGET_P95:.0f} s target")
    runs = await _runs(b, team, wall_start - 5)
    failed = [r for r in runs if r["status"] not in ("succeeded",)]
    if failed:
        b.problems.append(f"(f) realtime: {len(failed)} notification runs did not succeed: {failed[:3]}")
    removed_counted = sum(r["counts"]["removed"] + r["counts"]["deleted"] for r in runs if r["counts"])
    if removed_counted != len(made):
        b.problems.append(f"(f) realtime: the runs counted {removed_counted} removals of {len(made)}")
    waited = [float(r["waited"]) for r in runs if r["waited"] is not None]
    took = [float(r["took"]) for r in runs if r["took"] is not None]
    if runs and took:
        print(
            f"  (f) {len(runs)} notification runs: queued → started median {statistics.median(waited):.1f} s,"
            f" queued → succeeded median {statistics.median(took):.1f} s, longest {max(took):.1f} s",
            flush=True,
        )
