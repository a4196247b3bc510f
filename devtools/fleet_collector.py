"""What a central Prometheus holds about the simulated fleet (devtools/fleet.py), for the
central discovery source's tests, benchmark and demos.

A fleet instrumented with OpenTelemetry sends its spans to a collector whose ``servicegraph``
connector (or Tempo's metrics generator) turns client/server span pairs into service-graph
series; an Istio mesh reports the same calls from both sidecars. ``exposition`` serves those
series, computed from the fleet's ground truth (the same rates and error shares the services'
own /metrics report), in the exact names and labels they emit:

- ``traces_service_graph_request_total``, ``..._failed_total`` {client, server, connection_type}
  (a call to an uninstrumented peer is a virtual node: ``server`` is its ``host:port``,
  ``connection_type="virtual_node"``), and the server-side latency histogram under Tempo's name
  ``traces_service_graph_request_server_seconds_bucket`` for half the pairs and the collector's
  ``traces_service_graph_request_server_bucket`` for the other half (both in seconds, the
  collector's default bounds);
- ``istio_requests_total`` {reporter, source_workload, destination_workload,
  destination_service_name, response_code} from both reporters (service-to-service calls only),
  and ``istio_request_duration_milliseconds_bucket``.

``write_targets`` writes the Prometheus file_sd target file that ``scripts/prometheus`` reads:
each service's /metrics (``job`` = its slug) and this collector."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import time
from dataclasses import replace

from aiohttp import web

from devtools import fleet as fleet_module
from devtools.fleet import FleetService

# The collector's servicegraph connector default latency buckets, in seconds.
BUCKETS_S = (0.002, 0.004, 0.006, 0.008, 0.01, 0.05, 0.1, 0.2, 0.4, 0.8, 1, 1.4, 2, 5, 10, 15)


def scaled(fleet: list[FleetService], factor: float) -> list[FleetService]:
    """The same topology with every call rate multiplied (large counts make a window's
    increase exact to well under 1% despite integer counters)."""
    return [replace(s, calls=[{**c, "rate": c["rate"] * factor} for c in s.calls]) for s in fleet]


def latency_ms(src: str, call: dict) -> float:
    """The duration of every call of one edge (ms): the one the caller's own histograms show
    (devtools/fleet.call_latency_ms), so every source's latency has one truth."""
    own = getattr(fleet_module, "call_latency_ms", None)
    if own is not None:
        return own(src, call["target"])
    digest = hashlib.sha256(f"{src}->{call['target']}".encode()).digest()
    return (3, 8, 20, 40, 60, 90, 180, 400, 900, 2000)[digest[0] % 10]


def _labels(**kv) -> str:
    return "{" + ",".join(f'{k}="{v}"' for k, v in kv.items()) + "}"


def _counts(call: dict, elapsed: float) -> tuple[int, int]:
    """The same counters the caller's own /metrics shows (devtools/fleet.exposition)."""
    total = int(call["rate"] * (elapsed + 60) / 60)
    return total, int(total * call["error_share"])


def exposition(fleet: list[FleetService], elapsed: float, *, namespace: str = "") -> str:
    ns = f"{namespace}_" if namespace else ""
    total_l, failed_l, tempo_l, coll_l, istio_l, istio_h = [], [], [], [], [], []
    by_slug = {s.slug for s in fleet}
    for i, svc in enumerate(fleet):
        for n, c in enumerate(svc.calls):
            total, errors = _counts(c, elapsed)
            virtual = c["kind"] != "service" or c["target"] not in by_slug
            server = c["label"] if virtual else c["target"]
            base = {"client": svc.slug, "server": server, "connection_type": "virtual_node" if virtual else ""}
            total_l.append(f"{ns}traces_service_graph_request_total{_labels(**base)} {total}")
            failed_l.append(f"{ns}traces_service_graph_request_failed_total{_labels(**base)} {errors}")
            lat_s = latency_ms(svc.slug, c) / 1000
            tempo = (i + n) % 2 == 0
            name = "traces_service_graph_request_server_seconds" if tempo else "traces_service_graph_request_server"
            out = tempo_l if tempo else coll_l
            for le in BUCKETS_S:
                out.append(f"{ns}{name}_bucket{_labels(**base, le=f'{le:g}')} {total if lat_s <= le else 0}")
            out.append(f"{ns}{name}_bucket{_labels(**base, le='+Inf')} {total}")
            out.append(f"{ns}{name}_sum{_labels(**base)} {total * lat_s:.3f}")
            out.append(f"{ns}{name}_count{_labels(**base)} {total}")
            if virtual:
                continue
            for reporter in ("source", "destination"):
                ids = {
                    "reporter": reporter,
                    "source_workload": svc.slug,
                    "destination_workload": c["target"],
                    "destination_service_name": c["target"],
                }
                istio_l.append(f"istio_requests_total{_labels(**ids, response_code='200')} {total - errors}")
                if errors:
                    istio_l.append(f"istio_requests_total{_labels(**ids, response_code='503')} {errors}")
                for le in (1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000):
                    istio_h.append(
                        f"istio_request_duration_milliseconds_bucket{_labels(**ids, le=str(le))} "
                        f"{total if lat_s * 1000 <= le else 0}"
                    )
                istio_h.append(f"istio_request_duration_milliseconds_bucket{_labels(**ids, le='+Inf')} {total}")
    body = [
        f"# TYPE {ns}traces_service_graph_request_total counter",
        *total_l,
        f"# TYPE {ns}traces_service_graph_request_failed_total counter",
        *failed_l,
        f"# TYPE {ns}traces_service_graph_request_server_seconds histogram",
        *tempo_l,
        f"# TYPE {ns}traces_service_graph_request_server histogram",
        *coll_l,
        "# TYPE istio_requests_total counter",
        *istio_l,
        "# TYPE istio_request_duration_milliseconds histogram",
        *istio_h,
    ]
    return "\n".join(body) + "\n"


async def serve(
    fleet: list[FleetService],
    port: int,
    *,
    host: str = "127.0.0.1",
    namespace: str = "",
    ready=None,
    stop: asyncio.Event | None = None,
) -> None:
    """Serve the collector's /metrics on ``host:port`` (the same clock as fleet.serve started
    at about the same time; a window's increase depends only on the rates)."""
    started = time.time()

    async def metrics(request: web.Request) -> web.Response:
        text = exposition(fleet, time.time() - started, namespace=namespace)
        return web.Response(text=text, content_type="text/plain", charset="utf-8")

    app = web.Application()
    app.router.add_get("/metrics", metrics)
    runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=1)
    await runner.setup()
    await web.TCPSite(runner, host, port, reuse_address=True).start()
    if ready:
        ready()
    try:
        await (stop.wait() if stop else asyncio.Event().wait())
    finally:
        await runner.cleanup()


def write_targets(fleet: list[FleetService], path: str, *, collector: str | None, host: str = "127.0.0.1") -> None:
    """A Prometheus file_sd file: every service's /metrics with ``job`` set to its slug (as an
    OpenTelemetry Collector's Prometheus exporter names the reporting service), and the
    service-graph collector. Written atomically (Prometheus watches the directory)."""
    groups = [{"targets": [f"{host}:{s.port}"], "labels": {"job": s.slug}} for s in fleet]
    if collector:
        groups.append({"targets": [collector], "labels": {"job": "otel-collector"}})
    tmp = f"{path}.tmp"
    with open(tmp, "w") as fh:
        json.dump(groups, fh)
    os.replace(tmp, path)
