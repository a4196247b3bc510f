"""The client's address behind proxies, for rate limiters (gateway failures, sign-in throttling).

``X-Forwarded-For`` is believed only when the peer itself is one of ``settings.TRUSTED_PROXIES``
(IPs or CIDR networks; default: none). Then the header is read from the right, skipping
addresses of trusted proxies; the first untrusted one is the client. Anything that does not
parse as an IP address makes the peer address the answer: a client cannot choose its bucket."""

from __future__ import annotations

import ipaddress
from functools import lru_cache

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

MAX_FORWARDED_CHARS = 2048  # a longer header is not read at all (bounded work per request)

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@lru_cache(maxsize=8)
def trusted_networks(entries: tuple[str, ...]) -> tuple[Network, ...]:
    """Parse ``TRUSTED_PROXIES`` entries ("10.0.0.1", "10.0.0.0/8", "::1")."""
    networks = []
    for entry in entries:
        entry = entry.strip()
        if not entry:
            continue
        try:
            networks.append(ipaddress.ip_network(entry, strict=False))
        except ValueError as exc:
            raise ImproperlyConfigured(f"TRUSTED_PROXIES: '{entry}' is not an IP address or network.") from exc
    return tuple(networks)


def _ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        address = ipaddress.ip_address(text.strip())
    except ValueError:
        return None
    mapped = getattr(address, "ipv4_mapped", None)  # ::ffff:1.2.3.4 is 1.2.3.4
    return mapped or address


def _trusted(address, networks: tuple[Network, ...]) -> bool:
    return any(address.version == net.version and address in net for net in networks)


def client_ip(meta: dict, trusted: tuple[str, ...] | None = None) -> str:
    """The client's address for a request's ``META`` (WSGI environ). ``trusted`` defaults to
    ``settings.TRUSTED_PROXIES``."""
    networks = trusted_networks(tuple(settings.TRUSTED_PROXIES if trusted is None else trusted))
    peer = _ip(meta.get("REMOTE_ADDR") or "")
    if peer is None:
        return (meta.get("REMOTE_ADDR") or "")[:64]
    if not networks or not _trusted(peer, networks):
        return str(peer)
    forwarded = meta.get("HTTP_X_FORWARDED_FOR") or ""
    if not forwarded or len(forwarded) > MAX_FORWARDED_CHARS:
        return str(peer)
    hops = [h.strip() for h in forwarded.split(",")]
    for hop in reversed(hops):
        address = _ip(hop)
        if address is None:
            return str(peer)  # garbage in the chain: do not let it pick a bucket
        if not _trusted(address, networks):
            return str(address)
    return str(peer)  # every hop is a trusted proxy: the request came from inside
