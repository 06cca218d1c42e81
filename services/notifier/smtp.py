"""The SMTP transport: long-lived aiosmtplib connections reused for many emails, errors sorted by what
helps."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

import aiosmtplib

from services.notifier.mime import Outgoing
from shared.settings import Settings
from shared.tls import ssl_context

log = logging.getLogger(__name__)


class TemporaryMailError(Exception):
    """Worth trying again later: the server or the network is down, busy or said 4xx."""


class PermanentMailError(Exception):
    """The server refused this email for good (5xx on the recipient or the content): do not retry it."""


def classify(exc: BaseException) -> TemporaryMailError | PermanentMailError | None:
    """What a failed send means; None for errors that are not about mail delivery (bugs)."""
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused) and exc.recipients:
        first = exc.recipients[0]
        return classify(first)
    if isinstance(exc, aiosmtplib.SMTPNotSupported):
        return PermanentMailError(f"the mail server cannot take this address: {exc}")
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        said = f"{exc.code} {' '.join(exc.message.split())}"
        if (
            isinstance(exc, (aiosmtplib.SMTPRecipientRefused, aiosmtplib.SMTPDataError))
            and 500 <= exc.code < 600
        ):
            target = getattr(exc, "recipient", "the email")
            return PermanentMailError(f"the mail server refused {target}: {said}")
        if isinstance(exc, aiosmtplib.SMTPAuthenticationError):
            return TemporaryMailError(
                f"the mail server refused the login (check CARDSYNC_SMTP_USERNAME and"
                f" CARDSYNC_SMTP_PASSWORD): {said}"
            )
        if isinstance(exc, aiosmtplib.SMTPSenderRefused) and exc.code >= 500:
            return TemporaryMailError(
                f"the mail server refused the sender {exc.sender} (check CARDSYNC_MAIL_FROM): {said}"
            )
        return TemporaryMailError(f"the mail server answered {said}")
    if isinstance(exc, (aiosmtplib.SMTPException, OSError, TimeoutError)):
        return TemporaryMailError(f"the mail server is unreachable: {exc!r}")
    return None


# Refusals inside one mail transaction: the client has reset it and the connection stays usable.
_TRANSACTION_REFUSALS = (
    aiosmtplib.SMTPRecipientsRefused,
    aiosmtplib.SMTPRecipientRefused,
    aiosmtplib.SMTPSenderRefused,
    aiosmtplib.SMTPDataError,
)


class SmtpTransport:
    """Sends over up to ``connections`` SMTP connections, each opened once and reused until the server drops
    it.

    ``timeout`` bounds each command; ``attempt_timeout`` bounds one whole attempt (connecting, logging in and
    the mail transaction), so a stalled server cannot hold an email longer than the sent-log's lease allows.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        connections: int = 1,
        timeout: float = 30.0,
        attempt_timeout: float = 60.0,
    ):
        self._settings = settings
        self.attempt_timeout = attempt_timeout
        self._idle: asyncio.Queue[aiosmtplib.SMTP] = asyncio.Queue()
        security = settings.smtp_security()
        context = ssl_context(settings.ca_file)  # the system's CAs and CARDSYNC_CA_FILE, as for Graph
        for _ in range(connections):
            self._idle.put_nowait(
                aiosmtplib.SMTP(
                    hostname=settings.smtp_host,
                    port=settings.smtp_port,
                    use_tls=security == "tls",
                    start_tls=security == "starttls",
                    timeout=timeout,
                    tls_context=context,
                )
            )

    async def send(self, message: Outgoing, *, ready: Callable[[], Awaitable[None]] | None = None) -> None:
        """Send one email; raises TemporaryMailError or PermanentMailError, or what ``ready`` raised (it is
        awaited once a connection is free, before anything is written)."""
        client = await self._idle.get()
        try:
            if ready is not None:
                await ready()
            await self._attempt(client, message)
        finally:
            self._idle.put_nowait(client)

    async def _attempt(self, client: aiosmtplib.SMTP, message: Outgoing) -> None:
        try:
            async with asyncio.timeout(self.attempt_timeout):
                await self._send_on(client, message)
        except asyncio.CancelledError:
            client.close()  # cut off mid-transaction: the next email must not continue it
            raise
        except Exception as exc:
            meaning = classify(exc)
            if meaning is None:
                raise
            if client.is_connected and not isinstance(exc, _TRANSACTION_REFUSALS):
                # A fresh connection (and login) next time, whatever state this one was left in.
                client.close()
            raise meaning from exc

    async def _send_on(self, client: aiosmtplib.SMTP, message: Outgoing) -> None:
        fresh = await self._connect(client)
        try:
            await client.sendmail(message.sender, [message.recipient], message.data)
        except aiosmtplib.SMTPServerDisconnected:
            if fresh:
                raise
            # The server closed the idle connection since its last use: once more on a new one.
            log.debug("SMTP connection was closed by the server; reconnecting")
            client.close()
            await self._connect(client)
            await client.sendmail(message.sender, [message.recipient], message.data)

    async def _connect(self, client: aiosmtplib.SMTP) -> bool:
        if client.is_connected:
            return False
        await client.connect()
        if self._settings.smtp_username:
            if client.get_transport_info("sslcontext") is None:
                # Start-up refuses these settings; this holds for any way the transport was made.
                client.close()
                raise TemporaryMailError(
                    "not logging in to the mail server over a plain connection: set CARDSYNC_SMTP_TLS to "
                    "starttls"
                    " or tls"
                )
            password = self._settings.smtp_password
            await client.login(self._settings.smtp_username, password.get_secret_value() if password else "")
        return True

    async def close(self) -> None:
        while not self._idle.empty():
            client = self._idle.get_nowait()
            if client.is_connected:
                try:
                    await client.quit()
                except (aiosmtplib.SMTPException, OSError):
                    client.close()
