"""Signing and sending one webhook delivery. The network rules are the crawler's
(graph.discovery.fetch: the allow-list, the resolver that checks the address it connects to,
IP literals checked before any request); nothing here forks them.

Signature (GitHub/Stripe style)::

    Switchboard-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>." + body)>

A receiver recomputes the HMAC over the timestamp, a dot and the raw body with its secret,
compares in constant time, and refuses timestamps older than it tolerates (5 minutes)."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import time
from dataclasses import dataclass

import aiohttp

from graph.discovery.fetch import FetchRefused, SafeResolver, check_url

SIGNATURE_HEADER = "Switchboard-Signature"
RESPONSE_READ_LIMIT = 64 * 1024  # what is read of a receiver's answer (then dropped, never stored)


def sign(secret: str, body: bytes, timestamp: int) -> str:
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def verify(secret: str, body: bytes, header: str, *, tolerance: int = 300, now: float | None = None) -> bool:
    """What a receiver does (used by the tests' receiver and documented in the README)."""
    try:
        parts = dict(item.split("=", 1) for item in header.split(","))
        timestamp = int(parts["t"])
    except (KeyError, ValueError):
        return False
    if abs((now or time.time()) - timestamp) > tolerance:
        return False
    expected = sign(secret, body, timestamp).split("v1=", 1)[1]
    return hmac.compare_digest(expected, parts.get("v1", ""))


@dataclass
class Outcome:
    ok: bool
    status_code: int | None
    error: str
    duration_ms: float


class Sender:
    """Several deliveries to one subscription over one keep-alive connection (a drain sends
    a backlog in order): one event loop and one session, same checks as ``post``."""

    def __init__(self, *, allowed: list, timeout: float):
        self.allowed, self.timeout = allowed, timeout
        self.loop = asyncio.new_event_loop()
        self.session = None
        self.attempts = 0

    async def _send(self, url: str, body: bytes, headers: dict) -> Outcome:
        started = time.perf_counter()
        try:
            check_url(url, self.allowed)
            if self.session is None:
                connector = aiohttp.TCPConnector(resolver=SafeResolver(self.allowed), limit=1)
                self.session = aiohttp.ClientSession(connector=connector, auto_decompress=False)
            async with asyncio.timeout(self.timeout):
                async with self.session.post(url, data=body, headers=headers, allow_redirects=False) as resp:
                    await resp.content.read(RESPONSE_READ_LIMIT)
                    ok = 200 <= resp.status < 300
                    return Outcome(ok, resp.status, "" if ok else f"HTTP {resp.status}", _ms(started))
        except FetchRefused as exc:
            error = f"refused: {exc}"
        except TimeoutError:
            error = f"timed out after {self.timeout:g} s"
        except (aiohttp.ClientError, OSError) as exc:
            cause = exc.__cause__ or exc
            refused = isinstance(cause, FetchRefused)
            error = f"refused: {cause}" if refused else f"connection failed: {type(cause).__name__}"
        return Outcome(False, None, error[:300], _ms(started))

    def send(self, url: str, body: bytes, headers: dict) -> Outcome:
        return self.loop.run_until_complete(self._send(url, body, headers))

    def close(self) -> None:
        if self.session is not None:
            self.loop.run_until_complete(self.session.close())
        self.loop.close()


def _ms(started: float) -> float:
    return (time.perf_counter() - started) * 1000
