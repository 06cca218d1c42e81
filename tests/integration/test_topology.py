"""The queues of shared/topology.py on the real RabbitMQ: the fetcher's photo steps have a queue of their own,
consumed beside its reads, and a queue an earlier layout bound to their type gives it up without losing what
it holds."""

from __future__ import annotations

import asyncio

from shared.messages import PhotosStored, RunApplied, SyncRequested
from shared.runtime import Infra
from shared.worker import Worker


async def test_photo_steps_do_not_wait_behind_reads_and_none_is_lost_or_doubled(settings, pool, bus):
    # The layout before: every type of the fetcher on its one queue, with a photo step already waiting there.
    await bus.declare("fetcher", [SyncRequested, RunApplied, PhotosStored])
    await bus.publish(RunApplied(team_id="t", run_id="before", photos=True))
    release, reads, photos = asyncio.Event(), [], []

    async def read(message: SyncRequested) -> None:
        reads.append(message.run_id)
        await release.wait()  # a long read holds its prefetch slot

    async def photo_step(message: RunApplied | PhotosStored) -> None:
        photos.append(message.run_id)

    handlers = {SyncRequested: read, RunApplied: photo_step, PhotosStored: photo_step}
    worker = Worker("fetcher", Infra(settings, pool, bus), handlers, standalone=False)
    try:
        await bus.publish(*(SyncRequested(team_id="t", run_id=f"read-{i}") for i in range(3 * bus.prefetch)))
        await worker.start()
        assert bus.consumers == ["fetcher", "fetcher.photos"]
        await bus.publish(
            RunApplied(team_id="t", run_id="after", photos=True),
            PhotosStored(team_id="t", run_id="stored", etags={}),
        )
        async with asyncio.timeout(10):
            while sorted(photos) != ["after", "before", "stored"]:
                await asyncio.sleep(0.02)
        # Every read slot is still held, and the queue of reads still holds the rest.
        assert len(reads) == bus.prefetch and await bus.queue_depth("fetcher") == 2 * bus.prefetch
        release.set()
        async with asyncio.timeout(10):
            while len(reads) < 3 * bus.prefetch:
                await asyncio.sleep(0.02)
        await asyncio.sleep(0.2)
        assert sorted(photos) == ["after", "before", "stored"]  # routed to one queue each
        assert await bus.queue_depth("fetcher.photos") == 0
    finally:
        release.set()
        await bus.stop_consuming()
        await bus.drain(5)
