"""Webhook signatures as Standard Webhooks defines them, and which URLs may receive webhooks."""

from __future__ import annotations

import pytest

from shared.webhooks import PublicResolver, UrlRefused, check_url, new_secret, sign


def test_the_signature_matches_the_specifications_example():
    signature = sign(
        "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        "msg_p5jXN8AQM9LWM0D4loKWxJek",
        1614265330,
        b'{"test": 2432232314}',
    )
    assert signature == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
    assert new_secret().startswith("whsec_") and new_secret() != new_secret()


@pytest.mark.parametrize(
    "url",
    [
        "http://hooks.example.com/",
        "https:///path",
        "https://127.0.0.1/",
        "https://[::ffff:10.0.0.1]/",
        "https://[64:ff9b::a00:5]/",  # NAT64 of 10.0.0.5
        "https://[64:ff9b:1::a00:5]/",
        "https://[2002:a00:5::1]/",  # 6to4 of 10.0.0.5
        "https://[2001:0:4136:e378:8000:63bf:f5ff:fffa]/",  # Teredo of 10.0.0.5
        "https://[fe80::1]/",
        "https://100.64.0.1/",
        "https://0.0.0.0/",
        "https://224.0.0.1/",
        "https://localhost./",
        "https://db/",
        "https://a.internal/",
        "https://u@hooks.example.com/",
        "https://hooks.example.com/#x",
    ],
)
def test_urls_refused(url):
    with pytest.raises(UrlRefused):
        check_url(url, allow_private=False)


def test_public_urls_and_allowed_private_ones_pass():
    assert check_url("https://hooks.example.com:8443/in?x=1", False)
    assert check_url("https://8.8.8.8/in", False)
    assert check_url("https://[64:ff9b::808:808]/in", False)  # NAT64 of 8.8.8.8
    assert check_url("https://127.0.0.1:9000/in", True)
    with pytest.raises(UrlRefused):
        check_url("http://127.0.0.1/in", True)  # https, always


async def test_the_resolver_keeps_only_public_addresses():
    strict, lenient = PublicResolver(False), PublicResolver(True)
    try:
        with pytest.raises(OSError, match="no public address"):
            await strict.resolve("localhost", 443)
        assert await lenient.resolve("localhost", 443)
    finally:
        await strict.close()
        await lenient.close()
