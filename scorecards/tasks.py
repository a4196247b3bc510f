"""Celery tasks: thin wrappers around scorecards.services. A task that could not take the
recompute lock (another run held it) retries in 30 s."""

from celery import shared_task

from scorecards import services as scorecard_services


@shared_task(bind=True, name="scorecards.tasks.scorecards_recompute_task", ignore_result=True, max_retries=20)
def scorecards_recompute_task(self, services: list[str] | None = None, scorecards: list[str] | None = None) -> dict:
    """Beat (scorecards-recompute: every service), after a crawl (the services observed) and after
    a scorecard is loaded (that scorecard, every service)."""
    stats = scorecard_services.recompute_locked(services=services, scorecards=scorecards)
    if stats is None:
        raise self.retry(countdown=30)
    return stats


@shared_task(bind=True, name="scorecards.tasks.scorecards_changed_task", ignore_result=True, max_retries=20)
def scorecards_changed_task(self, kind: str, keys: list[str]) -> dict:
    """After a catalog, key or membership change: only the services it touches."""
    slugs = scorecard_services.affected_services(kind=kind, keys=keys)
    if not slugs:
        return {"services": 0}
    stats = scorecard_services.recompute_locked(services=sorted(slugs))
    if stats is None:
        raise self.retry(countdown=30)
    return stats
