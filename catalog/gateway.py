"""Gateway key verification: the hot path behind ``GET /gateway/verify``.

Lookups are served from a per-process cache whose entries live at most
KEY_LOCAL_CACHE_SECONDS; behind it, Redis holds each key's record, and the database is
read only on a Redis miss. A revocation, rotation or approval deletes the Redis entry
after commit, so every web process sees it within KEY_LOCAL_CACHE_SECONDS (0.5 s by
default); expiry is compared with the clock on every check. Each key also has a
generation counter that every invalidation bumps: a process that read the database
before an invalidation cannot write its stale record back after it. Usage is counted in process
memory and added to Redis every few seconds, never written to the database per request.
Failed attempts are counted per client address in Redis."""

from __future__ import annotations

import json
import logging
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import formatdate

from django.conf import settings
from django.db import transaction
from redis.commands.core import Script
from redis.exceptions import RedisError

from catalog.gateway_path import PathInvalid, normalise_method, normalise_path, scope_allows
from catalog.models import ApiKey
from core import keys
from core.limiter import FailureLimiter, QuotaLimiter, QuotaUnavailable
from core.redis import client as redis_client
from core.redis import key as redis_key

logger = logging.getLogger(__name__)
_local: dict[str, tuple[float, dict | None]] = {}
_usage: dict[str, list] = {}  # key id -> [count, last used epoch]
_usage_lock = threading.Lock()
_last_flush = [time.monotonic()]
_limiter = FailureLimiter("gateway:fail", "GATEWAY_FAILURES_PER_MINUTE")
_blocked = _limiter.blocked  # client address -> blocked until (monotonic)
quotas = QuotaLimiter("gateway:quota")  # per key: rate limit and daily quota (one Lua call per check)
USAGE_FLUSH_SECONDS = 5.0
REDIS_RECORD_SECONDS = 300
USAGE_HASH = "gateway:usage"


@dataclass(frozen=True)
class Verdict:
    status: int  # 200, 401, 403, 429
    code: str
    detail: str
    consumer: str = ""
    team: str = ""
    key_id: str = ""
    headers: tuple = ()  # (name, value) pairs for the gateway to pass on: RateLimit*, Deprecation, Sunset, Link


def _record_key(key_id: str) -> str:
    return redis_key(f"gateway:key:{key_id}")


def _generation_key(key_id: str) -> str:
    return redis_key(f"gateway:keygen:{key_id}")


# Store the record only if no invalidation bumped the generation since it was read. Run by
# SHA (EVALSHA; redis-py loads it again after a server restart).
_SET_IF_SAME_GENERATION = Script(
    None,
    b"""
if (redis.call('GET', KEYS[2]) or '') == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[2], 'EX', tonumber(ARGV[3]))
  return 1
end
return 0
""",
)


def _store_if_unchanged(key_id: str, generation: str, record: dict) -> bool:
    try:
        stored = _SET_IF_SAME_GENERATION(
            keys=[_record_key(key_id), _generation_key(key_id)],
            args=[generation, json.dumps(record), REDIS_RECORD_SECONDS],
            client=redis_client(),
        )
    except RedisError:
        return False
    return bool(stored)


def _load(key_id: str) -> dict | None:
    """The key's verification record from Redis, else the database (then cached). With
    Redis down every lookup goes to the database: slower, still correct."""
    generation = None
    try:
        raw, gen = redis_client().mget(_record_key(key_id), _generation_key(key_id))
        if raw is not None:
            return json.loads(raw) or None
        generation = gen.decode() if gen is not None else ""
    except RedisError:
        pass
    key = ApiKey.objects.filter(key_id=key_id).select_related("api__successor", "consumer__team").first()
    if key is None:
        record = {}
    else:
        record = {
            "hash": key.secret_hash,
            "api": key.api.slug,
            "consumer": key.consumer.slug,
            "team": key.consumer.team.slug,
            "status": key.status,
            "revoked": key.revoked_at is not None,
            "expires": key.expires_at.timestamp() if key.expires_at else None,
            "scopes": key.scopes,
            "rate": [key.rate_limit, ApiKey.RATE_PERIODS[key.rate_period]] if key.rate_limit else None,
            "quota": key.daily_quota,
            "lifecycle": _lifecycle(key.api),
        }
    if generation is not None:
        _store_if_unchanged(key_id, generation, record)
    return record or None


def _lifecycle(api) -> dict | None:
    """What the gateway says about a deprecated API: the headers of a successful answer and the
    sunset instant (epoch seconds) from which it refuses."""
    if api.deprecated_at is None:
        return None
    headers = [["Deprecation", f"@{int(api.deprecated_at.timestamp())}"]]  # RFC 9745: an sf-date
    sunset = api.sunset_at.timestamp() if api.sunset_at else None
    if sunset is not None:
        headers.append(["Sunset", formatdate(sunset, usegmt=True)])  # RFC 8594: an HTTP-date
    if api.successor is not None:
        headers.append(["Link", f'<{api.successor.base_path}>; rel="successor-version"'])
    return {"sunset": sunset, "headers": headers, "successor": api.successor.slug if api.successor else ""}


def _record(key_id: str) -> dict | None:
    now = time.monotonic()
    hit = _local.get(key_id)
    if hit is not None and now - hit[0] < settings.KEY_LOCAL_CACHE_SECONDS:
        return hit[1]
    record = _load(key_id)
    if len(_local) > 100_000:
        _local.clear()
    _local[key_id] = (now, record)
    return record


def key_cache_forget(*key_ids: str) -> None:
    """Drop these keys' records here and in Redis; other processes re-read within
    KEY_LOCAL_CACHE_SECONDS."""
    key_ids = tuple(k for k in key_ids if k)
    if not key_ids:
        return
    for key_id in key_ids:
        _local.pop(key_id, None)
    try:
        pipe = redis_client().pipeline()
        for key_id in key_ids:
            pipe.incr(_generation_key(key_id))
            pipe.expire(_generation_key(key_id), 2 * REDIS_RECORD_SECONDS)
            pipe.delete(_record_key(key_id))
        pipe.execute()
    except RedisError:
        # Redis is down, so no process can read the stale copy from it either; when it
        # comes back its copy may be up to REDIS_RECORD_SECONDS old. Say so loudly.
        logger.error("could not drop the cached records of keys %s from Redis", ", ".join(key_ids[:20]))


def key_records_forget_on_commit(key_ids) -> None:
    """After the current transaction commits, drop the records of these keys (a delete,
    transfer or rename that changes what their verification answers)."""
    key_ids = tuple(k for k in key_ids if k)
    if key_ids:
        transaction.on_commit(lambda: key_cache_forget(*key_ids))


def _count_use(key_id: str) -> None:
    with _usage_lock:
        slot = _usage.setdefault(key_id, [0, 0.0])
        slot[0] += 1
        slot[1] = time.time()
        due = time.monotonic() - _last_flush[0] >= USAGE_FLUSH_SECONDS
    if due:
        usage_push()


def usage_push() -> None:
    """Add this process's counted uses to Redis (one pipeline)."""
    with _usage_lock:
        pending = dict(_usage)
        _usage.clear()
        _last_flush[0] = time.monotonic()
    if not pending:
        return
    try:
        pipe = redis_client().pipeline()
        name = redis_key(USAGE_HASH)
        for key_id, (count, last) in pending.items():
            pipe.hincrby(name, f"{key_id}:n", count)
            pipe.hset(name, f"{key_id}:t", last)
        pipe.execute()
    except RedisError as exc:  # Redis down: usage counts are best effort, verification is not
        logger.warning("gateway usage not recorded: %s", type(exc).__name__)


def usage_drain() -> dict[str, tuple[int, object]]:
    """Take the usage accumulated in Redis: {key id: (uses, last used datetime)}."""
    usage_push()
    pipe = redis_client().pipeline()
    pipe.hgetall(redis_key(USAGE_HASH))
    pipe.delete(redis_key(USAGE_HASH))
    raw, _ = pipe.execute()
    out: dict[str, list] = {}
    for field, value in raw.items():
        key_id, _, kind = field.decode().rpartition(":")
        slot = out.setdefault(key_id, [0, None])
        if kind == "n":
            slot[0] = int(value)
        else:
            slot[1] = datetime.fromtimestamp(float(value), tz=UTC)
    return {k: (n, t) for k, (n, t) in out.items()}


def _fail(client_ip: str, verdict: Verdict) -> Verdict:
    """Count a failed attempt for the client's address; too many in a minute blocks it."""
    _limiter.fail(client_ip)
    return verdict


def _quota_check(key_id: str, record: dict, now: float) -> Verdict | tuple:
    """The key's rate limit and daily quota: the RateLimit headers to add, or a refusal."""
    rate, quota = record.get("rate"), record.get("quota")
    if not rate and not quota:
        return ()
    try:
        got = quotas.check(key_id, limit=rate[0] if rate else None, period=rate[1] if rate else 1, quota=quota, now=now)
    except QuotaUnavailable as exc:
        if settings.GATEWAY_QUOTA_REDIS_DOWN == "closed":
            return Verdict(
                503,
                "quota_unavailable",
                "The key's quota cannot be checked right now; try again shortly.",
                key_id=key_id,
                headers=(("Retry-After", "5"),),
            )
        logger.warning("gateway: quota of key %s not checked (Redis: %s); let through", key_id, exc)
        return ()
    headers = tuple(got.headers.items())
    if got.allowed:
        return headers
    if got.reason == "quota":
        code, detail = "quota_exceeded", f"The key's daily quota of {quota} requests is used up (UTC day)."
    else:
        code, detail = "rate_limited", f"The key may make {rate[0]} requests per {rate[1]} s; slow down."
    return Verdict(429, code, detail, key_id=key_id, headers=(*headers, ("Retry-After", str(got.retry_after))))


def key_verify(
    *, raw_key: str, target_api: str, client_ip: str, method: str, path: str, now: float | None = None
) -> Verdict:
    """May this key call ``method path`` (as the gateway received it, query included) of
    this API? 200, or 401/403/429 with a machine-readable code. ``now`` (epoch seconds) is the
    clock for expiry, sunset and quotas (tests move it; default: the time now)."""
    now = time.time() if now is None else now
    if _limiter.retry_after(client_ip) is not None:
        return Verdict(429, "rate_limited", "Too many failed attempts from this address; try again later.")
    if not raw_key:
        return _fail(client_ip, Verdict(401, "key_missing", "Send the key in X-Api-Key or 'Authorization: Api-Key'."))
    parsed = keys.parse(raw_key)
    if parsed is None:
        return _fail(client_ip, Verdict(401, "key_malformed", "The key is not a well-formed Switchboard key."))
    key_id, secret = parsed
    record = _record(key_id)
    if record is None or not keys.secret_matches(secret, record["hash"]):
        return _fail(client_ip, Verdict(401, "key_unknown", "No such key."))
    state = ApiKey.state_of(
        status=record["status"], revoked=record["revoked"], expires_epoch=record["expires"], now_epoch=now
    )
    if state in (ApiKey.STATE_PENDING, ApiKey.STATE_REJECTED):
        return _fail(client_ip, Verdict(401, "key_unknown", "No such key."))
    if state == ApiKey.STATE_REVOKED:
        return _fail(client_ip, Verdict(401, "key_revoked", "The key was revoked.", key_id=key_id))
    if state == ApiKey.STATE_EXPIRED:
        return _fail(client_ip, Verdict(401, "key_expired", "The key has expired.", key_id=key_id))
    if record["api"] != target_api:
        return _fail(client_ip, Verdict(403, "wrong_api", "The key is not valid for this API.", key_id=key_id))
    try:
        method, path = normalise_method(method), normalise_path(path)
    except PathInvalid as exc:
        return _fail(client_ip, Verdict(403, "path_invalid", f"The request path has {exc}.", key_id=key_id))
    if record["scopes"] and not scope_allows(record["scopes"], method, path):
        return _fail(
            client_ip, Verdict(403, "scope_denied", "The key's scopes do not cover this request.", key_id=key_id)
        )
    lifecycle = record.get("lifecycle")
    headers: tuple = tuple(tuple(h) for h in lifecycle["headers"]) if lifecycle else ()
    if lifecycle and lifecycle["sunset"] is not None and lifecycle["sunset"] <= now:
        return Verdict(
            403,
            "api_sunset",
            f"API '{record['api']}' reached its sunset"
            + (f"; use '{lifecycle['successor']}'." if lifecycle["successor"] else "."),
            key_id=key_id,
            headers=headers,
        )
    quota = _quota_check(key_id, record, now)
    if isinstance(quota, Verdict):
        return quota
    _count_use(key_id)
    return Verdict(
        200, "ok", "", consumer=record["consumer"], team=record["team"], key_id=key_id, headers=headers + quota
    )
