"""The SSRF guard: which URLs the server may call on someone else's say-so (webhook endpoints).

In production only `https` to public addresses: never loopback, private (RFC 1918, unique local),
link-local (the cloud metadata service at 169.254.169.254 included), carrier-grade NAT,
multicast, reserved or unspecified addresses. Host names are resolved when the request is
sent and every address they resolve to must be public; the request then goes to the checked
address (so a second, rebinding DNS answer can't redirect it), and redirects are never followed.
Outside production, `http` to loopback is allowed too, so developers can test locally.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

LOCAL_HOSTNAMES = frozenset({"localhost", "localhost.localdomain"})


class UnsafeURL(ValueError):
    """The URL may not be called; the message says why, in words fit for an API answer."""


@dataclass(frozen=True)
class Target:
    """A checked URL and the address to connect to (None: let the client resolve it)."""

    url: str
    host: str
    address: str | None


def is_public(address: IPAddress) -> bool:
    """Whether `address` is a public unicast address (IPv4-mapped IPv6 judged as IPv4)."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_global and not address.is_multicast


def _parse_ip(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def _is_loopback_host(host: str) -> bool:
    address = _parse_ip(host)
    if address is not None:
        return address.is_loopback
    return host in LOCAL_HOSTNAMES or host.endswith(".localhost")


def check_url(url: str, *, production: bool) -> str:
    """`url` if it may be registered for server-side calls, else `UnsafeURL`.

    A literal address is judged here; a host name is judged again at send time (`resolve`).
    """
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise UnsafeURL("is not a valid URL") from None
    # "localhost." is "localhost": a trailing dot only makes a name fully qualified.
    host = (parts.hostname or "").lower().rstrip(".")
    if parts.scheme not in {"http", "https"} or not host:
        raise UnsafeURL("must be an absolute https:// URL")
    if parts.username is not None or parts.password is not None:
        raise UnsafeURL("must not carry credentials (user:password@)")
    if port == 0:
        raise UnsafeURL("has an invalid port")
    if production:
        if parts.scheme != "https":
            raise UnsafeURL("must use https")
        if host in LOCAL_HOSTNAMES or host.endswith(".localhost"):
            raise UnsafeURL("must point at a public address")
        address = _parse_ip(host)
        if address is not None and not is_public(address):
            raise UnsafeURL("must point at a public address")
    elif parts.scheme == "http" and not _is_loopback_host(host):
        raise UnsafeURL("must use https (http is allowed for 127.0.0.1 and localhost only)")
    return url


async def resolve(url: str, *, production: bool) -> Target:
    """The address a request to `url` may go to, checked now (`UnsafeURL` if none may)."""
    check_url(url, production=production)
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if not production:
        return Target(url=url, host=host, address=None)
    literal = _parse_ip(host)
    if literal is not None:
        return Target(url=url, host=host, address=str(literal))
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError:
        raise UnsafeURL(f"host {host!r} does not resolve") from None
    addresses = [ipaddress.ip_address(info[4][0]) for info in infos]
    if not addresses:
        raise UnsafeURL(f"host {host!r} does not resolve")
    if not all(is_public(address) for address in addresses):
        raise UnsafeURL(f"host {host!r} resolves to an address that is not public")
    return Target(url=url, host=host, address=str(addresses[0]))
