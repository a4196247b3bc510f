"""graph's dependency checks for ``manage.py doctor`` (core.health): Neo4j and the crawl schedule.
Registered in GraphConfig.ready."""

from __future__ import annotations

from django.conf import settings


def _neo4j():
    from graph import cypher, db

    try:
        version = db.server_version()
        db.read(cypher.PING)
        return True, f"{version} at {settings.NEO4J_URI}"
    except db.GraphUnavailable as exc:
        return False, f"{exc.detail} Fix: 'scripts/neo4j start', or set NEO4J_URI/NEO4J_USER/NEO4J_PASSWORD."


def _beat():
    from django_celery_beat.models import PeriodicTask

    try:
        names = set(PeriodicTask.objects.filter(enabled=True).values_list("name", flat=True))
    except Exception as exc:  # tables missing before migrate
        return False, f"{type(exc).__name__}. Fix: 'manage.py migrate'."
    if "discovery-crawl" not in names:
        return False, "no enabled 'discovery-crawl' schedule. Fix: 'manage.py migrate' or enable it in admin."
    return True, f"{len(names)} enabled schedule(s), discovery-crawl present"


def register_checks() -> None:
    from core.health import register

    register("neo4j", _neo4j)
    register("beat", _beat)
