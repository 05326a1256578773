"""Which URLs a webhook may call (no SSRF).

http(s) only, no credentials in the URL, https required unless WEBHOOK_REQUIRE_HTTPS is off.
The host is resolved and every address it resolves to must be public (not loopback, private,
link-local, multicast, reserved, ...) unless WEBHOOK_ALLOW_PRIVATE_TARGETS is on. Checked when
an endpoint is created and again at every delivery; the request then connects to the address
that was checked, so a DNS answer that changes in between (rebinding) cannot redirect it.
"""

import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class TargetRefused(Exception):
    """The URL may not be called; the message says why (shown to the endpoint's owner)."""


@dataclass(frozen=True)
class Target:
    scheme: str
    host: str  # as written in the URL (the TLS name and Host header)
    port: int
    path: str  # path and query
    address: str  # the checked IP address to connect to

    @property
    def host_header(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        default = 443 if self.scheme == "https" else 80
        return host if self.port == default else f"{host}:{self.port}"


def is_public(address: IPAddress) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_global and not (
        address.is_multicast or address.is_reserved or address.is_link_local or address.is_unspecified
    )


def _parsed(url: str):
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as error:
        raise TargetRefused(f"The URL is not valid: {error}.") from None
    if parts.scheme not in {"http", "https"}:
        raise TargetRefused("Only http and https URLs can receive webhooks.")
    if parts.scheme == "http" and settings.WEBHOOK_REQUIRE_HTTPS:
        raise TargetRefused("The URL must use https.")
    if not parts.hostname:
        raise TargetRefused("The URL has no host.")
    if parts.username is not None or parts.password is not None:
        raise TargetRefused("The URL must not contain credentials.")
    return parts, port or (443 if parts.scheme == "https" else 80)


def _addresses(host: str, port: int) -> list[IPAddress]:
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        raise TargetRefused(f"The host {host!r} does not resolve.") from None
    # An IPv6 scope (fe80::1%eth0) is link-local anyway; drop it so the address parses.
    return [ipaddress.ip_address(info[4][0].split("%", 1)[0]) for info in infos]


def target_resolve(url: str) -> Target:
    """Check `url` and resolve it now; raises TargetRefused when it may not be called."""
    parts, port = _parsed(url)
    host = parts.hostname
    addresses = _addresses(host, port)
    if not addresses:
        raise TargetRefused(f"The host {host!r} does not resolve.")
    if not settings.WEBHOOK_ALLOW_PRIVATE_TARGETS:
        # Every address, not just the first: a name that also resolves inward is refused.
        refused = [address for address in addresses if not is_public(address)]
        if refused:
            raise TargetRefused(f"The URL resolves to a non-public address ({refused[0]}).")
    path = parts.path or "/"
    if parts.query:
        path = f"{path}?{parts.query}"
    return Target(scheme=parts.scheme, host=host, port=port, path=path, address=str(addresses[0]))
