"""Discovery sources: each fetches one kind of telemetry and turns it into observed calls.
``crawl`` runs them concurrently for a list of targets."""

from __future__ import annotations

import asyncio
import re
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from graph.discovery.fetch import fetch, make_session
from graph.discovery.matching import CatalogIndex, Target
from graph.discovery.parse import ParseError, parse_exposition, parse_jaeger, parse_zipkin


@dataclass(frozen=True)
class FetchLimits:
    allowed: list
    max_bytes: int
    timeout: float
    concurrency: int
    max_series: int


@dataclass(frozen=True)
class ServiceTarget:
    slug: str
    base_url: str
    metrics_path: str
    health_path: str


@dataclass(frozen=True)
class TracingTarget:
    name: str
    kind: str  # zipkin | jaeger
    base_url: str
    lookback_minutes: int
    # Registered by a superuser as an aggregator: may report calls between any services.
    aggregator: bool = False


@dataclass(frozen=True)
class ObservedEdge:
    src: str
    target: Target
    calls: float
    errors: float


@dataclass
class TargetResult:
    target: str
    source: str  # the evidence name edges carry: "prometheus", "zipkin:<name>", ...
    service_slug: str | None = None
    ok: bool = False
    error: str = ""
    status_code: int | None = None
    latency_ms: float | None = None
    health: str = ""
    skipped: int = 0  # includes foreign_callers
    # Series naming a caller other than the crawled service, from a source that is not a
    # registered aggregator: skipped, so no one can forge another service's calls.
    foreign_callers: int = 0
    window_seconds: float | None = None  # None: counters are cumulative
    edges: list[ObservedEdge] = field(default_factory=list)


def _join(base: str, path: str) -> str:
    return base.rstrip("/") + path


_MEDIA_TYPE = re.compile(r"^[a-z0-9][a-z0-9!#$&^_.+-]{0,63}/[a-z0-9][a-z0-9!#$&^_.+-]{0,63}$")


def _body_facts(got) -> str:
    """What an error may say about a body: its media type (parameters dropped) and size.
    Never its content: crawl results are read by every signed-in user."""
    media = got.content_type.split(";", 1)[0].strip().lower()
    media = media if _MEDIA_TYPE.match(media) else ("no content type" if not media else "unrecognised content type")
    return f"{media}, {len(got.body)} bytes"


class PrometheusSource:
    """The service's own metrics endpoint; the crawled service is the caller. Series that
    name another caller (Istio's ``source_workload``, Tempo's ``client``) count only when
    the source is an aggregator (none today: a service's own /metrics never is)."""

    name = "prometheus"

    def __init__(self, rules: list[dict], *, aggregator: bool = False):
        self.rules = rules
        self.aggregator = aggregator

    async def observe(self, session, svc: ServiceTarget, index: CatalogIndex, limits: FetchLimits) -> TargetResult:
        result = TargetResult(target=svc.slug, source=self.name, service_slug=svc.slug)
        got = await fetch(
            session,
            _join(svc.base_url, svc.metrics_path),
            allowed=limits.allowed,
            max_bytes=limits.max_bytes,
            timeout=limits.timeout,
        )
        result.status_code, result.latency_ms = got.status, round(got.latency_ms, 2)
        if not got.ok:
            result.error = f"metrics: {got.error}"
            return result
        try:
            text = got.body.decode("utf-8")
            outcome = parse_exposition(text, self.rules, max_series=limits.max_series)
        except UnicodeDecodeError as exc:
            result.error = f"metrics: body is not UTF-8 text at byte {exc.start} ({_body_facts(got)})"
            return result
        except ParseError as exc:
            result.error = f"metrics: {exc} ({_body_facts(got)})"
            return result
        result.ok, result.skipped = True, outcome.skipped
        for call in outcome.calls:
            src = svc.slug if call.caller is None else index.service_for_name(call.caller)
            if src != svc.slug and not self.aggregator:
                result.skipped += 1
                result.foreign_callers += 1
                continue
            if src is None:
                result.skipped += 1
                continue
            target = index.resolve(call)
            if target.kind == "service" and target.key == src:
                continue  # a service calling itself (health checks, loopback) is not a dependency
            result.edges.append(ObservedEdge(src, target, call.calls, call.errors))
        return result


class HealthSource:
    name = "health"

    async def observe(self, session, svc: ServiceTarget, limits: FetchLimits) -> tuple[str, float]:
        got = await fetch(
            session,
            _join(svc.base_url, svc.health_path),
            allowed=limits.allowed,
            max_bytes=64 * 1024,
            timeout=limits.timeout,
        )
        return ("up" if got.ok else "down"), round(got.latency_ms, 2)


class TracingDependencySource:
    """Zipkin ``/api/v2/dependencies`` or Jaeger ``/api/dependencies`` over a lookback window."""

    paths = {"zipkin": "/api/v2/dependencies", "jaeger": "/api/dependencies"}
    parsers = {"zipkin": staticmethod(parse_zipkin), "jaeger": staticmethod(parse_jaeger)}

    async def observe(self, session, src: TracingTarget, index: CatalogIndex, limits: FetchLimits) -> TargetResult:
        label = f"{src.kind}:{src.name}"
        result = TargetResult(target=label, source=label, window_seconds=src.lookback_minutes * 60.0)
        end_ms = int(time.time() * 1000)
        url = f"{_join(src.base_url, self.paths[src.kind])}?endTs={end_ms}&lookback={src.lookback_minutes * 60000}"
        got = await fetch(session, url, allowed=limits.allowed, max_bytes=limits.max_bytes, timeout=limits.timeout)
        result.status_code, result.latency_ms = got.status, round(got.latency_ms, 2)
        if not got.ok:
            result.error = got.error
            return result
        try:
            outcome = self.parsers[src.kind](got.body)
        except ParseError as exc:
            result.error = f"{exc} ({_body_facts(got)})"
            return result
        result.ok, result.skipped = True, outcome.skipped
        for call in outcome.calls:
            if not src.aggregator:  # only a superuser's registered aggregator reports others' calls
                result.skipped += 1
                result.foreign_callers += 1
                continue
            caller = index.service_for_name(call.caller)
            if caller is None:
                result.skipped += 1
                continue
            target = index.resolve(call)
            if not (target.kind == "service" and target.key == caller):
                result.edges.append(ObservedEdge(caller, target, call.calls, call.errors))
        return result


async def _crawl(services, tracing, index, limits, rules, on_result) -> list[TargetResult]:
    prometheus, health, tracer = PrometheusSource(rules), HealthSource(), TracingDependencySource()
    semaphore = asyncio.Semaphore(limits.concurrency)
    async with make_session(allowed=limits.allowed, concurrency=limits.concurrency) as session:

        async def one_service(svc: ServiceTarget) -> TargetResult:
            async with semaphore:
                # One after the other: the health check reuses the metrics fetch's connection.
                result = await prometheus.observe(session, svc, index, limits)
                result.health, _latency = await health.observe(session, svc, limits)
            on_result(result)
            return result

        async def one_tracer(src: TracingTarget) -> TargetResult:
            async with semaphore:
                result = await tracer.observe(session, src, index, limits)
            on_result(result)
            return result

        tasks = [one_service(s) for s in services] + [one_tracer(t) for t in tracing]
        return list(await asyncio.gather(*tasks))


def crawl(
    services: list[ServiceTarget],
    tracing: list[TracingTarget],
    *,
    index: CatalogIndex,
    limits: FetchLimits,
    rules: list[dict],
    on_result=lambda r: None,
) -> list[TargetResult]:
    """Fetch and parse every target concurrently (bounded); one failure never stops the rest."""
    work = _crawl(services, tracing, index, limits, rules, on_result)
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(work)
    # Called from code that already runs an event loop in this thread: use a thread of our own.
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, work).result()
