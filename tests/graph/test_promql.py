"""The central source's PromQL: the queries it sends and the parsing of what comes back,
hostile answers included. Pure."""

import json
import math

import pytest

from graph.discovery import promql
from graph.discovery.latency import quantile
from graph.discovery.matching import CatalogIndex, ServiceRef
from graph.discovery.parse import ParseError
from graph.discovery.sources.central import to_edges

pytestmark = pytest.mark.unit

ALL = list(promql.RULE_SETS)


def answer(rows, status="success", result_type="vector"):
    return json.dumps(
        {
            "status": status,
            "data": {
                "resultType": result_type,
                "result": [{"metric": labels, "value": [1700000000.0, str(value)]} for labels, value in rows],
            },
        }
    ).encode()


def run(plan_rows: dict, rule_sets=ALL):
    """Feed each query key its rows, as Prometheus would answer, and read them all."""
    plan = promql.queries(rule_sets, 300)
    answers = {q.key: promql.vector(answer(plan_rows.get(q.key, [])), max_series=1000) for q in plan}
    return promql.read_answers(answers, plan)


INDEX = CatalogIndex(
    [
        ServiceRef("web", "Web", "http://10.0.0.1:8080", ()),
        ServiceRef("orders", "Orders", "http://10.0.0.2:8080", ("orders.internal:80",)),
        ServiceRef("search", "Search Service", "http://10.0.0.3:9000", ("search-svc",)),
    ]
)


def test_queries_are_windowed_increases_with_the_namespace_prefix():
    plan = promql.queries(ALL, 120, "otelcol")
    by_key = {q.key: q.promql for q in plan}
    assert by_key["sg:calls"] == (
        "sum by (client, server, connection_type) (increase(otelcol_traces_service_graph_request_total[120s]))"
    )
    assert "otelcol_traces_service_graph_request_failed_total[120s]" in by_key["sg:errors"]
    assert "otelcol_traces_service_graph_request_server_seconds_bucket[120s]" in by_key["sg:latency0"]
    assert "otelcol_traces_service_graph_request_server_bucket[120s]" in by_key["sg:latency1"]
    assert 'istio_requests_total{response_code=~"5.."}[120s]' in by_key["istio:errors"]
    assert "http_client_request_duration_seconds_count[120s]" in by_key["otel:calls"]
    assert {q.rule for q in promql.queries(["istio"], 60)} == {"istio"}
    assert promql.queries([], 60) == []
    with pytest.raises(ValueError):
        promql.queries(ALL, 60, 'x"} or vector(1) #')


def test_service_graph_calls_errors_and_latency_from_either_histogram_name():
    out = run(
        {
            "sg:calls": [
                ({"client": "web", "server": "orders", "connection_type": ""}, 100),
                ({"client": "web", "server": "search-svc", "connection_type": ""}, 40),
                ({"client": "web", "server": "payments.example:443", "connection_type": "virtual_node"}, 7),
            ],
            "sg:errors": [({"client": "web", "server": "orders", "connection_type": ""}, 5)],
            # Tempo's name for web->orders, the collector's for web->search (seconds).
            "sg:latency0": [
                ({"client": "web", "server": "orders", "le": "0.1"}, 50),
                ({"client": "web", "server": "orders", "le": "0.2"}, 100),
                ({"client": "web", "server": "orders", "le": "+Inf"}, 100),
            ],
            "sg:latency1": [
                ({"client": "web", "server": "search-svc", "le": "0.01"}, 40),
                ({"client": "web", "server": "search-svc", "le": "+Inf"}, 40),
            ],
        },
        ["service_graph"],
    )
    edges = {(e.src, e.target.kind, e.target.key): e for e in to_edges(out, INDEX)[0]}
    orders = edges[("web", "service", "orders")]
    assert (orders.calls, orders.errors) == (100, 5)
    assert orders.latency.bounds_ms == (100.0, 200.0) and not orders.latency.cumulative
    assert quantile(orders.latency, 0.5) == pytest.approx(100.0)
    search = edges[("web", "service", "search")]  # by alias
    assert search.calls == 40 and quantile(search.latency, 0.5) == pytest.approx(5.0)
    ext = edges[("web", "endpoint", "payments.example:443")]
    assert (ext.target.host, ext.target.port, ext.latency) == ("payments.example", 443, None)


def test_istio_keeps_the_reporter_that_saw_more_never_the_sum():
    ids = {"source_workload": "web", "destination_workload": "orders-v1", "destination_service_name": "orders"}
    out = run(
        {
            "istio:calls": [({**ids, "reporter": "source"}, 90), ({**ids, "reporter": "destination"}, 100)],
            "istio:errors": [({**ids, "reporter": "source"}, 1), ({**ids, "reporter": "destination"}, 10)],
            "istio:latency": [
                ({**ids, "reporter": "destination", "le": "50"}, 100),
                ({**ids, "reporter": "destination", "le": "+Inf"}, 100),
                ({**ids, "reporter": "source", "le": "5"}, 90),
                ({**ids, "reporter": "source", "le": "+Inf"}, 90),
            ],
            # Istio's "unknown" caller (outside the mesh) names nobody.
            "istio:calls_x": [],
        },
        ["istio"],
    )
    [edge] = to_edges(out, INDEX)[0]
    assert (edge.src, edge.target.key, edge.calls, edge.errors) == ("web", "orders", 100, 10)
    assert edge.latency.total == 100 and quantile(edge.latency, 0.5) == pytest.approx(25.0)  # destination's


def test_otel_client_metrics_by_service_name_or_job_and_errors():
    out = run(
        {
            "otel:calls": [
                (
                    {
                        "job": "prod/web",
                        "server_address": "10.0.0.2",
                        "server_port": "8080",
                        "http_response_status_code": "200",
                    },
                    80,
                ),
                ({"job": "prod/web", "server_address": "10.0.0.2", "server_port": "8080", "error_type": "timeout"}, 3),
                (
                    {
                        "job": "x",
                        "service_name": "web",
                        "server_address": "orders.internal",
                        "server_port": "80",
                        "http_response_status_code": "503",
                    },
                    2,
                ),
                ({"job": "web", "server_address": "8080"}, 50),  # shifted labels: skipped
            ],
            "otel-old-ms:calls": [
                ({"job": "web", "net_peer_name": "10.0.0.3", "net_peer_port": "9000", "http_status_code": "500"}, 4),
            ],
        },
        ["otel_client"],
    )
    edges, skipped = to_edges(out, INDEX)
    by = {(e.src, e.target.key): (e.calls, e.errors) for e in edges}
    # 10.0.0.2:8080 (base URL) and orders.internal:80 (alias) are the same service: one rule's max.
    assert by == {("web", "orders"): (83, 3), ("web", "search"): (4, 4)}
    assert out.skipped == 1 and skipped == 0


def test_the_same_calls_under_several_rules_count_once():
    out = run(
        {
            "sg:calls": [({"client": "web", "server": "orders", "connection_type": ""}, 100)],
            "otel:calls": [({"job": "web", "server_address": "10.0.0.2", "server_port": "8080"}, 101)],
            "istio:calls": [
                (
                    {
                        "reporter": "source",
                        "source_workload": "web",
                        "destination_workload": "orders",
                        "destination_service_name": "orders",
                    },
                    99,
                )
            ],
        }
    )
    [edge] = to_edges(out, INDEX)[0]
    assert edge.calls == 101


def test_unknown_callers_are_skipped_self_calls_and_idle_pairs_dropped():
    out = run(
        {
            "sg:calls": [
                ({"client": "ghost", "server": "orders"}, 10),  # caller not in the catalog
                ({"client": "web", "server": "web"}, 10),  # itself
                ({"client": "web", "server": "orders"}, 0),  # no calls in the window
                ({"client": "", "server": "orders"}, 10),  # no caller
                ({"client": "web", "server": "brand-new"}, 3),  # unknown server: an endpoint
            ]
        },
        ["service_graph"],
    )
    edges, skipped = to_edges(out, INDEX)
    assert [(e.src, e.target.kind, e.target.key) for e in edges] == [("web", "endpoint", "brand-new")]
    assert skipped == 1 and out.skipped == 1


@pytest.mark.parametrize(
    "body, message",
    [
        (b"<!doctype html><html><body>Grafana login</body></html>", "not JSON (line 1, column 1)"),
        (b"\xff\xfe{}", "not UTF-8"),
        (b"[1, 2]", "no status"),
        (b'{"status": "error", "errorType": "bad_data", "error": "parse error at char 3: SECRET"}', "(bad_data)"),
        (b'{"status": "error", "errorType": "<script>", "error": "x"}', "(unknown)"),
        (b'{"status": "success", "data": {"resultType": "matrix", "result": []}}', "not an instant vector"),
        (b'{"status": "success", "data": {"resultType": "vector", "result": {}}}', "not an instant vector"),
        (b'{"status": "success", "data": null}', "not an instant vector"),
        (b"[" * 100_000, "nested too deeply"),
    ],
)
def test_hostile_answers_are_named_never_quoted(body, message):
    with pytest.raises(ParseError) as exc:
        promql.vector(body, max_series=100)
    assert message in str(exc.value)
    assert "SECRET" not in str(exc.value) and "Grafana" not in str(exc.value)


def test_too_many_series_is_refused():
    rows = [({"client": f"c{i}", "server": "s"}, 1) for i in range(101)]
    with pytest.raises(ParseError, match="too many series"):
        promql.vector(answer(rows), max_series=100)
    assert len(promql.vector(answer(rows[:100]), max_series=100)) == 100


def test_odd_samples_are_skipped_not_fatal():
    body = json.dumps(
        {
            "status": "success",
            "data": {
                "resultType": "vector",
                "result": [
                    {"metric": {"client": "web", "server": "orders"}, "value": [1, "NaN"]},
                    {"metric": {"client": "web", "server": "orders"}, "value": [1, "-4"]},
                    {"metric": {"client": "web", "server": "orders"}, "value": [1, "+Inf"]},
                    {"metric": {"client": "web", "server": "orders"}, "value": [1, 12]},  # not a string
                    {"metric": {"client": "web", "server": "orders"}, "value": [1, "twelve"]},
                    {"metric": {"client": "web", "server": 7}, "value": [1, "1"]},
                    {"metric": {"client": "web", "server": "x" * 100_000}, "value": [1, "1"]},
                    {"metric": "web", "value": [1, "1"]},
                    {"metric": {"client": "web", "server": "orders"}},
                    "junk",
                    {"metric": {"client": "web", "server": "orders", "connection_type": ""}, "value": [1, "6.5"]},
                ],
            },
        }
    ).encode()
    plan = promql.queries(["service_graph"], 60)
    rows = promql.vector(body, max_series=100)
    out = promql.read_answers({"sg:calls": rows}, plan)
    [edge] = to_edges(out, INDEX)[0]
    assert edge.calls == 6.5
    assert out.skipped == 7


def test_buckets_that_fall_as_bounds_rise_are_made_monotonic():
    """increase() extrapolates each bucket alone, so a higher bucket may come out a hair lower."""
    out = run(
        {
            "sg:calls": [({"client": "web", "server": "orders"}, 10)],
            "sg:latency0": [
                ({"client": "web", "server": "orders", "le": "0.1"}, 10.000001),
                ({"client": "web", "server": "orders", "le": "+Inf"}, 10.0),
                ({"client": "web", "server": "orders", "le": "NaN"}, 10.0),
                ({"client": "web", "server": "orders", "le": "abc"}, 10.0),
            ],
        },
        ["service_graph"],
    )
    [edge] = to_edges(out, INDEX)[0]
    assert edge.latency is not None and math.isclose(edge.latency.total, 10.000001)
    assert out.skipped == 2
