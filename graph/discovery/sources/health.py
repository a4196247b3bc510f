"""A service's health endpoint: up or down. Observed right after the service's metrics
(same label, so one result), reusing that fetch's connection."""

from __future__ import annotations

from graph.discovery.fetch import fetch
from graph.discovery.sources.base import Observation, ObserveContext, SourceTarget, join_url
from graph.discovery.sources.prometheus import service_targets

HEALTH_MAX_BYTES = 64 * 1024


class HealthSource:
    name = "health"
    ages = "service"

    def targets(self) -> list[SourceTarget]:
        return service_targets(self.name)

    async def observe(self, target: SourceTarget, ctx: ObserveContext) -> Observation:
        got = await fetch(
            ctx.session,
            join_url(target.params["base_url"], target.params["health_path"]),
            allowed=ctx.limits.allowed,
            max_bytes=HEALTH_MAX_BYTES,
            timeout=ctx.limits.timeout,
        )
        # A service that is down is news, not a failed observation: the result stays ok.
        return Observation(
            target=target.label,
            source=self.name,
            service_slug=target.key,
            ok=True,
            health="up" if got.ok else "down",
            latency_ms=round(got.latency_ms, 2),
        )
