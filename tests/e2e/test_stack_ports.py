"""The end-to-end stack survives a port taken between the moment it is picked and the moment a service binds
it."""

from __future__ import annotations

import socket

from tests.fixtures import e2e
from tests.fixtures.infra import delete_topology


def _hold(port: int) -> socket.socket:
    holder = socket.socket()
    holder.bind(("127.0.0.1", port))
    holder.listen()
    return holder


async def test_the_scheduler_moves_to_another_port_and_the_others_follow(stack_env, tmp_path):
    taken = int(stack_env["CARDSYNC_API_PORT"])
    stack = e2e.Stack(env=dict(stack_env), log_dir=tmp_path)
    with _hold(taken):
        try:
            stack.start("scheduler")
            stack.start("notifier")
            await stack.wait_healthy(timeout=60)
            moved = int(stack.env["CARDSYNC_API_PORT"])
            assert stack.port_retries == 1 and moved != taken
            assert stack.api == f"http://127.0.0.1:{moved}/api/v1"
            assert stack.env["CARDSYNC_PUBLIC_URL"] == f"http://127.0.0.1:{moved}"
            assert "address already in use" in stack.logs().lower()
        finally:
            stack.stop()
            await delete_topology(stack_env["CARDSYNC_AMQP_PREFIX"])


async def test_a_worker_whose_health_port_was_taken_starts_again(stack_env, tmp_path, monkeypatch):
    holder = _hold(0)
    ports = iter([holder.getsockname()[1]])
    real = e2e.free_port
    monkeypatch.setattr(e2e, "free_port", lambda: next(ports, None) or real())
    stack = e2e.Stack(env=dict(stack_env), log_dir=tmp_path)
    with holder:
        try:
            stack.start("reconciler")
            await stack.wait_healthy(timeout=60)
            assert stack.port_retries == 1
        finally:
            stack.stop()
            await delete_topology(stack_env["CARDSYNC_AMQP_PREFIX"])
