"""One ground-truth fleet, three ways (issue 13): Switchboard scraping each service's own
/metrics, the services pushing the same counters over OTLP (/v1/metrics), and a real
Prometheus holding the fleet's service graph queried by the central source. Each way finds
the fleet exactly (precision and recall 1.0), and the three agree on every edge's calls per
minute within 1%."""

import time

import pytest
from django.test import Client
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2

from devtools import fleet as fleet_module
from graph import db, services
from graph.services.otlp import ingest_key_issue
from tests.graph.conftest import CENTRAL_RATE_TOLERANCE, CENTRAL_WINDOW, PROMETHEUS_PORT

PUSH_GAP = 20.0  # seconds of the fleet's time between a service's two pushes
# Real seconds between the two scrapes: a loaded two-core machine moves a fetch by a few hundred
# ms, which a minute keeps well under 1%.
SCRAPE_GAP = 60.0


def push_body(svc, by_port: dict, elapsed: float, start_ns: int) -> bytes:
    """The service's cumulative client-duration histogram after ``elapsed`` seconds, as its
    OpenTelemetry SDK would export it (the same counts its /metrics shows)."""
    request = metrics_service_pb2.ExportMetricsServiceRequest()
    rm = request.resource_metrics.add()
    rm.resource.attributes.add(key="service.name").value.string_value = svc.slug
    metric = rm.scope_metrics.add().metrics.add(name="http.client.request.duration", unit="s")
    metric.histogram.aggregation_temporality = 2  # cumulative
    for c in svc.calls:
        total = int(c["rate"] * (elapsed + 60) / 60)
        errors = int(total * c["error_share"])
        if c["kind"] == "service":
            host, port = "127.0.0.1", by_port[c["target"]]
        else:
            host, _, port = c["label"].rpartition(":")
        for status, n in ((200, total - errors), (500, errors)):
            p = metric.histogram.data_points.add(
                start_time_unix_nano=start_ns,
                time_unix_nano=time.time_ns(),
                count=n,
                explicit_bounds=[0.01, 0.1, 1.0],
                bucket_counts=[0, n, 0, 0],
            )
            p.attributes.add(key="server.address").value.string_value = host
            p.attributes.add(key="server.port").value.int_value = int(port)
            p.attributes.add(key="http.response.status_code").value.int_value = status
    return request.SerializeToString()


def edges_by_evidence() -> dict[str, dict[tuple[str, str], dict]]:
    rows = db.read(
        "MATCH (s:Service)-[r:CALLS]->(t) RETURN s.slug AS s, coalesce(t.slug, t.key) AS t, properties(r) AS p"
    )
    ways: dict[str, dict] = {"scrape": {}, "push": {}, "central": {}}
    for r in rows:
        for source in r["p"].get("sources", []):
            way = {"prometheus": "scrape", "central:main": "central"}.get(source)
            way = way or ("push" if source.startswith("otlp:") else None)
            if way:
                ways[way][(r["s"], r["t"])] = {**r["p"], "source": source}
    return ways


def test_scrape_push_and_central_query_agree_on_the_fleet(central_fleet, root, graph):
    fleet = central_fleet.services
    fleet_module.register(fleet, actor=root)
    services.graph_sync()
    services.metrics_backend_create(
        actor=root, name="main", url=f"http://127.0.0.1:{PROMETHEUS_PORT}", window_seconds=CENTRAL_WINDOW
    )
    keys = {s.slug: ingest_key_issue(actor=root, service=s.slug, name="otel")[1] for s in fleet}
    by_port = {s.slug: s.port for s in fleet}
    client, start_ns = Client(), time.time_ns() - 3600 * 10**9

    def push(elapsed):
        for s in fleet:
            response = client.generic(
                "POST",
                "/v1/metrics",
                push_body(s, by_port, elapsed, start_ns),
                content_type="application/x-protobuf",
                HTTP_AUTHORIZATION=f"Bearer {keys[s.slug]}",
            )
            assert response.status_code == 200, response.content

    push(1000.0)
    first = services.crawl_inline()
    assert first.status == "succeeded", list(first.results.filter(ok=False).values_list("target", "error"))
    scraped_before = {k: (v["c:prometheus"], v["t:prometheus"]) for k, v in edges_by_evidence()["scrape"].items()}
    time.sleep(SCRAPE_GAP)
    push(1000.0 + PUSH_GAP)
    second = services.crawl_inline()
    assert second.status == "succeeded", list(second.results.filter(ok=False).values_list("target", "error"))

    truth = central_fleet.truth
    ways = edges_by_evidence()
    for way, found in ways.items():
        hits = len(set(found) & truth)
        assert (hits / len(found), hits / len(truth)) == (1.0, 1.0), (way, set(found) - truth, truth - set(found))

    truth_rate = {(s.slug, c["target"]): c["rate"] for s in fleet for c in s.calls}
    for key in truth:
        scrape, push_, central = ways["scrape"][key], ways["push"][key], ways["central"][key]
        calls_before, t_before = scraped_before[key]
        per_min = {
            "scrape": (scrape["c:prometheus"] - calls_before) / (scrape["t:prometheus"] - t_before) * 60_000,
            "push": push_[f"c:{push_['source']}"] / PUSH_GAP * 60,
            "central": central["c:central:main"] / CENTRAL_WINDOW * 60,
        }
        for way, rate in per_min.items():
            tolerance = CENTRAL_RATE_TOLERANCE if way == "central" else 0.01
            assert rate == pytest.approx(truth_rate[key], rel=tolerance), (key, way, per_min)
        assert max(per_min.values()) <= min(per_min.values()) * (1 + CENTRAL_RATE_TOLERANCE), (key, per_min)
