"""Composition root of the fetcher: one Graph client (one HTTP session, one msal app per tenant) per
process."""

from __future__ import annotations

from services.fetcher.fetcher import Fetcher
from shared.graph.client import GraphClient
from shared.messages import PhotosStored, RunApplied, SyncRequested
from shared.runtime import Infra
from shared.worker import Handlers, Worker


def handler_map(fetcher: Fetcher) -> Handlers:
    """The fetcher's HANDLERS: the consumer and the tests deliver through this map alone."""
    return {
        SyncRequested: fetcher.on_sync_requested,
        RunApplied: fetcher.on_run_applied,
        PhotosStored: fetcher.on_photos_stored,
    }


class FetcherService(Worker):
    def __init__(self, infra: Infra, standalone: bool):
        self.graph = GraphClient.from_settings(infra.settings)
        self.fetcher = Fetcher(infra.pool, infra.settings, self.graph, infra.bus.publish)
        super().__init__("fetcher", infra, handler_map(self.fetcher), standalone)

    async def stop(self) -> None:
        await super().stop()
        await self.graph.close()


def bootstrap(infra: Infra, standalone: bool = True) -> FetcherService:
    return FetcherService(infra, standalone)
