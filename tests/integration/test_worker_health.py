"""A worker's own health listener: /healthz and /metrics on its health port, apart from the public API."""

from __future__ import annotations

import aiohttp

from shared.runtime import Infra
from shared.worker import Worker
from tests.fixtures.e2e import free_port


async def test_a_worker_serves_its_metrics_on_its_own_private_port(settings, pool, bus):
    assert settings.api_host == "127.0.0.1"  # the listener's host: loopback unless the operator opens it
    port = free_port()
    worker = Worker(
        "reconciler", Infra(settings.model_copy(update={"health_port": port}), pool, bus), {}, True
    )
    await worker.start()
    try:
        async with aiohttp.ClientSession(f"http://{settings.api_host}:{port}") as http:
            async with http.get("/metrics") as resp:  # a private port: no token asked
                assert resp.status == 200 and "cardsync_messages_total" in await resp.text()
            async with http.get("/healthz") as resp:
                assert resp.status == 200 and await resp.json() == {"status": "ok"}
            async with http.get("/api/v1/openapi.json") as resp:
                assert resp.status == 404
    finally:
        await worker.stop()
