"""Failed-attempt limiter per client address, shared by every endpoint that checks a
presented key (the gateway's ``/gateway/verify``, the OTLP receiver): failures are counted
in Redis per address and minute, so all web processes add up; once an address passes the
limit, each process that sees it refuses it from memory, before any key is parsed or hashed,
until the minute ends. With Redis down, answers go on without the limiter."""

from __future__ import annotations

import logging
import math
import time

from django.conf import settings
from django.core.cache import cache
from redis.exceptions import RedisError

logger = logging.getLogger(__name__)

_limiters: list[FailureLimiter] = []


class FailureLimiter:
    """``name`` prefixes the Redis counters (each limiter counts apart); ``setting`` names
    the Django setting with the failures allowed per address and minute."""

    def __init__(self, name: str, setting: str):
        self.name, self.setting = name, setting
        self.blocked: dict[str, float] = {}  # client address -> blocked until (monotonic), per process
        _limiters.append(self)

    def retry_after(self, client_ip: str) -> int | None:
        """Seconds until ``client_ip`` may try again, or None if it is not blocked."""
        until = self.blocked.get(client_ip)
        if until is None:
            return None
        left = until - time.monotonic()
        if left > 0:
            return max(1, math.ceil(left))
        self.blocked.pop(client_ip, None)
        return None

    def fail(self, client_ip: str) -> None:
        """Count a failed attempt; too many in a minute block the address until it ends."""
        counter = f"{self.name}:{client_ip}:{int(time.time() // 60)}"
        try:
            if not cache.add(counter, 1, 120) and cache.incr(counter) > getattr(settings, self.setting):
                if len(self.blocked) > 100_000:
                    self.blocked.clear()
                self.blocked[client_ip] = time.monotonic() + 60 - time.time() % 60
        except RedisError as exc:  # Redis down: keep answering, without the limiter
            logger.warning("%s: failure not counted: %s", self.name, type(exc).__name__)


def forget_blocks() -> None:
    """Every limiter's in-process blocks (tests start clean)."""
    for limiter in _limiters:
        limiter.blocked.clear()
