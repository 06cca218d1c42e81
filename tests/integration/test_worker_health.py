"""A worker's own health listener: /livez, /readyz (and /healthz) and /metrics on its health port, apart from
the public API; readiness covers its database, broker, consumers and background loops."""

from __future__ import annotations

import asyncio

import aio_pika
import aiohttp

from shared.messages import InviteRequested
from shared.runtime import Infra
from shared.worker import Worker
from tests.fixtures.e2e import free_port


async def noop(_message) -> None:
    return None


async def test_a_worker_serves_its_metrics_on_its_own_private_port(settings, pool, bus):
    assert settings.api_host == "127.0.0.1"  # the listener's host: loopback unless the operator opens it
    port = free_port()
    worker = Worker(
        "notifier",
        Infra(settings.model_copy(update={"health_port": port}), pool, bus),
        {InviteRequested: noop},
        True,
    )
    await worker.start()
    try:
        async with aiohttp.ClientSession(f"http://{settings.api_host}:{port}") as http:
            async with http.get("/metrics") as resp:  # a private port: no token asked
                assert resp.status == 200 and "cardsync_messages_total" in await resp.text()
            for path in ("/healthz", "/readyz"):
                async with http.get(path) as resp:
                    assert resp.status == 200 and await resp.json() == {
                        "status": "ok",
                        "checks": {"database": "ok", "broker": "ok", "consumer notifier": "ok"},
                    }
            async with http.get("/livez") as resp:
                assert resp.status == 200
            async with http.get("/api/v1/openapi.json") as resp:
                assert resp.status == 404
    finally:
        await worker.stop()


async def test_readiness_fails_while_a_crashed_background_loop_waits_to_start_again(settings, pool, bus):
    port = free_port()
    infra = Infra(settings.model_copy(update={"health_port": port}), pool, bus)
    runs = []

    async def flaky_loop() -> None:
        runs.append(1)
        if len(runs) == 1:
            raise RuntimeError("the relay's listener connection closed")
        await asyncio.Event().wait()  # the second start keeps running

    worker = Worker("notifier", infra, {InviteRequested: noop}, True, [("relay", flaky_loop)])
    await worker.start()
    try:
        async with aiohttp.ClientSession(f"http://{settings.api_host}:{port}") as http:
            async with http.get("/readyz") as resp:
                body = await resp.json()
                assert resp.status == 503 and body["status"] == "unavailable"
                assert "the relay's listener connection closed" in body["checks"]["loop notifier-relay"]
            async with http.get("/livez") as resp:
                assert resp.status == 200  # alive: the loop is started again, not the process
            for _ in range(50):
                await asyncio.sleep(0.1)
                async with http.get("/readyz") as resp:
                    if resp.status == 200:
                        break
            assert resp.status == 200 and len(runs) == 2
    finally:
        await worker.stop()
        await infra.stop_loops()


async def test_readiness_tells_of_dead_letters_and_stays_ready(settings, pool, bus):
    port = free_port()
    worker = Worker(
        "notifier",
        Infra(settings.model_copy(update={"health_port": port}), pool, bus),
        {InviteRequested: noop},
        True,
    )
    await worker.start()
    try:
        await bus.send_to_queue(
            f"{bus.queue_name('notifier')}.dead", aio_pika.Message(b"{}", message_id="m1")
        )
        async with aiohttp.ClientSession(f"http://{settings.api_host}:{port}") as http:
            for _ in range(50):  # the broker counts the message a moment after it confirmed it
                async with http.get("/readyz") as resp:
                    body = await resp.json()
                if "notices" in body:
                    break
                await asyncio.sleep(0.1)
        assert resp.status == 200 and body["status"] == "ok"
        assert body["notices"] == {
            "dead letters notifier": f"1 message in {bus.queue_name('notifier')}.dead: see them with"
            " `cardsync dead-letters list --queue notifier`, then replay or purge them"
        }
    finally:
        await worker.stop()
