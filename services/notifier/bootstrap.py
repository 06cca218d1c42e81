"""Composition root of the notifier: one reused SMTP transport and the handlers of its queue."""

from __future__ import annotations

from services.notifier.handlers import Notifier
from services.notifier.smtp import SmtpTransport
from shared.messages import AdminDigestRequested, InviteRequested, PendingInvitesRequested
from shared.runtime import Infra
from shared.worker import Worker


class NotifierService(Worker):
    def __init__(self, infra: Infra, standalone: bool):
        self.transport = SmtpTransport(infra.settings, connections=4)
        self.notifier = Notifier(infra.pool, infra.settings, self.transport)
        routes = {
            InviteRequested: self.notifier.on_invite_requested,
            AdminDigestRequested: self.notifier.on_digest_requested,
            PendingInvitesRequested: self.notifier.on_pending_invites_requested,
        }
        super().__init__("notifier", infra, routes, standalone)

    async def stop(self) -> None:
        await super().stop()
        await self.transport.close()


def bootstrap(infra: Infra, standalone: bool = True) -> NotifierService:
    return NotifierService(infra, standalone)
