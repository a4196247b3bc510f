"""Celery tasks: thin wrappers around scorecards.services."""

from celery import shared_task

from scorecards import services as scorecard_services


@shared_task(name="scorecards.tasks.scorecards_recompute_task", ignore_result=True)
def scorecards_recompute_task(services: list[str] | None = None, scorecards: list[str] | None = None) -> dict:
    """Beat (scorecards-recompute: every service), after a crawl (the services observed) and after
    a scorecard is loaded (that scorecard, every service)."""
    return scorecard_services.recompute_locked(services=services, scorecards=scorecards)


@shared_task(name="scorecards.tasks.scorecards_changed_task", ignore_result=True)
def scorecards_changed_task(kind: str, keys: list[str]) -> dict:
    """After a catalog, key or membership change: only the services it touches."""
    slugs = scorecard_services.affected_services(kind=kind, keys=keys)
    if not slugs:
        return {"services": 0}
    return scorecard_services.recompute_locked(services=sorted(slugs))
