"""The simulated fleet pushing OpenTelemetry traces (OTLP/HTTP protobuf) to Switchboard, as
services behind a collector-less SDK setup would: each service, with its own ingestion key,
sends the client spans of one window of its calls. Used by tests and benchmarks only.

Kept apart from devtools/fleet.py (only the fleet command, tests and benchmarks import that):
callers hand in the fleet's services (anything with ``slug``, ``style`` and ``calls``) and its
``call_latency_ms``."""

from __future__ import annotations

import random
import time
import urllib.error
import urllib.request

from opentelemetry.proto.collector.trace.v1 import trace_service_pb2

BATCH = 512


def issue_keys(fleet, *, actor) -> dict[str, str]:
    """An ingestion key for each (registered) fleet service: slug -> the whole key."""
    from graph.services import ingest_key_issue

    return {svc.slug: ingest_key_issue(actor=actor, service=svc.slug, name="fleet-otlp")[1] for svc in fleet}


def calls_in_window(call: dict, window_s: float) -> tuple[int, int]:
    """(calls, errors) an edge makes in ``window_s`` seconds at its rate."""
    total = int(call["rate"] * window_s / 60)
    return total, int(total * call["error_share"])


def _peer(svc, call) -> dict:
    if svc.style == "envoy":  # its calls name the callee, as a mesh sidecar's spans do
        return {"peer.service": call["label"]}
    host, _, port = call["label"].rpartition(":")
    return {"server.address": host, "server.port": int(port)}


def batches(svc, *, window_s: float, latency_ms, seed: int = 0):
    """The service's client spans for one window ending now, in requests of up to 512 spans:
    (body, spans in it)."""
    rng = random.Random(f"{seed}:{svc.slug}")  # noqa: S311 (simulated ids, not secrets)
    now = time.time_ns() - 10**9
    spans = []
    for call in svc.calls:
        total, errors = calls_in_window(call, window_s)
        duration = int(latency_ms(svc.slug, call["target"]) * 1_000_000)
        for i in range(total):  # spread over the window, as the calls were
            end = now - int(window_s * 1e9 * (i + 0.5) / total)
            spans.append((_peer(svc, call), i < errors, duration, end))
    for start in range(0, len(spans), BATCH):
        request = trace_service_pb2.ExportTraceServiceRequest()
        rs = request.resource_spans.add()
        rs.resource.attributes.add(key="service.name").value.string_value = svc.slug
        ss = rs.scope_spans.add()
        for attrs, failed, duration, end in spans[start : start + BATCH]:
            span = ss.spans.add(
                trace_id=rng.randbytes(16),
                span_id=rng.randbytes(8),
                name="GET",
                kind=3,
                start_time_unix_nano=end - duration,
                end_time_unix_nano=end,
            )
            for key, value in attrs.items():
                kv = span.attributes.add(key=key)
                if isinstance(value, int):
                    kv.value.int_value = value
                else:
                    kv.value.string_value = value
            kv = span.attributes.add(key="http.response.status_code")
            kv.value.int_value = 500 if failed else 200
            if failed:
                span.status.code = 2
        yield request.SerializeToString(), len(ss.spans)


def push(fleet, *, url: str, keys: dict[str, str], window_s: float, latency_ms, seed: int = 0) -> dict:
    """Every fleet service pushes one window of client spans to ``url``/v1/traces; returns
    counts of requests, spans and refusals."""
    if not url.startswith(("http://", "https://")):
        raise ValueError("url must be http(s)")
    out = {"requests": 0, "spans": 0, "refused": 0}
    for svc in fleet:
        for body, n in batches(svc, window_s=window_s, latency_ms=latency_ms, seed=seed):
            request = urllib.request.Request(  # noqa: S310 (an http URL the caller gives)
                f"{url}/v1/traces",
                data=body,
                headers={"Content-Type": "application/x-protobuf", "Authorization": f"Bearer {keys[svc.slug]}"},
            )
            try:
                with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
                    response.read()
            except urllib.error.HTTPError:
                out["refused"] += 1
                continue
            out["requests"] += 1
            out["spans"] += n
    return out
