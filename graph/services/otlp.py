"""OTLP push: ingestion keys (issue, revoke), the receiver's ingestion (authenticate,
decode, aggregate, one Redis pipeline per request into bounded buffers) and the drain the
OTLP discovery source calls when a crawl is planned. Neo4j is never written here: the
crawl's tasks write the drained aggregates in batches like every other source's edges.

Redis (under the cache prefix): ``otlp:q:<svc>`` a list of per-request aggregates of spans
and delta points; ``otlp:c:<svc>`` the latest point of each cumulative series; ``otlp:p:<svc>``
those points as last drained (deltas are taken against them); ``otlp:last:<svc>`` when the
service was last drained (ms); ``otlp:svcs`` services with something to drain;
``otlp:pending`` buffered entries over all services, staged ones included (the bound behind
429); ``otlp:s:<svc>``, ``otlp:sp:<svc>``, ``otlp:st:<svc>`` and ``otlp:staged``: what a drain
staged until its run settles it (below)."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field

from django.conf import settings
from django.db import transaction

from core import keys as keyformat
from core import redis as core_redis
from core.audit import audit_record, snapshot
from core.errors import Conflict, InvalidInput
from core.limiter import FailureLimiter
from graph.discovery import otlp

_PENDING = "otlp:pending"
_SERVICES = "otlp:svcs"


def _q(svc: str) -> str:
    return core_redis.key(f"otlp:q:{svc}")


def _c(svc: str) -> str:
    return core_redis.key(f"otlp:c:{svc}")


def _p(svc: str) -> str:
    return core_redis.key(f"otlp:p:{svc}")


def _last(svc: str) -> str:
    return core_redis.key(f"otlp:last:{svc}")


# --- Ingestion keys -------------------------------------------------------------------------
def _require_team_member(actor, service) -> None:
    from teams import permissions

    permissions.require(
        permissions.can_manage_assets(actor, service.team),
        actor,
        f"Only members of team {service.team.slug} (or its org's admins) manage ingestion keys of {service.slug}.",
    )


def ingest_key_issue(*, actor, service: str, name: str, may_report_for: list[str] = ()):
    """A new ingestion key for ``service`` (a slug); returns (key, the full key, shown once).
    ``may_report_for``: other services (slugs) whose telemetry the key may carry, e.g. for
    a collector; the actor must manage each of them too."""
    from catalog import selectors as catalog_selectors
    from graph.models import IngestKey

    name = (name or "").strip()
    if not name or len(name) > 100:
        raise InvalidInput(
            "Name the key (1 to 100 characters).", fields={"name": ["Required, at most 100 characters."]}
        )
    try:
        owner = catalog_selectors.service_get(slug=service)
    except Exception:
        raise InvalidInput(f"No service {service!r}.", fields={"service": ["Unknown service."]}) from None
    _require_team_member(actor, owner)
    others = []
    for slug in dict.fromkeys(may_report_for or ()):
        try:
            other = catalog_selectors.service_get(slug=slug)
        except Exception:
            raise InvalidInput(
                f"No service {slug!r}.", fields={"may_report_for": [f"Unknown service {slug!r}."]}
            ) from None
        _require_team_member(actor, other)
        if other.pk != owner.pk:
            others.append(other)
    raw, key_id, secret_hash = keyformat.generate()
    with transaction.atomic():
        key = IngestKey.objects.create(
            service=owner, name=name, key_id=key_id, secret_hash=secret_hash, created_by=actor.username
        )
        key.may_report_for.set(others)
        audit_record(actor=actor, action="ingest_key.issue", obj=key, after=snapshot(key))
    return key, raw


def ingest_key_revoke(*, actor, key, reason: str):
    """Irreversible; the receiver refuses the key within ``KEY_LOCAL_CACHE_SECONDS``."""
    from django.utils import timezone

    from graph.models import IngestKey

    _require_team_member(actor, key.service)
    if not (reason or "").strip():
        raise InvalidInput("Say why the key is revoked.", fields={"reason": ["Required."]})
    with transaction.atomic():
        key = IngestKey.objects.select_for_update().select_related("service__team").get(pk=key.pk)
        if key.revoked_at is not None:
            raise Conflict(f"Ingestion key {key.key_id} is already revoked.", code="already_revoked")
        before = snapshot(key)
        key.revoked_at, key.revoked_by, key.revoked_reason = timezone.now(), actor.username, reason.strip()[:500]
        key.save(update_fields=["revoked_at", "revoked_by", "revoked_reason"])
        audit_record(actor=actor, action="ingest_key.revoke", obj=key, before=before, after=snapshot(key))
    return key


# --- The receiver ---------------------------------------------------------------------------
_keys: dict[str, tuple[float, dict | None]] = {}  # key id -> (trusted until, record): per process


def _key_record(key_id: str) -> dict | None:
    from graph import selectors

    now = time.monotonic()
    hit = _keys.get(key_id)
    if hit is not None and hit[0] > now:
        return hit[1]
    record = selectors.ingest_key_record(key_id=key_id)
    if len(_keys) > 10_000:
        _keys.clear()
    _keys[key_id] = (now + settings.KEY_LOCAL_CACHE_SECONDS, record)
    return record


def authenticate(authorization: str, api_key: str) -> frozenset[str] | None:
    """The services a presented key may report for, or None (no, malformed, unknown or
    revoked key). ``X-Api-Key: <key>`` or ``Authorization: Bearer <key>``."""
    parsed = keyformat.parse(keyformat.presented(authorization, api_key, scheme="bearer"))
    if parsed is None:
        return None
    key_id, secret = parsed
    record = _key_record(key_id)
    if record is None or record["revoked"] or not keyformat.secret_matches(secret, record["secret_hash"]):
        return None
    return frozenset(record["allowed"])


@dataclass
class Answer:
    status: int
    body: bytes
    content_type: str
    headers: dict = field(default_factory=dict)


def _fail(status: int, code: str, detail: str, content_type: str, headers: dict | None = None) -> Answer:
    kind = otlp.JSON if otlp.media_type(content_type) == otlp.JSON else otlp.PROTOBUF
    return Answer(status, otlp.failure(status, code, detail, kind), kind, {"X-Error-Code": code, **(headers or {})})


def _rule_names() -> tuple[frozenset[str], frozenset[str]]:
    from graph.discovery.rules import metric_rules

    samples = set()
    for rule in metric_rules():
        samples.add(rule["sample"])
        if rule.get("errors_sample"):
            samples.add(rule["errors_sample"])
    histograms = frozenset(s[: -len("_count")] for s in samples if s.endswith("_count"))
    return frozenset(samples), histograms


_limiter = FailureLimiter("otlp:fail", "OTLP_FAILURES_PER_MINUTE")


def otlp_receive(
    *,
    signal: str,
    authorization: str,
    api_key: str,
    content_type: str,
    content_encoding: str,
    length,
    read,
    client_ip: str = "",
) -> Answer:
    """One OTLP/HTTP export request (``signal``: traces or metrics) into the buffers.
    ``read(n)`` reads at most n bytes of the body. Refusals: 401 without a usable key, 415 for
    another media type or encoding, 413 over ``OTLP_MAX_BODY_BYTES`` (or its decompressed
    size over ``OTLP_MAX_DECODED_BYTES``), 400 for a body that is not an export request,
    429 when the buffers hold ``OTLP_BUFFER_MAX_ENTRIES``, 503 when Redis does not answer.
    Every 401 counts against ``client_ip``; past ``OTLP_FAILURES_PER_MINUTE`` in a minute the
    address gets 429 ``rate_limited`` with ``Retry-After`` before any key is parsed or hashed."""
    from redis.exceptions import RedisError

    wait = _limiter.retry_after(client_ip)
    if wait is not None:
        return _fail(
            429,
            "rate_limited",
            "too many failed key attempts from this address; retry later",
            content_type,
            {"Retry-After": str(wait)},
        )
    allowed = authenticate(authorization or "", api_key or "")
    if allowed is None:
        _limiter.fail(client_ip)
        return _fail(
            401, "key_missing_or_invalid", "present an active ingestion key (Authorization: Bearer)", content_type
        )
    kind = otlp.media_type(content_type)
    if kind not in (otlp.PROTOBUF, otlp.JSON):
        return _fail(415, "unsupported_media_type", f"send {otlp.PROTOBUF} or {otlp.JSON}", content_type)
    encoding = (content_encoding or "").strip().lower()
    if encoding not in ("", "identity", "gzip"):
        return _fail(415, "unsupported_encoding", "Content-Encoding may be gzip or none", content_type)
    cap = settings.OTLP_MAX_BODY_BYTES
    if length is not None and length > cap:
        return _fail(413, "body_too_large", f"the body is over {cap} bytes", content_type)
    body = read(cap + 1)
    if len(body) > cap:
        return _fail(413, "body_too_large", f"the body is over {cap} bytes", content_type)
    try:
        if encoding == "gzip":
            body = otlp.gunzip(body, max_bytes=settings.OTLP_MAX_DECODED_BYTES)
        redis = core_redis.client()
        try:
            pending = int(redis.get(core_redis.key(_PENDING)) or 0)
        except RedisError:
            return _fail(503, "ingestion_unavailable", "the ingestion buffer does not answer", kind, _retry())
        if pending >= settings.OTLP_BUFFER_MAX_ENTRIES:
            return _fail(429, "ingestion_behind", "ingestion is behind; retry later", kind, _retry())
        message = otlp.decode(body, kind, signal)
    except otlp.OtlpError as exc:
        return _fail(exc.status, exc.code, exc.detail, kind)
    now_ns = time.time_ns()
    if signal == "traces":
        batch = otlp.aggregate_traces(
            message,
            allowed=allowed,
            now_ns=now_ns,
            max_resources=settings.OTLP_MAX_RESOURCES,
            max_edges=settings.OTLP_MAX_PEERS_PER_SERVICE,
        )
    else:
        counters, histograms = _rule_names()
        batch = otlp.aggregate_metrics(
            message,
            allowed=allowed,
            counters=counters,
            histograms=histograms,
            max_resources=settings.OTLP_MAX_RESOURCES,
            max_series=settings.OTLP_MAX_SERIES_PER_SERVICE,
        )
    try:
        _buffer(redis, batch, now_ns // 1_000_000)
    except RedisError:
        return _fail(503, "ingestion_unavailable", "the ingestion buffer does not answer", kind, _retry())
    return Answer(200, otlp.success(signal, batch.rejected, batch.message(), kind), kind)


def _retry() -> dict:
    return {"Retry-After": str(settings.OTLP_RETRY_AFTER_SECONDS)}


def _buffer(redis, batch: otlp.Batch, now_ms: int) -> None:
    """One pipeline for the whole request."""
    entries = 0
    pipe = redis.pipeline(transaction=False)
    for svc, data in batch.services.items():
        if data.edges or data.delta:
            since = min(now_ms, data.first_ns // 1_000_000) if data.first_ns else now_ms
            entry = {"t": now_ms, "s": since, "e": data.edges, "d": data.delta}
            pipe.rpush(_q(svc), json.dumps(entry, separators=(",", ":")))
            entries += 1
        if data.cumulative:
            pipe.hset(_c(svc), mapping={k: json.dumps(v, separators=(",", ":")) for k, v in data.cumulative.items()})
        if data.edges or data.delta or data.cumulative:
            pipe.sadd(core_redis.key(_SERVICES), svc)
    if entries:
        pipe.incrby(core_redis.key(_PENDING), entries)
    if len(pipe):
        pipe.execute()


# --- The drain (at crawl planning) and its settlement (after the run's graph write) ----------
# A drain stages, it does not delete: the service's buffered entries move to ``otlp:s:<svc>``
# and the cumulative points it differenced against become ``otlp:sp:<svc>`` (the next
# ``otlp:p``), under a token in ``otlp:st:<svc>`` that the target carries. Only
# ``otlp_settle(svc, token)``, once the run's results are merged into Neo4j, deletes the
# staged entries and makes the staged points and window start current. A run whose merge
# fails, whose worker dies or that is abandoned leaves them staged: the next drain takes
# them again with whatever arrived since (and a new token), over the window since the last
# settled drain.
_STAGED = "otlp:staged"

_STAGE = """
if redis.call('EXISTS', KEYS[2]) == 0 then
  if redis.call('EXISTS', KEYS[1]) == 1 then redis.call('RENAME', KEYS[1], KEYS[2]) end
else
  while redis.call('LMOVE', KEYS[1], KEYS[2], 'LEFT', 'RIGHT') do end
end
redis.call('SREM', KEYS[3], ARGV[1])
redis.call('SADD', KEYS[4], ARGV[1])
redis.call('HSET', KEYS[5], 'token', ARGV[2], 'last', ARGV[3])
return redis.call('LRANGE', KEYS[2], 0, -1)
"""

_SETTLE = """
if redis.call('HGET', KEYS[1], 'token') ~= ARGV[1] then return 0 end
local n = redis.call('LLEN', KEYS[2])
redis.call('DEL', KEYS[2])
if redis.call('EXISTS', KEYS[3]) == 1 then redis.call('RENAME', KEYS[3], KEYS[4]) else redis.call('DEL', KEYS[4]) end
redis.call('SET', KEYS[5], redis.call('HGET', KEYS[1], 'last'))
redis.call('DEL', KEYS[1])
redis.call('SREM', KEYS[6], ARGV[2])
if redis.call('DECRBY', KEYS[7], n) < 0 then redis.call('SET', KEYS[7], 0) end
return 1
"""


def _s(svc: str) -> str:
    return core_redis.key(f"otlp:s:{svc}")


def _sp(svc: str) -> str:
    return core_redis.key(f"otlp:sp:{svc}")


def _st(svc: str) -> str:
    return core_redis.key(f"otlp:st:{svc}")


def otlp_drain() -> list[dict]:
    """Take what every reporting service pushed since its last settled drain: per service,
    its peers (calls, errors, duration buckets) and its metric series' deltas as an
    exposition the metric rules read, with the window they cover and the ``token`` that
    settles them (``otlp_settle``). Cumulative series are differenced against the points
    last settled (a new start time or a falling count is a restart). Staged atomically per
    service: a request that arrives meanwhile is in the next drain."""
    import uuid

    redis = core_redis.client()
    now_ms = int(time.time() * 1000)
    stage = redis.register_script(_STAGE)
    names = redis.smembers(core_redis.key(_SERVICES)) | redis.smembers(core_redis.key(_STAGED))
    out = []
    for raw_svc in sorted(names):
        svc = raw_svc.decode()
        token = uuid.uuid4().hex
        keys = [_q(svc), _s(svc), core_redis.key(_SERVICES), core_redis.key(_STAGED), _st(svc)]
        entries = stage(keys=keys, args=[svc, token, now_ms])
        pipe = redis.pipeline(transaction=True)
        pipe.hgetall(_c(svc))
        pipe.hgetall(_p(svc))
        pipe.get(_last(svc))
        current, previous, last = pipe.execute()
        drained = _drained(redis, svc, entries, current, previous, last, now_ms)
        if drained["edges"] or drained["exposition"]:
            out.append({**drained, "token": token})
        else:
            otlp_settle(svc, token)  # nothing to merge, nothing to lose
    return out


def otlp_settle(svc: str, token: str) -> bool:
    """The run that drained ``svc`` with ``token`` has merged it: drop the staged entries and
    make the staged points and window current. False (and nothing changes) when a later
    drain has taken the staged data again."""
    redis = core_redis.client()
    keys = [_st(svc), _s(svc), _sp(svc), _p(svc), _last(svc), core_redis.key(_STAGED), core_redis.key(_PENDING)]
    return bool(redis.register_script(_SETTLE)(keys=keys, args=[token, svc]))


def _drained(redis, svc, entries, current, previous, last, now_ms) -> dict:
    max_peers = settings.OTLP_MAX_PEERS_PER_SERVICE
    edges: dict[str, list[float]] = {}
    delta: dict[str, list] = {}
    skipped = 0
    first = now_ms
    for raw in entries:
        entry = json.loads(raw)
        first = min(first, entry.get("s", entry["t"]))
        for key, slot in entry["e"].items():
            have = edges.get(key)
            if have is None:
                if len(edges) >= max_peers:
                    skipped += 1
                    continue
                edges[key] = slot
            else:
                edges[key] = [a + b for a, b in zip(have, slot, strict=True)]
        for sid, (base, labels, value, bounds, counts) in entry["d"].items():
            have = delta.get(sid)
            if have is None:
                delta[sid] = [base, labels, value, bounds, counts]
            elif have[3] == bounds:
                have[2] += value
                if counts:
                    have[4] = [a + b for a, b in zip(have[4], counts, strict=True)]
    samples = list(delta.values())
    # Cumulative series: deltas since the last drain; series unreported for the edge TTL go.
    expired_before = (now_ms - settings.DISCOVERY_EDGE_TTL * 1000) * 1_000_000
    drained, expired = {}, []
    for sid, raw in current.items():
        point = json.loads(raw)
        if point[3] < expired_before:
            expired.append(sid)
            continue
        before = json.loads(previous[sid]) if sid in previous else None
        d = otlp.cumulative_delta(point, before)
        if d is not None:
            samples.append(d)
            if before is None:
                first = min(first, point[2] // 1_000_000 or first)
        drained[sid] = json.dumps([point[2], point[4], point[6]], separators=(",", ":"))
    staged = {k: v for k, v in previous.items() if k not in expired}
    staged.update(drained)
    pipe = redis.pipeline(transaction=True)
    pipe.delete(_sp(svc))
    if staged:
        pipe.hset(_sp(svc), mapping=staged)
    if expired:
        pipe.hdel(_c(svc), *expired)
        pipe.hdel(_p(svc), *expired)
    pipe.execute()
    since = int(last) if last else first
    return {
        "service": svc,
        "window": max(1.0, (now_ms - since) / 1000.0),
        "edges": [[k, *v] for k, v in edges.items()],
        "exposition": otlp.exposition(samples),
        "skipped": skipped,
    }
