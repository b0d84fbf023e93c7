"""The SSRF guard: which URLs the server may call, in production and outside it."""

from __future__ import annotations

import ipaddress

import pytest

from t21.core.urlguard import UnsafeURL, check_url, is_public, resolve

NOT_PUBLIC = [
    "127.0.0.1",
    "127.1.2.3",
    "10.0.0.1",
    "172.16.5.4",
    "192.168.1.1",
    "169.254.169.254",  # cloud metadata
    "100.64.0.1",  # carrier-grade NAT
    "0.0.0.0",  # noqa: S104
    "224.0.0.1",
    "255.255.255.255",
    "::1",
    "::",
    "fe80::1",
    "fd00::1",
    "fd00:ec2::254",  # AWS metadata over IPv6
    "::ffff:127.0.0.1",
    "::ffff:10.0.0.1",
    "ff02::1",
]


@pytest.mark.parametrize("address", NOT_PUBLIC)
def test_private_loopback_link_local_and_metadata_addresses_are_not_public(address: str) -> None:
    assert not is_public(ipaddress.ip_address(address))


@pytest.mark.parametrize("address", ["93.184.216.34", "1.1.1.1", "2606:4700:4700::1111"])
def test_public_addresses_are_public(address: str) -> None:
    assert is_public(ipaddress.ip_address(address))


@pytest.mark.parametrize(
    "url",
    [
        "http://hooks.example.com/x",
        "http://127.0.0.1:8000/x",
        "https://127.0.0.1/x",
        "https://localhost/x",
        "https://LOCALHOST./x",
        "https://app.localhost/x",
        "https://10.0.0.8/x",
        "https://[::1]/x",
        "https://[::ffff:169.254.169.254]/x",
        "https://user:secret@hooks.example.com/x",
        "ftp://hooks.example.com/x",
        "https:///x",
        "https://hooks.example.com:99999/x",
    ],
)
def test_production_refuses_anything_but_https_to_public_hosts(url: str) -> None:
    with pytest.raises(UnsafeURL):
        check_url(url, production=True)


def test_production_accepts_https_to_a_public_host() -> None:
    assert check_url("https://hooks.example.com/t21", production=True)
    assert check_url("https://93.184.216.34:8443/t21", production=True)


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:9000/x", "http://localhost:9000/x", "http://[::1]:9000/x"]
)
def test_outside_production_loopback_may_use_http(url: str) -> None:
    assert check_url(url, production=False) == url


def test_outside_production_other_hosts_still_need_https() -> None:
    with pytest.raises(UnsafeURL, match="https"):
        check_url("http://hooks.example.com/x", production=False)


async def test_a_name_resolving_to_loopback_is_refused_at_send_time() -> None:
    # 2130706433 is 127.0.0.1 written as one number: a name to the URL parser, loopback to DNS.
    check_url("https://2130706433/x", production=True)
    with pytest.raises(UnsafeURL, match="not public"):
        await resolve("https://2130706433/x", production=True)


async def test_a_public_literal_address_is_connected_to_as_checked() -> None:
    target = await resolve("https://93.184.216.34/x", production=True)
    assert target.address == "93.184.216.34"
    assert target.host == "93.184.216.34"


async def test_outside_production_the_client_resolves_names_itself() -> None:
    target = await resolve("http://localhost:9/x", production=False)
    assert target.address is None
