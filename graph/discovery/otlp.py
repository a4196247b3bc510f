"""OTLP (the OpenTelemetry protocol) request bodies into per-service aggregates, and the
receiver's answers. Pure: no I/O, no Django.

A request is decoded (protobuf, or the OTLP JSON mapping: hex ids, lowerCamelCase, enums as
integers, 64-bit integers as strings), then folded, per reporting service (the resource's
``service.name``), into what discovery needs: for CLIENT (and messaging PRODUCER) spans,
calls, errors and a duration histogram per peer; for metric points, the series the metric
rules read (graph/discovery/rules.py), as Prometheus samples. Everything a span or point
gives that cannot be used is counted as rejected, with the reason.
"""

from __future__ import annotations

import base64
import bisect
import hashlib
import json
import math
import re
import zlib
from collections import Counter
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from google.protobuf import json_format
from google.protobuf.message import DecodeError
from google.rpc import error_details_pb2, status_pb2
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2

from graph.discovery.latency import DEFAULT_BOUNDS_MS

PROTOBUF = "application/x-protobuf"
JSON = "application/json"

SPAN_KIND_CLIENT, SPAN_KIND_PRODUCER = 3, 4
STATUS_CODE_ERROR = 2
TEMPORALITY_DELTA, TEMPORALITY_CUMULATIVE = 1, 2
FLAG_NO_RECORDED_VALUE = 1

# Spans must have ended within this past and not in this future, and last no longer: a clock
# in 1970 or 2999, or a duration of years, is not a call of the current window.
MAX_AGE_NS = 24 * 3600 * 10**9
MAX_FUTURE_NS = 10 * 60 * 10**9
MAX_DURATION_NS = 3600 * 10**9
MAX_NAME = 253  # longest peer name or host used (DNS); longer values are rejected, never stored
MAX_LABEL_VALUE = 256
MAX_BUCKETS = 64
# Exponential histograms are read onto one fixed layout, the powers of two from 2^-20 to
# 2^20 in the metric's unit (scale 0): every bucket at a scale >= 0 falls wholly inside one
# of them, so nothing is guessed and a series keeps its bounds when the SDK rescales
# (cumulative deltas stay exact). A bucket at a negative scale spans several: it counts
# at its upper bound.
EXP_LOW, EXP_HIGH = -20, 20
EXP_BOUNDS = [math.ldexp(1.0, k) for k in range(EXP_LOW, EXP_HIGH + 1)]
MAX_EXP_BUCKETS = 4096
_UNUSED_KINDS = {"gauge": "gauge", "sum": "non-monotonic sum", "summary": "summary"}
MAX_SPAN_NAME = 1024  # a span name is not used, but one this long is not a span an exporter made

_HOST = re.compile(r"^(?=.*[A-Za-z.:\[])[A-Za-z0-9_.\-:\[\]]{1,253}$")
_NAME = re.compile(r"^[A-Za-z0-9_.\-:/@]{1,253}$")
_LABEL = re.compile(r"[^A-Za-z0-9_]")
_METRIC = re.compile(r"[^A-Za-z0-9_:]")

_HTTP_PEER = ("server.address", "server.port", "peer.service", "url.full", "http.url", "net.peer.name", "net.peer.port")
_WANTED = frozenset(
    (
        *_HTTP_PEER,
        "http.response.status_code",
        "http.status_code",
        "db.system",
        "db.system.name",
        "db.namespace",
        "db.name",
        "messaging.system",
        "messaging.destination.name",
        "messaging.destination",
    )
)


# The attributes a client span's peer is read from, but URLs (read only without an address and port).
_SIG_KEYS = (
    "server.address",
    "server.port",
    "net.peer.name",
    "net.peer.port",
    "peer.service",
    "db.system",
    "db.system.name",
    "db.namespace",
    "db.name",
    "messaging.system",
    "messaging.destination.name",
    "messaging.destination",
)
_MISSING = object()
_SCALARS = frozenset(("string_value", "int_value", "bool_value", "double_value"))


class OtlpError(ValueError):
    """A request the receiver refuses as a whole: ``status`` (400, 413, 415), a machine-readable
    ``code`` and a ``detail`` that never repeats the body's content."""

    def __init__(self, status: int, code: str, detail: str):
        super().__init__(detail)
        self.status, self.code, self.detail = status, code, detail


# --- Decoding -----------------------------------------------------------------------------
def media_type(content_type: str) -> str:
    return (content_type or "").split(";", 1)[0].strip().lower()


def gunzip(body: bytes, *, max_bytes: int) -> bytes:
    """Decompress a gzip body, refusing (413) more than ``max_bytes`` of output without
    producing it: a small bomb costs ``max_bytes`` of memory, never its full size."""
    inflater = zlib.decompressobj(wbits=31)
    try:
        out = inflater.decompress(body, max_bytes + 1)
    except zlib.error as exc:
        raise OtlpError(400, "gzip_invalid", "the body is not valid gzip") from exc
    if len(out) > max_bytes or inflater.unconsumed_tail:
        raise OtlpError(413, "body_too_large", f"the decompressed body is over {max_bytes} bytes")
    if not inflater.eof:
        raise OtlpError(400, "gzip_invalid", "the gzip body is truncated")
    return out


_HEX_IDS = {"traceId": 16, "spanId": 8, "parentSpanId": 8}


def _hex_ids_to_base64(tree) -> None:
    """OTLP JSON carries trace and span ids as hex; protobuf's JSON mapping wants base64."""
    stack = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            for k, v in node.items():
                if k in _HEX_IDS and isinstance(v, str):
                    if v == "":
                        continue
                    try:
                        raw = bytes.fromhex(v)
                    except ValueError:
                        raise OtlpError(400, "id_invalid", f"{k} is not hex") from None
                    if len(raw) != _HEX_IDS[k]:
                        raise OtlpError(400, "id_invalid", f"{k} is not {_HEX_IDS[k]} bytes")
                    node[k] = base64.b64encode(raw).decode()
                elif isinstance(v, (dict, list)):
                    stack.append(v)
        elif isinstance(node, list):
            stack.extend(x for x in node if isinstance(x, (dict, list)))


def decode(body: bytes, content_type: str, signal: str):
    """The ExportTraceServiceRequest / ExportMetricsServiceRequest in ``body`` (400 if it is
    not one, 415 for a media type other than protobuf or JSON)."""
    message = (
        trace_service_pb2.ExportTraceServiceRequest()
        if signal == "traces"
        else metrics_service_pb2.ExportMetricsServiceRequest()
    )
    kind = media_type(content_type)
    if kind == PROTOBUF:
        try:
            message.ParseFromString(body)
        except (DecodeError, RecursionError, ValueError) as exc:
            raise OtlpError(400, "protobuf_invalid", f"the body is not a valid {type(message).__name__}") from exc
        return message
    if kind == JSON:
        try:
            tree = json.loads(body)
        except (UnicodeDecodeError, ValueError, RecursionError) as exc:
            raise OtlpError(400, "json_invalid", "the body is not JSON") from exc
        if not isinstance(tree, dict):
            raise OtlpError(400, "json_invalid", f"the body is not a JSON {type(message).__name__}")
        _hex_ids_to_base64(tree)
        try:
            json_format.ParseDict(tree, message, ignore_unknown_fields=True, max_recursion_depth=64)
        except (json_format.ParseError, RecursionError, ValueError, TypeError) as exc:
            # The parser's message may quote the value; name only the message type.
            raise OtlpError(400, "json_invalid", f"the body is not a valid OTLP JSON {type(message).__name__}") from exc
        return message
    raise OtlpError(415, "unsupported_media_type", f"send {PROTOBUF} or {JSON}")


# --- Answers ------------------------------------------------------------------------------
def _dump(message, content_type: str) -> bytes:
    if media_type(content_type) == JSON:
        return json_format.MessageToJson(message, indent=None).encode()
    return message.SerializeToString()


def success(signal: str, rejected: int, message: str, content_type: str) -> bytes:
    """ExportTraceServiceResponse / ExportMetricsServiceResponse, with ``partial_success``
    when something was rejected (the spec leaves it unset on full success)."""
    if signal == "traces":
        response = trace_service_pb2.ExportTraceServiceResponse()
        if rejected or message:
            response.partial_success.rejected_spans = rejected
            response.partial_success.error_message = message
    else:
        response = metrics_service_pb2.ExportMetricsServiceResponse()
        if rejected or message:
            response.partial_success.rejected_data_points = rejected
            response.partial_success.error_message = message
    return _dump(response, content_type)


# gRPC codes of google.rpc.Status (the spec's failure body), by HTTP status.
_GRPC_CODE = {400: 3, 401: 16, 403: 7, 404: 5, 405: 12, 413: 8, 415: 3, 429: 8, 503: 14}


def failure(http_status: int, code: str, detail: str, content_type: str) -> bytes:
    """A google.rpc.Status body; its ErrorInfo ``reason`` is the machine-readable code."""
    status = status_pb2.Status(code=_GRPC_CODE.get(http_status, 2), message=detail)
    status.details.add().Pack(error_details_pb2.ErrorInfo(reason=code, domain="switchboard"))
    return _dump(status, content_type if media_type(content_type) == JSON else PROTOBUF)


# --- Traces -------------------------------------------------------------------------------
def _value(any_value):
    which = any_value.WhichOneof("value")
    if which == "string_value":
        return any_value.string_value
    if which == "int_value":
        return any_value.int_value
    if which == "bool_value":
        return any_value.bool_value
    if which == "double_value":
        return any_value.double_value
    return None


def resource_service(resource) -> str | None:
    for kv in resource.attributes:
        if kv.key == "service.name":
            value = kv.value.string_value
            return value.strip().lower() if value and len(value) <= MAX_NAME else None
    return None


def _port(value) -> int | None:
    if isinstance(value, str) and value.isdigit() and len(value) <= 5:
        value = int(value)
    if isinstance(value, int) and not isinstance(value, bool) and 0 < value < 65536:
        return value
    return None


def _host(value) -> str | None:
    if not isinstance(value, str) or not _HOST.match(value) or value.isdigit():
        return None
    return value.lower()


def _url_hostport(url) -> str | None:
    if not isinstance(url, str) or len(url) > 2048:
        return None
    try:
        parts = urlsplit(url)
        port = parts.port or {"http": 80, "https": 443}.get(parts.scheme)
    except ValueError:
        return None
    host = _host(parts.hostname or "")
    return f"{host}:{port}" if host and port else None


def peer_of(attrs: dict) -> tuple[str, str, str | None, int | None] | None:
    """(kind, target, host, port) of a client span's peer: ``h`` host:port, ``n`` a name,
    ``d`` a database, ``q`` a queue; None when the span names no usable peer."""
    host = _host(attrs.get("server.address") or attrs.get("net.peer.name"))
    port = _port(attrs.get("server.port") or attrs.get("net.peer.port"))
    db = attrs.get("db.system.name") or attrs.get("db.system")
    queue = attrs.get("messaging.system")
    if db or queue:
        system = db or queue
        if not isinstance(system, str) or not _NAME.match(system):
            return None
        if host and port:
            where = f"{host}:{port}"
        else:
            where = attrs.get("messaging.destination.name") or attrs.get("messaging.destination") if queue else None
            where = where or (attrs.get("db.namespace") or attrs.get("db.name") if db else None) or host
            if not isinstance(where, str) or not _NAME.match(where):
                return None
        kind = "d" if db else "q"
        return kind, f"{system.lower()}:{where.lower()}", host, port
    if host and port:
        return "h", f"{host}:{port}", host, port
    peer = attrs.get("peer.service")
    if isinstance(peer, str) and _NAME.match(peer):
        return "n", peer.lower(), None, None
    hostport = _url_hostport(attrs.get("url.full") or attrs.get("http.url"))
    if hostport:
        h, _, p = hostport.rpartition(":")
        return "h", hostport, h, int(p)
    return None


@dataclass
class ServiceBatch:
    """What one request gave for one reporting service."""

    # "kind|target" -> [calls, errors, *bucket counts over DEFAULT_BOUNDS_MS]
    edges: dict[str, list[float]] = field(default_factory=dict)
    # series id -> [sample base name, labels, value, bounds or None, bucket counts or None]
    delta: dict[str, list] = field(default_factory=dict)
    # series id -> [sample base name, labels, start ns, time ns, value, bounds or None, counts or None]
    cumulative: dict[str, list] = field(default_factory=dict)
    # The earliest end of a span that gave an edge (ns): where the evidence's window starts
    # when the service has not been drained before.
    first_ns: int | None = None


@dataclass
class Batch:
    services: dict[str, ServiceBatch] = field(default_factory=dict)
    accepted: int = 0
    rejected: int = 0
    reasons: Counter = field(default_factory=Counter)

    def reject(self, n: int, reason: str) -> None:
        if n:
            self.rejected += n
            self.reasons[reason] += n

    def message(self) -> str:
        """The partial-success message: each reason with its count, most frequent first."""
        return "; ".join(f"{n} {reason}" for reason, n in self.reasons.most_common(8))


def _admitted(out: Batch, index: int, resource, count: int, unit: str, *, allowed, max_resources: int) -> str | None:
    """The service the ``index``-th resource reports as, or None with its ``count`` data
    (``unit``: spans or points) rejected: past ``max_resources``, no usable ``service.name``,
    or a service the key may not report for."""
    if index >= max_resources:
        out.reject(count, f"{unit} in resources beyond the first {max_resources}")
        return None
    service = resource_service(resource)
    if service is None:
        out.reject(count, f"{unit} without a usable service.name")
    elif service not in allowed:
        out.reject(count, f"{unit} of a service this key may not report for")
        return None
    return service


def aggregate_traces(request, *, allowed: frozenset[str], now_ns: int, max_resources: int, max_edges: int) -> Batch:
    """Fold a decoded ExportTraceServiceRequest into per-service edges. ``allowed``: the
    service names the key may report for."""
    out = Batch()
    bounds = DEFAULT_BOUNDS_MS
    nb = len(bounds) + 1
    oldest, newest = now_ns - MAX_AGE_NS, now_ns + MAX_FUTURE_NS
    peers: dict[tuple, tuple[str, str] | None] = {}
    for i, rs in enumerate(request.resource_spans):
        count = sum(len(ss.spans) for ss in rs.scope_spans)
        service = _admitted(out, i, rs.resource, count, "spans", allowed=allowed, max_resources=max_resources)
        if service is None:
            continue
        batch = out.services.get(service)
        if batch is None:
            batch = out.services[service] = ServiceBatch()
        edges = batch.edges
        first = None
        for ss in rs.scope_spans:
            for span in ss.spans:
                kind = span.kind
                if kind != SPAN_KIND_CLIENT and kind != SPAN_KIND_PRODUCER:
                    out.accepted += 1
                    continue
                if len(span.name) > MAX_SPAN_NAME:
                    out.reject(1, f"spans with a name over {MAX_SPAN_NAME} characters")
                    continue
                start, end = span.start_time_unix_nano, span.end_time_unix_nano
                if not (start and oldest <= end <= newest and start <= end and end - start <= MAX_DURATION_NS):
                    out.reject(1, "spans with absurd timestamps")
                    continue
                attrs = {}
                for kv in span.attributes:
                    k = kv.key
                    if k in _WANTED:
                        v = kv.value
                        which = v.WhichOneof("value")
                        if which in _SCALARS:  # arrays, maps and bytes name no peer
                            attrs[k] = getattr(v, which)
                # The peer depends on these attributes only: read it once per distinct set.
                sig = tuple(map(attrs.get, _SIG_KEYS))
                if sig[0] is None or sig[1] is None:
                    sig += (attrs.get("url.full"), attrs.get("http.url"))
                key = peers.get(sig, _MISSING)
                if key is _MISSING:
                    peer = peer_of(attrs)
                    key = peers[sig] = None if peer is None else (peer[0], f"{peer[0]}|{peer[1]}")
                if key is None or (kind == SPAN_KIND_PRODUCER and key[0] != "q"):
                    out.reject(1, "client spans without a usable peer")
                    continue
                slot = edges.get(key[1])
                if slot is None:
                    if len(edges) >= max_edges:
                        out.reject(1, f"spans to peers beyond {max_edges} per service")
                        continue
                    slot = edges[key[1]] = [0.0] * (nb + 2)
                slot[0] += 1
                status = attrs.get("http.response.status_code") or attrs.get("http.status_code")
                if span.status.code == STATUS_CODE_ERROR or (
                    status and (status >= 500 if type(status) is int else str(status).isdigit() and int(status) >= 500)
                ):
                    slot[1] += 1
                slot[2 + bisect.bisect_left(bounds, (end - start) / 1e6)] += 1
                if first is None or end < first:
                    first = end
                out.accepted += 1
        if first is not None and (batch.first_ns is None or first < batch.first_ns):
            batch.first_ns = first
    return out


# --- Metrics ------------------------------------------------------------------------------
_UNIT_SUFFIX = {"s": "seconds", "ms": "milliseconds", "us": "microseconds", "By": "bytes"}


def sample_base(name: str, unit: str, *, counter: bool, known: frozenset[str]) -> str | None:
    """The Prometheus name of an OTLP metric as its exporters write it (dots to underscores,
    the unit as a suffix, ``_total`` on counters), if a metric rule reads it; else None
    (the point is not call evidence and is neither stored nor rejected). ``known`` holds
    the rules' sample names; for a histogram the base name (without ``_count``)."""
    base = _METRIC.sub("_", name)
    suffix = _UNIT_SUFFIX.get(unit)
    candidates = [base]
    if suffix and not base.endswith(suffix):
        candidates.insert(0, f"{base}_{suffix}")
    if counter:
        candidates = [c if c.endswith("_total") else f"{c}_total" for c in candidates] + candidates
    return next((c for c in candidates if c in known), None)


def exponential_counts(point) -> list[float] | None:
    """An ExponentialHistogramDataPoint's counts on ``EXP_BOUNDS`` (the last, +Inf); None when
    it cannot be read: a scale outside -10..20, over ``MAX_EXP_BUCKETS`` buckets, negative
    values (no duration is negative), or buckets that do not add up to its count. The zero
    bucket counts in the first bound."""
    scale, positive = point.scale, point.positive
    if not -10 <= scale <= 20 or len(positive.bucket_counts) > MAX_EXP_BUCKETS:
        return None
    if len(point.negative.bucket_counts) > MAX_EXP_BUCKETS or any(point.negative.bucket_counts):
        return None
    last = len(EXP_BOUNDS)
    counts = [0.0] * (last + 1)
    counts[0] = float(point.zero_count)
    for j, n in enumerate(positive.bucket_counts):
        if n:
            i = positive.offset + j  # the bucket (base^i, base^(i+1)], base = 2^(2^-scale)
            upper = (i >> scale) + 1 if scale >= 0 else (i + 1) << -scale  # its scale-0 upper bound: 2^upper
            counts[min(max(upper - EXP_LOW, 0), last)] += float(n)
    return counts if sum(counts) == point.count else None


def _labels(attributes) -> dict[str, str] | None:
    labels = {}
    for kv in attributes:
        value = _value(kv.value)
        if value is None:
            continue
        text = str(value).lower() if isinstance(value, bool) else str(value)
        if len(text) > MAX_LABEL_VALUE or len(kv.key) > MAX_LABEL_VALUE:
            return None
        labels[_LABEL.sub("_", kv.key)] = text
    return labels


def _series_id(resource_key: str, base: str, labels: dict) -> str:
    raw = json.dumps([resource_key, base, sorted(labels.items())], separators=(",", ":"))
    return hashlib.blake2b(raw.encode()).hexdigest()[:20]


def aggregate_metrics(
    request,
    *,
    allowed: frozenset[str],
    counters: frozenset[str],
    histograms: frozenset[str],
    max_resources: int,
    max_series: int,
) -> Batch:
    """Fold a decoded ExportMetricsServiceRequest into per-service series of the samples the
    metric rules read: monotonic Sums (``counters``: sample names) and Histograms
    (``histograms``: base names whose ``_count`` a rule reads), delta points summed,
    cumulative points kept as the latest per series (their start time marks a restart)."""
    out = Batch()
    for i, rm in enumerate(request.resource_metrics):
        points = [
            len(getattr(m, m.WhichOneof("data")).data_points) if m.WhichOneof("data") else 0
            for sm in rm.scope_metrics
            for m in sm.metrics
        ]
        count = sum(points)
        service = _admitted(out, i, rm.resource, count, "points", allowed=allowed, max_resources=max_resources)
        if service is None:
            continue
        resource_key = hashlib.blake2b(
            json.dumps(sorted((kv.key, str(_value(kv.value))) for kv in rm.resource.attributes)).encode()
        ).hexdigest()[:12]
        batch = out.services.setdefault(service, ServiceBatch())
        for sm in rm.scope_metrics:
            for metric in sm.metrics:
                which = metric.WhichOneof("data")
                if which == "sum" and metric.sum.is_monotonic:
                    base = sample_base(metric.name, metric.unit, counter=True, known=counters)
                    data = metric.sum
                elif which == "histogram":
                    base = sample_base(metric.name, metric.unit, counter=False, known=histograms)
                    data = metric.histogram
                elif which == "exponential_histogram":
                    base = sample_base(metric.name, metric.unit, counter=False, known=histograms)
                    data = metric.exponential_histogram
                else:
                    base, data = None, None
                    if which and (
                        sample_base(metric.name, metric.unit, counter=True, known=counters)
                        or sample_base(metric.name, metric.unit, counter=False, known=histograms)
                    ):
                        out.reject(
                            len(getattr(metric, which).data_points),
                            f"{_UNUSED_KINDS[which]} points of a metric the rules read as a counter or histogram",
                        )
                        continue
                if base is None:
                    out.accepted += len(getattr(metric, which).data_points) if which else 0
                    continue
                temporality = data.aggregation_temporality
                for point in data.data_points:
                    if point.flags & FLAG_NO_RECORDED_VALUE:
                        out.accepted += 1
                        continue
                    labels = _labels(point.attributes)
                    if labels is None:
                        out.reject(1, "points with an attribute over 256 characters")
                        continue
                    bounds = counts = None
                    if which == "sum":
                        value = point.as_double if point.WhichOneof("value") == "as_double" else float(point.as_int)
                    elif which == "exponential_histogram":
                        value, bounds, counts = float(point.count), list(EXP_BOUNDS), exponential_counts(point)
                        if counts is None:
                            out.reject(1, "exponential histogram points with unusable buckets")
                            continue
                    else:
                        value = float(point.count)
                        bounds, counts = list(point.explicit_bounds), [float(c) for c in point.bucket_counts]
                        if (
                            len(counts) != len(bounds) + 1
                            or len(bounds) > MAX_BUCKETS
                            or any(math.isnan(b) or math.isinf(b) for b in bounds)
                            or any(b >= a for b, a in zip(bounds, bounds[1:], strict=False))
                            or sum(counts) != value
                        ):
                            out.reject(1, "histogram points with unusable buckets")
                            continue
                    if math.isnan(value) or math.isinf(value) or value < 0:
                        out.reject(1, "points with a NaN, infinite or negative value")
                        continue
                    sid = _series_id(resource_key, base, labels)
                    if temporality == TEMPORALITY_DELTA:
                        slot = batch.delta.get(sid)
                        if slot is None:
                            if len(batch.delta) + len(batch.cumulative) >= max_series:
                                out.reject(1, f"points of series beyond {max_series} per service")
                                continue
                            batch.delta[sid] = [base, labels, value, bounds, counts]
                        elif slot[3] == bounds:
                            slot[2] += value
                            if counts:
                                slot[4] = [a + b for a, b in zip(slot[4], counts, strict=True)]
                        else:
                            out.reject(1, "histogram points whose bounds changed")
                            continue
                    elif temporality == TEMPORALITY_CUMULATIVE:
                        start, at = point.start_time_unix_nano, point.time_unix_nano
                        prev = batch.cumulative.get(sid)
                        if prev is None and len(batch.delta) + len(batch.cumulative) >= max_series:
                            out.reject(1, f"points of series beyond {max_series} per service")
                            continue
                        if prev is None or at >= prev[3]:
                            batch.cumulative[sid] = [base, labels, start, at, value, bounds, counts]
                    else:
                        out.reject(1, "points without an aggregation temporality")
                        continue
                    out.accepted += 1
    return out


# --- At drain time: series into a Prometheus exposition the metric rules read ----------------
def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _fmt(x: float) -> str:
    return repr(float(x))


def exposition(samples) -> str:
    """Text exposition of (base, labels, value, bounds, counts) samples: counters as one line,
    histograms as ``_count`` and cumulative ``_bucket`` lines (``le`` in the metric's unit)."""
    lines = []
    for base, labels, value, bounds, counts in samples:
        inner = ",".join(f'{k}="{_escape(v)}"' for k, v in sorted(labels.items()))
        if bounds is None:
            lines.append(f"{base}{{{inner}}} {_fmt(value)}")
            continue
        lines.append(f"{base}_count{{{inner}}} {_fmt(value)}")
        sep = "," if inner else ""
        running = 0.0
        for le, c in zip([*bounds, math.inf], counts, strict=True):
            running += c
            le_text = "+Inf" if math.isinf(le) else _fmt(le)
            lines.append(f'{base}_bucket{{{inner}{sep}le="{le_text}"}} {_fmt(running)}')
    return "\n".join(lines) + ("\n" if lines else "")


def cumulative_delta(now: list, before: list | None) -> list | None:
    """The delta of a cumulative series since it was last drained, as a delta sample (base,
    labels, value, bounds, counts); a new start time or a falling count is a restart, so
    the new value is the delta. None when nothing changed."""
    base, labels, start, _, value, bounds, counts = now
    restarted = (
        before is None
        or before[0] != start
        or value < before[1]
        or (counts and (before[2] is None or len(before[2]) != len(counts)))
        or (counts and any(a < b for a, b in zip(counts, before[2], strict=True)))
    )
    if restarted:
        return [base, labels, value, bounds, counts] if value else None
    d_value = value - before[1]
    if not d_value:
        return None
    d_counts = [a - b for a, b in zip(counts, before[2], strict=True)] if counts else None
    return [base, labels, d_value, bounds, d_counts]
