"""OTLP push (``POST /v1/traces``, ``/v1/metrics``): what services pushed since the last run,
drained from the receiver's Redis buffers when the run is planned (graph/services/otlp.py),
one target per reporting service. ``observe`` only turns it into edges; ``settle``, called
once the run's graph write succeeded, drops the staged buffers (a failed run leaves them for
the next).

Target kinds: a CLIENT span's peer is matched to the catalog like a scraped target (base
URL host:port, slug, alias, name) and is otherwise an unknown endpoint; a database or
messaging client span gives an Endpoint of kind ``database`` or ``queue`` keyed
``database:<system>:<host:port or namespace>`` / ``queue:<system>:<destination or host:port>``,
never a service or a plain endpoint. Ages ``evidence``: the edges a service pushed (their
evidence is ``otlp:<service>``) age only in runs where that service pushed something."""

from __future__ import annotations

from graph.discovery.latency import DEFAULT_BOUNDS_MS, Histogram
from graph.discovery.matching import Target
from graph.discovery.parse import ParseError, RawCall, parse_exposition
from graph.discovery.sources.base import Observation, ObserveContext, ObservedEdge, SourceTarget

KINDS = {"d": "database", "q": "queue"}


class OtlpSource:
    name = "otlp"
    ages = "evidence"

    def targets(self) -> list[SourceTarget]:
        from catalog.selectors import service_list
        from graph.services import otlp_drain

        drained = otlp_drain()
        if not drained:
            return []
        ids = dict(service_list().filter(slug__in=[d["service"] for d in drained]).values_list("slug", "pk"))
        return [
            SourceTarget(
                source=self.name,
                key=d["service"],
                label=f"otlp:{d['service']}",
                service_id=ids.get(d["service"]),
                params={k: d[k] for k in ("edges", "exposition", "window", "skipped", "token")},
            )
            for d in drained
        ]

    def settle(self, target: SourceTarget) -> None:
        """The run merged what ``target`` carried into the graph: the drained buffers go.
        Until then they stay staged, and a run that fails or is abandoned loses nothing."""
        from graph.services import otlp_settle

        if target.params.get("token"):
            otlp_settle(target.key, target.params["token"])

    async def observe(self, target: SourceTarget, ctx: ObserveContext) -> Observation:
        slug = ctx.index.service_for_name(target.key)
        result = Observation(
            target=target.label,
            source=target.label,
            service_slug=slug,
            window_seconds=target.params["window"],
            skipped=target.params.get("skipped", 0),
        )
        if slug is None:
            result.error = f"otlp: {target.key!r} is not a catalogued service"
            return result
        best: dict[tuple, ObservedEdge] = {}
        nb = len(DEFAULT_BOUNDS_MS) + 1
        for key, calls, errors, *counts in target.params["edges"]:
            kind, _, peer = key.partition("|")
            if kind in KINDS:
                host, port = _host_port(peer.split(":", 1)[1])
                dst = Target(KINDS[kind], f"{KINDS[kind]}:{peer}", host, port)
            else:
                dst = ctx.index.resolve(RawCall(None, "hostport" if kind == "h" else "name", peer, calls, errors))
            latency = Histogram(DEFAULT_BOUNDS_MS, tuple(counts)) if len(counts) == nb else None
            _keep(best, slug, ObservedEdge(slug, dst, float(calls), float(errors), latency))
        text = target.params["exposition"]
        if text:
            try:
                outcome = parse_exposition(text, ctx.rules, max_series=ctx.limits.max_series)
            except ParseError as exc:
                result.error = f"otlp metrics: {exc}"
                return result
            result.skipped += outcome.skipped
            for call in outcome.calls:
                src = slug if call.caller is None else ctx.index.service_for_name(call.caller)
                if src != slug:
                    result.skipped += 1
                    result.foreign_callers += 1
                    continue
                h = getattr(call, "latency", None)
                latency = Histogram(h.bounds_ms, h.counts) if h is not None else None  # windowed: deltas
                _keep(best, slug, ObservedEdge(slug, ctx.index.resolve(call), call.calls, call.errors, latency))
        result.ok = True
        result.edges = list(best.values())
        return result


def _keep(best: dict, slug: str, edge: ObservedEdge) -> None:
    """Spans and metrics of the same calls count once: per target, the larger count."""
    if edge.target.kind == "service" and edge.target.key == slug:
        return  # a service calling itself is not a dependency
    key = (edge.target.kind, edge.target.key)
    have = best.get(key)
    if have is None or edge.calls > have.calls:
        best[key] = edge


def _host_port(where: str) -> tuple[str, int | None]:
    host, _, port = where.rpartition(":")
    if host and port.isdigit():
        return host, int(port)
    return "", None
