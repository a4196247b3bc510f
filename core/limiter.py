"""Limits kept in Redis, so that all web processes add up:

- ``FailureLimiter``: failed attempts per client address, shared by every endpoint that checks
  a presented key (the gateway's ``/gateway/verify``, the OTLP receiver): failures are counted
  per address and minute; once an address passes the limit, each process that sees it refuses
  it from memory, before any key is parsed or hashed, until the minute ends. With Redis down,
  answers go on without the limiter.
- ``QuotaLimiter``: a key's rate limit and daily quota, one atomic script per check.
- ``WaitSlots``: long waits held at once, per subject and overall."""

from __future__ import annotations

import contextlib
import hashlib
import logging
import math
import os
import threading
import time

from django.conf import settings
from django.core.cache import cache
from django.core.signals import setting_changed
from django.dispatch import receiver
from hiredis import pack_command
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import DataError, NoScriptError, RedisError

from core.redis import client as redis_client
from core.redis import key as redis_key

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


# --- Per-key quotas (issue 15) ---------------------------------------------------------------
# One Lua script, one round trip per check: the daily quota (a counter per UTC day) and the rate
# (GCRA: the theoretical arrival time, TAT, in milliseconds; a burst of ``limit`` is allowed, then
# one request per ``period / limit``). Nothing is written unless both allow the request, so a
# refused request spends neither. Both keys carry the same hash tag, so the script also runs on a
# Redis Cluster. ``now`` comes from the caller (milliseconds), so tests move time without sleeping.
# Returns {allowed, reason (0 ok, 1 rate, 2 quota), rate remaining, used today, rate reset ms,
# retry after ms}.
QUOTA_LUA = """
local now = tonumber(ARGV[1])
local limit = tonumber(ARGV[2])
local period = tonumber(ARGV[3])
local quota = tonumber(ARGV[4])
local day_left = tonumber(ARGV[5])
local used = 0
if quota > 0 then
  used = tonumber(redis.call('GET', KEYS[2]) or '0')
  if used >= quota then
    return {0, 2, 0, used, 0, day_left}
  end
end
local remaining, reset = -1, 0
if limit > 0 then
  local interval = period / limit
  local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
  if tat < now then tat = now end
  local new_tat = tat + interval
  local allow_at = new_tat - period
  if allow_at > now then
    return {0, 1, 0, used, math.ceil(tat - now), math.ceil(allow_at - now)}
  end
  redis.call('SET', KEYS[1], string.format('%.3f', new_tat), 'PX', math.ceil(new_tat - now) + 1)
  remaining = math.floor((now + period - new_tat) / interval)
  reset = math.ceil(new_tat - now)
end
if quota > 0 then
  used = redis.call('INCR', KEYS[2])
  if used == 1 then redis.call('PEXPIRE', KEYS[2], day_left + 3600000) end
end
return {1, 0, remaining, used, reset, 0}
"""

DAY_MS = 86_400_000
_cache_generation = [0]  # bumped when the CACHES setting changes (tests): held connections reopen


@receiver(setting_changed)
def _cache_settings_changed(setting, **kwargs):
    if setting == "CACHES":
        _cache_generation[0] += 1


class QuotaUnavailable(Exception):
    """Redis could not be asked; the caller decides (GATEWAY_QUOTA_REDIS_DOWN)."""


class QuotaCheck:
    """The outcome of one check: ``allowed``; ``reason`` ("" | "rate" | "quota"); ``retry_after``
    (whole seconds, when refused); ``headers``: RateLimit-Policy and RateLimit as in
    draft-ietf-httpapi-ratelimit-headers (structured-field lists of named policies)."""

    __slots__ = ("allowed", "reason", "retry_after", "headers", "used_today")

    def __init__(self, allowed: bool, reason: str, retry_after: int, headers: dict, used_today: int):
        self.allowed, self.reason, self.retry_after = allowed, reason, retry_after
        self.headers, self.used_today = headers, used_today


def _ceil_s(ms: float) -> int:
    return max(0, math.ceil(ms / 1000))


class QuotaLimiter:
    """Rate limit (``limit`` per ``period`` seconds, GCRA) and daily quota (per UTC day) of one
    subject (an API key id), checked and counted atomically in Redis by one script call."""

    def __init__(self, name: str):
        self.name = name
        self._sha = hashlib.sha1(QUOTA_LUA.encode(), usedforsecurity=False).hexdigest()  # as Redis names the script
        self._local = threading.local()  # each thread's own connection, and the process that opened it
        self._keys_of: dict[tuple[str, int, int], list[str]] = {}

    def _keys(self, subject: str, day: int) -> list[str]:
        memo = (subject, day, _cache_generation[0])  # the cache's key prefix comes from the settings
        keys = self._keys_of.get(memo)
        if keys is None:
            from core.redis import key as redis_key

            tag = f"{{{subject}}}"  # one hash slot for both keys
            keys = [redis_key(f"{self.name}:rate:{tag}"), redis_key(f"{self.name}:day:{tag}:{day}")]
            if len(self._keys_of) > 100_000:
                self._keys_of.clear()
            self._keys_of[memo] = keys
        return keys

    def _connection(self):
        """This thread's connection to the cache's Redis, made like the cache pool's own but held,
        not borrowed: taking one from the pool and giving it back (a lock, a poll for stray
        data, bookkeeping) and redis-py's command layers cost as much as the round trip. A forked
        child opens its own; so does a thread after the cache settings changed."""
        local, generation = self._local, _cache_generation[0]  # read once: the settings may change meanwhile
        conn = getattr(local, "conn", None)
        if conn is not None and local.pid == os.getpid() and local.generation == generation:
            return conn
        from core.redis import client

        if conn is not None and local.pid == os.getpid():
            conn.disconnect()
        pool = client().connection_pool
        conn = local.conn = pool.connection_class(**pool.connection_kwargs)
        local.pid, local.generation = os.getpid(), generation
        return conn

    def _call(self, keys: list[str], args: list) -> list:
        """EVALSHA on this thread's connection: one round trip. The script is loaded when Redis
        does not know it (a restart); a connection the server closed is opened again once."""
        conn = self._connection()
        try:
            packed = [pack_command(("EVALSHA", self._sha, 2, *keys, *args))]  # hiredis's C encoder
        except TypeError as exc:  # as redis-py's own packer says it
            raise DataError(str(exc)) from exc
        try:
            return self._evalsha(conn, packed)
        except RedisConnectionError:
            return self._evalsha(conn, packed)  # disconnected: this opens it again

    @staticmethod
    def _evalsha(conn, packed: list[bytes]) -> list:
        try:
            conn.send_packed_command(packed, check_health=False)
            try:
                return conn.read_response()
            except NoScriptError:
                conn.send_command("SCRIPT", "LOAD", QUOTA_LUA)
                conn.read_response()
                conn.send_packed_command(packed, check_health=False)
                return conn.read_response()
        except RedisError:
            conn.disconnect()  # a closed socket, a timeout or an error reply may leave it unusable
            raise

    def check(self, subject: str, *, limit: int | None, period: int, quota: int | None, now: float) -> QuotaCheck:
        """Count one request of ``subject`` at ``now`` (epoch seconds) if both limits allow it.
        Raises QuotaUnavailable when Redis cannot be asked."""
        now_ms = int(now * 1000)
        day, into_day = divmod(now_ms, DAY_MS)
        day_left = DAY_MS - into_day
        period_ms = period * 1000
        try:
            allowed, reason, remaining, used, reset, retry = self._call(
                self._keys(subject, day), [now_ms, limit or 0, period_ms, quota or 0, day_left]
            )
        except RedisError as exc:
            raise QuotaUnavailable(type(exc).__name__) from exc
        policy, state = [], []
        if limit:
            policy.append(f'"rate";q={limit};w={period}')
        if limit and reason != 2:  # refused on the daily quota, the script did not look at the rate
            rate_t = _ceil_s(retry) if reason == 1 else _ceil_s(reset)
            state.append(f'"rate";r={max(0, remaining)};t={rate_t}')
        if quota:
            policy.append(f'"daily";q={quota};w=86400')
            state.append(f'"daily";r={max(0, quota - used)};t={_ceil_s(day_left)}')
        headers = {"RateLimit-Policy": ", ".join(policy), "RateLimit": ", ".join(state)} if policy else {}
        why = {0: "", 1: "rate", 2: "quota"}[int(reason)]
        return QuotaCheck(bool(allowed), why, max(1, _ceil_s(retry)) if not allowed else 0, headers, int(used))

    def used_today_many(self, subjects: list[str], *, now: float) -> dict[str, int] | None:
        """Requests counted today (UTC) per subject, one MGET; None if Redis cannot be asked."""
        from core.redis import client

        if not subjects:
            return {}
        day = int(now * 1000) // DAY_MS
        try:
            raw = client().mget([self._keys(s, day)[1] for s in subjects])
        except RedisError:
            return None
        return {s: int(v) if v is not None else 0 for s, v in zip(subjects, raw, strict=True)}

    def used_today(self, subject: str, *, now: float) -> int | None:
        """Requests of ``subject`` counted today (UTC), or None if Redis cannot be asked."""
        from core.redis import client

        day = int(now * 1000) // DAY_MS
        try:
            raw = client().get(self._keys(subject, day)[1])
        except RedisError:
            return None
        return int(raw) if raw is not None else 0


class WaitSlots:
    """Long waits held at once (the event log's long poll holds a web thread while it waits): at
    most ``per_subject`` by one subject and ``total`` across every web process. A slot is a
    member of two Redis sorted sets scored by its holder's deadline, taken atomically by one
    script; a slot whose process died frees itself when its wait would have ended."""

    _TAKE = """
local now = tonumber(ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[4]) or redis.call('ZCARD', KEYS[2]) >= tonumber(ARGV[5]) then
  return 0
end
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[3])
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[3])
redis.call('EXPIRE', KEYS[1], ARGV[6])
redis.call('EXPIRE', KEYS[2], ARGV[6])
return 1
"""

    def __init__(self, name: str):
        self.name = name

    @contextlib.contextmanager
    def hold(self, subject: str, *, seconds: float, per_subject: int, total: int):
        """Yields True with a slot held until the block ends, False when the subject or everyone
        holds all theirs, None when Redis cannot say (the caller then does not wait)."""
        keys = [redis_key(f"{self.name}:{subject}"), redis_key(f"{self.name}:all")]
        member, now = os.urandom(8).hex(), time.time()
        ttl = math.ceil(seconds) + 60
        try:
            granted = bool(
                redis_client().eval(self._TAKE, 2, *keys, now, now + seconds + 5, member, per_subject, total, ttl)
            )
        except RedisError as exc:
            logger.warning("%s: no slot taken: %s", self.name, type(exc).__name__)
            granted = None
        try:
            yield granted
        finally:
            if granted:
                try:
                    with redis_client().pipeline(transaction=False) as pipe:
                        for k in keys:
                            pipe.zrem(k, member)
                        pipe.execute()
                except RedisError:
                    pass  # the slot frees itself at its deadline
