"""OTLP trace ingestion: sustained POSTs of 512-span protobuf batches to ``/v1/traces`` on
gunicorn (2 workers, the production config), driven by wrk; spans/s, p99 request time and
web RSS; beside a parse-only baseline measured in the same run: the same batches decoded
and folded into per-peer aggregates by the same pure code (graph/discovery/otlp.py),
without Django, HTTP or Redis, in as many processes as the server has workers. Afterwards the buffers are drained and
every accepted span must be there."""

import subprocess
import tempfile
import time
from pathlib import Path

from django.contrib.auth import get_user_model

from bench.common import Row, peak_rss_mb, web_server, wrk

PORT, WORKERS, SECONDS, CONNECTIONS = 18910, 2, 15, 2
SPANS_PER_BATCH, BATCHES = 512, 8
PEERS = [("orders.internal", 8080), ("payments.internal", 8443), ("users", 80), ("search", 9200)] + [
    (f"svc-{i}.internal", 8000 + i) for i in range(16)
]


def _key() -> str:
    from catalog import services as catalog_services
    from catalog.models import Service
    from graph.services.otlp import ingest_key_issue
    from teams.models import Org, Team

    User = get_user_model()
    root = User.objects.filter(username="bench").first() or User.objects.create_superuser("bench", "b@e.x", "bench")
    org = Org.objects.filter(slug="otlp").first() or Org.objects.create(slug="otlp", name="OTLP bench")
    team = Team.objects.filter(slug="otlp-team").first() or Team.objects.create(org=org, slug="otlp-team", name="O")
    if not Service.objects.filter(slug="otlp-shop").exists():
        catalog_services.service_create(actor=root, team=team, slug="otlp-shop", name="Shop")
    return ingest_key_issue(actor=root, service="otlp-shop", name="bench")[1]


def _batch(seed: int) -> bytes:
    """512 spans as an instrumented web service sends them: 80% HTTP client calls to 20
    peers (semantic-convention attributes), 10% database calls, 10% server spans."""
    import random

    from opentelemetry.proto.collector.trace.v1 import trace_service_pb2

    rnd = random.Random(seed)
    request = trace_service_pb2.ExportTraceServiceRequest()
    rs = request.resource_spans.add()
    for key, value in (("service.name", "otlp-shop"), ("service.version", "1.4.2"), ("host.name", "shop-7f9c")):
        rs.resource.attributes.add(key=key).value.string_value = value
    ss = rs.scope_spans.add()
    ss.scope.name = "opentelemetry.instrumentation.requests"
    now = time.time_ns()
    for i in range(SPANS_PER_BATCH):
        end = now - rnd.randint(0, 30 * 10**9)
        span = ss.spans.add(
            trace_id=rnd.randbytes(16),
            span_id=rnd.randbytes(8),
            parent_span_id=rnd.randbytes(8),
            name="GET",
            start_time_unix_nano=end - int(rnd.expovariate(1 / 40) * 1e6),
            end_time_unix_nano=end,
        )
        attrs = span.attributes
        r = i % 10
        if r < 8:
            span.kind = 3
            host, port = rnd.choice(PEERS)
            attrs.add(key="http.request.method").value.string_value = "GET"
            attrs.add(key="server.address").value.string_value = host
            attrs.add(key="server.port").value.int_value = port
            attrs.add(key="url.full").value.string_value = f"http://{host}:{port}/api/v1/items/{rnd.randint(1, 9999)}"
            attrs.add(key="http.response.status_code").value.int_value = 500 if rnd.random() < 0.02 else 200
            attrs.add(key="network.protocol.version").value.string_value = "1.1"
        elif r == 8:
            span.kind = 3
            attrs.add(key="db.system.name").value.string_value = "postgresql"
            attrs.add(key="server.address").value.string_value = "pg.internal"
            attrs.add(key="server.port").value.int_value = 5432
            attrs.add(key="db.query.text").value.string_value = "SELECT * FROM items WHERE id = $1"
        else:
            span.kind = 2
            attrs.add(key="http.request.method").value.string_value = "GET"
            attrs.add(key="http.route").value.string_value = "/items/{id}"
            attrs.add(key="http.response.status_code").value.int_value = 200
    return request.SerializeToString()


def _parse_only(bodies: list[bytes], seconds: float = 5.0) -> float:
    """Spans per second: decode and fold the same batches, no Django, one process."""
    from graph.discovery import otlp

    allowed = frozenset({"otlp-shop"})
    spans, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        for body in bodies:
            message = otlp.decode(body, otlp.PROTOBUF, "traces")
            otlp.aggregate_traces(message, allowed=allowed, now_ns=time.time_ns(), max_resources=1000, max_edges=1000)
            spans += SPANS_PER_BATCH
    return spans / (time.perf_counter() - started)


_LUA = """
local bodies = {}
for i = 1, %(n)d do
  local f = io.open("%(dir)s/batch-" .. i .. ".pb", "rb")
  bodies[i] = f:read("*a")
  f:close()
end
local i = 0
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/x-protobuf"
wrk.headers["Authorization"] = "Bearer %(key)s"
request = function()
  i = i %% %(n)d + 1
  return wrk.format(nil, nil, nil, bodies[i])
end
"""


def _wrk(url: str, script: str) -> dict:
    return wrk(url, connections=CONNECTIONS, seconds=SECONDS, threads=2, script=script)


def run():
    from django.core.cache import cache

    from graph.services.otlp import otlp_drain, otlp_settle

    cache.clear()
    key = _key()
    bodies = [_batch(seed) for seed in range(BATCHES)]
    # As many processes as the server has workers, at the same time: the same cores' worth.
    import multiprocessing

    with multiprocessing.get_context("fork").Pool(WORKERS) as pool:
        baseline = sum(pool.map(_parse_only, [bodies] * WORKERS))
    tmp = Path(tempfile.mkdtemp(prefix="otlp-bench-"))
    for i, body in enumerate(bodies, 1):
        (tmp / f"batch-{i}.pb").write_bytes(body)
    script = tmp / "post.lua"
    script.write_text(_LUA % {"n": BATCHES, "dir": tmp, "key": key})
    env = {"LOG_LEVEL": "WARNING", "OTLP_BUFFER_MAX_ENTRIES": "1000000"}
    with web_server(
        PORT,
        args=[
            "-c",
            "config/gunicorn.py",
            "config.wsgi",
            "--bind",
            f"127.0.0.1:{PORT}",
            "--workers",
            str(WORKERS),
            "--log-level",
            "warning",
        ],
        env=env,
    ) as server:
        url = f"http://127.0.0.1:{PORT}/v1/traces"
        warm = _wrk(url, str(script))  # every worker loads its code and key record
        time.sleep(1)  # requests wrk left in flight finish
        for warm_up in otlp_drain():  # settled, as a successful run would: the load starts empty
            otlp_settle(warm_up["service"], warm_up["token"])
        load = _wrk(url, str(script))
        time.sleep(1)
        workers = subprocess.run(["pgrep", "-P", str(server.pid)], capture_output=True, text=True).stdout.split()
        peak = max(peak_rss_mb(int(w)) for w in workers)
    # Every span of every answered request is in the buffers (wrk may cut a last request off).
    client_spans = sum(1 for i in range(SPANS_PER_BATCH) if i % 10 <= 8)
    drained = sum(e[1] for d in otlp_drain() for e in d["edges"])
    answered = load["requests"] - load["non_2xx"]
    spans_per_s = load["rps"] * SPANS_PER_BATCH
    ratio = spans_per_s / baseline
    detail = {**load, "warm_requests": warm["requests"], "buffered_client_spans": drained}
    yield Row(
        "OTLP traces ingested (512-span batches, gunicorn 2 workers)",
        round(spans_per_s),
        "spans/s",
        ">= 20000",
        spans_per_s >= 20_000,
        detail,
    )
    yield Row(
        f"OTLP parse-only baseline (decode + fold, no Django, {WORKERS} processes)",
        round(baseline),
        "spans/s",
        "",
        None,
    )
    yield Row("OTLP ingested / parse-only", round(ratio, 3), "x", ">= 0.5", ratio >= 0.5)
    yield Row("OTLP request p99", round(load["p99"], 2), "ms", "<= 100 ms", load["p99"] <= 100, load)
    yield Row("OTLP web process peak RSS", round(peak, 1), "MB", "<= 250 MB", peak <= 250)
    if load["non_2xx"]:
        raise RuntimeError(f"{load['non_2xx']} OTLP requests failed under load")
    # wrk counts the requests answered within its run; those it left in flight are buffered too.
    lost = not answered * client_spans <= drained <= (answered + CONNECTIONS) * client_spans
    yield Row(
        "OTLP client spans buffered / in answered requests",
        round(drained / (answered * client_spans), 4),
        "x",
        "1 (nothing lost)",
        not lost,
        {"buffered": drained, "answered_requests": answered, "client_spans_per_request": client_spans},
    )
