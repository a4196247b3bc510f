"""A service's own Prometheus metrics endpoint; the crawled service is the caller."""

from __future__ import annotations

import time

from graph.discovery.fetch import fetch
from graph.discovery.parse import ParseError, parse_exposition
from graph.discovery.sources.base import Observation, ObserveContext, ObservedEdge, SourceTarget, body_facts, join_url


def service_targets(source: str) -> list[SourceTarget]:
    """Every crawlable catalogued service, as a target of ``source`` (labelled by its slug,
    so the service's metrics and health give one result)."""
    from catalog.selectors import crawl_targets

    return [
        SourceTarget(
            source=source,
            key=row["slug"],
            label=row["slug"],
            service_id=row["id"],
            params={
                "base_url": row["base_url"],
                "metrics_path": row["metrics_path"],
                "health_path": row["health_path"],
            },
        )
        for row in crawl_targets()
    ]


class PrometheusSource:
    """Series that name another caller (Istio's ``source_workload``, Tempo's ``client``)
    count only when the source is an aggregator (a service's own /metrics never is)."""

    name = "prometheus"
    ages = "service"
    aggregator = False

    def targets(self) -> list[SourceTarget]:
        return service_targets(self.name)

    async def observe(self, target: SourceTarget, ctx: ObserveContext) -> Observation:
        slug, limits = target.key, ctx.limits
        result = Observation(target=target.label, source=self.name, service_slug=slug)
        got = await fetch(
            ctx.session,
            join_url(target.params["base_url"], target.params["metrics_path"]),
            allowed=limits.allowed,
            max_bytes=limits.max_bytes,
            timeout=limits.timeout,
        )
        result.status_code, result.latency_ms = got.status, round(got.latency_ms, 2)
        result.observed_at_ms = int(time.time() * 1000)  # the counters' moment: before parsing, not after
        if not got.ok:
            result.error = f"metrics: {got.error}"
            return result
        try:
            text = got.body.decode("utf-8")
            outcome = parse_exposition(text, ctx.rules, max_series=limits.max_series)
        except UnicodeDecodeError as exc:
            result.error = f"metrics: body is not UTF-8 text at byte {exc.start} ({body_facts(got)})"
            return result
        except ParseError as exc:
            result.error = f"metrics: {exc} ({body_facts(got)})"
            return result
        result.ok, result.skipped = True, outcome.skipped
        for call in outcome.calls:
            src = slug if call.caller is None else ctx.index.service_for_name(call.caller)
            if src != slug and not self.aggregator:
                result.skipped += 1
                result.foreign_callers += 1
                continue
            if src is None:
                result.skipped += 1
                continue
            dst = ctx.index.resolve(call)
            if dst.kind == "service" and dst.key == src:
                continue  # a service calling itself (health checks, loopback) is not a dependency
            result.edges.append(ObservedEdge(src, dst, call.calls, call.errors, latency=call.latency))
        return result
