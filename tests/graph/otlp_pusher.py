"""A real OpenTelemetry-instrumented process for tests/graph/test_otlp.py: the Python SDK
with its OTLP/HTTP protobuf exporters pushes spans or metrics to the live web server.

    python tests/graph/otlp_pusher.py traces|metrics|delta-metrics <base url> <key> <service.name> <plan json>

Traces plan: [{"n": count, "kind": "client"|"producer"|"server", "attrs": {...}, "ms": [durations],
"error_every": k}] (every k-th span has status ERROR). Metrics plan: {"rounds": [[{"attrs": {...},
"ms": [...]}]]}: one export after each round (cumulative, or delta for delta-metrics).
Prints the exporters' results as JSON."""

import json
import sys
import time


def traces(url, key, service, plan):
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor
    from opentelemetry.trace import SpanKind, Status, StatusCode

    exporter = OTLPSpanExporter(endpoint=f"{url}/v1/traces", headers={"Authorization": f"Bearer {key}"}, timeout=10)
    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    provider.add_span_processor(BatchSpanProcessor(exporter, max_export_batch_size=512))
    tracer = provider.get_tracer("switchboard-tests")
    kinds = {"client": SpanKind.CLIENT, "producer": SpanKind.PRODUCER, "server": SpanKind.SERVER}
    now = time.time_ns() - 60 * 10**9
    for group in plan:
        for i in range(group["n"]):
            ms = group["ms"][i % len(group["ms"])]
            span = tracer.start_span(
                group.get("name", "call"), kind=kinds[group["kind"]], attributes=group["attrs"], start_time=now
            )
            if group.get("error_every") and i % group["error_every"] == 0:
                span.set_status(Status(StatusCode.ERROR))
            span.end(end_time=now + int(ms * 1_000_000))
    ok = provider.force_flush(30_000)
    provider.shutdown()
    return {"flushed": ok}


def metrics(url, key, service, plan, delta):
    from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
    from opentelemetry.sdk.metrics import Counter, Histogram, MeterProvider
    from opentelemetry.sdk.metrics.export import AggregationTemporality, PeriodicExportingMetricReader
    from opentelemetry.sdk.resources import Resource

    temporality = AggregationTemporality.DELTA if delta else AggregationTemporality.CUMULATIVE
    exporter = OTLPMetricExporter(
        endpoint=f"{url}/v1/metrics",
        headers={"Authorization": f"Bearer {key}"},
        timeout=10,
        preferred_temporality={Histogram: temporality, Counter: temporality},
    )
    reader = PeriodicExportingMetricReader(exporter, export_interval_millis=3_600_000)
    provider = MeterProvider(resource=Resource.create({"service.name": service}), metric_readers=[reader])
    meter = provider.get_meter("switchboard-tests")
    duration = meter.create_histogram("http.client.request.duration", unit="s")
    for round_ in plan["rounds"]:
        for group in round_:
            for ms in group["ms"]:
                duration.record(ms / 1000.0, attributes=group["attrs"])
        assert provider.force_flush(30_000)
    provider.shutdown()
    return {"flushed": True}


if __name__ == "__main__":
    signal, url, key, service, plan = sys.argv[1:6]
    plan = json.loads(plan)
    if signal == "traces":
        out = traces(url, key, service, plan)
    else:
        out = metrics(url, key, service, plan, delta=signal == "delta-metrics")
    print(json.dumps(out))
