"""Celery tasks of the graph app: thin wrappers that load by id and call a service."""

from celery import group, shared_task

from core.errors import Conflict, ServiceUnavailable
from graph import selectors, services


@shared_task(bind=True, acks_late=True, max_retries=5, default_retry_delay=10)
def graph_project_task(self, kind: str, key: str | list[str]) -> None:
    """Project one object, or the objects of one write (a list of keys; a retry projects them all
    again, which is harmless: a projection is idempotent)."""
    try:
        for one in [key] if isinstance(key, str) else key:
            services.project(kind, one)
    except ServiceUnavailable as exc:
        raise self.retry(exc=exc) from exc


@shared_task(acks_late=True)
def graph_sync_task() -> dict:
    return services.graph_sync()


@shared_task(acks_late=True)
def explorer_warm_task() -> None:
    """Sent after a crawl and a full sync: the explorer's aggregated views into the cache."""
    selectors.explorer_warm()


@shared_task(acks_late=True)
def crawl_scheduled_task() -> int | None:
    """Beat's entry point. An overlapping tick finds the lock held and does nothing."""
    try:
        return services.crawl_start(trigger="schedule").pk
    except Conflict:
        return None


@shared_task(acks_late=True)
def crawl_run_task(run_id: int) -> int:
    """Plan the run and send its chunks; returns how many were sent (0 when a re-delivered
    planner finds the run already planned and finished)."""
    chunks = services.crawl_plan(run_id)  # a run with nothing to observe is finished by now
    if chunks:
        group([crawl_chunk_task.s(run_id, chunk) for chunk in chunks]).apply_async()
    return len(chunks)


@shared_task(bind=True, acks_late=True, max_retries=3, default_retry_delay=5, soft_time_limit=300, time_limit=330)
def crawl_chunk_task(self, run_id: int, chunk: list[list[dict]]) -> None:
    """``chunk``: target groups as ``crawl_plan`` cut them (JSON). The worker's node name
    (``-n name@host``) is kept on each result."""
    services.crawl_chunk(run_id, chunk, worker=self.request.hostname or "")
