"""Tracing backends' dependency APIs over a lookback window: Zipkin ``/api/v2/dependencies``
and Jaeger ``/api/dependencies``. Their targets are the enabled ``TracingSource`` rows."""

from __future__ import annotations

import time

from graph.discovery.fetch import fetch
from graph.discovery.parse import ParseError, parse_jaeger, parse_zipkin
from graph.discovery.sources.base import Observation, ObserveContext, ObservedEdge, SourceTarget, body_facts, join_url


class TracingDependencySource:
    name: str
    path: str
    ages = "evidence"

    @staticmethod
    def parse(body: bytes):
        raise NotImplementedError

    def targets(self) -> list[SourceTarget]:
        from graph.models import TracingSource

        return [
            SourceTarget(
                source=self.name,
                key=t.name,
                label=f"{self.name}:{t.name}",  # also the evidence name its edges carry
                params={"base_url": t.base_url, "lookback_minutes": t.lookback_minutes, "aggregator": t.aggregator},
            )
            for t in TracingSource.objects.filter(enabled=True, kind=self.name)
        ]

    async def observe(self, target: SourceTarget, ctx: ObserveContext) -> Observation:
        lookback, limits = target.params["lookback_minutes"], ctx.limits
        result = Observation(target=target.label, source=target.label, window_seconds=lookback * 60.0)
        end_ms = int(time.time() * 1000)
        url = f"{join_url(target.params['base_url'], self.path)}?endTs={end_ms}&lookback={lookback * 60000}"
        got = await fetch(ctx.session, url, allowed=limits.allowed, max_bytes=limits.max_bytes, timeout=limits.timeout)
        result.status_code, result.latency_ms = got.status, round(got.latency_ms, 2)
        if not got.ok:
            result.error = got.error
            return result
        try:
            outcome = self.parse(got.body)
        except ParseError as exc:
            result.error = f"{exc} ({body_facts(got)})"
            return result
        result.ok, result.skipped = True, outcome.skipped
        for call in outcome.calls:
            if not target.params["aggregator"]:  # only a superuser's registered aggregator reports others' calls
                result.skipped += 1
                result.foreign_callers += 1
                continue
            caller = ctx.index.service_for_name(call.caller)
            if caller is None:
                result.skipped += 1
                continue
            dst = ctx.index.resolve(call)
            if not (dst.kind == "service" and dst.key == caller):
                result.edges.append(ObservedEdge(caller, dst, call.calls, call.errors))
        return result


class ZipkinSource(TracingDependencySource):
    name = "zipkin"
    path = "/api/v2/dependencies"
    parse = staticmethod(parse_zipkin)


class JaegerSource(TracingDependencySource):
    name = "jaeger"
    path = "/api/dependencies"
    parse = staticmethod(parse_jaeger)
