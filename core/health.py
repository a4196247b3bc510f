"""Dependency checks shared by ``manage.py doctor`` and anything else that asks "is it all up?".

A small registry so core imports no app: core registers the database, Redis and worker checks;
each app registers its own in its AppConfig.ready (graph: Neo4j and the crawl schedule). A check
returns ``(ok, message)``; a failing one names the reason and the fix."""

from __future__ import annotations

from collections.abc import Callable

from django.db import connection

Check = Callable[[], tuple[bool, str]]

_checks: dict[str, Check] = {}


def register(name: str, check: Check) -> None:
    """Add (or replace, if ``ready`` runs twice) a named check; ``checks()`` runs them in registration order."""
    _checks[name] = check


def checks() -> list[tuple[str, bool, str]]:
    return [(name, *check()) for name, check in _checks.items()]


def _database():
    try:
        with connection.cursor() as cur:
            cur.execute("SELECT 1")
        return True, f"{connection.vendor} ({connection.settings_dict['NAME']})"
    except Exception as exc:  # any driver error means "down"; say which
        return False, f"{type(exc).__name__}: {exc}. Fix: check DATABASE_URL and that the server runs."


def _redis():
    from django.core.cache import cache

    try:
        cache.set("doctor:ping", 1, 5)
        return bool(cache.get("doctor:ping")), "answers"
    except Exception as exc:  # redis-py raises several connection error types
        return False, f"{type(exc).__name__}. Fix: 'scripts/redis start', or set REDIS_URL."


def _worker():
    from celery import current_app  # the project's app (config/celery.py), without importing config

    try:
        replies = current_app.control.ping(timeout=1.0) or []
    except Exception as exc:  # broker down
        return False, f"cannot ask workers ({type(exc).__name__}). Fix: start Redis, then a worker."
    if not replies:
        return False, "no worker answered. Fix: 'celery -A config worker' (make run starts one)."
    return True, f"{len(replies)} worker(s) alive"


def register_core_checks() -> None:
    register("database", _database)
    register("redis", _redis)
    register("worker", _worker)
