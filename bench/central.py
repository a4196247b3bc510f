"""The central Prometheus source at scale: 10,000 call edges of one window, queried from a
real Prometheus (scripts/prometheus), matched to a 1,000-service catalog and merged into Neo4j.

Prometheus scrapes a generated service-graph exposition (devtools/fleet_collector: the
collector's ``traces_service_graph_request_total`` and ``..._failed_total`` for 1,000
services calling ten others each); the timed part is one whole run of the central source
(``crawl_inline`` with only that source registered): plan, the instant queries over the
window, parsing, matching, the merge into Neo4j and the crawl result. The latency histograms
are left out of this exposition: at 17 bucket series per edge they would be 170,000 series,
past the default DISCOVERY_MAX_SERIES (50,000), and the source would leave durations out
with a note; the counts are what 10,000 edges are made of."""

import asyncio
import os
import subprocess
import threading
import time
import urllib.parse
import urllib.request

from django.contrib.auth import get_user_model

from bench.common import ROOT_DIR, Row, timed
from devtools import fleet_collector
from devtools.fleet import FleetService
from graph import db, services

SERVICES, CALLEES, PORT = 1000, 10, 23980
COLLECTOR = PORT + 1
WINDOW = 15
HOME = ROOT_DIR / "var" / "bench-prometheus"


def _fleet() -> list[FleetService]:
    fleet = [FleetService(f"central-{i:04d}", 40000 + i, "otel-stable") for i in range(SERVICES)]
    for i, svc in enumerate(fleet):
        for k in range(1, CALLEES + 1):
            callee = fleet[(i + k * 37) % SERVICES]
            svc.calls.append(
                {"target": callee.slug, "kind": "service", "label": callee.slug, "rate": 600.0, "error_share": 0.01}
            )
    return fleet


def _counters_only(fleet, elapsed: float) -> str:
    out = ["# TYPE traces_service_graph_request_total counter"]
    failed = ["# TYPE traces_service_graph_request_failed_total counter"]
    for s in fleet:
        for c in s.calls:
            total, errors = fleet_collector._counts(c, elapsed)
            labels = f'{{client="{s.slug}",server="{c["target"]}",connection_type=""}}'
            out.append(f"traces_service_graph_request_total{labels} {total}")
            failed.append(f"traces_service_graph_request_failed_total{labels} {errors}")
    return "\n".join(out + failed) + "\n"


def _serve(fleet, stop: threading.Event) -> threading.Thread:
    from aiohttp import web

    def run():
        async def main():
            started = time.time()

            async def metrics(request):
                return web.Response(text=_counters_only(fleet, time.time() - started), content_type="text/plain")

            app = web.Application()
            app.router.add_get("/metrics", metrics)
            runner = web.AppRunner(app, access_log=None, handle_signals=False)
            await runner.setup()
            await web.TCPSite(runner, "127.0.0.1", COLLECTOR).start()
            while not stop.is_set():
                await asyncio.sleep(0.2)
            await runner.cleanup()

        asyncio.run(main())

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def _prometheus(action: str) -> None:
    env = {
        **os.environ,
        "PROMETHEUS_PORT": str(PORT),
        "PROMETHEUS_HOME_DIR": str(HOME),
        "PROMETHEUS_SCRAPE_INTERVAL": "2s",
    }
    subprocess.run([str(ROOT_DIR / "scripts" / "prometheus"), action], env=env, check=True, timeout=120)


def _query(promql: str) -> list:
    import json

    url = f"http://127.0.0.1:{PORT}/api/v1/query?" + urllib.parse.urlencode({"query": promql})
    with urllib.request.urlopen(url, timeout=10) as resp:
        return json.load(resp)["data"]["result"]


def run():
    from django.conf import settings

    from devtools import fleet as fleet_module

    fleet = _fleet()
    User = get_user_model()
    root = User.objects.filter(username="bench-root").first() or User.objects.create_superuser(
        "bench-root", "bench@example.com", None
    )
    services.graph_wipe()
    services.graph_init()
    fleet_module.register(fleet, actor=root, org_slug="central-bench")
    services.graph_sync()
    stop = threading.Event()
    _serve(fleet, stop)
    _prometheus("start")
    try:
        (HOME / "targets").mkdir(parents=True, exist_ok=True)
        fleet_collector.write_targets([], str(HOME / "targets" / "bench.json"), collector=f"127.0.0.1:{COLLECTOR}")
        deadline = time.time() + 120
        while time.time() < deadline:
            got = _query("count(traces_service_graph_request_total)")
            if got and int(float(got[0]["value"][1])) == SERVICES * CALLEES:
                break
            time.sleep(1)
        time.sleep(WINDOW + 3)  # a whole window of samples
        from graph.models import MetricsBackend

        MetricsBackend.objects.filter(name="bench").delete()
        services.metrics_backend_create(
            actor=root,
            name="bench",
            url=f"http://127.0.0.1:{PORT}",
            window_seconds=WINDOW,
            istio=False,
            otel_client=False,
        )
        saved = settings.DISCOVERY_SOURCES
        settings.DISCOVERY_SOURCES = ["graph.discovery.sources.central.CentralPrometheusSource"]
        try:
            started = time.perf_counter()
            crawl = services.crawl_inline(trigger="cli")
            seconds = time.perf_counter() - started
        finally:
            settings.DISCOVERY_SOURCES = saved
        result = crawl.results.get(target="central:bench")
        # The same window again, without the merge: what the source itself costs (queries, parse, match).
        from graph.discovery import crawler, sources
        from graph.discovery.rules import metric_rules
        from graph.services.crawls import _limits

        settings.DISCOVERY_SOURCES = ["graph.discovery.sources.central.CentralPrometheusSource"]
        try:
            target = next(t for group in services.run_targets() for t in group if t.label == "central:bench")
        finally:
            settings.DISCOVERY_SOURCES = saved
        index = services.catalog_index(crawl)
        observe_s, (observation,) = timed(
            crawler.observe, [[target]], sources.registry(), index=index, limits=_limits(), rules=metric_rules()
        )
        edges = db.read(
            "MATCH (:Service)-[r:CALLS]->(:Service) WHERE 'central:bench' IN r.sources RETURN count(r) AS n"
        )[0]["n"]
        detail = {"edges": edges, "ok": result.ok, "error": result.error, "query_ms": result.latency_ms}
        yield Row(
            "central: the source alone (queries, parse, match), 10k edges",
            round(observe_s, 3),
            "s",
            "reported",
            None,
            {"edges": len(observation.edges), "query_ms": observation.latency_ms},
        )
        yield Row(
            "central: 10k edges of one window queried, matched, merged",
            round(seconds, 3),
            "s",
            "<= 5 s, 10,000 edges",
            seconds <= 5 and edges == SERVICES * CALLEES and result.ok,
            detail,
        )
    finally:
        stop.set()
        (HOME / "targets" / "bench.json").unlink(missing_ok=True)
        _prometheus("stop")
