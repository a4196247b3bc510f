"""The discovery source registry: every source is a registered class behind one protocol;
a new one is a module and a settings line (real Neo4j, real HTTP listeners)."""

import pytest
from django.core.exceptions import ImproperlyConfigured

from graph import db, services
from graph.discovery import sources
from graph.discovery.matching import Target
from graph.discovery.sources import Observation, ObservedEdge, SourceTarget
from graph.models import CrawlResult

DEFAULT = [
    "graph.discovery.sources.prometheus.PrometheusSource",
    "graph.discovery.sources.health.HealthSource",
    "graph.discovery.sources.tracing.ZipkinSource",
    "graph.discovery.sources.tracing.JaegerSource",
    "graph.discovery.sources.gateway.GatewayUsageSource",
    "graph.discovery.sources.otlp.OtlpSource",
    "graph.discovery.sources.central.CentralPrometheusSource",
]


class HandedInSource:
    """A push source: its observations are handed in (here, a class attribute a test
    fills), nothing is fetched."""

    name = "handed"
    ages = "evidence"
    received: list[tuple[str, str, float]] = []

    def targets(self):
        calls = [list(c) for c in self.received]
        return (
            [SourceTarget(source=self.name, key="inbox", label="handed:inbox", params={"calls": calls})]
            if calls
            else []
        )

    async def observe(self, target, ctx):
        result = Observation(target=target.label, source=target.label, ok=True, window_seconds=60.0)
        for caller, callee, calls in target.params["calls"]:
            src = ctx.index.service_for_name(caller)
            if src is None:
                result.skipped += 1
                continue
            result.edges.append(ObservedEdge(src, Target("service", callee), calls, 0.0))
        return result


class NotASource:
    name = "nothing"


class Twin(HandedInSource):
    pass


def test_the_default_registry_names_every_source_once(settings):
    assert settings.DISCOVERY_SOURCES == DEFAULT
    assert list(sources.registry()) == ["prometheus", "health", "zipkin", "jaeger", "gateway", "otlp", "central"]
    assert all(isinstance(s, sources.Source) for s in sources.registry().values())


def test_a_registry_entry_that_is_no_source_or_a_duplicate_name_is_refused(settings):
    settings.DISCOVERY_SOURCES = [*DEFAULT, "tests.graph.test_sources.NotASource"]
    with pytest.raises(ImproperlyConfigured, match="not a discovery source"):
        sources.registry()
    settings.DISCOVERY_SOURCES = [*DEFAULT, "tests.graph.test_sources.HandedInSource", "tests.graph.test_sources.Twin"]
    with pytest.raises(ImproperlyConfigured, match="two sources are named 'handed'"):
        sources.registry()


@pytest.mark.django_db
def test_a_new_source_is_one_class_and_one_registry_line(world, graph, settings, monkeypatch):
    from catalog.services import service_create

    for slug in ("web", "orders"):
        service_create(actor=world["root"], team=world["team"], slug=slug, name=slug, crawl_enabled=False)
    services.graph_sync()
    settings.DISCOVERY_SOURCES = [*DEFAULT, "tests.graph.test_sources.HandedInSource"]
    monkeypatch.setattr(HandedInSource, "received", [("web", "orders", 120.0), ("ghost", "orders", 1.0)])
    run = services.crawl_inline()
    assert run.status == "succeeded" and run.total == 1
    result = run.results.get()
    assert (result.source, result.target_key, result.target) == ("handed", "inbox", "handed:inbox")
    assert (result.edges, result.skipped_series) == (1, 1)
    edges = db.read(
        "MATCH (s)-[r:CALLS]->(t) RETURN s.slug AS s, t.slug AS t, r.rate_per_min AS rate, r.sources AS src"
    )
    assert edges == [{"s": "web", "t": "orders", "rate": 120.0, "src": ["handed:inbox"]}]


@pytest.mark.django_db
def test_results_name_their_source_and_target_and_a_service_is_one_result(graph, run_fleet, root):
    from devtools import fleet

    running = run_fleet(3, seed=7)
    fleet.register(running.services, actor=root)
    services.graph_sync()
    run = services.crawl_inline()
    assert run.status == "succeeded" and run.total == 3
    rows = list(run.results.order_by("target").values_list("source", "target_key", "target", "health", "service__slug"))
    assert rows == [
        ("prometheus", s.slug, s.slug, "up", s.slug) for s in sorted(running.services, key=lambda s: s.slug)
    ]


@pytest.mark.django_db
def test_a_run_with_nothing_to_observe_finishes_at_once():
    run = services.crawl_inline()
    assert run.status == "succeeded" and run.total == 0 and run.finished_at is not None
    assert not CrawlResult.objects.exists()
