"""Discovery on a 1,000-service simulated fleet.

- baseline: the same fetches (metrics and health of every service, same concurrency),
  metrics parsed with prometheus_client, nothing else;
- end to end in one process: fetch, parse, match, merge into Neo4j, record results;
- end to end through a real Celery worker (concurrency 2) with the hostile targets added,
  and that worker's peak memory;
- precision and recall of the discovered edges against the fleet's ground truth."""

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request

import aiohttp
from django.conf import settings
from django.contrib.auth import get_user_model
from prometheus_client.parser import text_string_to_metric_families

from bench.common import ROOT_DIR, Row, celery_worker, peak_rss_mb, worker_pids
from catalog.models import Service
from catalog.services import service_update
from devtools import fleet
from graph import db, services
from graph.models import CrawlRun

N, PORT_BASE = 1000, 23000
HOSTILE_BASE = PORT_BASE + N + 100


def _start_fleet() -> subprocess.Popen:
    proc = subprocess.Popen(
        [
            sys.executable,
            "manage.py",
            "fleet",
            "--services",
            str(N),
            "--port-base",
            str(PORT_BASE),
            "--hostile",
            "--truth",
            str(ROOT_DIR / "var" / "bench-truth.json"),
        ],
        cwd=ROOT_DIR,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{PORT_BASE + N - 1}/health", timeout=1)
            urllib.request.urlopen(f"http://127.0.0.1:{HOSTILE_BASE}/health", timeout=1)
            return proc
        except OSError:
            time.sleep(0.2)
    raise RuntimeError("fleet did not start")


async def _baseline(urls: list[tuple[str, str]], concurrency: int) -> int:
    semaphore = asyncio.Semaphore(concurrency)
    series = 0
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency)) as session:

        async def one(metrics_url, health_url):
            nonlocal series
            async with semaphore:
                async with session.get(metrics_url) as resp:
                    text = await resp.text()
                async with session.get(health_url) as resp:
                    await resp.read()
            for family in text_string_to_metric_families(text):
                series += len(family.samples)

        await asyncio.gather(*(one(m, h) for m, h in urls))
    return series


def _set_hostile(actor, crawl: bool) -> None:
    for svc in Service.objects.filter(slug__startswith="hostile-"):
        service_update(actor=actor, service=svc, crawl_enabled=crawl)


def run():
    User = get_user_model()
    root = User.objects.filter(username="bench").first() or User.objects.create_superuser("bench", "b@e.x", "bench")
    proc = _start_fleet()
    try:
        truth = json.loads((ROOT_DIR / "var" / "bench-truth.json").read_text())
        fleet_services = fleet.topology(N, port_base=PORT_BASE)
        fleet.register(fleet_services, actor=root, hostile_base=HOSTILE_BASE)
        _set_hostile(root, crawl=False)
        services.graph_wipe()
        services.graph_sync()

        urls = [(f"http://127.0.0.1:{s.port}/metrics", f"http://127.0.0.1:{s.port}/health") for s in fleet_services]
        start = time.perf_counter()
        samples = asyncio.run(_baseline(urls, settings.DISCOVERY_CONCURRENCY))
        baseline_s = time.perf_counter() - start

        start = time.perf_counter()
        run_ = services.crawl_inline()
        e2e_s = time.perf_counter() - start
        found = {
            (r["s"], r["t"])
            for r in db.read("MATCH (s:Service)-[:CALLS]->(t) RETURN s.slug AS s, coalesce(t.slug, t.key) AS t")
        }
        expected = {(e["source"], e["target"]) for e in truth["edges"]}
        hits = len(found & expected)
        precision, recall = hits / max(1, len(found)), hits / max(1, len(expected))
        ratio = baseline_s / e2e_s
        yield Row(
            "crawl 1,000 services end to end (in process)",
            round(e2e_s, 3),
            "s",
            "<= 10 s",
            e2e_s <= 10,
            {"status": run_.status, "targets": run_.total, "edges": len(found), "samples_in_baseline": samples},
        )
        yield Row("crawl baseline: same fetches + prometheus_client parse", round(baseline_s, 3), "s", "", None)
        yield Row(
            "crawl throughput vs baseline (baseline time / e2e time)", round(ratio, 3), "x", ">= 0.7", ratio >= 0.7
        )
        yield Row("discovery precision (1,000-service fleet)", round(precision, 4), "", "= 1.0", precision == 1.0)
        yield Row("discovery recall (1,000-service fleet)", round(recall, 4), "", "= 1.0", recall == 1.0)

        # Through a real worker, hostile targets included; its peak memory.
        _set_hostile(root, crawl=True)
        worker = celery_worker("bench", concurrency=2)
        try:
            from config.celery import app

            app.control.purge()
            deadline = time.time() + 60
            while not (app.control.ping(timeout=0.5) or []) and time.time() < deadline:
                pass
            start = time.perf_counter()
            celery_run = services.crawl_start(trigger="cli")
            while not CrawlRun.objects.get(pk=celery_run.pk).finished_at and time.perf_counter() - start < 300:
                time.sleep(0.2)
            celery_s = time.perf_counter() - start
            celery_run.refresh_from_db()
            peak = max(peak_rss_mb(pid) for pid in worker_pids(worker))
        finally:
            os.killpg(worker.pid, signal.SIGTERM)
            worker.wait(30)
        failed = {r.target: r.error for r in celery_run.results.filter(ok=False)}
        yield Row(
            "crawl 1,000 + 10 hostile via Celery worker",
            round(celery_s, 3),
            "s",
            "",
            None,
            {"status": celery_run.status, "failed": failed},
        )
        yield Row("worker peak RSS (1,000 services + hostile)", round(peak, 1), "MB", "<= 300 MB", peak <= 300)
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(30)
