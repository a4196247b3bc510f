from pathlib import Path

import pytest

from graph.discovery.matching import CatalogIndex, ServiceRef
from graph.discovery.parse import ParseError, RawCall, parse_exposition, parse_jaeger, parse_zipkin
from graph.discovery.rules import METRIC_RULES

pytestmark = pytest.mark.unit  # parsers and matching: pure

# A real exposition from the OpenTelemetry Python SDK (shared/samples), kept byte for byte.
SAMPLE = Path(__file__).resolve().parent / "samples" / "otel-python-semconv-dup.prom"


def parse(text):
    return parse_exposition(text, METRIC_RULES, max_series=50_000)


def test_real_otel_sdk_exposition_with_duplicated_conventions():
    """checkout called 127.0.0.1:18081 10 times (3 answered 500) and localhost:18082 5 times.
    Both conventions report the same calls; the stable `requests` series has shifted labels."""
    out = parse(SAMPLE.read_text())
    assert sorted(out.calls, key=lambda c: c.target) == [
        RawCall(None, "hostport", "127.0.0.1:18081", 10.0, 3.0),
        RawCall(None, "hostport", "localhost:18082", 5.0, 0.0),
    ]
    assert out.skipped == 1  # server_address="18082" with no port: a port where the host belongs


def test_istio_tempo_and_envoy_rules():
    text = """# TYPE istio_requests_total counter
istio_requests_total{source_workload="web",destination_service_name="orders",response_code="200"} 90
istio_requests_total{source_workload="web",destination_service_name="orders",response_code="503"} 10
istio_requests_total{source_workload="web",destination_workload="legacy",response_code="200"} 4
istio_requests_total{destination_service_name="orphan",response_code="200"} 4
# TYPE traces_service_graph_request_total counter
traces_service_graph_request_total{client="web",server="search"} 50
# TYPE traces_service_graph_request_failed_total counter
traces_service_graph_request_failed_total{client="web",server="search"} 5
# TYPE envoy_cluster_upstream_rq_total counter
envoy_cluster_upstream_rq_total{envoy_cluster_name="inventory"} 70
# TYPE envoy_cluster_upstream_rq_5xx counter
envoy_cluster_upstream_rq_5xx{envoy_cluster_name="inventory"} 7
"""
    out = parse(text)
    got = {(c.caller, c.target): (c.calls, c.errors) for c in out.calls}
    assert got == {
        ("web", "orders"): (100, 10),
        ("web", "legacy"): (4, 0),
        ("web", "search"): (50, 5),
        (None, "inventory"): (70, 7),
    }
    assert out.skipped == 1  # no source_workload


@pytest.mark.parametrize(
    "text,reason",
    [
        ("<html>not metrics</html>\n", "invalid exposition"),
        ("ok\x00\x01binary", "binary"),
        ("".join(f'm{{i="{i}"}} 1\n' for i in range(60_001)), "too many series"),
        ('http_client_request_duration_seconds_count{server_address="a",server_port="1"} notanumber\n', "invalid"),
    ],
)
def test_hostile_bodies_raise_a_reason(text, reason):
    with pytest.raises(ParseError, match=reason):
        parse(text)


def test_nan_negative_and_portless_series_are_skipped_and_counted():
    text = """# TYPE http_client_request_duration_seconds histogram
http_client_request_duration_seconds_count{server_address="a.example",server_port="80"} NaN
http_client_request_duration_seconds_count{server_address="b.example",server_port="80"} -3
http_client_request_duration_seconds_count{server_address="c.example",server_port="99999"} 3
http_client_request_duration_seconds_count{server_address="d.example",server_port="80"} 3
"""
    out = parse(text)
    assert [c.target for c in out.calls] == ["d.example:80"] and out.skipped == 3


def test_zipkin_and_jaeger_dependency_links():
    z = parse_zipkin(b'[{"parent":"web","child":"orders","callCount":10,"errorCount":2},{"parent":1}]')
    assert z.calls == [RawCall("web", "name", "orders", 10.0, 2.0)] and z.skipped == 1
    j = parse_jaeger(b'{"data":[{"parent":"web","child":"search","callCount":7}]}')
    assert j.calls == [RawCall("web", "name", "search", 7.0, 0.0)]
    with pytest.raises(ParseError):
        parse_jaeger(b"\xff\xfe")


def test_dependency_links_are_utf8_json_as_any_other_answer():
    """The same decoding as the central source's answers: JSON between systems is UTF-8, and
    json's guess at UTF-16/32 is not taken."""
    body = '[{"parent":"web","child":"orders","callCount":1}]'
    assert parse_zipkin(body.encode("utf-8")).calls
    for encoding in ("utf-16", "utf-32"):
        with pytest.raises(ParseError, match="not UTF-8"):
            parse_zipkin(body.encode(encoding))
    with pytest.raises(ParseError, match="nested too deeply"):
        parse_jaeger(b"[" * 100_000)


def test_matching_by_base_url_alias_then_name():
    index = CatalogIndex(
        [
            ServiceRef("orders", "Orders", "http://10.0.0.5:8080", ("orders.internal:80", "orders-svc")),
            ServiceRef("web", "Web Front", "https://web.example", ()),
        ]
    )
    resolve = lambda kind, target: index.resolve(RawCall(None, kind, target, 1, 0))  # noqa: E731
    assert resolve("hostport", "10.0.0.5:8080").key == "orders"
    assert resolve("hostport", "orders.internal:80").key == "orders"
    assert resolve("hostport", "web.example:443").key == "web"
    assert resolve("name", "orders-svc").key == "orders"
    assert resolve("name", "web front").key == "web"
    unknown = resolve("hostport", "api.stripe.example:443")
    assert (unknown.kind, unknown.key, unknown.host, unknown.port) == (
        "endpoint",
        "api.stripe.example:443",
        "api.stripe.example",
        443,
    )
