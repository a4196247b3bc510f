"""The stack itself: settings from the environment, the real graph, a real worker, doctor."""

import os
import subprocess
import sys

import pytest

from tests.conftest import ROOT


def _settings_in_subprocess(env: dict, expr: str) -> str:
    code = (
        f"import django, os; os.environ['DJANGO_SETTINGS_MODULE']='config.settings'; django.setup(); "
        f"from django.conf import settings as s; print({expr})"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env={**os.environ, **env}, capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


def test_settings_come_from_the_environment():
    out = _settings_in_subprocess(
        {
            "DATABASE_URL": "postgres://u:p@db.example:5433/sb",
            "NEO4J_URI": "neo4j+s://x.example:7687",
            "DJANGO_DEBUG": "true",
            "DISCOVERY_EDGE_TTL": "99",
            "DISCOVERY_ALLOWED_NETWORKS": "10.1.0.0/16",
        },
        "s.DATABASES['default']['HOST'], s.DATABASES['default']['PORT'], s.NEO4J_URI, s.DEBUG, "
        "s.DISCOVERY_EDGE_TTL, [str(n) for n in s.DISCOVERY_ALLOWED_NETWORKS]",
    )
    assert out == "db.example 5433 neo4j+s://x.example:7687 True 99 ['10.1.0.0/16']"


def test_debug_is_off_unless_asked():
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_DEBUG"}
    code = (
        "import os; os.environ['DJANGO_SETTINGS_MODULE']='config.settings'; import django; django.setup(); "
        "from django.conf import settings; print(settings.DEBUG)"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True)
    assert out.stdout.strip() == "False"


def test_graph_round_trip_on_the_real_server(graph):
    from graph import cypher, db

    db.write_batches(
        cypher.PROJECT_SERVICES,
        [
            {"slug": "a", "name": "A", "tier": 1, "lifecycle": "production", "team": "t", "org": "o"},
            {"slug": "b", "name": "B", "tier": 2, "lifecycle": "production", "team": "t", "org": "o"},
        ],
        tag=1,
    )
    rows = db.read("MATCH (t:Team {slug: 't'})-[:OWNS]->(s:Service) RETURN s.slug AS slug ORDER BY slug")
    assert [r["slug"] for r in rows] == ["a", "b"]
    assert db.server_version().startswith("Neo4j/5.26")


@pytest.mark.worker
def test_a_task_runs_on_a_real_worker_through_redis(celery_workers, graph):
    from graph.tasks import graph_project_task
    from teams.models import Org

    Org.objects.create(slug="via-worker", name="Via worker")
    celery_workers(1)
    graph_project_task.delay("org", "via-worker").get(timeout=30)
    from graph import db

    assert db.read("MATCH (o:Org {slug: 'via-worker'}) RETURN o.name AS name") == [{"name": "Via worker"}]


def test_doctor_names_an_unreachable_neo4j_and_the_fix(db):
    env = {**os.environ, "NEO4J_URI": "bolt://127.0.0.1:1"}  # nothing listens on port 1
    out = subprocess.run(
        [sys.executable, "manage.py", "doctor"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 1
    neo = next(line for line in out.stdout.splitlines() if "neo4j" in line)
    assert neo.startswith("FAIL") and "scripts/neo4j start" in neo
    assert next(line for line in out.stdout.splitlines() if " redis " in line).startswith("OK")


def test_redis_down_keeps_pages_and_gateway_working_and_crawl_now_says_so(world, api, settings, client):
    """A real refused connection (nothing listens on port 1), not a stub."""
    from catalog.services import api_create, key_issue, service_create

    provider = service_create(actor=world["root"], team=world["team"], slug="orders", name="Orders")
    orders = api_create(actor=world["root"], provider=provider, slug="orders-v1", name="O", kind="other")
    consumer = service_create(actor=world["root"], team=world["team"], slug="web", name="Web")
    _, secret = key_issue(actor=world["root"], api=orders, consumer=consumer, name="k")
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:1/0",
            "OPTIONS": {"socket_connect_timeout": 0.2, "socket_timeout": 0.2},
        }
    }
    reader = api(world["reader"])
    assert reader.get("/api/v1/services/").status_code == 200
    response = api(world["root"]).post("/api/v1/crawls/")
    assert response.status_code == 503 and response.json()["code"] == "queue_unavailable"
    verified = client.get("/gateway/verify", HTTP_X_API_KEY=secret, HTTP_X_TARGET_API="orders-v1")
    assert verified.status_code == 200
    client.force_login(world["reader"])
    assert client.get("/services/").status_code == 200
