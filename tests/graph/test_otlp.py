"""OTLP push (issue 13): the receiver (/v1/traces, /v1/metrics) against real Redis, the
OpenTelemetry Python SDK in real processes pushing to a live gunicorn, and crawls that put
the pushed edges into the real Neo4j."""

import gzip
import json
import math
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from django.test import Client
from google.protobuf import json_format
from google.rpc import error_details_pb2, status_pb2
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2

from graph import db, services
from graph.discovery import otlp
from graph.models import IngestKey
from graph.services.otlp import ingest_key_issue, ingest_key_revoke, otlp_drain, otlp_settle

ROOT = Path(__file__).resolve().parents[2]
PB, JSON = "application/x-protobuf", "application/json"


# --- Building requests ------------------------------------------------------------------------
def _attrs(d: dict) -> list[dict]:
    out = []
    for k, v in d.items():
        if isinstance(v, bool):
            out.append({"key": k, "value": {"bool_value": v}})
        elif isinstance(v, int):
            out.append({"key": k, "value": {"int_value": v}})
        elif isinstance(v, float):
            out.append({"key": k, "value": {"double_value": v}})
        else:
            out.append({"key": k, "value": {"string_value": v}})
    return out


def span(attrs=None, *, kind=3, ms=20.0, name="GET", end_ns=None, error=False) -> dict:
    end = end_ns if end_ns is not None else time.time_ns() - 10**9
    return {
        "trace_id": b"\x01" * 16,
        "span_id": b"\x02" * 8,
        "name": name,
        "kind": kind,
        "start_time_unix_nano": end - int(ms * 1e6),
        "end_time_unix_nano": end,
        "attributes": _attrs(attrs or {}),
        "status": {"code": 2 if error else 0},
    }


def _traces_message(by_service):
    request = trace_service_pb2.ExportTraceServiceRequest()
    for svc, spans in by_service.items():
        rs = request.resource_spans.add()
        kv = rs.resource.attributes.add(key="service.name")
        kv.value.string_value = svc
        ss = rs.scope_spans.add()
        for s in spans:
            out = ss.spans.add(
                trace_id=s["trace_id"],
                span_id=s["span_id"],
                name=s["name"],
                kind=s["kind"],
                start_time_unix_nano=s["start_time_unix_nano"],
                end_time_unix_nano=s["end_time_unix_nano"],
            )
            out.status.code = s["status"]["code"]
            for a in s["attributes"]:
                kv = out.attributes.add(key=a["key"])
                for field, value in a["value"].items():
                    setattr(kv.value, field, value)
    return request


HOST_ORDERS = {"server.address": "orders.internal", "server.port": 8080}


@pytest.fixture
def catalog(world):
    """Services shop, orders (at orders.internal:8080), payments, web and cart; an ingestion
    key for shop, one for web, one for a collector that may report for cart."""
    from catalog.services import service_create

    root = world["root"]
    for slug, base in (
        ("shop", ""),
        ("orders", "http://orders.internal:8080"),
        ("payments", ""),
        ("web", ""),
        ("cart", ""),
        ("collector", ""),
    ):
        service_create(actor=root, team=world["team"], slug=slug, name=slug.title(), base_url=base, crawl_enabled=False)
    keys = {
        "shop": ingest_key_issue(actor=world["member"], service="shop", name="shop-otel")[1],
        "web": ingest_key_issue(actor=world["member"], service="web", name="web-otel")[1],
        "payments": ingest_key_issue(actor=world["member"], service="payments", name="p-otel")[1],
        "collector": ingest_key_issue(actor=world["member"], service="collector", name="col", may_report_for=["cart"])[
            1
        ],
    }
    return {**world, "keys": keys}


def post(client, path, body: bytes, key: str | None, content_type=PB, **headers):
    extra = {f"HTTP_{k.upper().replace('-', '_')}": v for k, v in headers.items()}
    if key:
        extra["HTTP_AUTHORIZATION"] = f"Bearer {key}"
    return client.generic("POST", path, body, content_type=content_type, **extra)


def status_of(response) -> tuple[str, str]:
    """(ErrorInfo reason, message) of a google.rpc.Status body."""
    status = status_pb2.Status()
    if response["Content-Type"].startswith(JSON):
        json_format.Parse(response.content, status, ignore_unknown_fields=True)
    else:
        status.ParseFromString(response.content)
    info = error_details_pb2.ErrorInfo()
    assert status.details and status.details[0].Unpack(info)
    return info.reason, status.message


def partial(response, signal="traces"):
    message = (
        trace_service_pb2.ExportTraceServiceResponse()
        if signal == "traces"
        else metrics_service_pb2.ExportMetricsServiceResponse()
    )
    message.ParseFromString(response.content)
    return message


def drained(settle=True) -> dict[str, dict]:
    """What a run would take; settled (as a run whose graph write succeeded) unless told not."""
    got = {d["service"]: d for d in otlp_drain()}
    for d in got.values() if settle else ():
        assert otlp_settle(d["service"], d["token"])
    return got


# --- Pure parts ---------------------------------------------------------------------------------
@pytest.mark.unit
def test_a_gzip_bomb_is_refused_without_inflating_it():
    bomb = gzip.compress(b"\0" * (64 * 1024 * 1024))
    assert len(bomb) < 100_000
    with pytest.raises(otlp.OtlpError) as exc:
        otlp.gunzip(bomb, max_bytes=1024 * 1024)
    assert (exc.value.status, exc.value.code) == (413, "body_too_large")
    assert otlp.gunzip(gzip.compress(b"abc"), max_bytes=3) == b"abc"
    with pytest.raises(otlp.OtlpError, match="truncated"):
        otlp.gunzip(gzip.compress(b"abc" * 100)[:-12], max_bytes=1000)


@pytest.mark.unit
def test_peers_of_client_spans_follow_the_conventions_in_order():
    assert otlp.peer_of({"server.address": "Orders.Internal", "server.port": 8080, "peer.service": "x"}) == (
        "h",
        "orders.internal:8080",
        "orders.internal",
        8080,
    )
    assert otlp.peer_of({"peer.service": "payments", "url.full": "http://a.b:1/"})[:2] == ("n", "payments")
    assert otlp.peer_of({"url.full": "https://api.stripe.com/v1/charges"})[:2] == ("h", "api.stripe.com:443")
    assert otlp.peer_of({"http.url": "http://legacy.local:81/x"})[:2] == ("h", "legacy.local:81")
    db_peer = {"db.system.name": "postgresql", "server.address": "pg.internal", "server.port": 5432}
    assert otlp.peer_of(db_peer)[:2] == ("d", "postgresql:pg.internal:5432")
    assert otlp.peer_of({"db.system": "redis", "db.namespace": "0"})[:2] == ("d", "redis:0")
    queue = {"messaging.system": "kafka", "messaging.destination.name": "orders-events"}
    assert otlp.peer_of(queue)[:2] == ("q", "kafka:orders-events")
    assert otlp.peer_of({"server.address": "x" * (1024 * 1024), "server.port": 1}) is None
    assert otlp.peer_of({"server.address": "8080", "server.port": 8080}) is None
    assert otlp.peer_of({}) is None


@pytest.mark.unit
def test_cumulative_points_become_deltas_and_a_new_start_time_is_a_restart():
    point = ["m_total", {}, 100, 200, 12.0, None, None]
    assert otlp.cumulative_delta(point, None) == ["m_total", {}, 12.0, None, None]
    assert otlp.cumulative_delta(["m_total", {}, 100, 300, 20.0, None, None], [100, 12.0, None])[2] == 8.0
    assert otlp.cumulative_delta(["m_total", {}, 500, 600, 3.0, None, None], [100, 20.0, None])[2] == 3.0
    assert otlp.cumulative_delta(["m_total", {}, 100, 600, 5.0, None, None], [100, 20.0, None])[2] == 5.0
    assert otlp.cumulative_delta(["m_total", {}, 100, 600, 20.0, None, None], [100, 20.0, None]) is None


@pytest.mark.unit
def test_an_exposition_of_histogram_deltas_reads_back_through_the_scrapers_rules():
    from graph.discovery.parse import parse_exposition
    from graph.discovery.rules import METRIC_RULES

    labels = {"server_address": "orders.internal", "server_port": "8080", "http_response_status_code": "500"}
    text = otlp.exposition([["http_client_request_duration_seconds", labels, 4.0, [0.01, 0.1], [1.0, 2.0, 1.0]]])
    outcome = parse_exposition(text, METRIC_RULES, max_series=100)
    assert [(c.target, c.calls, c.errors) for c in outcome.calls] == [("orders.internal:8080", 4.0, 4.0)]


# --- The receiver in process (real Django, real Redis) --------------------------------------------
@pytest.mark.django_db
def test_spans_are_aggregated_per_service_and_peer_with_a_partial_success_for_the_rest(catalog):
    body = _traces_message(
        {
            "shop": [
                span(HOST_ORDERS, ms=12, end_ns=time.time_ns() - 120 * 10**9),  # two minutes ago
                span(HOST_ORDERS, ms=40, error=True),
                span({**HOST_ORDERS, "http.response.status_code": 503}, ms=900),
                span({"peer.service": "payments"}),
                span({}, kind=2),  # a SERVER span: accepted, no edge
                span({}),  # a CLIENT span naming no peer: rejected
            ],
            "orders": [span(HOST_ORDERS)],  # shop's key may not report for orders
        }
    ).SerializeToString()
    response = post(Client(), "/v1/traces", body, catalog["keys"]["shop"])
    assert response.status_code == 200 and response["Content-Type"] == PB
    answer = partial(response)
    assert answer.partial_success.rejected_spans == 2
    assert "1 spans of a service this key may not report for" in answer.partial_success.error_message
    assert "1 client spans without a usable peer" in answer.partial_success.error_message
    assert set(drained(settle=False)) == {"shop"}  # not settled: the next drain takes it again
    got = drained()
    assert set(got) == {"shop"}
    assert got["shop"]["window"] >= 120  # a first drain's window starts at the earliest span
    edges = {e[0]: e[1:] for e in got["shop"]["edges"]}
    orders = edges["h|orders.internal:8080"]
    assert orders[:2] == [3.0, 2.0] and sum(orders[2:]) == 3.0
    assert edges["n|payments"][:2] == [1.0, 0.0]
    assert drained() == {}  # taken once


@pytest.mark.django_db
def test_otlp_json_with_hex_ids_string_int64_and_integer_enums(catalog):
    end = time.time_ns() - 10**9
    body = {
        "resourceSpans": [
            {
                "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "payments"}}]},
                "scopeSpans": [
                    {
                        "spans": [
                            {
                                "traceId": "5b8efff798038103d269b633813fc60c",
                                "spanId": "eee19b7ec3c1b174",
                                "parentSpanId": "eee19b7ec3c1b173",
                                "name": "POST /charge",
                                "kind": 3,
                                "startTimeUnixNano": str(end - 30_000_000),
                                "endTimeUnixNano": str(end),
                                "attributes": [
                                    {"key": "server.address", "value": {"stringValue": "orders.internal"}},
                                    {"key": "server.port", "value": {"intValue": "8080"}},
                                    {"key": "http.response.status_code", "value": {"intValue": "502"}},
                                ],
                                "status": {},
                            }
                        ]
                    }
                ],
            }
        ]
    }
    response = post(Client(), "/v1/traces", json.dumps(body).encode(), catalog["keys"]["payments"], JSON)
    assert response.status_code == 200 and response["Content-Type"] == JSON
    assert response.json() == {}  # full success: no partial_success
    edges = {e[0]: e[1:] for e in drained()["payments"]["edges"]}
    assert edges["h|orders.internal:8080"][:2] == [1.0, 1.0]
    bad_id = json.dumps(body).replace("eee19b7ec3c1b174", "not-hex-at-all!!").encode()
    response = post(Client(), "/v1/traces", bad_id, catalog["keys"]["payments"], JSON)
    assert response.status_code == 400 and status_of(response)[0] == "id_invalid"


def _good(n=3):
    return _traces_message({"shop": [span(HOST_ORDERS) for _ in range(n)]}).SerializeToString()


@pytest.mark.django_db
def test_bad_input_is_a_clear_counted_refusal_and_what_was_stored_stays(catalog, settings):
    shop = catalog["keys"]["shop"]
    client = Client()
    assert post(client, "/v1/traces", _good(3), shop).status_code == 200  # stored before the bad input

    # Refused as a whole: status, a machine-readable reason in a google.rpc.Status, nothing stored.
    refusals = [
        (post(client, "/v1/traces", _good(3)[:-7], shop), 400, "protobuf_invalid"),
        (
            post(
                client,
                "/v1/traces",
                b'{"resourceSpans": [{"scopeSpans": [{"spans": [{"startTimeUnixNano": "yesterday"}]}]}]}',
                shop,
                JSON,
            ),
            400,
            "json_invalid",
        ),
        (post(client, "/v1/traces", b'{"resourceSpans": "none"}', shop, JSON), 400, "json_invalid"),
        (post(client, "/v1/traces", b"[1, 2", shop, JSON), 400, "json_invalid"),
        (post(client, "/v1/traces", _good(), shop, "text/plain"), 415, "unsupported_media_type"),
        (post(client, "/v1/traces", _good(), shop, PB, content_encoding="br"), 415, "unsupported_encoding"),
        (
            post(client, "/v1/traces", gzip.compress(b"\0" * (64 * 1024 * 1024)), shop, PB, content_encoding="gzip"),
            413,
            "body_too_large",
        ),
        (post(client, "/v1/traces", b"\0" * (settings.OTLP_MAX_BODY_BYTES + 1), shop), 413, "body_too_large"),
        (post(client, "/v1/traces", _good(), None), 401, "key_missing_or_invalid"),
        (
            post(client, "/v1/traces", _good(), shop[:-1] + ("A" if shop[-1] != "A" else "B")),
            401,
            "key_missing_or_invalid",
        ),
        (post(client, "/v1/metrics", b"\xff\xff\xff", shop), 400, "protobuf_invalid"),
    ]
    for response, status, reason in refusals:
        assert response.status_code == status, (status, reason, response.content[:200])
        assert response["X-Error-Code"] == reason and status_of(response)[0] == reason

    # Accepted with the bad parts rejected and counted.
    now = time.time_ns()
    body = _traces_message(
        {
            "shop": [
                span({"server.address": "a" * (1024 * 1024), "server.port": 80}),  # 1 MB attribute
                span(HOST_ORDERS, name="n" * (1024 * 1024)),  # 1 MB span name
                span(HOST_ORDERS, ms=0, end_ns=1),  # 1970
                span(HOST_ORDERS, ms=0, end_ns=2**64 - 1),  # the largest time there is (2554)
                span(HOST_ORDERS, ms=10 * 24 * 3600 * 1000, end_ns=now),  # ten days long
                span(HOST_ORDERS, ms=7),  # good
                span({"server.port": 80}),  # a list where a host belongs (below)
            ]
        }
    )
    array = body.resource_spans[0].scope_spans[0].spans[-1].attributes.add(key="server.address")
    array.value.array_value.values.add().string_value = "orders.internal"
    body = body.SerializeToString()
    answer = partial(post(client, "/v1/traces", body, shop))
    assert answer.partial_success.rejected_spans == 6
    message = answer.partial_success.error_message
    assert "3 spans with absurd timestamps" in message and "2 client spans without a usable peer" in message
    assert "1 spans with a name over 1024 characters" in message

    many = _traces_message({f"svc-{i}": [span(HOST_ORDERS)] for i in range(10_000)})
    many.resource_spans[0].resource.attributes[0].value.string_value = "shop"
    answer = partial(post(client, "/v1/traces", many.SerializeToString(), shop))
    assert answer.partial_success.rejected_spans == 9_999
    assert (
        f"9000 spans in resources beyond the first {settings.OTLP_MAX_RESOURCES}"
        in answer.partial_success.error_message
    )

    got = drained()["shop"]
    assert {e[0]: e[1] for e in got["edges"]} == {"h|orders.internal:8080": 3.0 + 1.0 + 1.0}


def _metrics(service, points, *, temporality=2, start=None, nan=False):
    request = metrics_service_pb2.ExportMetricsServiceRequest()
    rm = request.resource_metrics.add()
    rm.resource.attributes.add(key="service.name").value.string_value = service
    metric = rm.scope_metrics.add().metrics.add(name="http.client.request.duration", unit="s")
    metric.histogram.aggregation_temporality = temporality
    now = time.time_ns()
    for attrs, counts in points:
        p = metric.histogram.data_points.add(
            start_time_unix_nano=start or now - 60 * 10**9,
            time_unix_nano=now,
            count=sum(counts),
            explicit_bounds=[0.01, 0.1, 1.0],
            bucket_counts=counts,
        )
        for k, v in attrs.items():
            kv = p.attributes.add(key=k)
            if isinstance(v, int):
                kv.value.int_value = v
            else:
                kv.value.string_value = v
    if nan:
        counter = rm.scope_metrics[0].metrics.add(name="istio_requests_total")
        counter.sum.is_monotonic = True
        counter.sum.aggregation_temporality = 2
        counter.sum.data_points.add(as_double=math.nan, time_unix_nano=now)
    return request.SerializeToString()


@pytest.mark.django_db
def test_metric_points_cumulative_delta_and_restarts_through_the_scrape_rules(catalog, graph):
    services.graph_sync()
    web, collector, client = catalog["keys"]["web"], catalog["keys"]["collector"], Client()
    ok = {**HOST_ORDERS, "http.response.status_code": 200}
    failed = {**HOST_ORDERS, "http.response.status_code": 500}
    start = time.time_ns() - 3600 * 10**9
    response = post(
        client, "/v1/metrics", _metrics("web", [(ok, [2, 5, 1, 0]), (failed, [0, 0, 0, 2])], start=start, nan=True), web
    )
    assert response.status_code == 200
    answer = partial(response, "metrics")
    assert answer.partial_success.rejected_data_points == 1
    assert "NaN" in answer.partial_success.error_message
    # A collector's delta points for cart: summed.
    for _ in range(2):
        response = post(client, "/v1/metrics", _metrics("cart", [(ok, [1, 1, 1, 0])], temporality=1), collector)
        assert response.status_code == 200 and not partial(response, "metrics").HasField("partial_success")
    run = services.crawl_inline()
    assert run.status == "succeeded", run.results.values_list("target", "error")
    assert _edge("web", "orders")[:2] == (10.0, 2.0)
    assert _edge("cart", "orders")[:2] == (6.0, 0.0)
    # Web's counters go on (8 -> 12 ok), then its process restarts (start time changes).
    post(client, "/v1/metrics", _metrics("web", [(ok, [2, 8, 2, 0]), (failed, [0, 0, 0, 2])], start=start), web)
    services.crawl_inline()
    assert _edge("web", "orders")[:2] == (4.0, 0.0)
    post(client, "/v1/metrics", _metrics("web", [(ok, [0, 3, 0, 0])], start=time.time_ns() - 10**9), web)
    services.crawl_inline()
    assert _edge("web", "orders")[:2] == (3.0, 0.0)


def _exponential(service, *, scale, offset, counts, start, negative=(), gauge=False):
    """Cumulative exponential-histogram points of http.client.request.duration (s) to orders."""
    request = metrics_service_pb2.ExportMetricsServiceRequest()
    rm = request.resource_metrics.add()
    rm.resource.attributes.add(key="service.name").value.string_value = service
    scope = rm.scope_metrics.add()
    metric = scope.metrics.add(name="http.client.request.duration", unit="s")
    metric.exponential_histogram.aggregation_temporality = 2
    now = time.time_ns()
    for bad in (False, True) if negative else (False,):
        p = metric.exponential_histogram.data_points.add(
            start_time_unix_nano=start, time_unix_nano=now, scale=scale, count=sum(counts) + sum(negative) * bad
        )
        p.positive.offset = offset
        p.positive.bucket_counts.extend(counts)
        if bad:
            p.negative.bucket_counts.extend(negative)
        for k, v in {**HOST_ORDERS, "http.response.status_code": 200, "bad": str(bad)}.items():
            kv = p.attributes.add(key=k)
            if isinstance(v, int):
                kv.value.int_value = v
            else:
                kv.value.string_value = v
    if gauge:
        read = scope.metrics.add(name="http.client.request.duration", unit="s")  # a name the rules read
        read.gauge.data_points.add(as_double=0.02, time_unix_nano=now)
        other = scope.metrics.add(name="process.cpu.utilization", unit="1")  # a name they do not
        other.gauge.data_points.add(as_double=0.5, time_unix_nano=now)
    return request.SerializeToString()


@pytest.mark.unit
def test_exponential_buckets_fall_into_power_of_two_bounds_at_every_scale():
    point = metrics_service_pb2.ExportMetricsServiceRequest().resource_metrics.add()
    p = point.scope_metrics.add().metrics.add().exponential_histogram.data_points.add(scale=3, count=7, zero_count=1)
    p.positive.offset = -46  # (2^(-46/8), 2^(-45/8)] = (18.6 ms, 20.3 ms]: inside (2^-6, 2^-5]
    p.positive.bucket_counts.extend([4, 0, 2])  # the third, (21.0 ms, 22.9 ms], too
    counts = otlp.exponential_counts(p)
    assert counts[0] == 1 and counts[otlp.EXP_BOUNDS.index(2.0**-5)] == 6 and sum(counts) == 7
    p.scale, p.positive.offset = -1, 2  # (2^4, 2^6] and (2^8, 2^10]: counted at their upper bounds
    counts = otlp.exponential_counts(p)
    assert counts[otlp.EXP_BOUNDS.index(64.0)] == 4 and counts[otlp.EXP_BOUNDS.index(1024.0)] == 2
    p.positive.offset = 40  # beyond 2^20: the +Inf bucket
    assert otlp.exponential_counts(p)[-1] == 6
    p.count = 8  # the buckets do not add up
    assert otlp.exponential_counts(p) is None
    p.count, p.scale = 7, 21
    assert otlp.exponential_counts(p) is None


@pytest.mark.django_db
def test_exponential_histograms_are_read_and_gauges_of_read_metrics_rejected(catalog, graph):
    services.graph_sync()
    web, client = catalog["keys"]["web"], Client()
    start = time.time_ns() - 3600 * 10**9
    # 4 calls of about 20 ms (scale 3), a point with negative durations, two gauges.
    body = _exponential("web", scale=3, offset=-46, counts=[4], start=start, negative=[1], gauge=True)
    response = post(client, "/v1/metrics", body, web)
    assert response.status_code == 200
    answer = partial(response, "metrics").partial_success
    assert answer.rejected_data_points == 2  # the negative point, the gauge of a read metric; not process.cpu
    assert "1 exponential histogram points with unusable buckets" in answer.error_message
    assert "1 gauge points of a metric the rules read" in answer.error_message
    assert services.crawl_inline().status == "succeeded"
    calls, errors, p50, p99, *_ = _edge("web", "orders")
    assert (calls, errors) == (4.0, 0.0) and 2**-6 * 1000 <= p50 <= p99 <= 2**-5 * 1000
    # The SDK rescales (scale 2) as the counts grow: the series keeps its bounds, the delta is exact.
    post(client, "/v1/metrics", _exponential("web", scale=2, offset=-23, counts=[10], start=start), web)
    assert services.crawl_inline().status == "succeeded"
    assert _edge("web", "orders")[:2] == (6.0, 0.0)


def _edge(src, dst):
    rows = db.read(
        "MATCH (:Service {slug: $src})-[r:CALLS]->(t) WHERE t.slug = $dst OR t.key = $dst "
        "RETURN r.calls AS calls, r.errors AS errors, r.p50_ms AS p50, r.p99_ms AS p99, r.sources AS sources, "
        "t.kind AS kind",
        src=src,
        dst=dst,
    )
    assert len(rows) == 1, (src, dst, rows)
    r = rows[0]
    return r["calls"], r["errors"], r["p50"], r["p99"], r["sources"], r["kind"]


@pytest.mark.django_db
def test_backpressure_is_429_and_a_redis_outage_503_with_retry_after(catalog, settings):
    shop, client = catalog["keys"]["shop"], Client()
    assert post(client, "/v1/traces", _good(), shop).status_code == 200
    settings.OTLP_BUFFER_MAX_ENTRIES = 1
    response = post(client, "/v1/traces", _good(), shop)
    assert response.status_code == 429 and response["Retry-After"] == str(settings.OTLP_RETRY_AFTER_SECONDS)
    assert status_of(response)[0] == "ingestion_behind"
    assert len(drained()["shop"]["edges"]) == 1  # the drain frees the buffer
    assert post(client, "/v1/traces", _good(), shop).status_code == 200
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:1/0",
            "OPTIONS": {"socket_connect_timeout": 0.2, "socket_timeout": 0.2},
        }
    }
    response = post(client, "/v1/traces", _good(), shop)
    assert response.status_code == 503 and response["Retry-After"] and status_of(response)[0] == "ingestion_unavailable"


@pytest.mark.django_db
def test_a_revoked_key_is_refused(catalog, settings):
    settings.KEY_LOCAL_CACHE_SECONDS = 0
    key = IngestKey.objects.get(name="shop-otel")
    assert post(Client(), "/v1/traces", _good(), catalog["keys"]["shop"]).status_code == 200
    ingest_key_revoke(actor=catalog["lead"], key=key, reason="leaked")
    response = post(Client(), "/v1/traces", _good(), catalog["keys"]["shop"])
    assert response.status_code == 401 and status_of(response)[0] == "key_missing_or_invalid"


# --- Real SDK processes against a live gunicorn, then a crawl ----------------------------------------
def _push(signal, url, key, service, plan):
    out = subprocess.run(
        [sys.executable, str(ROOT / "tests/graph/otlp_pusher.py"), signal, url, key, service, json.dumps(plan)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    return out


@pytest.mark.django_db(transaction=True)
def test_sdk_processes_push_spans_and_metrics_and_a_crawl_puts_the_edges_in_neo4j(
    catalog, graph, web_processes, celery_workers
):
    (url,) = web_processes(1, workers=2)
    celery_workers(1)
    services.graph_sync()
    plan = [
        {"n": 30, "kind": "client", "attrs": HOST_ORDERS, "ms": [12, 40, 180], "error_every": 5},
        {"n": 4, "kind": "client", "attrs": {**HOST_ORDERS, "http.response.status_code": 503}, "ms": [900]},
        {"n": 3, "kind": "client", "attrs": {"peer.service": "payments"}, "ms": [30]},
        {
            "n": 5,
            "kind": "client",
            "attrs": {"db.system.name": "postgresql", "server.address": "pg.internal", "server.port": 5432},
            "ms": [2],
        },
        {
            "n": 4,
            "kind": "producer",
            "attrs": {"messaging.system": "kafka", "messaging.destination.name": "orders-events"},
            "ms": [1],
        },
        {"n": 7, "kind": "server", "attrs": {}, "ms": [5]},
        {"n": 2, "kind": "client", "attrs": {"url.full": "https://api.stripe.com/v1/charges"}, "ms": [100]},
    ]
    _push("traces", url, catalog["keys"]["shop"], "shop", plan)
    ok = {**HOST_ORDERS, "http.response.status_code": 200}
    failed = {**HOST_ORDERS, "http.response.status_code": 500}
    rounds = [[{"attrs": ok, "ms": [20] * 10}], [{"attrs": ok, "ms": [60] * 8}, {"attrs": failed, "ms": [300] * 2}]]
    _push("metrics", url, catalog["keys"]["web"], "web", {"rounds": rounds})
    _push("delta-metrics", url, catalog["keys"]["collector"], "cart", {"rounds": [[{"attrs": ok, "ms": [5] * 6}]] * 2})
    # An OTLP JSON body from a plain HTTP client, over the same live server.
    end = time.time_ns() - 10**9
    body = {
        "resourceSpans": [
            {
                "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "payments"}}]},
                "scopeSpans": [
                    {
                        "spans": [
                            {
                                "traceId": "5b8efff798038103d269b633813fc60c",
                                "spanId": f"eee19b7ec3c1b17{i}",
                                "name": "charge",
                                "kind": 3,
                                "startTimeUnixNano": str(end - 50_000_000),
                                "endTimeUnixNano": str(end),
                                "attributes": [{"key": "peer.service", "value": {"stringValue": "orders"}}],
                                "status": {"code": 2} if i == 0 else {},
                            }
                            for i in range(4)
                        ]
                    }
                ],
            },
            {
                "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "shop"}}]},
                "scopeSpans": [
                    {
                        "spans": [
                            {
                                "traceId": "5b8efff798038103d269b633813fc60c",
                                "spanId": "eee19b7ec3c1b179",
                                "kind": 3,
                                "startTimeUnixNano": str(end - 1),
                                "endTimeUnixNano": str(end),
                            }
                        ]
                    }
                ],
            },
        ]
    }
    request = urllib.request.Request(
        f"{url}/v1/traces",
        data=gzip.compress(json.dumps(body).encode()),
        headers={
            "Content-Type": JSON,
            "Content-Encoding": "gzip",
            "Authorization": f"Bearer {catalog['keys']['payments']}",
        },
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        answer = json.loads(response.read())
        assert response.headers["Content-Type"] == JSON
    assert answer == {
        "partialSuccess": {"rejectedSpans": "1", "errorMessage": "1 spans of a service this key may not report for"}
    }
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(urllib.request.Request(f"{url}/v1/traces", data=b"x", headers={"Content-Type": PB}))
    assert refused.value.code == 401

    # A crawl by the Celery workers: planning drains the buffers, its tasks write Neo4j in batches.
    from tests.graph.test_discovery import wait_for

    run = wait_for(services.crawl_start(trigger="api", actor=catalog["root"]).pk)
    assert run.status == "succeeded", list(run.results.values_list("target", "error"))
    assert sorted(run.results.values_list("target", flat=True)) == [
        "otlp:cart",
        "otlp:payments",
        "otlp:shop",
        "otlp:web",
    ]
    calls, errors, p50, p99, sources, _ = _edge("shop", "orders")
    assert (calls, errors, sources) == (34.0, 10.0, ["otlp:shop"])
    # 10 x 12 ms, 10 x 40 ms, 10 x 180 ms, 4 x 900 ms over OpenTelemetry's default buckets.
    assert (p50, p99) == (42.5, 978.75)
    assert _edge("shop", "payments")[:2] == (3.0, 0.0)
    assert _edge("shop", "database:postgresql:pg.internal:5432")[::5] == (5.0, "database")
    assert _edge("shop", "queue:kafka:orders-events")[::5] == (4.0, "queue")
    assert _edge("shop", "api.stripe.com:443")[::5] == (2.0, "endpoint")
    assert _edge("payments", "orders")[:2] == (4.0, 1.0)
    calls, errors, p50, _, sources, _ = _edge("web", "orders")
    assert (calls, errors, sources) == (20.0, 2.0, ["otlp:web"]) and p50 is not None
    assert _edge("cart", "orders")[:2] == (12.0, 0.0)


@pytest.mark.django_db
def test_an_edge_ages_only_while_its_reporter_keeps_reporting(catalog, graph, settings):
    services.graph_sync()
    settings.DISCOVERY_EDGE_TTL = 1
    client, shop, web = Client(), catalog["keys"]["shop"], catalog["keys"]["web"]
    post(client, "/v1/traces", _traces_message({"shop": [span(HOST_ORDERS)]}).SerializeToString(), shop)
    both = {"web": [span(HOST_ORDERS), span({"peer.service": "payments"})]}
    post(client, "/v1/traces", _traces_message(both).SerializeToString(), web)
    assert services.crawl_inline().status == "succeeded"
    time.sleep(1.2)  # past the TTL: what is not seen again may go stale
    post(client, "/v1/traces", _traces_message({"web": [span(HOST_ORDERS)]}).SerializeToString(), web)
    run = services.crawl_inline()
    assert list(run.results.values_list("target", flat=True)) == ["otlp:web"]
    stale = {
        (r["s"], r["t"]): r["stale"]
        for r in db.read("MATCH (s:Service)-[r:CALLS]->(t:Service) RETURN s.slug AS s, t.slug AS t, r.stale AS stale")
    }
    # web kept reporting and no longer calls payments; shop stopped reporting, so nothing says its edge is gone.
    assert stale == {("web", "orders"): False, ("web", "payments"): True, ("shop", "orders"): False}


@pytest.mark.django_db
def test_a_run_whose_graph_write_fails_loses_no_pushed_calls(catalog, graph, settings):
    """Neo4j does not answer when the run merges (no server on the port): the drained spans and
    cumulative points stay staged, and the next run, with Neo4j back, counts all of them."""
    from graph import db as graph_db
    from tests.conftest import free_port

    services.graph_sync()
    client, shop, web = Client(), catalog["keys"]["shop"], catalog["keys"]["web"]
    ok = {**HOST_ORDERS, "http.response.status_code": 200}
    start = time.time_ns() - 3600 * 10**9
    post(
        client,
        "/v1/traces",
        _traces_message({"shop": [span(HOST_ORDERS), span(HOST_ORDERS)]}).SerializeToString(),
        shop,
    )
    post(client, "/v1/metrics", _metrics("web", [(ok, [2, 5, 1, 0])], start=start), web)
    uri = settings.NEO4J_URI
    graph_db.close()
    settings.NEO4J_URI = f"bolt://127.0.0.1:{free_port()}"  # nothing listens there: the merge fails
    try:
        down = services.crawl_inline()
        assert down.status == "failed" and "unavailable" in down.error.lower(), down.error
    finally:
        graph_db.close()
        settings.NEO4J_URI = uri
    post(client, "/v1/traces", _traces_message({"shop": [span(HOST_ORDERS)]}).SerializeToString(), shop)
    post(client, "/v1/metrics", _metrics("web", [(ok, [2, 8, 2, 0])], start=start), web)
    run = services.crawl_inline()
    assert run.status == "succeeded", run.results.values_list("target", "error")
    assert _edge("shop", "orders")[:2] == (3.0, 0.0)  # 2 spans of the failed run + 1
    assert _edge("web", "orders")[:2] == (12.0, 0.0)  # the counter's whole rise, not 12 - 8
    # Settled: a third run sees only what was pushed after the second.
    post(client, "/v1/traces", _traces_message({"shop": [span(HOST_ORDERS)]}).SerializeToString(), shop)
    assert services.crawl_inline().status == "succeeded"
    assert _edge("shop", "orders")[:2] == (1.0, 0.0)


@pytest.mark.django_db
def test_ingest_keys_over_rest_are_shown_once_audited_and_revoked_once(world, api):
    from catalog.services import service_create
    from core.models import AuditEvent

    for slug in ("shop", "cart"):
        service_create(actor=world["root"], team=world["team"], slug=slug, name=slug)
    body = {"service": "shop", "name": "shop-otel", "may_report_for": ["cart"]}
    assert api(world["reader"]).post("/api/v1/ingest-keys/", body, format="json").status_code == 403
    assert api(world["other"]).post("/api/v1/ingest-keys/", body, format="json").status_code == 403
    created = api(world["member"]).post("/api/v1/ingest-keys/", body, format="json")
    assert created.status_code == 201, created.json()
    issued = created.json()
    assert issued["secret"].startswith(f"swb_{issued['key_id']}_") and issued["may_report_for"] == ["cart"]
    listed = api(world["member"]).get("/api/v1/ingest-keys/").json()["results"]
    assert [k["key_id"] for k in listed] == [issued["key_id"]] and "secret" not in listed[0]
    assert api(world["reader"]).get("/api/v1/ingest-keys/").json()["results"] == []
    unknown = api(world["member"]).post("/api/v1/ingest-keys/", {**body, "service": "ghost"}, format="json")
    assert unknown.status_code == 400 and unknown.json()["code"]
    revoke = f"/api/v1/ingest-keys/{issued['id']}/revoke/"
    assert api(world["lead"]).post(revoke, {"reason": "leaked"}, format="json").json()["revoked"] is True
    again = api(world["lead"]).post(revoke, {"reason": "leaked"}, format="json")
    assert again.status_code == 409 and again.json()["code"] == "already_revoked"
    events = AuditEvent.objects.filter(action__startswith="ingest_key.").order_by("pk")
    assert [e.action for e in events] == ["ingest_key.issue", "ingest_key.revoke"]
    assert all("secret_hash" not in (e.after or {}) for e in events)
    assert events[0].org_id == world["org"].pk


@pytest.mark.django_db(transaction=True)
def test_a_fleet_pushing_otlp_traces_is_discovered_exactly(graph, web_processes, root):
    """devtools/fleet_otlp.py: 40 simulated services, each with its own ingestion key, push one
    minute of client spans to a live gunicorn; one crawl finds exactly the fleet's edges
    (precision and recall 1.0) with exactly the calls and errors sent."""
    from catalog.models import Service
    from devtools import fleet, fleet_otlp
    from tests.conftest import FLEET_PORT_BASE

    services_ = fleet.topology(40, seed=5, port_base=FLEET_PORT_BASE)
    fleet.register(services_, actor=root)
    Service.objects.filter(slug__startswith="fleet-").update(crawl_enabled=False)  # pushed, not scraped
    services.graph_sync()
    (url,) = web_processes(1, workers=2)
    keys = fleet_otlp.issue_keys(services_, actor=root)
    sent = fleet_otlp.push(services_, url=url, keys=keys, window_s=60, latency_ms=fleet.call_latency_ms)
    assert sent["refused"] == 0 and sent["spans"] > 1000
    run = services.crawl_inline()
    assert run.status == "succeeded" and run.failed == 0
    found = {
        (r["s"], r["t"]): (r["calls"], r["errors"])
        for r in db.read(
            "MATCH (s:Service)-[r:CALLS]->(t) RETURN s.slug AS s, coalesce(t.slug, t.key) AS t, "
            "r.calls AS calls, r.errors AS errors"
        )
    }
    truth = {
        (s.slug, c["target"]): tuple(float(x) for x in fleet_otlp.calls_in_window(c, 60))
        for s in services_
        for c in s.calls
    }
    assert set(found) == set(truth), (set(found) - set(truth), set(truth) - set(found))
    assert found == truth
