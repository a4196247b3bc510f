"""Which metric series describe an outgoing call, and how to read caller, target and
outcome from their labels. Users extend the table with settings.DISCOVERY_EXTRA_METRIC_RULES.

A rule reads one sample name. ``target`` is either ``("hostport", host_label, port_label)``
or ``("name", label, fallback_label, ...)``. ``source`` (optional) names the label that
holds the caller; without it the crawled service is the caller. Errors come from a status
label (5xx), an error label (non-empty) or a separate ``errors_sample`` with the same
target labels. ``buckets`` (optional) maps the ``_bucket`` samples of the same calls'
latency histogram to the factor that turns their ``le`` into milliseconds; they are read
with the rule's target (and caller) labels."""

from django.conf import settings

METRIC_RULES: list[dict] = [
    {
        "name": "otel-http-client-stable",
        "sample": "http_client_request_duration_seconds_count",
        "target": ("hostport", "server_address", "server_port"),
        "status": "http_response_status_code",
        "error": "error_type",
        "buckets": {"http_client_request_duration_seconds_bucket": 1000.0},
    },
    {
        "name": "otel-http-client-old-ms",
        "sample": "http_client_duration_milliseconds_count",
        "target": ("hostport", "net_peer_name", "net_peer_port"),
        "status": "http_status_code",
        "buckets": {"http_client_duration_milliseconds_bucket": 1.0},
    },
    {
        "name": "otel-http-client-old-s",
        "sample": "http_client_duration_seconds_count",
        "target": ("hostport", "net_peer_name", "net_peer_port"),
        "status": "http_status_code",
        "buckets": {"http_client_duration_seconds_bucket": 1000.0},
    },
    {
        "name": "istio",
        "sample": "istio_requests_total",
        "source": "source_workload",
        "target": ("name", "destination_service_name", "destination_workload"),
        "status": "response_code",
        "buckets": {"istio_request_duration_milliseconds_bucket": 1.0},
    },
    {
        "name": "tempo-service-graph",
        "sample": "traces_service_graph_request_total",
        "source": "client",
        "target": ("name", "server"),
        "errors_sample": "traces_service_graph_request_failed_total",
        # Tempo's name, then the OpenTelemetry Collector servicegraph connector's (also seconds).
        "buckets": {
            "traces_service_graph_request_server_seconds_bucket": 1000.0,
            "traces_service_graph_request_server_bucket": 1000.0,
        },
    },
    {
        "name": "envoy",
        "sample": "envoy_cluster_upstream_rq_total",
        "target": ("name", "envoy_cluster_name"),
        "errors_sample": "envoy_cluster_upstream_rq_5xx",
    },
]


def metric_rules() -> list[dict]:
    return METRIC_RULES + list(settings.DISCOVERY_EXTRA_METRIC_RULES)
