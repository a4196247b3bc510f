"""SSRF-safe HTTP fetching with aiohttp (the network policy every outbound fetch follows: the
crawler, webhooks, metrics backends, catalog URL and git locations).

Only http(s); every address a name resolves to is checked against
DISCOVERY_ALLOWED_NETWORKS by the resolver the connector uses, so the checked address
is the one connected to (no second lookup); IP literals are checked before any request;
link-local (cloud metadata) is refused unless a link-local network is listed itself;
redirects are followed by hand, to the same host and port only; bodies are capped in
bytes and time."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import time
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import ThreadedResolver

from core.validators import split_url

MAX_REDIRECTS = 3
_LINK_LOCAL = [ipaddress.ip_network("169.254.0.0/16"), ipaddress.ip_network("fe80::/10")]


class FetchRefused(Exception):
    """The target is not allowed or not reachable under the crawl's safety rules."""


def address_allowed(ip: str, allowed: list) -> bool:
    addr = ipaddress.ip_address(ip.split("%")[0])
    if getattr(addr, "ipv4_mapped", None):
        addr = addr.ipv4_mapped
    nets = [n for n in allowed if n.version == addr.version]
    if any(addr in ll for ll in _LINK_LOCAL if ll.version == addr.version):
        nets = [n for n in nets if any(n.subnet_of(ll) for ll in _LINK_LOCAL if ll.version == n.version)]
    return any(addr in n for n in nets)


def resolve_allowed(host: str, port: int, allowed: list) -> str:
    """One address ``host`` resolves to that the allow-list admits (every address it resolves to
    must be admitted, so a name cannot mix an allowed address with a forbidden one), for a
    client that is then pinned to it (git's ``http.curloptResolve``)."""
    try:
        ipaddress.ip_address(host)
        addresses = [host]
    except ValueError:
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except OSError as exc:
            raise FetchRefused(f"{host} does not resolve ({type(exc).__name__})") from None
        addresses = list(dict.fromkeys(info[4][0] for info in infos))
    refused = [a for a in addresses if not address_allowed(a, allowed)]
    if not addresses or refused:
        raise FetchRefused(f"{host} resolves to addresses outside DISCOVERY_ALLOWED_NETWORKS")
    return addresses[0]


class SafeResolver(AbstractResolver):
    """Resolves once and returns only allowed addresses; none allowed is an error."""

    def __init__(self, allowed: list):
        self._inner = ThreadedResolver()
        self._allowed = allowed

    async def resolve(self, host: str, port: int = 0, family: int = socket.AF_INET) -> list[ResolveResult]:
        results = await self._inner.resolve(host, port, family)
        kept = [r for r in results if address_allowed(r["host"], self._allowed)]
        if not kept:
            raise FetchRefused(f"{host} resolves only to addresses outside DISCOVERY_ALLOWED_NETWORKS")
        return kept

    async def close(self) -> None:
        await self._inner.close()


@dataclass
class FetchResult:
    ok: bool
    status: int | None = None
    body: bytes = b""
    latency_ms: float = 0.0
    error: str = ""
    content_type: str = ""


def check_url(url: str, allowed: list) -> None:
    try:
        parts = split_url(url)
    except ValueError as exc:
        raise FetchRefused(str(exc)) from None
    if parts.scheme not in ("http", "https"):
        raise FetchRefused(f"scheme '{parts.scheme}' is not http(s)")
    if not parts.hostname:
        raise FetchRefused("URL has no host")
    try:
        ipaddress.ip_address(parts.hostname)
    except ValueError:
        return  # a name: the resolver checks what it resolves to
    if not address_allowed(parts.hostname, allowed):
        raise FetchRefused(f"{parts.hostname} is outside DISCOVERY_ALLOWED_NETWORKS")


def make_session(*, allowed: list, concurrency: int) -> aiohttp.ClientSession:
    connector = aiohttp.TCPConnector(
        resolver=SafeResolver(allowed), limit=concurrency, ttl_dns_cache=60, force_close=False
    )
    return aiohttp.ClientSession(
        connector=connector,
        auto_decompress=False,  # a compressed body could expand past the byte cap
        headers={"User-Agent": "switchboard-discovery/1", "Accept-Encoding": "identity"},
    )


async def fetch(
    session, url: str, *, allowed: list, max_bytes: int, timeout: float, headers: dict | None = None
) -> FetchResult:
    """GET ``url`` under the rules above. ``headers`` (credentials) go to the URL's own origin
    only: a redirect elsewhere is refused before it is followed."""
    started = time.perf_counter()
    origin = urlsplit(url)[:2]
    try:
        async with asyncio.timeout(timeout):
            for _ in range(MAX_REDIRECTS + 1):
                check_url(url, allowed)
                async with session.get(url, allow_redirects=False, headers=headers) as resp:
                    if resp.status in (301, 302, 303, 307, 308):
                        location = resp.headers.get("Location", "")
                        nxt = urljoin(url, location)
                        if urlsplit(nxt)[:2] != origin:
                            # The Location is the response's content: it is not repeated.
                            raise FetchRefused("redirect to another host or scheme")
                        url = nxt
                        continue
                    body = bytearray()
                    async for chunk in resp.content.iter_chunked(65536):
                        body.extend(chunk)
                        if len(body) > max_bytes:
                            raise FetchRefused(f"body larger than {max_bytes} bytes")
                    return FetchResult(
                        ok=200 <= resp.status < 300,
                        status=resp.status,
                        body=bytes(body),
                        latency_ms=(time.perf_counter() - started) * 1000,
                        error="" if 200 <= resp.status < 300 else f"HTTP {resp.status}",
                        content_type=resp.headers.get("Content-Type", ""),
                    )
            raise FetchRefused(f"more than {MAX_REDIRECTS} redirects")
    except FetchRefused as exc:
        error = f"refused: {exc}"
    except TimeoutError:
        error = f"timed out after {timeout:g} s"
    except aiohttp.ClientResponseError as exc:
        # aiohttp's parser messages quote the bytes it could not read: name the error only.
        error = f"bad response: {type(exc).__name__}" + (f" (HTTP {exc.status})" if exc.status else "")
    except aiohttp.ClientPayloadError as exc:
        error = f"bad response body: {type(exc).__name__}"
    except (aiohttp.ClientError, OSError) as exc:
        cause = exc.__cause__ or exc
        if isinstance(cause, FetchRefused):
            error = f"refused: {cause}"
        else:
            os_error = cause if isinstance(cause, OSError) else getattr(exc, "os_error", None)
            reason = getattr(os_error, "strerror", None) or ""
            error = f"connection failed: {type(cause).__name__}" + (f": {reason[:120]}" if reason else "")
    return FetchResult(ok=False, latency_ms=(time.perf_counter() - started) * 1000, error=error)
