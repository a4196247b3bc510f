"""Simulated live services for demos, tests and benchmarks (``manage.py fleet``).

A seeded random topology of N services on loopback ports. Each serves a real Prometheus
exposition of its outgoing HTTP calls in one of the conventions discovery reads
(OpenTelemetry stable, older, or both at once with the shifted-label defect a real
exporter shows; Envoy for a few), with counters that grow with time and some 5xx, and a
``/health`` endpoint. Optional hostile services misbehave in every way the crawler must
survive. The ground truth (who calls whom) is returned and written as JSON."""

from __future__ import annotations

import asyncio
import json
import random
import time
import zlib
from collections import Counter
from dataclasses import dataclass, field

from aiohttp import web

EXTERNALS = ["payments.partner.example:443", "geo.vendor.example:8443", "smtp-relay.corp.example:25"]
HOSTILE = [
    "slow",
    "endless",
    "huge",
    "invalid",
    "binary",
    "nan",
    "many-series",
    "redirect-loop",
    "redirect-metadata",
    "reset",
]


@dataclass
class FleetService:
    slug: str
    port: int
    style: str  # otel-stable | otel-old | otel-dup | envoy
    calls: list[dict] = field(default_factory=list)  # {"target", "kind", "label", "rate", "error_share"}
    path: str = ""  # path-routed fleets: the service lives under this path of a shared port

    @property
    def alias(self) -> str:
        return f"{self.slug}.fleet.internal:{self.port}"

    def base_url(self, host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.port}{self.path}"


def topology(
    n: int,
    *,
    seed: int = 1,
    port_base: int = 19000,
    host: str = "127.0.0.1",
    shared_ports: int = 0,
    slug=lambda i: f"fleet-{i:04d}",
) -> list[FleetService]:
    """``shared_ports``: serve every service by path (``/s/<slug>``) on that many ports from
    ``port_base`` (serve_paths) instead of one port each; callers then name a callee by its slug
    as a host name (``<slug>:<port>``, as a cluster's DNS name) or by its alias."""
    rng = random.Random(seed)  # noqa: S311 (a reproducible simulated topology, not a secret)
    styles = ["otel-stable"] * 5 + ["otel-old"] * 2 + ["otel-dup"] * 2 + ["envoy"]
    fleet = [
        FleetService(slug(i), port_base + (i % shared_ports if shared_ports else i), rng.choice(styles))
        for i in range(n)
    ]
    if shared_ports:
        for svc in fleet:
            svc.path = f"/s/{svc.slug}"
    for i, svc in enumerate(fleet):
        # Calls go "down" to higher indexes mostly, like layered architectures, plus a few back-edges.
        # (A range samples as its list would, without building 50,000 lists of up to 50,000.)
        candidates = range(i + 1, n) or range(n)
        for j in rng.sample(candidates, min(len(candidates), rng.randint(0, 4))):
            if j == i:
                continue
            callee = fleet[j]
            if svc.style == "envoy":
                label = callee.slug
            else:
                direct = callee.slug if shared_ports else host
                label = f"{direct}:{callee.port}" if rng.random() < 0.8 else callee.alias
            svc.calls.append(
                {
                    "target": callee.slug,
                    "kind": "service",
                    "label": label,
                    "rate": rng.uniform(5, 300),
                    "error_share": rng.choice([0, 0, 0.01, 0.05]),
                }
            )
        if svc.style != "envoy" and rng.random() < 0.05:
            ext = rng.choice(EXTERNALS)
            svc.calls.append(
                {"target": ext, "kind": "endpoint", "label": ext, "rate": rng.uniform(1, 20), "error_share": 0}
            )
    return fleet


# Every call of an edge takes the edge's latency (ms), picked from the edge's names alone so
# the topology's random draws stay as they were. None is on a bucket bound below.
LATENCIES_MS = (3, 8, 20, 40, 60, 90, 180, 400, 900, 2000)
BOUNDS_S = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10)  # OpenTelemetry's defaults
BOUNDS_MS = (0, 5, 10, 25, 50, 75, 100, 250, 500, 750, 1000, 2500, 5000, 7500, 10000)  # the older SDKs'


def call_latency_ms(source: str, target: str) -> int:
    return LATENCIES_MS[zlib.crc32(f"{source}>{target}".encode()) % len(LATENCIES_MS)]


def latency_truth(fleet: list[FleetService]) -> dict[tuple[str, str], int]:
    """(caller, target) -> the latency in ms of every call, for the edges a histogram shows
    (not Envoy's: the fleet's Envoy services expose counters only)."""
    return {
        (s.slug, c["target"]): call_latency_ms(s.slug, c["target"])
        for s in fleet
        if s.style != "envoy"
        for c in s.calls
    }


def _buckets(name: str, labels: dict, count: int, latency_ms: int, bounds: tuple, per_ms: float) -> list[str]:
    """``_bucket`` series of ``count`` calls that each took ``latency_ms``."""
    return [
        f"{name}_bucket{_labels(**labels, le=str(b))} {count if latency_ms <= b * per_ms else 0}" for b in bounds
    ] + [f"{name}_bucket{_labels(**labels, le='+Inf')} {count}"]


def ground_truth(fleet: list[FleetService]) -> list[dict]:
    return sorted(
        ({"source": s.slug, "target": c["target"], "kind": c["kind"]} for s in fleet for c in s.calls),
        key=lambda e: (e["source"], e["target"]),
    )


def set_error_share(svc: FleetService, target: str, share: float) -> None:
    """From now on, ``share`` of the calls ``svc`` makes to ``target`` fail (a deploy of
    ``target`` that fails more): the error counters keep what they counted so far and grow at
    the new share, as a real service's would."""
    for c in svc.calls:
        if c["target"] == target:
            c["error_share_changed"] = (time.time(), c["error_share"])
            c["error_share"] = share


def _errors(c: dict, total: int, elapsed: float) -> int:
    """Failed calls among the ``total`` so far: the edge's error share of each call, or after
    set_error_share, the old share of the calls until then and the new one of those since."""
    changed = c.get("error_share_changed")
    if not changed:
        return int(total * c["error_share"])
    at, before = changed
    total_then = min(total, int(c["rate"] * (max(elapsed - (time.time() - at), 0) + 60) / 60))
    return int(total_then * before) + int((total - total_then) * c["error_share"])


def _labels(**kv) -> str:
    return "{" + ",".join(f'{k}="{v}"' for k, v in kv.items()) + "}"


def exposition(svc: FleetService, elapsed: float) -> str:
    """The service's /metrics body after ``elapsed`` seconds of traffic."""
    out = [
        "# HELP process_cpu_seconds_total CPU time.",
        "# TYPE process_cpu_seconds_total counter",
        f"process_cpu_seconds_total {elapsed / 100:.3f}",
    ]
    stable, old, envoy = [], [], []
    for c in svc.calls:
        total = int(c["rate"] * (elapsed + 60) / 60)
        errors = _errors(c, total, elapsed)
        host, _, port = c["label"].rpartition(":")
        ms = call_latency_ms(svc.slug, c["target"])
        if svc.style in ("otel-stable", "otel-dup"):
            for status, n in (("200", total - errors), ("500", errors)):
                if n or status == "200":
                    labels = {"error_type": "" if status == "200" else status, "http_request_method": "GET"}
                    labels |= {"http_response_status_code": status, "server_address": host, "server_port": port}
                    stable += _buckets("http_client_request_duration_seconds", labels, n, ms, BOUNDS_S, 1000)
            stable.append(
                f"http_client_request_duration_seconds_count"
                f"{_labels(error_type='', http_request_method='GET', http_response_status_code='200', server_address=host, server_port=port)} {total - errors}"
            )
            if errors:
                stable.append(
                    f"http_client_request_duration_seconds_count"
                    f"{_labels(error_type='500', http_request_method='GET', http_response_status_code='500', server_address=host, server_port=port)} {errors}"
                )
        if svc.style in ("otel-old", "otel-dup"):
            for status, n in (("200", total - errors), ("503", errors)):
                if n or status == "200":
                    labels = {"http_method": "GET", "http_status_code": status}
                    labels |= {"net_peer_name": host, "net_peer_port": port}
                    old += _buckets("http_client_duration_milliseconds", labels, n, ms, BOUNDS_MS, 1)
            old.append(
                f"http_client_duration_milliseconds_count"
                f"{_labels(http_method='GET', http_status_code='200', net_peer_name=host, net_peer_port=port)} {total - errors}"
            )
            if errors:
                old.append(
                    f"http_client_duration_milliseconds_count"
                    f"{_labels(http_method='GET', http_status_code='503', net_peer_name=host, net_peer_port=port)} {errors}"
                )
        if svc.style == "otel-dup":
            # The shifted-label series a real exporter emits in http/dup mode: unreadable, skipped.
            stable.append(
                f"http_client_request_duration_seconds_count"
                f"{_labels(error_type='GET', http_request_method='200', server_address=port)} {total}"
            )
        if svc.style == "envoy":
            envoy.append(f"envoy_cluster_upstream_rq_total{_labels(envoy_cluster_name=c['label'])} {total}")
            envoy.append(f"envoy_cluster_upstream_rq_5xx{_labels(envoy_cluster_name=c['label'])} {errors}")
    if stable:
        out += [
            "# HELP http_client_request_duration_seconds Duration of HTTP client requests.",
            "# TYPE http_client_request_duration_seconds histogram",
            *stable,
        ]
    if old:
        out += [
            "# HELP http_client_duration_milliseconds Outbound HTTP request duration.",
            "# TYPE http_client_duration_milliseconds histogram",
            *old,
        ]
    if envoy:
        out += [
            "# TYPE envoy_cluster_upstream_rq_total counter",
            *[e for e in envoy if "_total" in e],
            "# TYPE envoy_cluster_upstream_rq_5xx counter",
            *[e for e in envoy if "_5xx" in e],
        ]
    return "\n".join(out) + "\n"


def _hostile_handler(kind: str, port: int):
    async def handler(request: web.Request) -> web.StreamResponse:
        if request.path != "/metrics":
            return web.Response(text="ok")
        if kind == "slow":
            await asyncio.sleep(30)
            return web.Response(text="")
        if kind in ("endless", "huge"):
            resp = web.StreamResponse(headers={"Content-Type": "text/plain"})
            if kind == "huge":
                resp.content_length = 1024**3
            await resp.prepare(request)
            line = b"# padding " + b"x" * 8180 + b"\n"
            try:
                while True:
                    await resp.write(line)
            except (ConnectionResetError, RuntimeError):
                return resp
        if kind == "invalid":
            return web.Response(text="this is { not an exposition\n<html>oops</html>\n")
        if kind == "binary":
            return web.Response(body=bytes(range(256)) * 64, content_type="application/octet-stream")
        if kind == "nan":
            return web.Response(
                text=(
                    "# TYPE http_client_request_duration_seconds histogram\n"
                    'http_client_request_duration_seconds_count{server_address="127.0.0.1",server_port="1"} NaN\n'
                    'http_client_request_duration_seconds_count{server_address="127.0.0.1",server_port="2"} -5\n'
                )
            )
        if kind == "many-series":
            return web.Response(text="".join(f'junk_metric{{i="{i}"}} {i}\n' for i in range(100_000)))
        if kind == "redirect-loop":
            raise web.HTTPFound(location=f"http://127.0.0.1:{port}/metrics?again={time.time()}")
        if kind == "redirect-metadata":
            raise web.HTTPFound(location="http://169.254.169.254/latest/meta-data/")
        if kind == "reset":
            request.transport.abort()
            await asyncio.sleep(0.1)
            return web.Response(text="")
        return web.Response(status=500)

    return handler


async def serve(
    fleet: list[FleetService],
    *,
    host: str = "127.0.0.1",
    hostile_base: int | None = None,
    ready=None,
    stop: asyncio.Event | None = None,
    hits: Counter | None = None,
) -> None:
    """Serve the fleet until ``stop``; ``hits``, when given, counts the requests each service
    answered by (slug, path) (tests check that a crawl fetched every target exactly once)."""
    started = time.time()
    by_port = {s.port: s for s in fleet}

    async def handle(request: web.Request) -> web.Response:
        port = request.transport.get_extra_info("sockname")[1]
        svc = by_port.get(port)
        if svc is None:
            raise web.HTTPNotFound()
        if hits is not None:
            hits[(svc.slug, request.path)] += 1
        if request.path == "/health":
            return web.json_response({"status": "ok", "service": svc.slug})
        if request.path == "/metrics":
            return web.Response(text=exposition(svc, time.time() - started), content_type="text/plain", charset="utf-8")
        raise web.HTTPNotFound()

    app = web.Application()
    app.router.add_get("/{tail:.*}", handle)
    runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=1)
    await runner.setup()
    runners = [runner]
    for svc in fleet:
        await web.TCPSite(runner, host, svc.port, backlog=1024, reuse_address=True).start()
    if hostile_base is not None:
        for i, kind in enumerate(HOSTILE):
            happ = web.Application()
            happ.router.add_get("/{tail:.*}", _hostile_handler(kind, hostile_base + i))
            hrunner = web.AppRunner(happ, access_log=None, handle_signals=False, shutdown_timeout=1)
            await hrunner.setup()
            await web.TCPSite(hrunner, host, hostile_base + i, reuse_address=True).start()
            runners.append(hrunner)
    if ready:
        ready()
    try:
        await (stop.wait() if stop else asyncio.Event().wait())
    finally:
        for r in runners:
            await r.cleanup()


def _http_response(status: str, body: bytes, content_type: str) -> bytes:
    head = f"HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {len(body)}\r\n\r\n"
    return head.encode() + body


class _PathProtocol(asyncio.Protocol):
    """HTTP/1.1 GETs with keep-alive (pipelined too) answered from a table of whole responses:
    a benchmark fleet of 50,000 services must cost its machine little CPU (about 10 µs a
    request; an aiohttp handler costs ten times that). Anything but a known path is a 404."""

    def __init__(self, responses: dict[bytes, bytes], counts: Counter | None):
        self.responses, self.counts, self.buffer = responses, counts, b""

    def connection_made(self, transport):
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while (end := self.buffer.find(b"\r\n\r\n")) >= 0:
            head, self.buffer = self.buffer[:end], self.buffer[end + 4 :]
            parts = head.split(b" ", 2)
            path = parts[1].split(b"?", 1)[0] if len(parts) == 3 else b""
            if self.counts is not None:
                self.counts[path] += 1
            self.transport.write(self.responses.get(path) or _NOT_FOUND)
        if len(self.buffer) > 65536:
            self.transport.close()


_NOT_FOUND = _http_response("404 Not Found", b"not found\n", "text/plain")


def path_responses(fleet: list[FleetService], elapsed: float) -> dict[bytes, bytes]:
    """Every service's ``/metrics`` (as after ``elapsed`` seconds of traffic) and ``/health``
    under its path, rendered once as whole HTTP responses."""
    out = {}
    for svc in fleet:
        metrics = exposition(svc, elapsed).encode()
        health = json.dumps({"status": "ok", "service": svc.slug}).encode()
        out[f"{svc.path}/metrics".encode()] = _http_response("200 OK", metrics, "text/plain; charset=utf-8")
        out[f"{svc.path}/health".encode()] = _http_response("200 OK", health, "application/json")
    return out


async def serve_paths(
    fleet: list[FleetService],
    *,
    host: str = "127.0.0.1",
    elapsed: float = 600.0,
    ready=None,
    stop: asyncio.Event | None = None,
    counts: Counter | None = None,
) -> None:
    """Serve a path-routed fleet (``topology(shared_ports=...)``) on its few ports until
    ``stop``. The expositions are rendered once, as after ``elapsed`` seconds of traffic: the
    counters do not grow (each crawl sees the same ones), which is what lets 50,000 targets
    be served from one process. ``counts``, when given, counts requests by path."""
    responses = path_responses(fleet, elapsed)
    loop = asyncio.get_running_loop()
    servers = [
        await loop.create_server(lambda: _PathProtocol(responses, counts), host, port, backlog=1024, reuse_address=True)
        for port in sorted({s.port for s in fleet})
    ]
    if ready:
        ready()
    try:
        await (stop.wait() if stop else asyncio.Event().wait())
    finally:
        for server in servers:
            server.close()


def write_truth(fleet: list[FleetService], path: str) -> None:
    with open(path, "w") as fh:
        json.dump(
            {
                "services": [{"slug": s.slug, "port": s.port, "style": s.style} for s in fleet],
                "edges": ground_truth(fleet),
            },
            fh,
            indent=1,
        )


def register(
    fleet: list[FleetService],
    *,
    actor,
    org_slug: str = "fleet",
    host: str = "127.0.0.1",
    hostile_base: int | None = None,
    progress=None,
) -> int:
    """Put the fleet into the catalog through the normal service layer (limits and audit
    apply: eight services a team). Existing slugs are left as they are."""
    from catalog.models import Service
    from catalog.services import service_create
    from teams.models import Org, Team
    from teams.services import org_create, team_create

    org = Org.objects.filter(slug=org_slug).first() or org_create(actor=actor, slug=org_slug, name="Simulated fleet")
    entries = [(s.slug, s.base_url(host), [s.alias]) for s in fleet]
    if hostile_base is not None:
        entries += [(f"hostile-{k}", f"http://{host}:{hostile_base + i}", []) for i, k in enumerate(HOSTILE)]
    existing = set(Service.objects.filter(slug__in=[e[0] for e in entries]).values_list("slug", flat=True))
    created = 0
    per_team = org.max_services_per_team
    offset = Service.objects.filter(team__org=org).count()
    for index, (slug, base_url, aliases) in enumerate(entries):
        if slug in existing:
            continue
        number = (offset + created) // per_team
        team_slug = f"{org_slug}-team-{number:03d}"
        team = Team.objects.filter(slug=team_slug).first() or team_create(
            actor=actor,
            org=org,
            slug=team_slug,
            name=f"Fleet team {number}",
            oncall_contact=f"oncall-{number}@fleet.example",
        )
        service_create(
            actor=actor, team=team, slug=slug, name=slug, base_url=base_url, aliases=aliases, tier=1 + index % 4
        )
        created += 1
        if progress:
            progress(index + 1, len(entries))
    return created
