"""Discovery end to end: simulated live services, real Celery workers through Redis,
real Neo4j."""

import time

import pytest

from graph import db, fleet, services
from graph.models import CrawlRun

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
    celery_workers(2, concurrency=2)
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
    from config.celery import app

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


def test_hostile_targets_each_fail_with_a_reason_and_the_run_completes(celery_workers, graph, hostile_fleet, root):
    fleet.register(hostile_fleet.services, actor=root, hostile_base=hostile_fleet.hostile_base)
    celery_workers(1)
    run = wait_for(services.crawl_start(trigger="api", actor=root).pk)
    results = {r.target: r for r in run.results.all()}
    assert run.status == "partial"
    expected = {
        "hostile-slow": "timed out", "hostile-endless": "larger than", "hostile-huge": "larger than",
        "hostile-invalid": "invalid exposition", "hostile-binary": "not UTF-8", "hostile-many-series": "too many series",
        "hostile-redirect-loop": "redirects", "hostile-redirect-metadata": "another host",
        "hostile-reset": "connection failed",
    }
    for target, reason in expected.items():
        assert not results[target].ok and reason in results[target].error, (target, results[target].error)
    nan = results["hostile-nan"]
    assert nan.ok and nan.skipped_series == 2 and nan.edges == 0
    assert results["fleet-0000"].ok


def test_overlapping_starts_do_not_double_run(db, root):
    from config.errors import Conflict
    from graph.tasks import crawl_scheduled_task

    first = services.crawl_start(trigger="schedule")
    with pytest.raises(Conflict) as exc:
        services.crawl_start(trigger="api", actor=root)
    assert exc.value.code == "crawl_running"
    assert crawl_scheduled_task.run() is None  # the beat tick finds the lock and does nothing
    assert CrawlRun.objects.count() == 1 and first.status == "queued"
