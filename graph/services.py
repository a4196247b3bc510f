"""Writes to the graph: the catalog projection, observed call edges and crawl runs."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.db.models import Count, Q, Sum
from django.utils import timezone
from redis.exceptions import RedisError

from config.celery import enqueue
from core.errors import Conflict, ServiceUnavailable
from core.redis import client as redis_client
from core.redis import compare_and_set
from core.redis import key as redis_key
from graph import cypher, db
from graph.discovery.matching import CatalogIndex, ServiceRef
from graph.discovery.rules import metric_rules
from graph.discovery.sources import FetchLimits, ObservedEdge, ServiceTarget, TargetResult, TracingTarget, crawl
from graph.models import CrawlResult, CrawlRun, TracingSource

logger = logging.getLogger(__name__)
CRAWL_LOCK_KEY = "discovery:crawl-lock"
CRAWL_LOCK_SECONDS = 30 * 60


def now_ms() -> int:
    return int(time.time() * 1000)


# --- Schema ---------------------------------------------------------------------------
def graph_init() -> list[str]:
    for statement in cypher.CONSTRAINTS + cypher.INDEXES:
        db.write(statement)
    return [r["name"] for r in db.read(cypher.SHOW_CONSTRAINTS)]


def graph_wipe() -> None:
    """Delete everything (tests and benchmarks), in bounded transactions."""
    for statement in (cypher.WIPE_EDGES, cypher.WIPE_NODES):
        while db.write(statement)[0]["removed"]:
            pass


# --- Catalog projection -----------------------------------------------------------------
def projection_schedule(kind: str, key: str) -> None:
    """After the current transaction commits, project one catalog object into Neo4j."""
    from graph.tasks import graph_project_task

    transaction.on_commit(lambda: enqueue(graph_project_task, kind, key))


def _org_rows(orgs) -> list[dict]:
    return [{"slug": o.slug, "name": o.name} for o in orgs]


def _team_rows(teams) -> list[dict]:
    return [
        {"slug": t.slug, "name": t.name, "org": t.org.slug, "oncall": t.oncall_contact, "chat": t.chat_channel}
        for t in teams
    ]


def _service_rows(services) -> list[dict]:
    return [
        {
            "slug": s.slug,
            "name": s.name,
            "tier": s.tier,
            "lifecycle": s.lifecycle,
            "team": s.team.slug,
            "org": s.team.org.slug,
        }
        for s in services
    ]


def _api_rows(apis) -> list[dict]:
    return [{"slug": a.slug, "name": a.name, "kind": a.kind, "provider": a.provider.slug} for a in apis]


def _consumes_rows(services) -> list[dict]:
    """Declared consumption: explicit declarations plus every API the service holds a
    usable key for."""
    from catalog.selectors import key_is_usable

    at = timezone.now()
    rows = []
    for s in services:
        apis = {a.slug for a in s.consumes.all()}
        apis |= {k.api.slug for k in s.keys.all() if key_is_usable(k, at=at)}
        rows.append({"slug": s.slug, "apis": sorted(apis)})
    return rows


def _service_queryset():
    from django.db.models import Prefetch

    from catalog.models import ApiKey, Service

    return Service.objects.select_related("team", "team__org").prefetch_related(
        "consumes", Prefetch("keys", queryset=ApiKey.objects.select_related("api"))
    )


def project_services(services: list, *, tag: int) -> None:
    from catalog.models import Api

    db.write_batches(cypher.PROJECT_SERVICES, _service_rows(services), tag=tag)
    apis = Api.objects.filter(provider__in=services).select_related("provider")
    db.write_batches(cypher.PROJECT_APIS, _api_rows(apis), tag=tag)
    db.write_batches(cypher.PROJECT_CONSUMES, _consumes_rows(services), tag=tag)


def project(kind: str, key: str) -> None:
    """Project one catalog object (by slug); one that no longer exists is removed."""
    from catalog.models import Api
    from teams.models import Org, Team

    tag = now_ms()
    if kind == "org":
        orgs = list(Org.objects.filter(slug=key))
        db.write(cypher.PROJECT_ORGS, rows=_org_rows(orgs), tag=tag) if orgs else db.write(
            cypher.DELETE_BY_KEY["org"], key=key
        )
    elif kind == "team":
        teams = list(Team.objects.filter(slug=key).select_related("org"))
        db.write(cypher.PROJECT_TEAMS, rows=_team_rows(teams), tag=tag) if teams else db.write(
            cypher.DELETE_BY_KEY["team"], key=key
        )
    elif kind == "service":
        services = list(_service_queryset().filter(slug=key))
        project_services(services, tag=tag) if services else db.write(cypher.DELETE_BY_KEY["service"], key=key)
    elif kind == "api":
        api = Api.objects.filter(slug=key).select_related("provider").first()
        if api is None:
            db.write(cypher.DELETE_BY_KEY["api"], key=key)
        else:
            project_services(list(_service_queryset().filter(pk=api.provider_id)), tag=tag)
    else:
        raise ValueError(f"unknown projection kind {kind!r}")


def graph_sync(*, progress=None, batch: int = 2000) -> dict:
    """Rebuild the whole projection from Django; remove catalog nodes Django no longer has.
    Idempotent: running it twice leaves the same graph."""
    from teams.models import Org, Team

    tag = now_ms()
    graph_init()
    counts = {"orgs": 0, "teams": 0, "services": 0}
    orgs = list(Org.objects.all())
    db.write_batches(cypher.PROJECT_ORGS, _org_rows(orgs), tag=tag)
    counts["orgs"] = len(orgs)
    teams = list(Team.objects.select_related("org"))
    db.write_batches(cypher.PROJECT_TEAMS, _team_rows(teams), tag=tag)
    counts["teams"] = len(teams)
    qs = _service_queryset().order_by("pk")
    total = qs.count()
    for start in range(0, total, batch):
        services = list(qs[start : start + batch])
        project_services(services, tag=tag)
        counts["services"] += len(services)
        if progress:
            progress(counts["services"], total)
    removed = 0
    while True:
        n = db.write(cypher.CLEANUP_UNTAGGED, tag=tag)[0]["removed"]
        removed += n
        if n == 0:
            break
    counts["removed"] = removed
    return counts


# --- Observed edges ---------------------------------------------------------------------
def _edge_props(edge: ObservedEdge, source: str, window: float | None, prev: dict | None, now: int) -> dict:
    """Turn one observation into edge properties. Cumulative counters become rates from the
    delta to the previous crawl (a smaller value is a restart: the new value is the delta);
    windowed counts (tracing) are rates over their window."""
    props = {f"c:{source}": edge.calls, f"e:{source}": edge.errors, f"t:{source}": now}
    rate = error_rate = None
    if window:
        rate = edge.calls / window * 60.0
        error_rate = edge.errors / edge.calls if edge.calls else 0.0
    elif prev and f"c:{source}" in prev and prev.get(f"t:{source}"):
        dt = (now - prev[f"t:{source}"]) / 1000.0
        last_calls, last_errors = prev[f"c:{source}"], prev.get(f"e:{source}", 0.0)
        reset = edge.calls < last_calls or edge.errors < last_errors
        d_calls = edge.calls if reset else edge.calls - last_calls
        d_errors = edge.errors if reset else edge.errors - last_errors
        if dt >= 1.0:
            rate = d_calls / dt * 60.0
            error_rate = d_errors / d_calls if d_calls else 0.0
    else:
        error_rate = edge.errors / edge.calls if edge.calls else 0.0
    props["calls"], props["errors"] = edge.calls, edge.errors
    if rate is not None:
        props["rate_per_min"] = round(rate, 4)
    if error_rate is not None:
        props["error_rate"] = round(error_rate, 4)
    return props


def edges_merge(results: Iterable[TargetResult], *, crawl_id: int, now: int | None = None) -> dict:
    """Merge observed edges into Neo4j in batches; returns counts of merged and new edges."""
    now = now or now_ms()
    results = [r for r in results if r.ok and r.edges]
    pairs = [{"src": e.src, "dst": e.target.key} for r in results for e in r.edges]
    previous = {}
    for batch in db.chunks(pairs, db.BATCH_SIZE):
        for row in db.read(cypher.EDGE_STATE, pairs=batch):
            previous[(row["src"], row["dst"])] = row["props"]
    service_rows, endpoint_rows = [], []
    for r in results:
        for e in r.edges:
            row = {
                "src": e.src,
                "dst": e.target.key,
                "source": r.source,
                "props": _edge_props(e, r.source, r.window_seconds, previous.get((e.src, e.target.key)), now),
            }
            if e.target.kind == "service":
                service_rows.append(row)
            else:
                endpoint_rows.append({**row, "host": e.target.host, "port": e.target.port})
    stats = {"merged": 0, "created": 0}
    for query, rows in ((cypher.MERGE_SERVICE_EDGES, service_rows), (cypher.MERGE_ENDPOINT_EDGES, endpoint_rows)):
        for out in db.write_batches(query, rows, now=now, crawl_id=crawl_id):
            stats["merged"] += out["merged"]
            stats["created"] += out["created"]
    return stats


def edges_age(*, ok_services: list[str], ok_sources: list[str], now: int | None = None) -> dict:
    now = now or now_ms()
    stale = db.write(
        cypher.MARK_STALE,
        stale_before=now - settings.DISCOVERY_EDGE_TTL * 1000,
        ok_services=ok_services,
        ok_sources=ok_sources,
    )[0]["stale"]
    removed = db.write(
        cypher.REMOVE_EXPIRED,
        remove_before=now - settings.DISCOVERY_EDGE_REMOVE_AFTER * 1000,
        ok_services=ok_services,
        ok_sources=ok_sources,
    )[0]["removed"]
    db.write(cypher.REMOVE_ORPHAN_ENDPOINTS)
    return {"stale": stale, "removed": removed}


# --- Crawl runs ---------------------------------------------------------------------------
def _crawlable_services():
    from catalog.models import Service

    return Service.objects.filter(crawl_enabled=True).exclude(base_url="").order_by("pk")


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


SYSTEM_TRIGGERS = ("schedule", "cli")


def crawl_start(*, trigger: str, actor=None) -> CrawlRun:
    """Queue a run now unless one is going. People (REST, GraphQL, portal) need
    ``permissions.can_start_crawl``; beat and the command line start runs as the system."""
    from graph.tasks import crawl_run_task
    from teams import permissions

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


PROGRESS_STEP = 20


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


def crawl_plan(run_id: int) -> list[list[int]]:
    """Fix the run's targets and cut them into chunks for the workers."""
    ids = list(_crawlable_services().values_list("pk", flat=True))
    tracing = TracingSource.objects.filter(enabled=True).count()
    size = settings.DISCOVERY_CHUNK_SIZE
    chunks = [ids[i : i + size] for i in range(0, len(ids), size)]
    CrawlRun.objects.filter(pk=run_id).update(status="running", started_at=timezone.now(), total=len(ids) + tracing)
    return chunks


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
    from catalog.models import Service

    key = (run.pk, run.created_at)
    if key not in _index_cache:
        rows = Service.objects.values_list("slug", "name", "base_url", "aliases")
        _index_cache.clear()
        _index_cache[key] = CatalogIndex(
            [ServiceRef(slug, name, base_url, tuple(aliases or ())) for slug, name, base_url, aliases in rows]
        )
    return _index_cache[key]


def crawl_chunk(run_id: int, service_ids: list[int], *, tracing: bool = False) -> None:
    """Fetch, parse, match and merge one chunk; record a result per target; the chunk that
    completes the run finalises it. Safe to run twice (results upsert per target)."""
    from catalog.models import Service

    run = CrawlRun.objects.get(pk=run_id)
    if run.status not in ("running",):
        return
    rows = list(Service.objects.filter(pk__in=service_ids).only("slug", "base_url", "metrics_path", "health_path"))
    services = [ServiceTarget(s.slug, s.base_url, s.metrics_path, s.health_path) for s in rows]
    slug_to_id = {s.slug: s.pk for s in rows}
    sources = (
        [
            TracingTarget(t.name, t.kind, t.base_url, t.lookback_minutes, t.aggregator)
            for t in TracingSource.objects.filter(enabled=True)
        ]
        if tracing
        else []
    )
    finished = [0]

    def on_result(_result):
        finished[0] += 1
        if finished[0] % PROGRESS_STEP == 0:
            progress_add(run_id, PROGRESS_STEP)

    results = crawl(
        services, sources, index=catalog_index(run), limits=_limits(), rules=metric_rules(), on_result=on_result
    )
    progress_add(run_id, finished[0] % PROGRESS_STEP)
    graph_error = ""
    try:
        stats = edges_merge(results, crawl_id=run_id)
    except ServiceUnavailable as exc:
        graph_error, stats = exc.detail, {"merged": 0, "created": 0}
    rows = [
        CrawlResult(
            run_id=run_id,
            target=r.target,
            service_id=slug_to_id.get(r.service_slug),
            ok=r.ok and not graph_error,
            health=r.health,
            status_code=r.status_code,
            latency_ms=r.latency_ms,
            edges=len(r.edges),
            skipped_series=r.skipped,
            foreign_callers=r.foreign_callers,
            error=(graph_error or r.error)[:500],
        )
        for r in results
    ]
    CrawlResult.objects.bulk_create(
        rows,
        update_conflicts=True,
        unique_fields=["run", "target"],
        update_fields=[
            "ok",
            "health",
            "status_code",
            "latency_ms",
            "edges",
            "skipped_series",
            "foreign_callers",
            "error",
        ],
    )
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
        finishing = agg["n"] >= run.total
    if finishing:
        crawl_finish(run_id)


def crawl_inline(*, trigger: str = "cli") -> CrawlRun:
    """A whole run in this process, without workers (`manage.py crawl --inline`; tests and
    benchmarks of the pipeline itself). Takes the same lock as queued runs."""
    run = _crawl_run_create(trigger=trigger)
    for ids in crawl_plan(run.pk):
        crawl_chunk(run.pk, ids)
    crawl_chunk(run.pk, [], tracing=True)
    run.refresh_from_db()
    return run


def crawl_finish(run_id: int) -> CrawlRun:
    """Age edges (only those whose evidence was fetched in this run), set the outcome,
    release the lock. Runs once per run whoever calls it."""
    if not CrawlRun.objects.filter(pk=run_id, status="running").update(status="finishing"):
        return CrawlRun.objects.get(pk=run_id)
    run = CrawlRun.objects.get(pk=run_id)
    error = run.error
    if not error:
        ok = list(run.results.filter(ok=True).values_list("target", flat=True))
        ok_services = [t for t in ok if ":" not in t]
        ok_sources = [t for t in ok if ":" in t]
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
    return run


def tracing_source_save(*, actor, source: TracingSource, changed: list[str] | tuple = ()) -> TracingSource:
    """Save a tracing source (admin). Only superusers register aggregators: anyone else's
    change clears the flag when it sets it or moves the source to another address."""
    from catalog.audit import audit_record, snapshot
    from teams import permissions

    permissions.require(bool(actor and actor.is_staff), actor, "Only staff register tracing sources.")
    if (
        not actor.is_superuser
        and source.aggregator
        and (source.pk is None or {"aggregator", "base_url"} & set(changed))
    ):
        source.aggregator = False
    from teams.services import validated_save

    with transaction.atomic():
        before = snapshot(TracingSource.objects.filter(pk=source.pk).first()) if source.pk else None
        validated_save(source)
        audit_record(actor=actor, action="tracing_source.save", obj=source, before=before, after=snapshot(source))
    return source


def crawl_schedule_set(*, actor, every_minutes: int, enabled: bool) -> None:
    """Change the beat schedule of discovery crawls (superusers; the platform team)."""
    from django_celery_beat.models import IntervalSchedule, PeriodicTask

    from catalog.audit import audit_record
    from teams import permissions

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
