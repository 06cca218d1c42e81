"""The benches' SMTP receiver counts what a real client delivers: each message once, with its recipients,
whatever its lines look like and however the commands arrive."""

import aiosmtplib

from bench._common import CountingSink, serve_smtp


async def test_the_sink_counts_each_message_and_its_recipients():
    sink = CountingSink()
    server = await serve_smtp(sink.delivered)
    port = server.sockets[0].getsockname()[1]
    client = aiosmtplib.SMTP(hostname="127.0.0.1", port=port, start_tls=False)
    async with server:
        await client.connect()
        body = "Subject: Hello\r\n\r\nline\r\n.\r\n..dots\r\nübrigens\r\n".encode()
        await client.sendmail("a@x.example", ["One@y.example"], body)
        await client.sendmail("a@x.example", ["two@y.example", "three@y.example"], b"x" * 100_000)
        await client.sendmail("a@x.example", ["one@y.example"], b"")  # an empty message
        response = await client.quit()
    assert response.code == 221
    assert sink.count() == (3, 3)  # the address compared without case
