"""The central source's PromQL: the instant queries it sends to a Prometheus-compatible API
(``/api/v1/query``) over a window, and the parsing of their answers into calls between
named parties. Pure: no I/O, no Django.

Each rule set is a few queries, all ``sum by (...) (increase(<metric>[<window>]))``, so each
answer is already per pair and windowed (never cumulative):

- service graph (the OpenTelemetry Collector's ``servicegraph`` connector, Tempo):
  ``traces_service_graph_request_total`` and ``..._failed_total`` by ``client``, ``server``;
  latency from ``traces_service_graph_request_server_seconds_bucket`` (Tempo, the collector's
  Prometheus exporter) or ``traces_service_graph_request_server_bucket`` (the collector
  through remote write), both in seconds; an exporter namespace may prefix every name;
- Istio: ``istio_requests_total`` by reporter, source and destination workload, errors from
  ``response_code`` 5xx, latency from ``istio_request_duration_milliseconds_bucket``. Both
  sidecars report each call (``reporter="source"`` and ``"destination"``): per pair the
  reporter with the larger count is kept, never the sum;
- OpenTelemetry HTTP client metrics: ``http_client_request_duration_seconds_count`` (stable)
  and the older ``http_client_duration_{milliseconds,seconds}_count``, by the reporting
  service (``service_name``, else ``job``) and ``server_address``/``server_port``
  (``net_peer_name``/``net_peer_port``); errors from a 5xx status or a non-empty ``error_type``.

The same calls seen by several rules (a service graph and client metrics of the same
fleet) count once: per caller and target, the largest count any one rule reports."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

from graph.discovery.latency import Histogram, histogram_from_cumulative_buckets
from graph.discovery.parse import ParseError, json_body

_NAMESPACE = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")
_PORT = re.compile(r"^[0-9]{1,5}$")
_HOST = re.compile(r"^(?=.*[A-Za-z.:\[])[A-Za-z0-9_.\-:\[\]]{1,253}$")
_TOKEN = re.compile(r"^[a-z_]{1,40}$")
RULE_SETS = ("service_graph", "istio", "otel_client")
_LABEL_MAX = 512  # a label value longer than this names no service: the series is skipped


@dataclass(frozen=True)
class Query:
    key: str  # what the answer feeds: "<rule>:calls" | "<rule>:errors" | "<rule>:latency"
    rule: str
    part: str  # calls | errors | latency
    promql: str
    scale_to_ms: float = 1.0  # latency bucket bounds to ms


def _prefixed(namespace: str, name: str) -> str:
    return f"{namespace}_{name}" if namespace else name


def queries(rule_sets: list[str], window_seconds: int, namespace: str = "") -> list[Query]:
    """The instant queries for the chosen rule sets over ``window_seconds``."""
    if namespace and not _NAMESPACE.match(namespace):
        raise ValueError(f"not a metric namespace: {namespace!r}")
    w = f"[{int(window_seconds)}s]"
    out: list[Query] = []
    if "service_graph" in rule_sets:
        total = _prefixed(namespace, "traces_service_graph_request_total")
        failed = _prefixed(namespace, "traces_service_graph_request_failed_total")
        by = "client, server, connection_type"
        out += [
            Query("sg:calls", "sg", "calls", f"sum by ({by}) (increase({total}{w}))"),
            Query("sg:errors", "sg", "errors", f"sum by ({by}) (increase({failed}{w}))"),
        ]
        for i, name in enumerate(
            ("traces_service_graph_request_server_seconds_bucket", "traces_service_graph_request_server_bucket")
        ):
            metric = _prefixed(namespace, name)
            out.append(
                Query(
                    f"sg:latency{i}",
                    "sg",
                    "latency",
                    f"sum by (client, server, le) (increase({metric}{w}))",
                    1000.0,
                )
            )
    if "istio" in rule_sets:
        by = "reporter, source_workload, destination_workload, destination_service_name"
        out += [
            Query("istio:calls", "istio", "calls", f"sum by ({by}) (increase(istio_requests_total{w}))"),
            Query(
                "istio:errors",
                "istio",
                "errors",
                f'sum by ({by}) (increase(istio_requests_total{{response_code=~"5.."}}{w}))',
            ),
            Query(
                "istio:latency",
                "istio",
                "latency",
                f"sum by ({by}, le) (increase(istio_request_duration_milliseconds_bucket{w}))",
            ),
        ]
    if "otel_client" in rule_sets:
        stable = "job, service_name, server_address, server_port, http_response_status_code, error_type"
        old = "job, service_name, net_peer_name, net_peer_port, http_status_code"
        out += [
            Query(
                "otel:calls",
                "otel",
                "calls",
                f"sum by ({stable}) (increase(http_client_request_duration_seconds_count{w}))",
            ),
            Query(
                "otel-old-ms:calls",
                "otel-old-ms",
                "calls",
                f"sum by ({old}) (increase(http_client_duration_milliseconds_count{w}))",
            ),
            Query(
                "otel-old-s:calls",
                "otel-old-s",
                "calls",
                f"sum by ({old}) (increase(http_client_duration_seconds_count{w}))",
            ),
            Query(
                "otel:latency",
                "otel",
                "latency",
                "sum by (job, service_name, server_address, server_port, le) "
                f"(increase(http_client_request_duration_seconds_bucket{w}))",
                1000.0,
            ),
        ]
    return out


# --- Answers ------------------------------------------------------------------------------
def vector(body: bytes, *, max_series: int) -> list[tuple[dict, float]]:
    """The samples of an instant-query answer (``resultType`` vector): (labels, value).
    Anything else is a ParseError naming what was wrong, never what the body said."""
    data = json_body(body)
    if not isinstance(data, dict) or "status" not in data:
        raise ParseError("not a Prometheus API answer (no status)")
    if data["status"] != "success":
        kind = data.get("errorType")
        kind = kind if isinstance(kind, str) and _TOKEN.match(kind) else "unknown"
        raise ParseError(f"query failed ({kind})")
    inner = data.get("data")
    if not isinstance(inner, dict) or inner.get("resultType") != "vector" or not isinstance(inner.get("result"), list):
        raise ParseError("answer is not an instant vector")
    result = inner["result"]
    if len(result) > max_series:
        raise ParseError(f"too many series (more than {max_series})")
    out = []
    for item in result:
        if not isinstance(item, dict):
            continue
        labels, value = item.get("metric"), item.get("value")
        if not isinstance(labels, dict) or not isinstance(value, list) or len(value) != 2:
            continue
        try:
            number = float(value[1]) if isinstance(value[1], str) else math.nan
        except ValueError:
            number = math.nan
        clean = {k: v for k, v in labels.items() if isinstance(k, str) and isinstance(v, str) and len(v) <= _LABEL_MAX}
        if len(clean) != len(labels):
            number = math.nan  # an unreadable label: the series is skipped
        out.append((clean, number))
    return out


@dataclass(frozen=True)
class Party:
    """The called side: a ``host:port`` or a name."""

    kind: str  # hostport | name
    target: str


@dataclass
class PairCalls:
    calls: float = 0.0
    errors: float = 0.0
    buckets: dict = field(default_factory=dict)  # le -> count (cumulative across buckets)
    latency: Histogram | None = None


@dataclass
class Outcome:
    # rule -> (caller name, party) -> counts
    by_rule: dict[str, dict[tuple[str, Party], PairCalls]] = field(default_factory=dict)
    skipped: int = 0


def _hostport(host: str, port: str) -> Party | None:
    host, port = host.strip().lower(), port.strip()
    if not host or not _HOST.match(host) or _PORT.match(host) or not _PORT.match(port) or not 0 < int(port) < 65536:
        return None
    return Party("hostport", f"{host}:{int(port)}")


def _name_or_hostport(value: str) -> Party | None:
    """A service-graph ``server``: a service name, or ``host:port`` for a virtual node
    (an uninstrumented peer named by its address)."""
    value = value.strip()
    if not value:
        return None
    host, sep, port = value.rpartition(":")
    if sep and _PORT.match(port):
        return _hostport(host, port)
    return Party("name", value)


def _caller_otel(labels: dict) -> str | None:
    name = labels.get("service_name", "").strip() or labels.get("job", "").strip()
    return name.rsplit("/", 1)[-1] or None  # the collector's exporter sets job to "<namespace>/<name>"


def _pair(rule: str, labels: dict) -> tuple[str | None, Party | None, str]:
    """(caller, called party, reporter) of a series under ``rule``."""
    if rule == "sg":
        return labels.get("client", "").strip() or None, _name_or_hostport(labels.get("server", "")), ""
    if rule == "istio":
        dst = labels.get("destination_service_name", "").strip() or labels.get("destination_workload", "").strip()
        caller = labels.get("source_workload", "").strip()
        # "unknown" is what Istio reports for a party outside the mesh: no name to match.
        caller = None if caller in ("", "unknown") else caller
        party = None if dst in ("", "unknown") else Party("name", dst)
        return caller, party, labels.get("reporter", "")
    if rule == "otel":
        return _caller_otel(labels), _hostport(labels.get("server_address", ""), labels.get("server_port", "")), ""
    return _caller_otel(labels), _hostport(labels.get("net_peer_name", ""), labels.get("net_peer_port", "")), ""


def _is_error(rule: str, labels: dict) -> bool:
    status = labels.get("http_response_status_code" if rule == "otel" else "http_status_code", "")
    if status.isdigit() and int(status) >= 500:
        return True
    return rule == "otel" and bool(labels.get("error_type", "").strip())


def read_answers(answers: dict[str, list[tuple[dict, float]]], plan: list[Query]) -> Outcome:
    """Fold the parsed answers of ``plan``'s queries into per-rule, per-pair counts."""
    out = Outcome()
    istio: dict[str, dict[tuple[str, Party], PairCalls]] = {}  # reporter -> pairs
    latency: dict[str, dict[tuple[str, Party, str], dict]] = {}  # query key -> (pair, reporter) -> buckets
    for q in plan:
        for labels, value in answers.get(q.key, []):
            if math.isnan(value) or math.isinf(value) or value < 0:
                out.skipped += 1
                continue
            caller, party, reporter = _pair(q.rule, labels)
            if caller is None or party is None:
                out.skipped += 1
                continue
            key = (caller, party)
            if q.part == "latency":
                le = labels.get("le", "")
                try:
                    bound = math.inf if le == "+Inf" else float(le)
                except ValueError:
                    out.skipped += 1
                    continue
                if math.isnan(bound):
                    out.skipped += 1
                    continue
                per = latency.setdefault(q.key, {}).setdefault((caller, party, reporter), {})
                per[bound] = per.get(bound, 0.0) + value
                continue
            table = istio.setdefault(reporter, {}) if q.rule == "istio" else out.by_rule.setdefault(q.rule, {})
            slot = table.setdefault(key, PairCalls())
            if q.part == "calls":
                slot.calls += value
                if q.rule.startswith("otel") and _is_error(q.rule, labels):
                    slot.errors += value
            else:
                slot.errors += value
    # Istio: per pair, the reporter that saw more (both sidecars report the same call).
    best_istio: dict[tuple[str, Party], PairCalls] = {}
    reporter_of: dict[tuple[str, Party], str] = {}
    for reporter, pairs in istio.items():
        for key, slot in pairs.items():
            if key not in best_istio or slot.calls > best_istio[key].calls:
                best_istio[key], reporter_of[key] = slot, reporter
    if best_istio:
        out.by_rule["istio"] = best_istio
    scale = {q.key: (q.rule, q.scale_to_ms) for q in plan}
    for qkey, pairs in latency.items():
        rule, to_ms = scale[qkey]
        for (caller, party, reporter), buckets in pairs.items():
            key = (caller, party)
            slot = out.by_rule.get(rule, {}).get(key)
            if rule == "istio" and reporter_of.get(key) != reporter:
                continue  # the other sidecar's view of the same calls
            if slot is None or slot.latency is not None:
                continue  # latency without calls, or already given by the other metric name
            # increase() extrapolates each bucket on its own: keep them monotonic, as
            # histogram_quantile does, before reading them as one histogram.
            running, fixed = 0.0, {}
            for le in sorted(buckets):
                running = max(running, buckets[le])
                fixed[le] = running
            slot.latency = histogram_from_cumulative_buckets(fixed, scale_to_ms=to_ms, cumulative=False)
    for pairs in out.by_rule.values():
        for slot in pairs.values():
            slot.errors = min(slot.errors, slot.calls)
    return out
