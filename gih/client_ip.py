"""The real client address behind the documented TLS proxy.

Behind a proxy every request's REMOTE_ADDR is the proxy's, so throttles and IP allow-lists keyed on it would be
global. X-Forwarded-For is only trusted for the hops we run ourselves: `TRUSTED_PROXY_COUNT` proxies in front of
the app (counted from the right, where our own proxies append), or any hop whose address is in `TRUSTED_PROXIES`.
A client can prepend anything it likes to the header, so we never read further left than the trusted hops allow.
"""

import ipaddress

from django.conf import settings
from django.http import HttpRequest


def _is_trusted_proxy(address: str) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in ipaddress.ip_network(net, strict=False) for net in settings.TRUSTED_PROXIES)


def client_ip(request: HttpRequest) -> str:
    """The address of the client that reached our first trusted proxy (or the socket peer without one)."""
    return client_ip_of(request.META)


def client_ip_of(meta: dict) -> str:
    """client_ip() from a request's META (or a WSGI environ), for code that runs before a request exists."""
    remote = meta.get("REMOTE_ADDR", "") or ""
    forwarded = [hop.strip() for hop in meta.get("HTTP_X_FORWARDED_FOR", "").split(",") if hop.strip()]
    count = settings.TRUSTED_PROXY_COUNT
    if count and forwarded:
        # The last `count` hops (REMOTE_ADDR plus the right end of the header) are our proxies.
        chain = [*forwarded, remote]
        if len(chain) > count:
            return _valid_or(chain[-1 - count], remote)
        return _valid_or(chain[0], remote)
    if settings.TRUSTED_PROXIES and _is_trusted_proxy(remote):
        for hop in reversed(forwarded):
            if not _is_trusted_proxy(hop):
                return _valid_or(hop, remote)
    return remote


def _valid_or(candidate: str, fallback: str) -> str:
    try:
        return str(ipaddress.ip_address(candidate))
    except ValueError:
        return fallback
