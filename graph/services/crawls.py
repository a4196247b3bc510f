"""Crawl runs: one at a time (a Redis lock), planned into chunks of targets from the
registered sources, observed by workers, recorded per target, finished once."""

from __future__ import annotations

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.db.models import Count, Q, Sum
from django.utils import timezone
from redis.exceptions import RedisError

from catalog import selectors as catalog_selectors
from core.errors import Conflict, ServiceUnavailable
from core.queue import enqueue
from core.redis import client as redis_client
from core.redis import compare_and_set
from core.redis import key as redis_key
from graph.discovery import crawler, sources
from graph.discovery.matching import CatalogIndex, ServiceRef
from graph.discovery.rules import metric_rules
from graph.discovery.sources import FetchLimits, Observation, SourceTarget
from graph.models import CrawlResult, CrawlRun, TracingSource
from graph.services.edges import edges_age, edges_merge
from teams import permissions

CRAWL_LOCK_KEY = "discovery:crawl-lock"
CRAWL_LOCK_SECONDS = 30 * 60
SYSTEM_TRIGGERS = ("schedule", "cli")
PROGRESS_STEP = 20


# --- The lock ---------------------------------------------------------------------------
def _lock_holder_alive(holder: str) -> bool:
    """Is the run holding the crawl lock still going? A run that finished, vanished, or
    has been open longer than the lock's lifetime (its worker died and the task was lost)
    no longer blocks new runs."""
    if holder == "starting":
        return True  # another process is between taking the lock and creating its run
    run = CrawlRun.objects.filter(pk=holder).only("finished_at", "created_at").first() if holder.isdigit() else None
    if run is None or run.finished_at is not None:
        return False
    return (timezone.now() - run.created_at).total_seconds() < CRAWL_LOCK_SECONDS


def crawl_lock_take() -> None:
    """One run at a time: a lock in Redis, so every web process, worker and beat agree."""
    if redis_client().set(redis_key(CRAWL_LOCK_KEY), "starting", nx=True, ex=30):
        return
    holder = (redis_client().get(redis_key(CRAWL_LOCK_KEY)) or b"").decode()
    if holder and _lock_holder_alive(holder):
        raise Conflict(f"Crawl #{holder} is still running.", code="crawl_running", run=holder)
    if not compare_and_set(CRAWL_LOCK_KEY, holder or None, "starting", ttl=30):
        raise Conflict("Another crawl is starting.", code="crawl_running")


def crawl_lock_release(run_id: int) -> None:
    compare_and_set(CRAWL_LOCK_KEY, str(run_id), None)


def _crawl_run_create(*, trigger: str, actor=None) -> CrawlRun:
    """Take the lock, create the run, and make the lock name it."""
    crawl_lock_take()
    run = CrawlRun.objects.create(trigger=trigger, requested_by=getattr(actor, "username", "") or "")
    redis_client().set(redis_key(CRAWL_LOCK_KEY), str(run.pk), ex=CRAWL_LOCK_SECONDS)
    return run


# --- Starting -----------------------------------------------------------------------------
def crawl_start(*, trigger: str, actor=None) -> CrawlRun:
    """Queue a run now unless one is going. People (REST, GraphQL, portal) need
    ``permissions.can_start_crawl``; beat and the command line start runs as the system."""
    from graph.tasks import crawl_run_task

    if actor is not None or trigger not in SYSTEM_TRIGGERS:
        permissions.require(
            permissions.can_start_crawl(actor),
            actor,
            "Only superusers, org admins and members of a team start crawls.",
        )

    down = ServiceUnavailable("The task queue (Redis) is down; the crawl was not started.", code="queue_unavailable")
    try:
        run = _crawl_run_create(trigger=trigger, actor=actor)
    except RedisError as exc:
        raise down from exc
    if not enqueue(crawl_run_task, run.pk):
        crawl_lock_release(run.pk)
        run.status, run.error, run.finished_at = "failed", "The task queue (Redis) is down.", timezone.now()
        run.save()
        raise down
    return run


def crawl_inline(*, trigger: str = "cli") -> CrawlRun:
    """A whole run in this process, without workers (`manage.py crawl --inline`; tests and
    benchmarks of the pipeline itself). Takes the same lock as queued runs."""
    run = _crawl_run_create(trigger=trigger)
    for chunk in crawl_plan(run.pk):
        crawl_chunk(run.pk, chunk, worker="inline")
    run.refresh_from_db()
    return run


# --- Progress -----------------------------------------------------------------------------
def _progress_key(run_id: int) -> str:
    return f"discovery:progress:{run_id}"


def progress_add(run_id: int, n: int) -> None:
    """Targets finished so far, counted in Redis as workers go (the portal's live bar)."""
    if n:
        try:
            cache.incr(_progress_key(run_id), n)
        except ValueError:
            cache.add(_progress_key(run_id), n, 24 * 3600)


def progress_get(run_id: int) -> int:
    return cache.get(_progress_key(run_id)) or 0


# --- Planning -----------------------------------------------------------------------------
def run_targets() -> list[list[SourceTarget]]:
    """Every registered source's targets for a run, grouped by label (a label's targets are
    observed together, in registry order, and give one result)."""
    groups: dict[str, list[SourceTarget]] = {}
    for source in sources.registry().values():
        for target in source.targets():
            groups.setdefault(target.label, []).append(target)
    return list(groups.values())


def crawl_plan(run_id: int) -> list[list[list[dict]]]:
    """Fix the run's targets and cut them into chunks for the workers (as JSON: a chunk is
    a list of target groups). A run with nothing to observe finishes here.

    Planning happens at most once per run: the planner task is acknowledged late, so Redis
    hands it out again when its worker dies after sending the chunks, and a second plan would
    fetch every target again (and reopen a finished run). Only the planner that moves the run
    from queued to running plans it; any other gets no chunks. (A planner that dies between
    that step and sending the chunks leaves the run open; its lock lapses after
    ``CRAWL_LOCK_SECONDS`` and the next run goes ahead, as for any lost task.)"""
    if not CrawlRun.objects.filter(pk=run_id, status="queued").update(status="running", started_at=timezone.now()):
        return []
    groups = [[t.to_json() for t in group] for group in run_targets()]
    size = settings.DISCOVERY_CHUNK_SIZE
    CrawlRun.objects.filter(pk=run_id).update(total=len(groups))
    if not groups:
        crawl_finish(run_id)
    return [groups[i : i + size] for i in range(0, len(groups), size)]


# --- One chunk ----------------------------------------------------------------------------
def _limits() -> FetchLimits:
    return FetchLimits(
        allowed=settings.DISCOVERY_ALLOWED_NETWORKS,
        max_bytes=settings.DISCOVERY_MAX_BYTES,
        timeout=settings.DISCOVERY_FETCH_TIMEOUT,
        concurrency=settings.DISCOVERY_CONCURRENCY,
        max_series=settings.DISCOVERY_MAX_SERIES,
    )


_index_cache: dict[tuple, CatalogIndex] = {}


def catalog_index(run: CrawlRun) -> CatalogIndex:
    """How targets are matched to services, built once per run in each worker process.
    Keyed by the run's id and creation time, which together never repeat."""
    key = (run.pk, run.created_at)
    if key not in _index_cache:
        rows = catalog_selectors.service_match_rows()
        _index_cache.clear()
        _index_cache[key] = CatalogIndex(
            [ServiceRef(slug, name, base_url, tuple(aliases or ())) for slug, name, base_url, aliases in rows]
        )
    return _index_cache[key]


def _observe(run: CrawlRun, groups: list[list[SourceTarget]]) -> list[Observation]:
    """Observe the chunk's targets, counting progress as they finish."""
    finished = [0]

    def on_result(_result):
        finished[0] += 1
        if finished[0] % PROGRESS_STEP == 0:
            progress_add(run.pk, PROGRESS_STEP)

    found = crawler.observe(
        groups,
        sources.registry(),
        index=catalog_index(run),
        limits=_limits(),
        rules=metric_rules(),
        on_result=on_result,
    )
    progress_add(run.pk, finished[0] % PROGRESS_STEP)
    return found


def _merge(run_id: int, observations: list[Observation]) -> tuple[dict, str]:
    """Edges into Neo4j; with Neo4j down, nothing is written and the reason is returned."""
    try:
        return edges_merge(observations, crawl_id=run_id), ""
    except ServiceUnavailable as exc:
        return {"merged": 0, "created": 0}, exc.detail


RESULT_FIELDS = [
    "ok",
    "health",
    "status_code",
    "latency_ms",
    "edges",
    "skipped_series",
    "foreign_callers",
    "error",
    "worker",
]


def _results_record(
    run_id: int, groups: list[list[SourceTarget]], observations: list[Observation], graph_error: str, worker: str
):
    """One result per target group; upserts, so a re-delivered chunk writes the same rows."""
    rows = [
        CrawlResult(
            run_id=run_id,
            target=group[0].label,
            source=group[0].source,
            target_key=group[0].key,
            service_id=group[0].service_id,
            ok=o.ok and not graph_error,
            health=o.health,
            status_code=o.status_code,
            latency_ms=o.latency_ms,
            edges=len(o.edges),
            skipped_series=o.skipped,
            foreign_callers=o.foreign_callers,
            error=(graph_error or o.error)[:500],
            worker=worker[:200],
        )
        for group, o in zip(groups, observations, strict=True)
    ]
    CrawlResult.objects.bulk_create(
        rows, update_conflicts=True, unique_fields=["run", "target"], update_fields=RESULT_FIELDS
    )


def _run_tally(run_id: int, stats: dict, graph_error: str) -> bool:
    """Add the chunk to the run's counters; is every target of the run now recorded? Called
    in the transaction that records the chunk's results, so a run counted as complete has
    every chunk's counters in it (a tally after the results could land after the finish)."""
    with transaction.atomic():
        run = CrawlRun.objects.select_for_update().get(pk=run_id)
        run.edges_new += stats["created"]
        if graph_error and not run.error:
            run.error = graph_error
        run.save(update_fields=["edges_new", "error"])
        agg = run.results.aggregate(
            n=Count("id"), failed=Count("id", filter=Q(ok=False)), edges=Sum("edges"), skipped=Sum("skipped_series")
        )
        CrawlRun.objects.filter(pk=run_id).update(
            done=agg["n"], failed=agg["failed"], edges_seen=agg["edges"] or 0, skipped_series=agg["skipped"] or 0
        )
        # Results, not chunk deliveries, decide: a re-delivered chunk upserts the same rows.
        return agg["n"] >= run.total


def _settle(groups: list[list[SourceTarget]]) -> None:
    """Tell each source that keeps data until it is in the graph (``settle``) that it is."""
    registered = sources.registry()
    for group in groups:
        for target in group:
            settle = getattr(registered.get(target.source), "settle", None)
            if settle is not None:
                settle(target)


def crawl_chunk(run_id: int, chunk: list[list[dict]], *, worker: str = "") -> None:
    """Observe, merge and record one chunk of target groups; the chunk that completes the
    run finishes it. ``worker`` names who observed it (the Celery node name). Safe to run
    twice: a group that already has a result in this run is not fetched again (a chunk
    handed out again after its first worker recorded it), and results upsert per target."""
    run = CrawlRun.objects.get(pk=run_id)
    if run.status != "running":
        return
    recorded = set(run.results.filter(target__in=[g[0]["label"] for g in chunk if g]).values_list("target", flat=True))
    groups = [
        [SourceTarget.from_json(t) for t in group] for group in chunk if group and group[0]["label"] not in recorded
    ]
    if not groups:
        if _run_tally(run_id, {"merged": 0, "created": 0}, ""):
            crawl_finish(run_id)
        return
    observations = _observe(run, groups)
    stats, graph_error = _merge(run_id, observations)
    if not graph_error:  # before the tally: a run is complete only once every chunk has settled
        _settle(groups)
    with transaction.atomic():
        _results_record(run_id, groups, observations, graph_error, worker)
        complete = _run_tally(run_id, stats, graph_error)
    if complete:
        crawl_finish(run_id)


# --- Finishing ----------------------------------------------------------------------------
def _aging_scope(run: CrawlRun) -> tuple[list[str], list[str]]:
    """The services and evidence names whose observation succeeded in this run: only
    their edges age (a failed fetch is never read as "no edges")."""
    registered = sources.registry()
    ok_services, ok_sources = [], []
    for source, key, label in run.results.filter(ok=True).values_list("source", "target_key", "target"):
        ages = registered[source].ages if source in registered else "evidence"
        (ok_services if ages == "service" else ok_sources).append(key if ages == "service" else label)
    return ok_services, ok_sources


def crawl_finish(run_id: int) -> CrawlRun:
    """Age edges (only those whose evidence was fetched in this run), set the outcome,
    release the lock. Runs once per run whoever calls it."""
    if not CrawlRun.objects.filter(pk=run_id, status="running").update(status="finishing"):
        return CrawlRun.objects.get(pk=run_id)
    run = CrawlRun.objects.get(pk=run_id)
    error = run.error
    if not error:
        ok_services, ok_sources = _aging_scope(run)
        try:
            aged = edges_age(ok_services=ok_services, ok_sources=ok_sources)
            run.edges_stale, run.edges_removed = aged["stale"], aged["removed"]
        except ServiceUnavailable as exc:
            error = exc.detail
    run.error = error
    run.status = (
        "failed" if error or (run.total and run.failed == run.total) else "partial" if run.failed else "succeeded"
    )
    run.finished_at = timezone.now()
    run.done = run.results.count()
    run.save()
    crawl_lock_release(run_id)
    explorer_warm_send()
    return run


def explorer_warm_send() -> None:
    """Have a worker read the explorer's aggregated views into the cache now that the graph changed."""
    from graph.tasks import explorer_warm_task

    enqueue(explorer_warm_task)


# --- Configuration (admin and the portal) -------------------------------------------------
def tracing_source_save(*, actor, source: TracingSource, changed: list[str] | tuple = ()) -> TracingSource:
    """Save a tracing source (admin). Only superusers register aggregators: anyone else's
    change clears the flag when it sets it or moves the source to another address."""
    from core.audit import audit_record, snapshot
    from core.persistence import validated_save

    permissions.require(bool(actor and actor.is_staff), actor, "Only staff register tracing sources.")
    if (
        not actor.is_superuser
        and source.aggregator
        and (source.pk is None or {"aggregator", "base_url"} & set(changed))
    ):
        source.aggregator = False
    with transaction.atomic():
        before = snapshot(TracingSource.objects.filter(pk=source.pk).first()) if source.pk else None
        validated_save(source)
        audit_record(actor=actor, action="tracing_source.save", obj=source, before=before, after=snapshot(source))
    return source


def crawl_schedule_set(*, actor, every_minutes: int, enabled: bool) -> None:
    """Change the beat schedule of discovery crawls (superusers; the platform team)."""
    from django_celery_beat.models import IntervalSchedule, PeriodicTask

    from core.audit import audit_record

    permissions.require(bool(actor and actor.is_superuser), actor, "Only superusers change the crawl schedule.")
    with transaction.atomic():
        task = PeriodicTask.objects.select_for_update().get(name="discovery-crawl")
        before = {"every_seconds": task.interval.every if task.interval else None, "enabled": task.enabled}
        task.interval, _ = IntervalSchedule.objects.get_or_create(every=every_minutes * 60, period="seconds")
        task.enabled = enabled
        task.save()
        audit_record(
            actor=actor,
            action="crawl.schedule",
            obj=task,
            before=before,
            after={"every_seconds": every_minutes * 60, "enabled": enabled},
        )
