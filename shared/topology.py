"""The bus's queues: which service consumes each, and which of the service's message types each is bound to.

Every queue ``<prefix>.<queue>`` has a retry queue (``.retry``) and a dead-letter queue (``.dead``) of its
own. A service's first queue takes every type of its handler map that none of its other queues names;
each queue is consumed on a channel of its own, with its own prefetch, so that one kind of work never
waits behind another. The dead-letters command, the queue gauges, the autoscaler's triggers and the
cleanup of tests and benches all take their queue names from here.
"""

from __future__ import annotations

from collections.abc import Iterable

from shared.messages import Message, PhotosStored, RunApplied

# The fetcher's photo step (a run's RunApplied, and the etags PhotosStored records) has a queue of its own:
# with many teams syncing at once, a team's photos would otherwise wait behind every other team's read
# (SyncRequested), and every team would end together, at the end.
QUEUES: dict[str, dict[str, tuple[type[Message], ...]]] = {
    "fetcher": {"fetcher": (), "fetcher.photos": (RunApplied, PhotosStored)},
    "reconciler": {"reconciler": ()},
    "notifier": {"notifier": ()},
}
# Every queue a service consumes, each with its retry and dead-letter queues.
CONSUMERS: tuple[str, ...] = tuple(queue for queues in QUEUES.values() for queue in queues)


def queues_of(service: str, types: Iterable[type[Message]]) -> dict[str, list[type[Message]]]:
    """The service's queues, each with the types of ``types`` (its handler map) bound to it."""
    types = list(types)
    named = QUEUES.get(service, {service: ()})
    elsewhere = {t for kinds in named.values() for t in kinds}
    return {
        queue: [t for t in types if t not in elsewhere] if i == 0 else [t for t in types if t in kinds]
        for i, (queue, kinds) in enumerate(named.items())
    }
