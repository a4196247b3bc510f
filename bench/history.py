"""Edge history (issue 14).

- storage: one day of full-resolution samples (a crawl every 5 minutes) for 1,000 edges written
  through the real write path (``history_append``, one batch per crawl), rolled up into hours;
  bytes per edge per day of the tables with their indexes (SQLite ``dbstat``, PostgreSQL
  ``pg_total_relation_size``), and what one edge holds at steady state (48 h of samples and
  90 days of hours);
- query: one service's inbound and outbound edges at 10,000 services / 50,000 edges (the
  layered topology of bench/graphdata.py) with 7 days of hourly roll-ups for every edge, full
  resolution over the last hour for every edge and over 24 h for the services queried; p95 of
  ``service_history`` over 7 d (target ≤ 100 ms) and 24 h;
- crawl cost: a simulated fleet crawled in process with history on and off, alternately, in
  the same run (target: on ≤ 1.15 × off)."""

import os
import random
import signal
import statistics
import subprocess
import sys
import time
import urllib.request

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connection, transaction

from bench.common import ROOT_DIR, Row, latencies_ms, percentile
from bench.graphdata import layered_edges
from changes import selectors
from changes import services as changes
from changes.models import EdgeHourly, EdgeSample, EdgeSeries
from devtools import fleet
from graph import services as graph_services
from graph.signals import EdgeSample as Observed

STEP = 300  # seconds between crawls
HOUR = 3600
N_SERVICES, N_EDGES = 10_000, 50_000
FLEET_N, FLEET_PORT_BASE = 300, 25500


def _wipe() -> None:
    with transaction.atomic():
        EdgeSample.objects.all().delete()
        EdgeHourly.objects.all().delete()
        EdgeSeries.objects.all().delete()


def _table_bytes(model) -> int:
    """The table and its indexes, in bytes."""
    table = model._meta.db_table
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SELECT pg_total_relation_size(%s)", [table])
            return int(cursor.fetchone()[0])
        cursor.execute(f"PRAGMA index_list('{table}')")
        names = [table] + [row[1] for row in cursor.fetchall()]
        placeholders = ",".join("%s" for _ in names)
        cursor.execute(f"SELECT coalesce(sum(pgsize), 0) FROM dbstat WHERE name IN ({placeholders})", names)  # noqa: S608
        return int(cursor.fetchone()[0])


def _storage() -> list[Row]:
    _wipe()
    n_edges = 1000
    rng = random.Random(3)
    edges = [(f"svc-{i:04d}", f"svc-{(i * 7 + 1) % 2000:04d}") for i in range(n_edges)]
    day_start = int(time.time()) - 86400
    day_start -= day_start % HOUR
    start = time.perf_counter()
    for k in range(86400 // STEP):
        at = (day_start + k * STEP + rng.randrange(20)) * 1000
        changes.history_append(
            [
                Observed(
                    a,
                    b,
                    at,
                    round(rng.uniform(1, 500), 4),
                    round(rng.uniform(0, 0.05), 4),
                    round(rng.uniform(1, 900), 2),
                )
                for a, b in edges
            ]
        )
    append_s = time.perf_counter() - start
    changes.history_rollup(now=day_start + 86400 + 60)
    raw = _table_bytes(EdgeSample) / n_edges
    hourly = _table_bytes(EdgeHourly) / n_edges
    series = _table_bytes(EdgeSeries) / n_edges
    steady = raw * settings.EDGE_HISTORY_RAW_HOURS / 24 + hourly * settings.EDGE_HISTORY_HOURLY_DAYS + series
    _wipe()
    detail = {"edges": n_edges, "samples_per_edge_day": 86400 // STEP, "database": connection.vendor}
    return [
        Row("history: full-resolution bytes per edge per day (288 samples)", round(raw), "B", "reported", None, detail),
        Row("history: hourly roll-up bytes per edge per day (24 hours)", round(hourly), "B", "reported", None, detail),
        Row(
            "history: bytes one edge holds at steady state (48 h raw + 90 d hourly)",
            round(steady),
            "B",
            "reported",
            None,
            {**detail, "at_50k_edges_MB": round(steady * N_EDGES / 1e6)},
        ),
        Row(
            "history: append one crawl's samples (1,000 edges), mean",
            round(append_s / (86400 // STEP) * 1000, 2),
            "ms",
            "",
            None,
        ),
    ]


def _bulk(sql: str, rows: list[tuple]) -> None:
    with connection.cursor() as cursor:
        for i in range(0, len(rows), 20_000):
            cursor.executemany(sql, rows[i : i + 20_000])


def _catalog(slugs: list[str]) -> list[int]:
    """The services the history is asked about must be in the catalog: those missing are
    created in bulk (uncrawled), under teams of their own; returns their ids to delete after."""
    from catalog.models import Service
    from teams.models import Org, Team

    have = set(Service.objects.filter(slug__in=slugs).values_list("slug", flat=True))
    missing = [s for s in slugs if s not in have]
    if not missing:
        return []
    org, _ = Org.objects.get_or_create(slug="history-bench", defaults={"name": "History bench"})
    teams = Team.objects.bulk_create(
        [Team(org=org, slug=f"history-bench-{i:04d}", name=f"hb {i}") for i in range(len(missing) // 8 + 1)]
    )
    if not teams[0].pk:
        teams = list(Team.objects.filter(org=org).order_by("slug"))
    created = Service.objects.bulk_create(
        [Service(team=teams[i // 8], slug=s, name=s, crawl_enabled=False) for i, s in enumerate(missing)],
        batch_size=2000,
    )
    return [s.slug for s in created]


def _uncatalog(slugs: list[str]) -> None:
    from catalog.models import Service
    from teams.models import Team

    Service.objects.filter(slug__in=slugs).delete()
    Team.objects.filter(org__slug="history-bench", services__isnull=True).delete()


def _query() -> list[Row]:
    _wipe()
    slugs = [f"svc-{i:05d}" for i in range(N_SERVICES)]
    created = _catalog(slugs)
    pairs = [(e["src"], e["dst"]) for e in layered_edges(slugs, N_EDGES, seed=7)]
    now = int(time.time())
    current = now - now % HOUR
    rng = random.Random(5)
    start = time.perf_counter()
    with transaction.atomic():
        EdgeSeries.objects.bulk_create([EdgeSeries(src=a, dst=b) for a, b in pairs], batch_size=5000)
        ids = {(a, b): i for i, a, b in EdgeSeries.objects.values_list("id", "src", "dst")}
        hourly_sql = (
            f"INSERT INTO {EdgeHourly._meta.db_table} (series_id, hour, rate, error_rate, p95_ms, samples) "  # noqa: S608
            "VALUES (%s, %s, %s, %s, %s, %s)"
        )
        rows = []
        for h in range(current - 7 * 24 * HOUR, current, HOUR):
            rows.extend((i, h, 12.5, 0.01, 42.0, 12) for i in ids.values())
            if len(rows) >= 200_000:
                _bulk(hourly_sql, rows)
                rows = []
        _bulk(hourly_sql, rows)
        sample_sql = (
            f"INSERT INTO {EdgeSample._meta.db_table} (series_id, at, rate, error_rate, p95_ms) "  # noqa: S608
            "VALUES (%s, %s, %s, %s, %s)"
        )
        queried = rng.sample(slugs[: N_SERVICES * 9 // 10], 50)  # services that call and are called
        near = {i for (a, b), i in ids.items() if a in queried or b in queried}
        rows = []
        for i in ids.values():
            span = 86400 if i in near else HOUR
            rows.extend((i, t, 12.5, 0.01, 42.0) for t in range(now - span + 30, now, STEP))
        _bulk(sample_sql, rows)
    fill_s = time.perf_counter() - start
    counts = {"hourly_rows": EdgeHourly.objects.count(), "sample_rows": EdgeSample.objects.count()}
    out = []
    for window, target in (("7d", 100.0), ("24h", None)):
        cycle = iter(queried * 10)
        selectors.service_history(slug=queried[0], window=window)  # warm
        lat = latencies_ms(lambda w=window, c=cycle: selectors.service_history(slug=next(c), window=w), 200)
        sizes = [len(selectors.service_history(slug=s, window=window)["edges"]) for s in queried[:10]]
        p95 = percentile(lat, 95)
        out.append(
            Row(
                f"history query, one service over {window} at 10k services / 50k edges (p95)",
                round(p95, 2),
                "ms",
                f"<= {target:g} ms" if target else "reported",
                p95 <= target if target else None,
                {"p50": round(percentile(lat, 50), 2), "edges_per_service": sizes, "fill_s": round(fill_s), **counts},
            )
        )
    _wipe()
    _uncatalog(created)
    return out


def _start_fleet() -> subprocess.Popen:
    proc = subprocess.Popen(
        [sys.executable, "manage.py", "fleet", "--services", str(FLEET_N), "--port-base", str(FLEET_PORT_BASE)],
        cwd=ROOT_DIR,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{FLEET_PORT_BASE + FLEET_N - 1}/health", timeout=1)  # noqa: S310
            return proc
        except OSError:
            time.sleep(0.2)
    raise RuntimeError("fleet did not start")


def _crawl_cost() -> list[Row]:
    User = get_user_model()
    root = User.objects.filter(username="bench").first() or User.objects.create_superuser("bench", "b@e.x", "bench")
    proc = _start_fleet()
    try:
        fleet.register(fleet.topology(FLEET_N, port_base=FLEET_PORT_BASE), actor=root)
        graph_services.graph_wipe()
        graph_services.graph_init()
        graph_services.graph_sync()
        _wipe()
        graph_services.crawl_inline()  # edges appear (events), counters get a first value
        times, statuses = {True: [], False: []}, []
        for i in range(8):
            on = i % 2 == 0
            settings.EDGE_HISTORY = on
            start = time.perf_counter()
            run = graph_services.crawl_inline()
            times[on].append(time.perf_counter() - start)
            statuses.append(run.status)
        settings.EDGE_HISTORY = True
        written = EdgeSample.objects.count()
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(30)
    on, off = statistics.median(times[True]), statistics.median(times[False])
    ratio = on / off
    return [
        Row(
            f"crawl {FLEET_N} services with history on / off (median of 4 each, alternating)",
            round(ratio, 3),
            "x",
            "<= 1.15",
            ratio <= 1.15,
            {
                "on_s": [round(t, 3) for t in times[True]],
                "off_s": [round(t, 3) for t in times[False]],
                "samples": written,
                "statuses": statuses,
            },
        )
    ]


def run():
    yield from _storage()
    yield from _query()
    yield from _crawl_cost()
