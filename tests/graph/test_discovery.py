"""Discovery end to end: simulated live services, real Celery workers through Redis,
real Neo4j."""

import time

import pytest

from devtools import fleet
from graph import db, services
from graph.models import CrawlRun
from tests.conftest import FLEET_PORT_BASE

OWN_NEO4J_PORT = FLEET_PORT_BASE + 990  # a second Neo4j's Bolt port, inside this run's TEST_PORT_BASE range

pytestmark = [pytest.mark.worker]


def observed_edges() -> set[tuple[str, str]]:
    rows = db.read("MATCH (s:Service)-[:CALLS]->(t) RETURN s.slug AS s, coalesce(t.slug, t.key) AS t")
    return {(r["s"], r["t"]) for r in rows}


def wait_for(run_id: int, timeout: float = 120) -> CrawlRun:
    deadline = time.time() + timeout
    while time.time() < deadline:
        run = CrawlRun.objects.get(pk=run_id)
        if run.finished_at:
            return run
        time.sleep(0.3)
    raise AssertionError(f"crawl #{run_id} did not finish: {CrawlRun.objects.get(pk=run_id).__dict__}")


def test_two_workers_discover_a_200_service_fleet_exactly(celery_workers, graph, run_fleet, root, settings):
    settings.DISCOVERY_CHUNK_SIZE = 25
    running = run_fleet(200, seed=11)
    fleet.register(running.services, actor=root)
    services.graph_sync()
    from config.celery import app

    app.control.purge()  # the warm the sync sent: both workers are to be free when the crawl starts
    # The workers plan the run: they are the ones that need the chunk size (8 chunks of 25).
    celery_workers(2, concurrency=2, DISCOVERY_CHUNK_SIZE="25")
    run = wait_for(services.crawl_start(trigger="api", actor=root).pk)
    assert run.status == "succeeded", run.error
    assert run.total == 200 and run.done == 200 and run.failed == 0
    found = observed_edges()
    truth = running.truth
    true_positive = len(found & truth)
    precision, recall = true_positive / len(found), true_positive / len(truth)
    assert (precision, recall) == (1.0, 1.0), (found - truth, truth - found)
    assert run.edges_new == len(truth)
    # Both workers took chunks of the same run.
    stats = app.control.inspect(timeout=2).stats() or {}
    per_worker = [s["total"].get("graph.tasks.crawl_chunk_task", 0) for s in stats.values()]
    assert len(per_worker) == 2 and all(n > 0 for n in per_worker), per_worker

    # A second crawl turns cumulative counters into rates, adds no new edges.
    time.sleep(1.5)
    run2 = wait_for(services.crawl_start(trigger="api", actor=root).pk)
    assert run2.status == "succeeded" and run2.edges_new == 0
    rates = db.read("MATCH (:Service)-[r:CALLS]->(:Service) RETURN r.rate_per_min AS rate")
    assert len(rates) == len(truth) - sum(1 for _, t in truth if not t.startswith("fleet-"))
    assert all(r["rate"] is not None and r["rate"] >= 0 for r in rates)
    assert sum(r["rate"] > 0 for r in rates) > len(rates) / 2

    # The run's end had a worker read the explorer's aggregated views of the graph as it now is.
    from django.core.cache import cache

    from graph import selectors

    key = f"graph:explorer:team:{db.version()}"
    deadline = time.time() + 60
    while cache.get(key) is None and time.time() < deadline:
        time.sleep(0.3)
    assert cache.get(key) == selectors._explorer_read(
        by="team", expand=[], only=None, args=dict.fromkeys(("org", "team", "tier", "system")), min_error=None
    )


def test_hostile_targets_each_fail_with_a_reason_and_the_run_completes(celery_workers, graph, hostile_fleet, root):
    fleet.register(hostile_fleet.services, actor=root, hostile_base=hostile_fleet.hostile_base)
    celery_workers(1)
    run = wait_for(services.crawl_start(trigger="api", actor=root).pk)
    results = {r.target: r for r in run.results.all()}
    assert run.status == "partial"
    expected = {
        "hostile-slow": "timed out",
        "hostile-endless": "larger than",
        "hostile-huge": "larger than",
        "hostile-invalid": "invalid exposition",
        "hostile-binary": "not UTF-8",
        "hostile-many-series": "too many series",
        "hostile-redirect-loop": "redirects",
        "hostile-redirect-metadata": "another host",
        "hostile-reset": "connection failed",
    }
    for target, reason in expected.items():
        assert not results[target].ok and reason in results[target].error, (target, results[target].error)
    nan = results["hostile-nan"]
    assert nan.ok and nan.skipped_series == 2 and nan.edges == 0
    assert results["fleet-0000"].ok


@pytest.mark.django_db
def test_overlapping_starts_do_not_double_run(root):
    from core.errors import Conflict
    from graph.tasks import crawl_scheduled_task

    first = services.crawl_start(trigger="schedule")
    with pytest.raises(Conflict) as exc:
        services.crawl_start(trigger="api", actor=root)
    assert exc.value.code == "crawl_running"
    assert crawl_scheduled_task.run() is None  # the beat tick finds the lock and does nothing
    assert CrawlRun.objects.count() == 1 and first.status == "queued"


@pytest.mark.django_db
def test_a_lock_left_by_a_dead_run_does_not_block_the_next(root):
    from django.utils import timezone

    first = services.crawl_start(trigger="api", actor=root)
    CrawlRun.objects.filter(pk=first.pk).update(status="failed", finished_at=timezone.now())  # its worker died
    second = services.crawl_start(trigger="api", actor=root)
    assert second.pk != first.pk
    CrawlRun.objects.filter(pk=second.pk).delete()  # a run that vanished from the database
    assert services.crawl_start(trigger="api", actor=root).pk not in (first.pk, second.pk)


FAST_REDELIVERY = {"CELERY_VISIBILITY_TIMEOUT": "4", "CELERY_RESTORE_INTERVAL": "1", "CELERY_RESTORE_THROTTLE": "1"}


def test_a_worker_killed_mid_crawl_is_replaced_and_the_graph_ends_correct(
    celery_workers, graph, run_fleet, hostile_fleet, root, settings
):
    """The chunk holding a slow target is taken by a worker that is then killed (SIGKILL);
    Redis hands the unacknowledged chunk to a new worker after the visibility timeout."""
    import os
    import signal

    settings.DISCOVERY_CHUNK_SIZE = 100
    running = run_fleet(40, seed=5)
    fleet.register(running.services, actor=root)
    fleet.register([], actor=root, hostile_base=hostile_fleet.hostile_base)  # includes hostile-slow (5 s)
    services.graph_sync()
    (victim,) = celery_workers(1, concurrency=1, **FAST_REDELIVERY)
    run = services.crawl_start(trigger="api", actor=root)
    deadline = time.time() + 30
    while CrawlRun.objects.get(pk=run.pk).status != "running" and time.time() < deadline:
        time.sleep(0.1)
    time.sleep(1.0)  # the worker is now inside the chunk, waiting on the slow target
    os.killpg(victim.pid, signal.SIGKILL)
    victim.wait(10)
    assert CrawlRun.objects.get(pk=run.pk).finished_at is None
    celery_workers(1, concurrency=1, **FAST_REDELIVERY)
    done = wait_for(run.pk, timeout=120)
    assert done.status == "partial"  # the hostile targets fail, everything else succeeds
    assert {(s, t) for s, t in observed_edges() if s.startswith("fleet-")} == running.truth


@pytest.mark.django_db
def test_neo4j_down_during_a_run_fails_it_cleanly_and_the_next_run_recovers(graph, run_fleet, root, settings):
    """The chunk code the workers run, in-process, with Neo4j unreachable (a refused port)."""
    from graph import db as graph_db

    running = run_fleet(10, seed=3)
    fleet.register(running.services, actor=root)
    services.graph_sync()
    real_uri = settings.NEO4J_URI
    graph_db.close()
    settings.NEO4J_URI = "bolt://127.0.0.1:1"
    try:
        run = services.crawl_inline()
    finally:
        settings.NEO4J_URI = real_uri
        graph_db.close()
    assert run.status == "failed" and "graph database is unavailable" in run.error
    assert run.results.filter(ok=True).count() == 0
    assert observed_edges() == set()  # nothing half-written

    again = services.crawl_inline()
    assert again.status == "succeeded"
    assert {(s, t) for s, t in observed_edges()} == running.truth


@pytest.mark.django_db
def test_zipkin_and_jaeger_sources_add_edges_with_window_rates(graph, root):
    """Real HTTP servers answering the Zipkin and Jaeger dependency APIs."""
    import json
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from catalog.services import service_create
    from graph.models import TracingSource
    from teams.models import Org, Team

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            if self.path.startswith("/api/v2/dependencies?endTs="):
                body = [
                    {"parent": "web", "child": "orders", "callCount": 600, "errorCount": 6},
                    {"parent": "ghost", "child": "orders", "callCount": 1},
                ]
            elif self.path.startswith("/api/dependencies?endTs="):
                body = {"data": [{"parent": "orders", "child": "mystery-db", "callCount": 30}]}
            else:
                self.send_error(404)
                return
            data = json.dumps(body).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        team = Team.objects.create(org=Org.objects.create(slug="o", name="O"), slug="t", name="T")
        for slug in ("web", "orders"):
            service_create(actor=root, team=team, slug=slug, name=slug, crawl_enabled=False)
        services.graph_sync()
        url = f"http://127.0.0.1:{server.server_port}"
        # Registered by a superuser as aggregators: they may report calls between any services.
        TracingSource.objects.create(name="z", kind="zipkin", base_url=url, lookback_minutes=10, aggregator=True)
        TracingSource.objects.create(name="j", kind="jaeger", base_url=url, lookback_minutes=10, aggregator=True)
        run = services.crawl_inline()
    finally:
        server.shutdown()
    assert run.status == "succeeded" and run.total == 2
    edges = db.read(
        "MATCH (s)-[r:CALLS]->(t) RETURN s.slug AS s, coalesce(t.slug, t.key) AS t, "
        "r.rate_per_min AS rate, r.error_rate AS err, r.sources AS src ORDER BY s"
    )
    assert edges == [
        {"s": "orders", "t": "mystery-db", "rate": 3.0, "err": 0.0, "src": ["jaeger:j"]},
        {"s": "web", "t": "orders", "rate": 60.0, "err": 0.01, "src": ["zipkin:z"]},
    ]
    assert run.results.get(target="zipkin:z").skipped_series == 1  # 'ghost' is not catalogued


@pytest.fixture
def own_neo4j(tmp_path_factory):
    """A second real Neo4j server of this test's own (in this run's port range), which it may stop."""
    import os
    import subprocess

    from tests.conftest import ROOT

    env = {
        **os.environ,
        "NEO4J_BOLT_PORT": str(OWN_NEO4J_PORT),
        "NEO4J_HOME_DIR": str(tmp_path_factory.mktemp("neo4j-stopstart")),
    }
    env.pop("NEO4J_URI", None)

    def ctl(action):
        subprocess.run([str(ROOT / "scripts" / "neo4j"), action], env=env, check=True, capture_output=True, timeout=180)

    ctl("start")
    yield ctl
    ctl("stop")


@pytest.mark.django_db
def test_neo4j_stopped_and_started_again(own_neo4j, run_fleet, root, settings):
    """Stop the real server between runs: the run fails with the reason, the catalog is
    untouched, and once the server is back the next run recovers."""
    from graph import db as graph_db

    graph_db.close()
    settings.NEO4J_URI = f"bolt://127.0.0.1:{OWN_NEO4J_PORT}"
    try:
        running = run_fleet(8, seed=4)
        fleet.register(running.services, actor=root)
        services.graph_sync()

        assert services.crawl_inline().status == "succeeded"
        own_neo4j("stop")
        down = services.crawl_inline()
        assert down.status == "failed" and "unavailable" in down.error
        own_neo4j("start")
        graph_db.close()
        assert services.crawl_inline().status == "succeeded"
        assert observed_edges() == running.truth
    finally:
        graph_db.close()  # the next test's driver connects to the restored NEO4J_URI
