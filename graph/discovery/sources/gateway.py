"""API-gateway usage: the uses the gateway counted and catalog flushed into API keys, as
calls from each consumer to each provider. A push source: nothing is fetched; the counts
are handed in through the target (read once, when the run is planned)."""

from __future__ import annotations

from graph.discovery.matching import Target
from graph.discovery.sources.base import Observation, ObserveContext, ObservedEdge, SourceTarget


class GatewayUsageSource:
    name = "gateway"
    ages = "evidence"

    def targets(self) -> list[SourceTarget]:
        from datetime import timedelta

        from django.conf import settings
        from django.utils import timezone

        from catalog.selectors import key_usage_totals

        # Cumulative uses per consumer->provider pair over all their keys (rates come from
        # deltas), for the pairs used within the edge TTL: an unused pair's edge goes stale.
        since = timezone.now() - timedelta(seconds=settings.DISCOVERY_EDGE_TTL)
        pairs = [[c, p, n] for c, p, n in key_usage_totals(used_since=since) if c != p]
        return (
            [SourceTarget(source=self.name, key="gateway", label="gateway", params={"pairs": pairs})] if pairs else []
        )

    async def observe(self, target: SourceTarget, ctx: ObserveContext) -> Observation:
        return Observation(
            target=target.label,
            source=self.name,
            ok=True,
            edges=[
                ObservedEdge(consumer, Target("service", provider), float(calls), 0.0)
                for consumer, provider, calls in target.params["pairs"]
            ],
        )
