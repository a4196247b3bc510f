"""Latency on call edges: histograms read from expositions (pure), differenced per source on
the edge between runs (real Neo4j), and end to end from a live fleet to REST, GraphQL and
the service page."""

import bisect
import json
import math
from pathlib import Path

import pytest

from catalog import services as catalog_services
from devtools import fleet
from graph import db, services
from graph.discovery.latency import MAX_BUCKETS, Histogram, histogram_from_cumulative_buckets, quantiles_ms
from graph.discovery.matching import Target
from graph.discovery.parse import ParseError, parse_exposition
from graph.discovery.rules import METRIC_RULES
from graph.discovery.sources import Observation, ObservedEdge

SAMPLE = Path(__file__).resolve().parent / "samples" / "otel-python-semconv-dup.prom"


def parse(text):
    return parse_exposition(text, METRIC_RULES, max_series=50_000)


def stable(host, port, buckets, *, status="200", count=None):
    """A stable-convention histogram (seconds) of one series: ``buckets`` is {le: cumulative}."""
    labels = f'http_response_status_code="{status}",server_address="{host}",server_port="{port}"'
    lines = [f'http_client_request_duration_seconds_bucket{{{labels},le="{le}"}} {n}' for le, n in buckets.items()]
    if count is None:
        count = buckets.get("+Inf", max(buckets.values(), default=0))
    return "\n".join([*lines, f"http_client_request_duration_seconds_count{{{labels}}} {count}"]) + "\n"


# --- Parsing (pure) ------------------------------------------------------------------


@pytest.mark.unit
def test_real_sdk_exposition_gives_the_older_conventions_histogram_in_ms():
    """The OpenTelemetry SDK sample: 127.0.0.1:18081 took 10 calls, 3 in le=0 and 7 in (0, 5] ms
    (its 200 and 500 series summed); the stable convention has no buckets there."""
    out = parse(SAMPLE.read_text())
    by_target = {c.target: c for c in out.calls}
    h = by_target["127.0.0.1:18081"].latency
    assert h.cumulative and h.bounds_ms[:3] == (0.0, 5.0, 10.0) and h.counts[:3] == (3.0, 7.0, 0.0) and h.total == 10
    assert quantiles_ms(h) == {"p50_ms": 1.43, "p95_ms": 4.64, "p99_ms": 4.93}
    assert by_target["localhost:18082"].latency.total == 5
    assert out.skipped == 1 and out.bad_histograms == 0  # unchanged: the shifted-label series only


@pytest.mark.unit
def test_le_is_read_wherever_it_stands_and_a_second_le_is_refused():
    """Exporters write ``le`` last (read without a regex); first or in the middle reads the same,
    a label value that looks like ``,le="`` is a value, and two ``le`` labels are an error."""
    last = stable("orders", 80, {"0.005": 1, "0.1": 4, "+Inf": 4})
    (expected,) = parse(last).calls
    assert expected.latency.counts == (1, 3, 0)
    base = 'http_response_status_code="200",server_address="orders",server_port="80"'
    for form in (
        'le="{le}",' + base,
        'http_response_status_code="200",le="{le}",server_address="orders",server_port="80"',
    ):
        text = (
            "".join(
                f"http_client_request_duration_seconds_bucket{{{form.format(le=le)}}} {n}\n"
                for le, n in (("0.005", 1), ("0.1", 4), ("+Inf", 4))
            )
            + f"http_client_request_duration_seconds_count{{{base}}} 4\n"
        )
        (call,) = parse(text).calls
        assert call.latency == expected.latency, form
    odd = last.replace('server_address="orders"', 'peer="a,le=9",server_address="orders"')
    (call,) = parse(odd).calls
    assert call.target == "orders:80" and call.latency == expected.latency
    twice = f'http_client_request_duration_seconds_bucket{{le="1",{base},le="2"}} 1\n'
    with pytest.raises(ParseError):
        parse(twice)


@pytest.mark.unit
def test_seconds_become_ms_and_series_of_one_target_add_up():
    text = stable("orders", 80, {"0.005": 0, "0.075": 8, "0.1": 8, "+Inf": 8}) + stable(
        "orders", 80, {"0.005": 0, "0.075": 1, "0.1": 2, "+Inf": 2}, status="503"
    )
    (call,) = parse(text).calls
    assert (call.calls, call.errors) == (10, 2)
    assert call.latency.bounds_ms == (5.0, 75.0, 100.0) and call.latency.counts == (0, 9, 1, 0)


@pytest.mark.unit
def test_istio_and_service_graph_histograms_by_their_caller_and_target():
    text = """istio_requests_total{source_workload="web",destination_service_name="orders",response_code="200"} 4
istio_request_duration_milliseconds_bucket{source_workload="web",destination_service_name="orders",response_code="200",le="10"} 1
istio_request_duration_milliseconds_bucket{source_workload="web",destination_service_name="orders",response_code="200",le="100"} 4
istio_request_duration_milliseconds_bucket{source_workload="web",destination_service_name="orders",response_code="200",le="+Inf"} 4
traces_service_graph_request_total{client="web",server="search"} 2
traces_service_graph_request_server_seconds_bucket{client="web",server="search",le="0.5"} 0
traces_service_graph_request_server_seconds_bucket{client="web",server="search",le="1"} 2
traces_service_graph_request_server_seconds_bucket{client="web",server="search",le="+Inf"} 2
"""
    got = {(c.caller, c.target): c.latency for c in parse(text).calls}
    assert got[("web", "orders")].bounds_ms == (10.0, 100.0) and got[("web", "orders")].counts == (1, 3, 0)
    assert got[("web", "search")].bounds_ms == (500.0, 1000.0) and got[("web", "search")].counts == (0, 2, 0)


@pytest.mark.unit
def test_dup_mode_takes_the_histogram_of_the_rule_with_the_largest_count_never_a_sum():
    # The same calls in two conventions; the older one saw more (it started earlier).
    text = stable("orders", 80, {"0.05": 6, "+Inf": 6}) + (
        'http_client_duration_milliseconds_bucket{net_peer_name="orders",net_peer_port="80",le="50"} 0\n'
        'http_client_duration_milliseconds_bucket{net_peer_name="orders",net_peer_port="80",le="+Inf"} 9\n'
        'http_client_duration_milliseconds_count{net_peer_name="orders",net_peer_port="80"} 9\n'
    )
    (call,) = parse(text).calls
    assert call.calls == 9 and call.latency.counts == (0, 9) and call.latency.total == 9


@pytest.mark.unit
@pytest.mark.parametrize(
    "buckets",
    [
        {"0.1": 3, "1": 5},  # no +Inf
        {"0.1": "NaN", "+Inf": 5},  # NaN count
        {"0.1": 5, "1": 3, "+Inf": 5},  # falling counts
        {"abc": 1, "+Inf": 5},  # an le that is no number
        {"-1": 1, "+Inf": 5},  # a negative bound
        {"NaN": 1, "+Inf": 5},  # a NaN bound
        {str(i / 1000): i for i in range(MAX_BUCKETS + 1)} | {"+Inf": MAX_BUCKETS + 1},  # too many buckets
    ],
)
def test_hostile_buckets_are_skipped_and_counted_and_the_calls_still_read(buckets):
    text = stable("orders", 80, buckets, count=5) + stable("search", 80, {"0.1": 1, "+Inf": 1})
    out = parse(text)
    got = {c.target: c for c in out.calls}
    assert got["orders:80"].calls == 5 and got["orders:80"].latency is None
    assert got["search:80"].latency.total == 1
    assert out.bad_histograms == 1 and out.skipped == 1


@pytest.mark.unit
def test_a_bad_series_does_not_spoil_its_targets_good_ones_and_duplicate_le_is_bad():
    text = (
        stable("orders", 80, {"0.1": 2, "+Inf": 2})
        + 'http_client_request_duration_seconds_bucket{http_response_status_code="500",server_address="orders",server_port="80",le="0.1"} 1\n'
        + 'http_client_request_duration_seconds_bucket{http_response_status_code="500",server_address="orders",server_port="80",le="0.1"} 1\n'
        + 'http_client_request_duration_seconds_bucket{http_response_status_code="500",server_address="orders",server_port="80",le="+Inf"} 1\n'
    )
    out = parse(text)
    (call,) = out.calls
    assert call.latency.total == 2 and out.bad_histograms == 1


@pytest.mark.unit
def test_histogram_helpers_refuse_what_quantiles_cannot_use():
    assert histogram_from_cumulative_buckets({0.1: 1.0, math.inf: math.inf}) is None
    assert histogram_from_cumulative_buckets({0.075: 1.0, math.inf: 1.0}, scale_to_ms=1000).bounds_ms == (75.0,)
    assert quantiles_ms(Histogram((10.0,), (0.0, 0.0))) is None


# --- Edge arithmetic (real Neo4j) -------------------------------------------------------


def observed(src, dst, calls, latency, *, source="prometheus", window=None):
    return Observation(
        target=src,
        source=source,
        service_slug=src,
        ok=True,
        window_seconds=window,
        edges=[ObservedEdge(src, Target("service", dst), calls, 0.0, latency=latency)],
    )


def cumulative(*counts, bounds=(10.0, 100.0, 1000.0)):
    return Histogram(bounds, tuple(float(c) for c in counts), cumulative=True)


@pytest.fixture
def ab(world, graph):
    for slug in ("a", "b"):
        catalog_services.service_create(actor=world["root"], team=world["team"], slug=slug, name=slug.upper())
    services.graph_sync()

    def edge():
        return db.read("MATCH (:Service {slug:'a'})-[r:CALLS]->(:Service {slug:'b'}) RETURN properties(r) AS p")[0]["p"]

    return edge


def test_one_merge_of_an_edge_from_several_sources_keeps_every_source(ab):
    """A crawl's chunk merges a service's scrape, its OTLP push and a central query together: the
    same edge comes in several rows of one batch, and each row's source must stay."""
    edge = ab
    services.edges_merge(
        [
            observed("a", "b", 100, None),
            observed("a", "b", 40, None, source="otlp:a", window=60),
            observed("a", "b", 70, None, source="central:main", window=60),
        ],
        crawl_id=1,
        now=10_000,
    )
    first = edge()
    assert sorted(first["sources"]) == ["central:main", "otlp:a", "prometheus"]
    assert (first["c:prometheus"], first["c:otlp:a"], first["c:central:main"]) == (100, 40, 70)
    services.edges_merge(
        [observed("a", "b", 160, None), observed("a", "b", 50, None, source="otlp:a", window=60)],
        crawl_id=2,
        now=70_000,
    )
    second = edge()
    assert sorted(second["sources"]) == ["central:main", "otlp:a", "prometheus"]
    assert second["t:prometheus"] == 70_000 and second["c:prometheus"] == 160


def test_cumulative_histograms_are_differenced_per_source_and_a_fall_is_a_restart(ab):
    edge = ab
    services.edges_merge([observed("a", "b", 100, cumulative(100, 0, 0, 0))], crawl_id=1, now=10_000)
    first = edge()
    assert first["p50_ms"] == 5.0 and first["p99_ms"] == 9.9  # since the process started: all under 10 ms
    assert first["h:prometheus"] == [100.0, 0.0, 0.0, 0.0] and first["hb:prometheus"] == [10.0, 100.0, 1000.0]
    # 100 more calls, all between 100 ms and 1 s: the window's quantiles, not the lifetime's.
    services.edges_merge([observed("a", "b", 200, cumulative(100, 0, 100, 0))], crawl_id=2, now=70_000)
    second = edge()
    assert (second["p50_ms"], second["p95_ms"], second["p99_ms"]) == (550.0, 955.0, 991.0)
    # The process restarted: counts fell, so the new counts are the window (10 calls, 10-100 ms).
    services.edges_merge([observed("a", "b", 10, cumulative(0, 10, 0, 0))], crawl_id=3, now=130_000)
    third = edge()
    assert (third["p50_ms"], third["p95_ms"], third["p99_ms"]) == (55.0, 95.5, 99.1)
    # No calls in the window: the last known quantiles stay (never 0).
    services.edges_merge([observed("a", "b", 10, cumulative(0, 10, 0, 0))], crawl_id=4, now=190_000)
    assert edge()["p50_ms"] == 55.0


def test_other_bounds_from_the_same_source_start_over_and_sources_keep_their_own_counts(ab):
    edge = ab
    services.edges_merge([observed("a", "b", 100, cumulative(100, 0, 0, 0))], crawl_id=1, now=10_000)
    # Another source's windowed histogram (spans) is used as it is and leaves prometheus' counts alone.
    spans = Histogram((10.0, 100.0, 1000.0), (0.0, 0.0, 4.0, 0.0))
    services.edges_merge([observed("a", "b", 4, spans, source="otlp", window=60)], crawl_id=2, now=20_000)
    assert edge()["p50_ms"] == 550.0 and edge()["h:prometheus"] == [100.0, 0.0, 0.0, 0.0] and "h:otlp" not in edge()
    # The exporter changed its buckets: nothing to difference against, the new counts are read whole.
    services.edges_merge([observed("a", "b", 150, cumulative(150, 0, bounds=(1000.0,)))], crawl_id=3, now=30_000)
    assert edge()["p50_ms"] == 500.0 and edge()["hb:prometheus"] == [1000.0]


def test_an_edge_without_latency_has_none_not_zero(ab, api, world):
    services.edges_merge([observed("a", "b", 5, None)], crawl_id=1, now=10_000)
    assert "p50_ms" not in ab()
    (e,) = api(world["reader"]).get("/api/v1/graph").json()["edges"]
    assert e["p50_ms"] is None and e["p95_ms"] is None and e["p99_ms"] is None


# --- End to end: a live fleet, two crawls ------------------------------------------------

BOUNDS = sorted(set(fleet.BOUNDS_MS) | {b * 1000 for b in fleet.BOUNDS_S})


def same_bucket(value, truth_ms):
    """Is ``value`` in the bucket that holds the true latency (no further from it than one bucket)?"""
    i = bisect.bisect_left(BOUNDS, truth_ms)
    return BOUNDS[i - 1] <= value <= BOUNDS[i]


def test_two_crawls_of_a_live_fleet_give_each_edges_latency_in_rest_graphql_and_the_service_page(
    graph, run_fleet, root, client
):
    running = run_fleet(40, seed=7)
    fleet.register(running.services, actor=root)
    services.graph_sync()
    truth = fleet.latency_truth(running.services)
    styles = {s.slug: s.style for s in running.services}
    assert {"otel-stable", "otel-old", "otel-dup", "envoy"} <= set(styles.values())
    for _ in range(2):
        run = services.crawl_inline()
        assert run.status == "succeeded" and run.failed == 0, run.error

    client.force_login(root)
    edges = client.get("/api/v1/graph").json()["edges"]
    gql = client.post(
        "/graphql",
        json.dumps({"query": "{ graph { edges { source target p50Ms p95Ms p99Ms } } }"}),
        content_type="application/json",
    ).json()["data"]["graph"]["edges"]
    assert {(e["source"], e["target"]) for e in edges} == running.truth
    by_pair = {(e["source"], e["target"]): e for e in gql}
    checked = 0
    for e in edges:
        pair = (e["source"], e["target"])
        assert (e["p50_ms"], e["p95_ms"], e["p99_ms"]) == tuple(by_pair[pair][k] for k in ("p50Ms", "p95Ms", "p99Ms"))
        if styles[e["source"]] == "envoy":  # counters only: latency unknown, not 0
            assert e["p50_ms"] is None and e["p99_ms"] is None, e
            continue
        for q in ("p50_ms", "p95_ms", "p99_ms"):
            assert e[q] is not None and same_bucket(e[q], truth[pair]), (pair, truth[pair], e)
        assert e["p50_ms"] <= e["p95_ms"] <= e["p99_ms"]
        checked += 1
    assert checked >= 20

    # The service page's tables: numbers in ms, for a caller with latency and its callee.
    src, dst = next(p for p in truth if p[1].startswith("fleet-") and styles[p[0]] != "envoy")
    edge = next(e for e in edges if (e["source"], e["target"]) == (src, dst))
    html = client.get(f"/services/{src}/dependencies/?depth=1").content.decode()
    assert 'id="outbound-calls"' in html and f"{edge['p95_ms']:.1f} ms" in html
    html = client.get(f"/services/{dst}/dependencies/?depth=1").content.decode()
    assert 'id="inbound-calls"' in html and f"{edge['p99_ms']:.1f} ms" in html
