"""Composition root of the notifier: one reused SMTP transport and the handlers of its queue."""

from __future__ import annotations

from services.notifier.handlers import Notifier
from services.notifier.smtp import SmtpTransport
from shared.messages import (
    AdminDigestRequested,
    CredentialExpiring,
    InviteRequested,
    InvitesRequested,
    PendingInvitesRequested,
    RunNoticeRequested,
    WebhookEvent,
)
from shared.runtime import Infra
from shared.worker import Handlers, Worker


def handler_map(notifier: Notifier) -> Handlers:
    """The notifier's HANDLERS: the consumer and the tests deliver through this map alone."""
    return {
        InviteRequested: notifier.on_invite_requested,
        InvitesRequested: notifier.on_invites_requested,
        AdminDigestRequested: notifier.on_digest_requested,
        PendingInvitesRequested: notifier.on_pending_invites_requested,
        CredentialExpiring: notifier.on_credential_expiring,
        WebhookEvent: notifier.on_webhook_event,
        RunNoticeRequested: notifier.on_run_notice_requested,
    }


class NotifierService(Worker):
    def __init__(self, infra: Infra, standalone: bool):
        self.transport = SmtpTransport(infra.settings, connections=4)
        self.notifier = Notifier(infra.pool, infra.settings, self.transport)
        super().__init__(
            "notifier",
            infra,
            handler_map(self.notifier),
            standalone,
            background=[("webhooks", self.notifier.webhooks.run)],
        )

    async def stop(self) -> None:
        await super().stop()
        await self.transport.close()


def bootstrap(infra: Infra, standalone: bool = True) -> NotifierService:
    return NotifierService(infra, standalone)
