"""A central Prometheus-compatible query API (Prometheus, Thanos, Mimir, VictoriaMetrics)
holding the fleet's call metrics: each enabled ``MetricsBackend`` is one target, queried over
its window with instant ``increase`` queries (graph/discovery/promql.py). It reports calls
between other services, so it ages only the edges its own evidence supports."""

from __future__ import annotations

import asyncio
import base64
import time
from urllib.parse import urlencode

from graph.discovery import promql
from graph.discovery.fetch import fetch
from graph.discovery.parse import ParseError, RawCall
from graph.discovery.sources.base import Observation, ObserveContext, ObservedEdge, SourceTarget, body_facts, join_url


def _auth_header(params: dict) -> dict | None:
    from graph.credentials import unseal

    if params["auth"] == "none":
        return {}
    secret = unseal(params["secret_sealed"])
    if secret is None:
        return None
    if params["auth"] == "bearer":
        return {"Authorization": f"Bearer {secret}"}
    token = base64.b64encode(f"{params['username']}:{secret}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


class CentralPrometheusSource:
    name = "central"
    ages = "evidence"

    def targets(self) -> list[SourceTarget]:
        from django.conf import settings

        from graph.models import MetricsBackend

        return [
            SourceTarget(
                source=self.name,
                key=b.name,
                label=f"{self.name}:{b.name}",  # also the evidence name its edges carry
                params={
                    "url": b.url,
                    "auth": b.auth,
                    "username": b.username,
                    "secret_sealed": b.secret_sealed,  # sealed in the chunk message too
                    "window_seconds": b.window_seconds,
                    "rule_sets": [r for r in promql.RULE_SETS if getattr(b, r)],
                    "namespace": settings.DISCOVERY_SERVICE_GRAPH_NAMESPACE,
                },
            )
            for b in MetricsBackend.objects.filter(enabled=True)
        ]

    async def observe(self, target: SourceTarget, ctx: ObserveContext) -> Observation:
        params, limits = target.params, ctx.limits
        window = params["window_seconds"]
        result = Observation(target=target.label, source=target.label, window_seconds=float(window))
        headers = _auth_header(params)
        if headers is None:
            result.error = "credential cannot be unsealed (DISCOVERY_CREDENTIALS_KEY changed?): enter it again"
            return result
        try:
            plan = promql.queries(params["rule_sets"], window, params["namespace"])
        except ValueError:
            result.error = "DISCOVERY_SERVICE_GRAPH_NAMESPACE is not a metric namespace"
            return result
        if not plan:
            result.ok = True
            return result
        started, at = time.perf_counter(), f"{time.time():.3f}"
        base = join_url(params["url"], "/api/v1/query")
        # Prometheus stops evaluating at its own timeout, a little before ours.
        server_timeout = f"{max(int(limits.timeout * 900), 100)}ms"

        async def one(q: promql.Query):
            url = f"{base}?{urlencode({'query': q.promql, 'time': at, 'timeout': server_timeout})}"
            got = await fetch(
                ctx.session,
                url,
                allowed=limits.allowed,
                max_bytes=limits.max_bytes,
                timeout=limits.timeout,
                headers=headers,
            )
            return q, got

        # All queries at once: the whole observation is bounded by one fetch timeout.
        answers, series, failed, latency_failed = {}, 0, [], []
        got_all = await asyncio.gather(*(one(q) for q in plan))
        # Counts before durations: the series budget goes to what edges need first.
        for q, got in sorted(got_all, key=lambda pair: pair[0].part == "latency"):
            result.status_code = got.status if result.status_code in (None, 200) else result.status_code
            reason = ""
            if not got.ok:
                reason = got.error
                if got.body:  # Prometheus answers a refused query with its error type (bad_data, timeout)
                    try:
                        promql.vector(got.body, max_series=0)
                    except ParseError as exc:
                        reason += f", {exc}" if "query failed" in str(exc) else ""
            else:
                try:
                    answers[q.key] = promql.vector(got.body, max_series=limits.max_series - series)
                    series += len(answers[q.key])
                except ParseError as exc:
                    if str(exc).startswith("too many series"):
                        exc = f"too many series (more than {limits.max_series} over all queries)"
                    reason = f"{exc} ({body_facts(got)})"
            if reason:
                (latency_failed if q.part == "latency" else failed).append(f"{q.key}: {reason}")
        result.latency_ms = round((time.perf_counter() - started) * 1000, 2)
        if failed:
            # A count query failed: nothing from this window, so no edge ages on partial evidence.
            result.error = failed[0]
            return result
        if latency_failed:
            # Counts stand without durations (e.g. more histogram series than the cap): said, not fatal.
            result.error = f"latency left out: {latency_failed[0]}"
        outcome = promql.read_answers(answers, plan)
        result.ok, result.skipped = True, outcome.skipped
        result.edges, skipped = to_edges(outcome, ctx.index)
        result.skipped += skipped
        return result


def to_edges(outcome: promql.Outcome, index) -> tuple[list[ObservedEdge], int]:
    """Match callers and called parties to the catalog (base URL, aliases, names; the rest
    are unknown endpoints) and keep, per caller and target, the rule that saw the most calls.
    A caller the catalog does not know is skipped (an edge starts at a service)."""
    best: dict[tuple[str, str], tuple[ObservedEdge, float]] = {}
    hist: dict[tuple[str, str], object] = {}
    skipped = 0
    for pairs in outcome.by_rule.values():
        for (caller, party), slot in pairs.items():
            if slot.calls <= 0:
                continue  # no calls in the window: not evidence that the pair still talks
            src = index.service_for_name(caller)
            if src is None:
                skipped += 1
                continue
            dst = index.resolve(RawCall(caller=caller, kind=party.kind, target=party.target, calls=0, errors=0))
            if dst.kind == "service" and dst.key == src:
                continue  # a service calling itself is not a dependency
            key = (src, dst.key)
            if slot.latency is not None:
                hist.setdefault(key, slot.latency)
            if key not in best or slot.calls > best[key][1]:
                best[key] = (ObservedEdge(src, dst, slot.calls, slot.errors, slot.latency), slot.calls)
    edges = []
    for key, (edge, _) in best.items():
        if edge.latency is None and key in hist:
            edge = ObservedEdge(edge.src, edge.target, edge.calls, edge.errors, hist[key])
        edges.append(edge)
    return edges, skipped
