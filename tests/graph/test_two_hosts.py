"""Beyond one machine (issue 17): two independent Celery worker processes with their own node
names, on one Redis broker and one database, share a crawl of a live fleet on loopback, and
nothing is fetched or merged twice. Real workers, real Redis, real Neo4j, real HTTP targets."""

import socket
from collections import Counter

import pytest

from devtools import fleet
from graph import db, services
from graph.models import CrawlRun
from tests.graph.test_discovery import wait_for

pytestmark = [pytest.mark.worker]


def calls_per_pair() -> dict[tuple[str, str], int]:
    """How many CALLS relationships join each (caller, callee) pair."""
    rows = db.read(
        "MATCH (s:Service)-[r:CALLS]->(t) RETURN s.slug AS s, coalesce(t.slug, t.key) AS t, count(r) AS n,"
        " collect(r.created_by_crawl) AS created, collect(r.crawl_id) AS crawled"
    )
    return {(r["s"], r["t"]): (r["n"], r["created"], r["crawled"]) for r in rows}


def test_two_named_workers_split_a_run_and_nothing_is_done_twice(celery_workers, graph, run_fleet, root, settings):
    settings.DISCOVERY_CHUNK_SIZE = 15
    running = run_fleet(120, seed=17)
    fleet.register(running.services, actor=root)
    services.graph_sync()
    # The sync sent the explorer's warm; run by a single-process worker, it kept that worker busy
    # while the other took every chunk. The split, not the warm, is tested here.
    from config.celery import app

    app.control.purge()
    host = socket.gethostname()
    # Two worker processes, as on two hosts: their own node names, one process each, so a
    # chunk's worker is one process; the workers plan the run, so they get the chunk size.
    celery_workers(2, concurrency=1, names=["w1@%h", "w2@%h"], DISCOVERY_CHUNK_SIZE="15")  # 8 chunks
    run = wait_for(services.crawl_start(trigger="api", actor=root).pk)
    assert run.status == "succeeded", run.error
    assert run.total == 120 and run.done == 120 and run.failed == 0

    # The run was split: both workers observed targets, and every target has its worker.
    per_worker = Counter(run.results.values_list("worker", flat=True))
    assert set(per_worker) == {f"w1@{host}", f"w2@{host}"}, per_worker
    assert all(n > 0 for n in per_worker.values()) and sum(per_worker.values()) == 120

    # Nothing was fetched twice: each target answered exactly one /metrics request.
    slugs = {s.slug for s in running.services}
    assert {slug for slug, path in running.hits if path == "/metrics"} == slugs
    assert {k: n for k, n in running.hits.items() if n != 1} == {}, "a target was fetched more than once"

    # Nothing was merged twice: the expected edges exactly, one relationship per pair, all
    # created and last written by this run; a counter seen once has no rate yet.
    pairs = calls_per_pair()
    assert set(pairs) == running.truth
    assert all(n == 1 and created == [run.pk] and crawled == [run.pk] for n, created, crawled in pairs.values())
    assert run.edges_new == len(running.truth)
    rated = db.read("MATCH (:Service)-[r:CALLS]->() WHERE r.rate_per_min IS NOT NULL RETURN count(r) AS n")
    assert rated[0]["n"] == 0

    # Redis hands a late-acknowledged planner out again when its worker dies after sending the
    # chunks: the second delivery sends none, and the finished run stays finished.
    from graph.tasks import crawl_run_task

    assert crawl_run_task.delay(run.pk).get(timeout=60) == 0
    again = CrawlRun.objects.get(pk=run.pk)
    assert (again.status, again.finished_at, again.done) == ("succeeded", run.finished_at, 120)
    assert {k: n for k, n in running.hits.items() if n != 1} == {}


def planned_run(run_fleet, root, settings, size: int, *, seed: int):
    """A live fleet of ``size`` services in the catalog and the graph, and a run planned in
    chunks of 10 (in-process, no worker): (the fleet, the run, its chunks)."""
    settings.DISCOVERY_CHUNK_SIZE = 10
    running = run_fleet(size, seed=seed)
    fleet.register(running.services, actor=root)
    services.graph_sync()
    run = CrawlRun.objects.create(trigger="cli")
    return running, run, services.crawl_plan(run.pk)


@pytest.mark.django_db
def test_a_plan_or_chunk_handed_out_twice_fetches_each_target_once(graph, run_fleet, root, settings):
    """The crawl's own steps, in-process against the live fleet and Neo4j: a second plan of a
    running run gives no chunks, and a chunk delivered again after it was recorded fetches
    nothing and keeps the first worker's results."""
    running, run, chunks = planned_run(run_fleet, root, settings, 30, seed=4)
    assert len(chunks) == 3
    assert services.crawl_plan(run.pk) == []  # the planner delivered again

    services.crawl_chunk(run.pk, chunks[0], worker="w1@a")
    services.crawl_chunk(run.pk, chunks[0], worker="w2@b")  # the same chunk, handed out again
    first = {g[0]["label"] for g in chunks[0]}
    assert {slug: n for (slug, path), n in running.hits.items() if path == "/metrics"} == dict.fromkeys(first, 1)
    assert set(CrawlRun.objects.get(pk=run.pk).results.values_list("worker", flat=True)) == {"w1@a"}

    for chunk in chunks[1:]:
        services.crawl_chunk(run.pk, chunk, worker="w2@b")
    done = CrawlRun.objects.get(pk=run.pk)
    assert done.status == "succeeded" and done.done == 30 and done.edges_new == len(running.truth)
    assert Counter(running.hits.values()) == Counter({1: len(running.hits)})
    assert set(calls_per_pair()) == running.truth


@pytest.mark.django_db
def test_a_chunk_whose_tally_fails_records_none_of_its_results(graph, run_fleet, root, settings, monkeypatch):
    """The results and the run's counters commit together: a chunk that fails at its tally
    leaves no result behind, so no other chunk can count the run complete without it."""
    from graph.services import crawls

    _, run, chunks = planned_run(run_fleet, root, settings, 20, seed=5)

    def tally_fails(*args, **kwargs):
        raise RuntimeError("the database went away at the tally")

    monkeypatch.setattr(crawls, "_run_tally", tally_fails)
    with pytest.raises(RuntimeError):
        services.crawl_chunk(run.pk, chunks[0], worker="w1@a")
    assert CrawlRun.objects.get(pk=run.pk).results.count() == 0

    monkeypatch.undo()
    for chunk in chunks:
        services.crawl_chunk(run.pk, chunk, worker="w1@a")
    done = CrawlRun.objects.get(pk=run.pk)
    assert done.status == "succeeded" and done.done == 20 and done.results.count() == 20
