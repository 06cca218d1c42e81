"""The notifier's SMTP connection: implicit TLS or STARTTLS to a real server, and no login on a plain one."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from aiosmtpd.smtp import AuthResult
from pydantic import SecretStr

from services.notifier.mime import compose
from services.notifier.render import Card, Person, render_invite
from services.notifier.smtp import SmtpTransport, TemporaryMailError
from shared.settings import Settings
from tests.fixtures.smtp import start_sink


class Logins:
    """An aiosmtpd authenticator that accepts one password and remembers every attempt, and whether it came
    over an encrypted connection."""

    def __init__(self) -> None:
        self.seen: list[tuple[bytes, bytes, bool]] = []

    def __call__(self, server, session, envelope, mechanism, auth_data) -> AuthResult:
        encrypted = server.transport.get_extra_info("ssl_object") is not None
        self.seen.append((auth_data.login, auth_data.password, encrypted))
        return AuthResult(success=auth_data.password == b"s3cret")


def invite(to: str):
    now = datetime.now(UTC)
    return compose(render_invite("C", Card("Jo"), "u", now), "cards@localhost", Person("Jo", to), now)


def mail_settings(sink, **values) -> Settings:
    return Settings(_env_file=None, smtp_host=sink.host, smtp_port=sink.port, **values)


async def send_all(settings, *recipients: str) -> None:
    transport = SmtpTransport(settings)
    try:
        for to in recipients:
            await transport.send(invite(to))
    finally:
        await transport.close()


@pytest.fixture
async def sinks():
    started = []

    async def start(**options):
        started.append(await start_sink(**options))
        return started[-1]

    yield start
    for sink in started:
        sink.server.close()
        sink.drop_connections()


async def test_implicit_tls_delivers_and_logs_in_under_the_ca_file(server_tls, sinks):
    logins = Logins()
    # Implicit TLS is encrypted from the first byte, which aiosmtpd's STARTTLS bookkeeping cannot see.
    sink = await sinks(implicit_tls=server_tls.context, authenticator=logins, auth_require_tls=False)
    login = {"smtp_username": "cards", "smtp_password": SecretStr("s3cret"), "ca_file": server_tls.ca_file}
    await send_all(mail_settings(sink, smtp_tls="tls", **login), "a@x.com", "b@x.com")
    assert [r.to for r in sink.received] == ["a@x.com", "b@x.com"] and sink.connections == 1
    assert logins.seen == [(b"cards", b"s3cret", True)]


async def test_implicit_tls_refuses_a_server_the_ca_file_does_not_vouch_for(server_tls, sinks):
    sink = await sinks(implicit_tls=server_tls.context)
    with pytest.raises(TemporaryMailError, match="unreachable"):
        await send_all(mail_settings(sink, smtp_tls="tls"), "a@x.com")
    assert sink.received == []


@pytest.mark.parametrize("how", [{"smtp_tls": "starttls"}, {}])  # {}: the default once a username is set
async def test_starttls_delivers_and_logs_in_after_the_upgrade(server_tls, sinks, how):
    logins = Logins()
    sink = await sinks(tls_context=server_tls.context, require_starttls=True, authenticator=logins)
    login = {"smtp_username": "cards", "smtp_password": SecretStr("s3cret"), "ca_file": server_tls.ca_file}
    await send_all(mail_settings(sink, **how, **login), "a@x.com")
    assert [r.to for r in sink.received] == ["a@x.com"] and logins.seen == [(b"cards", b"s3cret", True)]


async def test_no_login_goes_over_a_plain_connection(server_tls, sinks):
    logins = Logins()
    # A server that would take the password in plain, as a misconfigured or intercepted one might.
    plain = await sinks(authenticator=logins, auth_require_tls=False)
    login = {"smtp_username": "cards", "smtp_password": SecretStr("s3cret")}
    with pytest.raises(TemporaryMailError, match="CARDSYNC_SMTP_TLS"):
        await send_all(mail_settings(plain, smtp_tls="none", **login), "a@x.com")
    # Asked for STARTTLS, a server that does not offer it gets no password either.
    with pytest.raises(TemporaryMailError, match="STARTTLS"):
        await send_all(mail_settings(plain, smtp_tls="starttls", **login), "a@x.com")
    assert logins.seen == [] and plain.received == []


async def test_without_a_username_a_plain_connection_still_delivers(sinks):
    sink = await sinks()
    await send_all(mail_settings(sink), "a@x.com")
    assert [r.to for r in sink.received] == ["a@x.com"]
