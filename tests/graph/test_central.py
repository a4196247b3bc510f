"""The central Prometheus source against a real Prometheus (scripts/prometheus) scraping the
simulated fleet and its service-graph collector; misbehaving query APIs as real HTTP
listeners; the metrics backend's REST API."""

import asyncio
import threading
import time

import pytest
from aiohttp import web

from devtools import fleet as fleet_module
from devtools import fleet_collector
from graph import db, services
from graph.discovery import crawler, sources
from graph.discovery.latency import quantile
from graph.discovery.rules import metric_rules
from graph.models import CrawlRun, MetricsBackend
from tests.conftest import free_port
from tests.graph.conftest import CENTRAL_RATE_TOLERANCE, CENTRAL_WINDOW, PROMETHEUS_PORT


def limits(settings, **over):
    base = {
        "allowed": settings.DISCOVERY_ALLOWED_NETWORKS,
        "max_bytes": settings.DISCOVERY_MAX_BYTES,
        "timeout": settings.DISCOVERY_FETCH_TIMEOUT,
        "concurrency": 8,
        "max_series": settings.DISCOVERY_MAX_SERIES,
    }
    return sources.FetchLimits(**{**base, **over})


def observe(label_prefix: str, settings, **over):
    """Observe every target of one registered source now, in this process."""
    groups = [
        [t]
        for group in services.run_targets()
        for t in group
        if t.label.startswith(label_prefix) or t.source == label_prefix
    ]
    index = services.catalog_index(CrawlRun.objects.create(trigger="cli"))
    return crawler.observe(
        groups, sources.registry(), index=index, limits=limits(settings, **over), rules=metric_rules()
    )


def central_edges(name: str) -> set[tuple[str, str]]:
    rows = db.read(
        "MATCH (s:Service)-[r:CALLS]->(t) WHERE $source IN r.sources RETURN s.slug AS s, coalesce(t.slug, t.key) AS t",
        source=f"central:{name}",
    )
    return {(r["s"], r["t"]) for r in rows}


def in_median_bucket(h, value_ms: float) -> bool:
    """Every call of an edge takes the same time: the bucket holding the median holds it."""
    p50 = quantile(h, 0.5)
    bounds = (0.0, *h.bounds_ms)
    return any(lo <= p50 <= hi and lo < value_ms <= hi for lo, hi in zip(bounds, bounds[1:], strict=False))


@pytest.fixture
def registered(central_fleet, root, graph):
    fleet_module.register(central_fleet.services, actor=root)
    services.graph_sync()
    return central_fleet


def test_a_real_prometheus_gives_the_fleet_exactly_and_the_counts_scraping_gives(registered, root, settings):
    truth = registered.truth
    services.metrics_backend_create(
        actor=root, name="main", url=f"http://127.0.0.1:{PROMETHEUS_PORT}", window_seconds=CENTRAL_WINDOW
    )
    # The whole pipeline: planned from the registry, observed, matched, merged into Neo4j.
    run = services.crawl_inline()
    result = run.results.get(target="central:main")
    assert result.ok and result.source == "central" and result.error == "", result.error
    found = central_edges("main")
    true_positive = len(found & truth)
    assert (true_positive / len(found), true_positive / len(truth)) == (1.0, 1.0), (found - truth, truth - found)

    # Call counts: the central window's rate against the fleet's truth and against scraping
    # each service's own /metrics twice (cumulative counters differenced), edge by edge.
    # Each service's counters are read at its own moment (the observation's observed_at_ms, taken
    # as its body arrives): a scrape of the whole fleet lasts long enough on a busy machine that
    # one time for all of it was off by more than 1 % of the 12 s between scrapes.
    def scrape():
        return {
            (e.src, e.target.key): (e.calls, r.observed_at_ms / 1000)
            for r in observe("prometheus", settings)
            for e in r.edges
        }

    first = scrape()
    [central] = observe("central:main", settings)
    time.sleep(12)
    second = scrape()
    assert central.ok and central.window_seconds == CENTRAL_WINDOW
    truth_rate = {(s.slug, c["target"]): c["rate"] for s in registered.services for c in s.calls}
    scraped_rate = {
        k: (calls - first[k][0]) / (at - first[k][1]) * 60 for k, (calls, at) in second.items() if k in first
    }
    compared = 0
    for edge in central.edges:
        key = (edge.src, edge.target.key)
        rate = edge.calls / CENTRAL_WINDOW * 60
        assert rate == pytest.approx(truth_rate[key], rel=CENTRAL_RATE_TOLERANCE), key
        if key in scraped_rate:  # Envoy-style services' calls are scraped under their cluster name
            assert rate == pytest.approx(scraped_rate[key], rel=CENTRAL_RATE_TOLERANCE), key
            compared += 1
        # Latency from the service-graph (or Istio) histogram: p50 near the simulated duration.
        truth_ms = fleet_collector.latency_ms(edge.src, {"target": edge.target.key})
        assert edge.latency is not None and not edge.latency.cumulative, key
        assert in_median_bucket(edge.latency, truth_ms), (key, truth_ms, edge.latency)
    assert compared >= len(truth) * 0.8


def test_each_rule_set_alone_and_the_namespace_prefix(registered, root, settings):
    services.metrics_backend_create(
        actor=root,
        name="istio-only",
        url=f"http://127.0.0.1:{PROMETHEUS_PORT}",
        window_seconds=CENTRAL_WINDOW,
        service_graph=False,
        otel_client=False,
    )
    services.metrics_backend_create(
        actor=root,
        name="otel-only",
        url=f"http://127.0.0.1:{PROMETHEUS_PORT}",
        window_seconds=CENTRAL_WINDOW,
        service_graph=False,
        istio=False,
    )
    by_name = {r.target: r for r in observe("central", settings)}
    service_pairs = {(s.slug, c["target"]) for s in registered.services for c in s.calls if c["kind"] == "service"}
    istio = by_name["central:istio-only"]
    assert istio.ok and {(e.src, e.target.key) for e in istio.edges} == service_pairs
    # Both sidecars report every call: the larger report, never the sum.
    truth_rate = {(s.slug, c["target"]): c["rate"] for s in registered.services for c in s.calls}
    for e in istio.edges:
        assert e.calls / CENTRAL_WINDOW * 60 == pytest.approx(truth_rate[(e.src, e.target.key)], rel=0.01)
    # Client metrics: every caller that is not Envoy-style, by its job label.
    otel = by_name["central:otel-only"]
    expected = {(s.slug, c["target"]) for s in registered.services if s.style != "envoy" for c in s.calls}
    assert otel.ok and {(e.src, e.target.key) for e in otel.edges} == expected
    # A namespace prefix no exporter used: the service graph has nothing under it.
    settings.DISCOVERY_SERVICE_GRAPH_NAMESPACE = "otelcol"
    MetricsBackend.objects.filter(name="istio-only").update(service_graph=True, istio=False)
    [prefixed] = observe("central:istio-only", settings)
    assert prefixed.ok and prefixed.edges == []


# --- Misbehaving query APIs (real listeners) ------------------------------------------------
class Listener:
    """An aiohttp app on a loopback port, in a thread of its own."""

    def __init__(self, handler):
        self.port = free_port()
        self.handler = handler
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        self.seen_headers: list[dict] = []

    def __enter__(self):
        async def main():
            async def handle(request):
                self.seen_headers.append(dict(request.headers))
                return await self.handler(request, self)

            app = web.Application()
            app.router.add_get("/{tail:.*}", handle)
            self.runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=0.5)
            await self.runner.setup()
            await web.TCPSite(self.runner, "127.0.0.1", self.port).start()
            self.ready.set()

        threading.Thread(
            target=lambda: (self.loop.run_until_complete(main()), self.loop.run_forever()), daemon=True
        ).start()
        assert self.ready.wait(10)
        return self

    def __exit__(self, *exc):
        asyncio.run_coroutine_threadsafe(self.runner.cleanup(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"


async def slow(request, listener):
    await asyncio.sleep(30)
    return web.json_response({"status": "success"})


async def html(request, listener):
    return web.Response(text="<!doctype html><html>Sign in to Grafana SECRET</html>", content_type="text/html")


async def ten_million_series(request, listener):
    """A vector of 10 million series, streamed (never built in memory here either)."""
    resp = web.StreamResponse(headers={"Content-Type": "application/json"})
    await resp.prepare(request)
    await resp.write(b'{"status":"success","data":{"resultType":"vector","result":[')
    row = b'{"metric":{"client":"c%d","server":"s"},"value":[1,"1"]},'
    try:  # written 1,000 rows at a time, so the 1 MB cap is reached well inside the 1 s timeout on a busy machine
        for start in range(0, 10_000_000, 1000):
            await resp.write(b"".join(row % i for i in range(start, start + 1000)))
    except (ConnectionResetError, RuntimeError):
        pass
    return resp


async def many_small_series(request, listener):
    rows = ",".join(f'{{"metric":{{"client":"c{i}","server":"s"}},"value":[1,"1"]}}' for i in range(6000))
    return web.Response(text=f'{{"status":"success","data":{{"resultType":"vector","result":[{rows}]}}}}')


async def redirect_elsewhere(request, listener):
    raise web.HTTPFound(location="http://169.254.169.254/latest/meta-data/")


async def redirect_other_port(request, listener):
    raise web.HTTPFound(location=f"http://127.0.0.1:{listener.port + 1}/api/v1/query")


async def query_error(request, listener):
    return web.json_response(
        {"status": "error", "errorType": "execution", "error": "SECRET query too heavy"}, status=422
    )


async def empty_ok(request, listener):
    return web.json_response({"status": "success", "data": {"resultType": "vector", "result": []}})


@pytest.mark.parametrize(
    "handler, error",
    [
        (slow, "timed out after 1 s"),
        (html, "not JSON (line 1, column 1) (text/html, "),
        (ten_million_series, "refused: body larger than 1048576 bytes"),
        (many_small_series, "too many series (more than 5000 over all queries)"),
        (redirect_elsewhere, "refused: redirect to another host or scheme"),
        (redirect_other_port, "refused: redirect to another host or scheme"),
        (query_error, "HTTP 422, query failed (execution)"),
    ],
)
def test_a_misbehaving_query_api_fails_clearly_and_stored_edges_stay(registered, root, settings, handler, error):
    """First a good window from the real Prometheus, then the same backend answering badly:
    the run records a clear error in bounded time, and no edge is lost or marked stale."""
    settings.DISCOVERY_FETCH_TIMEOUT = 1
    settings.DISCOVERY_MAX_BYTES = 1024 * 1024
    settings.DISCOVERY_MAX_SERIES = 5000
    backend = services.metrics_backend_create(
        actor=root, name="main", url=f"http://127.0.0.1:{PROMETHEUS_PORT}", window_seconds=CENTRAL_WINDOW
    )
    services.metrics_backend_create(  # only this one's evidence is in play: the scraped sources are unregistered
        actor=root, name="spare", url=f"http://127.0.0.1:{PROMETHEUS_PORT}", enabled=False
    )
    settings.DISCOVERY_SOURCES = ["graph.discovery.sources.central.CentralPrometheusSource"]
    assert services.crawl_inline().results.get(target="central:main").ok
    before = central_edges("main")
    assert before
    settings.DISCOVERY_EDGE_TTL = 0  # anything the failed run aged would go stale at once
    with Listener(handler) as bad:
        services.metrics_backend_update(actor=root, backend=backend, url=bad.url)
        started = time.monotonic()
        run = services.crawl_inline()
        took = time.monotonic() - started
    result = run.results.get(target="central:main")
    assert not result.ok and error in result.error, result.error
    assert "SECRET" not in result.error and "Grafana" not in result.error
    assert took < 30  # bounded (the slow listener would hold a request for 30 s)
    assert central_edges("main") == before
    assert db.read("MATCH ()-[r:CALLS]->() WHERE r.stale RETURN count(r) AS n")[0]["n"] == 0


def test_credentials_are_sent_sealed_at_rest_and_never_shown(root, api, settings):
    from graph.credentials import unseal

    with Listener(empty_ok) as listener:
        client = api(root)
        made = client.post(
            "/api/v1/metrics-backends/",
            {"name": "mimir", "url": listener.url, "auth": "bearer", "secret": "tok-123"},
            format="json",
        )
        assert made.status_code == 201, made.content
        assert "secret" not in made.json() and made.json()["has_secret"] is True
        assert b"tok-123" not in client.get("/api/v1/metrics-backends/mimir/").content
        stored = MetricsBackend.objects.get(name="mimir")
        assert "tok-123" not in stored.secret_sealed and unseal(stored.secret_sealed) == "tok-123"
        from core.models import AuditEvent

        assert "tok-123" not in str(list(AuditEvent.objects.values("before", "after")))
        assert stored.secret_sealed not in str(list(AuditEvent.objects.values("before", "after")))
        [result] = observe("central:mimir", settings)
        assert result.ok, result.error
        assert {h.get("Authorization") for h in listener.seen_headers} == {"Bearer tok-123"}
        # Basic auth, and a PATCH without a secret keeps it.
        assert (
            client.patch(
                "/api/v1/metrics-backends/mimir/", {"auth": "basic", "username": "u", "secret": "p w"}, format="json"
            ).status_code
            == 200
        )
        assert client.patch("/api/v1/metrics-backends/mimir/", {"window_seconds": 60}, format="json").status_code == 200
        listener.seen_headers.clear()
        [result] = observe("central:mimir", settings)
        assert result.ok and {h.get("Authorization") for h in listener.seen_headers} == {"Basic dTpwIHc="}


def test_registration_refuses_bad_input_with_a_reason(root, api, db):
    client = api(root)
    cases = [
        ({"name": "a", "url": "http://169.254.169.254/"}, "url"),  # link-local: outside the allow-list
        ({"name": "a", "url": "http://u:p@10.0.0.9:9090"}, "url"),  # credentials belong in secret
        ({"name": "a", "url": "file:///etc/passwd"}, "url"),
        ({"name": "a", "url": "http://10.0.0.9", "auth": "bearer"}, "secret"),
        ({"name": "a", "url": "http://10.0.0.9", "auth": "basic", "secret": "x"}, "username"),
        ({"name": "a", "url": "http://10.0.0.9", "secret": "x"}, "auth"),
        ({"name": "a", "url": "http://10.0.0.9", "window_seconds": 5}, "window_seconds"),
    ]
    for body, field in cases:
        response = client.post("/api/v1/metrics-backends/", body, format="json")
        assert response.status_code == 400, (body, response.content)
        assert field in response.json().get("fields", {}), (body, response.json())
    assert not MetricsBackend.objects.exists()
    client.post("/api/v1/metrics-backends/", {"name": "a", "url": "http://10.0.0.9"}, format="json")
    renamed = client.patch("/api/v1/metrics-backends/a/", {"name": "b"}, format="json")
    assert renamed.status_code == 400 and "name" in renamed.json()["fields"]
