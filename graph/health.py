"""Dependency checks shared by ``manage.py doctor`` and the portal's status line."""

from __future__ import annotations

from django.conf import settings
from django.db import connection


def _database():
    try:
        with connection.cursor() as cur:
            cur.execute("SELECT 1")
        return True, f"{connection.vendor} ({connection.settings_dict['NAME']})"
    except Exception as exc:  # any driver error means "down"; say which
        return False, f"{type(exc).__name__}: {exc}. Fix: check DATABASE_URL and that the server runs."


def _neo4j():
    from graph import cypher, db

    try:
        version = db.server_version()
        db.read(cypher.PING)
        return True, f"{version} at {settings.NEO4J_URI}"
    except db.GraphUnavailable as exc:
        return False, f"{exc.detail} Fix: 'scripts/neo4j start', or set NEO4J_URI/NEO4J_USER/NEO4J_PASSWORD."


def _redis():
    from django.core.cache import cache

    try:
        cache.set("doctor:ping", 1, 5)
        return bool(cache.get("doctor:ping")), "answers"
    except Exception as exc:  # redis-py raises several connection error types
        return False, f"{type(exc).__name__}. Fix: 'scripts/redis start', or set REDIS_URL."


def _worker():
    from config.celery import app

    try:
        replies = app.control.ping(timeout=1.0) or []
    except Exception as exc:  # broker down
        return False, f"cannot ask workers ({type(exc).__name__}). Fix: start Redis, then a worker."
    if not replies:
        return False, "no worker answered. Fix: 'celery -A config worker' (make run starts one)."
    return True, f"{len(replies)} worker(s) alive"


def _beat():
    from django_celery_beat.models import PeriodicTask

    try:
        names = set(PeriodicTask.objects.filter(enabled=True).values_list("name", flat=True))
    except Exception as exc:  # tables missing before migrate
        return False, f"{type(exc).__name__}. Fix: 'manage.py migrate'."
    if "discovery-crawl" not in names:
        return False, "no enabled 'discovery-crawl' schedule. Fix: 'manage.py migrate' or enable it in admin."
    return True, f"{len(names)} enabled schedule(s), discovery-crawl present"


def checks() -> list[tuple[str, bool, str]]:
    return [
        (name, *fn())
        for name, fn in (
            ("database", _database),
            ("neo4j", _neo4j),
            ("redis", _redis),
            ("worker", _worker),
            ("beat", _beat),
        )
    ]
