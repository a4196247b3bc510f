"""The 50,000-target crawl (issue 17): one Celery worker process, then two.

- Catalog: 50,000 services under the ``xl-`` prefix, bulk-inserted as bench/scale.py does
  (its helpers), each with a base URL ``http://127.0.0.1:<port>/s/<slug>``; deleted at the
  end. Services the other benchmarks registered are left out of the crawl while it runs.
- Targets: one fleet process (``manage.py fleet --shared-ports 4``) serves all 50,000
  services' ``/metrics`` and ``/health`` by path on 4 loopback ports, from responses rendered
  once at start (devtools/fleet.py ``serve_paths``): 50,000 listeners cannot exist on one
  machine, and the fleet shares the 2 cores with the crawl, so it answers from a table.
  Its own CPU seconds during each crawl are reported.
- Each run: a fresh projection (graph wiped and synced, outside the timing), then
  ``crawl_start`` with the workers already up; timed from the run's creation to its
  ``finished_at`` (both stamped by the database). One run with one worker process
  (``--concurrency 1``), one with two separate worker processes (``-n w1@%h``, ``-n w2@%h``,
  ``--concurrency 1`` each): separate processes, as on separate hosts, so each one's peak
  RSS is its own.
- Checks: every target has a result and none failed, and the CALLS edges of the ``xl-``
  services in Neo4j are exactly the fleet's truth.

``BENCH_CRAWL_SCALE_SERVICES`` (50,000) and ``BENCH_CRAWL_SCALE_PORT`` (24200) size and place it."""

import os
import re
import signal
import subprocess
import sys
import time
import urllib.request

from django.db.models import Count

from bench.common import ROOT_DIR, Row, celery_worker, peak_rss_mb, worker_pids
from bench.scale import PREFIX, SLUG_FORMAT, _cleanup, _grow
from catalog.models import Service
from devtools import fleet
from graph import db, services
from graph.models import CrawlRun

N = int(os.environ.get("BENCH_CRAWL_SCALE_SERVICES", 50_000))
PORT_BASE = int(os.environ.get("BENCH_CRAWL_SCALE_PORT", 24200))
SHARED_PORTS = 4
TRUTH = ROOT_DIR / "var" / f"bench-crawl-scale-truth-{PORT_BASE}.json"
TICK = os.sysconf("SC_CLK_TCK")


def _cpu_s(pid: int) -> float:
    """User plus system CPU seconds of a live process so far."""
    with open(f"/proc/{pid}/stat") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def _neo4j_pid() -> int | None:
    """The process listening on NEO4J_URI's port, when it runs on this machine (its CPU seconds
    count: it shares the cores with the workers)."""
    from urllib.parse import urlsplit

    from django.conf import settings

    port = urlsplit(settings.NEO4J_URI).port or 7687
    out = subprocess.run(["ss", "-Htlnp", f"sport = :{port}"], capture_output=True, text=True).stdout
    match = re.search(r"pid=(\d+)", out)
    return int(match.group(1)) if match else None


def _start_fleet(topology: list) -> subprocess.Popen:
    proc = subprocess.Popen(
        [
            sys.executable,
            "manage.py",
            "fleet",
            "--services",
            str(N),
            "--port-base",
            str(PORT_BASE),
            "--shared-ports",
            str(SHARED_PORTS),
            "--slug-format",
            SLUG_FORMAT,
            "--truth",
            str(TRUTH),
        ],
        cwd=ROOT_DIR,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    last = topology[-1]
    deadline = time.time() + 600  # rendering 50,000 expositions takes a while on a loaded machine
    while time.time() < deadline:
        try:
            urllib.request.urlopen(f"{last.base_url()}/health", timeout=1)
            return proc
        except OSError:
            if proc.poll() is not None:
                raise RuntimeError("the fleet exited") from None
            time.sleep(0.5)
    raise RuntimeError("fleet did not start")


def _crawl(names: list[str], fleet_pid: int, expected: set) -> dict:
    from config.celery import app

    services.graph_wipe()
    services.graph_sync()
    app.control.purge()
    workers = [celery_worker(name, concurrency=1) for name in names]
    try:
        deadline = time.time() + 120
        while len(app.control.ping(timeout=0.5) or []) < len(workers) and time.time() < deadline:
            pass
        cpu_before = {pid: _cpu_s(pid) for w in workers for pid in worker_pids(w)}
        fleet_before = _cpu_s(fleet_pid)
        neo4j = _neo4j_pid()
        neo4j_before = _cpu_s(neo4j) if neo4j else 0.0
        run = services.crawl_start(trigger="cli")
        while not CrawlRun.objects.filter(pk=run.pk, finished_at__isnull=False).exists():
            if time.time() - run.created_at.timestamp() > 3600:
                raise RuntimeError(f"crawl #{run.pk} did not finish in an hour")
            time.sleep(0.2)
        fleet_cpu = _cpu_s(fleet_pid) - fleet_before
        neo4j_cpu = _cpu_s(neo4j) - neo4j_before if neo4j else None
        per_worker = [
            {
                "processes": {
                    pid: {
                        "peak_rss_mb": round(peak_rss_mb(pid), 1),
                        "cpu_s": round(_cpu_s(pid) - cpu_before.get(pid, 0), 1),
                    }
                    for pid in worker_pids(w)
                }
            }
            for w in workers
        ]
    finally:
        for w in workers:
            os.killpg(w.pid, signal.SIGTERM)
        for w in workers:
            w.wait(60)
    run.refresh_from_db()
    found = {
        (r["s"], r["t"])
        for r in db.read(
            "MATCH (s:Service)-[:CALLS]->(t) WHERE s.slug STARTS WITH $p RETURN s.slug AS s, coalesce(t.slug, t.key) AS t",
            p=PREFIX,
        )
    }
    by_worker = dict(run.results.values_list("worker").annotate(n=Count("id")))
    return {
        "seconds": (run.finished_at - run.created_at).total_seconds(),
        "status": run.status,
        "total": run.total,
        "done": run.done,
        "failed": run.failed,
        "edges_found": len(found),
        "edges_missing": len(expected - found),
        "edges_extra": len(found - expected),
        "fleet_cpu_s": round(fleet_cpu, 1),
        "neo4j_cpu_s": round(neo4j_cpu, 1) if neo4j_cpu is not None else None,
        "workers": per_worker,
        "results_by_worker": by_worker,
    }


def run():
    topology = fleet.topology(N, port_base=PORT_BASE, shared_ports=SHARED_PORTS, slug=lambda i: SLUG_FORMAT.format(i=i))
    expected = {(e["source"], e["target"]) for e in fleet.ground_truth(topology)}
    others = list(
        Service.objects.filter(crawl_enabled=True).exclude(slug__startswith=PREFIX).values_list("pk", flat=True)
    )
    _cleanup()
    proc = _start_fleet(topology)
    try:
        _grow(N, fields=lambda i: {"base_url": topology[i].base_url(), "aliases": [topology[i].alias]})
        Service.objects.filter(pk__in=others).update(crawl_enabled=False)
        one = _crawl(["w1"], proc.pid, expected)
        two = _crawl(["w1", "w2"], proc.pid, expected)
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(30)
        Service.objects.filter(pk__in=others).update(crawl_enabled=True)
        _cleanup()
    label = f"{N:,} targets"
    for workers, r in (("1 worker", one), ("2 workers", two)):
        complete = r["done"] == N and r["failed"] == 0 and not r["edges_missing"] and not r["edges_extra"]
        yield Row(
            f"crawl {label} via {workers} (every result, edges = truth)",
            round(r["seconds"], 1),
            "s",
            "<= 60 s" if workers == "2 workers" else "",
            (r["seconds"] <= 60 and complete) if workers == "2 workers" else complete,
            r,
        )
    speedup = one["seconds"] / two["seconds"]
    yield Row(f"crawl {label}: speed-up 2 workers vs 1", round(speedup, 2), "x", ">= 1.6", speedup >= 1.6)
    peak = max(p["peak_rss_mb"] for r in (one, two) for w in r["workers"] for p in w["processes"].values())
    yield Row(f"crawl {label}: peak RSS of any worker process", peak, "MB", "<= 300 MB", peak <= 300)
    yield Row(
        f"crawl {label}: fleet CPU during the 2-worker crawl",
        two["fleet_cpu_s"],
        "s",
        "",
        None,
        {"1 worker": one["fleet_cpu_s"]},
    )
    for workers, r in (("1 worker", one), ("2 workers", two)):
        cpu = sum(p["cpu_s"] for w in r["workers"] for p in w["processes"].values())
        yield Row(
            f"crawl {label} via {workers}: CPU seconds of workers + Neo4j + fleet",
            round(cpu + (r["neo4j_cpu_s"] or 0) + r["fleet_cpu_s"], 1),
            "s",
            "",
            None,
            {"workers": round(cpu, 1), "neo4j": r["neo4j_cpu_s"], "fleet": r["fleet_cpu_s"]},
        )
